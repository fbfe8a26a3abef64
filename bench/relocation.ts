/**
 * Cordon -> delete issued, and cordon -> recreated pod bound, on the real control plane in local mode
 * (watch -> in-process bus -> handler -> relocator), as the relocator identity. One assistant is moved
 * back and forth between two nodes `RELOCATION_RUNS` times (default 50); the loop guard is raised for it.
 */
import { setUnschedulable } from '../test/cluster/fixtures/nodes.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { type Bench, summarize } from './lib.js';
import { timeDeletes, waitForMove } from './moves.js';

export const relocation: Bench = {
  name: 'relocation',
  async run() {
    const runs = Number(process.env.RELOCATION_RUNS ?? 50);
    const s = await Scenario.start();
    try {
      const [a, b] = await s.pool('bench', 2);
      const { sts, ns } = await s.assistant('bench', { startOn: a!, others: [b!] });
      const deletes = timeDeletes();
      await s.startLocalMode({ ...TEST_CONFIG, loopGuardMax: 10_000 });
      const toDelete: number[] = [];
      const toBound: number[] = [];
      let [from, to] = [a!, b!];
      let uid = (await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata!.uid!;
      try {
        for (let i = 0; i < runs; i++) {
          deletes.reset();
          const t0 = performance.now();
          await setUnschedulable(s.admin, from, true);
          const moved = await waitForMove(s.admin, ns, `${sts}-0`, { oldUid: uid, to, since: t0, run: i });
          toBound.push(moved.boundAt - t0);
          toDelete.push(deletes.lastAt - t0);
          uid = moved.uid;
          await setUnschedulable(s.admin, from, false);
          [from, to] = [to, from];
        }
      } finally {
        deletes.restore();
      }
      return [summarize('cordon_to_delete_ms', 'ms', toDelete), summarize('cordon_to_bound_ms', 'ms', toBound)];
    } finally {
      await s.stop();
    }
  },
};
