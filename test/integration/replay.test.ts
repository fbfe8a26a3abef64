/**
 * Events are hints: hundreds of shuffled, duplicated, delayed and stale events, handled concurrently,
 * must end with every assistant on a healthy node and never delete a pod whose node is healthy.
 * Each delete is checked independently, at the moment it is issued, against the live pod and node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesCluster } from '../../src/cluster/api.js';
import { assessNode } from '../../src/domain/schedulability.js';
import type { PutEventsEntry } from '../../src/events/contract.js';
import { ClusterWatcher } from '../../src/forwarder/watcher.js';
import { onTriggerEvent } from '../../src/relocator/handlers.js';
import type { ClusterPort } from '../../src/relocator/ports.js';
import { Relocator } from '../../src/relocator/relocator.js';
import { eventually } from '../../src/local-cluster/fixtures/clients.js';
import { addTaint, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { delivered } from '../../src/local/delivered.js';
import { Scenario, TEST_CONFIG } from './support.js';

let s: Scenario;
beforeAll(async () => {
  s = await Scenario.start();
});
afterAll(async () => {
  await s?.stop();
});

/** Deterministic PRNG (mulberry32) so a failure can be replayed with the same seed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('replaying events in any order', () => {
  it('ends with every assistant on a healthy node and no healthy pod deleted', async () => {
    const seed = Number(process.env.REPLAY_SEED ?? 20261125);
    const random = rng(seed);
    const nodes = await s.pool('replay', 6);
    const assistants = [];
    for (let i = 0; i < 4; i++) {
      const others = nodes.filter((_, j) => j !== i);
      const a = await s.assistant(`replay`, { startOn: nodes[i]!, others, pipelineRun: `pr-replay-${i}` });
      assistants.push(a);
    }

    // The real watcher records what the forwarder would publish.
    const recorded: PutEventsEntry[] = [];
    const watcher = new ClusterWatcher({
      kc: s.cp.kubeConfig('relocator'),
      cluster: 'test',
      config: TEST_CONFIG,
      assistantSelector: TEST_CONFIG.assistantSelector,
      publisher: { publish: async (entries) => void recorded.push(...entries) },
    });
    await watcher.start();

    const live = new KubernetesCluster(s.cp.kubeConfig('relocator'), { assistantSelector: TEST_CONFIG.assistantSelector });
    const violations: string[] = [];
    const deletes: string[] = [];
    // Passes every call to the real cluster; before each real delete, checks the live state itself.
    const checked: ClusterPort = Object.assign(Object.create(live) as KubernetesCluster, {
      deletePod: async (ns: string, name: string, o: { uid: string; force: boolean; dryRun: boolean }) => {
        const pod = await live.getPod(ns, name);
        if (pod?.metadata?.uid === o.uid) {
          const node = pod.spec?.nodeName ? await live.getNode(pod.spec.nodeName) : undefined;
          if (assessNode(node, { now: new Date(), config: TEST_CONFIG }).schedulable) violations.push(`${ns}/${name} on healthy ${pod.spec?.nodeName}`);
        }
        deletes.push(`${ns}/${name}@${o.uid}`);
        return live.deletePod(ns, name, o);
      },
    });
    const relocator = new Relocator({ cluster: checked, config: TEST_CONFIG, sinks: [] });
    const deps = { relocator, cluster: 'test' };

    // Transitions: two cordons and a disruption taint now, another cordon while the replay runs.
    await setUnschedulable(s.admin, nodes[0]!, true);
    await setUnschedulable(s.admin, nodes[1]!, true);
    await addTaint(s.admin, nodes[2]!, { key: 'karpenter.sh/disrupted', effect: 'NoSchedule' });
    await eventually('the watcher to publish the three node transitions', async () => recorded.length, (n) => n >= 3);

    const envelope = (e: PutEventsEntry, i: number) => delivered(e, { id: `replay-${i}` });
    // Stale and spoofed hints: pods with their original uids on their original nodes, healthy nodes
    // claimed cordoned.
    const stale: PutEventsEntry[] = assistants.map((a) => ({
      Source: 'affinity-relocator',
      DetailType: 'Assistant Pod Changed',
      Detail: JSON.stringify({
        schemaVersion: 1, cluster: 'test', observedAt: new Date().toISOString(), change: 'bound',
        pod: { namespace: a.ns, name: a.pod.metadata!.name, uid: a.pod.metadata!.uid, resourceVersion: a.pod.metadata!.resourceVersion, nodeName: a.pod.spec!.nodeName },
      }),
    }));
    const spoofed: PutEventsEntry[] = [nodes[4]!, nodes[5]!].map((n) => ({
      Source: 'affinity-relocator',
      DetailType: 'Node Schedulability Changed',
      Detail: JSON.stringify({ schemaVersion: 1, cluster: 'test', observedAt: new Date().toISOString(), node: { name: n, uid: 'u', resourceVersion: '1' }, schedulable: false, reasons: [{ code: 'Cordoned', message: 'spoofed' }] }),
    }));

    let handled = 0;
    const total = 300;
    const queue = async () => {
      while (handled < total) {
        const i = handled++;
        if (i === 100) await setUnschedulable(s.admin, nodes[3]!, true);
        const pool = [...recorded, ...stale, ...spoofed];
        const pick = pool[Math.floor(random() * pool.length)]!;
        await new Promise((r) => setTimeout(r, Math.floor(random() * 20)));
        await onTriggerEvent(envelope(pick, i), deps);
      }
    };
    await Promise.all(Array.from({ length: 6 }, queue));
    // The events since the last cordon may not all have been drawn: a final sweep, as in production.
    await relocator.handle({ id: 'final-sweep', source: 'sweep', observedAt: new Date().toISOString(), target: { kind: 'all' } });
    await watcher.stop();

    expect(violations).toEqual([]);
    const healthy = new Set([nodes[4], nodes[5]]);
    for (const a of assistants) {
      const pod = await eventually(`${a.sts}-0 on a healthy node`, () => s.admin.core.readNamespacedPod({ namespace: a.ns, name: `${a.sts}-0` }), (p) => healthy.has(p.spec?.nodeName ?? ''));
      expect(pod.metadata?.deletionTimestamp).toBeUndefined();
    }
    // Every assistant started on a node that went bad, so each of those pods was deleted once; some
    // moved twice (first onto the node cordoned mid-replay). Duplicates racing for the same pod reach
    // the apiserver only as a delete whose uid precondition fails.
    const deletedUids = new Set(deletes.map((d) => d.split('@')[1]));
    expect(deletedUids.size).toBeGreaterThanOrEqual(4);
    expect(deletedUids.size).toBeLessThanOrEqual(8);
  });
});
