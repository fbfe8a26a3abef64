/**
 * Leader election against an in-memory Lease API that keeps the API server's rules (404 when absent, 409
 * on create when present and on a stale resourceVersion, times on the wire as strings): the cases the real
 * control plane cannot stage easily. test/integration/leader.test.ts runs the rest on a real API server.
 */
import type { V1Lease } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
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

afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.stop()));
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
  });
  electors.push(e);
  return e;
}

async function until(what: string, check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
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
    await before.stop({ release: false });

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
    await a.stop();
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
    await new Promise((r) => setTimeout(r, 3 * TIMINGS.retryPeriodMs));
    await b.stop();

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
    await a.stop();

    expect(events).toEqual(['started', 'stopped']);
    expect(api.stored?.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
  });
});
