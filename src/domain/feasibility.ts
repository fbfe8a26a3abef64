/**
 * Could any other node take this assistant pod, as kube-scheduler would judge it? In two stages:
 *   1. the node filters, from the node objects alone (no I/O): node health, unschedulable, taints vs
 *      tolerations, nodeSelector, required node affinity, and the node affinity of the PersistentVolumes
 *      its claims are bound to (an EBS volume pins it to a zone);
 *   2. for the nodes that pass, the filters that need the pods there: room (NodeResourcesFit, ./resources.ts)
 *      and required inter-pod affinity and anti-affinity both ways (./pod-affinity.ts). The caller reads
 *      one node's pods at a time and stops at the first node that fits, so the cost stays bounded.
 */
import type { Node, PersistentVolume, Pod } from './k8s.js';
import type { SchedulabilityConfig } from './config.js';
import { labelsMatch, nodeSelectorMatches } from './node-affinity.js';
import { interPodRejection, type NamespaceLabels, type PlacedPod } from './pod-affinity.js';
import { insufficientResources, type Resources } from './resources.js';
import { assessNode, describeTaint } from './schedulability.js';
import { untoleratedTaints } from './tolerations.js';

export interface FeasibilityInput {
  pod: Pod;
  nodes: Node[];
  /** PersistentVolumes bound to the pod's claims (unbound claims impose nothing yet). */
  volumes: PersistentVolume[];
  /** Nodes the pod must leave or must not go to (the bad node, nodes AWS announced as doomed). */
  excluded: Set<string>;
  now: Date;
  config: SchedulabilityConfig;
}

export interface Feasibility {
  /** Names of nodes that pass every filter. */
  nodes: string[];
  /** Scheduler-style summary, e.g. "0/4 nodes fit: 1 is the node being left, 3 outside volume pv-a's zone". */
  summary: string;
  /** How many nodes were rejected for each reason. */
  rejections: Map<string, number>;
}

/**
 * Why one node cannot take the pod, or undefined when it can. `schedulerOnly` asks what the scheduler
 * itself would allow (it looks at taints, not at the Ready condition).
 */
export function nodeRejection(
  pod: Pod,
  node: Node,
  volumes: PersistentVolume[],
  o: Omit<FeasibilityInput, 'pod' | 'nodes' | 'volumes'> & { schedulerOnly?: boolean },
): string | undefined {
  const name = node.metadata?.name ?? '';
  if (o.excluded.has(name)) return 'is the node being left';
  const spec = pod.spec;
  const verdict = assessNode(node, { now: o.now, config: o.config, tolerations: spec?.tolerations });
  if (!verdict.schedulable) return verdict.reasons.map((r) => r.code.toLowerCase()).join('+');
  // A node inside its not-ready grace is not bad enough to leave, but no place to go to.
  const ready = (node.status?.conditions ?? []).find((c) => c.type === 'Ready');
  if (!o.schedulerOnly && ready?.status !== 'True') return 'is not Ready';
  const taints = untoleratedTaints(node.spec?.taints, spec?.tolerations);
  if (taints.length > 0) return `has untolerated taint ${describeTaint(taints[0]!)}`;
  if (!labelsMatch(spec?.nodeSelector, node)) return "does not match the pod's nodeSelector";
  if (!nodeSelectorMatches(spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution, node)) {
    return "does not match the pod's required node affinity";
  }
  for (const pv of volumes) {
    if (!nodeSelectorMatches(pv.spec?.nodeAffinity?.required, node)) {
      return `is outside the node affinity of volume ${pv.metadata?.name ?? '?'} (${describePvAffinity(pv)})`;
    }
  }
  return undefined;
}

/** Stage 1: the nodes that pass the node filters (from the node objects alone). */
export function findFeasibleNodes(input: FeasibilityInput): Feasibility {
  const fits: string[] = [];
  const why = new Map<string, number>();
  for (const node of input.nodes) {
    const r = nodeRejection(input.pod, node, input.volumes, input);
    if (r === undefined) fits.push(node.metadata?.name ?? '');
    else why.set(r, (why.get(r) ?? 0) + 1);
  }
  return { nodes: fits, rejections: why, summary: summarize(fits.length, input.nodes.length, why) };
}

/** "0/4 nodes fit: 2 Insufficient cpu, 1 is the node being left, ..." (largest counts first). */
export function summarize(fit: number, total: number, rejections: Map<string, number>): string {
  const parts = [...rejections.entries()].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${n} ${r}`);
  return `${fit}/${total} nodes fit${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

export interface RoomInput {
  pod: Pod;
  /** The pod's request (podRequests(pod)), computed once. */
  request: Resources;
  node: Node;
  /** The node's non-terminal pods, plus the replacements already headed there. */
  nodePods: Pod[];
  /** Every pod that one of the pod's own required (anti-)affinity terms selects, with its node. */
  termPods: PlacedPod[];
  /** Pods elsewhere whose required anti-affinity may select the pod, with their node. */
  antiAffinityPods?: PlacedPod[];
  nsLabels: NamespaceLabels;
}

/** Stage 2 for one node that passed stage 1: room and inter-pod affinity. Undefined: it fits. */
export function roomRejection(i: RoomInput): string | undefined {
  const lacking = insufficientResources(i.request, i.node, i.nodePods);
  if (lacking.length > 0) return lacking.join(', ');
  return interPodRejection({ pod: i.pod, node: i.node, termPods: i.termPods, nodePods: i.nodePods, antiAffinityPods: i.antiAffinityPods, nsLabels: i.nsLabels });
}

/** "topology.kubernetes.io/zone in us-east-1a" for messages. */
export function describePvAffinity(pv: PersistentVolume): string {
  const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [];
  return (
    terms
      .flatMap((t) => (t.matchExpressions ?? []).map((e) => `${e.key} ${e.operator} ${(e.values ?? []).join('|')}`))
      .join(' or ') || 'none'
  );
}
