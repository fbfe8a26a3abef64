/**
 * The relocator's admission policy (infra/kubernetes/admission) on the real apiserver, on top of the
 * shipped RBAC: the relocator identity may delete affinity-assistant pods and nothing else, whatever its
 * ClusterRole grants. Then the Alertmanager webhook end to end through that policy, and the notification
 * dedupe keeping its state in the cluster (marker Events on the StatefulSet), as the relocator identity.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BearerVerifier } from '../../src/alerts/token.js';
import { DEFAULT_NODE_ALERTS } from '../../src/alerts/triggers.js';
import { handleAlertmanagerWebhook, type WebhookResponse } from '../../src/alerts/webhook.js';
import { KubernetesCluster } from '../../src/cluster/api.js';
import { INTERRUPTION_TAINT_KEY, taintsWithInterruption, taintsWithoutInterruption } from '../../src/domain/interruption-taint.js';
import { handle } from '../../src/relocator/handlers.js';
import { lambdaSinks } from '../../src/lambda/runtime.js';
import { DEFAULT_DEDUPE_WINDOW_MS } from '../../src/relocator/notifications.js';
import { clusterFor, createRelocator } from '../../src/runtime/relocator.js';
import { applyAdmissionPolicies } from '../../src/local-cluster/fixtures/admission.js';
import { type Clients, eventually, mergePatch, statusOf } from '../../src/local-cluster/fixtures/clients.js';
import { setReady } from '../../src/local-cluster/fixtures/nodes.js';
import { createNamespace, readPodOrUndefined } from '../../src/local-cluster/fixtures/pods.js';
import { COMPONENT_AFFINITY_ASSISTANT, LABEL_COMPONENT } from '../../src/local-cluster/fixtures/tekton.js';
import { fixtureText, httpEvent } from '../unit/alerts/fixtures.js';
import { recordingBus, Scenario, TEST_CONFIG, waitForBoundPod } from './support.js';

const POLICY_MESSAGE = 'affinity-relocator may delete only';

/** The status and the apiserver's message of a call. */
async function answer(call: Promise<unknown>): Promise<{ status: number; message: string }> {
  return call.then(
    () => ({ status: 200, message: '' }),
    (e: unknown) => ({ status: statusOf(e) ?? -1, message: String((e as { body?: { message?: unknown } }).body?.message ?? e) }),
  );
}

const podSpec = { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] };

let s: Scenario;
const NS = 'admission';

beforeAll(async () => {
  s = await Scenario.start();
  await applyAdmissionPolicies(s.admin);
  await createNamespace(s.admin, NS);
  await s.admin.core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'probe' }, spec: podSpec } });
  // RBAC bindings and policies both take effect asynchronously: try a dry-run delete until the policy
  // (not RBAC, which answers 403 too until the binding is seen) refuses it.
  await eventually(
    'the admission policy to refuse the relocator',
    () => answer(s.relocator.core.deleteNamespacedPod({ namespace: NS, name: 'probe', dryRun: 'All' })),
    (a) => a.status === 403 && a.message.includes(POLICY_MESSAGE),
    { timeoutMs: 60_000, intervalMs: 250 },
  );
});

afterAll(async () => {
  await s?.stop();
});

describe('the admission policy for the relocator identity', () => {
  it('refuses to let it delete a pod that is not an affinity assistant, dry run included', async () => {
    await s.admin.core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'web', labels: { app: 'web' } }, spec: podSpec } });
    for (const dryRun of [undefined, 'All']) {
      const a = await answer(s.relocator.core.deleteNamespacedPod({ namespace: NS, name: 'web', dryRun }));
      expect(a.status).toBe(403);
      expect(a.message).toContain(`${POLICY_MESSAGE} affinity-assistant pods (label app.kubernetes.io/component=affinity-assistant): admission/web is not one`);
    }
    expect(await readPodOrUndefined(s.admin, NS, 'web')).toBeDefined();
  });

  it('refuses a pod that wears the assistant label but that no StatefulSet would recreate', async () => {
    const labels = { [LABEL_COMPONENT]: COMPONENT_AFFINITY_ASSISTANT };
    await s.admin.core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'impostor', labels }, spec: podSpec } });
    const a = await answer(s.relocator.core.deleteNamespacedPod({ namespace: NS, name: 'impostor' }));
    expect(a.status).toBe(403);
    expect(a.message).toContain(`${POLICY_MESSAGE} pods that a StatefulSet controls, and so recreates: admission/impostor has no StatefulSet controller`);
  });

  it('lets it delete an affinity-assistant pod, which its StatefulSet recreates', async () => {
    const [node] = await s.pool('allowed', 1);
    const { sts, ns, pod } = await s.assistant('allowed', { startOn: node!, others: [] });
    const uid = pod.metadata!.uid!;
    const a = await answer(s.relocator.core.deleteNamespacedPod({ namespace: ns, name: `${sts}-0`, body: { preconditions: { uid } } }));
    expect(a).toEqual({ status: 200, message: '' });
    await waitForBoundPod(s.admin, ns, `${sts}-0`, { notUid: uid });
  });

  it('does not constrain anyone else', async () => {
    await s.admin.core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'admin-may' }, spec: podSpec } });
    expect(await answer(s.admin.core.deleteNamespacedPod({ namespace: NS, name: 'admin-may' }))).toEqual({ status: 200, message: '' });
  });
});

describe('the node policy for the relocator identity: its own interruption taint and nothing else', () => {
  const NODE_MESSAGE = 'affinity-relocator may change only its own NoSchedule taint affinity-relocator.io/interruption on a node';
  const ours = { key: INTERRUPTION_TAINT_KEY, value: 'aws-spot-interruption.20261125T184000Z', effect: 'NoSchedule' };
  const theirs = { key: 'dedicated', value: 'ci', effect: 'NoSchedule' };
  const patchAs = (c: Clients, name: string, body: object) => answer(c.core.patchNode({ name, body }, mergePatch));

  beforeAll(async () => {
    // The apiserver may load this policy a moment after the pod policy that the file's beforeAll waited for.
    const [probe] = await s.pool('node-probe', 1);
    await eventually('the node policy to refuse a cordon', () => patchAs(s.relocator, probe!, { metadata: { labels: { probe: 'x' } } }), (a) => a.status === 403);
  });

  it("lets it add and lift its own NoSchedule taint, the node's other taints kept", async () => {
    const [node] = await s.pool('marked', 1);
    await s.admin.core.patchNode({ name: node!, body: { spec: { taints: [theirs] } } }, mergePatch);

    // Exactly the requests the relocator sends (a merge patch of the whole list with the read resourceVersion).
    const cluster = new KubernetesCluster(s.cp.kubeConfig('relocator'), { assistantSelector: TEST_CONFIG.assistantSelector });
    expect(await cluster.updateNodeTaints(node!, (t) => taintsWithInterruption(t, ours))).toBe('updated');
    expect((await s.admin.core.readNode({ name: node! })).spec?.taints).toEqual([theirs, ours]);
    expect(await cluster.updateNodeTaints(node!, (t) => taintsWithInterruption(t, ours))).toBe('unchanged');
    expect(await cluster.updateNodeTaints(node!, taintsWithoutInterruption)).toBe('updated');
    expect((await s.admin.core.readNode({ name: node! })).spec?.taints).toEqual([theirs]);
  });

  it.each([
    ['cordon it', { spec: { unschedulable: true } }, 'would be cordoned, uncordoned or relabelled'],
    ['label it', { metadata: { labels: { pool: 'elsewhere' } } }, 'would be cordoned, uncordoned or relabelled'],
    ['annotate it', { metadata: { annotations: { note: 'x' } } }, 'would be cordoned, uncordoned or relabelled'],
    ['add a taint of another key', { spec: { taints: [theirs, { key: 'evil', effect: 'NoSchedule' }] } }, 'would have other taints changed'],
    ['remove a taint of someone else', { spec: { taints: [] } }, 'would have other taints changed'],
    ['put its own key as NoExecute (evicting pods)', { spec: { taints: [theirs, { ...ours, effect: 'NoExecute' }] } }, 'would get it with another effect than NoSchedule'],
  ])('refuses to let it %s', async (what, body, why) => {
    const [node] = await s.pool(`refused-${what.split(' ')[0]}-${what.length}`, 1);
    await s.admin.core.patchNode({ name: node!, body: { spec: { taints: [theirs] } } }, mergePatch);
    const before = await s.admin.core.readNode({ name: node! });

    const a = await patchAs(s.relocator, node!, body);

    expect(a.status).toBe(403);
    expect(a.message).toContain(`${NODE_MESSAGE}: ${node} ${why}`);
    const after = await s.admin.core.readNode({ name: node! });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
  });

  it('does not constrain anyone else on nodes', async () => {
    const [node] = await s.pool('admin-node', 1);
    expect(await patchAs(s.admin, node!, { metadata: { labels: { extra: 'yes' } } })).toEqual({ status: 200, message: '' });
  });
});

describe('the Alertmanager webhook on the real cluster, as the relocator identity', () => {
  const TOKEN = 'b4e1f0c2d9a87e6f5a4b3c2d1e0f9a8b';

  /**
   * The webhook wired like the Lambda, with the Lambdas' own sinks (the result-event sink behind the
   * notification gate) and a recording bus client (`published`; `notified`: those with notify=true).
   */
  function webhook(o: { windowMs?: number; now?: () => Date } = {}) {
    const { bus, published } = recordingBus();
    const kc = s.cp.kubeConfig('relocator');
    const cluster = clusterFor(kc, TEST_CONFIG);
    const sinks = lambdaSinks({ ledger: cluster, cluster: 'test', eventBusName: 'affinity-relocator-test', notifyWindowMs: o.windowMs ?? DEFAULT_DEDUPE_WINDOW_MS, bus, now: o.now });
    const { relocator } = createRelocator({ kc, cluster, config: TEST_CONFIG, sinks });
    const deps = { relocator, cluster: 'test' };
    const send = async (event: ReturnType<typeof httpEvent>): Promise<{ status: number; body: WebhookResponse }> => {
      const r = await handleAlertmanagerWebhook(event, {
        verifier: new BearerVerifier(async () => TOKEN),
        alertNames: DEFAULT_NODE_ALERTS,
        relocate: (t) => handle(t, deps),
      });
      return { status: r.statusCode ?? 0, body: JSON.parse(r.body ?? 'null') as WebhookResponse };
    };
    const post = (alerts: { node: string; fingerprint: string }[]) =>
      send(httpEvent({ headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(notReadyAlerts(alerts)) }));
    return {
      send,
      post,
      published,
      relocator,
      get notified() {
        return published.filter((d) => d.notify);
      },
    };
  }

  function notReadyAlerts(alerts: { node: string; fingerprint: string }[]) {
    const startsAt = new Date(Date.now() - 15 * 60_000).toISOString();
    return {
      version: '4',
      groupKey: '{}:{alertname="KubeNodeNotReady"}',
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'affinity-relocator',
      groupLabels: { alertname: 'KubeNodeNotReady' },
      commonLabels: { alertname: 'KubeNodeNotReady', job: 'kube-state-metrics', severity: 'warning' },
      commonAnnotations: { summary: 'Node is not ready.' },
      externalURL: 'http://alertmanager.monitoring:9093',
      alerts: alerts.map(({ node, fingerprint }) => ({
        status: 'firing',
        labels: { alertname: 'KubeNodeNotReady', job: 'kube-state-metrics', node, severity: 'warning' },
        annotations: { summary: 'Node is not ready.', description: `${node} has been unready for more than 15 minutes.` },
        startsAt,
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.monitoring:9090/graph',
        fingerprint,
      })),
    };
  }

  /**
   * The node NotReady for a minute, as a real cluster has it by then: with the not-ready taint the node
   * lifecycle controller adds within its monitor period. Without it the scheduler, which reads taints and
   * not conditions, could bind the replacement straight back to the node.
   */
  async function notReadySinceAMinute(node: string): Promise<void> {
    await setReady(s.admin, node, 'False', new Date(Date.now() - 60_000));
    await eventually(`${node} to get the not-ready taint`, () => s.admin.core.readNode({ name: node }), (n) => (n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/not-ready' && t.effect === 'NoSchedule'));
  }

  /** Reasons of the marker Events of the notification dedupe on a StatefulSet. */
  async function notifiedMarkers(ns: string, sts: string): Promise<string[]> {
    return (await s.eventReasons(ns, sts)).filter((r) => r.startsWith('Notified')).sort();
  }

  it('moves the assistant off the node a KubeNodeNotReady alert names, and a repeat of the alert changes nothing', async () => {
    const [a, b] = await s.pool('alerted', 2);
    const { sts, ns, pod } = await s.assistant('alerted', { startOn: a!, others: [b!] });
    await notReadySinceAMinute(a!);
    const w = webhook();

    const first = await w.post([{ node: a!, fingerprint: '4f7c2a8e9b1d3c05' }]);
    expect(first.status).toBe(200);
    expect(first.body.accepted).toBe(1);
    expect(first.body.outcomes).toEqual([
      expect.objectContaining({ kind: 'started', fromNode: a, forced: true, triggerSource: 'alert', triggerId: '4f7c2a8e9b1d3c05' }),
    ]);
    expect((await waitForBoundPod(s.admin, ns, `${sts}-0`, { notUid: pod.metadata!.uid! })).spec?.nodeName).toBe(b);
    // The webhook returns once the pod is deleted; whoever sees the replacement bound confirms the move.
    expect(await w.relocator.awaitSettlement(first.body.outcomes[0]!)).toMatchObject({ kind: 'relocated', fromNode: a, toNode: b, triggerId: '4f7c2a8e9b1d3c05' });

    // Alertmanager repeats a firing alert (repeat_interval): node a has no assistant any more.
    const repeat = await w.post([{ node: a!, fingerprint: '4f7c2a8e9b1d3c05' }]);
    expect(repeat).toMatchObject({ status: 200, body: { accepted: 1, outcomes: [] } });
    expect(w.notified.map((o) => o.kind)).toEqual(['relocated']);
    // A relocation is notified without a ledger claim: its settlement is claimed once per delete already.
    expect(await notifiedMarkers(ns, sts)).toEqual([]);
  });

  it('answers unauthenticated, oversized, foreign and malformed payloads without touching the assistant, then relocates on a valid one', async () => {
    const [a, b] = await s.pool('guarded', 2);
    const { sts, ns, pod } = await s.assistant('guarded', { startOn: a!, others: [b!] });
    await notReadySinceAMinute(a!);
    const w = webhook();
    const auth = { authorization: `Bearer ${TOKEN}` };
    const valid = JSON.stringify(notReadyAlerts([{ node: a!, fingerprint: '5a6b7c8d9e0f1a2b' }]));

    const refused = [
      ['no token', await w.send(httpEvent({ body: valid }))],
      ['a wrong token', await w.send(httpEvent({ headers: { authorization: `Bearer ${TOKEN.replace(/.$/, '0')}` }, body: valid }))],
      ['a body over 64 KiB', await w.send(httpEvent({ headers: auth, body: valid.replace('"version"', `"padding":"${'x'.repeat(65 * 1024)}","version"`) }))],
      ['a GitHub push', await w.send(httpEvent({ headers: auth, body: fixtureText('foreign/github-push.json') }))],
      ['webhook version 3', await w.send(httpEvent({ headers: auth, body: fixtureText('foreign/version-3.json') }))],
      ['not JSON', await w.send(httpEvent({ headers: auth, body: '{"version":"4",' }))],
    ] as const;
    expect(refused.map(([what, r]) => [what, r.status])).toEqual([
      ['no token', 401],
      ['a wrong token', 401],
      ['a body over 64 KiB', 413],
      ['a GitHub push', 400],
      ['webhook version 3', 400],
      ['not JSON', 400],
    ]);
    // A node alert about a node this cluster does not have is answered, and moves nothing.
    const stranger = await w.post([{ node: 'ip-10-99-0-1.eu-west-1.compute.internal', fingerprint: '0f1e2d3c4b5a6978' }]);
    expect(stranger).toMatchObject({ status: 200, body: { accepted: 1, outcomes: [] } });
    expect(w.published).toEqual([]);
    expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata?.uid).toBe(pod.metadata?.uid);

    const ok = await w.send(httpEvent({ headers: auth, body: valid }));
    expect(ok.status).toBe(200);
    expect(ok.body.outcomes).toEqual([expect.objectContaining({ kind: 'started', fromNode: a })]);
    expect(await w.relocator.awaitSettlement(ok.body.outcomes[0]!)).toMatchObject({ kind: 'relocated', fromNode: a, toNode: b });
  });

  it('grants exactly one of many simultaneous claims on the same StatefulSet and outcome kind', async () => {
    const ledger = clusterFor(s.cp.kubeConfig('relocator'), TEST_CONFIG);
    const key = { namespace: NS, statefulSet: 'affinity-assistant-race', statefulSetUid: '6f1c9e2a-0b7d-4c35-8e1f-2a3b4c5d6e7f', kind: 'failed' as const };
    const round = () => Promise.all(Array.from({ length: 8 }, () => ledger.claimNotification(key, new Date(), 60_000, 'failed (error): test')));
    expect((await round()).filter(Boolean)).toHaveLength(1);
    expect((await round()).filter(Boolean)).toHaveLength(0);
    // Another kind of outcome of the same StatefulSet is a notification of its own.
    expect(await ledger.claimNotification({ ...key, kind: 'stuck' }, new Date(), 60_000, 'stuck (pending): test')).toBe(true);
    const markers = await s.admin.core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.uid=${key.statefulSetUid}` });
    expect(markers.items.map((e) => `${e.reason} ${e.metadata?.name}`).sort()).toEqual([
      `NotifiedFailed ${key.statefulSetUid}.notified-failed.1`,
      `NotifiedStuck ${key.statefulSetUid}.notified-stuck.1`,
    ]);
  });

  it('notifies a blocked assistant once per window, however many triggers find it blocked', async () => {
    const [only] = await s.pool('stranded', 1);
    const { sts, ns, pod } = await s.assistant('stranded', { startOn: only!, others: [] });
    await setReady(s.admin, only!, 'False', new Date(Date.now() - 60_000));
    const windowMs = 5_000;
    // The notification window's clock, which the test moves on instead of waiting out the window.
    let laterMs = 0;
    const w = webhook({ windowMs, now: () => new Date(Date.now() + laterMs) });

    // Three notifications at once (Alertmanager HA peers, each sending), then one more.
    const alert = [{ node: only!, fingerprint: '0718293a4b5c6d7e' }];
    const answers = [...(await Promise.all([w.post(alert), w.post(alert), w.post(alert)])), await w.post(alert)];
    for (const r of answers) {
      expect(r.status).toBe(200);
      expect(r.body.outcomes).toEqual([expect.objectContaining({ kind: 'blocked', reason: 'no-feasible-node' })]);
    }
    // Every outcome is still a result event on the bus; only the first is a notification.
    expect(w.published.map((d) => `${d.kind} ${d.notify}`).sort()).toEqual(['blocked false', 'blocked false', 'blocked false', 'blocked true']);
    expect(w.notified).toHaveLength(1);
    expect(w.notified[0]).toMatchObject({ kind: 'blocked', assistant: expect.objectContaining({ statefulSetUid: expect.any(String) }) });
    expect(await notifiedMarkers(ns, sts)).toEqual(['NotifiedBlocked']);
    // Nothing was deleted: blocked means left in place.
    expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata?.uid).toBe(pod.metadata?.uid);

    // The window slides: once it has passed, the next blocked outcome is notified again (the apiserver
    // stores Event times in whole seconds, hence the extra second).
    laterMs = windowMs + 1_500;
    await w.post(alert);
    expect(w.notified).toHaveLength(2);
    expect(w.published).toHaveLength(5);
    expect(await notifiedMarkers(ns, sts)).toEqual(['NotifiedBlocked', 'NotifiedBlocked']);
  });
});
