/**
 * When no existing node can take an assistant's replacement, could the cluster grow one that can? A
 * Pending replacement is exactly what Karpenter and the cluster autoscaler act on, and until the assistant
 * is Pending somewhere other than the bad node no autoscaler can help (the TaskRun pods' affinity points
 * at the bad node). Pure: the NodePools and the autoscaler's presence are read by the caller.
 *
 * A NodePool could make a fitting node when some node it may create (its requirements, its template's
 * labels, its taints) passes the same node filters the replacement needs (./feasibility.ts nodeRejection:
 * tolerations, nodeSelector, required node affinity, the PVs' node affinity), and its limits leave room.
 * The nodes it may create are enumerated over the label values that anyone involved names, so the
 * requirement semantics are the scheduler's own (./node-affinity.ts), not a second copy of them.
 * The cluster autoscaler grows existing node groups: it could help when a node like an existing one (the
 * bad node included, without what makes it bad) passes those filters, i.e. the constraint is capacity.
 * A node-local volume pinned to the bad node blocks whatever can grow: no new node has that name.
 */
import type { Node, NodeSelectorRequirement, PersistentVolume, Pod, Taint } from './k8s.js';
import type { SchedulabilityConfig } from './config.js';
import { nodeRejection } from './feasibility.js';
import { termMatches } from './node-affinity.js';
import { parseQuantity } from './quantity.js';
import { insufficientResources, podRequests } from './resources.js';
import { keyMatches, UNSCHEDULABLE_TAINT } from './tolerations.js';

/** What to do when no existing node fits (WHEN_NO_NODE_FITS). */
export type WhenNoNodeFits = 'auto' | 'delete' | 'block';

/** The fields of a karpenter.sh/v1 NodePool this decision reads. */
export interface NodePool {
  metadata: { name: string; deletionTimestamp?: string };
  spec: {
    template: {
      metadata?: { labels?: Record<string, string> };
      spec: {
        requirements?: NodeSelectorRequirement[];
        taints?: Taint[];
        /** Removed by the node's own agents after start-up: pods need not tolerate them (Karpenter ignores them). */
        startupTaints?: Taint[];
      };
    };
    /** Resource name -> quantity; `nodes` counts nodes. */
    limits?: Record<string, string | number>;
    /** Karpenter tries NodePools of higher weight first. */
    weight?: number;
  };
  status?: { resources?: Record<string, string | number>; conditions?: { type: string; status: string; message?: string }[] };
}

export interface GrowthInput {
  pod: Pod;
  volumes: PersistentVolume[];
  /** The node being left. */
  badNode: string;
  /** Every node of the cluster: each is a template of its node group for the cluster autoscaler. */
  nodes: Node[];
  /** Karpenter's NodePools ([] when Karpenter is not installed). */
  nodePools: NodePool[];
  clusterAutoscaler: boolean;
  now: Date;
  config: SchedulabilityConfig;
}

export type Growth =
  /** Who is expected to make a node: "NodePool default" or "cluster-autoscaler". */
  | { canGrow: true; by: string; message: string }
  | { canGrow: false; message: string };

/** The label Karpenter puts on every node it makes, naming its NodePool. */
export const NODEPOOL_LABEL = 'karpenter.sh/nodepool';
const HOSTNAME = 'kubernetes.io/hostname';

/**
 * Labels every node Karpenter makes carries, whatever the NodePool says: an unconstrained NodePool may
 * give them any value its cloud provider offers (Karpenter's WellKnownLabels, and the providers' own).
 */
const WELL_KNOWN = [
  'topology.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'node.kubernetes.io/instance-type',
  'kubernetes.io/arch',
  'kubernetes.io/os',
  'karpenter.sh/capacity-type',
  'karpenter.k8s.aws/*',
  'karpenter.kwok.sh/*',
];

/** Past this many label combinations a NodePool is not searched (and not relied on). */
const MAX_COMBINATIONS = 10_000;

/** Whether something can grow the cluster for the pod, and who; the reasons when nothing can. */
export function growthFor(i: GrowthInput): Growth {
  const pinned = localVolumeOn(i.volumes, i.badNode);
  if (pinned) return { canGrow: false, message: pinned };
  const why: string[] = [];
  for (const pool of [...i.nodePools].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const r = poolRejection(pool, i);
    if (r === undefined) {
      return { canGrow: true, by: `NodePool ${pool.metadata.name}`, message: `NodePool ${pool.metadata.name} can create a node that takes it` };
    }
    why.push(`NodePool ${pool.metadata.name} ${r}`);
  }
  if (i.clusterAutoscaler) {
    const like = i.nodes.find((n) => nodeRejection(i.pod, asNewNodeOfGroup(n, i), i.volumes, { excluded: new Set(), now: i.now, config: i.config }) === undefined);
    if (like) {
      return { canGrow: true, by: 'cluster-autoscaler', message: `cluster-autoscaler can add a node like ${like.metadata?.name ?? '?'} (only room is missing)` };
    }
    why.push("cluster-autoscaler: no node group's nodes would pass the node filters (not only room is missing)");
  }
  if (why.length === 0) return { canGrow: false, message: 'neither Karpenter NodePools nor the cluster autoscaler were found' };
  return { canGrow: false, message: why.join('; ') };
}

/** Why the NodePool cannot make a node for the pod, or undefined when it can. */
export function poolRejection(pool: NodePool, i: GrowthInput): string | undefined {
  if (pool.metadata.deletionTimestamp) return 'is being deleted';
  const ready = (pool.status?.conditions ?? []).find((c) => c.type === 'Ready');
  if (ready?.status === 'False') return `is not Ready${ready.message ? ` (${ready.message})` : ''}`;
  const exhausted = exhaustedLimit(pool, i.pod);
  if (exhausted) return exhausted;
  const nodes = possibleNodes(pool, i);
  if (nodes === undefined) return `has too many label combinations to search (more than ${MAX_COMBINATIONS})`;
  const rejections = new Map<string, number>();
  for (const node of nodes) {
    const r = nodeRejection(i.pod, node, i.volumes, { excluded: new Set(), now: i.now, config: i.config });
    if (r === undefined) return undefined;
    rejections.set(r, (rejections.get(r) ?? 0) + 1);
  }
  // The most common reason is the one to show (a NodePool has one answer per label combination).
  const top = [...rejections.entries()].sort((a, b) => b[1] - a[1])[0];
  return top ? `cannot create a node that fits (such a node ${top[0]})` : 'cannot create a node that fits (its requirements admit none)';
}

/** A limit the pod's node would exceed ("limits cpu 10, 10 in use"), or undefined. */
function exhaustedLimit(pool: NodePool, pod: Pod): string | undefined {
  const request = podRequests(pod);
  for (const [name, limit] of Object.entries(pool.spec.limits ?? {})) {
    const max = parseQuantity(limit);
    const used = parseQuantity(pool.status?.resources?.[name] ?? 0);
    const left = max - used;
    // In nano-units; requests are milli-cpu for cpu and whole units for the rest (./resources.ts).
    const asked = name === 'nodes' ? 1_000_000_000n : name === 'cpu' ? (request.get('cpu') ?? 0n) * 1_000_000n : (request.get(name) ?? 0n) * 1_000_000_000n;
    // A node always has some cpu, memory and pod slots: none left means no node at all.
    const needsSome = ['cpu', 'memory', 'pods', 'nodes'].includes(name);
    if (left < asked || (needsSome && left <= 0n)) return `has reached its limits (${name}: ${String(limit)}, ${String(pool.status?.resources?.[name] ?? 0)} in use)`;
  }
  return undefined;
}

/**
 * The nodes the NodePool may create, as far as the filters can tell them apart: one per combination of
 * values of the label keys anyone involved names (the pod, its volumes, the NodePool), each value drawn from
 * the values they name plus one nobody names (and, where a node may lack the label, none). Undefined when
 * there are too many combinations.
 */
function possibleNodes(pool: NodePool, i: GrowthInput): Node[] | undefined {
  const tpl = pool.spec.template;
  const reqs = tpl.spec.requirements ?? [];
  const podExprs = [
    ...Object.entries(i.pod.spec?.nodeSelector ?? {}).map(([key, v]) => ({ key, operator: 'In', values: [v] })),
    ...(i.pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []).flatMap((t) => t.matchExpressions ?? []),
    ...i.volumes.flatMap((pv) => (pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []).flatMap((t) => t.matchExpressions ?? [])),
  ];
  const all = [...reqs, ...podExprs];
  const fixed: Record<string, string> = { ...tpl.metadata?.labels, [NODEPOOL_LABEL]: pool.metadata.name, [HOSTNAME]: NEW_NODE };
  const constrained = new Set(reqs.map((r) => r.key));
  const keys = [...new Set(all.map((e) => e.key))].filter((k) => !(k in fixed));
  const choices = keys.map((key) => {
    const named = [...new Set(all.filter((e) => e.key === key).flatMap((e) => valuesAround(e)))];
    const values: (string | undefined)[] = [...named, UNNAMED];
    // A label neither well known nor required by the NodePool is simply absent from its nodes.
    if (!constrained.has(key) && !keyMatches(key, WELL_KNOWN)) return [undefined];
    // A requirement may leave the key out (NotIn, DoesNotExist); a well-known one is always there.
    if (constrained.has(key)) values.push(undefined);
    return values;
  });
  const count = choices.reduce((n, c) => n * c.length, 1);
  if (count > MAX_COMBINATIONS) return undefined;
  const nodes: Node[] = [];
  const build = (k: number, labels: Record<string, string>): void => {
    if (k === keys.length) {
      const node = newNode({ ...labels, ...fixed }, tpl.spec.taints ?? [], pool.metadata.name, i.now);
      if (reqs.length === 0 || termMatches({ matchExpressions: reqs }, node)) nodes.push(node);
      return;
    }
    for (const v of choices[k]!) build(k + 1, v === undefined ? labels : { ...labels, [keys[k]!]: v });
  };
  build(0, {});
  return nodes;
}

/** A new node's name: no existing node's, so no node-local volume's. */
const NEW_NODE = 'new-node';
/** A label value that no requirement names. */
const UNNAMED = 'unnamed-value';

/** The values a requirement names, and for Gt/Lt the integers on either side of its bound. */
function valuesAround(e: NodeSelectorRequirement): string[] {
  if (e.operator !== 'Gt' && e.operator !== 'Lt') return e.values ?? [];
  const n = Number.parseInt(e.values?.[0] ?? '', 10);
  return Number.isNaN(n) ? [] : [String(n - 1), String(n), String(n + 1)];
}

function newNode(labels: Record<string, string>, taints: Taint[], pool: string, now: Date): Node {
  return {
    metadata: { name: `${NEW_NODE} of NodePool ${pool}`, labels },
    spec: { taints },
    status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] },
  };
}

/**
 * What the cluster autoscaler would add to the node's group: the same labels and taints, but a new name,
 * Ready and schedulable, without the taints that made this one bad (cordon, disruption, not-ready).
 */
function asNewNodeOfGroup(n: Node, i: GrowthInput): Node {
  const bad = (t: Taint) => t.key === UNSCHEDULABLE_TAINT.key || (keyMatches(t.key, i.config.taintInclude) && !keyMatches(t.key, i.config.taintExclude));
  return {
    metadata: { name: NEW_NODE, labels: { ...n.metadata?.labels, [HOSTNAME]: NEW_NODE } },
    spec: { taints: (n.spec?.taints ?? []).filter((t) => !bad(t)) },
    status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: i.now }] },
  };
}

/**
 * Why no new node can ever take the pod: one of its volumes lives on the node being left (a local PV, whose
 * node affinity admits that node alone). Undefined when none does.
 */
export function localVolumeOn(volumes: PersistentVolume[], node: string): string | undefined {
  const pv = volumes.find((v) => pinnedTo(v, node));
  return pv ? `volume ${pv.metadata?.name ?? '?'} is local to ${node}: no new node can take it` : undefined;
}

/** A volume whose node affinity admits only the named node (a local or hostPath PV). */
function pinnedTo(pv: PersistentVolume, node: string): boolean {
  const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [];
  return (
    terms.length > 0 &&
    terms.every((t) =>
      [...(t.matchExpressions ?? []), ...(t.matchFields ?? [])].some(
        (e) => (e.key === HOSTNAME || e.key === 'metadata.name') && e.operator === 'In' && (e.values ?? []).every((v) => v === node),
      ),
    )
  );
}

/** The replacement of an assistant and the TaskRun pod it holds, for growth (issue 20). */
export interface PairGrowthInput extends Omit<GrowthInput, 'pod' | 'volumes'> {
  assistant: Pod;
  held: Pod;
  assistantVolumes: PersistentVolume[];
  heldVolumes: PersistentVolume[];
}

/**
 * Could the cluster grow one node that takes the replacement and then the held pod? Karpenter, seen doing
 * it (test/integration/karpenter-pending.test.ts), places the replacement first, on a node of the heaviest
 * NodePool that can take it, sized for both pods when the held pod's affinity follows it there, and never
 * goes back on that choice: so the answer is that NodePool's, for both pods (each pod's node filters on one
 * node it may create, and its limits against the sum). The cluster autoscaler adds a node like an existing
 * one: one whose template passes both pods' filters and has room for the sum. Not modelled: the instance
 * types a NodePool offers (one too small for the pair makes a node for the replacement alone).
 */
export function pairGrowthFor(i: PairGrowthInput): Growth {
  const volumes = [...i.assistantVolumes, ...i.heldVolumes];
  const pinned = localVolumeOn(volumes, i.badNode);
  if (pinned) return { canGrow: false, message: pinned };
  const both = combinedPod(i.assistant, i.held);
  const fitsBoth = (n: Node) =>
    nodeRejection(i.assistant, n, i.assistantVolumes, { excluded: new Set(), now: i.now, config: i.config }) === undefined &&
    nodeRejection(i.held, n, i.heldVolumes, { excluded: new Set(), now: i.now, config: i.config }) === undefined;
  const why: string[] = [];
  const byWeight = [...i.nodePools].sort((a, b) => (b.spec.weight ?? 0) - (a.spec.weight ?? 0) || b.metadata.name.localeCompare(a.metadata.name));
  for (const pool of byWeight) {
    const r = poolRejection(pool, { ...i, pod: i.assistant, volumes: i.assistantVolumes });
    if (r !== undefined) {
      why.push(`NodePool ${pool.metadata.name} ${r}`);
      continue;
    }
    const name = `NodePool ${pool.metadata.name}`;
    const exhausted = exhaustedLimit(pool, both);
    if (exhausted) return { canGrow: false, message: `${name}, which Karpenter would choose for the replacement, ${exhausted} for both pods` };
    const nodes = possibleNodes(pool, { ...i, pod: both, volumes });
    if (nodes?.some(fitsBoth)) return { canGrow: true, by: name, message: `${name} can create a node that takes the replacement and ${i.held.metadata?.name}` };
    return { canGrow: false, message: `${name}, which Karpenter would choose for the replacement, cannot create a node that ${i.held.metadata?.name} can follow it to` };
  }
  if (i.clusterAutoscaler) {
    const sum = podRequests(both);
    const like = i.nodes.find((n) => {
      const fresh = asNewNodeOfGroup(n, { ...i, pod: i.assistant, volumes });
      return fitsBoth(fresh) && insufficientResources(sum, { ...fresh, status: { ...fresh.status, allocatable: n.status?.allocatable } }, []).length === 0;
    });
    if (like) return { canGrow: true, by: 'cluster-autoscaler', message: `cluster-autoscaler can add a node like ${like.metadata?.name ?? '?'}, with room for both pods` };
    why.push("cluster-autoscaler: no node group's nodes would take both pods");
  }
  if (why.length === 0) return { canGrow: false, message: 'neither Karpenter NodePools nor the cluster autoscaler were found' };
  return { canGrow: false, message: why.join('; ') };
}

/** One pod standing for both, for what reads one pod's requests and node constraints: the sum, the union. */
function combinedPod(a: Pod, h: Pod): Pod {
  const terms = [a, h].flatMap((p) => p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []);
  return {
    metadata: { name: `${a.metadata?.name}+${h.metadata?.name}` },
    spec: {
      containers: [...(a.spec?.containers ?? []), ...(h.spec?.containers ?? [])],
      nodeSelector: { ...a.spec?.nodeSelector, ...h.spec?.nodeSelector },
      ...(terms.length > 0 ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } } : {}),
    },
  };
}

