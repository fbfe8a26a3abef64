/**
 * Vitest global setup of the integration project: builds (or finds cached) the control-plane binary and
 * the chart tools (Helm, kustomize) and the Tekton controller the end-to-end tests run
 * (test/integration/tekton.test.ts) before any test file starts (a cold build takes minutes, longer than any
 * hook may), and after the last one proves that no process started by this run is still alive. Each process
 * the harness starts inherits RUN_MARKER_ENV with this run's id.
 */
import { randomUUID } from 'node:crypto';
import { ensureControlPlaneBinary } from '../../src/local-cluster/binary.js';
import { ensureChartTools } from './helm.js';
import { RUN_MARKER_ENV } from '../../src/local-cluster/process.js';
import { ensureKarpenter } from '../../src/local-cluster/karpenter.js';
import { ensureTektonController } from '../../src/local-cluster/tekton.js';
import { findMarkedProcesses } from '../../src/local-cluster/orphans.js';

export async function setup(): Promise<() => void> {
  const runId = process.env[RUN_MARKER_ENV] ?? randomUUID();
  process.env[RUN_MARKER_ENV] = runId;
  await ensureControlPlaneBinary();
  await ensureChartTools();
  await ensureTektonController('v1.15.0');
  await ensureKarpenter();
  return () => {
    const orphans = findMarkedProcesses(runId);
    if (orphans.length > 0) {
      for (const o of orphans) {
        try {
          process.kill(o.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      throw new Error(
        `control-plane processes outlived the test run (killed now): ${orphans.map((o) => `${o.pid} ${o.cmdline}`).join('; ')}`,
      );
    }
  };
}
