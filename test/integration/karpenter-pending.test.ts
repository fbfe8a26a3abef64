/**
 * Issue 20 with the real Karpenter core (kwok provider, src/local-cluster/karpenter.ts) on the real control
 * plane: what growth does for a TaskRun pod held Pending by its assistant when every existing node is full.
 * Each case has its own pool of two 2-cpu nodes (the assistant's, with room for the assistant alone, and
 * another one full) and its own NodePool; the held pod asks 3 cpu. The assistant is deleted by hand (uid
 * precondition), as a rescue does, either with its node left open or with the NoSchedule taint the
 * rescue's steering puts on the node it leaves. What Karpenter v1.8 was seen to do, asserted so that a
 * change in its behaviour fails here:
 *   - alone, it makes no node for the held pod (its pod affinity names a full node);
 *   - node left open: the replacement is bound straight back to it (its own slot was freed), no NodeClaim,
 *     the pod stays held;
 *   - node tainted: Karpenter sees both pods Pending and makes ONE NodeClaim for the pair (requests = their
 *     sum), nominates both for it, and both are bound there;
 *   - node tainted, but the NodePool's instance types too small for the pair: a NodeClaim for the
 *     replacement alone; the replacement moves there and the pod stays held, now by the new node;
 *   - node tainted, two NodePools, the held pod selecting a label only one gives: the replacement's node
 *     comes from the heavier NodePool whatever the pod needs (Karpenter places the assistant first: the
 *     pod's affinity has no domain until then, and it does not go back on that choice); the pod follows
 *     only when that NodePool is one that can take it.
 * `KARPENTER_PENDING_ROUNDS` (default 3): rounds of the open and tainted cases.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interruptionTaint } from '../../src/domain/interruption-taint.js';
import { eventually } from '../../src/local-cluster/fixtures/clients.js';
import { addTaint, createNode } from '../../src/local-cluster/fixtures/nodes.js';
import { taskRunPod } from '../../src/local-cluster/fixtures/tekton.js';
import { aNodePool, createNodePool, Karpenter, type NodePoolOptions } from '../../src/local-cluster/karpenter.js';
import { STEERING_TAINT_SOURCE } from '../../src/relocator/rescue.js';
import { Scenario, TEST_CONFIG, waitForBoundPod } from './support.js';
import type { RelocationTrigger } from '../../src/domain/trigger.js';
import { createRelocator } from '../../src/runtime/relocator.js';

const ROUNDS = Number(process.env.KARPENTER_PENDING_ROUNDS ?? 3);
const NODEPOOL_LABEL = 'karpenter.sh/nodepool';
const HELD_CPU = '3';

let s: Scenario;
let karpenter: Karpenter;
beforeAll(async () => {
  s = await Scenario.start();
  karpenter = await Karpenter.start(s.cp);
}, 180_000);
afterAll(async () => {
  await karpenter?.stop();
  await s?.stop();
});

interface NodeClaim {
  metadata: { name: string; labels?: Record<string, string>; creationTimestamp?: string };
  spec?: { resources?: { requests?: Record<string, string> } };
  status?: { nodeName?: string };
}

/** NodeClaims of the NodePool `pool` and of those named `<pool>-...` (a case's second NodePool). */
async function nodeClaimsOf(pool: string): Promise<NodeClaim[]> {
  const list = (await s.admin.custom.listClusterCustomObject({ group: 'karpenter.sh', version: 'v1', plural: 'nodeclaims' })) as { items: NodeClaim[] };
  return list.items.filter((c) => {
    const of = c.metadata.labels?.[NODEPOOL_LABEL] ?? '';
    return of === pool || of.startsWith(`${pool}-`);
  });
}

/** Karpenter's Events on a pod (reason and message), oldest first. */
async function karpenterEvents(ns: string, uid: string): Promise<{ reason: string; message: string }[]> {
  const list = await s.admin.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.uid=${uid}` });
  return list.items.filter((e) => e.source?.component === 'karpenter').map((e) => ({ reason: e.reason ?? '', message: e.message ?? '' }));
}

/**
 * A pool of two full 2-cpu nodes, the assistant on `<pool>-1`, a NodePool for the pool, and a TaskRun pod
 * asking 3 cpu held Pending beside the assistant; waits until Karpenter has said it cannot help the pod.
 */
async function heldPair(pool: string, nodePool: NodePoolOptions = {}, o: { heldSelects?: Record<string, string> } = {}) {
  await createNodePool(s.admin, aNodePool(pool, { labels: { pool }, ...nodePool }));
  const [small, other] = [`${pool}-1`, `${pool}-2`];
  await createNode(s.admin, small, { cpu: '2', labels: { pool } });
  await createNode(s.admin, other, { cpu: '2', labels: { pool } });
  const a = await s.assistant(pool, { startOn: small, others: [other] });
  // Full: the assistant's node keeps room for the assistant's 50m alone, the other node none.
  const filler = (node: string, cpu: string): V1Pod => ({ metadata: { name: `filler-${node}` }, spec: { nodeName: node, containers: [{ name: 'c', image: 'x', resources: { requests: { cpu } } }] } });
  await s.admin.core.createNamespacedPod({ namespace: a.ns, body: filler(small, '1900m') });
  await s.admin.core.createNamespacedPod({ namespace: a.ns, body: filler(other, '2') });
  const body = taskRunPod(a.pr, 'second', a.sts, [a.claim]);
  body.spec!.containers[0]!.resources = { requests: { cpu: HELD_CPU } };
  body.spec!.nodeSelector = { pool, ...o.heldSelects };
  const held = await s.admin.core.createNamespacedPod({ namespace: a.ns, body });
  const refused = await eventually(
    `Karpenter to find no way to schedule ${held.metadata!.name}`,
    () => karpenterEvents(a.ns, held.metadata!.uid!),
    (evs) => evs.some((e) => e.reason === 'FailedScheduling'),
    { timeoutMs: 60_000 },
  );
  return { ...a, pool, small, other, held, refused: refused.find((e) => e.reason === 'FailedScheduling')!.message };
}

const deleteAssistant = (ns: string, pod: V1Pod) =>
  s.admin.core.deleteNamespacedPod({ namespace: ns, name: pod.metadata!.name!, body: { preconditions: { uid: pod.metadata!.uid! } } });

/**
 * As a rescue steers without admission: the relocator's taint on the node left, then the delete. Resolves
 * once the replacement is bound and the held pod is bound or refused again by Karpenter after its nomination.
 */
async function deleteSteered(r: Awaited<ReturnType<typeof heldPair>>) {
  // The very taint the rescue puts on the node it leaves.
  const { key, value, effect } = interruptionTaint(STEERING_TAINT_SOURCE, new Date());
  await addTaint(s.admin, r.small, { key, value, effect });
  const t0 = Date.now();
  await deleteAssistant(r.ns, r.pod);
  const replacement = await waitForBoundPod(s.admin, r.ns, `${r.sts}-0`, { notUid: r.pod.metadata!.uid!, timeoutMs: 120_000 });
  const replacementBoundMs = Date.now() - t0;
  // Karpenter's Event for a pod is deduplicated for 5 minutes: its log says what it makes of the pod now.
  const heldName = r.held.metadata!.name!;
  let refusal: string | undefined;
  void karpenter.process.waitForLine(new RegExp(`could not schedule pod.*${heldName}`), `Karpenter to refuse ${heldName} again`, 60_000).then(
    (l) => (refusal = l),
    () => undefined,
  );
  const held = await eventually(`${heldName} bound, or refused again by Karpenter`, () => s.admin.core.readNamespacedPod({ namespace: r.ns, name: heldName }), (p) => !!p.spec?.nodeName || refusal !== undefined, {
    timeoutMs: 60_000,
  });
  const heldBoundMs = held.spec?.nodeName ? Date.now() - t0 : undefined;
  // A NodeClaim names its node a moment after the node registers: read them once every one does.
  const claims = await eventually(`the NodeClaims of ${r.pool} to name their nodes`, () => nodeClaimsOf(r.pool), (cs) => cs.every((c) => !!c.status?.nodeName));
  const replacementEvents = await karpenterEvents(r.ns, replacement.metadata!.uid!);
  const heldEvents = await karpenterEvents(r.ns, r.held.metadata!.uid!);
  const node = replacement.spec?.nodeName ? await s.admin.core.readNode({ name: replacement.spec.nodeName }) : undefined;
  const summary = {
    replacement: replacement.spec?.nodeName,
    instanceType: node?.metadata?.labels?.['node.kubernetes.io/instance-type'],
    allocatableCpu: node?.status?.allocatable?.cpu,
    held: held.spec?.nodeName ?? '(Pending)',
    nodeClaims: claims.map((c) => ({ name: c.metadata.name, requests: c.spec?.resources?.requests })),
    deleteToReplacementBoundMs: replacementBoundMs,
    deleteToHeldBoundMs: heldBoundMs,
    heldEvents: heldEvents.map((e) => `${e.reason}: ${e.message.slice(0, 120)}`),
    refusal: refusal?.slice(0, 400),
  };
  return { replacement, held, claims, replacementEvents, heldEvents, refusal, summary };
}

describe('a TaskRun pod held by its assistant, every node full, a NodePool that can make a node for both (Karpenter v1.8, kwok)', () => {
  it('Karpenter alone makes no node for the held pod: its pod affinity points at the full node', async () => {
    const r = await heldPair('kp-alone');
    expect(r.refused).toMatch(/unsatisfiable topology constraint for pod affinity, key=kubernetes.io\/hostname/);
    expect(await nodeClaimsOf('kp-alone')).toEqual([]);
  });

  it(`assistant deleted with its node left open (${ROUNDS} rounds): the replacement goes straight back, no node is made, the pod stays held`, async () => {
    for (let round = 1; round <= ROUNDS; round++) {
      const pool = `kp-open-${round}`;
      const r = await heldPair(pool);
      await deleteAssistant(r.ns, r.pod);
      const replacement = await waitForBoundPod(s.admin, r.ns, `${r.sts}-0`, { notUid: r.pod.metadata!.uid! });
      // Longer than Karpenter's batch (at most 10 s) and its retry of the held pod (every 10 s).
      await new Promise((w) => setTimeout(w, 25_000));
      const held = await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.held.metadata!.name! });
      const claims = await nodeClaimsOf(pool);
      console.log(`karpenter-pending: ${pool}: replacement on ${replacement.spec?.nodeName}; held pod on ${held.spec?.nodeName ?? '(Pending)'}; NodeClaims ${JSON.stringify(claims.map((c) => c.spec?.resources?.requests))}`);
      expect({ round, replacement: replacement.spec?.nodeName, held: held.spec?.nodeName, nodeClaims: claims.length }).toEqual({ round, replacement: r.small, held: undefined, nodeClaims: 0 });
    }
  });

  it(`assistant deleted with its node tainted NoSchedule (${ROUNDS} rounds): one node is made for both, sized for their sum, and both are bound to it`, async () => {
    for (let round = 1; round <= ROUNDS; round++) {
      const pool = `kp-taint-${round}`;
      const r = await heldPair(pool);
      const o = await deleteSteered(r);
      console.log(`karpenter-pending: ${pool}: ${JSON.stringify(o.summary)}`);
      // One NodeClaim, its requests the pair's sum (3 cpu + the assistant's 50m), both pods nominated for it.
      expect(o.claims.map((c) => c.spec?.resources?.requests)).toEqual([{ cpu: '3050m', memory: '100Mi', pods: '2' }]);
      const made = o.claims[0]!;
      expect(o.replacementEvents).toContainEqual({ reason: 'Nominated', message: `Pod should schedule on: nodeclaim/${made.metadata.name}` });
      expect(o.heldEvents).toContainEqual({ reason: 'Nominated', message: `Pod should schedule on: nodeclaim/${made.metadata.name}` });
      expect({ round, replacement: o.replacement.spec?.nodeName, held: o.held.spec?.nodeName }).toEqual({ round, replacement: made.status?.nodeName, held: made.status?.nodeName });
    }
  });

  it('assistant deleted with its node tainted, the NodePool able to make nodes for the assistant but not for the pair: a node for the replacement alone, the pod stays held', async () => {
    const pool = 'kp-small';
    // kwok's c-1x and c-2x instance types: room for the assistant, not for 3 cpu more.
    const r = await heldPair(pool, { requirements: [{ key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['c-1x-amd64-linux', 'c-2x-amd64-linux'] }] });
    const o = await deleteSteered(r);
    console.log(`karpenter-pending: ${pool}: ${JSON.stringify(o.summary)}`);
    expect(o.claims.map((c) => c.spec?.resources?.requests)).toEqual([{ cpu: '50m', memory: '100Mi', pods: '1' }]);
    expect(o.replacement.spec?.nodeName).toBe(o.claims[0]!.status?.nodeName);
    expect(o.held.spec?.nodeName).toBeUndefined();
    // Held again, now by the new node: Karpenter says it cannot place the pod beside the assistant there.
    expect(o.refusal).toMatch(/unsatisfiable topology constraint for pod affinity/);
  });

  it('two NodePools, the held pod selecting a label only one of them gives: the replacement goes to the heavier NodePool, and the pod follows only when that is its own', async () => {
    const outcome = async (pool: string, weights: { plain: number; labelled: number }) => {
      // `<pool>` makes plain nodes, `<pool>-red` nodes labelled team=red, which the held pod selects.
      await createNodePool(s.admin, aNodePool(`${pool}-red`, { labels: { pool, team: 'red' }, weight: weights.labelled }));
      const r = await heldPair(pool, { weight: weights.plain }, { heldSelects: { team: 'red' } });
      const o = await deleteSteered(r);
      console.log(`karpenter-pending: ${pool}: ${JSON.stringify(o.summary)}`);
      const node = await s.admin.core.readNode({ name: o.replacement.spec!.nodeName! });
      return { nodePool: node.metadata?.labels?.[NODEPOOL_LABEL], claims: o.claims.length, replacementNode: o.replacement.spec?.nodeName, held: o.held.spec?.nodeName, refusal: o.refusal };
    };
    // The plain NodePool heavier: a node for the replacement alone there; the pod, which needs team=red, stays held.
    const plainFirst = await outcome('kp-plain-first', { plain: 50, labelled: 10 });
    expect({ nodePool: plainFirst.nodePool, claims: plainFirst.claims, held: plainFirst.held }).toEqual({ nodePool: 'kp-plain-first', claims: 1, held: undefined });
    expect(plainFirst.refusal).toMatch(/unsatisfiable topology constraint for pod affinity/);
    // The labelled NodePool heavier: one node there for both.
    const redFirst = await outcome('kp-red-first', { plain: 10, labelled: 50 });
    expect({ nodePool: redFirst.nodePool, claims: redFirst.claims, held: redFirst.held }).toEqual({ nodePool: 'kp-red-first-red', claims: 1, held: redFirst.replacementNode });
  });

  describe('the relocator, true to what Karpenter does (src/domain/growth.ts pairGrowthFor)', () => {
    const config = { ...TEST_CONFIG, pendingGraceMs: 1_000, clusterAutoscaler: 'absent' as const };
    const trigger = (r: Awaited<ReturnType<typeof heldPair>>, released?: true): RelocationTrigger => ({
      id: `kp-${r.pool}-${released ? 'released' : 'held'}`,
      source: 'pending-pod-event',
      target: { kind: 'pending-pod', pod: { namespace: r.ns, name: r.held.metadata!.name!, uid: r.held.metadata!.uid! }, assistant: r.sts, ...(released ? { released } : {}) },
      observedAt: new Date().toISOString(),
    });

    it('frees the pod when the NodePool Karpenter picks for the replacement can take both: one delete, one node for the pair, relocated', async () => {
      const r = await heldPair('kp-rescue');
      const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config });
      const out = await relocator.handle(trigger(r));
      expect(out).toEqual([expect.objectContaining({ kind: 'started', reason: 'pending-taskrun' })]);
      expect(out[0]!.message).toContain('NodePool kp-rescue adds a node for both');
      const replacement = await waitForBoundPod(s.admin, r.ns, `${r.sts}-0`, { notUid: r.pod.metadata!.uid!, timeoutMs: 120_000 });
      const held = await waitForBoundPod(s.admin, r.ns, r.held.metadata!.name!, { timeoutMs: 60_000 });
      expect(held.spec?.nodeName).toBe(replacement.spec?.nodeName);
      expect(replacement.spec?.nodeName).not.toBe(r.small);
      expect(await relocator.handle(trigger(r, true))).toEqual([expect.objectContaining({ kind: 'relocated', heldPod: r.held.metadata!.name, toNode: held.spec?.nodeName })]);
    });

    it('deletes nothing when the NodePool Karpenter would pick for the replacement cannot take the pod (it would stay held, by the new node)', async () => {
      const pool = 'kp-refuse';
      await createNodePool(s.admin, aNodePool(`${pool}-red`, { labels: { pool, team: 'red' }, weight: 1 }));
      const r = await heldPair(pool, { weight: 10 }, { heldSelects: { team: 'red' } });
      const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config });
      const out = await relocator.handle(trigger(r));
      expect(out).toEqual([expect.objectContaining({ kind: 'blocked', reason: 'no-feasible-node' })]);
      expect(out[0]!.message).toContain(`NodePool ${pool}, which Karpenter would choose for the replacement, cannot create a node`);
      expect((await s.admin.core.readNamespacedPod({ namespace: r.ns, name: `${r.sts}-0` })).metadata?.uid).toBe(r.pod.metadata!.uid);
    });
  });
});
