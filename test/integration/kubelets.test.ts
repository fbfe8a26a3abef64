/**
 * The kubelet stand-in (src/local-cluster/kubelets.ts) reports pods the way a kubelet does, which is what
 * Tekton's TaskRun reconciler reads: init containers terminated before the others run, and a completed
 * pod with every container terminated and its phase set. And like a kubelet, it does nothing on a node
 * that is not Ready.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/local-cluster/controlplane.js';
import { type Clients, clientsFor, eventually } from '../../src/local-cluster/fixtures/clients.js';
import { createNode, setReady } from '../../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../../src/local-cluster/fixtures/pods.js';

let cp: ControlPlane;
let c: Clients;
const ns = 'kubelets';
beforeAll(async () => {
  cp = await ControlPlane.start();
  c = clientsFor(cp.kubeConfig('admin'));
  await createNamespace(c, ns);
  await createNode(c, 'node-a');
});
afterAll(async () => {
  await cp?.stop();
});

/** A TaskRun-like pod bound to `node`: one init container, two step containers, restartPolicy Never. */
function taskPod(name: string, node = 'node-a'): V1Pod {
  const ct = (n: string) => ({ name: n, image: 'registry.example/busybox:1', command: ['true'] });
  return { metadata: { name, namespace: ns }, spec: { nodeName: node, restartPolicy: 'Never', initContainers: [ct('prepare')], containers: [ct('step-a'), ct('step-b')] } };
}

const read = (name: string) => c.core.readNamespacedPod({ namespace: ns, name });
const running = (name: string) => eventually(`${name} to run`, () => read(name), (p) => p.status?.phase === 'Running');
const terminated = (p: V1Pod) => Object.fromEntries((p.status?.containerStatuses ?? []).map((s) => [s.name, s.state?.terminated?.exitCode]));

describe('the kubelet stand-in', () => {
  it('starts a pod with its init containers terminated (exit 0) and every container running', async () => {
    await c.core.createNamespacedPod({ namespace: ns, body: taskPod('starts') });
    const p = await running('starts');
    expect(p.status?.initContainerStatuses?.map((s) => [s.name, s.state?.terminated?.exitCode, s.state?.terminated?.reason])).toEqual([['prepare', 0, 'Completed']]);
    expect(p.status?.containerStatuses?.map((s) => [s.name, !!s.state?.running, s.ready])).toEqual([
      ['step-a', true, true],
      ['step-b', true, true],
    ]);
  });

  it('completes a running pod when told: every container terminated with exit 0, phase Succeeded', async () => {
    await c.core.createNamespacedPod({ namespace: ns, body: taskPod('succeeds') });
    await running('succeeds');
    await cp.kubelets.complete(ns, 'succeeds');
    const p = await read('succeeds');
    expect(p.status?.phase).toBe('Succeeded');
    expect(terminated(p)).toEqual({ 'step-a': 0, 'step-b': 0 });
    expect(p.status?.conditions?.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
  });

  it('fails the chosen container with the chosen exit code: phase Failed', async () => {
    await c.core.createNamespacedPod({ namespace: ns, body: taskPod('fails') });
    await running('fails');
    await cp.kubelets.complete(ns, 'fails', { exitCode: 3, container: 'step-a' });
    const p = await read('fails');
    expect(p.status?.phase).toBe('Failed');
    expect(terminated(p)).toEqual({ 'step-a': 3, 'step-b': 0 });
    expect(p.status?.containerStatuses?.find((s) => s.name === 'step-a')?.state?.terminated?.reason).toBe('Error');
  });

  it('takes a completion for a pod that does not exist yet, and applies it once the pod runs', async () => {
    const done = cp.kubelets.complete(ns, 'later');
    await c.core.createNamespacedPod({ namespace: ns, body: taskPod('later') });
    await done;
    expect((await read('later')).status?.phase).toBe('Succeeded');
  });

  it('does not complete a pod on a node that is not Ready, until the node is Ready again', async () => {
    await createNode(c, 'node-b');
    await c.core.createNamespacedPod({ namespace: ns, body: taskPod('dead-kubelet', 'node-b') });
    await running('dead-kubelet');
    await setReady(c, 'node-b', 'False');
    // As a kubelet, the stand-in acts on its own view of the node: wait until that view has the change.
    await eventually('the stand-in to see node-b NotReady', async () => cp.kubelets.seesReady('node-b'), (ready) => !ready);
    let completed = false;
    const done = cp.kubelets.complete(ns, 'dead-kubelet').then(() => (completed = true));
    // Any update of the pod makes the stand-in look at it again: still nothing while the node is not Ready.
    await c.core.patchNamespacedPod({ namespace: ns, name: 'dead-kubelet', body: [{ op: 'add', path: '/metadata/labels', value: { poke: '1' } }] });
    await eventually('the poke to be seen', () => read('dead-kubelet'), (p) => p.metadata?.labels?.poke === '1');
    expect(completed).toBe(false);
    expect((await read('dead-kubelet')).status?.phase).toBe('Running');
    await setReady(c, 'node-b', 'True');
    await done;
    expect((await read('dead-kubelet')).status?.phase).toBe('Succeeded');
    expect(cp.kubeletErrors).toEqual([]);
  });
});
