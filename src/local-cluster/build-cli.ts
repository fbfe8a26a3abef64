/**
 * `npm run controlplane:build` / `npm run tekton:build`: build (or find cached) the Go programs the tests
 * run and print their paths. Arguments: `controlplane` (the default), `karpenter`, `tekton-<version>`.
 */
import { ensureControlPlaneBinary, GoBuildError } from './binary.js';
import { ensureKarpenter } from './karpenter.js';
import { ensureTektonController, TEKTON_VERSIONS, type TektonVersion } from './tekton.js';

const known = ['controlplane', 'karpenter', ...TEKTON_VERSIONS.map((v) => `tekton-${v}`)];
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !known.includes(w));
if (unknown.length > 0) {
  process.stderr.write(`unknown program(s): ${unknown.join(', ')}; known: ${known.join(', ')}\n`);
  process.exit(2);
}
try {
  for (const w of wanted.length ? wanted : ['controlplane']) {
    const path =
      w === 'controlplane' ? await ensureControlPlaneBinary() : w === 'karpenter' ? await ensureKarpenter() : await ensureTektonController(w.slice('tekton-'.length) as TektonVersion);
    process.stdout.write(`${path}\n`);
  }
} catch (e) {
  process.stderr.write(`${e instanceof GoBuildError ? e.message : String(e)}\n`);
  process.exit(1);
}
