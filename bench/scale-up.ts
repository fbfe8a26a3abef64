/**
 * The scale-up figure on the real control plane in local mode with the real Karpenter core and its kwok
 * provider (src/local-cluster/karpenter.ts): the assistant's node is cordoned while no other node can take it,
 * the relocator deletes it relying on the NodePool, Karpenter makes a node, the replacement is bound there.
 * Each run cordons the node the previous run made, so every run needs a new node. No goal: node creation
 * dominates (seconds with kwok, a minute or more with EC2).
 *
 *   cordon_to_bound_with_scale_up_ms   `SCALE_UP_RUNS` (10) runs: cordon -> replacement bound on a node
 *                                      the NodePool made
 *   scale_up_failures                  runs whose assistant was not bound to a new NodePool node within
 *                                      `SCALE_UP_TIMEOUT_MS` (60 s): counted and logged; the next run
 *                                      starts from wherever the assistant is then
 */
import { waitForBoundPod } from '../src/local-cluster/fixtures/pods.js';
import { setUnschedulable } from '../src/local-cluster/fixtures/nodes.js';
import { aNodePool, createNodePool, Karpenter } from '../src/local-cluster/karpenter.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { type Bench, count, positiveInt, summarize } from './lib.js';
import { tryWaitForMove } from './moves.js';

const NODEPOOL = 'bench';

export const scaleUp: Bench = {
  name: 'scale-up',
  async run() {
    const runs = positiveInt('SCALE_UP_RUNS', 10);
    const timeoutMs = positiveInt('SCALE_UP_TIMEOUT_MS', 60_000);
    const s = await Scenario.start();
    let karpenter: Karpenter | undefined;
    try {
      karpenter = await Karpenter.start(s.cp);
      await createNodePool(s.admin, aNodePool(NODEPOOL, { labels: { pool: 'scale' } }));
      const [first] = await s.pool('scale', 1);
      const { sts, ns } = await s.assistant('scale', { startOn: first!, others: [] });
      const name = `${sts}-0`;
      await s.startLocalMode({ ...TEST_CONFIG, loopGuardMax: 10_000 }, { sweepIntervalMs: 0 });

      const samples: number[] = [];
      let failures = 0;
      for (let i = 0; i < runs; i++) {
        const pod = await waitForBoundPod(s.admin, ns, name);
        const t0 = performance.now();
        await setUnschedulable(s.admin, pod.spec!.nodeName!, true);
        // Any node but the cordoned one will do, as long as the NodePool made it.
        const r = await tryWaitForMove(s.admin, ns, name, { oldUid: pod.metadata!.uid!, to: pod.spec!.nodeName!, since: t0, timeoutMs });
        if (r.kind !== 'elsewhere') {
          failures++;
          console.log(`bench: scale-up run ${i}: FAILED: ${r.kind === 'timeout' ? `not bound to a new node within ${Math.round(r.waitedMs)} ms` : 'bound back to the cordoned node'}`);
          continue;
        }
        const node = await s.admin.core.readNode({ name: r.node });
        if (node.metadata?.labels?.['karpenter.sh/nodepool'] !== NODEPOOL) {
          failures++;
          console.log(`bench: scale-up run ${i}: FAILED: bound to ${r.node}, which NodePool ${NODEPOOL} did not make`);
          continue;
        }
        samples.push(r.boundAt - t0);
      }
      return [...(samples.length > 0 ? [summarize('cordon_to_bound_with_scale_up_ms', 'ms', samples)] : []), count('scale_up_failures', failures, runs)];
    } finally {
      await s.stopLocalMode();
      await karpenter?.stop();
      await s.stop();
    }
  },
};
