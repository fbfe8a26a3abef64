/**
 * One relocator invocation in a process of its own, bundled as the functions ship (one esbuild file), so
 * that its memory is the invocation's, not a TS loader's or the bench's: the trigger named on the command
 * line (`sweep`, or `node:<name>`) is handled once, as the sweep and on-node-event Lambdas handle it, and the
 * process reports its peak RSS (getrusage) and heap over the invocation, then exits.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_CONFIG } from '../src/domain/config.js';
import type { RelocationTrigger } from '../src/domain/trigger.js';
import { createRelocator } from '../src/runtime/relocator.js';
import { peakRssKb } from '../test/support/peak-rss.js';

const [kubeconfig, what] = process.argv.slice(2);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig!);
kc.setCurrentContext('relocator');
const { relocator } = createRelocator({ kc, config: DEFAULT_CONFIG });
const target: RelocationTrigger['target'] = what === 'sweep' ? { kind: 'all' } : { kind: 'node', node: { name: what!.replace(/^node:/, '') } };
global.gc?.();
const before = process.memoryUsage();
let heapPeak = 0;
const sampler = setInterval(() => (heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)), 20);
const t0 = performance.now();
const outcomes = await relocator.handle({ id: `bench-${what}`, source: what === 'sweep' ? 'sweep' : 'node-event', observedAt: new Date().toISOString(), target, cluster: 'bench' });
const ms = performance.now() - t0;
clearInterval(sampler);
heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
const kinds: Record<string, number> = {};
for (const o of outcomes) kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;
const after = process.memoryUsage();
const mb = (x: number) => Math.round(x / 2 ** 20);
process.send!({
  rssBeforeMb: before.rss / 2 ** 20,
  maxRssMb: peakRssKb() / 1024,
  heapPeakMb: heapPeak / 2 ** 20,
  ms,
  kinds,
  after: { rss: mb(after.rss), heapTotal: mb(after.heapTotal), heapUsed: mb(after.heapUsed), external: mb(after.external), arrayBuffers: mb(after.arrayBuffers) },
});
process.exit(0);
