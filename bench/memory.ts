/**
 * The memory of one invocation at scale (issue 10: 5,000 nodes and 10,000 assistants; goal <= 150 MB of
 * the functions' 256 MB): MEMORY_NODES nodes (default 5,000) and MEMORY_ASSISTANTS assistant pods (default
 * 10,000, bound straight to the nodes, two per node) on the real control plane, then, each in a fresh
 * process bundled as shipped, as the relocator identity:
 *   - the sweep: every node, every assistant and the recent deletion records, the heaviest invocation;
 *   - a node event: a cordoned node with two real assistants (PipelineRun -> StatefulSet -> pod), moved.
 * Figures: peak RSS (what Lambda bills and kills on) and peak heap, and the time the invocation took. The
 * child reaches the cluster through a kubeconfig, so it carries client-node's KubeConfig, which the Lambda
 * bundles do not (they use the EKS token path): its RSS is an upper bound of theirs.
 */
import { fork } from 'node:child_process';
import { mergePatch } from '../src/local-cluster/fixtures/clients.js';
import { nodeObject, setUnschedulable } from '../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../src/local-cluster/fixtures/pods.js';
import { Scenario } from '../test/integration/support.js';
import { lambdaHeapFlags } from '../test/support/aws-path/lambda-environment.js';
import { type Bench, bundleChild, type Result } from './lib.js';

/** The functions' memory size in serverless.yml. */
const FUNCTION_MEMORY_MB = 256;

interface ChildReport {
  rssBeforeMb: number;
  maxRssMb: number;
  heapPeakMb: number;
  ms: number;
  kinds: Record<string, number>;
}

export const memory: Bench = {
  name: 'memory',
  async run() {
    const nodes = Number(process.env.MEMORY_NODES ?? 5_000);
    const assistants = Number(process.env.MEMORY_ASSISTANTS ?? 10_000);
    const s = await Scenario.start();
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

      const outfile = await bundleChild(new URL('./invocation-child.ts', import.meta.url));
      const results: Result[] = [];
      for (const [label, what] of [['node_event', `node:${home}`], ['sweep', 'sweep']] as const) {
        try {
          const r = await invoke(outfile, s.cp.kubeconfigPath, what);
          console.log(`bench: memory: ${label}: ${JSON.stringify(r)}`);
          const row = (name: string, unit: string, v: number): Result => ({ name: `${name}_${label}@${nodes}_nodes_${assistants}_assistants`, unit, p50: v, p99: v, n: 1 });
          results.push(row('invocation_max_rss', 'MB', r.maxRssMb), row('invocation_heap_peak', 'MB', r.heapPeakMb), row('invocation_ms', 'ms', r.ms));
        } catch (e) {
          console.error(`bench memory ${label}: ${e instanceof Error ? e.message : String(e)}`);
          results.push({ name: `invocation_failures_${label}`, unit: 'runs', p50: 1, p99: 1, n: 1 });
        }
      }
      return results;
    } finally {
      await s.stop();
    }
  },
};

function invoke(outfile: string, kubeconfig: string, what: string): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    // Lambda's Node.js bootstrap runs every function with --expose-gc and heap limits derived from its
    // memory (serverless.yml: 256 MB): the same here, so that V8 collects as it would there.
    const child = fork(outfile, [kubeconfig, what], { execArgv: ['--expose-gc', ...lambdaHeapFlags(String(FUNCTION_MEMORY_MB))], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.once('message', (m: ChildReport) => resolve(m));
    child.once('exit', (code) => reject(new Error(`the invocation's process exited with ${String(code)} before reporting`)));
  });
}

async function inParallel(count: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await fn(next++);
  }));
}
