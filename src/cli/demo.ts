/**
 * The Tekton article's cordon scenario, live: a local control plane (the test harness), three kind-like
 * nodes, a PipelineRun with its affinity assistant on worker1, local mode running as the RBAC-limited
 * relocator identity; then `kubectl cordon worker1`, and the timeline of what follows.
 */
import type { RelocatorConfig } from '../domain/config.js';
import type { Outcome } from '../domain/outcome.js';
import { startLocalMode } from './local-mode.js';
import { describeOutcome, line } from './print.js';

export async function runDemo(config: RelocatorConfig): Promise<number> {
  // The local cluster (src/local-cluster/): loaded only for the demo, never bundled into a Lambda.
  const { ControlPlane } = await import('../local-cluster/controlplane.js');
  const { clientsFor } = await import('../local-cluster/fixtures/clients.js');
  const { createNode, setUnschedulable } = await import('../local-cluster/fixtures/nodes.js');
  const { createNamespace, waitForBoundPod } = await import('../local-cluster/fixtures/pods.js');
  const tekton = await import('../local-cluster/fixtures/tekton.js');
  const { provisionVolume } = await import('../local-cluster/fixtures/volumes.js');
  const { applyRelocatorRbac } = await import('../local-cluster/fixtures/rbac.js');

  line('starting a local Kubernetes control plane (the first run builds it from Go modules: minutes)');
  const cp = await ControlPlane.start();
  try {
    const c = clientsFor(cp.kubeConfig('admin'));
    await tekton.installPipelineRunCrd(c);
    await applyRelocatorRbac(c);
    for (const [name, o] of [['kind-multinode-control-plane', { controlPlane: true }], ['kind-multinode-worker1', {}], ['kind-multinode-worker2', {}]] as const) {
      await createNode(c, name, o);
    }
    line(`control plane ready at ${cp.server}; nodes: kind-multinode-control-plane, kind-multinode-worker1, kind-multinode-worker2`);

    const ns = 'demo';
    await createNamespace(c, ns);
    const pr = await tekton.createPipelineRun(c, ns, 'pipeline-run-kcsr4');
    const claim = tekton.pvcNameFromWorkspaceBinding(undefined, 'source', pr.metadata.uid);
    await provisionVolume(c, ns, claim, { kind: 'anywhere' });
    await setUnschedulable(c, 'kind-multinode-worker2', true); // so that the assistant starts on worker1
    await tekton.createAssistant(c, pr, { mode: 'workspaces', workspaceName: 'source', claimNames: [claim] });
    const assistant = tekton.affinityAssistantName('source', pr.metadata.name);
    const first = await waitForBoundPod(c, ns, `${assistant}-0`);
    await setUnschedulable(c, 'kind-multinode-worker2', false);
    line(`PipelineRun ${pr.metadata.name}: assistant ${assistant}-0 is on ${first.spec?.nodeName}`);

    let acted!: (o: Outcome) => void;
    const outcome = new Promise<Outcome>((resolve) => (acted = resolve));
    // Started (it lists and settles) before the cordon, and stopped before the control plane is: a watch
    // cut by the apiserver's exit would only print errors.
    const mode = await startLocalMode({
      kc: cp.kubeConfig('relocator'),
      config,
      cluster: 'local',
      onEvent: (type, detail) => line(`event "${type}" ${summarise(detail)}`),
      onOutcome: (o) => {
        // Routine skips (a healthy node, an event about the pod just replaced) would bury the story.
        if (o.kind === 'skipped' && ['healthy', 'stale', 'gone'].includes(o.reason)) return;
        line(describeOutcome(o));
        if (o.kind !== 'skipped' || o.reason === 'dry-run') acted(o);
      },
      onError: (e) => line(`error: ${e instanceof Error ? e.message : String(e)}`),
    });
    try {
      line('kubectl cordon kind-multinode-worker1');
      await setUnschedulable(c, 'kind-multinode-worker1', true);
      const o = await outcome;
      if (o.kind === 'skipped') {
        // Nothing was deleted, so the assistant stays on the cordoned node and a TaskRun pod could not start.
        line(`dry-run: nothing was deleted; ${assistant}-0 stays on kind-multinode-worker1 (run without --dry-run to see it move)`);
        return 0;
      }
      const task = await c.core.createNamespacedPod({ namespace: ns, body: tekton.taskRunPod(pr, 'last-task', assistant, [claim]) });
      const bound = await waitForBoundPod(c, ns, task.metadata!.name!);
      line(`TaskRun pod ${task.metadata!.name} was scheduled to ${bound.spec?.nodeName}: the PipelineRun goes on`);
      return 0;
    } finally {
      await mode.stop();
    }
  } finally {
    await cp.stop();
  }
}

function summarise(detail: unknown): string {
  const d = detail as { node?: { name: string }; pod?: { namespace: string; name: string; nodeName?: string }; reasons?: { code: string }[]; change?: string };
  if (d.node) return `node ${d.node.name}: ${d.reasons?.length ? d.reasons.map((r) => r.code).join(',') : 'schedulable'}`;
  if (d.pod) return `pod ${d.pod.namespace}/${d.pod.name} ${d.change} ${d.pod.nodeName ?? ''}`.trim();
  return '';
}
