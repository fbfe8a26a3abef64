/**
 * Issue 20 on the real control plane: a TaskRun pod held Pending because its assistant's (healthy) node
 * cannot take it. The relocator, handed the trigger the forwarder publishes, moves the assistant only when
 * a node can take its replacement and the pod together, never while another pod of the run uses the
 * workspace there, and settles the move once the pod is bound. The real scheduler places every pod.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelocatorConfig } from '../../src/domain/config.js';
import { INTERRUPTION_TAINT_KEY } from '../../src/domain/interruption-taint.js';
import type { Outcome } from '../../src/domain/outcome.js';
import type { RelocationTrigger } from '../../src/domain/trigger.js';
import { eventually, mergePatch } from '../../src/local-cluster/fixtures/clients.js';
import { createNode, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { KubernetesCluster } from '../../src/cluster/api.js';
import { Relocator } from '../../src/relocator/relocator.js';
import { readPodOrUndefined } from '../../src/local-cluster/fixtures/pods.js';
import { type PipelineRun, taskRunPod } from '../../src/local-cluster/fixtures/tekton.js';
import { createRelocator } from '../../src/runtime/relocator.js';
import { installSteering } from '../../src/local-cluster/fixtures/steering.js';
import { Scenario, TEST_CONFIG, waitForBoundPod } from './support.js';

const CONFIG: RelocatorConfig = { ...TEST_CONFIG, pendingGraceMs: 1_000 };

let s: Scenario;
beforeAll(async () => {
  s = await Scenario.start();
});
afterAll(async () => {
  await s?.stop();
});

let seq = 0;
function trigger(pod: V1Pod, assistant: string, o: { released?: true } = {}): RelocationTrigger {
  const m = pod.metadata!;
  return {
    id: `t-${++seq}`,
    source: 'pending-pod-event',
    target: { kind: 'pending-pod', pod: { namespace: m.namespace!, name: m.name!, uid: m.uid }, assistant, ...o },
    observedAt: new Date().toISOString(),
  };
}

/** A TaskRun pod of `pr` asking `cpu`, tied to `assistant`, created and (unless `bound`) waited for Unschedulable past the grace. */
async function taskPod(pr: PipelineRun, task: string, assistant: string, claim: string, cpu: string, o: { nodeName?: string } = {}): Promise<V1Pod> {
  const body = taskRunPod(pr, task, assistant, [claim]);
  body.spec!.containers[0]!.resources = { requests: { cpu } };
  if (o.nodeName) body.spec!.nodeName = o.nodeName;
  const created = await s.admin.core.createNamespacedPod({ namespace: pr.metadata.namespace, body });
  if (o.nodeName) return created;
  const held = await eventually(
    `${body.metadata!.name} to be Unschedulable`,
    () => s.admin.core.readNamespacedPod({ namespace: pr.metadata.namespace, name: body.metadata!.name! }),
    (p) => (p.status?.conditions ?? []).some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable'),
  );
  await new Promise((r) => setTimeout(r, CONFIG.pendingGraceMs + 1_000)); // the grace, counted from a whole-second time
  return held;
}

/** worker-1 (2 cpu) holds the assistant; worker-2 (8 cpu) is healthy and empty. */
async function twoNodes(pool: string) {
  const [small, big] = [`${pool}-1`, `${pool}-2`];
  await createNode(s.admin, small, { cpu: '2', labels: { pool } });
  await createNode(s.admin, big, { cpu: '8', labels: { pool } });
  const a = await s.assistant(pool, { startOn: small, others: [big] });
  return { small, big, ...a };
}

const started = (o: Outcome[]) => o.find((x) => x.kind === 'started');

describe('a TaskRun pod held Pending by its assistant node', () => {
  it('is freed: the assistant moves where both fit, the pod follows, and the move is settled with the pod', async () => {
    const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: CONFIG });
    const { small, big, pr, sts, ns, pod, claim } = await twoNodes('rescue');
    const held = await taskPod(pr, 'second', sts, claim, '3');

    const outcomes = await relocator.handle(trigger(held, sts));
    expect(started(outcomes), JSON.stringify(outcomes)).toMatchObject({ reason: 'pending-taskrun', fromNode: small, heldPod: held.metadata!.name });
    const replacement = await waitForBoundPod(s.admin, ns, `${sts}-0`, { notUid: pod.metadata!.uid! });
    expect(replacement.spec?.nodeName).toBe(big);
    const followed = await waitForBoundPod(s.admin, ns, held.metadata!.name!);
    expect(followed.spec?.nodeName).toBe(big);

    const settled = await relocator.handle(trigger(held, sts, { released: true }));
    expect(settled).toEqual([expect.objectContaining({ kind: 'relocated', reason: 'pending-taskrun', fromNode: small, toNode: big, heldPod: held.metadata!.name })]);
    expect(settled[0]!.pendingToBoundMs).toBeGreaterThan(0);
    // Once settled, the node left carries no taint of ours, and a second release settles nothing again.
    const node = await s.admin.core.readNode({ name: small });
    expect((node.spec?.taints ?? []).map((t) => t.key)).not.toContain(INTERRUPTION_TAINT_KEY);
    expect(await relocator.handle(trigger(held, sts, { released: true }))).toEqual([]);
  });

  it('never splits a workspace in use: blocked while another pod of the run is on the node, freed once it ends', async () => {
    const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: CONFIG });
    const { small, big, pr, sts, ns, pod, claim } = await twoNodes('inuse');
    const first = await taskPod(pr, 'first', sts, claim, '100m', { nodeName: small });
    const held = await taskPod(pr, 'second', sts, claim, '3');

    const blocked = await relocator.handle(trigger(held, sts));
    expect(blocked).toEqual([expect.objectContaining({ kind: 'blocked', reason: 'workspace-in-use' })]);
    expect(blocked[0]!.message).toContain(first.metadata!.name);
    expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata?.uid).toBe(pod.metadata!.uid);

    await s.admin.core.patchNamespacedPodStatus({ namespace: ns, name: first.metadata!.name!, body: { status: { phase: 'Succeeded' } } }, mergePatch);
    const again = await relocator.handle(trigger(held, sts));
    expect(started(again), JSON.stringify(again)).toBeDefined();
    expect((await waitForBoundPod(s.admin, ns, held.metadata!.name!)).spec?.nodeName).toBe(big);
  });

  it('deletes nothing when no node takes both, and says so with the scheduler-style summary', async () => {
    const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: CONFIG });
    const { pr, sts, ns, pod, claim } = await twoNodes('nowhere');
    const held = await taskPod(pr, 'second', sts, claim, '64');
    const out = await relocator.handle(trigger(held, sts));
    expect(out).toEqual([expect.objectContaining({ kind: 'blocked', reason: 'no-feasible-node' })]);
    expect(out[0]!.message).toMatch(/Insufficient cpu/);
    expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata?.uid).toBe(pod.metadata!.uid);
  });

  it('PENDING_TASKRUNS=report says what it would do and deletes nothing; off does not look', async () => {
    const { pr, sts, ns, pod, claim } = await twoNodes('report');
    const held = await taskPod(pr, 'second', sts, claim, '3');
    const report = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: { ...CONFIG, pendingTaskRuns: 'report' } }).relocator;
    const out = await report.handle(trigger(held, sts));
    expect(out).toEqual([expect.objectContaining({ kind: 'skipped', reason: 'notify-only', heldPod: held.metadata!.name })]);
    expect(out[0]!.message).toMatch(/^PENDING_TASKRUNS=report: would delete/);
    const off = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: { ...CONFIG, pendingTaskRuns: 'off' } }).relocator;
    expect(await off.handle(trigger(held, sts))).toEqual([]);
    expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata?.uid).toBe(pod.metadata!.uid);
  });

  it('leaves alone a pod tied to something that is not an assistant, and an assistant-labelled pod of a foreign owner', async () => {
    const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: CONFIG });
    const { small, pr, sts, ns, claim } = await twoNodes('foreign');
    // A pod with the assistant's labels that no StatefulSet owns, on the small node, and a held pod tied to it.
    const fake = 'affinity-assistant-fake';
    await s.admin.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: `${fake}-0`, labels: { 'app.kubernetes.io/component': 'affinity-assistant', 'app.kubernetes.io/instance': fake } },
        spec: { nodeName: small, containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '100m' } } }] },
      },
    });
    const foreign = await taskPod(pr, 'foreign', fake, claim, '3');
    const out = await relocator.handle(trigger(foreign, fake));
    expect(out).toEqual([expect.objectContaining({ kind: 'skipped', reason: 'not-an-assistant' })]);
    expect(await readPodOrUndefined(s.admin, ns, `${fake}-0`)).toBeDefined();

    // Required affinity to a pod that is no assistant (no component label): not held by an assistant.
    const body = taskRunPod(pr, 'db-client', sts, [claim]);
    body.spec!.affinity = { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname' }] } };
    const other = await s.admin.core.createNamespacedPod({ namespace: ns, body });
    const none = await relocator.handle(trigger(other, sts));
    expect(none).toEqual([expect.objectContaining({ kind: 'skipped', reason: 'not-held' })]);
  });

  it('the sweep frees a held pod nobody published, and reports a blocked one once, not every sweep', async () => {
    const sinks: Outcome[] = [];
    const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: CONFIG, sinks: [async (o) => void sinks.push(o)] });
    const a = await twoNodes('sweep');
    const b = await twoNodes('sweepx');
    const freed = await taskPod(a.pr, 'second', a.sts, a.claim, '3');
    const stuck = await taskPod(b.pr, 'second', b.sts, b.claim, '64');
    const sweep = (): RelocationTrigger => ({ id: `sweep-${++seq}`, source: 'sweep', target: { kind: 'all' }, observedAt: new Date().toISOString() });

    const first = await relocator.handle(sweep());
    expect(first.find((o) => o.heldPod === freed.metadata!.name && o.assistant.namespace === 'sweep')).toMatchObject({ kind: 'started', reason: 'pending-taskrun', triggerSource: 'sweep' });
    expect(first.find((o) => o.assistant.namespace === 'sweepx')).toMatchObject({ kind: 'blocked', reason: 'no-feasible-node' });
    expect((await waitForBoundPod(s.admin, 'sweep', freed.metadata!.name!)).spec?.nodeName).toBe(a.big);

    await relocator.handle(sweep());
    const blockedReports = sinks.filter((o) => o.assistant.namespace === 'sweepx' && o.kind === 'blocked');
    expect(blockedReports, 'the blocked held pod is reported once over two sweeps').toHaveLength(1);
    expect(await s.eventReasons('sweepx', b.sts)).toContain('HeldTaskRunPod');
    expect((await s.admin.core.readNamespacedPod({ namespace: 'sweepx', name: stuck.metadata!.name! })).spec?.nodeName).toBeUndefined();
  });

  it('a node trigger takes first the assistants somebody waits on', async () => {
    const pool = 'order';
    const nodes = [`${pool}-1`, `${pool}-2`];
    await createNode(s.admin, nodes[0]!, { cpu: '2', labels: { pool } });
    await createNode(s.admin, nodes[1]!, { cpu: '8', labels: { pool } });
    const runs = [];
    for (const name of ['pr-order-a', 'pr-order-b', 'pr-order-c']) runs.push(await s.assistant(pool, { startOn: nodes[0]!, others: [nodes[1]!], pipelineRun: name }));
    // The one the apiserver lists last (by name): only the ordering can put it first.
    const waited = [...runs].sort((x, y) => x.sts.localeCompare(y.sts))[2]!;
    await taskPod(waited.pr, 'second', waited.sts, waited.claim, '3');
    const cluster = new KubernetesCluster(s.cp.kubeConfig('relocator'), { assistantSelector: CONFIG.assistantSelector });
    const one = new Relocator({ cluster, config: { ...CONFIG, dryRun: true }, sinks: [], concurrency: 1 });
    await setUnschedulable(s.admin, nodes[0]!, true);
    const out = await one.handle({ id: `n-${++seq}`, source: 'node-event', target: { kind: 'node', node: { name: nodes[0]! } }, observedAt: new Date().toISOString() });
    expect(out.map((o) => o.assistant.pod)[0]).toBe(`${waited.sts}-0`);
    expect(out).toHaveLength(3);
  });

  // Last: it installs the steering API for the rest of this control plane's life.
  it('steers the replacement to the one node the held pod can follow to, which the scores do not prefer: freed with one delete', async () => {
    const pool = 'steer';
    const [small, roomy, tight] = [`${pool}-1`, `${pool}-2`, `${pool}-3`];
    await createNode(s.admin, small, { cpu: '2', labels: { pool } });
    await createNode(s.admin, roomy, { cpu: '16', labels: { pool } });
    // The only node the task selects: half full, so the scheduler's scores prefer the empty roomy node.
    await createNode(s.admin, tight, { cpu: '4', labels: { pool, disk: 'ssd' } });
    const a = await s.assistant(pool, { startOn: small, others: [roomy, tight] });
    await s.admin.core.createNamespacedPod({ namespace: a.ns, body: { metadata: { name: 'filler' }, spec: { nodeName: tight, containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '2' } } }] } } });
    const body = taskRunPod(a.pr, 'second', a.sts, [a.claim]);
    body.spec!.containers[0]!.resources = { requests: { cpu: '500m' } };
    body.spec!.nodeSelector = { disk: 'ssd' };
    const created = await s.admin.core.createNamespacedPod({ namespace: a.ns, body });
    await eventually('the task pod to be Unschedulable', () => s.admin.core.readNamespacedPod({ namespace: a.ns, name: created.metadata!.name! }), (p) => (p.status?.conditions ?? []).some((c) => c.reason === 'Unschedulable'));
    await new Promise((r) => setTimeout(r, CONFIG.pendingGraceMs + 1_000));
    const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: CONFIG });

    // Without the steering API, a taint on the node left is not enough (roomy takes the assistant alone).
    const unsteerable = await relocator.handle(trigger(created, a.sts));
    expect(unsteerable).toEqual([expect.objectContaining({ kind: 'blocked', reason: 'cannot-steer' })]);
    expect((await s.admin.core.readNamespacedPod({ namespace: a.ns, name: `${a.sts}-0` })).metadata?.uid).toBe(a.pod.metadata!.uid);

    await installSteering(s.admin);
    const out = await relocator.handle(trigger(created, a.sts));
    expect(started(out), JSON.stringify(out)).toMatchObject({ reason: 'pending-taskrun' });
    expect(started(out)!.message).toContain('AssistantPlacement');
    const replacement = await waitForBoundPod(s.admin, a.ns, `${a.sts}-0`, { notUid: a.pod.metadata!.uid! });
    expect(replacement.spec?.nodeName).toBe(tight);
    expect(replacement.metadata?.annotations?.['affinity-relocator.io/steered-to']).toBe(tight);
    expect((await waitForBoundPod(s.admin, a.ns, created.metadata!.name!)).spec?.nodeName).toBe(tight);
    const settled = await relocator.handle(trigger(created, a.sts, { released: true }));
    expect(settled).toEqual([expect.objectContaining({ kind: 'relocated', toNode: tight, heldPod: created.metadata!.name })]);
    // Settled: the placement is gone, so a later recreation goes wherever the scheduler likes.
    const cluster = new KubernetesCluster(s.cp.kubeConfig('relocator'), { assistantSelector: CONFIG.assistantSelector });
    expect((await cluster.listPlacementHints()).filter((h) => h.namespace === a.ns)).toEqual([]);
  });

  it('in local mode, end to end: the forwarder publishes the held pod after the grace, the assistant moves, the release settles it', async () => {
    await s.startLocalMode(CONFIG);
    try {
      const { small, big, pr, sts, ns, pod, claim } = await twoNodes('local');
      const body = taskRunPod(pr, 'second', sts, [claim]);
      body.spec!.containers[0]!.resources = { requests: { cpu: '3' } };
      const held = await s.admin.core.createNamespacedPod({ namespace: ns, body });
      const relocated = await s.waitForOutcome('the rescue to be settled', (o) => o.kind === 'relocated' && o.heldPod === held.metadata!.name, 60_000);
      expect(relocated).toMatchObject({ reason: 'pending-taskrun', fromNode: small, toNode: big, triggerSource: 'pending-pod-event' });
      expect(relocated.pendingToBoundMs).toBeGreaterThan(0);
      expect(s.outcomes.find((o) => o.kind === 'started' && o.heldPod === held.metadata!.name)).toMatchObject({ triggerSource: 'pending-pod-event' });
      expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: held.metadata!.name! })).spec?.nodeName).toBe(big);
      expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata?.uid).not.toBe(pod.metadata!.uid);
      expect(s.errors).toEqual([]);
    } finally {
      await s.stopLocalMode();
    }
  });
});
