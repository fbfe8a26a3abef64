/**
 * Reads kept per key for a while, as promises: concurrent and repeated reads of one key within `maxAgeMs`
 * (counted from when the read was sent) share one request; a failed read is forgotten at once.
 */
export class ReadCache<K, V> {
  private readonly entries = new Map<K, { at: number; value: Promise<V> }>();

  constructor(
    private readonly maxAgeMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The read of `key` already made (or under way), whatever its age; undefined when there is none. */
  peek(key: K): { at: number; value: Promise<V> } | undefined {
    return this.entries.get(key);
  }

  /** `notBefore`: a read sent before this time does not do (it cannot have seen what happened since). */
  get(key: K, read: () => Promise<V>, notBefore = -Infinity): Promise<V> {
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at <= this.maxAgeMs && hit.at >= notBefore) return hit.value;
    const entry = { at: now, value: read() };
    this.entries.set(key, entry);
    entry.value.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return entry.value;
  }
}
