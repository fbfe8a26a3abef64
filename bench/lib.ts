/**
 * What every bench module shares: the result row, percentiles, and the results file that `npm run bench`
 * writes (`bench-results.json` at the repository root, a JSON list of Result).
 */
import { mkdtempSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AuditEvent } from '../src/local-cluster/controlplane.js';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

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

/** A count as a Result row: p50 = p99 = the count, n = what it is out of. */
export function count(name: string, value: number, outOf: number, unit = 'runs'): Result {
  return { name, unit, p50: value, p99: value, n: outOf };
}

/** A whole number >= 1 from the environment variable `name`, or `fallback` when unset; a clear error otherwise. */
export function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bench: ${name} must be a whole number >= 1, got "${raw}"`);
  return n;
}

/**
 * A labelled variant with kube-controller-manager's client rate raised (its defaults: 20 requests/s, burst
 * 30), from the environment variable `name`: the StatefulSet controller that recreates the deleted pods is
 * rate-limited by that client, so the variant tells its share of a wave from the relocator's. Unset: no
 * label and no arguments (the headline figures).
 */
export function controllerManagerQps(name: string): { label: string; controllerManagerArgs: string[] } {
  if (!process.env[name]) return { label: '', controllerManagerArgs: [] };
  const qps = positiveInt(name, 0);
  return { label: `_kcm_qps${qps}`, controllerManagerArgs: [`--kube-api-qps=${qps}`, `--kube-api-burst=${qps * 2}`] };
}

/**
 * The control plane's clients a relocation wave waits on: the StatefulSet controller recreates each deleted
 * pod (its own service account: --use-service-account-credentials) and the scheduler binds it. Audit
 * them (ControlPlaneOptions.audit) and pass the log to controlPlaneRequests.
 */
export const CONTROL_PLANE_USERS: Record<string, string> = {
  'statefulset-controller': 'system:serviceaccount:kube-system:statefulset-controller',
  'kube-scheduler': 'system:kube-scheduler',
};

/**
 * Figures `<prefix>_requests:<client>` (requests since `sinceMs`, out of `outOf` relocations) and
 * `<prefix>_requests_per_s:<client>` (their rate from the first to the last): a client pinned at its rate
 * limit (kube-controller-manager's default is 20 requests/s) sets the wave's pace, whatever the relocator does.
 */
export function controlPlaneRequests(audit: readonly AuditEvent[], sinceMs: number, prefix: string, outOf: number, label = ''): Result[] {
  return Object.entries(CONTROL_PLANE_USERS).flatMap(([key, user]) => {
    const times = audit.filter((e) => e.user.username === user).map((e) => Date.parse(e.requestReceivedTimestamp)).filter((t) => t >= sinceMs);
    if (times.length === 0) return [];
    const spanS = (Math.max(...times) - Math.min(...times)) / 1000;
    return [
      count(`${prefix}_requests:${key}${label}`, times.length, outOf, 'requests'),
      count(`${prefix}_requests_per_s:${key}${label}`, spanS > 0 ? Math.round((times.length / spanS) * 10) / 10 : NaN, times.length, 'requests/s'),
    ];
  });
}

/** How often each string occurs. */
export function countBy(xs: readonly string[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const x of xs) m[x] = (m[x] ?? 0) + 1;
  return m;
}

/** Runs `fn` over `items`, at most `concurrency` at a time. */
export async function inBatches<T>(items: readonly T[], concurrency: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
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

/**
 * A child process's entry bundled as the project ships code (one minified esbuild file), so that what a
 * bench measures in it (RSS above all) is the code's, not a TS loader's. Returns the bundle's path.
 */
export async function bundleChild(entry: URL): Promise<string> {
  const outfile = path.join(mkdtempSync(path.join(tmpdir(), 'ar-bench-child-')), `${path.basename(entry.pathname, '.ts')}.mjs`);
  await build({
    entryPoints: [entry.pathname],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  return outfile;
}
