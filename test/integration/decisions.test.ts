/**
 * Decisions that agree with the scheduler, taken on fresh state (issue 9's findings, each on the real
 * control plane as the RBAC-limited relocator identity). The relocator is called directly with node
 * triggers, so that nothing else (no watcher, no sweep) acts between the steps of a test.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelocationTrigger } from '../../src/domain/trigger.js';
import { KubernetesCluster } from '../../src/cluster/api.js';
import { Relocator } from '../../src/relocator/relocator.js';
import { createRelocator } from '../../src/runtime/relocator.js';
import { kubeEventSink } from '../../src/relocator/sinks.js';
import { eventually, mergePatch, statusOf } from '../../src/local-cluster/fixtures/clients.js';
import { createNode, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { createNamespace, waitForBoundPod } from '../../src/local-cluster/fixtures/pods.js';
import {
  affinityAssistantName,
  assistantStatefulSet,
  createAssistant,
  createPipelineRun,
  type PipelineRun,
} from '../../src/local-cluster/fixtures/tekton.js';
import { runCli, Scenario, TEST_CONFIG } from './support.js';

let s: Scenario;
beforeAll(async () => {
  s = await Scenario.start();
});
afterAll(async () => {
  await s?.stop();
});

let seq = 0;
const nodeTrigger = (node: string): RelocationTrigger => ({
  id: `test-${++seq}`,
  source: 'node-event',
  target: { kind: 'node', node: { name: node } },
  observedAt: new Date().toISOString(),
  cluster: 'test',
});
const relocator = (config = TEST_CONFIG) => createRelocator({ kc: s.cp.kubeConfig('relocator'), config }).relocator;

async function uidOf(ns: string, name: string): Promise<string | undefined> {
  return (await s.admin.core.readNamespacedPod({ namespace: ns, name })).metadata?.uid;
}

/** One running PipelineRun per name, each with an isolate-pipelinerun assistant kept on `pool`. */
async function isolatedAssistants(pool: string, names: string[]): Promise<{ ns: string; pods: V1Pod[] }> {
  const ns = pool;
  await createNamespace(s.admin, ns);
  const pods: V1Pod[] = [];
  for (const name of names) {
    const pr = await createPipelineRun(s.admin, ns, name);
    await createAssistant(s.admin, pr, { mode: 'isolate-pipelinerun', podTemplate: { nodeSelector: { pool } } });
    pods.push(await waitForBoundPod(s.admin, ns, `${affinityAssistantName('', name)}-0`));
  }
  return { ns, pods };
}

describe('decisions that agree with the scheduler', () => {
  it('blocks in isolate-pipelinerun mode when every other node holds an assistant, and moves it once a node joins', async () => {
    const nodes = await s.pool('isolate', 3);
    const { ns, pods } = await isolatedAssistants('isolate', ['pr-a', 'pr-b', 'pr-c']);
    // Required anti-affinity spread them one per node.
    expect(new Set(pods.map((p) => p.spec?.nodeName))).toEqual(new Set(nodes));
    const victim = pods[0]!;
    const from = victim.spec!.nodeName!;
    await setUnschedulable(s.admin, from, true);

    const [blocked] = await relocator().handle(nodeTrigger(from));
    expect(blocked).toMatchObject({ kind: 'blocked', reason: 'no-feasible-node' });
    // The other assistants' anti-affinity turns the other two nodes down (checked first, as the scheduler does).
    expect(blocked!.message).toMatch(/0\/3 nodes fit: 2 didn't satisfy existing pods anti-affinity rules, 1 is the node being left/);
    expect(await uidOf(ns, victim.metadata!.name!)).toBe(victim.metadata!.uid); // not deleted

    await createNode(s.admin, 'isolate-4', { labels: { pool: 'isolate' } });
    const r = relocator();
    const [moved] = await r.handle(nodeTrigger(from));
    expect(moved).toMatchObject({ kind: 'started', fromNode: from });
    expect(await r.awaitSettlement(moved!)).toMatchObject({ kind: 'relocated', toNode: 'isolate-4' });
  });

  it('blocks when the only other node has too little cpu, or no pod slot, instead of deleting', async () => {
    const [a, b] = await s.pool('roomless', 2, {});
    // b: allocatable cpu 40m; the assistant asks 50m.
    await s.admin.core.patchNodeStatus({ name: b!, body: { status: { allocatable: { cpu: '40m', memory: '16Gi', pods: '110' } } } }, mergePatch);
    const { sts, ns, pod } = await s.assistant('roomless', { startOn: a!, others: [b!] });
    await setUnschedulable(s.admin, a!, true);
    const [cpu] = await relocator().handle(nodeTrigger(a!));
    expect(cpu).toMatchObject({ kind: 'blocked', reason: 'no-feasible-node' });
    expect(cpu!.message).toContain('1 Insufficient cpu');

    // b: room enough, but one pod slot, taken.
    await s.admin.core.patchNodeStatus({ name: b!, body: { status: { allocatable: { cpu: '4', memory: '16Gi', pods: '1' } } } }, mergePatch);
    await s.admin.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'slot-taker' }, spec: { nodeName: b!, containers: [{ name: 'c', image: 'busybox' }] } } });
    const [slots] = await relocator().handle(nodeTrigger(a!));
    expect(slots).toMatchObject({ kind: 'blocked', reason: 'no-feasible-node' });
    expect(slots!.message).toContain('1 Too many pods');
    expect(await uidOf(ns, `${sts}-0`)).toBe(pod.metadata!.uid);

    // The slot frees up: the next look moves it.
    await s.admin.core.deleteNamespacedPod({ namespace: ns, name: 'slot-taker', gracePeriodSeconds: 0 });
    const r = relocator();
    const [moved] = await r.handle(nodeTrigger(a!));
    expect(moved).toMatchObject({ kind: 'started', fromNode: a });
    expect(await r.awaitSettlement(moved!)).toMatchObject({ kind: 'relocated', toNode: b });
  });

  it('books each replacement on the node found for it: two assistants, room for one', async () => {
    const [a, b] = await s.pool('booked', 2);
    const first = await s.assistant('booked', { startOn: a!, others: [b!], pipelineRun: 'pr-1' });
    await s.assistant('booked', { startOn: a!, others: [b!], pipelineRun: 'pr-2' });
    // b takes exactly one more assistant (50m each).
    await s.admin.core.patchNodeStatus({ name: b!, body: { status: { allocatable: { cpu: '60m', memory: '16Gi', pods: '110' } } } }, mergePatch);
    await setUnschedulable(s.admin, a!, true);
    const outcomes = await relocator({ ...TEST_CONFIG, dryRun: true }).handle(nodeTrigger(a!));
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['blocked', 'skipped']);
    expect(outcomes.find((o) => o.kind === 'skipped')).toMatchObject({ reason: 'dry-run' });
    expect(outcomes.find((o) => o.kind === 'blocked')!.message).toContain('Insufficient cpu');
    expect(await uidOf(first.ns, `${first.sts}-0`)).toBe(first.pod.metadata!.uid); // dry-run deleted nothing
  });
});

describe('decisions taken on fresh state', () => {
  it('stops deleting the moment the node is uncordoned, and never calls a move back to the same node a relocation', async () => {
    const [a, b] = await s.pool('fresh', 2);
    const count = 24;
    // All on a: b is cordoned while they are created, once.
    await createNamespace(s.admin, 'fresh');
    await setUnschedulable(s.admin, b!, true);
    for (let i = 0; i < count; i++) {
      const pr = await createPipelineRun(s.admin, 'fresh', `pr-${i}`);
      await createAssistant(s.admin, pr, { mode: 'workspaces', workspaceName: 'source', podTemplate: { nodeSelector: { pool: 'fresh' } } });
    }
    for (let i = 0; i < count; i++) expect((await waitForBoundPod(s.admin, 'fresh', `${affinityAssistantName('source', `pr-${i}`)}-0`)).spec?.nodeName).toBe(a);
    await setUnschedulable(s.admin, b!, false);
    await eventually('b to lose the cordon taint', () => s.admin.core.readNode({ name: b! }), (n) => !(n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/unschedulable'));

    // The relocator's own cluster adapter, noting when each delete is sent; the first delete uncordons a.
    const live = new KubernetesCluster(s.cp.kubeConfig('relocator'), { assistantSelector: TEST_CONFIG.assistantSelector });
    const deletesAt: number[] = [];
    let uncordonedAt = Number.POSITIVE_INFINITY;
    let uncordon: Promise<unknown> | undefined;
    const cluster = Object.assign(Object.create(live) as KubernetesCluster, {
      deletePod: (...args: Parameters<KubernetesCluster['deletePod']>) => {
        deletesAt.push(performance.now());
        uncordon ??= setUnschedulable(s.admin, a!, false).then(() => (uncordonedAt = performance.now()));
        return live.deletePod(...args);
      },
    });
    const r = new Relocator({ cluster, config: TEST_CONFIG, sinks: [kubeEventSink(live)] });
    await setUnschedulable(s.admin, a!, true);
    const outcomes = await r.handle(nodeTrigger(a!));
    await uncordon;

    expect(outcomes).toHaveLength(count);
    // A delete decided before the uncordon may still be on its way; none starts later than the node's
    // freshness (100 ms) plus one read after the uncordon was stored.
    const late = deletesAt.filter((t) => t > uncordonedAt + 250);
    expect(late, `deletes sent after the uncordon: ${late.map((t) => Math.round(t - uncordonedAt)).join(', ')} ms`).toEqual([]);
    const healthy = outcomes.filter((o) => o.kind === 'skipped' && o.reason === 'healthy');
    expect(healthy.length).toBeGreaterThan(0);
    expect(healthy[0]!.message).toMatch(/became schedulable .* before the delete/);
    for (const o of outcomes) {
      if (o.kind === 'relocated') expect(o.toNode, o.message).not.toBe(o.fromNode);
      expect(o.kind, o.message).not.toBe('stuck'); // a node schedulable again is no reason to page
      if (o.reason === 'bound-back') expect(o).toMatchObject({ kind: 'skipped', message: expect.stringMatching(/bound back to fresh-1: the node is schedulable again/) });
    }
  });
});

describe('the invocation deadline', () => {
  it('takes no new assistant when the time left is shorter than the margin for one more, and says the sweep will take it', async () => {
    const [a, b] = await s.pool('deadline', 2);
    await createNamespace(s.admin, 'deadline');
    await setUnschedulable(s.admin, b!, true);
    const pods: V1Pod[] = [];
    for (let i = 0; i < 3; i++) {
      const pr = await createPipelineRun(s.admin, 'deadline', `pr-${i}`);
      await createAssistant(s.admin, pr, { mode: 'workspaces', workspaceName: 'source', podTemplate: { nodeSelector: { pool: 'deadline' } } });
      pods.push(await waitForBoundPod(s.admin, 'deadline', `${affinityAssistantName('source', `pr-${i}`)}-0`));
    }
    await setUnschedulable(s.admin, b!, false);
    await setUnschedulable(s.admin, a!, true);
    // A Lambda's clock: plenty for the first assistant, then 5 s, less than the 10 s kept for one more.
    let looks = 0;
    const cluster = new KubernetesCluster(s.cp.kubeConfig('relocator'), { assistantSelector: TEST_CONFIG.assistantSelector });
    const r = new Relocator({ cluster, config: TEST_CONFIG, sinks: [], concurrency: 1, remainingMs: () => (looks++ === 0 ? 90_000 : 5_000) });
    const outcomes = await r.handle(nodeTrigger(a!));
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['skipped', 'skipped', 'started']);
    const left = outcomes.filter((o) => o.kind === 'skipped');
    for (const o of left) expect(o).toMatchObject({ reason: 'deadline', message: expect.stringMatching(/was not looked at: 5 s were left .* the next sweep takes it/) });
    for (const o of left) expect(await uidOf('deadline', o.assistant.pod)).toBe(pods.find((p) => p.metadata!.name === o.assistant.pod)!.metadata!.uid);
  });
});

describe('what the relocator must not touch or change', () => {
  it("skips (does not fail on) a StatefulSet owned by a PipelineRun of another API group, without reading it", async () => {
    const ns = 'foreign-group';
    await createNamespace(s.admin, ns);
    // A real object of the impostor group, so that the garbage collector keeps its dependents.
    await s.admin.apiext.createCustomResourceDefinition({
      body: {
        metadata: { name: 'pipelineruns.tekton.dev.evil' },
        spec: {
          group: 'tekton.dev.evil',
          scope: 'Namespaced',
          names: { plural: 'pipelineruns', singular: 'pipelinerun', kind: 'PipelineRun', listKind: 'PipelineRunList' },
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } } }],
        },
      },
    });
    let evil: PipelineRun | undefined;
    for (let i = 0; i < 50 && !evil; i++) {
      evil = (await s.admin.custom
        .createNamespacedCustomObject({ group: 'tekton.dev.evil', version: 'v1', namespace: ns, plural: 'pipelineruns', body: { apiVersion: 'tekton.dev.evil/v1', kind: 'PipelineRun', metadata: { name: 'impostor', namespace: ns } } })
        .catch((e: unknown) => {
          if (statusOf(e) !== 404) throw e; // the CRD is not served yet
          return new Promise((r) => setTimeout(r, 100)).then(() => undefined);
        })) as PipelineRun | undefined;
    }
    const [a, b] = await s.pool('foreign-group', 2);
    await setUnschedulable(s.admin, b!, true);
    const sts = assistantStatefulSet(evil!, { mode: 'workspaces', workspaceName: 'source', podTemplate: { nodeSelector: { pool: 'foreign-group' } } });
    sts.metadata!.ownerReferences = [{ apiVersion: 'tekton.dev.evil/v1', kind: 'PipelineRun', name: 'impostor', uid: evil!.metadata.uid, controller: true }];
    await s.admin.apps.createNamespacedStatefulSet({ namespace: ns, body: sts });
    const pod = await waitForBoundPod(s.admin, ns, `${sts.metadata!.name}-0`);
    expect(pod.spec?.nodeName).toBe(a);
    await setUnschedulable(s.admin, b!, false);
    await setUnschedulable(s.admin, a!, true);

    const [o] = await relocator().handle(nodeTrigger(a!));
    expect(o).toMatchObject({ kind: 'skipped', reason: 'not-an-assistant' });
    expect(o!.message).toContain('is not controlled by a Tekton PipelineRun');
    expect(await uidOf(ns, pod.metadata!.name!)).toBe(pod.metadata!.uid);
  });

  it('`plan` changes nothing in the cluster: no delete, no Event', async () => {
    const [a, b] = await s.pool('plan', 2);
    const { sts, ns, pod } = await s.assistant('plan', { startOn: a!, others: [b!] });
    await setUnschedulable(s.admin, a!, true);
    const before = await s.eventReasons(ns, sts);
    const out = await runCli(['plan', '--node', a!, '--kubeconfig', s.cp.kubeconfigPath, '--context', 'relocator', '--cluster', 'test']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/dry-run: would delete/);
    expect(await s.eventReasons(ns, sts)).toEqual(before);
    expect(await uidOf(ns, `${sts}-0`)).toBe(pod.metadata!.uid);
  });
});

