/**
 * The one backoff: every wait between retries (Kubernetes API calls, watch restarts, PutEvents, the leader
 * election's tries) is drawn here, so the jitter that keeps failed callers from retrying in step is decided
 * once.
 *
 * The ceiling starts at baseMs and grows by `factor` per wait, up to maxMs. The wait is drawn from it:
 * - `jitter: 'full'` (default): uniform in [0, ceiling), the AWS Architecture Blog's "full jitter";
 * - `jitter: j` (a number): uniform in [ceiling, ceiling * (1 + j)), client-go's wait.Jitter, for waits that
 *   must not be shorter than the ceiling (the leader election's retry period).
 */
export interface BackoffOptions {
  /** The first ceiling. */
  baseMs: number;
  /** Cap on the ceiling: with full jitter no wait reaches it. */
  maxMs: number;
  /** Growth of the ceiling per wait. Default 2; 1 keeps it at baseMs. */
  factor?: number;
  /** Default 'full'. */
  jitter?: 'full' | number;
  /** In [0, 1); injectable for tests. Default Math.random. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly factor: number;
  private readonly random: () => number;

  constructor(private readonly o: BackoffOptions) {
    this.factor = o.factor ?? 2;
    this.random = o.random ?? Math.random;
  }

  /** The wait before the next attempt; each call grows the ceiling of the next, up to maxMs. */
  next(): number {
    const ceiling = Math.min(this.o.maxMs, this.o.baseMs * this.factor ** this.attempt);
    // Stop growing once capped, so the exponent never overflows however long an outage lasts.
    if (ceiling < this.o.maxMs) this.attempt++;
    const jitter = this.o.jitter ?? 'full';
    return jitter === 'full' ? this.random() * ceiling : ceiling * (1 + this.random() * jitter);
  }

  /** After a success: the next failure starts from baseMs again. */
  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Waits `ms`, or less when `signal` aborts (it then resolves: a stop is not an error for a waiting loop).
 * On the global timers, so a test's fake timers drive it.
 */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}
