/**
 * The relocation figures on the real control plane in local mode (watch -> in-process bus -> handler ->
 * relocator), as the relocator identity; the loop guard is raised for the one assistant moved back and
 * forth between the two nodes of its pool, and local mode's sweep is off (the events do the work).
 * `RELOCATION_TIMEOUT_MS=1` makes every run fail, which shows the recovery.
 *
 *   cordon_to_delete_ms, cordon_to_bound_ms  `RELOCATION_RUNS` (50) runs: cordon the assistant's node ->
 *                                            delete issued / replacement bound on the other node
 *   capacity_to_bound_ms                     `CAPACITY_RUNS` (25) runs: the assistant blocked (the other node
 *                                            cordoned, with the cordon's taint, then its own node cordoned:
 *                                            no feasible node), then the other node uncordoned -> the
 *                                            replacement bound on it
 *   relocation_failures, capacity_failures   runs whose assistant did not move to the other node within
 *                                            `RELOCATION_TIMEOUT_MS` (10 s), or went elsewhere (goal 0): each
 *                                            is counted and logged, both nodes are uncordoned, where the
 *                                            assistant is now is read again, and the bench goes on
 */
import type { Outcome } from '../src/domain/outcome.js';
import { eventually } from '../src/local-cluster/fixtures/clients.js';
import { setUnschedulable } from '../src/local-cluster/fixtures/nodes.js';
import { waitForBoundPod } from '../src/local-cluster/fixtures/pods.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { type Bench, count, positiveInt, summarize } from './lib.js';
import { type MoveResult, timeDeletes, tryWaitForMove } from './moves.js';

const UNSCHEDULABLE_TAINT_KEY = 'node.kubernetes.io/unschedulable';

function describeMiss(r: Exclude<MoveResult, { kind: 'moved' }>, to: string): string {
  return r.kind === 'timeout' ? `did not move to ${to} within ${Math.round(r.waitedMs)} ms` : `went to ${r.node}, not ${to}`;
}

export const relocation: Bench = {
  name: 'relocation',
  async run() {
    const runs = positiveInt('RELOCATION_RUNS', 50);
    const capacityRuns = positiveInt('CAPACITY_RUNS', 25);
    const timeoutMs = positiveInt('RELOCATION_TIMEOUT_MS', 10_000);
    const s = await Scenario.start();
    try {
      const [a, b] = await s.pool('bench', 2);
      const nodes = [a!, b!];
      const { sts, ns } = await s.assistant('bench', { startOn: a!, others: [b!] });
      const name = `${sts}-0`;
      const deletes = timeDeletes();
      const local = await s.startLocalMode({ ...TEST_CONFIG, loopGuardMax: 10_000 }, { sweepIntervalMs: 0 });
      let [from, to] = [a!, b!];
      let uid = (await s.admin.core.readNamespacedPod({ namespace: ns, name })).metadata!.uid!;

      const noCordonTaint = (node: string) =>
        eventually(`${node} to lose the cordon's taint`, () => s.admin.core.readNode({ name: node }), (n) => !(n.spec?.taints ?? []).some((t) => t.key === UNSCHEDULABLE_TAINT_KEY));
      /** After a failed run: both nodes uncordoned and settled, the assistant bound again; where is it? */
      const recover = async (): Promise<void> => {
        for (let attempt = 1; ; attempt++) {
          try {
            for (const n of nodes) await setUnschedulable(s.admin, n, false);
            for (const n of nodes) await noCordonTaint(n);
            // Whatever the relocator is still doing about the failed run (a late delete, a confirmation) ends first.
            await local.bus.drain();
            const pod = await waitForBoundPod(s.admin, ns, name);
            uid = pod.metadata!.uid!;
            from = pod.spec!.nodeName!;
            to = nodes.find((n) => n !== from)!;
            return;
          } catch (e) {
            if (attempt >= 3) throw new Error(`bench: could not recover after a failed run: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
      };

      const toDelete: number[] = [];
      const toBound: number[] = [];
      let relocationFailures = 0;
      const capacityToBound: number[] = [];
      let capacityFailures = 0;
      try {
        for (let i = 0; i < runs; i++) {
          deletes.reset();
          const t0 = performance.now();
          await setUnschedulable(s.admin, from, true);
          const moved = await tryWaitForMove(s.admin, ns, name, { oldUid: uid, to, since: t0, timeoutMs });
          if (moved.kind !== 'moved') {
            relocationFailures++;
            console.log(`bench: relocation run ${i}: FAILED: the assistant ${describeMiss(moved, to)} (${lastOutcomes(s.outcomes, name)}); recovering`);
            await recover();
            continue;
          }
          toBound.push(moved.boundAt - t0);
          toDelete.push(deletes.lastAt - t0);
          uid = moved.uid;
          await setUnschedulable(s.admin, from, false);
          [from, to] = [to, from];
        }

        for (let i = 0; i < capacityRuns; i++) {
          // Settled first, so that each run starts from the same state: no cordon taint anywhere.
          for (const n of nodes) await noCordonTaint(n);
          // Blocked: the other node cordoned (and tainted for it, as a node cordoned for a while is), then its own.
          await setUnschedulable(s.admin, to, true);
          await eventually(`${to} to get the cordon's taint`, () => s.admin.core.readNode({ name: to }), (n) => (n.spec?.taints ?? []).some((t) => t.key === UNSCHEDULABLE_TAINT_KEY));
          const seen = s.outcomes.length;
          await setUnschedulable(s.admin, from, true);
          const blocked = await eventually(
            `run ${i}: the assistant to be blocked`,
            // About this very pod: the confirmation of the previous run's move may report late, about the old one.
            async () => s.outcomes.slice(seen).find((o) => o.assistant.pod === name && o.assistant.podUid === uid && o.kind !== 'skipped'),
            (o) => o !== undefined,
            { timeoutMs, intervalMs: 5 },
          ).catch(() => undefined);
          if (blocked?.kind !== 'blocked') {
            capacityFailures++;
            console.log(`bench: capacity run ${i}: FAILED: expected blocked, got ${blocked ? `${blocked.kind} (${blocked.message})` : 'nothing'}; recovering`);
            await recover();
            continue;
          }
          const t0 = performance.now();
          await setUnschedulable(s.admin, to, false);
          const moved = await tryWaitForMove(s.admin, ns, name, { oldUid: uid, to, since: t0, timeoutMs });
          if (moved.kind !== 'moved') {
            capacityFailures++;
            console.log(`bench: capacity run ${i}: FAILED: the assistant ${describeMiss(moved, to)} after ${to} was uncordoned (${lastOutcomes(s.outcomes, name)}); recovering`);
            await recover();
            continue;
          }
          capacityToBound.push(moved.boundAt - t0);
          uid = moved.uid;
          await setUnschedulable(s.admin, from, false);
          [from, to] = [to, from];
        }
      } finally {
        deletes.restore();
      }
      const rows = (metric: string, samples: number[]) => (samples.length > 0 ? [summarize(metric, 'ms', samples)] : []);
      return [
        ...rows('cordon_to_delete_ms', toDelete),
        ...rows('cordon_to_bound_ms', toBound),
        ...rows('capacity_to_bound_ms', capacityToBound),
        count('relocation_failures', relocationFailures, runs),
        count('capacity_failures', capacityFailures, capacityRuns),
      ];
    } finally {
      await s.stop();
    }
  },
};

/** The last few outcomes about the pod, for a failure's log line. */
function lastOutcomes(outcomes: Outcome[], pod: string): string {
  const mine = outcomes.filter((o) => o.assistant.pod === pod).slice(-3);
  return mine.length === 0 ? 'no outcome' : `last outcomes: ${mine.map((o) => `${o.kind}/${o.reason} via ${o.triggerSource}`).join(', ')}`;
}
