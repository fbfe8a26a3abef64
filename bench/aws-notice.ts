/**
 * AWS Spot interruption warning -> delete issued, and -> recreated pod bound on the other node, on the real
 * control plane through what the on-aws-event Lambda runs (parseAwsEvent, the actions, the relocator as the
 * relocator identity). Includes tainting the announced node first (src/domain/interruption-taint.ts), which
 * the cordon bench does not pay. One assistant is moved back and forth `NOTICE_RUNS` times (default 30).
 */
import { KubernetesCluster } from '../src/cluster/api.js';
import { INTERRUPTION_TAINT_KEY } from '../src/domain/interruption-taint.js';
import { DEFAULT_AWS_EVENT_ACTIONS, onAwsEvent } from '../src/relocator/aws-actions.js';
import { createRelocator } from '../src/relocator/runtime.js';
import { mergePatch } from '../test/cluster/fixtures/clients.js';
import { instanceIdFor } from '../test/cluster/fixtures/nodes.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { sampleEvent } from '../test/unit/events/fixtures.js';
import { type Bench, summarize } from './lib.js';

/** The instance AWS's sample names. */
const SAMPLE_INSTANCE = 'i-1234567890abcdef0';

export const awsNotice: Bench = {
  name: 'aws-notice',
  async run() {
    const runs = Number(process.env.NOTICE_RUNS ?? 30);
    const s = await Scenario.start();
    try {
      const [a, b] = await s.pool('notice', 2);
      const { sts, ns } = await s.assistant('notice', { startOn: a!, others: [b!] });
      const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: { ...TEST_CONFIG, loopGuardMax: 10_000 } });
      const deps = { relocator, cluster: 'test' };
      const sample = JSON.stringify(sampleEvent('aws/spot-interruption.json'));
      let deleteAt = 0;
      const deletePod = KubernetesCluster.prototype.deletePod;
      KubernetesCluster.prototype.deletePod = function (...args) {
        deleteAt = performance.now();
        return deletePod.apply(this, args);
      };
      const toDelete: number[] = [];
      const toBound: number[] = [];
      let [from, to] = [a!, b!];
      let uid = (await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata!.uid!;
      try {
        for (let i = 0; i < runs; i++) {
          const event = { ...JSON.parse(sample.replaceAll(SAMPLE_INSTANCE, instanceIdFor(from))), time: new Date().toISOString() };
          deleteAt = 0;
          const t0 = performance.now();
          const handled = onAwsEvent(event, deps, DEFAULT_AWS_EVENT_ACTIONS);
          for (;;) {
            const p = await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` }).catch(() => undefined);
            if (p && p.metadata?.uid !== uid && p.spec?.nodeName) {
              if (p.spec.nodeName !== to) throw new Error(`run ${i}: the replacement was bound to ${p.spec.nodeName}, not ${to}`);
              toBound.push(performance.now() - t0);
              uid = p.metadata!.uid!;
              break;
            }
            if (performance.now() - t0 > 30_000) throw new Error(`run ${i}: the assistant did not move to ${to} within 30 s`);
            await new Promise((r) => setTimeout(r, 5));
          }
          toDelete.push(deleteAt - t0);
          const outcomes = await handled;
          if (outcomes[0]?.kind !== 'relocated') throw new Error(`run ${i}: ${outcomes[0]?.kind}: ${outcomes[0]?.message}`);
          // The instance "survived": lift our taint so that the node can take the assistant back.
          const node = await s.admin.core.readNode({ name: from });
          const taints = (node.spec?.taints ?? []).filter((t) => t.key !== INTERRUPTION_TAINT_KEY);
          await s.admin.core.patchNode({ name: from, body: { spec: { taints: taints.length > 0 ? taints : null } } }, mergePatch);
          [from, to] = [to, from];
        }
      } finally {
        KubernetesCluster.prototype.deletePod = deletePod;
      }
      return [summarize('notice_to_delete_ms', 'ms', toDelete), summarize('notice_to_bound_ms', 'ms', toBound)];
    } finally {
      await s.stop();
    }
  },
};
