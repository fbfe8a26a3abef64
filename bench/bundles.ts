/**
 * The size and cold-import time of each Lambda bundle, built exactly as `npm run build` builds it.
 *
 * - `bundle_bytes:<function>`: size of `<function>.mjs` (n=1, p50 = p99 = the size).
 * - `cold_import_ms:<function>`: `await import(bundle)` timed with `performance.now()` inside a fresh `node`
 *   process, once per process, over BENCH_COLD_RUNS processes (default 15, at least 10). The processes run
 *   one after another (the machine has 2 cores) after one untimed run that warms the page cache, so the
 *   number is module loading and evaluation, not disk reads. Node startup itself is not included.
 *
 * The bundles are built into a fresh temporary directory outside the repository, so an import that only
 * works because `node_modules/` happens to be next to it fails here.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { buildFunctions, type BuildFunctionsOptions } from '../scripts/build.js';
import { type Bench, type Result, summarize } from './lib.js';

const run = promisify(execFile);

// Runs inside the child: the only thing timed is the import of the bundle.
const CHILD = `
const url = process.argv[1];
const t0 = performance.now();
await import(url);
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ ms }));
`;

/** One fresh `node` process importing the module at `file`; returns the import time in ms. */
export async function coldImportOnce(file: string, nodeArgs: string[] = []): Promise<number> {
  const { stdout } = await run(process.execPath, [...nodeArgs, '--input-type=module', '-e', CHILD, pathToFileURL(file).href], {
    // A handler module must not need anything from the environment to load; keep the child's small.
    env: { PATH: process.env.PATH ?? '', AWS_REGION: 'eu-west-1' },
    timeout: 60_000,
  });
  const { ms } = JSON.parse(stdout.trim().split('\n').pop() ?? '') as { ms: number };
  return ms;
}

export async function coldImportSamples(file: string, runs: number, nodeArgs: string[] = []): Promise<number[]> {
  await coldImportOnce(file, nodeArgs); // warm the page cache; not counted
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await coldImportOnce(file, nodeArgs));
  return samples;
}

export interface MeasureOptions extends Pick<BuildFunctionsOptions, 'functionsDir' | 'awsSdk'> {
  runs?: number;
  /** Where to build; default a temporary directory, removed afterwards. */
  outDir?: string;
  /** Extra `node` flags for the child, e.g. `--enable-source-maps`. */
  nodeArgs?: string[];
}

export async function measureBundles(options: MeasureOptions = {}): Promise<Result[]> {
  const runs = Math.max(10, options.runs ?? Number(process.env.BENCH_COLD_RUNS ?? 15));
  const outDir = options.outDir ?? (await mkdtemp(path.join(os.tmpdir(), 'relocator-bench-')));
  try {
    const built = await buildFunctions({ outDir, functionsDir: options.functionsDir, awsSdk: options.awsSdk, log: false });
    const results: Result[] = [];
    for (const fn of built) {
      results.push({ name: `bundle_bytes:${fn.name}`, unit: 'bytes', p50: fn.bytes, p99: fn.bytes, n: 1 });
      results.push(summarize(`cold_import_ms:${fn.name}`, 'ms', await coldImportSamples(fn.bundle, runs, options.nodeArgs)));
    }
    return results;
  } finally {
    if (!options.outDir) await rm(outDir, { recursive: true, force: true });
  }
}

export const bundles: Bench = { name: 'bundles', run: () => measureBundles() };
