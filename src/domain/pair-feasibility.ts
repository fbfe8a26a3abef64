/**
 * Could a node take the assistant's replacement AND the TaskRun pod its assistant holds Pending, as
 * kube-scheduler would judge the two placed one after the other? The replacement comes first: the held pod
 * (required podAffinity to the assistant's instance on kubernetes.io/hostname) can only follow once the
 * replacement is bound, and then only to the replacement's node. So, on one node:
 *   1. node filters, each pod its own (./feasibility.ts nodeRejection): the replacement's as today (the
 *      node being left and doomed nodes excluded, Ready required), then the held pod's taints/tolerations,
 *      nodeSelector, required node affinity and its own volumes' node affinity (often the same workspace);
 *   2. the replacement's room and inter-pod affinity as today (./feasibility.ts roomRejection); then the
 *      held pod's, with the replacement counted on that node: its request on top of the node's pods and the
 *      replacement's (pod count +2), its own affinity/anti-affinity terms with the replacement there and the
 *      old assistant gone, and the anti-affinity of the node's pods, the replacement's included.
 * Pure: the caller reads the pods (src/relocator/placement.ts PlacementFinder.findPair).
 */
import type { Node, PersistentVolume, Pod } from './k8s.js';
import { type Feasibility, type FeasibilityInput, nodeRejection, roomRejection, summarize } from './feasibility.js';
import type { Placement } from './plan.js';
import { interPodRejection, type NamespaceLabels, type PlacedPod } from './pod-affinity.js';
import { insufficientResources, podRequests, type Resources } from './resources.js';

/** Which pod a rejection stops: the replacement (first), the held pod (after it), or the two together. */
export type PairPod = 'replacement' | 'held' | 'both';

export interface PairRejection {
  pod: PairPod;
  /** The scheduler's words, naming the pod when it is not the replacement, e.g. "Insufficient cpu for both (assistant 50m + run-second-pod 3000m)". */
  reason: string;
}

export interface PairFeasibilityInput extends Omit<FeasibilityInput, 'pod' | 'volumes'> {
  /** The assistant pod being replaced: its replacement has its spec. */
  assistant: Pod;
  /** The TaskRun pod its assistant holds Pending. */
  held: Pod;
  /** PersistentVolumes bound to the assistant's claims. */
  assistantVolumes: PersistentVolume[];
  /** PersistentVolumes bound to the held pod's claims (often the same workspace). */
  heldVolumes: PersistentVolume[];
}

export interface PairFeasibility extends Feasibility {
  /**
   * Nodes where the scheduler may put the replacement alone, as it judges the node filters (taints, not
   * the Ready condition): a superset of `nodes`, where both pods pass and the relocator would send them.
   */
  replacementNodes: string[];
  /**
   * The nodes of `replacementNodes` that are not in `nodes`, with why: the held pod's own node filters, or
   * a node the scheduler would use and the relocator never chooses (not Ready).
   */
  pairRejections: Map<string, PairRejection>;
}

/** Where the pair can go after stage 2 (src/relocator/placement.ts PlacementFinder.findPair). */
export interface PairPlacement extends Placement {
  /** The probed nodes that take the replacement and then the held pod; the first is `node`, booked for both. */
  pairNodes: string[];
  /**
   * The probed nodes that take the replacement alone but not the held pod after it: where the scheduler
   * may put the replacement (its scores decide) without freeing the pod.
   */
  aloneOnly: string[];
  /** Whether every candidate was probed: only then are `pairNodes` and `aloneOnly` complete. */
  allProbed: boolean;
}

/** The held pod's stage-1 or stage-2 reason, naming it. */
const forHeld = (reason: string): PairRejection => ({ pod: 'held', reason: `${reason} (held pod)` });

/**
 * The options as the scheduler itself judges the node filters: taints (whatever TAINT_INCLUDE says), not the
 * Ready condition (./plan.ts asks the same of the node being left).
 */
function schedulerView(o: Omit<FeasibilityInput, 'pod' | 'nodes' | 'volumes'>, excluded = o.excluded) {
  return { ...o, excluded, schedulerOnly: true, config: { ...o.config, taintInclude: [], notReadyGraceMs: Number.POSITIVE_INFINITY } };
}

/**
 * Stage 1 on one node for both pods: the replacement's node filters as for any relocation, then the held
 * pod's own, as the scheduler judges them (the replacement's filters already keep NotReady and excluded
 * nodes out). Undefined: both pass.
 */
export function pairNodeRejection(
  assistant: Pod,
  held: Pod,
  node: Node,
  volumes: { assistant: PersistentVolume[]; held: PersistentVolume[] },
  o: Omit<FeasibilityInput, 'pod' | 'nodes' | 'volumes'>,
): PairRejection | undefined {
  const r = nodeRejection(assistant, node, volumes.assistant, o);
  if (r !== undefined) return { pod: 'replacement', reason: r };
  const h = nodeRejection(held, node, volumes.held, schedulerView(o, new Set()));
  return h === undefined ? undefined : forHeld(h);
}

/**
 * Stage 1 for the pair over every node, counting each node under its first failing pod's reason; and where
 * the scheduler may put the replacement alone (the taint steering must know every such node).
 */
export function findPairFeasibleNodes(input: PairFeasibilityInput): PairFeasibility {
  const both: string[] = [];
  const alone: string[] = [];
  const pairRejections = new Map<string, PairRejection>();
  const why = new Map<string, number>();
  for (const node of input.nodes) {
    const r = pairNodeRejection(input.assistant, input.held, node, { assistant: input.assistantVolumes, held: input.heldVolumes }, input);
    const name = node.metadata?.name ?? '';
    if (r === undefined) {
      both.push(name);
      alone.push(name);
      continue;
    }
    why.set(r.reason, (why.get(r.reason) ?? 0) + 1);
    if (r.pod === 'held' || nodeRejection(input.assistant, node, input.assistantVolumes, schedulerView(input)) === undefined) {
      alone.push(name);
      pairRejections.set(name, r);
    }
  }
  return { nodes: both, replacementNodes: alone, pairRejections, rejections: why, summary: summarize(both.length, input.nodes.length, why) };
}

export interface PairRoomInput {
  assistant: Pod;
  held: Pod;
  node: Node;
  /**
   * Why the pair cannot go to this node whatever its pods (PairFeasibility's pairRejections: the held pod's
   * node filters, a node not Ready): then only the replacement is judged.
   */
  pairNodeRejection?: PairRejection;
  /** The node's non-terminal pods, plus the pods already booked there (the two pods themselves are ignored). */
  nodePods: Pod[];
  /** Every pod that the assistant's own required (anti-)affinity terms select, with its node. */
  assistantTermPods: PlacedPod[];
  /** Every pod that the held pod's own required terms select, with its node (the old assistant is ignored: its replacement counts on `node`). */
  heldTermPods: PlacedPod[];
  /** Pods elsewhere whose required anti-affinity may select either pod (their namespaces' pods), with their node. */
  antiAffinityPods: PlacedPod[];
  nsLabels: NamespaceLabels;
}

export interface PairRoomVerdict {
  /** Why the replacement alone cannot go to the node; undefined: it can. */
  replacement: string | undefined;
  /** Why the two cannot, naming the first that fails; undefined: both can. */
  pair: PairRejection | undefined;
}

/** The replacement as the scheduler will see it once bound to `node` (a uid of its own: the old pod is gone). */
export function replacementOn(assistant: Pod, node: string): Pod {
  return { ...assistant, metadata: { ...assistant.metadata, uid: replacementUid(assistant) }, spec: { ...assistant.spec!, nodeName: node } };
}

export const replacementUid = (assistant: Pod): string => `${assistant.metadata?.uid ?? ''}/replacement`;

/** Stage 2 on one node: the replacement, then the held pod with the replacement counted there. */
export function pairRoomRejection(i: PairRoomInput): PairRoomVerdict {
  // The old assistant is gone by then, the replacement is not placed yet, the held pod not bound: none of
  // them counts wherever a read or a booking left it.
  const ignored = new Set([i.assistant.metadata?.uid, replacementUid(i.assistant), i.held.metadata?.uid]);
  const keep = (p: Pod) => !ignored.has(p.metadata?.uid);
  const keepPlaced = (p: PlacedPod) => keep(p.pod);
  const nodePods = i.nodePods.filter(keep);
  const antiAffinityPods = i.antiAffinityPods.filter(keepPlaced);
  const assistantRequest = podRequests(i.assistant);

  const replacement = roomRejection({
    pod: i.assistant,
    request: assistantRequest,
    node: i.node,
    nodePods,
    termPods: i.assistantTermPods.filter(keepPlaced),
    antiAffinityPods,
    nsLabels: i.nsLabels,
  });
  if (replacement !== undefined) return { replacement, pair: { pod: 'replacement', reason: replacement } };
  if (i.pairNodeRejection !== undefined) return { replacement, pair: i.pairNodeRejection };

  const placed = replacementOn(i.assistant, i.node.metadata?.name ?? '');
  const withReplacement = [...nodePods, placed];
  const heldRequest = podRequests(i.held);
  const lacking = insufficientResources(heldRequest, i.node, withReplacement);
  if (lacking.length > 0) {
    return { replacement, pair: { pod: 'both', reason: lacking.map((l) => forBoth(l, assistantRequest, heldRequest, i.held)).join(', ') } };
  }
  const interPod = interPodRejection({
    pod: i.held,
    node: i.node,
    termPods: [...i.heldTermPods.filter(keepPlaced), { pod: placed, node: i.node }],
    nodePods: withReplacement,
    antiAffinityPods,
    nsLabels: i.nsLabels,
  });
  return { replacement, pair: interPod === undefined ? undefined : forHeld(interPod) };
}

/** "Insufficient cpu" -> "Insufficient cpu for both (assistant 50m + run-second-pod 3000m)". */
function forBoth(lack: string, assistant: Resources, held: Resources, heldPod: Pod): string {
  const name = /^Insufficient (.+)$/.exec(lack)?.[1];
  if (name === undefined) return `${lack} for both`;
  return `${lack} for both (assistant ${amount(name, assistant.get(name))} + ${heldPod.metadata?.name ?? 'held pod'} ${amount(name, held.get(name))})`;
}

const MI = 1024n * 1024n;

function amount(name: string, v: bigint | undefined): string {
  const x = v ?? 0n;
  if (name === 'cpu') return `${x}m`;
  if ((name === 'memory' || name === 'ephemeral-storage') && x > 0n && x % MI === 0n) return `${x / MI}Mi`;
  return String(x);
}
