/**
 * A node-group rotation through the AWS-shaped path (issue 10): `ROTATION_NODES` (20) old nodes hosting
 * `ROTATION_PER_NODE` (50) assistants each (1,000; the scheduler spreads them, so "each" is on average), as
 * many new nodes joined, then every old node cordoned within one second. The forwarder (its own process)
 * publishes to the loopback EventBridge, serverless.yml's rules route to the BUILT bundles run as Lambdas
 * with the reserved concurrency, timeout and memory of serverless.yml (test/support/aws-path/), which reach
 * the apiserver as the Lambda role through EKS tokens.
 *
 * "Bound" is read from the cluster (a watch on the assistant pods), never from outcomes: whether a function
 * waits for the replacement or reports `started` and leaves `relocated` to on-pod-event, the figures mean
 * the same. Apiserver requests and 429s are counted at the apiserver (its audit log, by the functions'
 * usernames). Figures (counts have p50 = p99 = the count and n = what it is out of):
 *
 *   rotation_cordon_to_all_bound_ms   first cordon -> the last replacement bound (goal <= 60 s); only when all were
 *   rotation_cordon_to_bound_ms       per assistant: its node's cordon -> its replacement bound elsewhere
 *   rotation_trigger_to_delete_ms     per assistant: its node's cordon -> the functions' delete reached the apiserver
 *   rotation_not_relocated            assistants not bound on another node within ROTATION_TIMEOUT_S (420: the
 *                                    sweep, every 5 min from the path's start, runs once in it) (goal 0)
 *   rotation_requests_per_relocation  apiserver requests by the functions (from the cordon on) / relocations (goal <= 8)
 *   rotation_lambda_s_per_relocation  sum of invocation durations / relocations (goal <= 1 s)
 *   rotation_apiserver_429            requests of the functions answered 429 (goal 0)
 *   rotation_invocation_timeouts      invocations that ran into their timeout (goal 0)
 *   rotation_invocation_errors        other failed invocations; rotation_dead_letters: events given up on
 *   rotation_lambda_throttles         async events that found the reserved concurrency taken (retried later)
 *   rotation_invocation_ms            per invocation duration; rotation_init_ms: cold starts' init
 *   rotation_<fn>_peak_rss_mb         peak RSS of the function's execution environments (of its 256 MB)
 *   rotation_outcomes_<kind>          outcomes the functions returned, by kind (whatever kinds there are), and
 *                                    rotation_outcomes_<kind>:<reason> by kind and reason
 *   rotation_invocations:<fn>         invocations per function (the sweep's among them)
 *   rotation_duplicate_deliveries     deliveries EventBridge made twice (at least once: ROTATION_DUPLICATE_FRACTION, 0.01)
 *   rotation_requests:<client>        requests of the StatefulSet controller / the scheduler from the cordon on (what
 *                                    recreating and binding the replacements cost), and rotation_requests_per_s:<client>
 *                                    their rate between the first and the last
 * ROTATION_CONTROLLER_MANAGER_QPS (unset: kube-controller-manager's defaults, 20 requests/s, burst 30) runs
 * the StatefulSet controller that recreates the 1,000 pods with a higher client rate: a labelled variant
 * (every figure ends in `_kcm_qps<N>`), never the headline.
 */
import { makeInformer, type V1Pod } from '@kubernetes/client-node';
import { eventually } from '../src/local-cluster/fixtures/clients.js';
import { createNode, setUnschedulable } from '../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../src/local-cluster/fixtures/pods.js';
import { LABEL_COMPONENT, COMPONENT_AFFINITY_ASSISTANT, affinityAssistantName, createAssistant, createPipelineRun, pvcNameFromWorkspaceBinding } from '../src/local-cluster/fixtures/tekton.js';
import { provisionVolume } from '../src/local-cluster/fixtures/volumes.js';
import { Scenario } from '../test/integration/support.js';
import { AWS_PATH_CLUSTER, AWS_PATH_REGION, AWS_PATH_STAGE, AwsPath, PATH_FUNCTIONS } from '../test/support/aws-path/aws-path.js';
import { startLambdaIdentity } from '../test/support/aws-path/lambda-identity.js';
import { type Bench, CONTROL_PLANE_USERS, controllerManagerQps, controlPlaneRequests, count, inBatches, positiveInt, type Result, summarize } from './lib.js';

const NS = 'rotation';
const POOL = 'rotation';

export const rotation: Bench = {
  name: 'rotation',
  async run() {
    const nodes = positiveInt('ROTATION_NODES', 20);
    const perNode = positiveInt('ROTATION_PER_NODE', 50);
    const timeoutMs = positiveInt('ROTATION_TIMEOUT_S', 420) * 1000;
    const duplicateFraction = Number(process.env.ROTATION_DUPLICATE_FRACTION ?? 0.01);
    if (!(duplicateFraction >= 0 && duplicateFraction <= 1)) throw new Error(`bench: ROTATION_DUPLICATE_FRACTION must be within 0..1, got "${process.env.ROTATION_DUPLICATE_FRACTION}"`);
    const total = nodes * perNode;
    const log = (m: string) => console.log(`bench: rotation: ${m}`);
    const identity = await startLambdaIdentity({ clusterId: AWS_PATH_CLUSTER, stage: AWS_PATH_STAGE, region: AWS_PATH_REGION, functions: PATH_FUNCTIONS });
    const { label, controllerManagerArgs } = controllerManagerQps('ROTATION_CONTROLLER_MANAGER_QPS');
    // The StatefulSet controller and the scheduler are audited too, so that their share is a figure.
    const s = await Scenario.start({ ...identity.controlPlaneOptions, audit: { users: [...identity.usernames, ...Object.values(CONTROL_PLANE_USERS)] }, controllerManagerArgs });
    let path: AwsPath | undefined;
    try {
      const t0 = performance.now();
      const old = Array.from({ length: nodes }, (_, i) => `old-${i + 1}`);
      const fresh = Array.from({ length: nodes }, (_, i) => `new-${i + 1}`);
      const capacity = { cpu: String(Math.ceil((perNode * 50) / 1000) + 2), memory: `${Math.ceil((perNode * 100) / 1024) + 4}Gi`, pods: String(perNode + 60) };
      await inBatches(old, 8, (n) => createNode(s.admin, n, { ...capacity, labels: { pool: POOL } }));
      await createNamespace(s.admin, NS);
      const originals = new Map<string, { uid?: string; node?: string }>();
      await inBatches(
        Array.from({ length: total }, (_, i) => i),
        16,
        async (i) => {
          const pr = await createPipelineRun(s.admin, NS, `pr-${i}`);
          const claim = pvcNameFromWorkspaceBinding(undefined, 'source', pr.metadata.uid);
          await provisionVolume(s.admin, NS, claim, { kind: 'anywhere' });
          await createAssistant(s.admin, pr, { mode: 'workspaces', workspaceName: 'source', claimNames: [claim], podTemplate: { nodeSelector: { pool: POOL } } });
          originals.set(`${affinityAssistantName('source', pr.metadata.name)}-0`, {});
        },
      );
      const selector = `${LABEL_COMPONENT}=${COMPONENT_AFFINITY_ASSISTANT}`;
      const placed = await eventually(
        `${total} assistants to be bound`,
        () => s.admin.core.listNamespacedPod({ namespace: NS, labelSelector: selector }),
        (l) => l.items.filter((p) => p.spec?.nodeName).length === total,
        { timeoutMs: 600_000, intervalMs: 1_000 },
      );
      for (const p of placed.items) originals.set(p.metadata!.name!, { uid: p.metadata!.uid, node: p.spec!.nodeName });
      const perOld = old.map((n) => placed.items.filter((p) => p.spec?.nodeName === n).length);
      log(`${nodes} nodes and ${total} assistants (${Math.min(...perOld)}-${Math.max(...perOld)} per node) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

      path = await AwsPath.start({ cp: s.cp, admin: s.admin, identity, duplicateFraction, lambda: { keepLogs: false } });
      const p = path;
      // The new node group joins (each join is a capacity event), then everything the start-up caused settles.
      await inBatches(fresh, 8, (n) => createNode(s.admin, n, { ...capacity, labels: { pool: POOL } }));
      const settleStarted = performance.now();
      if (!(await p.settle(900_000, 3_000))) log('WARNING: the path did not settle before the cordon');
      log(`path started, new nodes joined, settled in ${((performance.now() - settleStarted) / 1000).toFixed(0)} s (${p.lambdas.invocations.length} invocations so far)`);

      // Watch the assistants: a replacement is bound when a pod of the same name and another uid has a node.
      const bound = new Map<string, { at: number; node: string }>();
      const informer = makeInformer(s.admin.kc, `/api/v1/namespaces/${NS}/pods`, () => s.admin.core.listNamespacedPod({ namespace: NS, labelSelector: selector }), selector);
      const seen = (pod: V1Pod) => {
        const name = pod.metadata?.name ?? '';
        const o = originals.get(name);
        if (!o || bound.has(name) || pod.metadata?.uid === o.uid || !pod.spec?.nodeName) return;
        bound.set(name, { at: Date.now(), node: pod.spec.nodeName });
      };
      informer.on('add', seen);
      informer.on('update', seen);
      await informer.start();

      const before = { invocations: p.lambdas.invocations.length, throttles: sum(Object.values(p.lambdas.throttles)), dead: p.lambdas.deadLetters.length };
      const cordonedAt = new Map<string, number>();
      const cordonWall = Date.now();
      const cordonStarted = performance.now();
      await Promise.all(
        old.map(async (n) => {
          cordonedAt.set(n, Date.now());
          await setUnschedulable(s.admin, n, true);
        }),
      );
      log(`${nodes} nodes cordoned in ${(performance.now() - cordonStarted).toFixed(0)} ms`);
      const moved = () => [...bound.entries()].filter(([name, b]) => b.node !== originals.get(name)!.node).length;
      const deadline = cordonWall + timeoutMs;
      let lastReport = Date.now();
      while (moved() < total && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          log(`${moved()}/${total} bound elsewhere after ${((Date.now() - cordonWall) / 1000).toFixed(0)} s; ${p.lambdas.outstanding} events queued or running`);
        }
      }
      const allBoundMs = moved() === total ? Math.max(...[...bound.values()].map((b) => b.at)) - cordonWall : undefined;
      log(allBoundMs === undefined ? `${total - moved()} of ${total} not relocated within ${timeoutMs / 1000} s` : `all bound ${(allBoundMs / 1000).toFixed(1)} s after the cordon`);
      const missing = [...originals.keys()].filter((name) => bound.get(name)?.node === undefined || bound.get(name)!.node === originals.get(name)!.node);
      for (const name of missing.slice(0, 10)) {
        const about = p.outcomes(before.invocations).filter((o) => (o.outcome.assistant as { pod?: string } | undefined)?.pod === name);
        log(`not relocated: ${name} on ${originals.get(name)!.node}: ${about.map((o) => `${o.fn}: ${o.outcome.kind}/${String(o.outcome.reason)}`).join(', ') || 'no outcome'}`);
      }
      if (!(await p.settle(180_000, 3_000))) log(`WARNING: ${p.lambdas.outstanding} events still queued or running after 180 s`);
      informer.stop();

      // What the apiserver saw of the functions from the cordon on.
      const users = new Set(identity.usernames);
      const audited = s.cp.auditEvents();
      const audit = audited.filter((e) => users.has(e.user.username) && Date.parse(e.requestReceivedTimestamp) >= cordonWall);
      const firstDelete = new Map<string, number>();
      for (const e of audit) {
        if (e.verb !== 'delete' || e.objectRef?.resource !== 'pods' || e.objectRef.subresource || e.objectRef.namespace !== NS) continue;
        const at = Date.parse(e.requestReceivedTimestamp);
        const name = e.objectRef.name ?? '';
        if (!firstDelete.has(name) || at < firstDelete.get(name)!) firstDelete.set(name, at);
      }
      const relocations = moved();
      const triggerToDelete = [...firstDelete].flatMap(([name, at]) => {
        const from = originals.get(name)?.node;
        return from && cordonedAt.has(from) ? [at - cordonedAt.get(from)!] : [];
      });
      const cordonToBound = [...bound].flatMap(([name, b]) => {
        const from = originals.get(name)!.node!;
        return b.node !== from ? [b.at - cordonedAt.get(from)!] : [];
      });
      const invocations = p.lambdas.invocations.slice(before.invocations);
      const lambdaSeconds = sum(invocations.map((i) => i.result.durationMs)) / 1000;
      const kinds = p.outcomeCounts(before.invocations);
      const outcomeTotal = sum(Object.values(kinds));
      const perRelocation = (x: number) => (relocations > 0 ? x / relocations : NaN);
      const rows = (name: string, unit: string, samples: number[]): Result[] => (samples.length > 0 ? [summarize(name, unit, samples)] : []);
      const inits = invocations.flatMap((i) => (i.initMs === undefined ? [] : [i.initMs]));
      const results: Result[] = [
        ...(allBoundMs === undefined ? [] : [summarize('rotation_cordon_to_all_bound_ms', 'ms', [allBoundMs])]),
        ...rows('rotation_cordon_to_bound_ms', 'ms', cordonToBound),
        ...rows('rotation_trigger_to_delete_ms', 'ms', triggerToDelete),
        count('rotation_not_relocated', total - relocations, total, 'assistants'),
        count('rotation_requests_per_relocation', perRelocation(audit.length), relocations, 'requests'),
        count('rotation_lambda_s_per_relocation', perRelocation(lambdaSeconds), relocations, 's'),
        // Wall time above is what 10+ environments, the control plane and the forwarder sharing 2 cores
        // left each invocation; CPU time is what the code itself costs.
        count('rotation_lambda_cpu_s_per_relocation', perRelocation(sum(invocations.map((i) => i.result.cpuMs ?? 0)) / 1000), relocations, 's'),
        ...Object.keys(p.settings.functions)
          .filter((fn) => invocations.some((i) => i.fn === fn))
          .flatMap((fn) => {
            const of = invocations.filter((i) => i.fn === fn);
            return [
              count(`rotation_lambda_s:${fn}`, sum(of.map((i) => i.result.durationMs)) / 1000, relocations, 's'),
              count(`rotation_lambda_cpu_s:${fn}`, sum(of.map((i) => i.result.cpuMs ?? 0)) / 1000, relocations, 's'),
            ];
          }),
        count('rotation_apiserver_429', audit.filter((e) => e.responseStatus?.code === 429).length, audit.length, 'requests'),
        count('rotation_invocation_timeouts', invocations.filter((i) => i.result.timedOut).length, invocations.length, 'invocations'),
        count('rotation_invocation_errors', invocations.filter((i) => !i.result.ok && !i.result.timedOut).length, invocations.length, 'invocations'),
        count('rotation_dead_letters', p.lambdas.deadLetters.length - before.dead, invocations.length, 'events'),
        count('rotation_duplicate_deliveries', p.bus.deliveries.filter((d) => d.duplicated && d.at >= cordonStarted).length, p.bus.deliveries.filter((d) => d.at >= cordonStarted).length, 'deliveries'),
        count('rotation_lambda_throttles', sum(Object.values(p.lambdas.throttles)) - before.throttles, invocations.length, 'throttles'),
        ...rows('rotation_invocation_ms', 'ms', invocations.map((i) => i.result.durationMs)),
        ...rows('rotation_init_ms', 'ms', inits),
        ...Object.entries(p.lambdas.peakRssKb).map(([fn, kb]) => count(`rotation_${fn}_peak_rss_mb`, Math.round(kb / 1024), p.settings.functions[fn]!.memoryMb, 'MB')),
        ...Object.entries(kinds)
          .sort()
          .map(([kind, n]) => count(`rotation_outcomes_${kind}`, n, outcomeTotal, 'outcomes')),
        ...Object.entries(p.outcomeCounts(before.invocations, (o) => `${o.kind}:${String(o.reason)}`))
          .sort()
          .map(([why, n]) => count(`rotation_outcomes_${why}`, n, outcomeTotal, 'outcomes')),
        ...Object.keys(p.settings.functions)
          .filter((fn) => fn in p.lambdas.throttles)
          .map((fn) => count(`rotation_invocations:${fn}`, invocations.filter((i) => i.fn === fn).length, invocations.length, 'invocations')),
        ...controlPlaneRequests(audited, cordonWall, 'rotation', total),
      ];
      return results.map((r) => ({ ...r, name: `${r.name}${label}` }));
    } finally {
      await path?.stop();
      await s.stop();
      await identity.authenticator.close();
    }
  },
};

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
