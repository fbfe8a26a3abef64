/**
 * Steering an assistant's replacement to a chosen node (infra/kubernetes/steering), on the real
 * control plane with the shipped manifests: the relocator (its own identity, so its RBAC is proven too)
 * writes an AssistantPlacement and deletes the assistant; the real StatefulSet controller recreates it,
 * the apiserver's MutatingAdmissionPolicy adds the node's hostname to its nodeSelector, and the real
 * kube-scheduler binds it there, although its scores prefer another node.
 *
 * The shipped ValidatingAdmissionPolicies (infra/kubernetes/admission) are in force too: they let the
 * relocator write and delete its placements and delete assistants, and still refuse any other delete.
 *
 * Two healthy nodes: `steer-roomy` (8 cpu, empty) and `steer-tight` (4 cpu, 3.5 of them requested by a
 * pod already bound there). kube-scheduler's LeastAllocated scoring sends an assistant to steer-roomy.
 */
import { randomUUID } from 'node:crypto';
import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesCluster } from '../../src/cluster/api.js';
import type { Node } from '../../src/domain/k8s.js';
import { type PlacementHint, PLACEMENT_GROUP, PLACEMENT_PLURAL, PLACEMENT_VERSION, placementHint, STEERED_TO_ANNOTATION, steeredTo } from '../../src/domain/placement-hint.js';
import { applyAdmissionPolicies } from '../../src/local-cluster/fixtures/admission.js';
import { eventually, statusOf } from '../../src/local-cluster/fixtures/clients.js';
import { createNode } from '../../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../../src/local-cluster/fixtures/pods.js';
import { installSteering } from '../../src/local-cluster/fixtures/steering.js';
import { affinityAssistantName, createAssistant, createPipelineRun, type PipelineRun, taskRunPod } from '../../src/local-cluster/fixtures/tekton.js';
import { Scenario, TEST_CONFIG, waitForBoundPod } from './support.js';

const NS = 'steering';
const ROOMY = 'steer-roomy';
const TIGHT = 'steer-tight';
const POOL = { pool: 'steer' };
const HOSTNAME = 'kubernetes.io/hostname';

let s: Scenario;
/** The relocator's cluster adapter, as the relocator identity. */
let cluster: KubernetesCluster;
let assistant: { sts: V1StatefulSet; pod: string };
let pr: PipelineRun;

beforeAll(async () => {
  s = await Scenario.start();
  await installSteering(s.admin);
  cluster = new KubernetesCluster(s.cp.kubeConfig('relocator'), { assistantSelector: TEST_CONFIG.assistantSelector });
  await createNode(s.admin, ROOMY, { cpu: '8', labels: POOL });
  await createNode(s.admin, TIGHT, { cpu: '4', labels: { ...POOL, lane: 'narrow' } });
  await createNamespace(s.admin, NS);
  // Bound by name (no scheduler): what the scheduler counts on steer-tight from then on.
  await s.admin.core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: 'filler' },
      spec: { nodeName: TIGHT, containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '3500m', memory: '1Gi' } } }] },
    },
  });
  await applyAdmissionPolicies(s.admin);
  // Policies take effect asynchronously: until a dry-run delete of a pod that is no assistant is refused.
  await eventually(
    'the admission policy to refuse the relocator',
    () => refusal(s.relocator.core.deleteNamespacedPod({ namespace: NS, name: 'filler', dryRun: 'All' })),
    (message) => message.includes(DELETE_POLICY_MESSAGE),
  );
  pr = await createPipelineRun(s.admin, NS, 'pr-steer');
  const sts = await createAssistant(s.admin, pr, { mode: 'workspaces', workspaceName: 'source', podTemplate: { nodeSelector: POOL } });
  assistant = { sts, pod: `${affinityAssistantName('source', pr.metadata.name)}-0` };
});

afterAll(async () => {
  await s?.stop();
});

const DELETE_POLICY_MESSAGE = 'affinity-relocator may delete only affinity-assistant pods';

/** The apiserver's message refusing a call ('' when it succeeded). */
const refusal = (call: Promise<unknown>): Promise<string> =>
  call.then(
    () => '',
    (e: unknown) => String((e as { body?: { message?: unknown } }).body?.message ?? e),
  );

const node = (name: string): Promise<Node> => s.admin.core.readNode({ name }) as Promise<Node>;

/** The relocator's move: delete the assistant (uid precondition) and wait for its replacement to be bound. */
async function replace(podName: string): Promise<V1Pod> {
  const old = await waitForBoundPod(s.admin, NS, podName);
  expect(await cluster.deletePod(NS, podName, { uid: old.metadata!.uid!, force: false, dryRun: false })).toBe('deleted');
  return waitForBoundPod(s.admin, NS, podName, { notUid: old.metadata!.uid });
}

async function hintFor(o: { pod?: string; statefulSetUid?: string; to: string; ttlMs?: number }): Promise<PlacementHint> {
  const pod = await s.admin.core.readNamespacedPod({ namespace: NS, name: o.pod ?? assistant.pod });
  const held = { metadata: { name: 'pr-steer-second-pod', uid: randomUUID() } };
  const hint = placementHint({ assistant: pod, node: await node(o.to), heldPod: held, now: new Date(), ttlMs: o.ttlMs ?? 600_000 });
  if (!o.pod) expect(hint.statefulSetUid).toBe(assistant.sts.metadata!.uid);
  return o.statefulSetUid ? { ...hint, statefulSetUid: o.statefulSetUid } : hint;
}

describe('steering the replacement of an assistant', () => {
  it('without a placement, the replacement goes where the scheduler prefers (3 of 3)', async () => {
    expect((await waitForBoundPod(s.admin, NS, assistant.pod)).spec?.nodeName).toBe(ROOMY);
    for (let round = 1; round <= 3; round++) {
      const replacement = await replace(assistant.pod);
      expect(replacement.spec?.nodeName, `round ${round}`).toBe(ROOMY);
      expect(steeredTo(replacement)).toBeUndefined();
      expect(replacement.spec?.nodeSelector).toEqual(POOL);
    }
  });

  it('with a placement for the node the scheduler does not prefer, the replacement is bound there, annotated (3 of 3)', async () => {
    for (let round = 1; round <= 3; round++) {
      // Rounds 2 and 3 replace the placement of the round before (one per pod).
      const hint = await hintFor({ to: TIGHT });
      expect(await cluster.writePlacementHint(hint)).toBe('written');
      expect((await cluster.listPlacementHints()).filter((h) => h.namespace === NS)).toEqual([hint]);
      const replacement = await replace(assistant.pod);
      expect(replacement.spec?.nodeName, `round ${round}`).toBe(TIGHT);
      expect(replacement.metadata?.annotations?.[STEERED_TO_ANNOTATION]).toBe(TIGHT);
      // The pod's own nodeSelector is kept; the hostname is added to it.
      expect(replacement.spec?.nodeSelector).toEqual({ ...POOL, [HOSTNAME]: TIGHT });
    }
    await cluster.deletePlacementHint(NS, assistant.pod);
    await cluster.deletePlacementHint(NS, assistant.pod); // none there: fine
    expect((await cluster.listPlacementHints()).filter((h) => h.namespace === NS)).toEqual([]);
    // Without its placement the next replacement is the scheduler's alone again.
    expect((await replace(assistant.pod)).spec?.nodeName).toBe(ROOMY);
  });

  it.each<[string, { pod?: string; statefulSetUid?: string; expiresAt?: string }]>([
    ['names another pod', { pod: 'affinity-assistant-0000000000-0' }],
    ['names another StatefulSet (same pod name, another uid)', { statefulSetUid: randomUUID() }],
    ['has expired', { expiresAt: new Date(Date.now() - 60_000).toISOString() }],
  ])('changes nothing when the placement %s', async (_what, o) => {
    const hint = { ...(await hintFor({ to: TIGHT, statefulSetUid: o.statefulSetUid })), ...(o.pod ? { pod: o.pod } : {}), ...(o.expiresAt ? { expiresAt: o.expiresAt } : {}) };
    expect(await cluster.writePlacementHint(hint)).toBe('written');
    try {
      const replacement = await replace(assistant.pod);
      expect(replacement.spec?.nodeName).toBe(ROOMY);
      expect(steeredTo(replacement)).toBeUndefined();
      expect(replacement.spec?.nodeSelector).toEqual(POOL);
    } finally {
      await cluster.deletePlacementHint(NS, hint.pod);
    }
  });

  it('never touches a pod without the assistant label, even one a placement names with its StatefulSet', async () => {
    const labels = { app: 'not-an-assistant' };
    const sts = await s.admin.apps.createNamespacedStatefulSet({
      namespace: NS,
      body: {
        metadata: { name: 'plain' },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          serviceName: '',
          template: { metadata: { labels }, spec: { nodeSelector: POOL, containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '50m' } } }] } },
        },
      },
    });
    const first = await waitForBoundPod(s.admin, NS, 'plain-0');
    const hint = await hintFor({ pod: 'plain-0', to: TIGHT });
    expect(hint.statefulSetUid).toBe(sts.metadata!.uid);
    expect(await cluster.writePlacementHint(hint)).toBe('written');
    // Nor may the relocator delete it: the shipped admission policy refuses, whatever RBAC grants. The admin does.
    expect(await refusal(cluster.deletePod(NS, 'plain-0', { uid: first.metadata!.uid!, force: false, dryRun: false }))).toContain(DELETE_POLICY_MESSAGE);
    await s.admin.core.deleteNamespacedPod({ namespace: NS, name: 'plain-0', body: { preconditions: { uid: first.metadata!.uid! } } });
    const replacement = await waitForBoundPod(s.admin, NS, 'plain-0', { notUid: first.metadata!.uid });
    expect(replacement.spec?.nodeName).toBe(ROOMY);
    expect(steeredTo(replacement)).toBeUndefined();
    expect(replacement.spec?.nodeSelector).toEqual(POOL);
    await cluster.deletePlacementHint(NS, 'plain-0');
  });

  it('frees a TaskRun pod held Pending: one steered delete, and the pod follows the assistant to the node it selects', async () => {
    // The task selects a lane only steer-tight has; its required affinity ties it to the assistant on steer-roomy.
    const held = taskRunPod(pr, 'second', assistant.sts.metadata!.name!);
    held.spec!.nodeSelector = { lane: 'narrow' };
    const created = await s.admin.core.createNamespacedPod({ namespace: NS, body: held });
    const pending = await eventually(
      'the TaskRun pod to be marked Unschedulable',
      () => s.admin.core.readNamespacedPod({ namespace: NS, name: created.metadata!.name! }),
      (p) => (p.status?.conditions ?? []).some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable'),
    );
    expect(pending.spec?.nodeName).toBeUndefined();
    expect((await waitForBoundPod(s.admin, NS, assistant.pod)).spec?.nodeName).toBe(ROOMY);

    const hint = placementHint({ assistant: await s.admin.core.readNamespacedPod({ namespace: NS, name: assistant.pod }), node: await node(TIGHT), heldPod: pending, now: new Date(), ttlMs: 600_000 });
    expect(hint.heldPod).toEqual({ name: pending.metadata!.name, uid: pending.metadata!.uid });
    expect(await cluster.writePlacementHint(hint)).toBe('written');
    expect((await replace(assistant.pod)).spec?.nodeName).toBe(TIGHT);
    const freed = await waitForBoundPod(s.admin, NS, pending.metadata!.name!);
    expect(freed.spec?.nodeName).toBe(TIGHT);
    expect(freed.metadata?.uid).toBe(pending.metadata?.uid);
    await cluster.deletePlacementHint(NS, assistant.pod);
    await s.admin.core.deleteNamespacedPod({ namespace: NS, name: freed.metadata!.name!, gracePeriodSeconds: 0 });
  });

  it('answers unsupported without the AssistantPlacement CRD, and the policy left behind stops no pod', async () => {
    const crd = `${PLACEMENT_PLURAL}.${PLACEMENT_GROUP}`;
    await s.admin.apiext.deleteCustomResourceDefinition({ name: crd });
    await eventually(
      'the AssistantPlacement API to be gone',
      () => s.admin.custom.listClusterCustomObject({ group: PLACEMENT_GROUP, version: PLACEMENT_VERSION, plural: PLACEMENT_PLURAL }).then(() => 200, (e: unknown) => statusOf(e)),
      (status) => status === 404,
    );
    expect(await cluster.writePlacementHint(await hintFor({ to: TIGHT }))).toBe('unsupported');
    expect(await cluster.listPlacementHints()).toEqual([]);
    await cluster.deletePlacementHint(NS, assistant.pod);
    // The policy's paramKind is gone: failurePolicy Ignore creates the replacement, unsteered.
    const replacement = await replace(assistant.pod);
    expect(replacement.spec?.nodeName).toBe(ROOMY);
    expect(steeredTo(replacement)).toBeUndefined();
  });
});
