/**
 * Which watch updates are real transitions. Pure state machine (no I/O): nodes are compared by their
 * schedulability verdict (the same domain code the Lambdas use) and by their scheduling restrictions
 * (cordon, NoSchedule/NoExecute taints, Ready), assistant pods by uid and node. A heartbeat-only node
 * update, or a replayed resourceVersion, changes nothing and emits nothing.
 */
import type { Node, Pod } from '../domain/k8s.js';
import type { SchedulabilityConfig } from '../domain/config.js';
import { assessNode, type NodeVerdict, verdictKey } from '../domain/schedulability.js';

/**
 * Why a node may be capacity that a blocked assistant was waiting for: one of its scheduling restrictions
 * was lifted (uncordon, a taint removed, Ready again) and it is schedulable now, or it joined the cluster
 * Ready and schedulable.
 */
export type CapacityChange = 'restrictions-lifted' | 'joined';

export interface NodeTransition {
  node: Node;
  verdict: NodeVerdict;
  previous?: NodeVerdict;
  /** The verdict changed (or the node was first seen unschedulable, or deleted). */
  verdictChanged: boolean;
  /** Set when capacity may have appeared (the verdict is then schedulable): worth publishing for any node. */
  capacity?: CapacityChange;
}

export interface ObserveNodeOptions {
  /**
   * The initial list is over: a node seen for the first time now has joined the cluster (a watch ADDED, or
   * a relist after 410 that finds it), rather than being one of the nodes every start, failover or resync
   * lists, which must not publish one event per node.
   */
  afterInitialList?: boolean;
}

interface NodeState {
  key: string;
  verdict: NodeVerdict;
  resourceVersion?: string;
  /** restrictionsOf(node): '' for an unrestricted node (most of them), so it costs nothing there. */
  restrictions: string;
}

export type PodChange = 'bound' | 'moved' | 'deleted';

export interface PodTransition {
  pod: Pod;
  change: PodChange;
  previousNodeName?: string;
}

interface PodState {
  uid: string;
  nodeName?: string;
}

export class TransitionDetector {
  private readonly nodes = new Map<string, NodeState>();
  private readonly pods = new Map<string, PodState>();

  constructor(private readonly config: SchedulabilityConfig) {}

  /**
   * A node was added or updated (or re-evaluated because a grace ran out). Returns the transition, or
   * undefined when nothing changed that anyone acts on. The verdict: the first sight of a healthy node is
   * not a transition, the first sight of an unschedulable one is (so a start-up emits what is already bad,
   * once). Capacity: a node schedulable now whose restrictions shrank, or one that joined after the
   * initial list Ready and schedulable; at most one transition per update either way.
   */
  observeNode(node: Node, now: Date, o: ObserveNodeOptions = {}): NodeTransition | undefined {
    const name = node.metadata?.name ?? '';
    const prev = this.nodes.get(name);
    const rv = node.metadata?.resourceVersion;
    if (prev && rv && prev.resourceVersion === rv && !prev.verdict.notReadyUntil) return undefined;
    const verdict = assessNode(node, { now, config: this.config });
    const key = verdictKey(verdict);
    const restrictions = restrictionsOf(node);
    this.nodes.set(name, { key, verdict, resourceVersion: rv, restrictions });
    const verdictChanged = prev ? prev.key !== key : !verdict.schedulable;
    let capacity: CapacityChange | undefined;
    if (verdict.schedulable) {
      if (prev) capacity = lifted(prev.restrictions, restrictions) ? 'restrictions-lifted' : undefined;
      else if (o.afterInitialList && joinedOpen(node)) capacity = 'joined';
    }
    if (!verdictChanged && !capacity) return undefined;
    return { node, verdict, verdictChanged, ...(prev ? { previous: prev.verdict } : {}), ...(capacity ? { capacity } : {}) };
  }

  /** A deleted node is a transition when it was known (its assistants lost their node). */
  forgetNode(node: Node): NodeTransition | undefined {
    const name = node.metadata?.name ?? '';
    const prev = this.nodes.get(name);
    this.nodes.delete(name);
    if (!prev) return undefined;
    return { node, verdict: { schedulable: false, reasons: [{ code: 'Gone', message: 'the node was deleted' }] }, previous: prev.verdict, verdictChanged: true };
  }

  /** When the node's not-ready grace runs out, if it is in one: the caller re-observes it then. */
  pendingUntil(nodeName: string): Date | undefined {
    return this.nodes.get(nodeName)?.verdict.notReadyUntil;
  }

  observePod(pod: Pod): PodTransition | undefined {
    const key = podKey(pod);
    const uid = pod.metadata?.uid ?? '';
    const nodeName = pod.spec?.nodeName;
    const prev = this.pods.get(key);
    this.pods.set(key, { uid, nodeName });
    if (!nodeName) return undefined;
    if (!prev || prev.uid !== uid || !prev.nodeName) return { pod, change: 'bound' };
    if (prev.nodeName !== nodeName) return { pod, change: 'moved', previousNodeName: prev.nodeName };
    return undefined;
  }

  forgetPod(pod: Pod): PodTransition | undefined {
    const key = podKey(pod);
    const prev = this.pods.get(key);
    this.pods.delete(key);
    if (!prev || prev.uid !== pod.metadata?.uid) return undefined;
    return { pod, change: 'deleted', ...(prev.nodeName ? { previousNodeName: prev.nodeName } : {}) };
  }

  /** Names of nodes currently hosting a known assistant pod. */
  nodesWithAssistants(): Set<string> {
    return new Set([...this.pods.values()].flatMap((p) => (p.nodeName ? [p.nodeName] : [])));
  }
}

const NOT_READY = 'Ready!=True';
/** The node lifecycle controller's taints for a node that is not Ready (yet): lifted when it is. */
const NODE_LIFECYCLE_TAINTS = new Set(['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']);

/**
 * What keeps the scheduler from placing a pod that tolerates nothing on the node, as kube-scheduler sees it
 * (whatever TAINT_INCLUDE says: a taint the verdict ignores still keeps pods off): the cordon, each
 * NoSchedule/NoExecute taint by key and effect (a new value is not a lifted taint), and Ready not True.
 * Sorted and joined into one string: '' for a node with none, which is what nearly every node stores.
 */
export function restrictionsOf(node: Node): string {
  const r: string[] = [];
  if (node.spec?.unschedulable) r.push('unschedulable');
  const ready = (node.status?.conditions ?? []).find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') r.push(NOT_READY);
  for (const t of node.spec?.taints ?? []) {
    if (t.effect === 'NoSchedule' || t.effect === 'NoExecute') r.push(`${t.key}:${t.effect}`);
  }
  return r.length === 0 ? '' : r.sort().join('\n');
}

/** Some restriction of `before` is gone in `after`. */
function lifted(before: string, after: string): boolean {
  if (before === '' || before === after) return false;
  if (after === '') return true;
  const now = new Set(after.split('\n'));
  return before.split('\n').some((r) => !now.has(r));
}

/**
 * A node that joined is capacity once it is Ready and the node lifecycle controller has lifted the
 * not-ready taint every new node gets (TaintNodesByCondition); until then the scheduler places nothing
 * there, and that taint's removal is published as a lifted restriction instead.
 */
function joinedOpen(node: Node): boolean {
  const ready = (node.status?.conditions ?? []).find((c) => c.type === 'Ready');
  return ready?.status === 'True' && !(node.spec?.taints ?? []).some((t) => NODE_LIFECYCLE_TAINTS.has(t.key) && t.effect !== 'PreferNoSchedule');
}

export function podKey(pod: Pod): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
}
