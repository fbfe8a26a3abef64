/**
 * The scheduler differential (issue 9): for one generated cluster state (test/cluster/fixtures/
 * cluster-states.ts), what the relocator decides about the assistant on its bad node, against what the
 * real kube-scheduler does with the replacement. Shared by test/integration/scheduler-differential.test.ts
 * and bench/differential.ts.
 *
 * One state, on a running control plane, in its own namespace and on its own nodes (deleted afterwards):
 *  1. nodes (all but the start node wear the per-state label with a "-hold" suffix, so that the assistant,
 *     whose nodeSelector asks for the per-state label, can only start on the start node), the running
 *     PipelineRun, PVs (pre-bound to their claims), the other assistants and the pods the assistant's
 *     podAffinity needs, then the assistant's StatefulSet: the real scheduler binds its pod (or cannot:
 *     'not-placeable', the state is not compared);
 *  2. every node gets the per-state label, the remaining pods are bound by spec.nodeName (as pods a
 *     kubelet admitted sit in the scheduler's cache), and the assistant's node is made bad (cordon or taint);
 *  3. the relocator decides, dry-run: 'skipped'/'dry-run' = it would delete, 'blocked' = it would not;
 *  4. the scheduler is asked two questions with the real replacement (the StatefulSet controller recreates
 *     the pod after an admin delete with grace period 0):
 *       A. can another node take it? the bad node loses the per-state label (so no filter but the
 *          nodeSelector changes for it), the pod is deleted, the replacement is bound elsewhere or
 *          Unschedulable;
 *       B. would it go back to the bad node? the bad node alone wears the label: bound there or not.
 *     Asking B separately matters: when the bad node still passes every filter (the pod tolerates the
 *     taint or cordon), where one replacement lands is a matter of scores and chance, and one delete
 *     would say nothing reliable.
 *
 * Verdicts: the relocator deletes: agree when A and not B; UNSAFE when not A (the replacement cannot be
 * placed) or B (it may be scheduled straight back). The relocator blocks: agree when not A or B; over-block
 * when A and not B.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Outcome } from '../../src/domain/outcome.js';
import type { Relocator } from '../../src/relocator/relocator.js';
import { type Clients, eventually, mergePatch } from '../../src/local-cluster/fixtures/clients.js';
import {
  type ClusterState,
  type FillerSpec,
  generateClusterState,
  type NodeSpec,
} from '../cluster/fixtures/cluster-states.js';
import { addTaint, createNode, setReady, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { createNamespace, readPodOrUndefined } from '../../src/local-cluster/fixtures/pods.js';
import {
  affinityAssistantName,
  COMPONENT_AFFINITY_ASSISTANT,
  createAssistant,
  createPipelineRun,
  LABEL_COMPONENT,
  LABEL_INSTANCE,
  LABEL_PIPELINE_RUN,
  type PipelineRun,
} from '../../src/local-cluster/fixtures/tekton.js';
import { provisionVolume } from '../../src/local-cluster/fixtures/volumes.js';

/** Node label that keeps each state's assistant on that state's nodes. */
export const STATE_LABEL = 'diff.affinity-relocator.io/state';

/** How long the scheduler's informers get to see a change to nodes or pods before the next step. */
export const SETTLE_MS = 250;

export type Verdict = 'agree-delete' | 'agree-block' | 'unsafe' | 'over-block' | 'not-placeable' | 'harness-error';

export interface SchedulerAnswer {
  /** Node the replacement was bound to, or undefined when it stayed Unschedulable. */
  node?: string;
  /** The scheduler's Unschedulable message, or "bound to <node>". */
  message: string;
}

export interface StateResult {
  seed: number;
  verdict: Verdict;
  /** For unsafe / over-block: a short name of what the two disagree on (see `disagreementKind`). */
  kind?: string;
  /** What the relocator decided: 'delete' or the blocked reason. */
  relocator?: { decision: 'delete' | 'block'; reason: string; message: string };
  elsewhere?: SchedulerAnswer;
  backOnBadNode?: SchedulerAnswer;
  /** harness-error / not-placeable: what happened. */
  error?: string;
  seconds: number;
  mode: string;
  badMark: string;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function fillerPod(st: Pick<ClusterState, 'namespace'>, f: FillerSpec): V1Pod {
  const resources = (cpu: number, mem: number) => ({ requests: { cpu: `${cpu}m`, memory: `${mem}Mi` } });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: f.name, namespace: st.namespace, labels: f.labels },
    spec: {
      nodeName: f.node,
      // Bound pods that a NoExecute taint must not evict (no kubelet runs to finish an eviction).
      tolerations: [{ operator: 'Exists' }],
      initContainers: f.init ? [{ name: 'init', image: 'pause', resources: resources(f.init.cpuMilli, f.init.memoryMi) }] : undefined,
      containers: [{ name: 'main', image: 'pause', resources: resources(f.cpuMilli, f.memoryMi) }],
      affinity: f.antiAssistant
        ? {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                { labelSelector: { matchLabels: { [LABEL_COMPONENT]: COMPONENT_AFFINITY_ASSISTANT } }, topologyKey: f.antiAssistant },
              ],
            },
          }
        : undefined,
    },
  };
}

function otherAssistantPod(st: Pick<ClusterState, 'namespace'>, name: string, node: string, i: number): V1Pod {
  const instance = name.replace(/-0$/, '');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: st.namespace,
      labels: { [LABEL_COMPONENT]: COMPONENT_AFFINITY_ASSISTANT, [LABEL_INSTANCE]: instance, [LABEL_PIPELINE_RUN]: `other-${i}` },
    },
    spec: {
      nodeName: node,
      tolerations: [{ operator: 'Exists' }],
      containers: [{ name: 'affinity-assistant', image: 'pause', resources: { requests: { cpu: '50m', memory: '100Mi' } } }],
    },
  };
}

export async function labelNode(c: Clients, node: string, value: string): Promise<void> {
  await c.core.patchNode({ name: node, body: { metadata: { labels: { [STATE_LABEL]: value } } } }, mergePatch);
}

/**
 * Deletes the assistant pod (grace period 0, uid precondition) and waits for the StatefulSet's
 * replacement to be bound or Unschedulable.
 */
export async function replace(c: Clients, ns: string, name: string, timeoutMs = 30_000): Promise<SchedulerAnswer & { uid: string }> {
  const old = await c.core.readNamespacedPod({ namespace: ns, name });
  const oldUid = old.metadata!.uid!;
  await c.core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid: oldUid } } });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await readPodOrUndefined(c, ns, name);
    if (p && p.metadata?.uid !== oldUid) {
      if (p.spec?.nodeName) return { node: p.spec.nodeName, message: `bound to ${p.spec.nodeName}`, uid: p.metadata!.uid! };
      const cond = (p.status?.conditions ?? []).find((x) => x.type === 'PodScheduled');
      if (cond?.status === 'False' && cond.reason === 'Unschedulable') return { message: cond.message ?? 'Unschedulable', uid: p.metadata!.uid! };
    }
    if (Date.now() > deadline) throw new Error(`the replacement of ${ns}/${name} was neither bound nor Unschedulable after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Waits for the assistant's first pod: bound (to the start node), or not placeable. */
async function waitForStart(c: Clients, ns: string, name: string): Promise<{ node?: string; message: string }> {
  const deadline = Date.now() + 25_000;
  let unschedulableSince: number | undefined;
  for (;;) {
    const p = await readPodOrUndefined(c, ns, name);
    if (p?.spec?.nodeName) return { node: p.spec.nodeName, message: 'bound' };
    const cond = (p?.status?.conditions ?? []).find((x) => x.type === 'PodScheduled');
    if (cond?.status === 'False' && cond.reason === 'Unschedulable') {
      // Claims of volumeClaimTemplates bind a moment after the pod exists: let the scheduler retry.
      unschedulableSince ??= Date.now();
      if (!/PersistentVolumeClaim/.test(cond.message ?? '') && Date.now() - unschedulableSince > 1_500) return { message: cond.message ?? 'Unschedulable' };
    }
    if (Date.now() > deadline) return { message: cond?.message ?? `not bound after 25 s (${p ? 'pending' : 'no pod'})` };
    await sleep(100);
  }
}

/** Deletes what the state created; never throws (a failed cleanup must not hide the state's result). */
export async function cleanup(c: Clients, st: Pick<ClusterState, 'namespace' | 'nodes'>, pvNames: string[]): Promise<void> {
  const ignore = () => undefined;
  const ns = st.namespace;
  await c.apps.deleteCollectionNamespacedStatefulSet({ namespace: ns }).catch(ignore);
  await c.core.deleteCollectionNamespacedPod({ namespace: ns, gracePeriodSeconds: 0 }).catch(ignore);
  await Promise.all([
    c.core.deleteNamespace({ name: ns }).catch(ignore),
    ...st.nodes.map((n) => c.core.deleteNode({ name: n.name }).catch(ignore)),
    ...pvNames.map((name) => c.core.deletePersistentVolume({ name }).catch(ignore)),
  ]);
}

/** What the first steps of a state need (the scheduler differential's and the pending-pod one's). */
export type StateSetup = Pick<ClusterState, 'id' | 'namespace' | 'pipelineRun' | 'nodes' | 'startNode' | 'fillers' | 'otherAssistants' | 'assistant'>;

/**
 * Step 1 of a state: its namespace, nodes (the start node alone wears the state label), PipelineRun, volumes
 * (their PV names pushed to `pvNames` as they are made, for the cleanup), other assistants, the 'before'
 * fillers and the assistant's StatefulSet; then waits for the assistant's pod: bound (to the start node)
 * or not placeable (`startAt.node` undefined, with the scheduler's message).
 */
export async function startAssistant(
  c: Clients,
  st: StateSetup,
  pvNames: string[],
): Promise<{ pr: PipelineRun; sts: string; podName: string; startAt: { node?: string; message: string } }> {
  const ns = st.namespace;
  await createNamespace(c, ns);
  const hold = `${st.id}-hold`;
  await Promise.all(
    st.nodes.map(async (n) => {
      await createNode(c, n.name, {
        zone: n.zone,
        labels: { ...n.labels, [STATE_LABEL]: n.name === st.startNode ? st.id : hold },
        taints: n.taints,
        unschedulable: n.unschedulable,
        cpu: `${n.cpuMilli}m`,
        memory: `${n.memoryMi}Mi`,
        pods: String(n.pods),
      });
      if (n.notReady) {
        await setReady(c, n.name, 'False');
        // As on a node NotReady for a while: the node lifecycle controller has tainted it (within its
        // 5 s monitor period). Without the wait the scheduler could bind to it before the taint is there.
        await eventually(
          `node ${n.name} to get the not-ready taint`,
          () => c.core.readNode({ name: n.name }),
          (x) => (x.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/not-ready' && t.effect === 'NoSchedule'),
        );
      }
    }),
  );
  const pr = await createPipelineRun(c, ns, st.pipelineRun);
  const sts = affinityAssistantName(st.assistant.workspaceName ?? '', pr.metadata.name);
  const podName = `${sts}-0`;
  await Promise.all(
    st.assistant.volumes.map(async (v) => {
      const claim = v.source === 'claim' ? v.name : `${v.name}-${sts}-0`;
      const pv = await provisionVolume(c, ns, claim, v.placement, { createClaim: v.source === 'claim' });
      pvNames.push(pv.metadata!.name!);
    }),
  );
  await Promise.all([
    ...st.otherAssistants.map((o, i) => c.core.createNamespacedPod({ namespace: ns, body: otherAssistantPod(st, o.name, o.node, i + 1) })),
    ...st.fillers.filter((f) => f.phase === 'before').map((f) => c.core.createNamespacedPod({ namespace: ns, body: fillerPod(st, f) })),
  ]);
  await sleep(SETTLE_MS);
  const tpl = st.assistant.podTemplate;
  await createAssistant(c, pr, {
    mode: st.assistant.mode,
    workspaceName: st.assistant.workspaceName,
    claimNames: st.assistant.volumes.filter((v) => v.source === 'claim').map((v) => v.name),
    claimTemplates: st.assistant.volumes
      .filter((v) => v.source === 'template')
      .map((v) => ({
        metadata: { name: v.name },
        spec: { accessModes: ['ReadWriteOnce'], storageClassName: '', resources: { requests: { storage: '1Gi' } } },
      })),
    podTemplate: { ...tpl, nodeSelector: { ...tpl.nodeSelector, [STATE_LABEL]: st.id } },
  });
  const startAt = await waitForStart(c, ns, podName);
  return { pr, sts, podName, startAt };
}

export interface RunEnv {
  admin: Clients;
  /** A relocator with dryRun: true, as the relocator identity. */
  relocator: Relocator;
}

/** Runs one state end to end and returns its verdict; never throws (errors become 'harness-error'). */
export async function runState(env: RunEnv, st: ClusterState): Promise<StateResult> {
  const started = performance.now();
  const base = { seed: st.seed, mode: st.assistant.mode, badMark: describeBadMark(st) };
  const done = (r: Omit<StateResult, 'seed' | 'seconds' | 'mode' | 'badMark'>): StateResult => ({
    ...base,
    ...r,
    seconds: (performance.now() - started) / 1000,
  });
  const c = env.admin;
  const pvNames: string[] = [];
  try {
    const ns = st.namespace;
    const hold = `${st.id}-hold`;
    const { podName, startAt } = await startAssistant(c, st, pvNames);
    if (!startAt.node) return done({ verdict: 'not-placeable', error: startAt.message });
    const badNode = startAt.node;

    await Promise.all(st.nodes.filter((n) => n.name !== badNode).map((n) => labelNode(c, n.name, st.id)));
    await Promise.all(st.fillers.filter((f) => f.phase === 'after').map((f) => c.core.createNamespacedPod({ namespace: ns, body: fillerPod(st, f) })));
    if (st.bad.kind === 'cordon') await setUnschedulable(c, badNode, true);
    else await addTaint(c, badNode, st.bad.taint);
    await sleep(SETTLE_MS);

    const outcomes = await env.relocator.handle({
      id: `diff-${st.seed}`,
      source: 'manual',
      target: { kind: 'pod', pod: { namespace: ns, name: podName } },
      observedAt: new Date().toISOString(),
    });
    const decision = relocatorDecision(outcomes);
    if ('error' in decision) return done({ verdict: 'harness-error', error: decision.error });

    // A: anywhere but the bad node.
    await labelNode(c, badNode, hold);
    await sleep(SETTLE_MS);
    const elsewhere = await replace(c, ns, podName);
    if (elsewhere.node === badNode) throw new Error(`question A: the replacement was bound to the bad node ${badNode}, which had lost the state label`);
    // B: the bad node alone.
    await Promise.all([labelNode(c, badNode, st.id), ...st.nodes.filter((n) => n.name !== badNode).map((n) => labelNode(c, n.name, hold))]);
    await sleep(SETTLE_MS);
    const back = await replace(c, ns, podName);
    if (back.node && back.node !== badNode) throw new Error(`question B: the replacement was bound to ${back.node}, not to the bad node ${badNode}`);

    const a = { node: elsewhere.node, message: elsewhere.message };
    const b = { node: back.node, message: back.message };
    const verdict = classify(decision.decision, !!a.node, !!b.node);
    const nodesByName = new Map(st.nodes.map((n) => [n.name, n]));
    const kind =
      verdict === 'unsafe' || verdict === 'over-block' ? disagreementKind(verdict, decision, a, b, a.node ? nodesByName.get(a.node) : undefined) : undefined;
    return done({ verdict, ...(kind ? { kind } : {}), relocator: decision, elsewhere: a, backOnBadNode: b });
  } catch (e) {
    return done({ verdict: 'harness-error', error: e instanceof Error ? e.message : String(e) });
  } finally {
    await cleanup(c, st, pvNames);
  }
}

function relocatorDecision(outcomes: Outcome[]): { decision: 'delete' | 'block'; reason: string; message: string } | { error: string } {
  if (outcomes.length !== 1) return { error: `the relocator returned ${outcomes.length} outcomes: ${JSON.stringify(outcomes)}` };
  const o = outcomes[0]!;
  if (o.kind === 'skipped' && o.reason === 'dry-run') return { decision: 'delete', reason: 'dry-run', message: o.message };
  if (o.kind === 'blocked') return { decision: 'block', reason: o.reason, message: o.message };
  return { error: `unexpected relocator outcome ${o.kind}/${o.reason}: ${o.message}` };
}

/** The verdict from the relocator's decision and the scheduler's two answers. */
export function classify(decision: 'delete' | 'block', elsewhere: boolean, backOnBadNode: boolean): Verdict {
  const relocatable = elsewhere && !backOnBadNode;
  if (decision === 'delete') return relocatable ? 'agree-delete' : 'unsafe';
  return relocatable ? 'over-block' : 'agree-block';
}

/**
 * Over-block kinds that are the relocator's design, not a mistake of its feasibility check. The test
 * allows these (within the 1 % budget) and fails on any other kind.
 */
export const ALLOWED_OVERBLOCK_KINDS: Record<string, string> = {
  'target-not-ready':
    'the only node the scheduler could use is NotReady: the scheduler looks at its taints only, and the pod tolerates them (not-ready, or everything); the relocator never sends an assistant to a NotReady node, where it would not run and its TaskRuns would not either',
};

/** A short name for what the relocator and the scheduler disagree on, from the scheduler's own words. */
export function disagreementKind(
  verdict: 'unsafe' | 'over-block',
  decision: { reason: string; message: string },
  elsewhere: SchedulerAnswer,
  back: SchedulerAnswer,
  target?: NodeSpec,
): string {
  if (verdict === 'over-block') {
    if (decision.reason === 'no-feasible-node' && target?.notReady) return 'target-not-ready';
    // 'tolerates-bad-node' although the bad node would not take it back: say what keeps it off.
    return decision.reason === 'tolerates-bad-node' ? `over-block:tolerates-bad-node/${causesOf(back.message)}` : `over-block:${decision.reason}`;
  }
  if (back.node) return 'unsafe:back-on-bad-node';
  return `unsafe:${causesOf(elsewhere.message)}`;
}

/**
 * What an Unschedulable message says beyond node filters. The message counts every node of the cluster,
 * other states' too, which always add taints, cordons and selector mismatches: only the causes that a
 * state's own nodes alone produce are named.
 */
export function causesOf(message: string): string {
  const causes = [
    [/existing pods anti-affinity/, 'existing-pods-anti-affinity'],
    [/didn't match pod anti-affinity/, 'pod-anti-affinity'],
    [/didn't match pod affinity/, 'pod-affinity'],
    [/Insufficient (cpu|memory)/, 'resources'],
    [/Too many pods/, 'pod-count'],
    [/PersistentVolume's node affinity|volume node affinity/, 'volume'],
  ] as const;
  return causes.filter(([re]) => re.test(message)).map(([, k]) => k).join('+') || 'node-filters';
}

function describeBadMark(st: ClusterState): string {
  const mark = st.bad.kind === 'cordon' ? 'cordon' : `${st.bad.taint.key}:${st.bad.taint.effect}`;
  return st.toleratesBad ? `${mark} (tolerated)` : mark;
}

export interface Summary {
  results: StateResult[];
  counts: Record<Verdict, number>;
  /** States compared (neither not-placeable nor harness-error). */
  compared: number;
  overBlockPct: number;
}

export function summarize(results: StateResult[]): Summary {
  const counts: Record<Verdict, number> = { 'agree-delete': 0, 'agree-block': 0, unsafe: 0, 'over-block': 0, 'not-placeable': 0, 'harness-error': 0 };
  for (const r of results) counts[r.verdict]++;
  const compared = counts['agree-delete'] + counts['agree-block'] + counts.unsafe + counts['over-block'];
  return { results, counts, compared, overBlockPct: compared ? (100 * counts['over-block']) / compared : 0 };
}

/** Runs `count` states with seeds first..first+count-1, `concurrency` at a time. */
export async function runDifferential(
  env: RunEnv,
  o: { first: number; count: number; concurrency?: number; onResult?: (r: StateResult) => void },
): Promise<Summary> {
  const seeds = Array.from({ length: o.count }, (_, i) => o.first + i);
  const results: StateResult[] = [];
  const workers = Array.from({ length: Math.min(o.concurrency ?? 3, seeds.length) }, async () => {
    for (let seed = seeds.shift(); seed !== undefined; seed = seeds.shift()) {
      const r = await runState(env, generateClusterState(seed));
      results.push(r);
      o.onResult?.(r);
    }
  });
  await Promise.all(workers);
  results.sort((a, b) => a.seed - b.seed);
  return summarize(results);
}

/** One line per disagreement or error, naming the seed to reproduce it with. */
export function describeResult(r: StateResult): string {
  const head = `seed ${r.seed} (DIFF_SEED=${r.seed} DIFF_STATES=1) ${r.verdict}${r.kind ? ` [${r.kind}]` : ''} mode=${r.mode} bad=${r.badMark}`;
  if (r.error) return `${head}: ${r.error}`;
  return `${head}\n    relocator: ${r.relocator?.decision} (${r.relocator?.reason}) ${r.relocator?.message}\n    scheduler, other nodes: ${r.elsewhere?.message}\n    scheduler, bad node alone: ${r.backOnBadNode?.message}`;
}

/**
 * Agreeing blocks whose stated reason the scheduler contradicts: 'tolerates-bad-node' although the bad
 * node would not take the replacement back, or 'no-feasible-node' although it would. Reported, not failed.
 */
export function reasonMismatches(results: StateResult[]): StateResult[] {
  return results.filter(
    (r) =>
      r.verdict === 'agree-block' &&
      ((r.relocator?.reason === 'tolerates-bad-node' && !r.backOnBadNode?.node) || (r.relocator?.reason === 'no-feasible-node' && !!r.backOnBadNode?.node)),
  );
}

export function formatSummary(s: Summary): string {
  const c = s.counts;
  const seconds = s.results.map((r) => r.seconds);
  const kinds = new Map<string, number>();
  for (const r of s.results) if (r.kind) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
  const lines = [
    `scheduler differential: ${s.results.length} states, ${s.compared} compared` +
      (seconds.length ? `, ${(seconds.reduce((x, y) => x + y, 0) / seconds.length).toFixed(1)} s per state` : ''),
    `  agree-delete  ${c['agree-delete']}`,
    `  agree-block   ${c['agree-block']}`,
    `  UNSAFE        ${c.unsafe}   (relocator deletes, the replacement cannot be placed elsewhere or may go back)`,
    `  over-block    ${c['over-block']}   (${s.overBlockPct.toFixed(2)} % of compared; relocator blocks, the scheduler would place it elsewhere)`,
    `  not placeable at start ${c['not-placeable']}, harness errors ${c['harness-error']}`,
    ...[...kinds.entries()].sort().map(([k, n]) => `  kind ${k}: ${n}`),
    `  blocked for a reason the scheduler does not bear out (the block itself is right): ${reasonMismatches(s.results).length}` +
      reasonMismatches(s.results).map((r) => ` seed ${r.seed}`).join(','),
    ...s.results.filter((r) => r.verdict === 'unsafe' || r.verdict === 'over-block' || r.verdict === 'harness-error').map((r) => `  ${describeResult(r)}`),
  ];
  return lines.join('\n');
}
