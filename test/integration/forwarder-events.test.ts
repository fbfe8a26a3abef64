/**
 * The forwarder's watch on the real control plane: exactly the expected events, in order per object,
 * valid against the contract; nothing for heartbeats; nothing missed across an apiserver restart.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PutEventsEntry } from '../../src/events/contract.js';
import { parseTriggerEvent } from '../../src/events/parse.js';
import { delivered } from '../../src/local/delivered.js';
import { ClusterWatcher } from '../../src/forwarder/watcher.js';
import { eventually, mergePatch } from '../cluster/fixtures/clients.js';
import { addTaint, setUnschedulable } from '../cluster/fixtures/nodes.js';
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
    node?: { name: string };
    reasons?: { code: string }[];
    pod?: { namespace: string; name: string; nodeName?: string };
    change?: string;
  };
  // Every published entry is a valid event of the contract, as a Lambda would receive it.
  parseTriggerEvent(delivered(e));
  if (d.node) return { type: e.DetailType, object: `node/${d.node.name}`, what: d.reasons!.map((r) => r.code).sort().join('+') || 'schedulable' };
  return { type: e.DetailType, object: `pod/${d.pod!.namespace}/${d.pod!.name}`, what: `${d.change}@${d.pod!.nodeName ?? '-'}` };
}
const about = (object: string) => published.map(summary).filter((x) => x.object === object);

describe('forwarder events from the real watch', () => {
  it('publishes cordon, taint and uncordon of a node hosting an assistant, its deletion, and the bind, delete and re-bind of the assistant, in order', async () => {
    const [a, b] = await s.pool('events', 2);
    const { sts, ns } = await s.assistant('events', { startOn: a!, others: [b!] });
    const pod = `pod/${ns}/${sts}-0`;
    const node = `node/${a}`;
    await eventually('the bind', async () => about(pod), (l) => l.length === 1);

    await setUnschedulable(s.admin, a!, true);
    await eventually('the cordon', async () => about(node), (l) => l.length === 1);
    await addTaint(s.admin, a!, { key: 'karpenter.sh/disrupted', effect: 'NoSchedule' });
    await eventually('the taint', async () => about(node), (l) => l.length === 2);
    await setUnschedulable(s.admin, a!, false);
    await eventually('the uncordon', async () => about(node), (l) => l.length === 3);

    // Move the assistant by hand: delete it while a is tainted, so it lands on b.
    await s.admin.core.deleteNamespacedPod({ namespace: ns, name: `${sts}-0` });
    await eventually('the delete and the new bind', async () => about(pod), (l) => l.length === 3);
    // b hosts the assistant now: its deletion is a transition (a, which hosts none, would not be).
    await s.admin.core.deleteNode({ name: b! });
    await eventually('the node delete', async () => about(`node/${b}`), (l) => l.length === 1);

    expect(about(node).map((x) => x.what)).toEqual(['Cordoned', 'Cordoned+Tainted', 'Tainted']);
    expect(about(`node/${b}`).map((x) => x.what)).toEqual(['Gone']);
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
    await eventually('the marker', async () => published.length, (n) => n > before);
    expect(published.slice(before).map(summary)).toEqual([{ type: 'Node Schedulability Changed', object: `node/${a}`, what: 'Cordoned' }]);
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
    await eventually('the cordon after the restart', async () => about(`node/${a}`), (l) => l.length === 1, { timeoutMs: 60_000 });
    expect(about(`node/${a}`)[0]!.what).toBe('Cordoned');
    // The watcher resumes from its last resourceVersion after an outage and relists only on 410 Gone:
    // its resourceVersions were compacted away, so both watches must have relisted.
    expect(watcher.stats().lists).toBeGreaterThanOrEqual(listsBefore + 2);
  });
});

