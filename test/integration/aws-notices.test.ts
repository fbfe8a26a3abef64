/**
 * AWS's own notices on the real control plane: the sample event AWS documents for each notice, about the
 * instance of one node, goes through what the on-aws-event Lambda runs (parseAwsEvent, AWS_EVENT_ACTIONS,
 * the relocator as the RBAC-limited relocator identity), and the assistant leaves that node before anything
 * has cordoned it: the relocator first puts its own NoSchedule taint on the node, so that the replacement
 * goes elsewhere. Nodes carry explicit instance ids in spec.providerID (aws:///<zone>/<id>).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERRUPTION_TAINT_KEY } from '../../src/domain/interruption-taint.js';
import type { Outcome } from '../../src/domain/outcome.js';
import { AWS_NOTICES, type AwsNotice } from '../../src/events/aws/index.js';
import { type AwsEventActions, DEFAULT_AWS_EVENT_ACTIONS, onAwsEvent } from '../../src/relocator/aws-actions.js';
import type { HandlerDeps } from '../../src/relocator/handlers.js';
import { Relocator } from '../../src/relocator/relocator.js';
import { createRelocator } from '../../src/runtime/relocator.js';
import { kubeEventSink } from '../../src/relocator/sinks.js';
import { eventually, mergePatch } from '../../src/local-cluster/fixtures/clients.js';
import { createNode } from '../../src/local-cluster/fixtures/nodes.js';
import { sampleEvent } from '../unit/events/fixtures.js';
import { Scenario, TEST_CONFIG, waitForBoundPod } from './support.js';

/** The instance every AWS sample names. */
const SAMPLE_INSTANCE = 'i-1234567890abcdef0';

const ALL_RELOCATE = Object.fromEntries(AWS_NOTICES.map((n) => [n, 'relocate'])) as Record<AwsNotice, 'relocate'>;

let s: Scenario;
let deps: HandlerDeps;
beforeAll(async () => {
  s = await Scenario.start();
  deps = { relocator: createRelocator({ kc: s.cp.kubeConfig('relocator'), config: TEST_CONFIG }).relocator, cluster: 'test' };
});
afterAll(async () => {
  await s?.stop();
});

let lastInstance = 0xa0;
/** Nodes `<pool>-1` and `<pool>-2`, labelled pool=<pool>, each on an EC2 instance of its own. */
async function pool(name: string): Promise<{ a: string; b: string; instanceOfA: string }> {
  const [a, b] = [`${name}-1`, `${name}-2`];
  const [instanceOfA, instanceOfB] = [++lastInstance, ++lastInstance].map((n) => `i-${n.toString(16).padStart(17, '0')}`);
  await createNode(s.admin, a, { instanceId: instanceOfA, labels: { pool: name } });
  await createNode(s.admin, b, { instanceId: instanceOfB, labels: { pool: name } });
  return { a, b, instanceOfA: instanceOfA! };
}

/**
 * The pool's assistant, bound on `a`. The scenario cordons `b` meanwhile; once uncordoned, `b` keeps the
 * node controller's unschedulable taint a moment longer, and only then can it take the assistant.
 */
async function assistantOn(name: string, a: string, b: string) {
  const assistant = await s.assistant(name, { startOn: a, others: [b] });
  await eventually(`${b} to lose the cordon's taint`, () => s.admin.core.readNode({ name: b }), (n) => (n.spec?.taints ?? []).length === 0);
  return assistant;
}

/** AWS's sample of a notice, about `instanceId`, sent now. */
function notice(name: AwsNotice, instanceId: string, detail: Record<string, unknown> = {}): unknown {
  const raw = JSON.parse(JSON.stringify(sampleEvent(`aws/${name}.json`)).replaceAll(SAMPLE_INSTANCE, instanceId)) as { detail: object };
  return { ...raw, time: new Date().toISOString(), detail: { ...raw.detail, ...detail } };
}

/** A relocator (with the Kubernetes Event sink) that records every call it makes to the cluster. */
function recordingDeps(): { deps: HandlerDeps; calls: string[] } {
  const { cluster, calls } = s.recordingCluster();
  return { deps: { relocator: new Relocator({ cluster, config: TEST_CONFIG, sinks: [kubeEventSink(cluster)] }), cluster: 'test' }, calls };
}

async function podUid(ns: string, name: string): Promise<string | undefined> {
  const pod = await s.admin.core.readNamespacedPod({ namespace: ns, name });
  expect(pod.metadata?.deletionTimestamp).toBeUndefined();
  return pod.metadata?.uid;
}

describe('AWS interruption notices', () => {
  it.each(AWS_NOTICES)('%s: taints the announced node and moves its assistant to another node before anything cordons it', async (name) => {
    const { a, b, instanceOfA } = await pool(name);
    const { sts, ns, pod } = await assistantOn(name, a, b);

    const outcomes = await onAwsEvent(notice(name, instanceOfA), deps, ALL_RELOCATE);

    // The Lambda deletes and returns; the move is confirmed by whoever sees the replacement bound.
    expect(outcomes).toEqual([
      expect.objectContaining({ kind: 'started', fromNode: a, triggerSource: `aws-${name}`, nodeReasons: ['Interrupted'], forced: false }),
    ]);
    const [outcome] = outcomes as [Outcome];
    expect(outcome.message).toContain(instanceOfA);
    // Every time, not about half of the time: our NoSchedule taint keeps the scheduler off node a.
    expect(await deps.relocator.awaitSettlement(outcome)).toMatchObject({ kind: 'relocated', fromNode: a, toNode: b, triggerSource: `aws-${name}`, nodeReasons: ['Interrupted'] });
    const now = await waitForBoundPod(s.admin, ns, `${sts}-0`, { notUid: pod.metadata!.uid! });
    expect(now.spec?.nodeName).toBe(b);
    expect(await s.eventReasons(ns, sts)).toEqual(expect.arrayContaining(['AssistantDeleting', 'AssistantRelocated']));
    // Marked, not cordoned: what runs on node a runs on; only new pods are kept away.
    const node = await s.admin.core.readNode({ name: a });
    expect(node.spec?.unschedulable).toBeFalsy();
    expect(node.spec?.taints).toEqual([{ key: INTERRUPTION_TAINT_KEY, value: expect.stringMatching(new RegExp(`^aws-${name}\\.\\d{8}T\\d{6}Z$`)), effect: 'NoSchedule' }]);
    expect((await s.admin.core.readNode({ name: b })).spec?.taints ?? []).toEqual([]);
  });

  it('taints the node once for all its assistants, keeps the taints others put there, and moves every assistant', async () => {
    const { a, b, instanceOfA } = await pool('several');
    const dedicated = { key: 'dedicated', value: 'ci', effect: 'PreferNoSchedule' };
    await s.admin.core.patchNode({ name: a, body: { spec: { taints: [dedicated] } } }, mergePatch);
    const assistants = [];
    for (const pipelineRun of ['pr-one', 'pr-two']) {
      const x = await s.assistant('several', { startOn: a, others: [b], pipelineRun });
      await eventually(`${b} to lose the cordon's taint`, () => s.admin.core.readNode({ name: b }), (n) => (n.spec?.taints ?? []).length === 0);
      assistants.push(x);
    }
    const { deps: recording, calls } = recordingDeps();

    const outcomes = await onAwsEvent(notice('spot-interruption', instanceOfA), recording, ALL_RELOCATE);

    expect(outcomes.map((o) => `${o.assistant.statefulSet} ${o.kind}`).sort()).toEqual(assistants.map((x) => `${x.sts} started`).sort());
    const settled = await Promise.all(outcomes.map((o) => recording.relocator.awaitSettlement(o)));
    expect(settled.map((o) => `${o.assistant.statefulSet} ${o.kind} ${o.toNode}`).sort()).toEqual(
      assistants.map((x) => `${x.sts} relocated ${b}`).sort(),
    );
    expect(calls.filter((c) => c === 'updateNodeTaints')).toHaveLength(1);
    const taints = (await s.admin.core.readNode({ name: a })).spec?.taints ?? [];
    expect(taints).toEqual([dedicated, expect.objectContaining({ key: INTERRUPTION_TAINT_KEY, effect: 'NoSchedule' })]);
  });

  it('still moves the assistant off a node it cannot taint, and says so in the outcome', async () => {
    const { a, b, instanceOfA } = await pool('untaintable');
    const { sts, ns, pod } = await assistantOn('untaintable', a, b);
    const { cluster } = s.recordingCluster();
    // As when the node admission policy of an older release refuses the patch.
    const refusing = Object.assign(Object.create(cluster) as typeof cluster, {
      updateNodeTaints: async () => Promise.reject(new Error('PATCH /api/v1/nodes: HTTP 403: forbidden')),
    });
    const relocator = new Relocator({ cluster: refusing, config: TEST_CONFIG, sinks: [] });

    const [outcome] = await onAwsEvent(notice('spot-interruption', instanceOfA), { relocator, cluster: 'test' }, ALL_RELOCATE);

    expect(outcome!.kind).not.toBe('failed');
    expect(outcome!.message).toContain(`could not taint ${a} ${INTERRUPTION_TAINT_KEY}=aws-spot-interruption.`);
    expect(outcome!.message).toContain('HTTP 403: forbidden');
    await waitForBoundPod(s.admin, ns, `${sts}-0`, { notUid: pod.metadata!.uid! });
  });

  it('lifts the taint in the sweep once it is older than its TTL, and only then', async () => {
    const { a, b, instanceOfA } = await pool('expiry');
    await assistantOn('expiry', a, b);
    const ttlMs = 4_000;
    const config = { ...TEST_CONFIG, interruptionTaintTtlMs: ttlMs };
    const logged: string[] = [];
    // The relocator's clock, which the test moves on past the TTL instead of waiting it out.
    let laterMs = 0;
    const now = () => new Date(Date.now() + laterMs);
    const { cluster } = s.recordingCluster();
    const relocator = new Relocator({ cluster, config, sinks: [kubeEventSink(cluster)], log: (_level, message) => void logged.push(message), now });
    const sweep = () => relocator.handle({ id: 'sweep', source: 'sweep', observedAt: now().toISOString(), target: { kind: 'all' } });
    const ours = async () => ((await s.admin.core.readNode({ name: a })).spec?.taints ?? []).filter((t) => t.key === INTERRUPTION_TAINT_KEY);

    await onAwsEvent(notice('health-scheduled-change', instanceOfA), { relocator, cluster: 'test' }, ALL_RELOCATE);
    expect(await ours()).toHaveLength(1);
    await sweep();
    expect(await ours()).toHaveLength(1); // younger than the TTL

    // The taint's time has whole seconds: the TTL and one second more.
    laterMs = ttlMs + 1_000;
    await sweep();
    expect(await ours()).toEqual([]);
    expect(logged).toContainEqual(expect.stringMatching(new RegExp(`^lifted the interruption taint of node ${a}: ${INTERRUPTION_TAINT_KEY}=aws-health-scheduled-change\\.`)));
  });

  it('in dry-run, says it would taint the node and taints nothing', async () => {
    const { a, b, instanceOfA } = await pool('dry');
    const { sts, ns, pod } = await assistantOn('dry', a, b);
    const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: { ...TEST_CONFIG, dryRun: true } });

    const outcomes = await onAwsEvent(notice('asg-terminate', instanceOfA), { relocator, cluster: 'test' }, ALL_RELOCATE);

    expect(outcomes).toEqual([expect.objectContaining({ kind: 'skipped', reason: 'dry-run', dryRun: true })]);
    expect(outcomes[0]!.message).toMatch(new RegExp(`^dry-run: would taint ${a} ${INTERRUPTION_TAINT_KEY}=aws-asg-terminate\\.\\d{8}T\\d{6}Z:NoSchedule, then delete ${ns}/${sts}-0`));
    expect((await s.admin.core.readNode({ name: a })).spec?.taints ?? []).toEqual([]);
    expect(await podUid(ns, `${sts}-0`)).toBe(pod.metadata?.uid);
  });

  it("answers 'other-cluster', naming the instance, for an instance that is no node of this cluster, and deletes nothing", async () => {
    const { a, b } = await pool('elsewhere');
    const { sts, ns, pod } = await assistantOn('elsewhere', a, b);
    const { deps: recording, calls } = recordingDeps();
    const stranger = 'i-0fffffffffffffff0';

    const outcomes = await onAwsEvent(notice('spot-interruption', stranger), recording, ALL_RELOCATE);

    expect(outcomes).toEqual([expect.objectContaining({ kind: 'skipped', reason: 'other-cluster', triggerSource: 'aws-spot-interruption' })]);
    expect(outcomes[0]!.message).toContain(stranger);
    expect(calls).toEqual(['listNodes']);
    expect(await podUid(ns, `${sts}-0`)).toBe(pod.metadata?.uid);
  });

  it('in notify-only, says which assistant it would move and why, and deletes nothing', async () => {
    const { a, b, instanceOfA } = await pool('notify');
    const { sts, ns, pod } = await assistantOn('notify', a, b);
    const { deps: recording, calls } = recordingDeps();
    const actions: AwsEventActions = { ...ALL_RELOCATE, 'asg-terminate': 'notify-only' };

    const outcomes = await onAwsEvent(notice('asg-terminate', instanceOfA), recording, actions);

    expect(outcomes).toEqual([
      expect.objectContaining({ kind: 'skipped', reason: 'notify-only', fromNode: a, triggerSource: 'aws-asg-terminate', nodeReasons: ['Interrupted'] }),
    ]);
    expect(outcomes[0]!.message).toMatch(
      new RegExp(`^notify-only: would delete ${ns}/${sts}-0 \\(uid ${pod.metadata!.uid}\\) from ${a} because AsgTerminate: Auto Scaling group my-asg is terminating instance ${instanceOfA}`),
    );
    expect(calls).not.toContain('deletePod');
    expect(calls).not.toContain('updateNodeTaints');
    expect(calls).not.toContain('recordEvent');
    expect(await podUid(ns, `${sts}-0`)).toBe(pod.metadata?.uid);
  });

  it('does nothing at all when the instance enters running', async () => {
    const { a, b, instanceOfA } = await pool('running');
    const { sts, ns, pod } = await assistantOn('running', a, b);
    const { deps: recording, calls } = recordingDeps();

    expect(await onAwsEvent(notice('instance-state-change', instanceOfA, { state: 'running' }), recording, ALL_RELOCATE)).toEqual([]);

    expect(calls).toEqual([]);
    expect(await podUid(ns, `${sts}-0`)).toBe(pod.metadata?.uid);
  });

  it('by default ignores rebalance recommendations, which EC2 sends for many instances that then run on', async () => {
    const { a, b, instanceOfA } = await pool('rebalance');
    const { sts, ns, pod } = await assistantOn('rebalance', a, b);
    const { deps: recording, calls } = recordingDeps();

    expect(await onAwsEvent(notice('rebalance-recommendation', instanceOfA), recording, DEFAULT_AWS_EVENT_ACTIONS)).toEqual([]);

    expect(calls).toEqual([]);
    expect(await podUid(ns, `${sts}-0`)).toBe(pod.metadata?.uid);
  });
});
