/**
 * The decision for one assistant pod, from what was observed live. Pure and level-based: the trigger
 * only says where to look and lets us recognise a stale hint; the live objects decide.
 */
import type { Node, PersistentVolume, Pod, StatefulSet, Taint } from './k8s.js';
import { checkAssistantPod, checkOwnership, type PipelineRunLike } from './assistant.js';
import type { RelocatorConfig } from './config.js';
import { type Feasibility, findFeasibleNodes, nodeRejection } from './feasibility.js';
import { type Growth, localVolumeOn } from './growth.js';
import type { SkipReason } from './outcome.js';
import { assessNode, type NodeReason } from './schedulability.js';
import { NOT_READY_TAINT_KEY, OUT_OF_SERVICE_TAINT_KEY, UNREACHABLE_TAINT_KEY } from './tolerations.js';
import type { ExternalDisruption, ObservedPodRef } from './trigger.js';

export interface Observation {
  /** The live pod (undefined: it no longer exists). */
  pod: Pod | undefined;
  /** What the trigger said about the pod, if it named one (uid, node), to recognise stale hints. */
  expected?: Partial<ObservedPodRef>;
  /** The live node the pod is bound to (undefined: deleted). */
  node: Node | undefined;
  statefulSet: StatefulSet | undefined;
  pipelineRun: PipelineRunLike | undefined;
  /** Every node of the cluster, for feasibility. */
  nodes: Node[];
  /** PVs bound to the pod's claims. */
  volumes: PersistentVolume[];
  /** Relocations of this StatefulSet within the loop-guard window. */
  recentRelocations: number;
  /** Disruption announced by the trigger for the pod's node. */
  disruption?: ExternalDisruption;
  /** Other nodes announced as doomed (never targets). */
  doomedNodes?: Set<string>;
  /**
   * Stage 2 of feasibility (room and inter-pod affinity on the candidates of stage 1), which needs the
   * pods of the candidate nodes: the caller computes it when a first call answers `find-placement`.
   */
  placement?: Placement;
  /**
   * Whether Karpenter or the cluster autoscaler could add a node that takes the replacement (./growth.ts):
   * the caller works it out when a call answers `find-growth`.
   */
  growth?: Growth;
  now: Date;
}

/** Where the replacement can go after stage 2: a node that fits, or none, and a summary of why. */
export interface Placement {
  node: string | undefined;
  summary: string;
  /** Whether the bad node itself would take the replacement (asked when its node filters let it). */
  backOnBadNode?: boolean;
}

export type Decision =
  | {
      action: 'delete';
      podUid: string;
      /** Grace period 0: the node's kubelet will never confirm a graceful delete. */
      force: boolean;
      reasons: NodeReason[];
      /** A node that can take the pod (the scheduler picks among all that can); none when it relies on growth. */
      targets: string[];
      /** Who is expected to add the node that takes it ("NodePool default", "cluster-autoscaler"), when no node can now. */
      growth?: string;
      message: string;
    }
  /** No existing node fits and WHEN_NO_NODE_FITS is auto: find out whether the cluster can grow, then plan again. */
  | { action: 'find-growth'; reasons: NodeReason[] }
  /** Every other check passed and stage 1 left candidates: find a placement among them, then plan again. */
  | {
      action: 'find-placement';
      candidates: string[];
      feasibility: Feasibility;
      reasons: NodeReason[];
      /** The node being left, when its node filters would let the replacement back: probe it too. */
      badNode?: Node;
    }
  | { action: 'none'; outcome: 'skipped'; reason: SkipReason; message: string; reasons?: NodeReason[] }
  | { action: 'none'; outcome: 'blocked'; reason: string; message: string; reasons: NodeReason[] };

const skip = (reason: SkipReason, message: string, reasons?: NodeReason[]): Decision => ({
  action: 'none',
  outcome: 'skipped',
  reason,
  message,
  ...(reasons ? { reasons } : {}),
});

export function planRelocation(o: Observation, config: RelocatorConfig): Decision {
  const pod = o.pod;
  if (!pod) return skip('gone', 'the pod no longer exists');
  const podName = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  const uid = pod.metadata?.uid ?? '';
  if (o.expected?.uid && o.expected.uid !== uid) {
    return skip('stale', `${podName} was recreated (uid ${o.expected.uid} is gone, now ${uid}): the event is stale`);
  }
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) return skip('not-bound', `${podName} is not bound to a node yet`);
  if (o.expected?.nodeName && o.expected.nodeName !== nodeName) {
    return skip('stale', `${podName} is on ${nodeName} now, not on ${o.expected.nodeName}: the event is stale`);
  }
  if (pod.metadata?.deletionTimestamp) return skip('already-terminating', `${podName} is already terminating`);

  const identity = checkAssistantPod(pod, config.assistantSelector);
  if (!identity.ok) return skip(identity.reason, identity.message);
  const ownership = checkOwnership(pod, o.statefulSet, o.pipelineRun);
  if (!ownership.ok) return skip(ownership.reason, ownership.message);

  // The node's own state, regardless of what the pod tolerates: a tolerated cordon is still a cordon,
  // and is reported below rather than silently ignored.
  const verdict = assessNode(o.node, { now: o.now, config, disruption: o.disruption });
  if (verdict.schedulable) {
    if (verdict.notReadyUntil) {
      return skip('not-ready-grace', `node ${nodeName} is not Ready, but within the grace until ${verdict.notReadyUntil.toISOString()}`);
    }
    return skip('healthy', `node ${nodeName} is healthy for ${podName}`);
  }
  const reasons = verdict.reasons;
  const why = reasons.map((r) => r.message).join('; ');

  // Deleting a pod that tolerates what makes its node bad would have the scheduler put the replacement
  // straight back: report it instead of deleting it again and again. Whether it would come back is the
  // node filters here, then room and inter-pod affinity on that node (stage 2, with the old pod gone).
  const nodeGoesAway = reasons.some((r) => r.code === 'Deleting' || r.code === 'Gone' || r.code === 'Interrupted');
  const mayComeBack =
    !!o.node &&
    !nodeGoesAway &&
    nodeRejection(pod, withImpliedTaints(o.node, reasons), o.volumes, {
      excluded: new Set(),
      schedulerOnly: true,
      now: o.now,
      config: { ...config, taintInclude: [], notReadyGraceMs: Number.POSITIVE_INFINITY },
    }) === undefined;

  if (o.recentRelocations >= config.loopGuardMax) {
    return {
      action: 'none',
      outcome: 'blocked',
      reason: 'loop-guard',
      message: `StatefulSet ${o.statefulSet?.metadata?.name} was relocated ${o.recentRelocations} times within ${Math.round(config.loopGuardWindowMs / 60_000)} min (limit ${config.loopGuardMax}): not again`,
      reasons,
    };
  }

  const excluded = new Set([nodeName, ...(o.doomedNodes ?? [])]);
  const feasible = findFeasibleNodes({ pod, nodes: o.nodes, volumes: o.volumes, excluded, now: o.now, config });
  const force =
    reasons.some((r) => r.code === 'NotReady' || r.code === 'Deleting' || r.code === 'Gone') ||
    (o.node?.spec?.taints ?? []).some((t) => t.key === OUT_OF_SERVICE_TAINT_KEY);
  /** No existing node fits: blocked, or a delete that relies on the cluster growing (WHEN_NO_NODE_FITS). */
  const noNodeFits = (summary: string): Decision => {
    const blocked = (more = ''): Decision => ({ action: 'none', outcome: 'blocked', reason: 'no-feasible-node', message: noneFits(podName, summary, nodeName, why) + more, reasons });
    const grow = (by: string, because: string): Decision => ({
      action: 'delete',
      podUid: uid,
      force,
      reasons,
      targets: [],
      growth: by,
      message: `delete ${podName} (uid ${uid}) from ${nodeName}${force ? ' with grace period 0' : ''} because ${why}; no node can take it now (${summary}), ${because}`,
    });
    if (config.whenNoNodeFits === 'block') return blocked();
    // Not even WHEN_NO_NODE_FITS=delete deletes a pod whose volume only the node being left can mount.
    const pinned = localVolumeOn(o.volumes, nodeName);
    if (pinned) return blocked(`; ${pinned}`);
    if (config.whenNoNodeFits === 'delete') return grow(FORCED_GROWTH, 'and WHEN_NO_NODE_FITS=delete deletes it anyway');
    if (!o.growth) return { action: 'find-growth', reasons };
    if (o.growth.canGrow) return grow(o.growth.by, `but ${o.growth.message}`);
    return blocked(`; nothing can add a node for it: ${o.growth.message}`);
  };
  if (!o.placement) {
    if (feasible.nodes.length === 0 && !mayComeBack) return noNodeFits(feasible.summary);
    return { action: 'find-placement', candidates: feasible.nodes, feasibility: feasible, reasons, ...(mayComeBack ? { badNode: o.node! } : {}) };
  }
  // Unknown counts as "would come back": only a probe of the bad node clears it.
  if (mayComeBack && o.placement.backOnBadNode !== false) {
    return {
      action: 'none',
      outcome: 'blocked',
      reason: 'tolerates-bad-node',
      message: `${podName} tolerates what makes ${nodeName} unschedulable (${why}): a replacement would be scheduled straight back, so it is left in place`,
      reasons,
    };
  }
  const placement = o.placement;
  if (placement.node === undefined) return noNodeFits(placement.summary);

  const message = `delete ${podName} (uid ${uid}) from ${nodeName}${force ? ' with grace period 0' : ''} because ${why}; ${placement.summary}`;
  // Dry-run is the relocator's business: it still asks the apiserver to dry-run this very delete.
  return { action: 'delete', podUid: uid, force, reasons, targets: [placement.node], message };
}

/** Who is expected to add a node when WHEN_NO_NODE_FITS=delete deleted without asking. */
export const FORCED_GROWTH = 'an autoscaler (WHEN_NO_NODE_FITS=delete)';

function noneFits(podName: string, summary: string, nodeName: string, why: string): string {
  return `no healthy node can take ${podName} (${summary}); it stays on ${nodeName} (${why})`;
}

/**
 * The node as the scheduler will see it: a NotReady node gets the node controller's not-ready (Ready
 * False) or unreachable (Unknown) NoSchedule taint, even if the controller has not added it yet.
 */
function withImpliedTaints(node: Node, reasons: NodeReason[]): Node {
  if (!reasons.some((r) => r.code === 'NotReady')) return node;
  const ready = (node.status?.conditions ?? []).find((c) => c.type === 'Ready');
  const implied: Taint = { key: ready?.status === 'False' ? NOT_READY_TAINT_KEY : UNREACHABLE_TAINT_KEY, effect: 'NoSchedule' };
  return { ...node, spec: { ...node.spec, taints: [...(node.spec?.taints ?? []), implied] } };
}
