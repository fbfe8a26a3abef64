/**
 * The pending-pod differential (issue 20) at full size: `PENDING_STATES` generated states (default 500, seeds
 * from `PENDING_SEED`, default 1), the pair check (can a node take the assistant's replacement and then the
 * TaskRun pod it holds?) against the real kube-scheduler, on one control plane
 * (test/integration/pending-differential.ts has the procedure; `npm test` runs 60). Rows: the counts (goals:
 * pending_unsafe 0, pending_unsafe_nodes 0, pending_steering_unsafe 0, pending_missed_pct <= 1) and the
 * seconds one state takes (three run at once). Every disagreement is printed with its seed.
 */
import { clusterFor } from '../src/runtime/relocator.js';
import { describePending, formatPendingSummary, pureDecider, runPendingDifferential } from '../test/integration/pending-differential.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { type Bench, type Result, summarize } from './lib.js';

const count = (name: string, unit: string, value: number, n: number): Result => ({ name, unit, p50: value, p99: value, n });

export const pendingDifferential: Bench = {
  name: 'differential-pending',
  async run() {
    const states = Number(process.env.PENDING_STATES ?? 500);
    const first = Number(process.env.PENDING_SEED ?? 1);
    const s = await Scenario.start();
    try {
      const decide = pureDecider(clusterFor(s.cp.kubeConfig('relocator'), TEST_CONFIG), TEST_CONFIG);
      let done = 0;
      const summary = await runPendingDifferential(s.admin, decide, {
        first,
        count: states,
        onResult: (r) => {
          done++;
          if (r.verdict === 'unsafe' || r.verdict === 'missed-rescue' || r.verdict === 'harness-error' || r.unsafeNodes?.length || r.steeringUnsafe?.length) console.log(describePending(r));
          if (done % 50 === 0) console.log(`differential-pending: ${done}/${states} states`);
        },
      });
      console.log(formatPendingSummary(summary));
      const c = summary.counts;
      const n = summary.compared;
      return [
        count('pending_states', 'states', n, n),
        count('pending_unsafe', 'states', c.unsafe, n),
        count('pending_unsafe_nodes', 'nodes', summary.unsafeNodes, n),
        count('pending_steering_unsafe', 'states', summary.steeringUnsafe, n),
        count('pending_missed', 'states', c['missed-rescue'], n),
        count('pending_missed_pct', '%', Number(summary.missedPct.toFixed(2)), n),
        count('pending_agree_rescue', 'states', c['agree-rescue'], n),
        count('pending_agree_block', 'states', c['agree-block'], n),
        count('pending_rescues_needing_steering', 'states', summary.needSteering, n),
        count('pending_back_mismatches', 'states', summary.backMismatches, n),
        count('pending_node_answers', 'nodes', summary.nodes.compared, summary.nodes.compared),
        count('pending_node_pair_disagreements', 'nodes', summary.nodes.compared - summary.nodes.pair, summary.nodes.compared),
        count('pending_node_alone_disagreements', 'nodes', summary.nodes.compared - summary.nodes.alone, summary.nodes.compared),
        count('pending_not_placeable', 'states', c['not-placeable'], summary.results.length),
        count('pending_not_held', 'states', c['not-held'], summary.results.length),
        count('pending_harness_errors', 'states', c['harness-error'], summary.results.length),
        summarize('pending_state_s', 's', summary.results.map((r) => r.seconds)),
      ];
    } finally {
      await s.stop();
    }
  },
};
