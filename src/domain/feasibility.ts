/**
 * Could any other node take this assistant pod? The scheduler's hard filters that matter for a
 * placeholder pod: node health, taints vs tolerations, nodeSelector, required node affinity, and the
 * node affinity of the PersistentVolumes its claims are bound to (an EBS volume pins it to a zone).
 * Resources are left to the scheduler (the assistant asks for 50m/100Mi); a pod that then stays Pending
 * is reported `stuck` by the confirmation step.
 */
import type { V1Node, V1PersistentVolume, V1Pod } from '@kubernetes/client-node';
import type { SchedulabilityConfig } from './config.js';
import { labelsMatch, nodeSelectorMatches } from './node-affinity.js';
import { assessNode, describeTaint } from './schedulability.js';
import { untoleratedTaints } from './tolerations.js';

export interface FeasibilityInput {
  pod: V1Pod;
  nodes: V1Node[];
  /** PersistentVolumes bound to the pod's claims (unbound claims impose nothing yet). */
  volumes: V1PersistentVolume[];
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
}

/**
 * Why one node cannot take the pod, or undefined when it can. `schedulerOnly` asks what the scheduler
 * itself would allow (it looks at taints, not at the Ready condition).
 */
export function nodeRejection(
  pod: V1Pod,
  node: V1Node,
  volumes: V1PersistentVolume[],
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

export function findFeasibleNodes(input: FeasibilityInput): Feasibility {
  const fits: string[] = [];
  const why = new Map<string, number>();
  for (const node of input.nodes) {
    const r = nodeRejection(input.pod, node, input.volumes, input);
    if (r === undefined) fits.push(node.metadata?.name ?? '');
    else why.set(r, (why.get(r) ?? 0) + 1);
  }
  const parts = [...why.entries()].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${n} ${r}`);
  return {
    nodes: fits,
    summary: `${fits.length}/${input.nodes.length} nodes fit${parts.length ? `: ${parts.join(', ')}` : ''}`,
  };
}

/** "topology.kubernetes.io/zone in us-east-1a" for messages. */
export function describePvAffinity(pv: V1PersistentVolume): string {
  const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [];
  return (
    terms
      .flatMap((t) => (t.matchExpressions ?? []).map((e) => `${e.key} ${e.operator} ${(e.values ?? []).join('|')}`))
      .join(' or ') || 'none'
  );
}
