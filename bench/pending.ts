/**
 * Issue 20's figures on the real control plane in local mode (forwarder -> in-process bus -> handler ->
 * relocator, as the relocator identity): an assistant on one of two healthy nodes (2 and 8 cpu). Each run
 * creates a TaskRun pod tied to the assistant that asks more cpu than the assistant's node has and no more
 * than the other has, so the scheduler holds it; the relocator moves the assistant to the other node and
 * the pod follows. The run then deletes the pod (its task ended) and the next run starts from where the
 * assistant is now.
 *
 *   pending_to_bound_ms          the held pod's wait, from the scheduler marking it Unschedulable
 *                                (its PodScheduled condition, whole seconds) to its bind, as the outcome
 *                                reports it; goal p50 <= PENDING_GRACE_SECONDS + 1 s
 *   pending_to_bound_after_grace_ms  the same less the grace: what the relocator and the scheduler add
 *   pending_requests_per_rescue  the relocator identity's apiserver requests per rescue (audit log)
 *   pending_failures             runs whose held pod was not bound, or not reported relocated, within
 *                                `PENDING_TIMEOUT_MS` (grace + 20 s); counted, logged, and the bench goes on
 *
 *   PENDING_RUNS (20), PENDING_GRACE_SECONDS (5: shorter than the default 20, which only adds waiting)
 */
import type { V1Pod } from '@kubernetes/client-node';
import { RELOCATOR_USER } from '../src/local-cluster/controlplane.js';
import { eventually } from '../src/local-cluster/fixtures/clients.js';
import { createNode } from '../src/local-cluster/fixtures/nodes.js';
import { taskRunPod } from '../src/local-cluster/fixtures/tekton.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { type Bench, count, positiveInt, summarize } from './lib.js';

export const pending: Bench = {
  name: 'pending',
  async run() {
    const runs = positiveInt('PENDING_RUNS', 20);
    const graceS = Number(process.env.PENDING_GRACE_SECONDS ?? 5);
    const timeoutMs = positiveInt('PENDING_TIMEOUT_MS', graceS * 1000 + 20_000);
    const s = await Scenario.start({ audit: { users: [RELOCATOR_USER] } });
    try {
      const pool = 'pending';
      const cpu: Record<string, number> = { [`${pool}-1`]: 2, [`${pool}-2`]: 8 };
      for (const [name, c] of Object.entries(cpu)) await createNode(s.admin, name, { cpu: String(c), labels: { pool } });
      const a = await s.assistant(pool, { startOn: `${pool}-1`, others: [`${pool}-2`] });
      await s.startLocalMode({ ...TEST_CONFIG, pendingGraceMs: graceS * 1000, loopGuardMax: 100_000 }, { sweepIntervalMs: 0 });
      const waits: number[] = [];
      let failures = 0;
      let rescues = 0;
      const since = Date.now();
      for (let i = 0; i < runs; i++) {
        const assistant = await s.admin.core.readNamespacedPod({ namespace: a.ns, name: `${a.sts}-0` });
        const here = assistant.spec?.nodeName ?? `${pool}-1`;
        const other = Object.keys(cpu).find((n) => n !== here)!;
        // More than the assistant's node has (its own 0 requests aside), at most what the other has.
        const body: V1Pod = taskRunPod(a.pr, `task-${i}`, a.sts, [a.claim]);
        body.spec!.containers[0]!.resources = { requests: { cpu: String(Math.min(cpu[here]! + 1, cpu[other]!)) } };
        const held = await s.admin.core.createNamespacedPod({ namespace: a.ns, body });
        const name = held.metadata!.name!;
        try {
          const relocated = await eventually(`run ${i}: ${name} freed`, async () => s.outcomes.find((o) => o.kind === 'relocated' && o.heldPod === name), (o) => o !== undefined, { timeoutMs, intervalMs: 50 });
          waits.push(relocated!.pendingToBoundMs!);
          rescues++;
        } catch {
          failures++;
          const last = s.outcomes.filter((o) => o.heldPod === name).map((o) => `${o.kind}/${o.reason}: ${o.message}`);
          console.log(`bench: pending run ${i}: FAILED: ${name} not freed within ${timeoutMs} ms (${last.join(' | ') || 'no outcome'})`);
        }
        // The task ends (its pod deleted), as a finished TaskRun's pod stops using the workspace.
        await s.admin.core.deleteNamespacedPod({ namespace: a.ns, name, gracePeriodSeconds: 0 }).catch(() => undefined);
      }
      const requests = s.cp.auditEvents().filter((e) => e.user.username === RELOCATOR_USER && Date.parse(e.requestReceivedTimestamp) >= since).length;
      return [
        ...(waits.length > 0 ? [summarize('pending_to_bound_ms', 'ms', waits), summarize('pending_to_bound_after_grace_ms', 'ms', waits.map((w) => w - graceS * 1000))] : []),
        count('pending_requests_per_rescue', rescues > 0 ? Math.round((requests / rescues) * 10) / 10 : NaN, rescues, 'requests'),
        count('pending_failures', failures, runs),
      ];
    } finally {
      await s.stop();
    }
  },
};
