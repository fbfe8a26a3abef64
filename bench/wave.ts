/**
 * A wave: WAVE_ASSISTANTS (150) assistants on one node, the node cordoned, in local mode (watch -> in-process
 * bus -> handlers -> relocator) as the relocator identity, on the real control plane. Issue 10's local
 * case (goal: cordon -> every replacement bound <= 9 s). Each assistant has its own PipelineRun and
 * StatefulSet (Tekton's per-workspace mode, no claim); the pool's other node has room for all of them.
 *   wave_cordon_to_all_bound_ms   cordon -> the last replacement bound on the other node (read from the pods)
 *   wave_trigger_to_delete_ms     per assistant, from its `started` outcome (p50, p99)
 *   wave_requests_per_relocation  the relocator's apiserver requests (deletes, records, confirmations) / moves
 *   wave_relocated_reported       `relocated` outcomes reported, out of the assistants (the confirmations)
 *   wave_failures                 1 when not every replacement was bound within WAVE_TIMEOUT_MS (60 s)
 *   wave@N_requests:<client>      requests of the StatefulSet controller / the scheduler from the cordon on, and
 *                                 wave@N_requests_per_s:<client> their rate (the controller's is limited to 20/s)
 * WAVE_CONTROLLER_MANAGER_QPS (unset: kube-controller-manager's defaults, 20 requests/s, burst 30) runs the
 * controller manager, whose StatefulSet controller recreates the pods, with a higher client rate: a labelled
 * variant (figures end in `_kcm_qps<N>`) that tells its share of the wave from the relocator's, never the
 * headline figure.
 */
import { KubeHttpClient } from '../src/cluster/http.js';
import { setUnschedulable } from '../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../src/local-cluster/fixtures/pods.js';
import { affinityAssistantName, createAssistant, createPipelineRun } from '../src/local-cluster/fixtures/tekton.js';
import { eventually } from '../src/local-cluster/fixtures/clients.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { type Bench, CONTROL_PLANE_USERS, controllerManagerQps, controlPlaneRequests, countBy, type Result, summarize } from './lib.js';

export const wave: Bench = {
  name: 'wave',
  async run() {
    const count = Number(process.env.WAVE_ASSISTANTS ?? 150);
    const timeoutMs = Number(process.env.WAVE_TIMEOUT_MS ?? 60_000);
    const { label, controllerManagerArgs } = controllerManagerQps('WAVE_CONTROLLER_MANAGER_QPS');
    const s = await Scenario.start({ controllerManagerArgs, audit: { users: Object.values(CONTROL_PLANE_USERS) } });
    const request = KubeHttpClient.prototype.request;
    try {
      const [a, b] = await s.pool('wave', 2, { pods: '1000', cpu: '64', memory: '256Gi' }); // room for every assistant on either node
      await createNamespace(s.admin, 'wave');
      await setUnschedulable(s.admin, b!, true);
      const names: string[] = [];
      for (let i = 0; i < count; i++) {
        const pr = await createPipelineRun(s.admin, 'wave', `pr-${i}`);
        await createAssistant(s.admin, pr, { mode: 'workspaces', workspaceName: 'source', podTemplate: { nodeSelector: { pool: 'wave' } } });
        names.push(`${affinityAssistantName('source', `pr-${i}`)}-0`);
      }
      const before = await eventually(
        `${count} assistants bound on ${a}`,
        () => s.admin.core.listNamespacedPod({ namespace: 'wave' }),
        (l) => l.items.filter((p) => p.spec?.nodeName === a).length === count,
        { timeoutMs: 120_000 },
      );
      const oldUids = new Set(before.items.map((p) => p.metadata!.uid!));
      await setUnschedulable(s.admin, b!, false);
      await eventually(`${b} to lose the cordon's taint`, () => s.admin.core.readNode({ name: b! }), (n) => (n.spec?.taints ?? []).length === 0);
      await s.startLocalMode({ ...TEST_CONFIG, loopGuardMax: 10_000 }, { sweepIntervalMs: 0 });

      let requests = 0;
      const byKind = new Map<string, number>();
      KubeHttpClient.prototype.request = function <T>(this: KubeHttpClient, ...args: Parameters<typeof request>) {
        requests++;
        // GET /api/v1/namespaces/wave/pods/x -> GET pods/NAME; lists keep their query's selector kind.
        const [r] = args;
        const kind = `${r.method} ${r.path.replace(/^\/apis?\/[^/]+(\/v1)?/, '').replace(/\/namespaces\/[^/]+/, '').replace(/(\/[a-z]+)\/[^/]+/g, '$1/NAME')}${r.query?.fieldSelector ? ' ?fieldSelector' : ''}${r.query?.labelSelector ? ' ?labelSelector' : ''}`;
        byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
        return request.apply(this, args) as Promise<T>;
      };
      const t0 = performance.now();
      const cordonWall = Date.now();
      await setUnschedulable(s.admin, a!, true);
      let failures = 0;
      const done = await eventually(
        `every replacement bound on ${b}`,
        () => s.admin.core.listNamespacedPod({ namespace: 'wave' }),
        (l) => l.items.filter((p) => !oldUids.has(p.metadata!.uid!) && p.spec?.nodeName === b).length === count,
        { timeoutMs, intervalMs: 20 },
      ).catch((e: unknown) => {
        failures = 1;
        console.error(`bench wave: ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      });
      const allBoundMs = performance.now() - t0;
      // The confirmations follow the binds by an event's trip: wait for them before counting requests.
      await eventually('the relocated outcomes', async () => s.outcomes.filter((o) => o.kind === 'relocated').length, (n) => n >= count, { timeoutMs: 10_000 }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1_000));
      const started = s.outcomes.filter((o) => o.kind === 'started' && names.includes(o.assistant.pod));
      const relocated = s.outcomes.filter((o) => o.kind === 'relocated' && names.includes(o.assistant.pod));
      console.log(`bench: wave: ${started.length} started, ${relocated.length} relocated, ${requests} requests; outcomes by kind: ${JSON.stringify(countBy(s.outcomes.map((o) => `${o.kind}/${o.reason}`)))}`);
      console.log(`bench: wave: requests by kind: ${JSON.stringify(Object.fromEntries([...byKind].sort((a, b) => b[1] - a[1])))}`);
      const rows: Result[] = [];
      if (done) rows.push({ name: `wave_cordon_to_all_bound_ms@${count}${label}`, unit: 'ms', p50: allBoundMs, p99: allBoundMs, n: 1 });
      if (started.length > 0) rows.push(summarize(`wave_trigger_to_delete_ms@${count}${label}`, 'ms', started.map((o) => o.deleteLatencyMs!)));
      if (relocated.length > 0) rows.push({ name: `wave_requests_per_relocation@${count}${label}`, unit: 'requests', p50: requests / relocated.length, p99: requests / relocated.length, n: relocated.length });
      rows.push({ name: `wave_relocated_reported@${count}${label}`, unit: 'assistants', p50: relocated.length, p99: relocated.length, n: count });
      rows.push({ name: `wave_failures${label}`, unit: 'runs', p50: failures, p99: failures, n: 1 });
      rows.push(...controlPlaneRequests(s.cp.auditEvents(), cordonWall, `wave@${count}`, count, label));
      return rows;
    } finally {
      KubeHttpClient.prototype.request = request;
      await s.stop();
    }
  },
};
