/**
 * Authorization is real RBAC: the relocator identity (client certificate CN=affinity-relocator,
 * O=affinity-relocator) can do exactly what a Role grants it. The shipped ClusterRole is tested by the
 * core's own RBAC test; this shows the mechanism with a tiny Role.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane, RELOCATOR_GROUP } from '../../src/local-cluster/controlplane.js';
import { type Clients, clientsFor, eventually, mergePatch, statusOf } from '../../src/local-cluster/fixtures/clients.js';
import { createNamespace } from '../../src/local-cluster/fixtures/pods.js';
import { applyRelocatorRbac } from '../../src/local-cluster/fixtures/rbac.js';
import { installPipelineRunCrd } from '../../src/local-cluster/fixtures/tekton.js';
import { installCrds } from '../../src/local-cluster/fixtures/crds.js';
import { steeringObjects } from '../../src/local-cluster/fixtures/steering.js';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';

let cp: ControlPlane;
let admin: Clients;
let relocator: Clients;

beforeAll(async () => {
  cp = await ControlPlane.start({ kubelets: false });
  admin = clientsFor(cp.kubeConfig('admin'));
  relocator = clientsFor(cp.kubeConfig('relocator'));
  for (const ns of ['granted', 'elsewhere']) await createNamespace(admin, ns);
});

afterAll(async () => {
  await cp?.stop();
});

async function status(call: Promise<unknown>): Promise<number> {
  return call.then(
    () => 200,
    (e: unknown) => statusOf(e) ?? -1,
  );
}

describe('RBAC for the relocator identity', () => {
  it('is refused everything before a role is bound', async () => {
    expect(await status(relocator.core.listNamespacedPod({ namespace: 'granted' }))).toBe(403);
  });

  it('gets exactly what a namespaced Role grants, and nothing beside it', async () => {
    await admin.rbac.createNamespacedRole({
      namespace: 'granted',
      body: { metadata: { name: 'pod-reader' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }] },
    });
    await admin.rbac.createNamespacedRoleBinding({
      namespace: 'granted',
      body: {
        metadata: { name: 'pod-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: RELOCATOR_GROUP }],
      },
    });
    // RBAC reads bindings from an informer: the grant takes effect within moments.
    await eventually('the binding to take effect', () => status(relocator.core.listNamespacedPod({ namespace: 'granted' })), (s) => s === 200);

    await admin.core.createNamespacedPod({
      namespace: 'granted',
      body: { metadata: { name: 'victim' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
    });
    expect(await status(relocator.core.readNamespacedPod({ namespace: 'granted', name: 'victim' }))).toBe(200);
    expect(await status(relocator.core.deleteNamespacedPod({ namespace: 'granted', name: 'victim' }))).toBe(403);
    expect(await status(relocator.core.listNamespacedSecret({ namespace: 'granted' }))).toBe(403);
    expect(await status(relocator.core.listNamespacedPod({ namespace: 'elsewhere' }))).toBe(403);
    expect(await status(relocator.core.listNode())).toBe(403);
    // The pod is still there: the refusal was real, not a client-side error.
    expect((await admin.core.readNamespacedPod({ namespace: 'granted', name: 'victim' })).metadata?.deletionTimestamp).toBeUndefined();
  });
});

describe('the shipped relocator ClusterRole (infra/kubernetes/relocator)', () => {
  it('grants every call the relocator makes, and nothing it does not need', async () => {
    await installPipelineRunCrd(admin);
    await installCrds(admin, steeringObjects().filter((o) => o.kind === 'CustomResourceDefinition') as V1CustomResourceDefinition[]);
    await applyRelocatorRbac(admin);
    const ns = 'shipped';
    await createNamespace(admin, ns);
    await admin.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } } });
    await admin.apps.createNamespacedDeployment({
      namespace: ns,
      body: { metadata: { name: 'd' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } },
    });
    await eventually('the ClusterRoleBinding to take effect', () => status(relocator.core.listNode()), (s) => s === 200);

    const placements = { group: 'affinity-relocator.io', version: 'v1alpha1', plural: 'assistantplacements' };
    const placement = {
      apiVersion: 'affinity-relocator.io/v1alpha1',
      kind: 'AssistantPlacement',
      metadata: { name: 'p' },
      spec: { pod: 'p', statefulSetUid: '0b6f0a52-8c1e-4a7e-9d61-2f0f5e0c9a11', node: 'n', hostname: 'n', expiresAt: '2026-12-01T00:00:00Z' },
    };
    const granted: [string, () => Promise<unknown>][] = [
      ['list nodes', () => relocator.core.listNode()],
      ['list pods everywhere', () => relocator.core.listPodForAllNamespaces({ labelSelector: 'app.kubernetes.io/component=affinity-assistant' })],
      ['get a pod', () => relocator.core.readNamespacedPod({ namespace: ns, name: 'p' })],
      ['list events', () => relocator.core.listNamespacedEvent({ namespace: ns })],
      ['create an event', () => relocator.core.createNamespacedEvent({ namespace: ns, body: { metadata: { name: 'e1' }, involvedObject: { kind: 'Pod', name: 'p', namespace: ns }, reason: 'Test', message: 'm' } })],
      // A drained node's assistants have their owners and volumes read with one list each.
      ['list statefulsets', () => relocator.apps.listNamespacedStatefulSet({ namespace: ns })],
      ['list claims', () => relocator.core.listNamespacedPersistentVolumeClaim({ namespace: ns })],
      ['list volumes', () => relocator.core.listPersistentVolume()],
      ['list pipelineruns', () => relocator.custom.listNamespacedCustomObject({ group: 'tekton.dev', version: 'v1', namespace: ns, plural: 'pipelineruns' })],
      // Steering: its placements, written before a delete, listed by the sweep, deleted after.
      ['create a placement', () => relocator.custom.createNamespacedCustomObject({ ...placements, namespace: ns, body: placement })],
      ['get a placement', () => relocator.custom.getNamespacedCustomObject({ ...placements, namespace: ns, name: 'p' })],
      ['list placements everywhere', () => relocator.custom.listClusterCustomObject(placements)],
    ];
    for (const [what, call] of granted) expect(await status(call()), what).toBe(200);
    // A 404 proves authorization passed.
    expect(await status(relocator.apps.readNamespacedStatefulSet({ namespace: ns, name: 'none' }))).toBe(404);
    expect(await status(relocator.core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'none' }))).toBe(404);
    expect(await status(relocator.core.readPersistentVolume({ name: 'none' }))).toBe(404);
    // Patching a node (its interruption taint; the admission policy narrows it to that) is granted.
    expect(await status(relocator.core.patchNode({ name: 'none', body: { spec: { taints: [] } } }, mergePatch))).toBe(404);
    expect(await status(relocator.custom.getNamespacedCustomObject({ group: 'tekton.dev', version: 'v1', namespace: ns, plural: 'pipelineruns', name: 'none' }))).toBe(404);
    // What can grow the cluster: Karpenter's NodePools (listed; no CRD here, so 404 past authorization),
    // and the cluster autoscaler's status ConfigMap, that one only.
    expect(await status(relocator.custom.listClusterCustomObject({ group: 'karpenter.sh', version: 'v1', plural: 'nodepools' }))).toBe(404);
    expect(await status(relocator.core.readNamespacedConfigMap({ namespace: 'kube-system', name: 'cluster-autoscaler-status' }))).toBe(404);

    const refused: [string, () => Promise<unknown>][] = [
      ['delete a Deployment', () => relocator.apps.deleteNamespacedDeployment({ namespace: ns, name: 'd' })],
      ['list secrets', () => relocator.core.listNamespacedSecret({ namespace: ns })],
      ['read a secret', () => relocator.core.readNamespacedSecret({ namespace: ns, name: 'any' })],
      ['patch a node status', () => relocator.core.patchNodeStatus({ name: 'n', body: { status: { conditions: [] } } }, mergePatch)],
      ['delete a node', () => relocator.core.deleteNode({ name: 'n' })],
      ['delete a StatefulSet', () => relocator.apps.deleteNamespacedStatefulSet({ namespace: ns, name: 'any' })],
      ['create a pod', () => relocator.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'q' }, spec: { containers: [{ name: 'c', image: 'x' }] } } })],
      ['watch statefulsets', () => relocator.apps.listNamespacedStatefulSet({ namespace: ns, watch: true, timeoutSeconds: 1 })],
      ['read another ConfigMap of kube-system', () => relocator.core.readNamespacedConfigMap({ namespace: 'kube-system', name: 'kube-root-ca.crt' })],
      ['list the ConfigMaps of kube-system', () => relocator.core.listNamespacedConfigMap({ namespace: 'kube-system' })],
      ['read the autoscaler status elsewhere', () => relocator.core.readNamespacedConfigMap({ namespace: ns, name: 'cluster-autoscaler-status' })],
      ['delete a NodePool', () => relocator.custom.deleteClusterCustomObject({ group: 'karpenter.sh', version: 'v1', plural: 'nodepools', name: 'any' })],
      ['delete a PipelineRun', () => relocator.custom.deleteNamespacedCustomObject({ group: 'tekton.dev', version: 'v1', namespace: ns, plural: 'pipelineruns', name: 'any' })],
      // A placement is replaced by delete + create: never changed in place.
      ['patch a placement', () => relocator.custom.patchNamespacedCustomObject({ ...placements, namespace: ns, name: 'p', body: { spec: { node: 'm' } } }, mergePatch)],
      ['replace a placement', () => relocator.custom.replaceNamespacedCustomObject({ ...placements, namespace: ns, name: 'p', body: placement })],
      ['watch placements', () => relocator.custom.listClusterCustomObject({ ...placements, watch: true, timeoutSeconds: 1 })],
      ['delete every placement of a namespace', () => relocator.custom.deleteCollectionNamespacedCustomObject({ ...placements, namespace: ns })],
    ];
    for (const [what, call] of refused) expect(await status(call()), what).toBe(403);
    expect(await status(admin.apps.readNamespacedDeployment({ namespace: ns, name: 'd' }))).toBe(200);

    // Last, the destructive grants: deleting a placement, and a pod.
    expect(await status(relocator.custom.deleteNamespacedCustomObject({ ...placements, namespace: ns, name: 'p' }))).toBe(200);
    expect(await status(relocator.core.deleteNamespacedPod({ namespace: ns, name: 'p' }))).toBe(200);
  });
});
