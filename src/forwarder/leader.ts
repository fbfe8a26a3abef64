/**
 * Leader election on a coordination.k8s.io/v1 Lease, with the semantics of client-go's leaderelection
 * package, so that of the forwarder's replicas exactly one watches and publishes while the others stand by:
 *
 * - a candidate takes the lease when it is absent, released (no holder) or expired; it retries every retry
 *   period, jittered so candidates do not move in step;
 * - every write carries the resourceVersion that was read: a 409 means another replica wrote first;
 * - the leader renews every retry period, and stops leading once it has not renewed for renewDeadline,
 *   which is shorter than the lease duration: it steps down before anyone else may take over;
 * - `stop()` releases the lease (no holder, 1 s duration) so a standby takes over at its next retry.
 *
 * Every request is bounded (a try by the time left to the deadline, the release by one retry period), so
 * neither leadership nor shutdown outlasts an API server that stops answering.
 *
 * Expiry, as client-go judges it: a lease has expired when its record (holder, times, duration, transitions)
 * has not changed for leaseDurationSeconds since THIS replica saw it change, both instants read from our own
 * clock. The holder's renewTime is never compared with our clock, so skew between the nodes' clocks cannot
 * make a standby take over from a leader that is renewing, nor keep it from taking over one that stopped. The
 * price, as in client-go: a replica that has just started waits one lease duration before taking over a
 * lease it finds held, however old the renewTime it reads.
 */
import { type CoordinationV1Api, type V1Lease, type V1LeaseSpec, V1MicroTime } from '@kubernetes/client-node';
import { Backoff, pause } from '../cluster/backoff.js';
import { httpStatusOf } from '../cluster/retry.js';

export type LeaseApi = Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;

export interface LeaderElectionTimings {
  /** How long a lease stays valid after its renewTime; a whole number of seconds (the Lease stores seconds). */
  leaseDurationMs: number;
  /** A leader that has not renewed for this long stops leading. Shorter than leaseDurationMs. */
  renewDeadlineMs: number;
  /** How often the leader renews and a candidate tries to acquire. */
  retryPeriodMs: number;
}

/** client-go's defaults (kube-controller-manager and kube-scheduler use the same). */
export const DEFAULT_TIMINGS: LeaderElectionTimings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** client-go's JitterFactor: a candidate waits between 1 and 2.2 retry periods. */
const JITTER = 1.2;

export interface LeaderElectorOptions extends Partial<LeaderElectionTimings> {
  api: LeaseApi;
  namespace: string;
  /** The Lease's name, shared by every replica. */
  name: string;
  /** This replica (the pod's name): the lease's holderIdentity while it leads. */
  identity: string;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  /** A different replica (or this one) was seen holding the lease. */
  onNewLeader?: (identity: string) => void;
  /** Failed API calls and renewals past the deadline; a lost race (409) is not an error. */
  onError?: (e: unknown) => void;
  /** Epoch milliseconds; injectable for tests (as are the timers, which are the global ones). */
  now?: () => number;
  /** In [0, 1), for the retry jitter; injectable for tests. Default Math.random. */
  random?: () => number;
}

type Attempt = 'leading' | 'held-by-other' | 'lost-race' | 'failed';

/** One election: start() once, stop() once. */
export class LeaderElector {
  private readonly timings: LeaderElectionTimings;
  private readonly now: () => number;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private leading = false;
  private observedLeader: string | undefined;
  /** The lease's record as last read or written, and when (our clock) it was first seen so. */
  private observed: { key: string; durationMs: number; at: number } | undefined;
  private readonly retries: Backoff;

  constructor(private readonly o: LeaderElectorOptions) {
    this.timings = validTimings({
      leaseDurationMs: o.leaseDurationMs ?? DEFAULT_TIMINGS.leaseDurationMs,
      renewDeadlineMs: o.renewDeadlineMs ?? DEFAULT_TIMINGS.renewDeadlineMs,
      retryPeriodMs: o.retryPeriodMs ?? DEFAULT_TIMINGS.retryPeriodMs,
    });
    this.now = o.now ?? (() => Date.now());
    // A constant period with client-go's jitter: candidates wait between 1 and 2.2 retry periods.
    const period = this.timings.retryPeriodMs;
    this.retries = new Backoff({ baseMs: period, maxMs: period, factor: 1, jitter: JITTER, random: o.random });
  }

  start(): void {
    this.loop ??= this.run();
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Who was last seen holding the lease (this replica included); undefined until a holder has been seen. */
  leader(): string | undefined {
    return this.observedLeader;
  }

  /**
   * Stops trying (a try in flight finishes first, within the renew deadline), stops leading, and releases
   * the lease if this replica holds it. `release: false` leaves the lease to expire, as a crash would.
   */
  async stop({ release = true } = {}): Promise<void> {
    this.stopping.abort();
    await this.loop;
    this.setLeading(false);
    if (!release) return;
    // Bounded: releasing only spares the standby the wait for expiry, and shutdown must not hang on it.
    let settled = false;
    const releasing = this.release()
      .catch((e: unknown) => this.o.onError?.(e))
      .finally(() => (settled = true));
    await within(this.timings.retryPeriodMs, releasing, undefined);
    if (!settled) {
      this.o.onError?.(new Error(`releasing lease ${this.o.namespace}/${this.o.name} timed out; it will expire instead`));
    }
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async run(): Promise<void> {
    for (let acquiredAt = await this.acquire(); acquiredAt !== undefined; acquiredAt = await this.acquire()) {
      this.setLeading(true);
      await this.renew(acquiredAt);
      this.setLeading(false);
    }
  }

  /**
   * Tries until this replica holds the lease, and returns when the successful try started (its renewTime
   * is no earlier); undefined when the elector stops first.
   */
  private async acquire(): Promise<number | undefined> {
    for (;;) {
      const started = this.now();
      const result = await this.attempt(this.timings.renewDeadlineMs);
      // Acquired just as stop() was called: not leading; stop() releases the lease.
      if (this.stopped) return undefined;
      if (result === 'leading') return started;
      await this.pause(this.retries.next());
    }
  }

  /** Renews until the lease is lost (another holder, or no renewal for renewDeadline) or the elector stops. */
  private async renew(renewedAt: number): Promise<void> {
    for (;;) {
      const deadline = renewedAt + this.timings.renewDeadlineMs;
      await this.pause(Math.min(this.timings.retryPeriodMs, deadline - this.now()));
      if (this.stopped) return;
      const started = this.now();
      if (started >= deadline) {
        this.o.onError?.(new Error(`lease ${this.o.namespace}/${this.o.name} not renewed for ${this.timings.renewDeadlineMs} ms; stepping down`));
        return;
      }
      const result = await this.attempt(deadline - started);
      // The renewTime written was read from the clock after `started`: counting from `started` errs early.
      if (result === 'leading') renewedAt = started;
      if (result === 'held-by-other') return;
    }
  }

  /** One try, bounded: a hung request must not keep a leader leading past its deadline. */
  private attempt(timeoutMs: number): Promise<Attempt> {
    const tried = this.tryAcquireOrRenew().catch((e: unknown): Attempt => {
      this.o.onError?.(e);
      return 'failed';
    });
    return within(timeoutMs, tried, 'failed');
  }

  private async tryAcquireOrRenew(): Promise<Attempt> {
    const { api, namespace, name, identity } = this.o;
    const lease = await this.read();
    const now = this.now();
    if (!lease) {
      const spec = this.record(now, undefined);
      return this.write(spec, () => api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } }));
    }
    const previous = lease.spec ?? {};
    this.observeRecord(previous, now);
    const holder = previous.holderIdentity ?? '';
    if (holder) this.observe(holder);
    if (holder && holder !== identity && !this.observedExpired(now)) return 'held-by-other';
    const spec = this.record(now, previous);
    // The whole object as read, so its metadata.resourceVersion makes the update conditional.
    return this.write(spec, () => api.replaceNamespacedLease({ namespace, name, body: { ...lease, spec } }));
  }

  /** Notes when the record changed, by our clock: what expiry is judged by. */
  private observeRecord(spec: V1LeaseSpec, now: number): void {
    const key = recordKey(spec);
    if (this.observed?.key === key) return;
    this.observed = { key, durationMs: (spec.leaseDurationSeconds ?? 0) * 1000, at: now };
  }

  /** client-go's isLeaseValid, negated: no change seen for the record's lease duration. */
  private observedExpired(now: number): boolean {
    return this.observed === undefined || now >= this.observed.at + this.observed.durationMs;
  }

  /** The spec this replica writes to hold the lease: a renewal keeps acquireTime, a takeover counts a transition. */
  private record(now: number, previous: V1LeaseSpec | undefined): V1LeaseSpec {
    const renewing = previous?.holderIdentity === this.o.identity;
    const at = new V1MicroTime(now);
    return {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: this.timings.leaseDurationMs / 1000,
      acquireTime: renewing ? previous.acquireTime : at,
      renewTime: at,
      leaseTransitions: (previous?.leaseTransitions ?? 0) + (previous && !renewing ? 1 : 0),
    };
  }

  private async write(spec: V1LeaseSpec, call: () => Promise<V1Lease>): Promise<Attempt> {
    try {
      await call();
    } catch (e) {
      // 409: created or updated by another replica since we read it (AlreadyExists or Conflict).
      if (httpStatusOf(e) === 409) return 'lost-race';
      throw e;
    }
    this.observeRecord(spec, this.now());
    this.observe(this.o.identity);
    return 'leading';
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.o.api.readNamespacedLease({ namespace: this.o.namespace, name: this.o.name });
    } catch (e) {
      if (httpStatusOf(e) === 404) return undefined;
      throw e;
    }
  }

  private async release(): Promise<void> {
    const lease = await this.read();
    if (!lease?.spec || lease.spec.holderIdentity !== this.o.identity) return;
    const at = new V1MicroTime(this.now());
    // As client-go: no holder and a 1 s duration, so any candidate takes the lease at its next try.
    const spec: V1LeaseSpec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: at, renewTime: at };
    await this.o.api.replaceNamespacedLease({ namespace: this.o.namespace, name: this.o.name, body: { ...lease, spec } });
  }

  private observe(holder: string): void {
    if (holder === this.observedLeader) return;
    this.observedLeader = holder;
    this.o.onNewLeader?.(holder);
  }

  private setLeading(leading: boolean): void {
    if (this.leading === leading) return;
    this.leading = leading;
    try {
      (leading ? this.o.onStartedLeading : this.o.onStoppedLeading)?.();
    } catch (e) {
      this.o.onError?.(e);
    }
  }

  /** Waits, or returns at once when the elector stops. */
  private pause(ms: number): Promise<void> {
    return pause(ms, this.stopping.signal);
  }
}

/** The promise's value, or `late` when it takes longer than `ms` (it is then left to settle on its own). */
async function within<T>(ms: number, promise: Promise<T>, late: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(late), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * client-node types the MicroTime fields as Date, but hands back the API's string: its serializer does not
 * know V1MicroTime. (Writing needs a V1MicroTime: the API server rejects a plain Date's millisecond format.)
 */
function timeOf(t: Date | string | undefined): number | undefined {
  if (t === undefined) return undefined;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * What identifies a record: client-go compares the record's raw bytes. Times as numbers, so the string read
 * back and the V1MicroTime written compare equal.
 */
function recordKey(s: V1LeaseSpec): string {
  return JSON.stringify([s.holderIdentity ?? '', s.leaseDurationSeconds, timeOf(s.acquireTime), timeOf(s.renewTime), s.leaseTransitions]);
}

function validTimings(t: LeaderElectionTimings): LeaderElectionTimings {
  const problems: string[] = [];
  if (!Number.isInteger(t.leaseDurationMs / 1000) || t.leaseDurationMs <= 0) problems.push('the lease duration must be a positive whole number of seconds');
  if (t.renewDeadlineMs >= t.leaseDurationMs) problems.push('the renew deadline must be shorter than the lease duration');
  if (t.renewDeadlineMs <= JITTER * t.retryPeriodMs) problems.push(`the renew deadline must be longer than ${JITTER} retry periods`);
  if (t.retryPeriodMs <= 0) problems.push('the retry period must be positive');
  if (problems.length > 0) throw new Error(`invalid leader election timings ${JSON.stringify(t)}: ${problems.join('; ')}`);
  return t;
}
