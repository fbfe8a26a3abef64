/**
 * The memory of one invocation at scale (issue 10: 5,000 nodes and 10,000 assistants; goal <= 150 MB of
 * the functions' 256 MB): MEMORY_NODES nodes (default 5,000) and MEMORY_ASSISTANTS assistant pods (default
 * 10,000, bound straight to the nodes, two per node) on the real control plane, then each invocation in a
 * fresh Lambda environment of the AWS-shaped path (test/support/aws-path/): the BUILT bundle, serverless.yml's
 * environment and memory, Lambda's V8 heap limits, reaching the apiserver as the function's role through EKS
 * tokens, publishing its results to a loopback EventBridge:
 *   - the sweep: every node, every assistant and the recent deletion records, the heaviest invocation;
 *   - a node event: a cordoned node with two real assistants (PipelineRun -> StatefulSet -> pod), moved.
 * Figures: peak RSS (VmHWM: what Lambda bills and kills on), the RSS after Init (the bundle imported, before
 * the event), and the time the invocation took.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { NODE_SCHEDULABILITY_CHANGED, SOURCE } from '../src/events/contract.js';
import { nodeSchedulabilityChangedDetail } from '../src/events/node-schedulability-changed.js';
import { delivered } from '../src/local/delivered.js';
import { mergePatch } from '../src/local-cluster/fixtures/clients.js';
import { nodeObject, setUnschedulable } from '../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../src/local-cluster/fixtures/pods.js';
import { Scenario } from '../test/integration/support.js';
import { AWS_PATH_CLUSTER, AWS_PATH_REGION, AWS_PATH_STAGE, startShippedFunctions } from '../test/support/aws-path/aws-path.js';
import { ACCOUNT, startLambdaIdentity } from '../test/support/aws-path/lambda-identity.js';
import { FakeEventBridge } from '../test/support/eventbridge-server.js';
import { type Bench, countBy, type Result } from './lib.js';

const FUNCTIONS = ['on-node-event', 'sweep'];

export const memory: Bench = {
  name: 'memory',
  async run() {
    const nodes = Number(process.env.MEMORY_NODES ?? 5_000);
    const assistants = Number(process.env.MEMORY_ASSISTANTS ?? 10_000);
    const identity = await startLambdaIdentity({ clusterId: AWS_PATH_CLUSTER, stage: AWS_PATH_STAGE, region: AWS_PATH_REGION, functions: FUNCTIONS });
    const s = await Scenario.start(identity.controlPlaneOptions);
    const bus = await FakeEventBridge.start();
    try {
      const t0 = performance.now();
      const [home, spare] = await s.pool('home', 2);
      const moved = [];
      for (const pipelineRun of ['pr-1', 'pr-2']) moved.push(await s.assistant('home', { startOn: home!, others: [spare!], pipelineRun }));
      await inParallel(nodes, 16, async (i) => {
        const node = nodeObject(`mem-${i}`, { labels: { bench: 'memory' } });
        const capacity = { cpu: '4', memory: '16Gi', pods: '110' };
        const now = new Date();
        node.status = { capacity, allocatable: capacity, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }] };
        await s.admin.core.createNode({ body: node });
        await s.admin.core.patchNode({ name: `mem-${i}`, body: { spec: { taints: null } } }, mergePatch);
      });
      await createNamespace(s.admin, 'crowd');
      // Tekton's labels and a request, as an assistant carries them; bound by name (no scheduler needed).
      await inParallel(assistants, 16, (i) =>
        s.admin.core.createNamespacedPod({
          namespace: 'crowd',
          body: {
            metadata: { name: `affinity-assistant-${i.toString(16).padStart(10, '0')}-0`, labels: { 'app.kubernetes.io/component': 'affinity-assistant', 'app.kubernetes.io/instance': `aa-${i}`, 'app.kubernetes.io/part-of': 'tekton-pipelines' } },
            spec: { nodeName: `mem-${i % nodes}`, containers: [{ name: 'affinity-assistant', image: 'nop', resources: { requests: { cpu: '50m', memory: '100Mi' } } }] },
          },
        }),
      );
      console.log(`bench: memory: ${nodes} nodes and ${assistants} assistants created in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      await setUnschedulable(s.admin, home!, true);
      const cordoned = await s.admin.core.readNode({ name: home! });

      const results: Result[] = [];
      const events = {
        node_event: delivered(
          {
            Source: SOURCE,
            DetailType: NODE_SCHEDULABILITY_CHANGED,
            Detail: JSON.stringify(nodeSchedulabilityChangedDetail({ cluster: AWS_PATH_CLUSTER, observedAt: new Date().toISOString(), node: { name: home!, uid: cordoned.metadata!.uid!, resourceVersion: cordoned.metadata!.resourceVersion! }, schedulable: false, reasons: [{ code: 'Cordoned', message: 'spec.unschedulable is true' }], previousReasons: [] })),
          },
          { account: ACCOUNT, region: AWS_PATH_REGION },
        ),
        sweep: delivered({ Source: 'aws.events', DetailType: 'Scheduled Event', Detail: '{}' }, { account: ACCOUNT, region: AWS_PATH_REGION }),
      };
      // Each function's first invocation starts an environment of its own: a cold start, as the first
      // event after a quiet spell.
      const { lambdas, bundleDir } = await startShippedFunctions({ cp: s.cp, identity, busUrl: () => bus.url, functions: FUNCTIONS, lambda: { keepLogs: false } });
      for (const [label, fn] of [['node_event', 'on-node-event'], ['sweep', 'sweep']] as const) {
        try {
          lambdas.invokeAsync(fn, events[label], randomUUID());
          await lambdas.drain();
          const i = lambdas.invocations.find((x) => x.fn === fn);
          if (!i?.result.ok) throw new Error(`${fn}: ${i ? `${i.result.error?.name}: ${i.result.error?.message}` : 'not invoked'}`);
          const kinds = countBy(((i.result.value as { outcomes?: { kind: string }[] }).outcomes ?? []).map((o) => o.kind));
          const mb = (kb: number | undefined) => Math.round((kb ?? NaN) / 1024);
          console.log(`bench: memory: ${label}: peak RSS ${mb(i.result.maxRssKb)} MB (${mb(i.initRssKb)} MB after Init), ${i.result.durationMs.toFixed(0)} ms, ${(i.result.cpuMs ?? 0).toFixed(0)} ms CPU, outcomes ${JSON.stringify(kinds)}`);
          const row = (name: string, unit: string, v: number): Result => ({ name: `${name}_${label}@${nodes}_nodes_${assistants}_assistants`, unit, p50: v, p99: v, n: 1 });
          results.push(row('invocation_max_rss', 'MB', mb(i.result.maxRssKb)), row('invocation_init_rss', 'MB', mb(i.initRssKb)), row('invocation_ms', 'ms', Math.round(i.result.durationMs)));
        } catch (e) {
          console.error(`bench memory ${label}: ${e instanceof Error ? e.message : String(e)}`);
          results.push({ name: `invocation_failures_${label}`, unit: 'runs', p50: 1, p99: 1, n: 1 });
        }
      }
      await lambdas.stop();
      rmSync(bundleDir, { recursive: true, force: true });
      return results;
    } finally {
      await bus.close();
      await s.stop();
      await identity.authenticator.close();
    }
  },
};

async function inParallel(count: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await fn(next++);
  }));
}
