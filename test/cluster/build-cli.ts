/** `npm run controlplane:build`: build (or find cached) the test control plane and print its path. */
import { GoBuildError, ensureControlPlaneBinary } from './binary.js';

try {
  process.stdout.write(`${await ensureControlPlaneBinary()}\n`);
} catch (e) {
  process.stderr.write(`${e instanceof GoBuildError ? e.message : String(e)}\n`);
  process.exit(1);
}
