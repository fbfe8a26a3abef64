/** Runs `fn` when fewer than the limiter's maximum are running; callers are served first come, first served. */
export type Limiter = <T>(fn: () => Promise<T>) => Promise<T>;

export function createLimiter(max: number): Limiter {
  if (!Number.isInteger(max) || max < 1) {
    throw new RangeError(`concurrency limit must be a positive integer, got ${max}`);
  }
  let running = 0;
  const waiting: Array<() => void> = [];

  // A finished task hands its slot straight to the oldest waiter rather than freeing it, so a newcomer
  // arriving before that waiter resumes cannot overtake it.
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };

  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (running < max) running++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await fn();
    } finally {
      release();
    }
  };
}
