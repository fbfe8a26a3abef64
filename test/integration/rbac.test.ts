/**
 * Authorization is real RBAC: the relocator identity (client certificate CN=affinity-relocator,
 * O=affinity-relocator) can do exactly what a Role grants it. The shipped ClusterRole is tested by the
 * core's own RBAC test; this shows the mechanism with a tiny Role.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane, RELOCATOR_GROUP } from '../cluster/controlplane.js';
import { type Clients, clientsFor, eventually, statusOf } from '../cluster/fixtures/clients.js';
import { createNamespace } from '../cluster/fixtures/pods.js';

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
