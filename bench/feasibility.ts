/**
 * What a scheduler-true decision costs at scale: apiserver requests and time for one dry-run decision
 * about an assistant on a cordoned node, in a cluster of FEASIBILITY_NODES nodes (default 1,000; 5,000
 * works, node creation then takes a minute), on the real control plane as the relocator identity.
 *   - first fit: the first candidate node has room;
 *   - tenth fit: only every tenth node has room (the others have 40m cpu; the assistant asks 50m), so the
 *     relocator probes about ten nodes' pods before it finds one.
 * Requests are counted at the HTTP client, so list pages count one each.
 */
import { KubeHttpClient } from '../src/cluster/http.js';
import type { RelocationTrigger } from '../src/domain/trigger.js';
import { createRelocator } from '../src/runtime/relocator.js';
import { eventually, mergePatch } from '../src/local-cluster/fixtures/clients.js';
import { nodeObject, setUnschedulable } from '../src/local-cluster/fixtures/nodes.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { type Bench, type Result, summarize } from './lib.js';

/** Counts every request any KubeHttpClient sends, without changing what it does. */
function countRequests(): { readonly count: number; restore(): void } {
  const request = KubeHttpClient.prototype.request;
  let count = 0;
  KubeHttpClient.prototype.request = function <T>(this: KubeHttpClient, ...args: Parameters<typeof request>) {
    count++;
    return request.apply(this, args) as Promise<T>;
  };
  return {
    get count() {
      return count;
    },
    restore: () => void (KubeHttpClient.prototype.request = request),
  };
}

export const feasibility: Bench = {
  name: 'feasibility',
  async run() {
    const total = Number(process.env.FEASIBILITY_NODES ?? 1_000);
    const runs = Number(process.env.FEASIBILITY_RUNS ?? 20);
    const s = await Scenario.start();
    try {
      // The assistant first, alone on its node; then the crowd.
      const [home] = await s.pool('home', 1);
      const { sts } = await s.assistant('home', { startOn: home!, others: [] });
      await createNodes(s, total);
      await setUnschedulable(s.admin, home!, true);

      const results: Result[] = [];
      for (const [label, roomEvery] of [['first_fit', 1], ['tenth_fit', 10]] as const) {
        await setRoom(s, total, roomEvery);
        const requests: number[] = [];
        const ms: number[] = [];
        let failures = 0;
        const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: { ...TEST_CONFIG, dryRun: true }, recordEvents: false });
        for (let i = 0; i < runs; i++) {
          const counter = countRequests();
          const t0 = performance.now();
          try {
            const [o] = await relocator.handle(trigger(home!, i));
            if (o?.kind !== 'skipped' || o.reason !== 'dry-run' || o.assistant.pod !== `${sts}-0`) throw new Error(`run ${i}: ${o?.kind} ${o?.reason}: ${o?.message}`);
            ms.push(performance.now() - t0);
            requests.push(counter.count);
          } catch (e) {
            failures++;
            console.error(`bench feasibility ${label}: ${e instanceof Error ? e.message : String(e)}`);
          } finally {
            counter.restore();
          }
        }
        if (requests.length > 0) {
          results.push(summarize(`decision_requests_${label}@${total}_nodes`, 'requests', requests), summarize(`decision_ms_${label}@${total}_nodes`, 'ms', ms));
        }
        results.push({ name: `decision_failures_${label}`, unit: 'runs', p50: failures, p99: failures, n: runs });
      }
      return results;
    } finally {
      await s.stop();
    }
  },
};

function trigger(node: string, i: number): RelocationTrigger {
  return { id: `bench-${i}`, source: 'node-event', target: { kind: 'node', node: { name: node } }, observedAt: new Date().toISOString(), cluster: 'test' };
}

const nodeName = (i: number) => `scale-${String(i).padStart(5, '0')}`;

/** `total` Ready nodes, created 8 at a time, each without the new-node not-ready taint. */
async function createNodes(s: Scenario, total: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < total) {
        const i = next++;
        // As createNode does, without waiting for each node's new-node taint to go (all are awaited below).
        const node = nodeObject(nodeName(i), { labels: { pool: 'home', bench: 'scale' } }); // the assistant's nodeSelector is pool=home
        const capacity = { cpu: '4', memory: '16Gi', pods: '110' };
        const now = new Date();
        node.status = { capacity, allocatable: capacity, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }] };
        await s.admin.core.createNode({ body: node });
        // The admission plugin's new-node taint: the lifecycle controller lifts it for a Ready node, slowly
        // for thousands at once; the bench lifts it itself, as that controller would.
        await s.admin.core.patchNode({ name: nodeName(i), body: { spec: { taints: null } } }, mergePatch);
      }
    }),
  );
  await eventually(
    `${total} nodes without the new-node taint`,
    () => s.admin.core.listNode({ labelSelector: 'bench=scale' }),
    (l) => l.items.length === total && l.items.every((n) => !(n.spec?.taints ?? []).length),
    { timeoutMs: 120_000 },
  );
}

/** Allocatable cpu 4 on every `every`-th node, 40m on the others (the assistant asks 50m). */
async function setRoom(s: Scenario, total: number, every: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < total) {
        const i = next++;
        const cpu = (i + 1) % every === 0 ? '4' : '40m';
        await s.admin.core.patchNodeStatus(
          { name: nodeName(i), body: { status: { allocatable: { cpu, memory: '16Gi', pods: '110' } } } },
          mergePatch,
        );
      }
    }),
  );
}
