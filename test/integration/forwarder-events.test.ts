/**
 * The forwarder's watch on the real control plane: exactly the expected events, in order per object,
 * valid against the contract; nothing for heartbeats; nothing missed across an apiserver restart;
 * capacity (a node schedulable again, a node joining) for any node, and no storm on start.
 */

import type { V1Node } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PutEventsEntry } from '../../src/events/contract.js';
import { parseTriggerEvent } from '../../src/events/parse.js';
import { delivered } from '../../src/local/delivered.js';
import { ClusterWatcher } from '../../src/forwarder/watcher.js';
import { eventually, mergePatch } from '../../src/local-cluster/fixtures/clients.js';
import { addTaint, removeTaint, setReady, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { Scenario, TEST_CONFIG } from './support.js';

let s: Scenario;
let watcher: ClusterWatcher;
const published: PutEventsEntry[] = [];

beforeAll(async () => {
  s = await Scenario.start();
  watcher = new ClusterWatcher({
    kc: s.cp.kubeConfig('relocator'),
    cluster: 'test',
    config: TEST_CONFIG,
    assistantSelector: TEST_CONFIG.assistantSelector,
    publisher: { publish: async (entries) => void published.push(...entries) },
  });
  await watcher.start();
});
afterAll(async () => {
  await watcher?.stop();
  await s?.stop();
});

type Summary = { type: string; object: string; what: string };
function summary(e: PutEventsEntry): Summary {
  const d = JSON.parse(e.Detail) as {
    node?: { name: string; resourceVersion: string };
    reasons?: { code: string }[];
    pod?: { namespace: string; name: string; nodeName?: string };
    change?: string;
  };
  // Every published entry is a valid event of the contract, as a Lambda would receive it.
  parseTriggerEvent(delivered(e));
  if (d.node) return { type: e.DetailType, object: `node/${d.node.name}`, what: d.reasons!.map((r) => r.code).sort().join('+') || 'schedulable' };
  return { type: e.DetailType, object: `pod/${d.pod!.namespace}/${d.pod!.name}`, what: `${d.change}@${d.pod!.nodeName ?? '-'}` };
}
/** What was published about one object, from the `from`-th entry on. */
const about = (object: string, from = 0) => published.slice(from).map(summary).filter((x) => x.object === object);

describe('forwarder events from the real watch', () => {
  it('publishes cordon, taint and uncordon of a node hosting an assistant, its deletion, and the bind, delete and re-bind of the assistant, in order', async () => {
    const [a, b] = await s.pool('events', 2);
    const { sts, ns } = await s.assistant('events', { startOn: a!, others: [b!] });
    const pod = `pod/${ns}/${sts}-0`;
    const node = `node/${a}`;
    await eventually('the bind', async () => about(pod), (l) => l.length === 1);
    // Both nodes joined (capacity, published once the not-ready taint of a new node was lifted), and b's
    // uncordon in the set-up was capacity too: what follows is measured from here.
    await eventually('the joins', async () => [about(node), about(`node/${b}`)], (l) => l.every((x) => x.length >= 1));
    expect([...about(node), ...about(`node/${b}`)].every((x) => x.what === 'schedulable')).toBe(true);
    const from = published.length;

    await setUnschedulable(s.admin, a!, true);
    await eventually('the cordon', async () => about(node, from), (l) => l.length === 1);
    await addTaint(s.admin, a!, { key: 'karpenter.sh/disrupted', effect: 'NoSchedule' });
    await eventually('the taint', async () => about(node, from), (l) => l.length === 2);
    await setUnschedulable(s.admin, a!, false);
    await eventually('the uncordon', async () => about(node, from), (l) => l.length === 3);

    // Move the assistant by hand: delete it while a is tainted, so it lands on b.
    await s.admin.core.deleteNamespacedPod({ namespace: ns, name: `${sts}-0` });
    await eventually('the delete and the new bind', async () => about(pod), (l) => l.length === 3);
    // b hosts the assistant now: its deletion is a transition (a, which hosts none, would not be).
    await s.admin.core.deleteNode({ name: b! });
    await eventually('the node delete', async () => about(`node/${b}`, from), (l) => l.some((x) => x.what === 'Gone'));

    // Still tainted after the uncordon: a is no capacity, so nothing follows the uncordon's verdict change.
    expect(about(node, from).map((x) => x.what)).toEqual(['Cordoned', 'Cordoned+Tainted', 'Tainted']);
    // (the second step of b's uncordon in the set-up, the cordon taint lifted, may land after `from`.)
    expect(about(`node/${b}`, from).map((x) => x.what).filter((w) => w !== 'schedulable')).toEqual(['Gone']);
    expect(about(pod).map((x) => x.what)).toEqual([`bound@${a}`, `deleted@${a}`, `bound@${b}`]);
    expect(about(node).every((x) => x.type === 'Node Schedulability Changed')).toBe(true);
  });

  it('publishes nothing for 200 heartbeat-only updates of a node hosting an assistant', async () => {
    const [a, b] = await s.pool('heartbeat', 2);
    const { sts, ns } = await s.assistant('heartbeat', { startOn: a!, others: [b!] });
    await eventually('the bind', async () => about(`pod/${ns}/${sts}-0`), (l) => l.length === 1);
    const before = published.length;
    const node = await s.admin.core.readNode({ name: a! });
    for (let i = 0; i < 200; i++) {
      const now = new Date(Date.now() + i * 1000);
      const conditions = node.status!.conditions!.map((c) => (c.type === 'Ready' ? { ...c, lastHeartbeatTime: now } : c));
      await s.admin.core.patchNodeStatus({ name: a!, body: { status: { conditions } } }, mergePatch);
    }
    // A marker after the heartbeats: once its event is in, every heartbeat has been seen.
    await setUnschedulable(s.admin, a!, true);
    await eventually('the marker', async () => published.slice(before).map(summary), (l) => l.some((x) => x.object === `node/${a}`));
    // (b's uncordon in the set-up is capacity, whose second step may land in this window: not a heartbeat's.)
    expect(published.slice(before).map(summary).filter((x) => x.object !== `node/${b}`)).toEqual([{ type: 'Node Schedulability Changed', object: `node/${a}`, what: 'Cordoned' }]);
  });

  it('misses no transition across an apiserver crash and the 410 Gone of its expired watch', async () => {
    const [a, b] = await s.pool('restart', 2);
    const { sts, ns } = await s.assistant('restart', { startOn: a!, others: [b!] });
    await eventually('the bind', async () => about(`pod/${ns}/${sts}-0`), (l) => l.length === 1);
    const listsBefore = watcher.stats().lists;
    await s.cp.component('kube-apiserver').kill(); // a crash, not a graceful stop
    // While it is down, etcd's history is compacted past every resourceVersion the watcher holds.
    s.cp.compactEtcd();
    await s.cp.restartApiserver();
    await setUnschedulable(s.admin, a!, true);
    await eventually('the cordon after the restart', async () => about(`node/${a}`).filter((x) => x.what !== 'schedulable'), (l) => l.length === 1, { timeoutMs: 60_000 });
    // (a's one earlier event is its join, capacity.)
    expect(about(`node/${a}`).map((x) => x.what)).toEqual(['schedulable', 'Cordoned']);
    // The watcher resumes from its last resourceVersion after an outage and relists only on 410 Gone:
    // its resourceVersions were compacted away, so both watches relist. Each reconnects on its own
    // jittered backoff: the pod watch may still be waiting when the node watch has delivered the cordon.
    await eventually('both watches to relist', async () => watcher.stats().lists, (n) => n >= listsBefore + 2, { timeoutMs: 60_000 });
  });

  it('publishes capacity for nodes hosting nothing: a node joining, both steps of an uncordon, a lifted taint, Ready again', async () => {
    const [c1, c2] = await s.pool('capacity', 2);
    const hasTaint = (key: string) => (n: V1Node) => (n.spec?.taints ?? []).some((t) => t.key === key);
    const count = (node: string, n: number) => eventually(`${n} events about ${node}`, async () => nodeDetails(node), (l) => l.length >= n);

    // Joined: published once each can take pods (when the not-ready taint every new node gets is lifted).
    for (const n of [c1!, c2!]) expect((await count(n, 1)).map((d) => d.schedulable)).toEqual([true]);

    // Uncordon, once the node lifecycle controller has tainted the cordon: spec.unschedulable cleared (the
    // verdict changes), then the taint lifted (the verdict does not: it reports the cordon from the spec).
    await setUnschedulable(s.admin, c1!, true); // a cordon of a node hosting nothing is no news
    await eventually('the cordon taint', () => s.admin.core.readNode({ name: c1! }), hasTaint('node.kubernetes.io/unschedulable'));
    await setUnschedulable(s.admin, c1!, false);
    await eventually('the cordon taint to be lifted', () => s.admin.core.readNode({ name: c1! }), (n) => !hasTaint('node.kubernetes.io/unschedulable')(n));
    await count(c1!, 3);

    // A taint the verdict ignores (not in TAINT_INCLUDE) still kept pods off: its removal is capacity; its
    // addition is nothing. (It is also the marker: once it is in, every event about c1 before it is too.)
    await addTaint(s.admin, c2!, { key: 'example.com/maintenance', effect: 'NoSchedule' });
    await removeTaint(s.admin, c2!, 'example.com/maintenance');
    await count(c2!, 2);
    const uncordon = nodeDetails(c1!).slice(1);
    expect(uncordon.map((d) => d.schedulable)).toEqual([true, true]);
    expect(uncordon.map((d) => d.previousReasons?.map((r) => r.code))).toEqual([['Cordoned'], []]);
    expect(nodeDetails(c2!).map((d) => d.reasons)).toEqual([[], []]);

    // NotReady past the grace (the node controller taints it), then Ready again: capacity once the node can
    // take pods (the not-ready taint, older than the grace, keeps the verdict NotReady until it is lifted).
    await setReady(s.admin, c2!, 'False', new Date(Date.now() - 60_000));
    await eventually('the not-ready taint', () => s.admin.core.readNode({ name: c2! }), hasTaint('node.kubernetes.io/not-ready'));
    await setReady(s.admin, c2!, 'True');
    await eventually('the not-ready taint to be lifted', () => s.admin.core.readNode({ name: c2! }), (n) => !hasTaint('node.kubernetes.io/not-ready')(n));
    await count(c2!, 3);
    expect(nodeDetails(c2!).at(-1)).toMatchObject({ schedulable: true, reasons: [] });

    // Never two events for one update of a node.
    const updates = published.map((e) => JSON.parse(e.Detail) as Partial<NodeDetail>).filter((d) => d.node).map((d) => `${d.node!.name}@${d.node!.resourceVersion}`);
    expect(new Set(updates).size).toBe(updates.length);
  });

  it('publishes no capacity for the initial list of a new watcher (start, failover, resync), and capacity after it', async () => {
    // The cluster holds every node of the tests above: healthy, cordoned, tainted, some hosting assistants.
    const [d1] = await s.pool('fresh', 1, { unschedulable: true });
    const fresh: PutEventsEntry[] = [];
    const second = new ClusterWatcher({
      kc: s.cp.kubeConfig('relocator'),
      cluster: 'test',
      config: TEST_CONFIG,
      assistantSelector: TEST_CONFIG.assistantSelector,
      publisher: { publish: async (entries) => void fresh.push(...entries) },
    });
    try {
      await second.start();
      const nodes = (await s.admin.core.listNode()).items.length;
      expect(nodes).toBeGreaterThanOrEqual(8);
      await setUnschedulable(s.admin, d1!, false); // a marker: published by both watchers
      await eventually('the marker', async () => fresh.map(summary), (l) => l.some((x) => x.object === `node/${d1}`));
      const capacity = fresh.map(summary).filter((x) => x.what === 'schedulable');
      expect(capacity.map((x) => x.object)).toEqual(capacity.map(() => `node/${d1}`));
      expect(capacity.length).toBeGreaterThanOrEqual(1);
    } finally {
      await second.stop();
    }
  });
});

type NodeDetail = { node: { name: string; resourceVersion: string }; schedulable: boolean; reasons: { code: string }[]; previousReasons?: { code: string }[] };
function nodeDetails(node: string): NodeDetail[] {
  return published.map((e) => JSON.parse(e.Detail) as Partial<NodeDetail>).filter((d): d is NodeDetail => d.node?.name === node);
}
