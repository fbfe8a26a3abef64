/** The statistics behind bench-results.json. */
import { describe, expect, it } from 'vitest';
import { percentile, summarize } from '../../../bench/lib.js';

describe('bench percentiles', () => {
  it('interpolates between closest ranks, so the p50 of an even count is the mean of the middle two', () => {
    expect(percentile([4, 1, 3, 2], 50)).toBe(2.5);
    expect(percentile([5], 99)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0)).toBe(1);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 100)).toBe(11);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90)).toBe(10);
  });

  it('refuses an empty sample and an out-of-range percentile', () => {
    expect(() => percentile([], 50)).toThrow(/no values/);
    expect(() => percentile([1], 101)).toThrow(/0\.\.100/);
  });

  it('summarizes samples into a Result row', () => {
    expect(summarize('cold_import_ms:x', 'ms', [3, 1, 2])).toEqual({ name: 'cold_import_ms:x', unit: 'ms', p50: 2, p99: 2.98, n: 3 });
  });
});
