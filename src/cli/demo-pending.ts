/**
 * `npm start -- demo --pending`: issue 20's scenario with the real Tekton Pipelines controller (v1.15.0,
 * built from its Go module on first use). Nothing is cordoned or unhealthy: the assistant and TaskRun 1
 * run on a 2-cpu worker, an 8-cpu worker joins empty, TaskRun 1 finishes, and TaskRun 2 (3 cpu) stays
 * Pending because its affinity ties it to the assistant's worker. The demo shows it held for the grace
 * (PENDING_GRACE_SECONDS), hands the relocator the "TaskRun Pod Unschedulable" event the forwarder
 * publishes, and shows the assistant move, TaskRun 2 follow and the PipelineRun succeed.
 */
import type { RelocatorConfig } from '../domain/config.js';
import { createRelocator } from '../runtime/relocator.js';
import { describeOutcome, line } from './print.js';

export async function runPendingDemo(config: RelocatorConfig): Promise<number> {
  // The local cluster (src/local-cluster/): loaded only for the demo, never bundled into a Lambda.
  const { ControlPlane } = await import('../local-cluster/controlplane.js');
  const { TektonController } = await import('../local-cluster/tekton.js');
  const { clientsFor } = await import('../local-cluster/fixtures/clients.js');
  const { createNode } = await import('../local-cluster/fixtures/nodes.js');
  const { waitForBoundPod } = await import('../local-cluster/fixtures/pods.js');
  const runs = await import('../local-cluster/fixtures/tekton-runs.js');
  const pending = await import('../local-cluster/fixtures/tekton-pending.js');
  const { applyRelocatorRbac } = await import('../local-cluster/fixtures/rbac.js');

  line('starting a local Kubernetes control plane and Tekton Pipelines v1.15.0 (the first run builds both from Go modules: minutes)');
  const cp = await ControlPlane.start();
  let tekton: Awaited<ReturnType<typeof TektonController.start>> | undefined;
  try {
    tekton = await TektonController.start(cp);
    const c = clientsFor(cp.kubeConfig('admin'));
    await applyRelocatorRbac(c);
    await createNode(c, 'kind-multinode-control-plane', { controlPlane: true });
    line(`control plane at ${cp.server}, Tekton controller running`);
    line(`PipelineRun first → second sharing a workspace; task "second" asks ${pending.SECOND_TASK_CPU} cpu`);
    const r = await pending.startPendingRun(c, { namespace: 'demo', small: 'kind-multinode-worker1', big: 'kind-multinode-worker2', pipelineRun: 'pipeline-run-kcsr4' }, line);

    const secondDone = cp.kubelets.complete(r.ns, r.secondPod);
    line('TaskRun 1 finishes (its pod\'s containers exit 0); Tekton creates TaskRun 2\'s pod');
    const held = await pending.holdSecondTask(c, cp.kubelets, r);
    const why = pending.unschedulableCondition(held);
    line(`TaskRun 2's pod ${r.secondPod} is Pending: ${why?.message ?? 'Unschedulable'}`);
    line(`  its required podAffinity ties it to ${r.assistant} on ${r.small}, which is healthy; Tekton, the scheduler and autoscalers leave it there`);

    const graceS = config.pendingGraceMs / 1000;
    line(`waiting PENDING_GRACE_SECONDS (${graceS} s): the forwarder publishes "TaskRun Pod Unschedulable" for a pod held that long`);
    await new Promise((w) => setTimeout(w, config.pendingGraceMs));
    const still = await c.core.readNamespacedPod({ namespace: r.ns, name: r.secondPod });
    line(`after ${graceS} s: TaskRun 2's pod is ${still.spec?.nodeName ? `bound to ${still.spec.nodeName}` : 'still Pending'}`);

    // Until the forwarder's watch runs in local mode, the demo hands the relocator the event it publishes.
    const { relocator } = createRelocator({ kc: cp.kubeConfig('relocator'), config });
    line('affinity-relocator (as its RBAC-limited identity) handles "TaskRun Pod Unschedulable"');
    const outcomes = await relocator.handle(pending.pendingPodTrigger(still, r.statefulSet));
    for (const o of outcomes) line(describeOutcome(o));
    if (config.dryRun) {
      line(`dry-run: nothing was deleted; ${r.assistant} stays on ${r.small} and TaskRun 2 stays Pending`);
      return outcomes.some((o) => o.reason === 'dry-run') ? 0 : 1;
    }
    if (!outcomes.some((o) => o.kind === 'started')) return 1;

    const replacement = await waitForBoundPod(c, r.ns, r.assistant, { notUid: r.assistantUid });
    line(`assistant ${r.assistant} now on ${replacement.spec?.nodeName}`);
    const bound = await waitForBoundPod(c, r.ns, r.secondPod);
    line(`TaskRun 2's pod ${r.secondPod} follows it to ${bound.spec?.nodeName}`);
    for (const o of await relocator.handle(pending.pendingPodTrigger(bound, r.statefulSet, { released: true }))) line(describeOutcome(o));

    await secondDone;
    const done = await runs.waitForPipelineRunDone(c, r.ns, r.pr.metadata.name);
    const ok = runs.succeeded(done) === 'True' && bound.spec?.nodeName === r.big;
    line(`TaskRun 2 ran on ${bound.spec?.nodeName}; PipelineRun ${r.pr.metadata.name}: ${runs.succeeded(done) === 'True' ? 'Succeeded' : 'Failed'}`);
    return ok ? 0 : 1;
  } finally {
    await tekton?.stop();
    await cp.stop();
  }
}
