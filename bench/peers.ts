/**
 * `npm run bench -- peers`: the tools users have today, side by side, on one scenario with the real Tekton
 * controller: a PipelineRun `first → second` sharing a volumeClaimTemplate workspace on a pool of two
 * nodes; TaskRun 1 runs; the assistant's node is cordoned; TaskRun 1 goes on for `PEERS_TASK_SECONDS`
 * (30) more, then completes (TaskRun 2 completes as soon as it runs). Observed for `PEERS_WINDOW_SECONDS`
 * (180) after the cordon, per tool:
 *
 *   cordon_to_assistant_replaced_s  until a new assistant pod is bound to another node ("never" within
 *                                   the window counts as such: Infinity in the table, null in the JSON)
 *   cordon_to_taskrun2_bound_s      until TaskRun 2's pod is bound to a node
 *   pods_disturbed                  pods other than the assistant deleted or evicted before they finished
 *                                   (a running TaskRun pod evicted is a lost build)
 *   replaced_vs_relocator, taskrun2_vs_relocator   the tool's figure over affinity-relocator's
 *
 * The tools (`PEERS_TOOLS`, comma-separated keys, default all):
 *   tekton-v1.15.0                 Tekton v1.15.0 alone (its own cordon check runs before the first TaskRun only)
 *   tekton-v0.48.0                 Tekton v0.48.0 alone (its cordon check runs on every PipelineRun reconcile)
 *   descheduler-chart              kubernetes-sigs/descheduler v0.36.0 with its Helm chart's defaults: the
 *                                  chart's policy, as a CronJob every 2 minutes (one pass at each even minute)
 *   descheduler-taints-1m          descheduler v0.36.0 with only RemovePodsViolatingNodeTaints, every minute
 *                                  (its evictor's default protections spare pods with an emptyDir: every
 *                                  TaskRun pod has Tekton's)
 *   descheduler-taints-1m-evict-local   the same with that protection off (as the chart's policy has it)
 *   affinity-relocator             local mode (Tekton v1.15.0)
 * Every tool but Tekton v0.48.0 runs next to Tekton v1.15.0. Each tool gets a fresh control plane. The
 * descheduler is built from its Go module (bench/descheduler/go.mod) and cached like the test cluster's.
 *
 * The pending scenario (issue 20; src/local-cluster/fixtures/tekton-pending.ts): nothing is cordoned. The
 * assistant and TaskRun 1 run on a 2-cpu node, an 8-cpu node joins empty, TaskRun 1 completes, and TaskRun
 * 2's pod (3 cpu) is Unschedulable beside the assistant. Observed for `PEERS_PENDING_WINDOW_SECONDS` (90)
 * from the moment the scheduler marks it so, per tool:
 *
 *   unschedulable_to_assistant_moved_s   until a new assistant pod is bound to another node
 *   unschedulable_to_taskrun2_bound_s    until TaskRun 2's pod is bound
 *
 * with Tekton v1.15.0 alone, Tekton v0.48.0 alone, and affinity-relocator in local mode next to Tekton
 * v1.15.0 (its forwarder publishes "TaskRun Pod Unschedulable" once the pod has been held for
 * PENDING_GRACE_SECONDS, 20).
 * `PEERS_SCENARIOS` (comma-separated: cordon, pending; default both) picks the scenarios, `PEERS_TOOLS` the
 * tools of each.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadYaml, type V1Pod } from '@kubernetes/client-node';
import { ensureGoProgram, type GoProgram, moduleSourceDir } from '../src/local-cluster/binary.js';
import type { ControlPlane } from '../src/local-cluster/controlplane.js';
import { setUnschedulable } from '../src/local-cluster/fixtures/nodes.js';
import { createNamespace, waitForBoundPod } from '../src/local-cluster/fixtures/pods.js';
import {
  assistantFor,
  createTwoTaskPipeline,
  FIRST,
  readPipelineRun,
  runPipeline,
  SECOND,
  succeeded,
  taskRunPodName,
  waitForRunningPod,
  workspaceClaim,
} from '../src/local-cluster/fixtures/tekton-runs.js';
import { provisionVolume } from '../src/local-cluster/fixtures/volumes.js';
import { ComponentProcess } from '../src/local-cluster/process.js';
import type { TektonVersion } from '../src/local-cluster/tekton.js';
import { holdSecondTask, startPendingRun } from '../src/local-cluster/fixtures/tekton-pending.js';
import { Scenario, TEST_CONFIG } from '../test/integration/support.js';
import { type Bench, type Result } from './lib.js';

const DESCHEDULER_MODULE = 'sigs.k8s.io/descheduler';
const DESCHEDULER: GoProgram = {
  label: 'descheduler',
  moduleDir: join(dirname(fileURLToPath(import.meta.url)), 'descheduler'),
  pkg: `${DESCHEDULER_MODULE}/cmd/descheduler`,
  version: 'v0.36.0',
  name: 'descheduler',
};

interface Tool {
  key: string;
  tekton: TektonVersion;
  relocator?: boolean;
  descheduler?: { policy: () => object; periodMs: number };
}

/** The chart's default policy, read from the chart the module ships (charts/descheduler/values.yaml). */
function chartPolicy(): object {
  const values = loadYaml<{ deschedulerPolicyAPIVersion: string; deschedulerPolicy: object; schedule: string }>(
    readFileSync(join(moduleSourceDir(DESCHEDULER.moduleDir, DESCHEDULER_MODULE), 'charts', 'descheduler', 'values.yaml'), 'utf8'),
  );
  if (values.schedule !== '*/2 * * * *') throw new Error(`bench: the descheduler chart's schedule is "${values.schedule}", not every 2 minutes: update the bench`);
  return { apiVersion: values.deschedulerPolicyAPIVersion, kind: 'DeschedulerPolicy', ...values.deschedulerPolicy };
}

/** Only RemovePodsViolatingNodeTaints; `evictLocalStorage` lifts the evictor's default protection of pods with emptyDirs. */
const taintsOnlyPolicy = (evictLocalStorage = false) => () => ({
  apiVersion: 'descheduler/v1alpha2',
  kind: 'DeschedulerPolicy',
  profiles: [
    {
      name: 'taints',
      pluginConfig: [
        evictLocalStorage ? { name: 'DefaultEvictor', args: { podProtections: { defaultDisabled: ['PodsWithLocalStorage'] } } } : { name: 'DefaultEvictor' },
        { name: 'RemovePodsViolatingNodeTaints' },
      ],
      plugins: { deschedule: { enabled: ['RemovePodsViolatingNodeTaints'] } },
    },
  ],
});

const TOOLS: Tool[] = [
  { key: 'tekton-v1.15.0', tekton: 'v1.15.0' },
  { key: 'tekton-v0.48.0', tekton: 'v0.48.0' },
  { key: 'descheduler-chart', tekton: 'v1.15.0', descheduler: { policy: chartPolicy, periodMs: 120_000 } },
  { key: 'descheduler-taints-1m', tekton: 'v1.15.0', descheduler: { policy: taintsOnlyPolicy(), periodMs: 60_000 } },
  { key: 'descheduler-taints-1m-evict-local', tekton: 'v1.15.0', descheduler: { policy: taintsOnlyPolicy(true), periodMs: 60_000 } },
  { key: 'affinity-relocator', tekton: 'v1.15.0', relocator: true },
];

/** The pending scenario's tools: the descheduler evicts no Pending pod and sees no bad node there. */
const PENDING_TOOLS: Tool[] = TOOLS.filter((t) => !t.descheduler);
const SCENARIOS = ['cordon', 'pending'] as const;

function seconds(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback * 1000;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`bench: ${name} must be a number of seconds > 0, got "${raw}"`);
  return n * 1000;
}

/**
 * One descheduler pass at every wall-clock multiple of `periodMs` (as a CronJob's schedule fires), each
 * a one-shot process (no --descheduling-interval), until stopped.
 */
function runDescheduler(cp: ControlPlane, binary: string, policy: object, periodMs: number): () => Promise<void> {
  const policyFile = join(cp.workDir, 'descheduler-policy.json'); // JSON is YAML
  writeFileSync(policyFile, JSON.stringify(policy, null, 2));
  let stopped = false;
  let current: ComponentProcess | undefined;
  let timer: NodeJS.Timeout | undefined;
  let wake = (): void => undefined;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      await new Promise<void>((r) => {
        wake = r;
        timer = setTimeout(r, periodMs - (Date.now() % periodMs));
      });
      if (stopped) return;
      const args = [`--kubeconfig=${cp.kubeconfigPath}`, `--policy-config-file=${policyFile}`, '--secure-port=0', '--disable-metrics', '--v=3'];
      current = new ComponentProcess('descheduler', binary, args, join(cp.workDir, 'descheduler.log'));
      await current.exited;
    }
  };
  const done = loop();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    wake(); // the wait for the next pass ends now
    await current?.stop();
    await done;
  };
}

interface Observation {
  replacedMs: number;
  secondBoundMs: number;
  disturbed: string[];
  pipelineRun: string;
}

async function observe(tool: Tool, taskMs: number, windowMs: number): Promise<Observation> {
  const descheduler = tool.descheduler ? await ensureGoProgram(DESCHEDULER) : undefined;
  const s = await Scenario.start({ tekton: { version: tool.tekton } });
  let stopDescheduler: (() => Promise<void>) | undefined;
  let firstTimer: NodeJS.Timeout | undefined;
  try {
    if (tool.relocator) await s.startLocalMode(TEST_CONFIG);
    const pool = 'peers';
    const ns = pool;
    await s.pool(pool, 2);
    await createNamespace(s.admin, ns);
    const pipeline = await createTwoTaskPipeline(s.admin, ns);
    const pr = await runPipeline(s.admin, ns, pipeline, { name: 'build', nodeSelector: { pool } });
    await provisionVolume(s.admin, ns, workspaceClaim('workspaces', pr), { kind: 'anywhere' }, { createClaim: false });
    const firstName = taskRunPodName(pr, FIRST);
    const secondName = taskRunPodName(pr, SECOND);
    const assistant = `${assistantFor('workspaces', pr)}-0`;
    await waitForRunningPod(s.admin, ns, firstName);
    const aa = await waitForBoundPod(s.admin, ns, assistant);
    const from = aa.spec!.nodeName!;
    if (descheduler && tool.descheduler) stopDescheduler = runDescheduler(s.cp, descheduler, tool.descheduler.policy(), tool.descheduler.periodMs);
    void s.cp.kubelets.complete(ns, secondName);

    const t0 = Date.now();
    await setUnschedulable(s.admin, from, true);
    firstTimer = setTimeout(() => void s.cp.kubelets.complete(ns, firstName), taskMs);
    let replacedMs = Infinity;
    let secondBoundMs = Infinity;
    const disturbed = new Set<string>();
    const seen = new Map<string, V1Pod>();
    let prStatus = 'Unknown';
    while (Date.now() - t0 < windowMs) {
      const pods = (await s.admin.core.listNamespacedPod({ namespace: ns })).items;
      const now = Date.now() - t0;
      for (const p of pods) {
        const name = p.metadata!.name!;
        if (name === assistant) {
          if (p.metadata?.uid !== aa.metadata?.uid && p.spec?.nodeName && p.spec.nodeName !== from && !p.metadata?.deletionTimestamp) replacedMs = Math.min(replacedMs, now);
          continue;
        }
        if (name === secondName && p.spec?.nodeName) secondBoundMs = Math.min(secondBoundMs, now);
        const finished = ['Succeeded', 'Failed'].includes(p.status?.phase ?? '');
        if (p.metadata?.deletionTimestamp && !finished) disturbed.add(name);
        seen.set(p.metadata!.uid!, p);
      }
      // A pod seen unfinished and now gone was deleted under its TaskRun.
      for (const [uid, p] of seen) {
        if (pods.some((x) => x.metadata?.uid === uid)) continue;
        if (p.metadata?.name !== assistant && !['Succeeded', 'Failed'].includes(p.status?.phase ?? '')) disturbed.add(p.metadata!.name!);
        seen.delete(uid);
      }
      prStatus = succeeded(await readPipelineRun(s.admin, ns, pr.metadata.name)) ?? 'Unknown';
      if (prStatus !== 'Unknown') break; // nothing left to disturb or to wait for
      await new Promise((r) => setTimeout(r, 250));
    }
    return { replacedMs, secondBoundMs, disturbed: [...disturbed], pipelineRun: prStatus === 'True' ? 'succeeded' : prStatus === 'False' ? 'failed' : 'still running' };
  } finally {
    clearTimeout(firstTimer);
    await stopDescheduler?.();
    await s.stop();
  }
}

interface PendingObservation {
  movedMs: number;
  secondBoundMs: number;
  pipelineRun: string;
  message: string;
}

/**
 * The pending scenario for one tool: from TaskRun 2's pod marked Unschedulable, until it is bound or the
 * PipelineRun is done (TaskRun 2 completes once it is seen bound), at most `windowMs`.
 */
async function observePending(tool: Tool, windowMs: number): Promise<PendingObservation> {
  const s = await Scenario.start({ tekton: { version: tool.tekton } });
  try {
    const r = await startPendingRun(s.admin, { namespace: 'peers', small: 'peers-1', big: 'peers-2' });
    // Local mode: its forwarder publishes the held pod after PENDING_GRACE_SECONDS, and its release once bound.
    if (tool.relocator) await s.startLocalMode(TEST_CONFIG);
    await holdSecondTask(s.admin, s.cp.kubelets, r);
    const t0 = Date.now();
    let movedMs = Infinity;
    let secondBoundMs = Infinity;
    let prStatus = 'Unknown';
    while (Date.now() - t0 < windowMs) {
      // TaskRun 2's pod first: once it is bound, the assistant read after it shows the replacement bound too.
      const second = await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.secondPod });
      const aa = await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.assistant }).catch(() => undefined);
      const now = Date.now() - t0;
      if (aa && aa.metadata?.uid !== r.assistantUid && aa.spec?.nodeName && aa.spec.nodeName !== r.small) movedMs = Math.min(movedMs, now);
      if (second.spec?.nodeName && !Number.isFinite(secondBoundMs)) {
        secondBoundMs = now;
        // Completed only now: a PipelineRun done at once would have Tekton delete the assistant before it is seen moved.
        void s.cp.kubelets.complete(r.ns, r.secondPod);
      }
      prStatus = succeeded(await readPipelineRun(s.admin, r.ns, r.pr.metadata.name)) ?? 'Unknown';
      if (prStatus !== 'Unknown') break;
      await new Promise((w) => setTimeout(w, 250));
    }
    const last = await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.secondPod });
    const message = (last.status?.conditions ?? []).find((c) => c.type === 'PodScheduled' && c.status === 'False')?.message ?? '';
    return { movedMs, secondBoundMs, pipelineRun: prStatus === 'True' ? 'succeeded' : prStatus === 'False' ? 'failed' : 'still running', message };
  } finally {
    await s.stop();
  }
}

const row = (name: string, unit: string, value: number): Result => ({ name, unit, p50: value, p99: value, n: 1 });
const shown = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'never');

function pick(tools: Tool[], wanted: string[] | undefined): Tool[] {
  return wanted ? tools.filter((t) => wanted.includes(t.key)) : tools;
}

export const peers: Bench = {
  name: 'peers',
  async run() {
    const taskMs = seconds('PEERS_TASK_SECONDS', 30);
    const windowMs = seconds('PEERS_WINDOW_SECONDS', 180);
    const pendingWindowMs = seconds('PEERS_PENDING_WINDOW_SECONDS', 90);
    const wanted = process.env.PEERS_TOOLS?.split(',').filter(Boolean);
    const unknown = (wanted ?? []).filter((k) => !TOOLS.some((t) => t.key === k));
    if (unknown.length) throw new Error(`bench: PEERS_TOOLS: unknown ${unknown.join(', ')} (known: ${TOOLS.map((t) => t.key).join(', ')})`);
    const scenarios = process.env.PEERS_SCENARIOS?.split(',').filter(Boolean) ?? [...SCENARIOS];
    const unknownScenarios = scenarios.filter((x) => !(SCENARIOS as readonly string[]).includes(x));
    if (unknownScenarios.length) throw new Error(`bench: PEERS_SCENARIOS: unknown ${unknownScenarios.join(', ')} (known: ${SCENARIOS.join(', ')})`);
    const tools = scenarios.includes('cordon') ? pick(TOOLS, wanted) : [];
    const pendingTools = scenarios.includes('pending') ? pick(PENDING_TOOLS, wanted) : [];
    const results = new Map<string, Observation>();
    for (const tool of tools) {
      console.log(`bench: peers: ${tool.key} (TaskRun 1 runs ${taskMs / 1000} s after the cordon; window ${windowMs / 1000} s)`);
      try {
        const o = await observe(tool, taskMs, windowMs);
        results.set(tool.key, o);
        console.log(`bench: peers: ${tool.key}: assistant replaced ${shown(o.replacedMs)}, TaskRun 2 bound ${shown(o.secondBoundMs)}, disturbed [${o.disturbed.join(', ')}], PipelineRun ${o.pipelineRun}`);
      } catch (e) {
        // A failed run is counted (no figures for the tool) and the bench goes on with the next tool.
        console.log(`bench: peers: ${tool.key}: FAILED: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const ours = results.get('affinity-relocator');
    const rows: Result[] = [];
    for (const [key, o] of results) {
      rows.push(row(`peers_${key}_cordon_to_assistant_replaced_s`, 's', o.replacedMs / 1000));
      rows.push(row(`peers_${key}_cordon_to_taskrun2_bound_s`, 's', o.secondBoundMs / 1000));
      rows.push(row(`peers_${key}_pods_disturbed`, 'pods', o.disturbed.length));
      if (ours && key !== 'affinity-relocator') {
        rows.push(row(`peers_${key}_replaced_vs_relocator`, 'ratio', o.replacedMs / ours.replacedMs));
        rows.push(row(`peers_${key}_taskrun2_vs_relocator`, 'ratio', o.secondBoundMs / ours.secondBoundMs));
      }
    }
    const pending = new Map<string, PendingObservation>();
    for (const tool of pendingTools) {
      console.log(`bench: peers: pending: ${tool.key} (window ${pendingWindowMs / 1000} s from TaskRun 2's pod Unschedulable)`);
      try {
        const o = await observePending(tool, pendingWindowMs);
        pending.set(tool.key, o);
        console.log(`bench: peers: pending: ${tool.key}: assistant moved ${shown(o.movedMs)}, TaskRun 2 bound ${shown(o.secondBoundMs)}, PipelineRun ${o.pipelineRun}${o.message ? ` (scheduler: ${o.message})` : ''}`);
      } catch (e) {
        console.log(`bench: peers: pending: ${tool.key}: FAILED: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    for (const [key, o] of pending) {
      rows.push(row(`peers_pending_${key}_unschedulable_to_assistant_moved_s`, 's', o.movedMs / 1000));
      rows.push(row(`peers_pending_${key}_unschedulable_to_taskrun2_bound_s`, 's', o.secondBoundMs / 1000));
    }
    const runs = tools.length + pendingTools.length;
    const failed = runs - results.size - pending.size;
    rows.push({ name: 'peers_failed_runs', unit: 'runs', p50: failed, p99: failed, n: runs });
    return rows;
  },
};
