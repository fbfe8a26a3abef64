/**
 * Which watch updates are real transitions. Pure state machine (no I/O): nodes are compared by their
 * schedulability verdict (the same domain code the Lambdas use), assistant pods by uid and node. A
 * heartbeat-only node update, or a replayed resourceVersion, changes nothing and emits nothing.
 */
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { SchedulabilityConfig } from '../domain/config.js';
import { assessNode, type NodeVerdict, verdictKey } from '../domain/schedulability.js';

export interface NodeTransition {
  node: V1Node;
  verdict: NodeVerdict;
  previous?: NodeVerdict;
}

export type PodChange = 'bound' | 'moved' | 'deleted';

export interface PodTransition {
  pod: V1Pod;
  change: PodChange;
  previousNodeName?: string;
}

interface PodState {
  uid: string;
  nodeName?: string;
}

export class TransitionDetector {
  private readonly nodes = new Map<string, { key: string; verdict: NodeVerdict; resourceVersion?: string }>();
  private readonly pods = new Map<string, PodState>();

  constructor(private readonly config: SchedulabilityConfig) {}

  /**
   * A node was added or updated (or re-evaluated because a grace ran out). Returns the transition, or
   * undefined when the verdict did not change. The first sight of a healthy node is not a transition;
   * the first sight of an unschedulable one is (so a start-up emits what is already bad, once).
   */
  observeNode(node: V1Node, now: Date): NodeTransition | undefined {
    const name = node.metadata?.name ?? '';
    const prev = this.nodes.get(name);
    const rv = node.metadata?.resourceVersion;
    if (prev && rv && prev.resourceVersion === rv && !prev.verdict.notReadyUntil) return undefined;
    const verdict = assessNode(node, { now, config: this.config });
    const key = verdictKey(verdict);
    this.nodes.set(name, { key, verdict, resourceVersion: rv });
    if (prev ? prev.key === key : verdict.schedulable) return undefined;
    return { node, verdict, ...(prev ? { previous: prev.verdict } : {}) };
  }

  /** A deleted node is a transition when it was known (its assistants lost their node). */
  forgetNode(node: V1Node): NodeTransition | undefined {
    const name = node.metadata?.name ?? '';
    const prev = this.nodes.get(name);
    this.nodes.delete(name);
    if (!prev) return undefined;
    return { node, verdict: { schedulable: false, reasons: [{ code: 'Gone', message: 'the node was deleted' }] }, previous: prev.verdict };
  }

  /** When the node's not-ready grace runs out, if it is in one: the caller re-observes it then. */
  pendingUntil(nodeName: string): Date | undefined {
    return this.nodes.get(nodeName)?.verdict.notReadyUntil;
  }

  observePod(pod: V1Pod): PodTransition | undefined {
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

  forgetPod(pod: V1Pod): PodTransition | undefined {
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

export function podKey(pod: V1Pod): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
}
