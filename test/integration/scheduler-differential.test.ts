/**
 * Issue 9: the relocator's feasibility decision against the real kube-scheduler, on generated cluster
 * states (test/cluster/fixtures/cluster-states.ts; the procedure and the verdicts are in ./differential.ts).
 *
 * `npm test` runs DIFF_STATES states (default 80, seeds 1..80: 1 min 50 s for the file, control plane
 * included, on the project's 2-core machine, three states at a time, ~3.3 s each); the benchmark
 * (`npm run bench -- differential`) runs 500 (~11 min). One state: `DIFF_SEED=<seed> DIFF_STATES=1 npx
 * vitest run test/integration/scheduler-differential.test.ts` (DIFF_VERBOSE=1 prints every state).
 *
 * Goals: no state where the relocator deletes and the replacement cannot be placed on another node (or may
 * be scheduled straight back to the bad node); at most 1 % over-blocking (the relocator blocks, the
 * scheduler would have placed the replacement elsewhere), and only of the kinds ALLOWED_OVERBLOCK_KINDS
 * explains.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelocator } from '../../src/runtime/relocator.js';
import type { Relocator } from '../../src/relocator/relocator.js';
import { ALLOWED_OVERBLOCK_KINDS, describeResult, formatSummary, runDifferential } from './differential.js';
import { Scenario, TEST_CONFIG } from './support.js';

const STATES = Number(process.env.DIFF_STATES ?? 80);
const FIRST_SEED = Number(process.env.DIFF_SEED ?? 1);

let s: Scenario;
let relocator: Relocator;
beforeAll(async () => {
  s = await Scenario.start();
  relocator = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: { ...TEST_CONFIG, dryRun: true } }).relocator;
});
afterAll(async () => {
  await s?.stop();
});

describe('the relocator against the real kube-scheduler', () => {
  it(`agrees on ${STATES} generated cluster states from seed ${FIRST_SEED}`, { timeout: 60 * 60_000 }, async () => {
    const summary = await runDifferential({ admin: s.admin, relocator }, {
      first: FIRST_SEED,
      count: STATES,
      // DIFF_VERBOSE=1: every state as it ends.
      onResult: process.env.DIFF_VERBOSE ? (r) => console.log(describeResult(r)) : undefined,
    });
    console.log(formatSummary(summary));
    console.log(`allowed over-block kinds:\n${Object.entries(ALLOWED_OVERBLOCK_KINDS).map(([k, why]) => `  ${k}: ${why}`).join('\n')}`);
    const of = (v: string) => summary.results.filter((r) => r.verdict === v).map(describeResult);

    // The harness itself: every state either compared or not placeable at start, and few of those.
    expect(of('harness-error'), 'states the harness could not run').toEqual([]);
    expect(summary.counts['not-placeable'], 'states whose assistant the scheduler could not place at the start').toBeLessThanOrEqual(Math.ceil(STATES * 0.1));

    if (STATES >= 20) {
      // Both sides of the decision were exercised: a test that only ever blocks (or deletes) proves little.
      expect(summary.counts['agree-delete'] + summary.counts.unsafe, 'states where the relocator deletes').toBeGreaterThan(0);
      expect(summary.counts['agree-block'] + summary.counts['over-block'], 'states where the relocator blocks').toBeGreaterThan(0);
    }
    expect(of('unsafe'), 'states where the relocator deletes but the scheduler cannot place the replacement elsewhere').toEqual([]);
    const unexplained = summary.results.filter((r) => r.verdict === 'over-block' && !(r.kind! in ALLOWED_OVERBLOCK_KINDS)).map(describeResult);
    expect(unexplained, 'over-blocks of no allowed kind').toEqual([]);
    expect(summary.overBlockPct, `over-blocking above 1 %:\n${of('over-block').join('\n')}`).toBeLessThanOrEqual(1);
  });
});
