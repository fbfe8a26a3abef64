import { describe, expect, it } from 'vitest';
import { CoalescingQueue } from '../../../src/forwarder/coalescing-queue.js';

/** Puts `key=value` pairs of 1 byte each, at time 0. */
function queueOf(...pairs: string[]): CoalescingQueue<string> {
  const queue = new CoalescingQueue<string>();
  for (const pair of pairs) {
    const [key, value] = pair.split('=') as [string, string];
    queue.put(key, value, 1, 0);
  }
  return queue;
}

const values = (q: CoalescingQueue<string>) => q.peek(100, 1_000).items.map((i) => i.value);

describe('CoalescingQueue', () => {
  it('keeps the newest value of a key in the place of the first', () => {
    const queue = queueOf('a=1', 'b=1', 'a=2');

    expect(values(queue)).toEqual(['2', '1']);
    expect(queue.depth).toBe(2);
  });

  it('never holds more waiting values than distinct keys, however many are put', () => {
    const queue = new CoalescingQueue<number>();
    for (let i = 0; i < 10_000; i++) queue.put(`node/${i % 7}`, i, 1, i);

    expect(queue.depth).toBe(7);
    // Each key in the place of its first value, holding its last.
    expect(queue.peek(10, 1_000).items.map((i) => [i.key, i.value])).toEqual([
      ['node/0', 9_996],
      ['node/1', 9_997],
      ['node/2', 9_998],
      ['node/3', 9_999],
      ['node/4', 9_993],
      ['node/5', 9_994],
      ['node/6', 9_995],
    ]);
  });

  it('fills a batch up to the count, and stops before the byte limit is reached', () => {
    const queue = new CoalescingQueue<string>();
    for (const [key, bytes] of [['a', 40], ['b', 40], ['c', 30], ['d', 1]] as const) queue.put(key, key, bytes, 0);

    expect(queue.peek(2, 1_000)).toMatchObject({ items: [{ key: 'a' }, { key: 'b' }], full: true });
    expect(queue.peek(10, 110)).toMatchObject({ items: [{ key: 'a' }, { key: 'b' }], full: true });
    expect(queue.peek(10, 112)).toMatchObject({ items: [{ key: 'a' }, { key: 'b' }, { key: 'c' }, { key: 'd' }], full: false });
  });

  it('holds a newer value back while an older one of the same key is in flight', () => {
    const queue = queueOf('a=1', 'b=1');
    queue.take(queue.peek(1, 1_000).items);
    queue.put('a', '2', 1, 0);

    expect(values(queue)).toEqual(['1']); // b only
    expect(queue.inFlight).toBe(1);
    expect(queue.keys()).toEqual(['a', 'b']);
  });

  it('sends a failed value again, unless a newer value of its key is waiting', () => {
    const queue = queueOf('a=1', 'b=1');
    const items = queue.peek(2, 1_000).items;
    queue.take(items);
    const [a, b] = items as [(typeof items)[number], (typeof items)[number]];
    queue.put('b', '2', 1, 0);

    expect(queue.retry(a)).toBe(true);
    expect(queue.retry(b)).toBe(false);
    expect(values(queue).sort()).toEqual(['1', '2']);
    expect(queue.inFlight).toBe(0);
  });

  it('is empty once every value in flight is done', () => {
    const queue = queueOf('a=1');
    const items = queue.peek(10, 1_000).items;
    queue.take(items);
    expect(queue.isEmpty).toBe(false);

    queue.done(items[0]!);

    expect(queue.isEmpty).toBe(true);
    expect(queue.oldestSince()).toBeUndefined();
  });

  it('remembers when an object first waited, across replacements and retries', () => {
    const queue = new CoalescingQueue<string>();
    queue.put('a', '1', 1, 100);
    queue.put('a', '2', 1, 200);
    const items = queue.peek(10, 1_000).items;
    queue.take(items);
    queue.retry(items[0]!);
    queue.put('b', '1', 1, 300);

    expect(queue.oldestSince()).toBe(100);
  });
});
