import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../src/forwarder/backoff.js';

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
});
