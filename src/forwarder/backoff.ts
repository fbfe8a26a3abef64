/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): each wait is
 * drawn from [0, min(maxMs, baseMs * 2^attempt)), so publishers that failed together do not retry together.
 */
export interface BackoffOptions {
  /** The first wait is drawn from [0, baseMs). */
  baseMs: number;
  /** Cap on any wait. */
  maxMs: number;
  /** In [0, 1); injectable for tests. */
  random: () => number;
}

export class Backoff {
  private attempt = 0;

  constructor(private readonly o: BackoffOptions) {}

  /** The wait before the next attempt; each call doubles the ceiling of the next, up to maxMs. */
  next(): number {
    const ceiling = Math.min(this.o.maxMs, this.o.baseMs * 2 ** this.attempt);
    // Stop growing once capped, so the exponent never overflows however long an outage lasts.
    if (ceiling < this.o.maxMs) this.attempt++;
    return this.o.random() * ceiling;
  }

  /** After a success: the next failure starts from baseMs again. */
  reset(): void {
    this.attempt = 0;
  }
}
