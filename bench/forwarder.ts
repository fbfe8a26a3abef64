/**
 * The forwarder at scale (issue targets: <= 200 MB RSS, 0 events per heartbeat, cordon -> PutEvents
 * p50 <= 50 ms). A simulated cluster in the real apiserver: FORWARDER_NODES nodes (default 5000) with
 * two assistant pods each (10,000 with the default), FORWARDER_TASKRUN_PODS Pending TaskRun pods (default
 * 10,000; 0 for none) each held Unschedulable by its assistant, a churn of node heartbeats (20 updates/s
 * for 30 s) and a cordon wave over nodes that host assistants. The forwarder runs in a child process
 * (bench/forwarder-child.ts) against a loopback EventBridge endpoint.
 *
 * The TaskRun pods are shaped as Tekton v1 writes them (init containers, the entrypoint's arguments, its
 * volumes: a few KB of JSON each, which is what the forwarder's list parses) and marked Unschedulable the
 * way kube-scheduler marks them; a scheduler name no scheduler serves keeps the real scheduler, which
 * would take minutes over 10,000 pods and 5,000 nodes on 2 cores, from measuring itself instead.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { ControlPlane } from '../src/local-cluster/controlplane.js';
import { clientsFor, eventually, mergePatch } from '../src/local-cluster/fixtures/clients.js';
import { nodeObject } from '../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../src/local-cluster/fixtures/pods.js';
import { NODE_SCHEDULABILITY_CHANGED, TASKRUN_POD_UNSCHEDULABLE } from '../src/events/contract.js';
import { FakeEventBridge } from '../test/support/eventbridge-server.js';
import { type Bench, bundleChild, inBatches, summarize } from './lib.js';

interface ChildStats {
  rss: number;
  heapUsed: number;
  cpu: { user: number; system: number };
  watcher: { heldPods: number };
  publisher: { emitted: number };
}

const NOT_SCHEDULED_BY_ANYONE = 'bench-no-scheduler';

/** A Pending TaskRun pod as Tekton v1 builds it, asking for more than any node has, tied to `assistant`. */
function heldTaskRunPod(name: string, assistant: string): V1Pod {
  const mounts = ['tekton-internal-scripts:/tekton/scripts', 'tekton-internal-bin:/tekton/bin', 'tekton-internal-downward:/tekton/downward', 'tekton-creds-init-home-0:/tekton/creds', 'tekton-internal-run-0:/tekton/run/0', 'tekton-internal-workspace:/workspace', 'tekton-internal-home:/tekton/home', 'tekton-internal-results:/tekton/results', 'tekton-internal-steps:/tekton/steps']
    .map((m) => ({ name: m.split(':')[0]!, mountPath: m.split(':')[1]! }));
  return {
    metadata: {
      name,
      labels: {
        'app.kubernetes.io/managed-by': 'tekton-pipelines',
        'tekton.dev/pipeline': 'build',
        'tekton.dev/pipelineRun': name.replace(/-pod$/, ''),
        'tekton.dev/pipelineTask': 'compile',
        'tekton.dev/task': 'compile',
        'tekton.dev/taskRun': name.replace(/-pod$/, ''),
        'tekton.dev/taskRunUID': randomUUID(),
      },
      annotations: { 'pipeline.tekton.dev/release': 'a2f3c9d', 'pipeline.tekton.dev/affinity-assistant': assistant, 'tekton.dev/ready': '' },
    },
    spec: {
      schedulerName: NOT_SCHEDULED_BY_ANYONE,
      restartPolicy: 'Never',
      activeDeadlineSeconds: 5400,
      initContainers: [
        { name: 'prepare', image: 'ghcr.io/tektoncd/pipeline/entrypoint-bff0a22da108bc2f16c818c97641a296:v1.15.0', command: ['/ko-app/entrypoint', 'init', '/ko-app/entrypoint', '/tekton/bin/entrypoint', 'step-compile'], workingDir: '/', volumeMounts: [mounts[1]!, mounts[4]!] },
      ],
      containers: [
        {
          name: 'step-compile',
          image: 'golang:1.23',
          command: ['/tekton/bin/entrypoint'],
          args: ['-wait_file', '/tekton/downward/ready', '-wait_file_content', '-post_file', '/tekton/run/0/out', '-termination_path', '/tekton/termination', '-step_metadata_dir', '/tekton/run/0/status', '-entrypoint', '/tekton/scripts/script-0-x7k2p', '--'],
          env: [{ name: 'HOME', value: '/tekton/home' }, { name: 'GOCACHE', value: '/workspace/.cache/go-build' }],
          resources: { requests: { cpu: '64', memory: '4Gi' } },
          terminationMessagePath: '/tekton/termination',
          terminationMessagePolicy: 'File',
          volumeMounts: mounts,
          workingDir: '/workspace/source',
        },
      ],
      volumes: [
        ...mounts.filter((m) => m.name !== 'tekton-internal-downward').map((m) => ({ name: m.name, emptyDir: {} })),
        { name: 'tekton-internal-downward', downwardAPI: { items: [{ path: 'ready', fieldRef: { fieldPath: "metadata.annotations['tekton.dev/ready']" } }] } },
      ],
      affinity: {
        podAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: { 'app.kubernetes.io/instance': assistant, 'app.kubernetes.io/component': 'affinity-assistant' } }, topologyKey: 'kubernetes.io/hostname' },
          ],
        },
      },
    },
  };
}

/** The node flags the forwarder image runs with (its Dockerfile's CMD, the script left out): measured as it ships. */
function imageNodeFlags(): string[] {
  const dockerfile = readFileSync(new URL('../infra/docker/forwarder.Dockerfile', import.meta.url), 'utf8');
  const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
  if (!cmd) throw new Error('infra/docker/forwarder.Dockerfile has no CMD ["...", ...] line');
  return (JSON.parse(cmd) as string[]).filter((a) => a.startsWith('--'));
}

function expect0Tainted(nodes: V1Node[]): void {
  const tainted = nodes.filter((n) => (n.spec?.taints ?? []).length > 0).length;
  if (tainted > 0) throw new Error(`${tainted} nodes are tainted: the measurement needs a settled cluster`);
}

export const forwarder: Bench = {
  name: 'forwarder',
  async run() {
    const nodeCount = Number(process.env.FORWARDER_NODES ?? 5000);
    // Without TaintNodesByCondition, new nodes are not tainted not-ready until the node lifecycle
    // controller has seen them: at 5,000 nodes that takes minutes on 2 cores and measures nothing of ours.
    const cp = await ControlPlane.start({ kubelets: false, apiserverArgs: ['--disable-admission-plugins=TaintNodesByCondition'] });
    const bus = await FakeEventBridge.start();
    const c = clientsFor(cp.kubeConfig('admin'));
    try {
      const t0 = performance.now();
      const names = Array.from({ length: nodeCount }, (_, i) => `node-${String(i).padStart(5, '0')}`);
      const now = new Date();
      await inBatches(names, 32, (name) => {
        const n: V1Node = nodeObject(name, { zone: `us-east-1${'abc'[names.indexOf(name) % 3]}` });
        n.status = { capacity: { cpu: '4', memory: '16Gi', pods: '110' }, allocatable: { cpu: '4', memory: '16Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: now, lastTransitionTime: now }] };
        return c.core.createNode({ body: n });
      });
      await createNamespace(c, 'ci');
      const labels = { 'app.kubernetes.io/component': 'affinity-assistant' };
      const hosts = names;
      const pods = hosts.flatMap((node) => [0, 1].map((k) => ({ node, name: `aa-${node}-${k}` })));
      await inBatches(pods, 32, (p) =>
        c.core.createNamespacedPod({ namespace: 'ci', body: { metadata: { name: p.name, labels: { ...labels, 'app.kubernetes.io/instance': p.name } }, spec: { nodeName: p.node, containers: [{ name: 'a', image: 'nop' }] } } }),
      );
      // Held since a minute ago, past the grace: the forwarder's first list finds every one due at once.
      const taskRunCount = Number(process.env.FORWARDER_TASKRUN_PODS ?? 10_000);
      const heldSince = new Date(Date.now() - 60_000);
      const message = `0/${nodeCount} nodes are available: 1 Insufficient cpu, ${nodeCount - 1} node(s) didn't match pod affinity rules. preemption: 0/${nodeCount} nodes are available: 1 No preemption victims found for incoming pod, ${nodeCount - 1} Preemption is not helpful for scheduling.`;
      await inBatches(Array.from({ length: taskRunCount }, (_, i) => i), 32, async (i) => {
        const name = `build-${String(i).padStart(5, '0')}-compile-pod`;
        await c.core.createNamespacedPod({ namespace: 'ci', body: heldTaskRunPod(name, pods[i % pods.length]!.name) });
        const condition = { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastProbeTime: null, lastTransitionTime: heldSince };
        await c.core.patchNamespacedPodStatus({ namespace: 'ci', name, body: { status: { conditions: [condition] } } }, mergePatch);
      });
      expect0Tainted((await c.core.listNode()).items);
      console.log(`bench: forwarder: ${nodeCount} nodes, ${pods.length} assistant pods and ${taskRunCount} held TaskRun pods created and settled in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

      // Bundled as it ships (one esbuild file), so that the RSS is the forwarder's, not a TS loader's.
      const outfile = await bundleChild(new URL('./forwarder-child.ts', import.meta.url));
      const child = fork(outfile, [cp.kubeconfigPath, bus.url], { execArgv: ['--expose-gc', ...imageNodeFlags()] });
      const ask = () => new Promise<ChildStats>((resolve) => {
        child.once('message', (m: ChildStats & { type: string }) => resolve(m));
        child.send({ type: 'stats' });
      });
      const startedSync = performance.now();
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`forwarder child exited with ${String(code)}`)));
      });
      const syncMs = performance.now() - startedSync;
      await new Promise((r) => setTimeout(r, 2_000)); // the start-up bind events drain
      const afterSync = await ask();
      if (afterSync.watcher.heldPods !== taskRunCount) throw new Error(`the forwarder holds ${afterSync.watcher.heldPods} TaskRun pods as held, not ${taskRunCount}: the measurement would not be of them`);

      // Heartbeats: 20 node status updates per second for 30 s, nothing else changes.
      const heartbeats = Number(process.env.FORWARDER_HEARTBEAT_SECONDS ?? 30) * 20;
      const before = await ask();
      const callsBeforeHeartbeats = bus.calls.length;
      for (let i = 0; i < heartbeats; i++) {
        const name = names[Math.floor(Math.random() * names.length)]!;
        const at = new Date();
        void c.core.patchNodeStatus({ name, body: { status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: at, lastTransitionTime: now }] } } }, mergePatch);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 1_000));
      const afterHeartbeats = await ask();
      // The held TaskRun pods are published meanwhile, on their own schedule: only node events count here.
      const heartbeatEvents = bus.calls.slice(callsBeforeHeartbeats).flatMap((x) => x.entries).filter((e) => e.DetailType === NODE_SCHEDULABILITY_CHANGED).length;
      const cpuPerUpdateUs = (afterHeartbeats.cpu.user + afterHeartbeats.cpu.system - before.cpu.user - before.cpu.system) / heartbeats;

      // Cordon wave: 50 nodes hosting assistants, one every 100 ms.
      const wave = hosts.slice(0, 50);
      const started = new Map<string, number>();
      const callsBefore = bus.calls.length;
      for (const name of wave) {
        started.set(name, performance.now());
        await c.core.patchNode({ name, body: { spec: { unschedulable: true } } }, mergePatch);
        await new Promise((r) => setTimeout(r, 100));
      }
      await eventually('the cordon wave to reach PutEvents', async () => bus.calls.slice(callsBefore).flatMap((x) => x.entries).length, (n) => n >= wave.length, { timeoutMs: 30_000 });
      await new Promise((r) => setTimeout(r, 500));
      const latencies: number[] = [];
      let waveEvents = 0;
      for (const call of bus.calls.slice(callsBefore)) {
        if (call.status !== 200) continue;
        for (const e of call.entries) {
          const node = (JSON.parse(e.Detail ?? '{}') as { node?: { name?: string } }).node?.name;
          if (!node || !started.has(node)) continue;
          waveEvents++;
          latencies.push(call.at - started.get(node)!);
        }
      }
      const end = await ask();
      const heldPodEvents = bus.calls.flatMap((x) => x.entries).filter((e) => e.DetailType === TASKRUN_POD_UNSCHEDULABLE).length;
      const benchSeconds = (performance.now() - startedSync) / 1000;
      child.send({ type: 'stop' });
      await new Promise((r) => child.once('exit', r));
      return [
        summarize('forwarder_sync_ms', 'ms', [syncMs]),
        summarize('forwarder_rss_mb', 'MB', [afterSync.rss / 2 ** 20, end.rss / 2 ** 20]),
        summarize('forwarder_heap_used_mb', 'MB', [afterSync.heapUsed / 2 ** 20, end.heapUsed / 2 ** 20]),
        summarize('forwarder_cpu_per_update_us', 'us', [cpuPerUpdateUs]),
        summarize('forwarder_events_per_heartbeat', 'events', [heartbeatEvents / heartbeats]),
        summarize('forwarder_events_per_transition', 'events', [waveEvents / wave.length]),
        summarize('cordon_to_putevents_ms', 'ms', latencies),
        // At most 5 a second (src/forwarder/held-pod-schedule.ts), however many are held past their grace.
        summarize('forwarder_held_pod_events_per_s', 'events/s', [heldPodEvents / benchSeconds]),
      ];
    } finally {
      await bus.close();
      await cp.stop();
    }
  },
};
