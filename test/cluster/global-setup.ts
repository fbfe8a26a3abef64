/**
 * Vitest global setup of the integration project: builds (or finds cached) the control-plane binary and
 * the chart tools (Helm, kustomize) before any test file starts, and after the last one proves that no
 * process started by this run is still alive. Each process the harness starts inherits RUN_MARKER_ENV with this run's id.
 */
import { randomUUID } from 'node:crypto';
import { ensureControlPlaneBinary } from './binary.js';
import { ensureChartTools } from './helm.js';
import { RUN_MARKER_ENV } from './process.js';
import { findMarkedProcesses } from './orphans.js';

export async function setup(): Promise<() => void> {
  const runId = process.env[RUN_MARKER_ENV] ?? randomUUID();
  process.env[RUN_MARKER_ENV] = runId;
  await ensureControlPlaneBinary();
  await ensureChartTools();
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
