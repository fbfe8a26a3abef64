/**
 * Asynchronous confirmation, the cluster-wide cap and paginated lists, on the real control plane as the
 * RBAC-limited relocator identity. The relocator is called directly with the triggers the forwarder and
 * the schedule would send (node, pod bind, sweep), so that each step of a test happens when it says.
 *
 * A replacement is kept Pending on purpose with a scheduling gate: the assistant's StatefulSet is switched
 * to the OnDelete update strategy (so a template change replaces no pod) and its template gets the gate,
 * which only the pod created after our delete carries; removing it from that pod lets the scheduler bind it.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesCluster } from '../../src/cluster/api.js';
import type { RelocatorConfig } from '../../src/domain/config.js';
import type { Outcome } from '../../src/domain/outcome.js';
import type { RelocationTrigger } from '../../src/domain/trigger.js';
import { DeleteCap } from '../../src/relocator/delete-cap.js';
import { RecentDeletes } from '../../src/relocator/recent-deletes.js';
import { createRelocator } from '../../src/runtime/relocator.js';
import { eventually, mergePatch } from '../../src/local-cluster/fixtures/clients.js';
import { setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { waitForBoundPod } from '../../src/local-cluster/fixtures/pods.js';
import { Scenario, TEST_CONFIG } from './support.js';

const UNSCHEDULABLE_TAINT_KEY = 'node.kubernetes.io/unschedulable';

let s: Scenario;
beforeAll(async () => {
  s = await Scenario.start();
});
afterAll(async () => {
  await s?.stop();
});

let seq = 0;
const base = () => ({ id: `confirm-${++seq}`, observedAt: new Date().toISOString(), cluster: 'test' });
const nodeTrigger = (node: string): RelocationTrigger => ({ ...base(), source: 'node-event', target: { kind: 'node', node: { name: node } } });
const sweepTrigger = (): RelocationTrigger => ({ ...base(), source: 'sweep', target: { kind: 'all' } });
/** What the forwarder publishes when it sees the pod bound. */
const bindTrigger = (pod: V1Pod): RelocationTrigger => ({
  ...base(),
  source: 'pod-event',
  target: { kind: 'pod', pod: { namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, uid: pod.metadata!.uid!, nodeName: pod.spec!.nodeName! }, change: 'bound' },
});
const relocator = (config: RelocatorConfig = TEST_CONFIG) => createRelocator({ kc: s.cp.kubeConfig('relocator'), config }).relocator;
const about = (pod: string) => (o: Outcome) => o.assistant.pod === pod;

/** The next pod of the StatefulSet carries a scheduling gate; the running one is left alone. */
async function gateReplacements(ns: string, sts: string): Promise<void> {
  await s.admin.apps.patchNamespacedStatefulSet({ namespace: ns, name: sts, body: { spec: { updateStrategy: { type: 'OnDelete', rollingUpdate: null } } } }, mergePatch);
  await s.admin.apps.patchNamespacedStatefulSet({ namespace: ns, name: sts, body: { spec: { template: { spec: { schedulingGates: [{ name: 'example.com/hold' }] } } } } }, mergePatch);
}

/** The replacement (a new uid), once the StatefulSet has created it. */
async function replacementOf(ns: string, old: V1Pod): Promise<V1Pod> {
  return eventually(
    `the replacement of ${old.metadata!.name}`,
    () => s.admin.core.readNamespacedPod({ namespace: ns, name: old.metadata!.name! }).catch(() => undefined),
    (p): p is V1Pod => !!p && p.metadata?.uid !== old.metadata?.uid,
  ) as Promise<V1Pod>;
}

async function ungate(ns: string, name: string): Promise<void> {
  await s.admin.core.patchNamespacedPod({ namespace: ns, name, body: { spec: { schedulingGates: [] } } }, mergePatch);
}

async function untainted(node: string): Promise<void> {
  await eventually(`${node} to lose the cordon's taint`, () => s.admin.core.readNode({ name: node }), (n) => !(n.spec?.taints ?? []).some((t) => t.key === UNSCHEDULABLE_TAINT_KEY));
}

describe('asynchronous confirmation', () => {
  it('deletes and returns at once; the bind event of the replacement confirms the move, exactly once however often it comes', async () => {
    const [a, b] = await s.pool('confirmed', 2);
    const { sts, ns, pod } = await s.assistant('confirmed', { startOn: a!, others: [b!] });
    await setUnschedulable(s.admin, a!, true);

    const [started] = await relocator().handle(nodeTrigger(a!));
    expect(started).toMatchObject({ kind: 'started', fromNode: a, assistant: { podUid: pod.metadata!.uid } });
    expect(started!.toNode).toBeUndefined();
    const moved = await waitForBoundPod(s.admin, ns, `${sts}-0`, { notUid: pod.metadata!.uid! });
    expect(moved.spec?.nodeName).toBe(b);

    // EventBridge delivers at least once, and two functions may see the same bind: three deliveries, two
    // of them at the same time, on relocators that share nothing.
    const first = await Promise.all([relocator().handle(bindTrigger(moved)), relocator().handle(bindTrigger(moved))]);
    const again = await relocator().handle(bindTrigger(moved));
    const settled = [...first.flat(), ...again].filter((o) => o.kind !== 'skipped');
    expect(settled).toHaveLength(1);
    expect(settled[0]).toMatchObject({ kind: 'relocated', fromNode: a, toNode: b, newPodUid: moved.metadata!.uid, triggerId: started!.triggerId, reason: 'Cordoned' });
    expect(settled[0]!.boundLatencyMs).toBeGreaterThanOrEqual(settled[0]!.deleteLatencyMs!);
    const reasons = await s.eventReasons(ns, sts);
    expect(reasons.filter((r) => r === 'AssistantDeleting')).toHaveLength(1);
    expect(reasons.filter((r) => r === 'AssistantRelocated')).toHaveLength(1);

    // The old pod's deletion event, and the sweep, have nothing more to say about it.
    const deleted: RelocationTrigger = { ...bindTrigger(pod), target: { kind: 'pod', pod: { namespace: ns, name: `${sts}-0`, uid: pod.metadata!.uid!, nodeName: a! }, change: 'deleted' } };
    expect(await relocator().handle(deleted)).toEqual([]);
    expect((await relocator().handle(sweepTrigger())).filter(about(`${sts}-0`)).filter((o) => o.kind === 'relocated' || o.kind === 'stuck')).toEqual([]);
  });

  it('reports stuck once, from the sweep, for a replacement still Pending past the timeout, and relocated when it is bound at last', async () => {
    const config = { ...TEST_CONFIG, confirmTimeoutMs: 2_000 };
    const [a, b] = await s.pool('pending', 2);
    const { sts, ns, pod } = await s.assistant('pending', { startOn: a!, others: [b!] });
    await gateReplacements(ns, sts);
    await setUnschedulable(s.admin, a!, true);

    const [started] = await relocator(config).handle(nodeTrigger(a!));
    expect(started).toMatchObject({ kind: 'started' });
    const replacement = await replacementOf(ns, pod);
    // Within the timeout the sweep waits: Pending is what a replacement is for a moment.
    const early = (await relocator(config).handle(sweepTrigger())).filter(about(`${sts}-0`));
    expect(early.filter((o) => o.kind === 'stuck')).toEqual([]);

    await new Promise((r) => setTimeout(r, config.confirmTimeoutMs));
    const late = (await relocator(config).handle(sweepTrigger())).filter(about(`${sts}-0`));
    const stuck = late.filter((o) => o.kind === 'stuck');
    expect(stuck).toEqual([expect.objectContaining({ reason: 'pending', fromNode: a, triggerId: started!.triggerId })]);
    expect(stuck[0]!.message).toMatch(/still Pending after 2 s/);
    // Reported once: the next sweep finds the claim.
    expect((await relocator(config).handle(sweepTrigger())).filter(about(`${sts}-0`)).filter((o) => o.kind === 'stuck')).toEqual([]);

    await ungate(ns, replacement.metadata!.name!);
    const bound = await waitForBoundPod(s.admin, ns, `${sts}-0`, { notUid: pod.metadata!.uid! });
    expect(bound.spec?.nodeName).toBe(b);
    const [relocated] = (await relocator(config).handle(bindTrigger(bound))).filter((o) => o.kind !== 'skipped');
    expect(relocated).toMatchObject({ kind: 'relocated', toNode: b, newPodUid: bound.metadata!.uid });
    expect((await s.eventReasons(ns, sts)).filter((r) => r === 'AssistantRelocationStuck')).toHaveLength(1);
  });

  it('confirms from the sweep a relocation whose bind event was lost, and reports nothing else about the assistant on its healthy node', async () => {
    const config = { ...TEST_CONFIG, confirmTimeoutMs: 2_000 };
    const [a, b] = await s.pool('lost-bind', 2);
    const { sts, ns, pod } = await s.assistant('lost-bind', { startOn: a!, others: [b!] });
    await setUnschedulable(s.admin, a!, true);
    const [started] = await relocator(config).handle(nodeTrigger(a!));
    expect(started).toMatchObject({ kind: 'started', fromNode: a });
    const bound = await waitForBoundPod(s.admin, ns, `${sts}-0`, { notUid: pod.metadata!.uid! });
    expect(bound.spec?.nodeName).toBe(b);

    // No bind trigger is handled (the event was lost). Past the timeout the sweep, which keeps only a
    // view of assistants on schedulable nodes, judges the replacement from that view.
    await new Promise((r) => setTimeout(r, config.confirmTimeoutMs));
    const swept = (await relocator(config).handle(sweepTrigger())).filter(about(`${sts}-0`));
    expect(swept).toEqual([expect.objectContaining({ kind: 'relocated', fromNode: a, toNode: b, newPodUid: bound.metadata!.uid, triggerId: started!.triggerId })]);
    // Its bind time is the PodScheduled condition's (whole seconds), never before the delete.
    expect(swept[0]!.boundLatencyMs).toBeGreaterThanOrEqual(swept[0]!.deleteLatencyMs!);
    // Once: the next sweep finds the claim, and says nothing of an assistant on a healthy node.
    expect((await relocator(config).handle(sweepTrigger())).filter(about(`${sts}-0`))).toEqual([]);
  });

  it('calls a replacement bound back to the node it left fine when that node is schedulable again, and stuck when it is not', async () => {
    for (const [name, healthy] of [['back-fine', true], ['back-bad', false]] as const) {
      const [a, b] = await s.pool(name, 2);
      const { sts, ns, pod } = await s.assistant(name, { startOn: a!, others: [b!] });
      await gateReplacements(ns, sts);
      await setUnschedulable(s.admin, a!, true);
      const [started] = await relocator().handle(nodeTrigger(a!));
      expect(started).toMatchObject({ kind: 'started', fromNode: a });
      const replacement = await replacementOf(ns, pod);
      // The cordon moves: a is schedulable again, b is not, and only then is the replacement let go.
      await setUnschedulable(s.admin, b!, true);
      await setUnschedulable(s.admin, a!, false);
      await untainted(a!);
      await ungate(ns, replacement.metadata!.name!);
      const back = await waitForBoundPod(s.admin, ns, `${sts}-0`, { notUid: pod.metadata!.uid! });
      expect(back.spec?.nodeName).toBe(a);
      if (!healthy) await setUnschedulable(s.admin, a!, true);

      const outcomes = await relocator().handle(bindTrigger(back));
      const settled = outcomes.find((o) => o.reason === 'bound-back');
      expect(settled, JSON.stringify(outcomes)).toMatchObject(
        healthy
          ? { kind: 'skipped', message: expect.stringMatching(/bound back to it: the node is schedulable again/) }
          : { kind: 'stuck', message: expect.stringMatching(/bound back to it, and it is still unschedulable/) },
      );
      // Never a relocation from a node to itself.
      expect(outcomes.filter((o) => o.kind === 'relocated')).toEqual([]);
    }
  });

  it('judges a replacement bound back to a node announced by AWS with that announcement: stuck, although nothing on the node says so', async () => {
    // Tainting the announced node is off here (as when it failed): only the notice knows the node is going.
    const config = { ...TEST_CONFIG, interruptionTaint: false };
    const [a, b] = await s.pool('announced', 2);
    const { sts, ns, pod } = await s.assistant('announced', { startOn: a!, others: [b!] });
    await gateReplacements(ns, sts);
    const notice: RelocationTrigger = {
      ...base(),
      source: 'aws-spot-interruption',
      target: { kind: 'node', node: { name: a! } },
      disruption: { kind: 'SpotInterruption', detail: 'EC2 Spot Instance Interruption Warning', notAfter: new Date(Date.now() + 120_000).toISOString() },
    };
    const [started] = await relocator(config).handle(notice);
    expect(started).toMatchObject({ kind: 'started', fromNode: a });
    const replacement = await replacementOf(ns, pod);
    // b is cordoned before the replacement is let go: the scheduler, which knows nothing of the notice, binds it back to a.
    await setUnschedulable(s.admin, b!, true);
    await ungate(ns, replacement.metadata!.name!);
    const back = await waitForBoundPod(s.admin, ns, `${sts}-0`, { notUid: pod.metadata!.uid! });
    expect(back.spec?.nodeName).toBe(a);

    const outcomes = await relocator(config).handle(bindTrigger(back));
    expect(outcomes.find((o) => o.reason === 'bound-back'), JSON.stringify(outcomes)).toMatchObject({
      kind: 'stuck',
      message: expect.stringMatching(/bound back to it, and it is still unschedulable/),
    });
  });
});

describe('the cluster-wide cap on deletes', () => {
  it('deletes at most MAX_DELETES_PER_MINUTE, counting every relocator, and blocks the rest with reason rate-limit', async () => {
    const [a, b] = await s.pool('capped', 2);
    const assistants = [];
    for (const pipelineRun of ['pr-1', 'pr-2', 'pr-3']) assistants.push(await s.assistant('capped', { startOn: a!, others: [b!], pipelineRun }));
    await setUnschedulable(s.admin, a!, true);
    // The cap is cluster-wide: the earlier tests' deletes of the last minute count too. Room for two more.
    const cluster = new KubernetesCluster(s.cp.kubeConfig('relocator'), { assistantSelector: TEST_CONFIG.assistantSelector });
    const earlier = (await cluster.recentRelocations(new Date(Date.now() - 60_000))).deletes.length;
    const config = { ...TEST_CONFIG, maxDeletesPerMinute: earlier + 2 };

    const outcomes = await relocator(config).handle(nodeTrigger(a!));
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['blocked', 'started', 'started']);
    const blocked = outcomes.find((o) => o.kind === 'blocked')!;
    expect(blocked).toMatchObject({ reason: 'rate-limit', message: expect.stringMatching(new RegExp(`cluster-wide cap of ${earlier + 2} per minute \\(MAX_DELETES_PER_MINUTE\\)`)) });
    const left = assistants.find((x) => `${x.sts}-0` === blocked.assistant.pod)!;
    expect((await s.admin.core.readNamespacedPod({ namespace: 'capped', name: blocked.assistant.pod })).metadata?.uid).toBe(left.pod.metadata!.uid);

    // Another function's relocator, sharing nothing with the first, counts the same two deletes.
    const [other] = (await relocator(config).handle(nodeTrigger(a!))).filter((o) => o.assistant.pod === blocked.assistant.pod);
    expect(other).toMatchObject({ kind: 'blocked', reason: 'rate-limit' });
  });

  it('counts deletion records across pages of a list (600 records, 500 a page)', async () => {
    const ns = 'paged';
    await s.admin.core.createNamespace({ body: { metadata: { name: ns } } });
    const now = new Date();
    const make = (i: number) =>
      s.admin.core.createNamespacedEvent({
        namespace: ns,
        body: {
          metadata: { name: `paged.${i}` },
          involvedObject: { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: ns, name: `sts-${i}` },
          reason: 'AssistantDeleting',
          message: 'a record from another relocator',
          type: 'Normal',
          source: { component: 'affinity-relocator' },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    for (let i = 0; i < 600; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => make(i + k)));

    const cluster = new KubernetesCluster(s.cp.kubeConfig('relocator'), { assistantSelector: TEST_CONFIG.assistantSelector });
    const history = await cluster.recentRelocations(new Date(now.getTime() - 60_000));
    expect(history.deletes.filter((d) => d.at.getTime() >= now.getTime() - 1_000).length).toBeGreaterThanOrEqual(600);
    // What the cap makes of it: every delete of the last minute counts, on every page.
    const counted = history.deletes.length;
    const recent = new RecentDeletes(cluster, 60_000, () => new Date());
    expect(await new DeleteCap(recent, counted, () => new Date()).take()).toBe(false);
    expect(await new DeleteCap(recent, counted + 1, () => new Date()).take()).toBe(true);
  });
});
