/**
 * The core on the real control plane, through local mode (watch -> in-process bus -> the Lambdas'
 * handlers -> relocator), as the RBAC-limited relocator identity with the shipped ClusterRole.
 * Each test has its own pool of nodes; the assistant's nodeSelector (from the PipelineRun's podTemplate)
 * keeps it there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../src/events/errors.js';
import { onTriggerEvent } from '../../src/relocator/handlers.js';
import { Relocator } from '../../src/relocator/relocator.js';
import { fixtureFiles, fixtureJson } from '../unit/events/fixtures.js';
import { createRelocator } from '../../src/runtime/relocator.js';
import { eventually } from '../../src/local-cluster/fixtures/clients.js';
import { addTaint, createNode, setReady, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { readPodOrUndefined } from '../../src/local-cluster/fixtures/pods.js';
import { setPipelineRunCondition, taskRunPod } from '../../src/local-cluster/fixtures/tekton.js';
import { ownEvent, Scenario, TEST_CONFIG, waitForBoundPod } from './support.js';

let s: Scenario;
beforeAll(async () => {
  s = await Scenario.start();
  await s.startLocalMode();
});
afterAll(async () => {
  await s?.stop();
});

const relocatedFrom = (pod: string, node: string) => (o: { kind: string; assistant: { pod: string }; fromNode?: string }) =>
  o.kind === 'relocated' && o.assistant.pod === pod && o.fromNode === node;

describe('relocating affinity assistants in local mode', () => {
  it('moves the assistant off a cordoned node, and the next TaskRun pod follows it', async () => {
    const [a, b] = await s.pool('cordon', 2);
    const { pr, sts, pod, claim, ns } = await s.assistant('cordon', { startOn: a!, others: [b!] });
    await setUnschedulable(s.admin, a!, true);

    const o = await s.waitForOutcome('the assistant to be relocated', relocatedFrom(`${sts}-0`, a!));
    expect(o).toMatchObject({ toNode: b, forced: false, triggerSource: 'node-event', nodeReasons: ['Cordoned'] });
    expect(o.newPodUid).not.toBe(pod.metadata?.uid);
    expect(o.deleteLatencyMs).toBeGreaterThanOrEqual(0);
    expect(o.boundLatencyMs).toBeGreaterThanOrEqual(o.deleteLatencyMs!);
    const now = await waitForBoundPod(s.admin, ns, `${sts}-0`);
    expect(now.spec?.nodeName).toBe(b);
    expect(await s.eventReasons(ns, sts)).toEqual(expect.arrayContaining(['AssistantDeleting', 'AssistantRelocated']));

    const task = await s.admin.core.createNamespacedPod({ namespace: ns, body: taskRunPod(pr, 'last-task', sts, [claim]) });
    expect((await waitForBoundPod(s.admin, ns, task.metadata!.name!)).spec?.nodeName).toBe(b);
  });

  it('moves the assistant off a node with a disruption taint', async () => {
    const [a, b] = await s.pool('taint', 2);
    const { sts } = await s.assistant('taint', { startOn: a!, others: [b!] });
    await addTaint(s.admin, a!, { key: 'karpenter.sh/disrupted', effect: 'NoSchedule' });
    const o = await s.waitForOutcome('the assistant to be relocated', relocatedFrom(`${sts}-0`, a!));
    expect(o).toMatchObject({ toNode: b, nodeReasons: ['Tainted'] });
  });

  it('force-deletes the assistant from a node NotReady past the grace, where a graceful delete would hang', async () => {
    const [a, b] = await s.pool('notready', 2);
    const { sts, ns, pod } = await s.assistant('notready', { startOn: a!, others: [b!] });
    // The API stores whole seconds: the condition's lastTransitionTime is "now" rounded down.
    const since = Math.floor(Date.now() / 1000) * 1000;
    await setReady(s.admin, a!, 'False');
    const o = await s.waitForOutcome('the assistant to be relocated', relocatedFrom(`${sts}-0`, a!));
    expect(o).toMatchObject({ toNode: b, forced: true, nodeReasons: ['NotReady'] });
    // Not before the grace: a blip must not move anything.
    expect(Date.now() - since).toBeGreaterThanOrEqual(TEST_CONFIG.notReadyGraceMs);
    const now = await waitForBoundPod(s.admin, ns, `${sts}-0`, { notUid: pod.metadata!.uid! });
    expect(now.spec?.nodeName).toBe(b);
  });

  it('ignores replayed and stale triggers once the assistant has moved', async () => {
    const [a, b] = await s.pool('stale', 2);
    const { sts, ns, pod } = await s.assistant('stale', { startOn: a!, others: [b!] });
    await setUnschedulable(s.admin, a!, true);
    const moved = await s.waitForOutcome('the assistant to be relocated', relocatedFrom(`${sts}-0`, a!));
    const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: TEST_CONFIG });
    const deps = { relocator, cluster: 'test' };
    const node = await s.admin.core.readNode({ name: a! });
    const replays = [
      // the original node trigger, again
      ownEvent('Node Schedulability Changed', { node: { name: a, uid: node.metadata!.uid, resourceVersion: node.metadata!.resourceVersion }, schedulable: false, reasons: [{ code: 'Cordoned', message: 'replayed' }] }),
      // a late pod event carrying the old uid and the old node
      ownEvent('Assistant Pod Changed', { pod: { namespace: ns, name: `${sts}-0`, uid: pod.metadata!.uid, resourceVersion: pod.metadata!.resourceVersion, nodeName: a }, change: 'bound' }),
    ];
    for (const r of replays) {
      const outcomes = await onTriggerEvent(r, deps);
      for (const out of outcomes) expect(out.kind).toBe('skipped');
    }
    const still = await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` });
    expect(still.metadata?.uid).toBe(moved.newPodUid);
    expect(still.metadata?.deletionTimestamp).toBeUndefined();
  });

  it('deletes nothing on a spoofed event claiming a healthy node is cordoned', async () => {
    const [a, b] = await s.pool('spoof', 2);
    const { sts, ns, pod } = await s.assistant('spoof', { startOn: a!, others: [b!] });
    const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: TEST_CONFIG });
    const outcomes = await onTriggerEvent(
      ownEvent('Node Schedulability Changed', { node: { name: a, uid: 'x', resourceVersion: '1' }, schedulable: false, reasons: [{ code: 'Cordoned', message: 'lies' }] }),
      { relocator, cluster: 'test' },
    );
    expect(outcomes).toEqual([expect.objectContaining({ kind: 'skipped', reason: 'healthy' })]);
    expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata?.uid).toBe(pod.metadata?.uid);
  });

  it('reports, and never deletes in a loop, an assistant that tolerates the cordon', async () => {
    // The assistant tolerates everything, so a cordon of the other node would not keep it off there: that
    // node joins only once the assistant is bound.
    const [a] = await s.pool('tolerant', 1);
    const { sts, ns, pod } = await s.assistant('tolerant', { startOn: a!, others: [], podTemplate: { tolerations: [{ operator: 'Exists' }] } });
    await createNode(s.admin, 'tolerant-2', { labels: { pool: 'tolerant' } });
    await setUnschedulable(s.admin, a!, true);
    const o = await s.waitForOutcome('a blocked outcome', (x) => x.assistant.pod === `${sts}-0` && x.kind === 'blocked');
    expect(o.reason).toBe('tolerates-bad-node');
    await eventually('the block to be recorded on the StatefulSet', () => s.eventReasons(ns, sts), (r) => r.includes('AssistantRelocationBlocked'));
    expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata?.uid).toBe(pod.metadata?.uid);
  });

  it('leaves the assistant of a finished PipelineRun alone', async () => {
    const [a, b] = await s.pool('done', 2);
    const { sts, ns, pod, pr } = await s.assistant('done', { startOn: a!, others: [b!] });
    await setPipelineRunCondition(s.admin, pr, 'True', 'Succeeded');
    await setUnschedulable(s.admin, a!, true);
    const o = await s.waitForOutcome('a skip', (x) => x.assistant.pod === `${sts}-0` && x.triggerSource === 'node-event');
    expect(o).toMatchObject({ kind: 'skipped', reason: 'pipelinerun-finished' });
    expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata?.uid).toBe(pod.metadata?.uid);
  });

  it('never touches a pod with the assistant labels that no PipelineRun owns through a StatefulSet', async () => {
    const [a] = await s.pool('impostor', 2);
    const ns = 'impostor';
    await s.admin.core.createNamespace({ body: { metadata: { name: ns } } });
    await eventually('default service account', () => s.admin.core.readNamespacedServiceAccount({ namespace: ns, name: 'default' }), () => true);
    const labels = { 'app.kubernetes.io/component': 'affinity-assistant', 'app.kubernetes.io/instance': 'affinity-assistant-0000000000' };
    await s.admin.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'bare', labels }, spec: { nodeName: a, containers: [{ name: 'c', image: 'x' }] } } });
    await s.admin.apps.createNamespacedStatefulSet({
      namespace: ns,
      body: {
        metadata: { name: 'lookalike', labels },
        spec: { replicas: 1, serviceName: '', selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { nodeSelector: { pool: 'impostor' }, containers: [{ name: 'c', image: 'x' }] } } },
      },
    });
    const lookalike = await waitForBoundPod(s.admin, ns, 'lookalike-0');
    const bare = await s.admin.core.readNamespacedPod({ namespace: ns, name: 'bare' });
    await setUnschedulable(s.admin, a!, true);
    if (lookalike.spec?.nodeName !== a) await setUnschedulable(s.admin, lookalike.spec!.nodeName!, true);
    const skips = await eventually(
      'both pods to be looked at',
      async () => s.outcomes.filter((x) => x.assistant.namespace === ns && x.triggerSource === 'node-event'),
      (l) => new Set(l.map((x) => x.assistant.pod)).size === 2,
    );
    for (const x of skips) expect(x).toMatchObject({ kind: 'skipped', reason: 'not-an-assistant' });
    expect((await readPodOrUndefined(s.admin, ns, 'bare'))?.metadata?.uid).toBe(bare.metadata?.uid);
    expect((await readPodOrUndefined(s.admin, ns, 'lookalike-0'))?.metadata?.uid).toBe(lookalike.metadata?.uid);
  });

  it('in dry-run deletes nothing and says what it would do, after the apiserver dry-ran the delete', async () => {
    const [a, b] = await s.pool('dryrun', 2);
    const { sts, ns, pod } = await s.assistant('dryrun', { startOn: a!, others: [b!] });
    // A taint that local mode (default include list) ignores but this dry-run relocator counts.
    await addTaint(s.admin, a!, { key: 'example.com/maintenance', effect: 'NoSchedule' });
    const config = { ...TEST_CONFIG, dryRun: true, taintInclude: ['example.com/*'] };
    const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config });
    const outcomes = await relocator.handle({ id: 'dry', source: 'manual', observedAt: new Date().toISOString(), target: { kind: 'node', node: { name: a! } } });
    expect(outcomes).toEqual([expect.objectContaining({ kind: 'skipped', reason: 'dry-run', dryRun: true })]);
    expect(outcomes[0]!.message).toMatch(new RegExp(`^dry-run: would delete ${ns}/${sts}-0 \\(uid ${pod.metadata!.uid}\\) from ${a} because tainted example.com/maintenance:NoSchedule; .*\\(the apiserver accepted it in dry-run\\)$`));
    const still = await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` });
    expect(still.metadata?.uid).toBe(pod.metadata?.uid);
    expect(still.metadata?.deletionTimestamp).toBeUndefined();
    await eventually('the dry-run to be recorded on the StatefulSet', () => s.eventReasons(ns, sts), (r) => r.includes('AssistantRelocationDryRun'));
    expect(await s.eventReasons(ns, sts)).not.toContain('AssistantDeleting');
  });

  it('takes no action at all on malformed events, and says which field was wrong', async () => {
    const [a, b] = await s.pool('malformed', 2);
    const { sts, ns, pod } = await s.assistant('malformed', { startOn: a!, others: [b!] });
    const { cluster: counted, calls } = s.recordingCluster();
    const relocator = new Relocator({ cluster: counted, config: TEST_CONFIG, sinks: [] });
    const corpus = fixtureFiles('malformed').filter((f) => f !== 'cases.json');
    expect(corpus.length).toBeGreaterThanOrEqual(15);
    for (const file of corpus) {
      // Aimed at this very node where a node is named; any cluster call at all would be recorded.
      const raw = JSON.parse(JSON.stringify(fixtureJson(`malformed/${file}`)).replaceAll('ip-10-0-12-34.eu-west-1.compute.internal', a!)) as unknown;
      const err = await onTriggerEvent(raw, { relocator, cluster: 'test' }).catch((e: unknown) => e);
      expect(err, file).toBeInstanceOf(InvalidEventError);
    }
    expect(calls).toEqual([]);
    expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata?.uid).toBe(pod.metadata?.uid);
  });
});
