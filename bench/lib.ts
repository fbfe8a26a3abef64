/**
 * What every bench module shares: the result row, percentiles, and the results file that `npm run bench`
 * writes (`bench-results.json` at the repository root, a JSON list of Result).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const resultsFile = path.join(repoRoot, 'bench-results.json');

export type Result = { name: string; unit: string; p50: number; p99: number; n: number };

/** A bench module: `run()` measures and returns its rows (bench/run.ts prints and saves them). */
export interface Bench {
  name: string;
  run(): Promise<Result[]>;
}

/**
 * The p-th percentile (0..100) of `values` by linear interpolation between closest ranks (the same as
 * numpy's default), so that the p50 of an even count is the mean of the two middle values.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile: no values');
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile: p must be within 0..100, got ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** A Result from samples: p50, p99 and the count. */
export function summarize(name: string, unit: string, samples: readonly number[]): Result {
  return { name, unit, p50: percentile(samples, 50), p99: percentile(samples, 99), n: samples.length };
}

export async function writeResults(results: readonly Result[], file = resultsFile): Promise<string> {
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}

/** A plain-text table of results, numbers right-aligned. */
export function formatTable(results: readonly Result[]): string {
  // Infinity: "never" within a bench's observation window (null in the JSON file).
  const round = (x: number) => (!Number.isFinite(x) ? 'never' : Number.isInteger(x) ? String(x) : x.toFixed(2));
  const header = ['name', 'unit', 'p50', 'p99', 'n'];
  const rows = results.map((r) => [r.name, r.unit, round(r.p50), round(r.p99), String(r.n)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}
