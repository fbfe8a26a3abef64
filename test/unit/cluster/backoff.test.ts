import { describe, expect, it, vi } from 'vitest';
import { Backoff, pause } from '../../../src/cluster/backoff.js';

describe('Backoff', () => {
  it('draws each wait from a ceiling that doubles from the base up to the cap', () => {
    const backoff = new Backoff({ baseMs: 100, maxMs: 1_000, random: () => 0.5 });

    expect(Array.from({ length: 6 }, () => backoff.next())).toEqual([50, 100, 200, 400, 500, 500]);
  });

  it('spreads waits over the whole range below the ceiling (full jitter)', () => {
    const draws = [0, 0.999];
    const backoff = new Backoff({ baseMs: 100, maxMs: 1_000, random: () => draws.shift()! });

    expect(backoff.next()).toBe(0);
    expect(backoff.next()).toBeCloseTo(199.8);
  });

  it('starts from the base again after a reset', () => {
    const backoff = new Backoff({ baseMs: 100, maxMs: 1_000, random: () => 0.5 });
    backoff.next();
    backoff.next();

    backoff.reset();

    expect(backoff.next()).toBe(50);
  });

  it('stays at the cap however long the failures last', () => {
    const backoff = new Backoff({ baseMs: 100, maxMs: 5_000, random: () => 0.5 });
    for (let i = 0; i < 10_000; i++) backoff.next();

    expect(backoff.next()).toBe(2_500);
  });

  it("with a jitter factor, draws each wait from [ceiling, ceiling * (1 + factor)), as client-go's wait.Jitter", () => {
    const draws = [0, 0.5, 0.999];
    const backoff = new Backoff({ baseMs: 100, maxMs: 1_000, jitter: 1.2, random: () => draws.shift()! });

    expect(backoff.next()).toBe(100);
    expect(backoff.next()).toBe(320);
    expect(backoff.next()).toBeCloseTo(879.52);
  });

  it('keeps a constant period with factor 1 (the leader election retry)', () => {
    const backoff = new Backoff({ baseMs: 2_000, maxMs: 2_000, factor: 1, jitter: 1.2, random: () => 0.5 });

    expect(Array.from({ length: 4 }, () => backoff.next())).toEqual([3_200, 3_200, 3_200, 3_200]);
  });
});

describe('pause', () => {
  it('waits the time asked, on the global timers', async () => {
    vi.useFakeTimers();
    try {
      let done = false;
      void pause(1_000).then(() => (done = true));
      await vi.advanceTimersByTimeAsync(999);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(done).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('resolves at once when its signal aborts, or had aborted', async () => {
    vi.useFakeTimers();
    try {
      const stop = new AbortController();
      let done = false;
      void pause(60_000, stop.signal).then(() => (done = true));
      stop.abort();
      await vi.advanceTimersByTimeAsync(0);
      expect(done).toBe(true);
      await expect(pause(60_000, stop.signal)).resolves.toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });
});
