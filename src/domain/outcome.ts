/**
 * What happened to one assistant pod after a trigger. Every outcome becomes a result event, a Kubernetes
 * Event on the StatefulSet, a log line and a metric.
 */

/**
 * `started`: the assistant was deleted and its replacement is not confirmed yet; `relocated` or `stuck`
 * follows from whoever sees the replacement (src/domain/deletion-record.ts), never from the same wait.
 */
export type OutcomeKind = 'started' | 'relocated' | 'blocked' | 'failed' | 'skipped' | 'stuck';

export type SkipReason =
  | 'dry-run'
  | 'stale'
  | 'healthy'
  | 'not-an-assistant'
  | 'pipelinerun-finished'
  | 'not-bound'
  | 'already-terminating'
  | 'gone'
  | 'loop-guard'
  | 'other-cluster'
  | 'notify-only'
  | 'not-ready-grace'
  /** The replacement went back to the node it left, which is schedulable again (a cordon undone). */
  | 'bound-back'
  /** Not looked at: the invocation was about to time out (the next sweep takes it). */
  | 'deadline'
  /** A TaskRun pod named by a trigger is not (or no longer) held Pending by its assistant. */
  | 'not-held';

export interface AssistantRef {
  namespace: string;
  pod: string;
  podUid?: string;
  statefulSet?: string;
  statefulSetUid?: string;
  pipelineRun?: string;
}

export interface Outcome {
  kind: OutcomeKind;
  /** Machine-readable reason (a SkipReason, or a short code for blocked/failed/stuck). */
  reason: string;
  /** One sentence for humans: what happened and why. */
  message: string;
  assistant: AssistantRef;
  /** Node the assistant was on (the bad node). */
  fromNode?: string;
  /** Node the recreated pod was bound to (relocated only). */
  toNode?: string;
  /** Uid of the recreated pod (relocated only). */
  newPodUid?: string;
  /** Why the node is unschedulable (codes of NodeReason). */
  nodeReasons?: string[];
  /** Trigger id and source. */
  triggerId: string;
  triggerSource: string;
  /** ms from trigger.observedAt to the delete request, and to the recreated pod being bound. */
  deleteLatencyMs?: number;
  boundLatencyMs?: number;
  /** True when the delete used grace period 0 (NotReady node, out-of-service, node being deleted). */
  forced?: boolean;
  dryRun?: boolean;
  /** The TaskRun pod (in the assistant's namespace) that the move frees, or would free. */
  heldPod?: string;
  /** ms from the held pod being found Unschedulable to its bind (relocated rescues). */
  pendingToBoundMs?: number;
}
