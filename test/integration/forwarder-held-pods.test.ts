/**
 * The forwarder's watch of Pending TaskRun pods on the real control plane: the real kube-scheduler marks a
 * TaskRun pod Unschedulable beside its assistant (it asks for more cpu than the assistant's node has), and
 * the forwarder publishes "TaskRun Pod Unschedulable" once the grace has passed, again after the repeat,
 * and nothing once the pod is deleted or bound, nor for a Pending TaskRun pod that no assistant holds.
 * The apiserver takes the watch's label and field selectors as they are (a refused selector would fail the
 * first list). It runs as the relocator identity, whose ClusterRole, like the forwarder's, lists and
 * watches pods cluster-wide: the watch needs no other grant.
 *
 * Absence is proven without waiting on the clock: a marker pod, held too, is created after the change;
 * a single watch delivers changes in order, so once the marker has been published the watcher has seen the
 * change, and once the marker has been published again a whole repeat has passed since.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelocatorConfig } from '../../src/domain/config.js';
import { TASKRUN_POD_UNSCHEDULABLE, type PutEventsEntry } from '../../src/events/contract.js';
import { parseTriggerEvent } from '../../src/events/parse.js';
import type { TaskRunPodUnschedulableDetail } from '../../src/events/taskrun-pod-unschedulable.js';
import { SlimInformer } from '../../src/forwarder/slim-informer.js';
import { ClusterWatcher, slimNode } from '../../src/forwarder/watcher.js';
import { delivered } from '../../src/local/delivered.js';
import { eventually, mergePatch } from '../../src/local-cluster/fixtures/clients.js';
import { readPodOrUndefined } from '../../src/local-cluster/fixtures/pods.js';
import { type PipelineRun, taskRunPod } from '../../src/local-cluster/fixtures/tekton.js';
import { Scenario, TEST_CONFIG, waitForBoundPod } from './support.js';

const CONFIG: RelocatorConfig = { ...TEST_CONFIG, pendingGraceMs: 2_000 };
/** Repeats every 3 s instead of 15 s doubling to 60 s (the schedule itself is unit-tested). */
const TIMINGS = { firstRepeatMs: 3_000, maxRepeatMs: 3_000 };

let s: Scenario;
let watcher: ClusterWatcher;
const published: PutEventsEntry[] = [];

beforeAll(async () => {
  s = await Scenario.start();
  watcher = new ClusterWatcher({
    kc: s.cp.kubeConfig('relocator'),
    cluster: 'test',
    config: CONFIG,
    assistantSelector: CONFIG.assistantSelector,
    publisher: { publish: async (entries) => void published.push(...entries) },
    heldPodTimings: TIMINGS,
  });
  await watcher.start();
});
afterAll(async () => {
  await watcher?.stop();
  await s?.stop();
});

/** The "TaskRun Pod Unschedulable" details published about one pod, each valid as a Lambda receives it. */
function heldEvents(ns: string, name: string, from: PutEventsEntry[] = published): TaskRunPodUnschedulableDetail[] {
  return from
    .filter((e) => e.DetailType === TASKRUN_POD_UNSCHEDULABLE)
    .map((e) => {
      parseTriggerEvent(delivered(e));
      return JSON.parse(e.Detail) as TaskRunPodUnschedulableDetail;
    })
    .filter((d) => d.pod.namespace === ns && d.pod.name === name);
}

/** A TaskRun pod of `pr` (Tekton's affinity to `assistant` unless `affinity` says otherwise) asking for `cpu`. */
async function createTaskRunPod(pr: PipelineRun, task: string, assistant: string, o: { cpu: string; affinity?: 'assistant' | 'none' | 'not-an-assistant' }): Promise<V1Pod> {
  const pod = taskRunPod(pr, task, assistant);
  pod.spec!.containers[0]!.resources = { requests: { cpu: o.cpu } };
  if (o.affinity === 'none') delete pod.spec!.affinity;
  if (o.affinity === 'not-an-assistant') {
    pod.spec!.affinity = { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { 'app.kubernetes.io/instance': assistant, app: 'db' } }, topologyKey: 'kubernetes.io/hostname' }] } };
  }
  return s.admin.core.createNamespacedPod({ namespace: pr.metadata.namespace, body: pod });
}

/** Waits until the scheduler has marked the pod Unschedulable; returns the condition's lastTransitionTime. */
async function unschedulableSince(ns: string, name: string): Promise<Date> {
  const pod = await eventually(
    `the scheduler to mark ${ns}/${name} Unschedulable`,
    () => s.admin.core.readNamespacedPod({ namespace: ns, name }),
    (p) => (p.status?.conditions ?? []).some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable'),
  );
  return new Date(pod.status!.conditions!.find((c) => c.type === 'PodScheduled')!.lastTransitionTime!);
}

/**
 * Creates a held marker pod and waits until it has been published twice: by then the watcher has seen every
 * change made before the marker was created, and a whole repeat has passed since.
 */
async function afterAWholeRepeat(pr: PipelineRun, assistant: string, marker: string): Promise<void> {
  await createTaskRunPod(pr, marker, assistant, { cpu: '64' });
  const name = `${pr.metadata.name}-${marker}-pod`;
  await eventually(`two events about the marker ${name}`, async () => heldEvents(pr.metadata.namespace, name), (l) => l.length >= 2, { timeoutMs: 60_000 });
}

describe('"TaskRun Pod Unschedulable" from the real watch', () => {
  it('publishes a TaskRun pod held beside its assistant once the grace has passed, again while it stays held, and nothing once it is deleted', async () => {
    const [a, b] = await s.pool('held', 2, { cpu: '2' });
    const { pr, sts, ns } = await s.assistant('held', { startOn: a!, others: [b!] });
    // PENDING_TASKRUNS=off: a second watcher does not even watch TaskRun pods.
    const offPublished: PutEventsEntry[] = [];
    const off = new ClusterWatcher({
      kc: s.cp.kubeConfig('relocator'),
      cluster: 'test',
      config: { ...CONFIG, pendingTaskRuns: 'off' },
      assistantSelector: CONFIG.assistantSelector,
      publisher: { publish: async (entries) => void offPublished.push(...entries) },
      heldPodTimings: TIMINGS,
    });
    await off.start();
    try {
      const created = await createTaskRunPod(pr, 'big', sts, { cpu: '3' });
      const name = created.metadata!.name!;
      const since = await unschedulableSince(ns, name);
      const events = await eventually('two events about the held pod', async () => heldEvents(ns, name), (l) => l.length >= 2);

      expect(events[0]).toMatchObject({
        cluster: 'test',
        pod: { namespace: ns, name, uid: created.metadata!.uid },
        assistant: sts,
        unschedulableSince: since.toISOString(),
        message: expect.stringContaining('Insufficient cpu'),
      });
      // Not before the grace, counted from the condition; the repeat not before its wait.
      expect(Date.parse(events[0]!.observedAt) - since.getTime()).toBeGreaterThanOrEqual(CONFIG.pendingGraceMs);
      expect(Date.parse(events[1]!.observedAt) - Date.parse(events[0]!.observedAt)).toBeGreaterThanOrEqual(TIMINGS.firstRepeatMs);

      await s.admin.core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
      await eventually('the pod to be gone', () => readPodOrUndefined(s.admin, ns, name), (p) => p === undefined);
      const before = heldEvents(ns, name).length;
      await afterAWholeRepeat(pr, sts, 'marker-deleted');
      expect(heldEvents(ns, name)).toHaveLength(before);

      expect(heldEvents(ns, name, offPublished)).toEqual([]);
      expect(off.stats()).toMatchObject({ lists: 2, heldPods: 0 });
    } finally {
      await off.stop();
    }
  });

  it('publishes nothing more once the held pod is bound, when its assistant\'s node has room for it after all', async () => {
    const [a, b] = await s.pool('bound', 2, { cpu: '2' });
    const { pr, sts, ns } = await s.assistant('bound', { startOn: a!, others: [b!] });
    const name = (await createTaskRunPod(pr, 'big', sts, { cpu: '3' })).metadata!.name!;
    await unschedulableSince(ns, name);
    await eventually('an event about the held pod', async () => heldEvents(ns, name), (l) => l.length >= 1);

    // The node grows (as a resized VM would report): the scheduler retries the pod and binds it beside its assistant.
    const room = { cpu: '8', memory: '16Gi', pods: '110' };
    await s.admin.core.patchNodeStatus({ name: a!, body: { status: { capacity: room, allocatable: room } } }, mergePatch);
    expect((await waitForBoundPod(s.admin, ns, name)).spec?.nodeName).toBe(a);
    const before = heldEvents(ns, name).length;
    await afterAWholeRepeat(pr, sts, 'marker-bound');
    expect(heldEvents(ns, name)).toHaveLength(before);
  });

  it('publishes nothing for a Pending TaskRun pod that no assistant holds: no affinity, or affinity to something else', async () => {
    const [a, b] = await s.pool('free', 2, { cpu: '2' });
    const { pr, sts, ns } = await s.assistant('free', { startOn: a!, others: [b!] });
    const loose = (await createTaskRunPod(pr, 'loose', sts, { cpu: '64', affinity: 'none' })).metadata!.name!;
    const other = (await createTaskRunPod(pr, 'other', sts, { cpu: '64', affinity: 'not-an-assistant' })).metadata!.name!;
    // Both Pending and Unschedulable, as long as any held pod: only the assistant's affinity is missing.
    await unschedulableSince(ns, loose);
    await unschedulableSince(ns, other);
    await afterAWholeRepeat(pr, sts, 'marker-free');
    expect(heldEvents(ns, loose)).toEqual([]);
    expect(heldEvents(ns, other)).toEqual([]);
  });
});

describe('the list of a watch, page by page', () => {
  it('sees every object of a list longer than a page once, and the watch after it', async () => {
    const seen: string[] = [];
    const informer = new SlimInformer({ kc: s.cp.kubeConfig('relocator'), path: '/api/v1/nodes', pageSize: 2, slim: slimNode, onUpsert: (n) => void seen.push(n.metadata!.name!), onDelete: () => undefined });
    try {
      await informer.start();
      const names = (await s.admin.core.listNode()).items.map((n) => n.metadata!.name!);
      expect(names.length).toBeGreaterThan(4); // several pages
      expect([...seen].sort()).toEqual([...names].sort());
      await s.pool('paged', 1);
      await eventually('the watch after the pages to see a new node', async () => seen, (l) => l.includes('paged-1'));
    } finally {
      await informer.stop();
    }
  });
});
