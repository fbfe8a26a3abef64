/**
 * The article's cordon scenario (shared/000_7a8f31edafe9f130.txt), on the real control plane and
 * without any code of ours: proof that the harness behaves like a cluster. Three nodes as in kind
 * (control-plane, worker1, worker2); a PipelineRun's affinity assistant lands on a worker; the worker is
 * cordoned; deleting the assistant pod by hand makes the real StatefulSet controller recreate it and
 * the real scheduler put it on the other worker; a TaskRun pod with Tekton's podAffinity follows it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/local-cluster/controlplane.js';
import { type Clients, clientsFor } from '../../src/local-cluster/fixtures/clients.js';
import { createNode, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { createNamespace, waitForBoundPod } from '../../src/local-cluster/fixtures/pods.js';
import {
  affinityAssistantName,
  createAssistant,
  createPipelineRun,
  installPipelineRunCrd,
  pvcNameFromWorkspaceBinding,
  taskRunPod,
} from '../../src/local-cluster/fixtures/tekton.js';
import { provisionVolume } from '../../src/local-cluster/fixtures/volumes.js';

let cp: ControlPlane;
let c: Clients;

beforeAll(async () => {
  cp = await ControlPlane.start();
  c = clientsFor(cp.kubeConfig('admin'));
  await installPipelineRunCrd(c);
  await createNode(c, 'kind-multinode-control-plane', { controlPlane: true });
  await createNode(c, 'kind-multinode-worker1');
  await createNode(c, 'kind-multinode-worker2');
});

afterAll(async () => {
  await cp?.stop();
});

describe('the cordon scenario of the Tekton article, without affinity-relocator', () => {
  it('moves the assistant and the next TaskRun pod to worker2 once the assistant pod is deleted', async () => {
    const ns = 'article';
    await createNamespace(c, ns);
    // Keep worker2 out of the first placement so the test knows where the assistant starts (cordoned
    // before the assistant exists: the scheduler must have seen it when the pod comes).
    await setUnschedulable(c, 'kind-multinode-worker2', true);
    const pr = await createPipelineRun(c, ns, 'pipeline-run-kcsr4');
    // Per-workspace mode (Tekton's default): Tekton creates the workspace PVC from the template.
    const claim = pvcNameFromWorkspaceBinding(undefined, 'source', pr.metadata.uid);
    await provisionVolume(c, ns, claim, { kind: 'anywhere' });
    const sts = await createAssistant(c, pr, { mode: 'workspaces', workspaceName: 'source', claimNames: [claim] });
    const assistant = affinityAssistantName('source', pr.metadata.name);
    expect(sts.metadata?.name).toBe(assistant);

    const first = await waitForBoundPod(c, ns, `${assistant}-0`);
    expect(first.spec?.nodeName).toBe('kind-multinode-worker1');
    await setUnschedulable(c, 'kind-multinode-worker2', false);
    const firstTask = await c.core.createNamespacedPod({ namespace: ns, body: taskRunPod(pr, 'first-task', assistant, [claim]) });
    expect((await waitForBoundPod(c, ns, firstTask.metadata!.name!)).spec?.nodeName).toBe('kind-multinode-worker1');

    // kubectl cordon kind-multinode-worker1: the assistant stays put (nothing evicts on a cordon).
    await setUnschedulable(c, 'kind-multinode-worker1', true);
    await new Promise((r) => setTimeout(r, 1_000));
    const still = await c.core.readNamespacedPod({ namespace: ns, name: `${assistant}-0` });
    expect(still.metadata?.uid).toBe(first.metadata?.uid);
    expect(still.spec?.nodeName).toBe('kind-multinode-worker1');

    // What Tekton v0.48 does (and affinity-relocator will do): delete the assistant pod.
    await c.core.deleteNamespacedPod({ namespace: ns, name: `${assistant}-0` });
    const moved = await waitForBoundPod(c, ns, `${assistant}-0`, { notUid: first.metadata!.uid! });
    expect(moved.spec?.nodeName).toBe('kind-multinode-worker2');

    const lastTask = await c.core.createNamespacedPod({ namespace: ns, body: taskRunPod(pr, 'last-task', assistant, [claim]) });
    expect((await waitForBoundPod(c, ns, lastTask.metadata!.name!)).spec?.nodeName).toBe('kind-multinode-worker2');
  });
});
