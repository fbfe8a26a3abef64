/**
 * AWS's own notices on the real control plane: the sample event AWS documents for each notice, about the
 * instance of one node, goes through what the on-aws-event Lambda runs (parseAwsEvent, AWS_EVENT_ACTIONS,
 * the relocator as the RBAC-limited relocator identity), and the assistant leaves that node before anything
 * has cordoned or tainted it. Nodes carry explicit instance ids in spec.providerID (aws:///<zone>/<id>).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Outcome } from '../../src/domain/outcome.js';
import { AWS_NOTICES, type AwsNotice } from '../../src/events/aws/index.js';
import { type AwsEventActions, DEFAULT_AWS_EVENT_ACTIONS, onAwsEvent } from '../../src/relocator/aws-actions.js';
import type { HandlerDeps } from '../../src/relocator/handlers.js';
import { Relocator } from '../../src/relocator/relocator.js';
import { createRelocator } from '../../src/relocator/runtime.js';
import { kubeEventSink } from '../../src/relocator/sinks.js';
import { eventually } from '../cluster/fixtures/clients.js';
import { createNode } from '../cluster/fixtures/nodes.js';
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
  it.each(AWS_NOTICES)('%s: deletes the assistant on the announced node before anything cordons it, and says where the replacement went', async (name) => {
    const { a, b, instanceOfA } = await pool(name);
    const { sts, ns, pod } = await assistantOn(name, a, b);

    const outcomes = await onAwsEvent(notice(name, instanceOfA), deps, ALL_RELOCATE);

    expect(outcomes).toEqual([expect.objectContaining({ fromNode: a, triggerSource: `aws-${name}`, nodeReasons: ['Interrupted'], forced: false })]);
    const [outcome] = outcomes as [Outcome];
    expect(outcome.message).toContain(instanceOfA);
    const node = await s.admin.core.readNode({ name: a });
    expect(node.spec?.unschedulable).toBeFalsy();
    expect(node.spec?.taints ?? []).toEqual([]);
    const now = await waitForBoundPod(s.admin, ns, `${sts}-0`, { notUid: pod.metadata!.uid! });
    expect(await s.eventReasons(ns, sts)).toContain('AssistantDeleting');
    // Nothing marks the announced node for the scheduler, which may bind the replacement straight back to
    // it (about half the time with two nodes): never reported as a relocation.
    if (now.spec?.nodeName === b) expect(outcome).toMatchObject({ kind: 'relocated', toNode: b });
    else expect(outcome).toMatchObject({ kind: 'stuck', reason: 'bound-to-bad-node' });
  });

  // The goal. Needs the announced node kept from the scheduler (e.g. a NoSchedule taint of ours, as
  // aws-node-termination-handler adds) without cordoning it: a decision beyond these files.
  it.todo('moves the assistant off exactly the announced node, every time, while the node is not cordoned');

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
