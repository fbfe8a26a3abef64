/**
 * `npm start -- demo --tekton`: the cordon scenario with the real Tekton Pipelines controller (v1.15.0,
 * built from its Go module on first use) and a real two-task PipelineRun (`first → second` sharing a
 * volumeClaimTemplate workspace) on a local control plane with kind-like nodes. TaskRun 1 runs; its node
 * is cordoned; local mode moves the assistant; TaskRun 1 finishes; TaskRun 2 runs on the other worker.
 */
import type { RelocatorConfig } from '../domain/config.js';
import { startLocalMode } from './local-mode.js';
import { printStoryOutcome, withTektonDemoCluster } from './demo-tekton-cluster.js';
import { line } from './print.js';

export async function runTektonDemo(config: RelocatorConfig): Promise<number> {
  // The local cluster (src/local-cluster/): loaded only for the demo, never bundled into a Lambda.
  const { createNode, setUnschedulable } = await import('../local-cluster/fixtures/nodes.js');
  const { createNamespace, waitForBoundPod } = await import('../local-cluster/fixtures/pods.js');
  const runs = await import('../local-cluster/fixtures/tekton-runs.js');
  const { provisionVolume } = await import('../local-cluster/fixtures/volumes.js');

  return withTektonDemoCluster(async ({ cp, c, onStop }) => {
    for (const n of ['kind-multinode-worker1', 'kind-multinode-worker2']) await createNode(c, n);
    line(`control plane at ${cp.server}, Tekton controller running; nodes: kind-multinode-control-plane, kind-multinode-worker1, kind-multinode-worker2`);

    const ns = 'demo';
    await createNamespace(c, ns);
    const pipeline = await runs.createTwoTaskPipeline(c, ns);
    const pr = await runs.runPipeline(c, ns, pipeline, { name: 'pipeline-run-kcsr4' });
    await provisionVolume(c, ns, runs.workspaceClaim('workspaces', pr), { kind: 'anywhere' }, { createClaim: false });
    const firstPod = runs.taskRunPodName(pr, runs.FIRST);
    const secondPod = runs.taskRunPodName(pr, runs.SECOND);
    const assistant = `${runs.assistantFor('workspaces', pr)}-0`;
    const first = await runs.waitForRunningPod(c, ns, firstPod);
    const from = first.spec!.nodeName!;
    const aa = await waitForBoundPod(c, ns, assistant);
    line(`PipelineRun ${pr.metadata.name}: Tekton made the assistant ${assistant} and TaskRun 1's pod ${firstPod}, both on ${from}`);

    const mode = await startLocalMode({
      kc: cp.kubeConfig('relocator'),
      config,
      cluster: 'local',
      onOutcome: (o) => void printStoryOutcome(o),
      onError: (e) => line(`error: ${e instanceof Error ? e.message : String(e)}`),
    });
    onStop(() => mode.stop());
    line(`kubectl cordon ${from} (TaskRun 1 is still running there)`);
    await setUnschedulable(c, from, true);
    const replacement = await waitForBoundPod(c, ns, assistant, { notUid: aa.metadata!.uid! });
    line(`assistant ${assistant} now on ${replacement.spec?.nodeName}; TaskRun 1 goes on on ${from}`);

    void cp.kubelets.complete(ns, secondPod);
    line(`TaskRun 1 finishes (its pod's containers exit 0)`);
    await cp.kubelets.complete(ns, firstPod);
    const done = await runs.waitForPipelineRunDone(c, ns, pr.metadata.name);
    const second = await c.core.readNamespacedPod({ namespace: ns, name: secondPod });
    const ok = runs.succeeded(done) === 'True' && second.spec?.nodeName !== from;
    line(`TaskRun 2's pod ran on ${second.spec?.nodeName}; PipelineRun ${pr.metadata.name}: ${runs.succeeded(done) === 'True' ? 'Succeeded' : 'Failed'}`);
    return ok ? 0 : 1;
  });
}
