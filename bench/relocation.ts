/**
 * Cordon -> delete issued, and cordon -> recreated pod bound, on the real control plane in local mode
 * (watch -> in-process bus -> handler -> relocator), as the relocator identity. One assistant is moved
 * back and forth between two nodes `RELOCATION_RUNS` times (default 50); the loop guard is raised for it.
 */
import { KubernetesCluster } from '../src/cluster/api.js';
import { setUnschedulable } from '../test/cluster/fixtures/nodes.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { type Bench, summarize } from './lib.js';

export const relocation: Bench = {
  name: 'relocation',
  async run() {
    const runs = Number(process.env.RELOCATION_RUNS ?? 50);
    const s = await Scenario.start();
    try {
      const [a, b] = await s.pool('bench', 2);
      const { sts, ns } = await s.assistant('bench', { startOn: a!, others: [b!] });
      // Time every delete the relocator issues, without changing what it does.
      let deleteAt = 0;
      const deletePod = KubernetesCluster.prototype.deletePod;
      KubernetesCluster.prototype.deletePod = function (...args) {
        deleteAt = performance.now();
        return deletePod.apply(this, args);
      };
      await s.startLocalMode({ ...TEST_CONFIG, loopGuardMax: 10_000 });
      const toDelete: number[] = [];
      const toBound: number[] = [];
      let from = a!;
      let to = b!;
      let uid = (await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata!.uid!;
      for (let i = 0; i < runs; i++) {
        deleteAt = 0;
        const t0 = performance.now();
        await setUnschedulable(s.admin, from, true);
        for (;;) {
          const p = await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` }).catch(() => undefined);
          if (p && p.metadata?.uid !== uid && p.spec?.nodeName === to) {
            toBound.push(performance.now() - t0);
            uid = p.metadata!.uid!;
            break;
          }
          if (performance.now() - t0 > 30_000) throw new Error(`run ${i}: the assistant did not move to ${to} within 30 s`);
          await new Promise((r) => setTimeout(r, 5));
        }
        toDelete.push(deleteAt - t0);
        await setUnschedulable(s.admin, from, false);
        [from, to] = [to, from];
      }
      KubernetesCluster.prototype.deletePod = deletePod;
      return [summarize('cordon_to_delete_ms', 'ms', toDelete), summarize('cordon_to_bound_ms', 'ms', toBound)];
    } finally {
      await s.stop();
    }
  },
};
