import { describe, expect, it } from 'vitest';
import { ReadCache } from '../../../src/relocator/read-cache.js';

describe('ReadCache', () => {
  it('shares one read per key within its age, and reads again after', async () => {
    let clock = 0;
    let reads = 0;
    const cache = new ReadCache<string, number>(100, () => clock);
    const read = async () => ++reads;
    expect(await Promise.all([cache.get('a', read), cache.get('a', read)])).toEqual([1, 1]);
    clock = 100;
    expect(await cache.get('a', read)).toBe(1);
    expect(await cache.get('b', read)).toBe(2); // another key, another read
    clock = 101;
    expect(await cache.get('a', read)).toBe(3);
  });

  it('forgets a failed read at once, so the next asks again', async () => {
    const cache = new ReadCache<string, string>(1_000, () => 0);
    await expect(cache.get('a', async () => Promise.reject(new Error('503')))).rejects.toThrow('503');
    expect(await cache.get('a', async () => 'ok')).toBe('ok');
  });

  it('does not serve a read sent before `notBefore`, however young', async () => {
    let clock = 1_000;
    let reads = 0;
    const cache = new ReadCache<string, number>(1_000, () => clock);
    const read = async () => ++reads;
    expect(await cache.get('n', read)).toBe(1); // sent at 1000
    clock = 1_200;
    expect(await cache.get('n', read, 1_000)).toBe(1); // what happened at 1000 can be in it
    expect(await cache.get('n', read, 1_100)).toBe(2); // what happened at 1100 cannot
    expect(await cache.get('n', read, 1_100)).toBe(2); // the new read (sent at 1200) serves it
  });

  it('peeks at the read already made, however old, without reading', async () => {
    let clock = 0;
    let reads = 0;
    const cache = new ReadCache<string, number>(100, () => clock);
    expect(cache.peek('p')).toBeUndefined();
    await cache.get('p', async () => ++reads);
    clock = 10_000;
    const seen = cache.peek('p');
    expect(seen?.at).toBe(0);
    expect(await seen?.value).toBe(1);
    expect(reads).toBe(1);
  });
});
