/**
 * The scheduler differential (issue 9) at full size: `DIFF_STATES` generated cluster states (default 500,
 * seeds from `DIFF_SEED`, default 1), the relocator's decision against the real kube-scheduler's, on one
 * control plane (test/integration/differential.ts has the procedure; `npm test` runs a smaller count).
 * Rows: the counts (goal: differential_unsafe 0, differential_overblock_pct <= 1) and the seconds one state
 * takes (three run at once). A state that fails is counted (differential_harness_errors), never ends the bench;
 * every disagreement is printed with its seed.
 */
import { createRelocator } from '../src/runtime/relocator.js';
import { describeResult, formatSummary, runDifferential } from '../test/integration/differential.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { type Bench, type Result, summarize } from './lib.js';

const count = (name: string, unit: string, value: number, n: number): Result => ({ name, unit, p50: value, p99: value, n });

export const differential: Bench = {
  name: 'differential',
  async run() {
    const states = Number(process.env.DIFF_STATES ?? 500);
    const first = Number(process.env.DIFF_SEED ?? 1);
    const s = await Scenario.start();
    try {
      const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: { ...TEST_CONFIG, dryRun: true } });
      let done = 0;
      const summary = await runDifferential(
        { admin: s.admin, relocator },
        {
          first,
          count: states,
          onResult: (r) => {
            done++;
            if (r.verdict === 'unsafe' || r.verdict === 'over-block' || r.verdict === 'harness-error') console.log(describeResult(r));
            if (done % 50 === 0) console.log(`differential: ${done}/${states} states`);
          },
        },
      );
      console.log(formatSummary(summary));
      const c = summary.counts;
      const n = summary.compared;
      return [
        count('differential_states', 'states', n, n),
        count('differential_unsafe', 'states', c.unsafe, n),
        count('differential_overblock', 'states', c['over-block'], n),
        count('differential_overblock_pct', '%', Number(summary.overBlockPct.toFixed(2)), n),
        count('differential_agree_delete', 'states', c['agree-delete'], n),
        count('differential_agree_block', 'states', c['agree-block'], n),
        count('differential_not_placeable', 'states', c['not-placeable'], summary.results.length),
        count('differential_harness_errors', 'states', c['harness-error'], summary.results.length),
        summarize('differential_state_s', 's', summary.results.map((r) => r.seconds)),
      ];
    } finally {
      await s.stop();
    }
  },
};
