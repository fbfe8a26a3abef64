/**
 * Leader election against an in-memory Lease API that keeps the API server's rules (404 when absent, 409
 * on create when present and on a stale resourceVersion, times on the wire as strings): the cases the real
 * control plane cannot stage easily, skewed clocks among them. test/integration/leader.test.ts runs the rest
 * on a real API server.
 *
 * Time is vitest's fake clock (Date and the timers the elector waits on), so every duration asserted here is
 * exact, however busy the machine.
 */
import { type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type LeaderElectionTimings, LeaderElector, type LeaseApi } from '../../../src/forwarder/leader.js';

const TIMINGS: LeaderElectionTimings = { leaseDurationMs: 1_000, renewDeadlineMs: 500, retryPeriodMs: 100 };

const apiError = (code: number) => Object.assign(new Error(`HTTP ${code}`), { code });

class MemoryLeases implements LeaseApi {
  stored: V1Lease | undefined;
  /** Every call from now on never answers. */
  hang = false;
  private version = 0;

  async readNamespacedLease(): Promise<V1Lease> {
    await this.maybeHang();
    if (!this.stored) throw apiError(404);
    return wire(this.stored);
  }

  async createNamespacedLease({ body }: { body: V1Lease }): Promise<V1Lease> {
    await this.maybeHang();
    if (this.stored) throw apiError(409);
    return this.store(body);
  }

  async replaceNamespacedLease({ body }: { body: V1Lease }): Promise<V1Lease> {
    await this.maybeHang();
    if (body.metadata?.resourceVersion !== this.stored?.metadata?.resourceVersion) throw apiError(409);
    return this.store(body);
  }

  /** Another replica, with a clock of its own, writing the lease: a new resourceVersion, as the server gives. */
  writeAsOtherReplica(spec: V1Lease['spec']): void {
    this.store({ metadata: { ...this.stored?.metadata, name: 'lease', namespace: 'ns' }, spec });
  }

  private store(body: V1Lease): V1Lease {
    this.stored = wire({ ...body, metadata: { ...body.metadata, resourceVersion: String(++this.version) } });
    return wire(this.stored);
  }

  private maybeHang(): Promise<void> {
    return this.hang ? new Promise(() => undefined) : Promise.resolve();
  }
}

/** As the object would travel: Dates (V1MicroTime) become the strings client-node hands back. */
function wire(lease: V1Lease): V1Lease {
  return JSON.parse(JSON.stringify(lease)) as V1Lease;
}

const electors: LeaderElector[] = [];

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-11-26T12:00:00Z') });
});

afterEach(async () => {
  await settled(Promise.all(electors.splice(0).map((e) => e.stop())));
  vi.useRealTimers();
});

function elector(api: LeaseApi, identity: string, events: string[] = [], errors: unknown[] = []): LeaderElector {
  const e = new LeaderElector({
    api,
    namespace: 'ns',
    name: 'lease',
    identity,
    ...TIMINGS,
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: () => events.push('stopped'),
    onError: (err) => errors.push(err),
    // Waits of exactly 1.6 retry periods.
    random: () => 0.5,
  });
  electors.push(e);
  return e;
}

const STEP_MS = 10;

/** Moves the fake clock on in steps until `check` holds; at most `timeoutMs` of fake time. */
async function until(what: string, check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await vi.advanceTimersByTimeAsync(STEP_MS);
  }
}

/** Moves the fake clock on until the promise settles (at most 60 s of fake time); its value. */
async function settled<T>(promise: Promise<T>): Promise<T> {
  let done = false;
  const watched = promise.finally(() => (done = true));
  await until('a promise to settle', () => done, 60_000);
  return watched;
}

describe('the leader elector', () => {
  it('refuses timings where a leader could still lead after its lease expired', () => {
    const api = new MemoryLeases();
    const base = { api, namespace: 'ns', name: 'lease', identity: 'a' };
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(/renew deadline must be shorter/);
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 1_500 })).toThrow(/whole number of seconds/);
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow(/longer than 1.2 retry periods/);
    expect(() => new LeaderElector(base)).not.toThrow();
  });

  it('creates the absent lease, holding it with its identity and the lease duration in seconds', async () => {
    const api = new MemoryLeases();
    const a = elector(api, 'pod-a');
    a.start();
    await until('leading', () => a.isLeader());
    expect(api.stored?.spec).toMatchObject({ holderIdentity: 'pod-a', leaseDurationSeconds: 1, leaseTransitions: 0 });
    // The API server only accepts MicroTime with six fractional digits.
    expect(api.stored?.spec?.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it('takes back at once, without a transition, the lease it held before a restart (same pod name)', async () => {
    const api = new MemoryLeases();
    const before = elector(api, 'pod-a');
    before.start();
    await until('leading', () => before.isLeader());
    await settled(before.stop({ release: false }));

    const after = elector(api, 'pod-a');
    const started = Date.now();
    after.start();
    await until('leading again', () => after.isLeader());
    expect(Date.now() - started).toBeLessThan(TIMINGS.leaseDurationMs);
    expect(api.stored?.spec).toMatchObject({ holderIdentity: 'pod-a', leaseTransitions: 0 });
  });

  it('stops leading when a renewal hangs, once the renew deadline has passed, and still stops promptly', async () => {
    const api = new MemoryLeases();
    const events: string[] = [];
    const errors: unknown[] = [];
    const a = elector(api, 'pod-a', events, errors);
    a.start();
    await until('leading', () => a.isLeader());

    api.hang = true;
    const hung = Date.now();
    await until('stepping down', () => !a.isLeader());
    expect(Date.now() - hung).toBeLessThanOrEqual(TIMINGS.renewDeadlineMs + 100);
    expect(events).toEqual(['started', 'stopped']);
    expect(String(errors.at(-1))).toMatch(/not renewed for 500 ms; stepping down/);

    // Shutdown does not hang on the API server either: the try in flight and the release are bounded.
    const stopping = Date.now();
    await settled(a.stop());
    expect(Date.now() - stopping).toBeLessThanOrEqual(TIMINGS.renewDeadlineMs + TIMINGS.retryPeriodMs + 100);
    expect(String(errors.at(-1))).toMatch(/releasing lease ns\/lease timed out/);
  });

  it('stands by without an error while another replica holds a valid lease, and leaves that lease alone when it stops', async () => {
    const api = new MemoryLeases();
    const a = elector(api, 'pod-a');
    a.start();
    await until('leading', () => a.isLeader());
    const errors: unknown[] = [];
    const b = elector(api, 'pod-b', [], errors);
    b.start();
    await until('the standby to see the leader', () => b.leader() === 'pod-a');
    await vi.advanceTimersByTimeAsync(3 * TIMINGS.retryPeriodMs);
    await settled(b.stop());

    expect(b.isLeader()).toBe(false);
    expect(errors).toEqual([]);
    expect(api.stored?.spec?.holderIdentity).toBe('pod-a');
  });

  it('releases the lease on stop: no holder and a 1 s duration, transitions kept', async () => {
    const api = new MemoryLeases();
    const events: string[] = [];
    const a = elector(api, 'pod-a', events);
    a.start();
    await until('leading', () => a.isLeader());
    await settled(a.stop());

    expect(events).toEqual(['started', 'stopped']);
    expect(api.stored?.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
  });

  describe('with clocks that disagree', () => {
    const HOUR = 3_600_000;
    const held = (renewTime: number, leaseTransitions = 2): V1Lease['spec'] => ({
      holderIdentity: 'pod-b',
      leaseDurationSeconds: TIMINGS.leaseDurationMs / 1000,
      acquireTime: new V1MicroTime(renewTime),
      renewTime: new V1MicroTime(renewTime),
      leaseTransitions,
    });

    it.each([
      ['an hour behind ours', -HOUR],
      ['an hour ahead of ours', HOUR],
      ['the same as ours', 0],
    ])(
      'takes over a lease whose holder stopped renewing one lease duration after it last saw the record change, its clock being %s',
      async (_clock, skewMs) => {
        const api = new MemoryLeases();
        api.writeAsOtherReplica(held(Date.now() + skewMs));
        const events: string[] = [];
        const a = elector(api, 'pod-a', events);
        const started = Date.now();
        a.start();

        await until('the standby to see the holder', () => a.leader() === 'pod-b');
        await until('leading', () => a.isLeader(), 10 * TIMINGS.leaseDurationMs);

        // Not before one lease duration since it first read the record, nor much after: the next try.
        const tookOver = Date.now() - started;
        expect(tookOver).toBeGreaterThanOrEqual(TIMINGS.leaseDurationMs);
        expect(tookOver).toBeLessThanOrEqual(TIMINGS.leaseDurationMs + 2.2 * TIMINGS.retryPeriodMs + STEP_MS);
        expect(api.stored?.spec).toMatchObject({ holderIdentity: 'pod-a', leaseTransitions: 3 });
      },
    );

    it('never takes over from a holder that keeps renewing, though its renewTime, by our clock, expired an hour ago', async () => {
      const api = new MemoryLeases();
      api.writeAsOtherReplica(held(Date.now() - HOUR));
      // pod-b renews every retry period with a clock an hour behind ours.
      const renewing = setInterval(() => api.writeAsOtherReplica(held(Date.now() - HOUR)), TIMINGS.retryPeriodMs);
      const errors: unknown[] = [];
      const a = elector(api, 'pod-a', [], errors);
      a.start();

      await until('the standby to see the holder', () => a.leader() === 'pod-b');
      await vi.advanceTimersByTimeAsync(10 * TIMINGS.leaseDurationMs);
      expect(a.isLeader()).toBe(false);
      expect(api.stored?.spec?.holderIdentity).toBe('pod-b');

      // Once pod-b stops renewing, pod-a takes over after a lease duration.
      clearInterval(renewing);
      const stopped = Date.now();
      await until('leading', () => a.isLeader(), 10 * TIMINGS.leaseDurationMs);
      expect(Date.now() - stopped).toBeGreaterThanOrEqual(TIMINGS.leaseDurationMs - TIMINGS.retryPeriodMs);
      expect(errors).toEqual([]);
    });
  });
});
