/**
 * The publisher's queue: at most one waiting value per key (the newest replaces an older one that has not
 * been sent) and at most one value per key in flight. Memory is therefore bounded by the number of distinct
 * keys plus what is in flight, however long the values cannot be delivered.
 *
 * A value in flight stays here until its outcome is known: done (delivered or given up) or retried. A retried
 * value goes back to waiting unless a newer value for its key arrived meanwhile, which then supersedes it.
 */
export interface QueuedItem<T> {
  readonly key: string;
  value: T;
  /** The value's size as the destination counts it, for batches with a byte limit. */
  bytes: number;
  /** When the key first had a value waiting: replacing the value does not restart its wait. */
  readonly since: number;
}

export interface Batch<T> {
  items: QueuedItem<T>[];
  /** No more items fit (by count or bytes), so waiting for more would not make the call bigger. */
  full: boolean;
}

export class CoalescingQueue<T> {
  /** In arrival order of the key (a replaced value keeps its key's place), which is the order of sending. */
  private readonly waiting = new Map<string, QueuedItem<T>>();
  private readonly sending = new Map<string, QueuedItem<T>>();

  /** Queues `value` for `key`; true when it replaced an older waiting value (coalesced). */
  put(key: string, value: T, bytes: number, now: number): boolean {
    const older = this.waiting.get(key);
    if (older) {
      older.value = value;
      older.bytes = bytes;
      return true;
    }
    this.waiting.set(key, { key, value, bytes, since: now });
    return false;
  }

  /**
   * The next batch, oldest first, without taking it: at most `maxCount` items and less than `maxBytes` in total,
   * skipping keys that have a value in flight (the newer value waits for the outcome of the older).
   */
  peek(maxCount: number, maxBytes: number): Batch<T> {
    const items: QueuedItem<T>[] = [];
    let bytes = 0;
    for (const item of this.waiting.values()) {
      if (this.sending.has(item.key)) continue;
      if (items.length === maxCount || bytes + item.bytes >= maxBytes) return { items, full: true };
      items.push(item);
      bytes += item.bytes;
    }
    return { items, full: items.length === maxCount };
  }

  /** Moves a batch from waiting to in flight. */
  take(items: QueuedItem<T>[]): void {
    for (const item of items) {
      this.waiting.delete(item.key);
      this.sending.set(item.key, item);
    }
  }

  /** The outcome of an item in flight is final (delivered, or given up). */
  done(item: QueuedItem<T>): void {
    this.sending.delete(item.key);
  }

  /** An item in flight must be sent again; false when a newer value for its key supersedes it. */
  retry(item: QueuedItem<T>): boolean {
    this.sending.delete(item.key);
    if (this.waiting.has(item.key)) return false;
    this.waiting.set(item.key, item);
    return true;
  }

  /** Values waiting to be sent: never more than the number of distinct keys. */
  get depth(): number {
    return this.waiting.size;
  }

  get inFlight(): number {
    return this.sending.size;
  }

  get isEmpty(): boolean {
    return this.waiting.size === 0 && this.sending.size === 0;
  }

  /** When the longest-waiting undelivered value was queued (undefined when empty). */
  oldestSince(): number | undefined {
    let oldest: number | undefined;
    for (const map of [this.waiting, this.sending]) {
      for (const item of map.values()) if (oldest === undefined || item.since < oldest) oldest = item.since;
    }
    return oldest;
  }

  /** Keys with an undelivered value, in flight first. */
  keys(): string[] {
    return [...new Set([...this.sending.keys(), ...this.waiting.keys()])];
  }
}
