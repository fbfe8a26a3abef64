/**
 * What `demo --tekton` and `demo --pending` share: a local control plane with the real Tekton Pipelines
 * controller (v1.15.0, built from its Go module on first use), the relocator's RBAC and kind's control-plane
 * node, torn down (local mode first) whatever the scenario does.
 */
import type { Outcome } from '../domain/outcome.js';
import type { ControlPlane } from '../local-cluster/controlplane.js';
import type { Clients } from '../local-cluster/fixtures/clients.js';
import { describeOutcome, line } from './print.js';

export interface DemoCluster {
  cp: ControlPlane;
  /** The admin's clients. */
  c: Clients;
  /** Called on the way out, before Tekton and the control plane stop (local mode's stop). */
  onStop(stop: () => Promise<void>): void;
}

export async function withTektonDemoCluster(scenario: (d: DemoCluster) => Promise<number>): Promise<number> {
  // The local cluster (src/local-cluster/): loaded only for the demo, never bundled into a Lambda.
  const { ControlPlane } = await import('../local-cluster/controlplane.js');
  const { TektonController } = await import('../local-cluster/tekton.js');
  const { clientsFor } = await import('../local-cluster/fixtures/clients.js');
  const { createNode } = await import('../local-cluster/fixtures/nodes.js');
  const { applyRelocatorRbac } = await import('../local-cluster/fixtures/rbac.js');

  line('starting a local Kubernetes control plane and Tekton Pipelines v1.15.0 (the first run builds both from Go modules: minutes)');
  const cp = await ControlPlane.start();
  let tekton: Awaited<ReturnType<typeof TektonController.start>> | undefined;
  let stopLocal: (() => Promise<void>) | undefined;
  try {
    tekton = await TektonController.start(cp);
    const c = clientsFor(cp.kubeConfig('admin'));
    await applyRelocatorRbac(c);
    await createNode(c, 'kind-multinode-control-plane', { controlPlane: true });
    return await scenario({ cp, c, onStop: (stop) => (stopLocal = stop) });
  } finally {
    await stopLocal?.();
    await tekton?.stop();
    await cp.stop();
  }
}

/** Prints an outcome, except the routine skips (a healthy node, an event about the pod just replaced) that would bury the story. */
export function printStoryOutcome(o: Outcome): boolean {
  if (o.kind === 'skipped' && ['healthy', 'stale', 'gone'].includes(o.reason)) return false;
  line(describeOutcome(o));
  return true;
}
