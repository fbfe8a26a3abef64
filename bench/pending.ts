/**
 * Issue 20's figures on the real control plane in local mode (forwarder -> in-process bus -> handler ->
 * relocator, as the relocator identity): an assistant on one of two healthy 4-cpu nodes, a filler taking 3
 * cpu beside it. Each run creates a TaskRun pod tied to the assistant asking 2 cpu, which the scheduler
 * holds; the relocator moves the assistant to the other node and the pod follows. The run then deletes the
 * pod (its task ended) and moves the filler beside the assistant, so every run starts alike.
 *
 *   pending_to_bound_ms          the held pod's wait, from the scheduler marking it Unschedulable
 *                                (its PodScheduled condition, whole seconds) to its bind, as the outcome
 *                                reports it; goal p50 <= PENDING_GRACE_SECONDS + 1 s
 *   pending_to_bound_after_grace_ms  the same less the grace: what the relocator and the scheduler add
 *                                (both times are the apiserver's whole seconds: the figure moves in steps of 1 s)
 *   created_to_relocated_ms      the same wait on this process's clock, from creating the pod to the
 *                                `relocated` outcome (the grace, the rescue, the bind, the settlement)
 *   pending_requests_per_rescue  the relocator identity's requests per rescue, watches aside (audit log;
 *                                local mode's forwarder shares the identity: its lists are counted)
 *   pending_failures             runs whose held pod was not bound, or not reported relocated, within
 *                                `PENDING_TIMEOUT_MS` (grace + 20 s); counted, logged, and the bench goes on
 *
 *   PENDING_RUNS (20), PENDING_GRACE_SECONDS (5: shorter than the default 20, which only adds waiting),
 *   PENDING_STEERING (admission: the AssistantPlacement API installed, as on Kubernetes 1.36+; taint: without it)
 */
import type { V1Pod } from '@kubernetes/client-node';
import { RELOCATOR_USER } from '../src/local-cluster/controlplane.js';
import { eventually } from '../src/local-cluster/fixtures/clients.js';
import { createNode } from '../src/local-cluster/fixtures/nodes.js';
import { installSteering } from '../src/local-cluster/fixtures/steering.js';
import { taskRunPod } from '../src/local-cluster/fixtures/tekton.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { type Bench, count, countBy, positiveInt, summarize } from './lib.js';

export const pending: Bench = {
  name: 'pending',
  async run() {
    const runs = positiveInt('PENDING_RUNS', 20);
    const graceS = Number(process.env.PENDING_GRACE_SECONDS ?? 5);
    const timeoutMs = positiveInt('PENDING_TIMEOUT_MS', graceS * 1000 + 20_000);
    const s = await Scenario.start({ audit: { users: [RELOCATOR_USER] } });
    try {
      const pool = 'pending';
      const nodes = [`${pool}-1`, `${pool}-2`];
      for (const name of nodes) await createNode(s.admin, name, { cpu: '4', labels: { pool } });
      const a = await s.assistant(pool, { startOn: nodes[0]!, others: [nodes[1]!] });
      /** Takes 3 of the assistant's node's 4 cpu, so that a task asking 2 is held there and fits the other node. */
      const fill = (node: string) =>
        s.admin.core.createNamespacedPod({ namespace: a.ns, body: { metadata: { name: `filler-${node}` }, spec: { nodeName: node, containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '3' } } }] } } });
      await fill(nodes[0]!);
      // By default as on Kubernetes 1.36+ with the steering API; PENDING_STEERING=taint measures the fallback.
      const steering = process.env.PENDING_STEERING ?? 'admission';
      if (steering !== 'admission' && steering !== 'taint') throw new Error(`bench pending: PENDING_STEERING must be admission or taint, got ${steering}`);
      if (steering === 'admission') await installSteering(s.admin);
      await s.startLocalMode({ ...TEST_CONFIG, pendingGraceMs: graceS * 1000, loopGuardMax: 100_000 }, { sweepIntervalMs: 0 });
      const waits: number[] = [];
      const toSettled: number[] = [];
      let failures = 0;
      let rescues = 0;
      const since = Date.now();
      for (let i = 0; i < runs; i++) {
        const body: V1Pod = taskRunPod(a.pr, `task-${i}`, a.sts, [a.claim]);
        body.spec!.containers[0]!.resources = { requests: { cpu: '2' } };
        const created = performance.now();
        const held = await s.admin.core.createNamespacedPod({ namespace: a.ns, body });
        const name = held.metadata!.name!;
        try {
          const relocated = await eventually(`run ${i}: ${name} freed`, async () => s.outcomes.find((o) => o.kind === 'relocated' && o.heldPod === name), (o) => o !== undefined, { timeoutMs, intervalMs: 50 });
          waits.push(relocated!.pendingToBoundMs!);
          toSettled.push(performance.now() - created);
          rescues++;
        } catch {
          failures++;
          const last = s.outcomes.filter((o) => o.heldPod === name).map((o) => `${o.kind}/${o.reason}: ${o.message}`);
          console.log(`bench: pending run ${i}: FAILED: ${name} not freed within ${timeoutMs} ms (${last.join(' | ') || 'no outcome'})`);
        }
        // The task ends (its pod deleted) and the filler follows the assistant: the next run starts as this one did.
        await s.admin.core.deleteNamespacedPod({ namespace: a.ns, name, gracePeriodSeconds: 0 }).catch(() => undefined);
        const at = (await s.admin.core.readNamespacedPod({ namespace: a.ns, name: `${a.sts}-0` })).spec?.nodeName ?? nodes[0]!;
        for (const n of nodes) if (n !== at) await s.admin.core.deleteNamespacedPod({ namespace: a.ns, name: `filler-${n}`, gracePeriodSeconds: 0 }).catch(() => undefined);
        await eventually('the old filler to be gone', () => s.admin.core.listNamespacedPod({ namespace: a.ns, labelSelector: '' }), (l) => l.items.filter((p) => p.metadata?.name?.startsWith('filler-')).every((p) => p.metadata?.name === `filler-${at}`));
        if (!(await s.admin.core.listNamespacedPod({ namespace: a.ns })).items.some((p) => p.metadata?.name === `filler-${at}`)) await fill(at);
      }
      // The functions' requests (local mode's forwarder shares the identity: its watches are left out).
      const mine = s.cp.auditEvents().filter((e) => e.user.username === RELOCATOR_USER && Date.parse(e.requestReceivedTimestamp) >= since && e.verb !== 'watch');
      const requests = mine.length;
      const kinds = countBy(mine.map((e) => `${e.verb} ${e.objectRef?.resource ?? '?'}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`));
      console.log(`bench: pending: the relocator's requests over ${rescues} rescues: ${Object.entries(kinds).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);
      const label = steering === 'admission' ? '' : `@${steering}`;
      return [
        ...(waits.length > 0
          ? [
              summarize(`pending_to_bound_ms${label}`, 'ms', waits),
              summarize(`pending_to_bound_after_grace_ms${label}`, 'ms', waits.map((w) => w - graceS * 1000)),
              summarize(`created_to_relocated_ms${label}`, 'ms', toSettled),
            ]
          : []),
        count(`pending_requests_per_rescue${label}`, rescues > 0 ? Math.round((requests / rescues) * 10) / 10 : NaN, rescues, 'requests'),
        count(`pending_failures${label}`, failures, runs),
      ];
    } finally {
      await s.stop();
    }
  },
};
