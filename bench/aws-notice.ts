/**
 * AWS Spot interruption warning -> delete issued, and -> recreated pod bound on the other node, on the real
 * control plane through what the on-aws-event Lambda runs (parseAwsEvent, the actions, the relocator as the
 * relocator identity). Includes tainting the announced node first (src/domain/interruption-taint.ts), which
 * the cordon bench does not pay. One assistant is moved back and forth `NOTICE_RUNS` times (default 30).
 */
import { INTERRUPTION_TAINT_KEY } from '../src/domain/interruption-taint.js';
import { DEFAULT_AWS_EVENT_ACTIONS, onAwsEvent } from '../src/relocator/aws-actions.js';
import { createRelocator } from '../src/runtime/relocator.js';
import { mergePatch } from '../src/local-cluster/fixtures/clients.js';
import { instanceIdFor } from '../src/local-cluster/fixtures/nodes.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { sampleEvent } from '../test/unit/events/fixtures.js';
import { type Bench, summarize } from './lib.js';
import { timeDeletes, waitForMove } from './moves.js';

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
      const deletes = timeDeletes();
      const toDelete: number[] = [];
      const toBound: number[] = [];
      let [from, to] = [a!, b!];
      let uid = (await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata!.uid!;
      try {
        for (let i = 0; i < runs; i++) {
          const event = { ...JSON.parse(sample.replaceAll(SAMPLE_INSTANCE, instanceIdFor(from))), time: new Date().toISOString() };
          deletes.reset();
          const t0 = performance.now();
          const handled = onAwsEvent(event, deps, DEFAULT_AWS_EVENT_ACTIONS);
          const moved = await waitForMove(s.admin, ns, `${sts}-0`, { oldUid: uid, to, since: t0, run: i });
          toBound.push(moved.boundAt - t0);
          toDelete.push(deletes.lastAt - t0);
          uid = moved.uid;
          const outcomes = await handled;
          if (outcomes[0]?.kind !== 'relocated') throw new Error(`run ${i}: ${outcomes[0]?.kind}: ${outcomes[0]?.message}`);
          // The instance "survived": lift our taint so that the node can take the assistant back.
          const node = await s.admin.core.readNode({ name: from });
          const taints = (node.spec?.taints ?? []).filter((t) => t.key !== INTERRUPTION_TAINT_KEY);
          await s.admin.core.patchNode({ name: from, body: { spec: { taints: taints.length > 0 ? taints : null } } }, mergePatch);
          [from, to] = [to, from];
        }
      } finally {
        deletes.restore();
      }
      return [summarize('notice_to_delete_ms', 'ms', toDelete), summarize('notice_to_bound_ms', 'ms', toBound)];
    } finally {
      await s.stop();
    }
  },
};
