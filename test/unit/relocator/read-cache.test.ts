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
});
