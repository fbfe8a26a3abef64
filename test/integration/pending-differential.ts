/**
 * The pending-pod differential (issue 20): for one generated state (test/cluster/fixtures/pending-states.ts),
 * whether a node other than the assistant's can take the assistant's replacement and then the TaskRun pod
 * the assistant holds Pending, as our pair check says it, against what the real kube-scheduler does with the
 * two. Shared by test/integration/pending-differential.test.ts and bench/pending-differential.ts.
 *
 * One state, on a running control plane, in its own namespace and on its own nodes (deleted afterwards):
 *  1. as in the scheduler differential (./differential.ts startAssistant): nodes, PipelineRun, volumes,
 *     other assistants, the assistant's StatefulSet, bound by the real scheduler on the start node (or not:
 *     'not-placeable'); then every node wears the state label, the other pods are bound, and the held pod's
 *     own volume and the held pod itself are created: the scheduler must leave it Unschedulable (bound at
 *     once: 'not-held', not compared). The assistant's node stays healthy;
 *  2. our side decides, reading the live cluster (`PairDecider`: by default the pure check and
 *     PlacementFinder.findPair through KubernetesCluster with the relocator's identity; the relocator's
 *     dry-run decision plugs in the same way);
 *  3. the scheduler is asked, for every node of the state other than the assistant's, independently of our
 *     answer: that node alone wears the state label (which the replacement's nodeSelector asks for), the held
 *     pod is deleted, the assistant is deleted (grace period 0) and its replacement bound there or
 *     Unschedulable; if bound, the held pod is created again and bound (necessarily beside the replacement)
 *     or Unschedulable. Then the node left alone: would the replacement go back there?
 *
 * Verdicts: we name a node: agree-rescue when the scheduler bound both there, UNSAFE otherwise. We block:
 * agree-block when no node took both, missed-rescue when one did. Per node, where our answer lists them
 * (pairNodes, aloneOnly): nodes we say take both that the scheduler did not fill with both (unsafe nodes),
 * and the steering check: a node the scheduler put the replacement on without the held pod following that
 * we did not name in aloneOnly, although we probed every candidate (the taint-on-the-node-left steering
 * relies on that list).
 */
import type { V1Pod } from '@kubernetes/client-node';
import { claimNamesOf } from '../../src/domain/assistant.js';
import type { RelocatorConfig } from '../../src/domain/config.js';
import { nodeRejection } from '../../src/domain/feasibility.js';
import type { PersistentVolume, Pod } from '../../src/domain/k8s.js';
import { findPairFeasibleNodes } from '../../src/domain/pair-feasibility.js';
import type { ClusterPort } from '../../src/relocator/ports.js';
import { PlacementFinder } from '../../src/relocator/placement.js';
import { type Clients, eventually } from '../../src/local-cluster/fixtures/clients.js';
import { readPodOrUndefined } from '../../src/local-cluster/fixtures/pods.js';
import { type PipelineRun, taskRunPod } from '../../src/local-cluster/fixtures/tekton.js';
import { provisionVolume } from '../../src/local-cluster/fixtures/volumes.js';
import type { NodeSpec } from '../cluster/fixtures/cluster-states.js';
import { generatePendingState, type PendingState } from '../cluster/fixtures/pending-states.js';
import { causesOf, cleanup, fillerPod, labelNode, replace, SETTLE_MS, type SchedulerAnswer, sleep, startAssistant } from './differential.js';

/** What our side is asked about one state: names only, everything else is read live. */
export interface PendingCase {
  seed: number;
  namespace: string;
  /** The assistant pod's name (`affinity-assistant-...-0`). */
  assistant: string;
  /** The held TaskRun pod's name. */
  held: string;
  /** The node the assistant is on (healthy). */
  leftNode: string;
}

/**
 * Our answer: the node that takes both, or why none does. The pure check also says, per node, which take
 * both and which take the replacement alone (compared node by node when given).
 */
export interface PairAnswer {
  node?: string;
  blocked?: string;
  pairNodes?: string[];
  aloneOnly?: string[];
  allProbed?: boolean;
  /** Whether the node left would take the replacement back. */
  backOnLeftNode?: boolean;
}

export type PairDecider = (c: PendingCase) => Promise<PairAnswer>;

export type PendingVerdict = 'agree-rescue' | 'agree-block' | 'unsafe' | 'missed-rescue' | 'not-placeable' | 'not-held' | 'harness-error';

/** The scheduler's answer for one node: the replacement alone, then the held pod beside it. */
export interface NodeAnswer {
  node: string;
  replacement: SchedulerAnswer;
  /** Undefined when the replacement was not bound there (the held pod was not asked). */
  held?: SchedulerAnswer;
}

export interface PendingResult {
  seed: number;
  verdict: PendingVerdict;
  /** For unsafe / missed-rescue: a short name of the disagreement. */
  kind?: string;
  cause: string;
  mode: string;
  ours?: PairAnswer;
  scheduler?: NodeAnswer[];
  backOnLeftNode?: SchedulerAnswer;
  /** Nodes we said take both where the scheduler did not bind both. */
  unsafeNodes?: string[];
  /** Nodes the scheduler filled with both that we did not list (only when we list pairNodes). */
  missedNodes?: string[];
  /** The steering check failed: the scheduler's alone-only nodes we did not name, although every candidate was probed. */
  steeringUnsafe?: string[];
  /** Node by node (when our answer lists them and every candidate was probed): the nodes where we agree on the pair, and on the replacement alone. */
  nodeAgreement?: { nodes: number; pair: number; alone: number };
  error?: string;
  seconds: number;
}

/** How long a new pod may take to be bound or marked Unschedulable. */
const POD_TIMEOUT_MS = 30_000;

/** The held pod as Tekton makes it (./tekton.ts taskRunPod), with the state's variations. */
export function heldPodFor(st: PendingState, pr: PipelineRun, assistant: string, claims: string[]): V1Pod {
  const h = st.held;
  const pod = taskRunPod(pr, h.task, assistant, claims);
  const resources = (cpu: number, mem: number) => ({ requests: { cpu: `${cpu}m`, memory: `${mem}Mi` } });
  const spec = pod.spec!;
  spec.containers[0]!.resources = resources(h.cpuMilli, h.memoryMi);
  if (h.init) spec.initContainers = [{ name: 'prepare', image: 'alpine', command: ['true'], resources: resources(h.init.cpuMilli, h.init.memoryMi) }];
  if (h.tolerations) spec.tolerations = h.tolerations;
  if (h.nodeSelector) spec.nodeSelector = h.nodeSelector;
  const affinity = spec.affinity!;
  if (h.nodeAffinity) affinity.nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: h.nodeAffinity } };
  if (h.antiBatch) affinity.podAntiAffinity = { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'batch' } }, topologyKey: h.antiBatch }] };
  if (h.affinityCache) affinity.podAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.push({ labelSelector: { matchLabels: { app: 'cache' } }, topologyKey: 'kubernetes.io/hostname' });
  return pod;
}

/** Waits for a new pod to be bound or marked Unschedulable (a message about an unbound claim is waited out). */
async function settled(c: Clients, ns: string, name: string): Promise<SchedulerAnswer> {
  const deadline = Date.now() + POD_TIMEOUT_MS;
  for (;;) {
    const p = await readPodOrUndefined(c, ns, name);
    if (p?.spec?.nodeName) return { node: p.spec.nodeName, message: `bound to ${p.spec.nodeName}` };
    const cond = (p?.status?.conditions ?? []).find((x) => x.type === 'PodScheduled');
    if (cond?.status === 'False' && cond.reason === 'Unschedulable' && !/unbound immediate PersistentVolumeClaims/.test(cond.message ?? '')) {
      return { message: cond.message ?? 'Unschedulable' };
    }
    if (Date.now() > deadline) throw new Error(`pod ${ns}/${name} was neither bound nor Unschedulable after ${POD_TIMEOUT_MS} ms`);
    await sleep(50);
  }
}

async function deletePod(c: Clients, ns: string, name: string): Promise<void> {
  await c.core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0 } }).catch(() => undefined);
  await eventually(`pod ${ns}/${name} to be gone`, () => readPodOrUndefined(c, ns, name), (p) => p === undefined);
}

/** Runs one state end to end; never throws (errors become 'harness-error'). */
export async function runPendingState(admin: Clients, decide: PairDecider, st: PendingState): Promise<PendingResult> {
  const started = performance.now();
  const base = { seed: st.seed, cause: st.held.cause, mode: st.assistant.mode };
  const done = (r: Omit<PendingResult, 'seed' | 'seconds' | 'cause' | 'mode'>): PendingResult => ({ ...base, ...r, seconds: (performance.now() - started) / 1000 });
  const c = admin;
  const pvNames: string[] = [];
  const ns = st.namespace;
  try {
    const { pr, sts, podName, startAt } = await startAssistant(c, st, pvNames);
    if (!startAt.node) return done({ verdict: 'not-placeable', error: startAt.message });
    const leftNode = startAt.node;
    const others = st.nodes.filter((n) => n.name !== leftNode);
    await Promise.all(others.map((n) => labelNode(c, n.name, st.id)));
    await Promise.all(st.fillers.filter((f) => f.phase === 'after').map((f) => c.core.createNamespacedPod({ namespace: ns, body: fillerPod(st, f) })));
    const workspace = st.held.sharesWorkspace ? st.assistant.volumes.map((v) => (v.source === 'claim' ? v.name : `${v.name}-${sts}-0`)) : [];
    const claims = [...workspace];
    if (st.held.ownVolume) {
      const pv = await provisionVolume(c, ns, 'own-cache', st.held.ownVolume);
      pvNames.push(pv.metadata!.name!);
      claims.push('own-cache');
    }
    const heldPod = heldPodFor(st, pr, sts, claims);
    const heldName = heldPod.metadata!.name!;
    await sleep(SETTLE_MS);
    await c.core.createNamespacedPod({ namespace: ns, body: structuredClone(heldPod) });
    const first = await settled(c, ns, heldName);
    if (first.node) return done({ verdict: 'not-held', error: `the held pod was bound to ${first.node} at once` });

    const ours = await decide({ seed: st.seed, namespace: ns, assistant: podName, held: heldName, leftNode });

    // The scheduler, node by node: that node alone wears the state label.
    const labels = new Map(st.nodes.map((n) => [n.name, st.id]));
    const only = async (node: string) => {
      const changes = st.nodes.map((n) => [n.name, n.name === node ? st.id : `${st.id}-hold`] as const).filter(([n, v]) => labels.get(n) !== v);
      await Promise.all(changes.map(([n, v]) => labelNode(c, n, v).then(() => labels.set(n, v))));
      await sleep(SETTLE_MS);
    };
    const scheduler: NodeAnswer[] = [];
    let heldExists = true;
    for (const n of others) {
      if (heldExists) await deletePod(c, ns, heldName);
      heldExists = false;
      await only(n.name);
      const replacement = await replace(c, ns, podName);
      if (replacement.node && replacement.node !== n.name) throw new Error(`the replacement was bound to ${replacement.node}, not to ${n.name}, the only node with the state label`);
      let held: SchedulerAnswer | undefined;
      if (replacement.node) {
        await c.core.createNamespacedPod({ namespace: ns, body: structuredClone(heldPod) });
        heldExists = true;
        held = await settled(c, ns, heldName);
        if (held.node && held.node !== n.name) throw new Error(`the held pod was bound to ${held.node}, not beside its assistant on ${n.name}`);
      }
      scheduler.push({ node: n.name, replacement: { node: replacement.node, message: replacement.message }, ...(held ? { held } : {}) });
    }
    await only(leftNode);
    const backAnswer = await replace(c, ns, podName);
    const back = { node: backAnswer.node, message: backAnswer.message };
    return done(judge(ours, scheduler, back, st.nodes));
  } catch (e) {
    return done({ verdict: 'harness-error', error: e instanceof Error ? e.message : String(e) });
  } finally {
    await cleanup(c, st, pvNames);
  }
}

/** The verdict from our answer and the scheduler's, node by node. */
export function judge(ours: PairAnswer, scheduler: NodeAnswer[], back: SchedulerAnswer, nodes: NodeSpec[]): Omit<PendingResult, 'seed' | 'seconds' | 'cause' | 'mode'> {
  const both = new Set(scheduler.filter((a) => a.held?.node).map((a) => a.node));
  const aloneOnly = scheduler.filter((a) => a.replacement.node && !a.held?.node).map((a) => a.node);
  const spec = (name: string) => nodes.find((n) => n.name === name);
  const detail = {
    ours,
    scheduler,
    backOnLeftNode: back,
    ...(ours.pairNodes ? { unsafeNodes: ours.pairNodes.filter((n) => !both.has(n)), missedNodes: [...both].filter((n) => !ours.pairNodes!.includes(n)) } : {}),
    ...(ours.aloneOnly && ours.allProbed && ours.node ? { steeringUnsafe: aloneOnly.filter((n) => !ours.aloneOnly!.includes(n)) } : {}),
    ...(ours.pairNodes && ours.aloneOnly && ours.allProbed
      ? {
          nodeAgreement: {
            nodes: scheduler.length,
            pair: scheduler.filter((a) => ours.pairNodes!.includes(a.node) === !!a.held?.node).length,
            alone: scheduler.filter((a) => (ours.pairNodes!.includes(a.node) || ours.aloneOnly!.includes(a.node)) === !!a.replacement.node).length,
          },
        }
      : {}),
  };
  if (ours.node) {
    if (both.has(ours.node)) return { verdict: 'agree-rescue', ...detail };
    const a = scheduler.find((x) => x.node === ours.node);
    const kind = !a ? 'unsafe:not-a-state-node' : !a.replacement.node ? `unsafe:replacement/${causesOf(a.replacement.message)}` : `unsafe:held/${causesOf(a.held?.message ?? '')}`;
    return { verdict: 'unsafe', kind, ...detail };
  }
  if (both.size === 0) return { verdict: 'agree-block', ...detail };
  const where = [...both][0]!;
  const kind = spec(where)?.notReady
    ? 'target-not-ready'
    : !ours.aloneOnly
      ? 'missed'
      : ours.aloneOnly.includes(where)
        ? 'missed:held-judged-unfit'
        : 'missed:replacement-judged-unfit';
  return { verdict: 'missed-rescue', kind, ...detail };
}

/**
 * Missed-rescue kinds that are the relocator's design, not a mistake of the pair check. The test allows
 * these (within the 1 % budget) and fails on any other kind.
 */
export const ALLOWED_MISSED_KINDS: Record<string, string> = {
  'target-not-ready':
    'the only node the scheduler could use is NotReady: the scheduler looks at its taints only, and both pods tolerate them; the relocator never sends an assistant to a NotReady node, where neither would run',
};

/**
 * The pure pair check through the relocator's own reads (KubernetesCluster as the relocator identity): stage
 * 1 for both pods, then PlacementFinder.findPair over every candidate, as the relocator will run them.
 */
export function pureDecider(cluster: ClusterPort, config: RelocatorConfig): PairDecider {
  return async (k) => {
    const [nodes, assistant, held] = await Promise.all([cluster.listNodes(), cluster.getPod(k.namespace, k.assistant), cluster.getPod(k.namespace, k.held)]);
    if (!assistant || !held) throw new Error(`the ${assistant ? 'held pod' : 'assistant'} of state ${k.seed} is gone`);
    const volumesOf = async (pod: Pod): Promise<PersistentVolume[]> => {
      const pvs = await Promise.all(
        claimNamesOf(pod).map(async (claim) => {
          const pvc = await cluster.getPersistentVolumeClaim(k.namespace, claim);
          return pvc?.spec?.volumeName ? cluster.getPersistentVolume(pvc.spec.volumeName) : undefined;
        }),
      );
      return pvs.filter((pv): pv is PersistentVolume => pv !== undefined);
    };
    const [assistantVolumes, heldVolumes] = await Promise.all([volumesOf(assistant), volumesOf(held)]);
    const now = new Date();
    const stage1 = findPairFeasibleNodes({ assistant, held, nodes, assistantVolumes, heldVolumes, excluded: new Set([k.leftNode]), now, config });
    const left = nodes.find((n) => n.metadata?.name === k.leftNode);
    const leftOpen = !!left && nodeRejection(assistant, left, assistantVolumes, { excluded: new Set(), schedulerOnly: true, now, config }) === undefined;
    const candidates = nodes.filter((n) => stage1.replacementNodes.includes(n.metadata?.name ?? ''));
    const p = await new PlacementFinder(cluster).findPair(assistant, held, candidates, nodes, stage1, leftOpen ? left : undefined);
    return {
      ...(p.node ? { node: p.node } : { blocked: p.summary }),
      pairNodes: p.pairNodes,
      aloneOnly: p.aloneOnly,
      allProbed: p.allProbed,
      backOnLeftNode: p.backOnBadNode ?? false,
    };
  };
}

export interface PendingSummary {
  results: PendingResult[];
  counts: Record<PendingVerdict, number>;
  compared: number;
  missedPct: number;
  /** Nodes we said take both, over all states, where the scheduler did not bind both. */
  unsafeNodes: number;
  /** States whose steering check failed. */
  steeringUnsafe: number;
  /** States where our answer on the node left (takes the replacement back) differs from the scheduler's. */
  backMismatches: number;
  /** Node answers compared, and how many agree on the pair and on the replacement alone. */
  nodes: { compared: number; pair: number; alone: number };
  /** Rescues where another node takes the replacement alone: the taint on the node left would not be enough. */
  needSteering: number;
}

export function summarizePending(results: PendingResult[]): PendingSummary {
  const counts: Record<PendingVerdict, number> = { 'agree-rescue': 0, 'agree-block': 0, unsafe: 0, 'missed-rescue': 0, 'not-placeable': 0, 'not-held': 0, 'harness-error': 0 };
  for (const r of results) counts[r.verdict]++;
  const compared = counts['agree-rescue'] + counts['agree-block'] + counts.unsafe + counts['missed-rescue'];
  return {
    results,
    counts,
    compared,
    missedPct: compared ? (100 * counts['missed-rescue']) / compared : 0,
    unsafeNodes: results.reduce((s, r) => s + (r.unsafeNodes?.length ?? 0), 0),
    steeringUnsafe: results.filter((r) => (r.steeringUnsafe?.length ?? 0) > 0).length,
    backMismatches: results.filter((r) => r.ours?.backOnLeftNode !== undefined && r.backOnLeftNode && r.ours.backOnLeftNode !== !!r.backOnLeftNode.node).length,
    nodes: results.reduce(
      (a, r) => ({ compared: a.compared + (r.nodeAgreement?.nodes ?? 0), pair: a.pair + (r.nodeAgreement?.pair ?? 0), alone: a.alone + (r.nodeAgreement?.alone ?? 0) }),
      { compared: 0, pair: 0, alone: 0 },
    ),
    needSteering: results.filter((r) => r.verdict === 'agree-rescue' && r.scheduler?.some((a) => a.replacement.node && !a.held?.node)).length,
  };
}

/** Runs `count` states with seeds first..first+count-1, `concurrency` at a time. */
export async function runPendingDifferential(
  admin: Clients,
  decide: PairDecider,
  o: { first: number; count: number; concurrency?: number; onResult?: (r: PendingResult) => void },
): Promise<PendingSummary> {
  const seeds = Array.from({ length: o.count }, (_, i) => o.first + i);
  const results: PendingResult[] = [];
  const workers = Array.from({ length: Math.min(o.concurrency ?? 3, seeds.length) }, async () => {
    for (let seed = seeds.shift(); seed !== undefined; seed = seeds.shift()) {
      const r = await runPendingState(admin, decide, generatePendingState(seed));
      results.push(r);
      o.onResult?.(r);
    }
  });
  await Promise.all(workers);
  results.sort((a, b) => a.seed - b.seed);
  return summarizePending(results);
}

/** One line per state (and the scheduler's answers), naming the seed to reproduce it with. */
export function describePending(r: PendingResult): string {
  const head = `seed ${r.seed} (PENDING_SEED=${r.seed} PENDING_STATES=1) ${r.verdict}${r.kind ? ` [${r.kind}]` : ''} cause=${r.cause} mode=${r.mode}`;
  if (r.error) return `${head}: ${r.error}`;
  const o = r.ours;
  const lines = [
    head,
    `    ours: ${o?.node ? `both on ${o.node}` : `blocked: ${o?.blocked}`}${o?.pairNodes ? `; pair ${o.pairNodes.join(',') || '-'}, alone only ${o.aloneOnly?.join(',') || '-'}${o.allProbed ? '' : ' (not all probed)'}` : ''}; back on the node left: ${o?.backOnLeftNode}`,
    ...(r.scheduler ?? []).map((a) => `    scheduler on ${a.node}: replacement ${a.replacement.node ? 'bound' : a.replacement.message}${a.held ? `, held pod ${a.held.node ? 'bound' : a.held.message}` : ''}`),
    `    scheduler, the node left alone: ${r.backOnLeftNode?.message}`,
  ];
  if (r.unsafeNodes?.length) lines.push(`    UNSAFE nodes: ${r.unsafeNodes.join(', ')}`);
  if (r.missedNodes?.length) lines.push(`    missed nodes: ${r.missedNodes.join(', ')}`);
  if (r.steeringUnsafe?.length) lines.push(`    steering check missed: ${r.steeringUnsafe.join(', ')}`);
  return lines.join('\n');
}

export function formatPendingSummary(s: PendingSummary): string {
  const c = s.counts;
  const seconds = s.results.map((r) => r.seconds);
  const kinds = new Map<string, number>();
  for (const r of s.results) if (r.kind) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
  const missedNodes = s.results.reduce((n, r) => n + (r.missedNodes?.length ?? 0), 0);
  // Per cause: rescues we agree on / states compared.
  const byCause = new Map<string, { rescued: number; compared: number }>();
  for (const r of s.results.filter((x) => ['agree-rescue', 'agree-block', 'unsafe', 'missed-rescue'].includes(x.verdict))) {
    const e = byCause.get(r.cause) ?? { rescued: 0, compared: 0 };
    e.compared++;
    if (r.verdict === 'agree-rescue') e.rescued++;
    byCause.set(r.cause, e);
  }
  const lines = [
    `pending-pod differential: ${s.results.length} states, ${s.compared} compared` + (seconds.length ? `, ${(seconds.reduce((x, y) => x + y, 0) / seconds.length).toFixed(1)} s per state` : ''),
    `  agree-rescue   ${c['agree-rescue']}   (both bound on the node we chose)`,
    `  agree-block    ${c['agree-block']}`,
    `  UNSAFE         ${c.unsafe}   (we name a node, the scheduler does not bind both there)`,
    `  missed-rescue  ${c['missed-rescue']}   (${s.missedPct.toFixed(2)} % of compared; we block, the scheduler binds both somewhere)`,
    `  per node: ${s.nodes.compared} node answers, ${s.nodes.pair} agree on the pair, ${s.nodes.alone} on the replacement alone; ${s.unsafeNodes} unsafe nodes, ${missedNodes} missed nodes`,
    `  rescues where another node takes the replacement alone (a taint on the node left is not enough): ${s.needSteering}; steering check failed in ${s.steeringUnsafe} states; the node left: ${s.backMismatches} disagreements`,
    `  not placeable at start ${c['not-placeable']}, held pod bound at once ${c['not-held']}, harness errors ${c['harness-error']}`,
    `  rescues by cause: ${[...byCause.entries()].sort().map(([k, v]) => `${k} ${v.rescued}/${v.compared}`).join(', ')}`,
    ...[...kinds.entries()].sort().map(([k, n]) => `  kind ${k}: ${n}`),
    ...s.results
      .filter((r) => r.verdict === 'unsafe' || r.verdict === 'missed-rescue' || r.verdict === 'harness-error' || r.unsafeNodes?.length || r.steeringUnsafe?.length)
      .map((r) => `  ${describePending(r)}`),
  ];
  return lines.join('\n');
}
