/**
 * `npm start -- demo --pending`: issue 20's scenario with the real Tekton Pipelines controller (v1.15.0,
 * built from its Go module on first use). Nothing is cordoned or unhealthy: the assistant and TaskRun 1
 * run on a 2-cpu worker, an 8-cpu worker joins empty, TaskRun 1 finishes, and TaskRun 2 (3 cpu) stays
 * Pending because its affinity ties it to the assistant's worker. Local mode runs meanwhile: its forwarder
 * publishes "TaskRun Pod Unschedulable" once the pod has been held for PENDING_GRACE_SECONDS, and the demo
 * shows the assistant move, TaskRun 2 follow and the PipelineRun succeed.
 */
import type { RelocatorConfig } from '../domain/config.js';
import type { Outcome } from '../domain/outcome.js';
import { TASKRUN_POD_UNSCHEDULABLE } from '../events/contract.js';
import type { TaskRunPodUnschedulableDetail } from '../events/taskrun-pod-unschedulable.js';
import { startLocalMode } from './local-mode.js';
import { printStoryOutcome, withTektonDemoCluster } from './demo-tekton-cluster.js';
import { line } from './print.js';

export async function runPendingDemo(config: RelocatorConfig): Promise<number> {
  // The local cluster (src/local-cluster/): loaded only for the demo, never bundled into a Lambda.
  const runs = await import('../local-cluster/fixtures/tekton-runs.js');
  const pending = await import('../local-cluster/fixtures/tekton-pending.js');

  return withTektonDemoCluster(async ({ cp, c, onStop }) => {
    line(`control plane at ${cp.server}, Tekton controller running`);
    line(`PipelineRun first → second sharing a workspace; task "second" asks ${pending.SECOND_TASK_CPU} cpu`);
    const r = await pending.startPendingRun(c, { namespace: 'demo', small: 'kind-multinode-worker1', big: 'kind-multinode-worker2', pipelineRun: 'pipeline-run-kcsr4' }, line);

    // The rescue's settlement (or whatever else the relocator says of TaskRun 2's pod instead).
    let settle: (o: Outcome) => void = () => undefined;
    const settled = new Promise<Outcome>((resolve) => (settle = resolve));
    const mode = await startLocalMode({
      kc: cp.kubeConfig('relocator'),
      config,
      cluster: 'local',
      onEvent: (type, detail) => {
        if (type !== TASKRUN_POD_UNSCHEDULABLE) return;
        const d = detail as TaskRunPodUnschedulableDetail;
        line(`forwarder publishes "${type}": ${d.pod.namespace}/${d.pod.name}, assistant ${d.assistant}, ${d.released ? 'released (bound)' : `Unschedulable since ${d.unschedulableSince}`}`);
      },
      onOutcome: (o) => {
        printStoryOutcome(o);
        if (o.heldPod === r.secondPod && o.kind !== 'started') settle(o);
      },
      onError: (e) => line(`error: ${e instanceof Error ? e.message : String(e)}`),
    });
    onStop(() => mode.stop());
    line(`affinity-relocator runs in local mode (as its RBAC-limited identity); PENDING_GRACE_SECONDS=${config.pendingGraceMs / 1000}`);

    line("TaskRun 1 finishes (its pod's containers exit 0); Tekton creates TaskRun 2's pod");
    const held = await pending.holdSecondTask(c, cp.kubelets, r);
    line(`TaskRun 2's pod ${r.secondPod} is Pending: ${pending.unschedulableCondition(held)?.message ?? 'Unschedulable'}`);
    line(`  its required podAffinity ties it to ${r.assistant} on ${r.small}, which is healthy: nothing else will move it`);

    const outcome = await settled;
    if (config.dryRun) {
      line(`dry-run: nothing was deleted; ${r.assistant} stays on ${r.small} and TaskRun 2 stays Pending`);
      return outcome.reason === 'dry-run' ? 0 : 1;
    }
    if (outcome.kind !== 'relocated') return 1;
    const second = await c.core.readNamespacedPod({ namespace: r.ns, name: r.secondPod });
    line(`TaskRun 2's pod runs on ${second.spec?.nodeName}, beside the assistant`);
    await cp.kubelets.complete(r.ns, r.secondPod);
    const done = await runs.waitForPipelineRunDone(c, r.ns, r.pr.metadata.name);
    line(`TaskRun 2 finishes; PipelineRun ${r.pr.metadata.name}: ${runs.succeeded(done) === 'True' ? 'Succeeded' : 'Failed'}`);
    return runs.succeeded(done) === 'True' && second.spec?.nodeName === r.big ? 0 : 1;
  });
}
