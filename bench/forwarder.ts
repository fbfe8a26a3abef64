/**
 * The forwarder at scale (issue targets: <= 200 MB RSS, 0 events per heartbeat, cordon -> PutEvents
 * p50 <= 50 ms). A simulated cluster in the real apiserver: FORWARDER_NODES nodes (default 5000) with
 * two assistant pods each on the first half (10,000 with the default), a churn of node heartbeats
 * (20 updates/s for 30 s) and a cordon wave over nodes that host assistants. The forwarder runs in a
 * child process (bench/forwarder-child.ts) against a loopback EventBridge endpoint.
 */
import { fork } from 'node:child_process';
import type { V1Node } from '@kubernetes/client-node';
import { ControlPlane } from '../src/local-cluster/controlplane.js';
import { clientsFor, eventually, mergePatch } from '../src/local-cluster/fixtures/clients.js';
import { nodeObject } from '../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../src/local-cluster/fixtures/pods.js';
import { FakeEventBridge } from '../test/support/eventbridge-server.js';
import { type Bench, bundleChild, inBatches, summarize } from './lib.js';

interface ChildStats {
  rss: number;
  cpu: { user: number; system: number };
  publisher: { emitted: number };
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
      expect0Tainted((await c.core.listNode()).items);
      console.log(`bench: forwarder: ${nodeCount} nodes and ${pods.length} assistant pods created and settled in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

      // Bundled as it ships (one esbuild file), so that the RSS is the forwarder's, not a TS loader's.
      const outfile = await bundleChild(new URL('./forwarder-child.ts', import.meta.url));
      const child = fork(outfile, [cp.kubeconfigPath, bus.url], { execArgv: ['--expose-gc'] });
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

      // Heartbeats: 20 node status updates per second for 30 s, nothing else changes.
      const heartbeats = Number(process.env.FORWARDER_HEARTBEAT_SECONDS ?? 30) * 20;
      const before = await ask();
      for (let i = 0; i < heartbeats; i++) {
        const name = names[Math.floor(Math.random() * names.length)]!;
        const at = new Date();
        void c.core.patchNodeStatus({ name, body: { status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: at, lastTransitionTime: now }] } } }, mergePatch);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 1_000));
      const afterHeartbeats = await ask();
      const heartbeatEvents = afterHeartbeats.publisher.emitted - before.publisher.emitted;
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
      child.send({ type: 'stop' });
      await new Promise((r) => child.once('exit', r));
      return [
        summarize('forwarder_sync_ms', 'ms', [syncMs]),
        summarize('forwarder_rss_mb', 'MB', [afterSync.rss / 2 ** 20, end.rss / 2 ** 20]),
        summarize('forwarder_cpu_per_update_us', 'us', [cpuPerUpdateUs]),
        summarize('forwarder_events_per_heartbeat', 'events', [heartbeatEvents / heartbeats]),
        summarize('forwarder_events_per_transition', 'events', [waveEvents / wave.length]),
        summarize('cordon_to_putevents_ms', 'ms', latencies),
      ];
    } finally {
      await bus.close();
      await cp.stop();
    }
  },
};
