/**
 * `npm run bench`: runs every bench module below, prints one table, and writes `bench-results.json` at the
 * repository root (a JSON list of Result; see bench/lib.ts). To add a bench, export a `Bench` from its
 * module and add it to `benches`.
 *
 *   npm run bench                 # all
 *   npm run bench -- bundles      # only the named ones (bundles, relocation, aws-notice, forwarder, differential, differential-pending, feasibility, connections, memory, wave, rotation, peers, scale-up, pending)
 */
import { awsNotice } from './aws-notice.js';
import { bundles } from './bundles.js';
import { connections } from './connections.js';
import { differential } from './differential.js';
import { feasibility } from './feasibility.js';
import { forwarder } from './forwarder.js';
import { memory } from './memory.js';
import { wave } from './wave.js';
import { peers } from './peers.js';
import { pending } from './pending.js';
import { pendingDifferential } from './pending-differential.js';
import { relocation } from './relocation.js';
import { rotation } from './rotation.js';
import { scaleUp } from './scale-up.js';
import { type Bench, type Result, formatTable, writeResults } from './lib.js';

const benches: Bench[] = [bundles, relocation, awsNotice, forwarder, differential, pendingDifferential, feasibility, connections, memory, wave, rotation, peers, scaleUp, pending];

async function main(args: string[]): Promise<void> {
  const unknown = args.filter((a) => !benches.some((b) => b.name === a));
  if (unknown.length > 0) throw new Error(`bench: unknown bench ${unknown.join(', ')} (known: ${benches.map((b) => b.name).join(', ')})`);
  const selected = args.length > 0 ? benches.filter((b) => args.includes(b.name)) : benches;
  const results: Result[] = [];
  for (const bench of selected) {
    const started = performance.now();
    console.log(`bench: ${bench.name}...`);
    results.push(...(await bench.run()));
    console.log(`bench: ${bench.name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  console.log(formatTable(results));
  console.log(`bench: wrote ${await writeResults(results)}`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
