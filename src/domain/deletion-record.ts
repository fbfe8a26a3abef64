/**
 * Asynchronous confirmation (DESIGN.md section 3, step 4). The invocation that deletes an assistant does
 * not wait for its replacement: it leaves a DeletionRecord in the cluster (an Event on the StatefulSet,
 * written with the delete) and returns. Whoever later sees the replacement (the pod event of its bind, the
 * sweep for deletes older than the confirmation timeout, the CLI that chose to wait) judges it here,
 * claims the record's settlement once (src/cluster) and reports. Pure: no I/O.
 */
import type { Pod } from './k8s.js';
import type { Outcome } from './outcome.js';
import type { NodeVerdict } from './schedulability.js';
import type { ExternalDisruption } from './trigger.js';

/** What the deleting invocation knew, kept for whoever confirms (all strings: it travels as annotations). */
export interface DeletionRecord {
  /** Name of the record's Event: one per deleted pod (StatefulSet and old pod uid), so a replay writes it once. */
  id: string;
  namespace: string;
  statefulSet: string;
  statefulSetUid?: string;
  pipelineRun?: string;
  pod: string;
  oldPodUid: string;
  fromNode: string;
  triggerId: string;
  triggerSource: string;
  /** When the trigger's source observed the condition (ISO 8601): latencies count from here. */
  observedAt: string;
  /** When the delete was sent (ISO 8601). */
  deletedAt: string;
  /** Why the node was left (NodeReason codes and their sentence). */
  reasonCodes: string[];
  reasons: string;
  forced: boolean;
  /** The announcement that made us leave the node (AWS notice, alert), when there was one. */
  disruption?: ExternalDisruption;
  /**
   * Who was expected to add the node that takes the replacement, when no node could when it was deleted
   * ("NodePool default", "cluster-autoscaler"): its Pending replacement is `waiting-for-capacity`, not
   * `stuck`, until the capacity timeout.
   */
  expectedGrowth?: string;
  /**
   * The TaskRun pod this delete was to free (issue 20's rescue: the assistant's node was healthy but could
   * not take it), in the record's namespace, with when the scheduler first found it Unschedulable. The
   * settlement judges it too: the move is done only once that pod is bound.
   */
  heldPod?: { name: string; uid: string; since: string };
  /**
   * Where the replacement was steered ('' for a node still to be added), and how (an AssistantPlacement
   * read at admission, or our taint on the node left, lifted once the replacement is bound).
   */
  steeredTo?: { node: string; by: 'admission' | 'taint' };
}

/** What a delete about to be sent is recorded with (the rest is the trigger's and the time's). */
export interface DeletionFacts {
  statefulSet: { name: string; uid?: string };
  pipelineRun?: string;
  namespace: string;
  pod: string;
  oldPodUid: string;
  fromNode: string;
  reasonCodes: string[];
  reasons: string;
  forced: boolean;
  expectedGrowth?: string;
  heldPod?: DeletionRecord['heldPod'];
  steeredTo?: DeletionRecord['steeredTo'];
}

/**
 * The record of a delete sent at `deletedAt` for `trigger` (both paths, the cause's and the rescue's, write
 * the same). A trigger's announcement travels with it: a bind back to an announced node (only our taint
 * keeps the scheduler off it) is judged with it.
 */
export function deletionRecord(f: DeletionFacts, trigger: { id: string; source: string; observedAt: string; disruption?: ExternalDisruption }, deletedAt: Date): DeletionRecord {
  const { statefulSet, expectedGrowth, heldPod, steeredTo, ...rest } = f;
  return {
    id: deletionRecordId(statefulSet.name, f.oldPodUid),
    ...rest,
    statefulSet: statefulSet.name,
    statefulSetUid: statefulSet.uid,
    triggerId: trigger.id,
    triggerSource: trigger.source,
    observedAt: new Date(trigger.observedAt).toISOString(),
    deletedAt: deletedAt.toISOString(),
    ...(trigger.disruption && { disruption: trigger.disruption }),
    ...(expectedGrowth ? { expectedGrowth } : {}),
    ...(heldPod ? { heldPod } : {}),
    ...(steeredTo ? { steeredTo } : {}),
  };
}

/** What is known of a record's held TaskRun pod now (undefined: it no longer exists). */
export interface HeldPodView {
  uid: string;
  nodeName?: string;
  /** When it was bound (its PodScheduled condition's time). */
  boundAt?: string;
  /** The scheduler's last word while it is still Pending. */
  pendingMessage?: string;
}

/** The outcome reason of a move that frees a held TaskRun pod. */
export const RESCUE_REASON = 'pending-taskrun';

/** The two ways a record is settled; each at most once (a stuck one may still be relocated later). */
export type SettlementKind = 'relocated' | 'stuck';

/** What is known of the pod of the record's name now (undefined: there is none). */
export interface ReplacementView {
  uid: string;
  nodeName?: string;
  /** When it was seen bound (the pod event's observedAt, or its PodScheduled condition's time). */
  boundAt?: string;
  terminating?: boolean;
  /** The scheduler's last word on a pod still Pending. */
  pendingMessage?: string;
}

export type Judgement =
  | {
      kind: 'relocated';
      toNode: string;
      newPodUid: string;
      boundAt?: string;
      /** For a rescue: the held pod bound (when), or gone (its run cancelled, say): the pod no longer waits. */
      held?: { boundAt?: string; node?: string; gone?: boolean };
    }
  /** Back on the node it left: fine if that node is schedulable again, stuck otherwise. */
  | { kind: 'bound-back'; node: string; healthy: boolean }
  | { kind: 'stuck'; reason: 'bound-to-bad-node' | 'old-pod-terminating' | 'not-recreated' | 'pending' | 'held-pod-pending'; message: string }
  /** Pending past the confirmation timeout while a new node is expected (not a settlement: reported, not claimed). */
  | { kind: 'waiting-for-capacity'; message: string }
  /** Too early to say (no replacement bound yet, within the confirmation timeout). */
  | { kind: 'wait' };

/**
 * Judges the replacement of a deleted assistant. `verdict` is the schedulability of the node it is bound to
 * (required when it is bound); `overdue`: the confirmation timeout has passed since the delete. `capacity`:
 * for a record that expects a new node, whether the (longer) capacity timeout has passed too.
 */
export function judgeReplacement(
  record: DeletionRecord,
  pod: ReplacementView | undefined,
  verdict: NodeVerdict | undefined,
  overdue: boolean,
  timeoutMs: number,
  capacity?: { overdue: boolean; timeoutMs: number },
): Judgement {
  const replacement = pod && pod.uid !== record.oldPodUid ? pod : undefined;
  if (replacement?.nodeName) {
    if (!verdict) throw new Error(`internal: no verdict for node ${replacement.nodeName}`);
    if (replacement.nodeName === record.fromNode) return { kind: 'bound-back', node: replacement.nodeName, healthy: verdict.schedulable };
    if (verdict.schedulable) return { kind: 'relocated', toNode: replacement.nodeName, newPodUid: replacement.uid, boundAt: replacement.boundAt };
    return {
      kind: 'stuck',
      reason: 'bound-to-bad-node',
      message: `its replacement was bound to ${replacement.nodeName}, which is unschedulable too (${verdict.reasons.map((r) => r.message).join('; ')})`,
    };
  }
  if (!overdue) return { kind: 'wait' };
  const growing = record.expectedGrowth && replacement && !replacement.terminating && capacity;
  if (growing && !capacity.overdue) {
    return { kind: 'waiting-for-capacity', message: `its replacement is Pending while ${record.expectedGrowth} adds a node${replacement.pendingMessage ? ` (${replacement.pendingMessage})` : ''}` };
  }
  const after = `${Math.round((growing ? capacity.timeoutMs : timeoutMs) / 1000)} s`;
  if (pod && !replacement) return { kind: 'stuck', reason: 'old-pod-terminating', message: `the old pod is still there (terminating) after ${after}` };
  if (!replacement) return { kind: 'stuck', reason: 'not-recreated', message: `the StatefulSet has not recreated it after ${after}` };
  const waited = growing ? `, and ${record.expectedGrowth} has added no node that took it` : '';
  return { kind: 'stuck', reason: 'pending', message: `its replacement is still Pending after ${after}${waited}${replacement.pendingMessage ? `: ${replacement.pendingMessage}` : ''}` };
}

/**
 * A rescue (a record with `heldPod`) is judged by the pod it was to free: once the replacement is bound
 * (anywhere but a bad node), the move is `relocated` when that pod is bound too, or gone; while it is
 * still Pending it waits, and past the confirmation timeout it is `stuck` with the scheduler's message.
 * Any other judgement of the replacement stands as it is.
 */
export function judgeRescue(record: DeletionRecord, replacement: Judgement, held: HeldPodView | undefined, overdue: boolean, timeoutMs: number): Judgement {
  if (!record.heldPod || (replacement.kind !== 'relocated' && replacement.kind !== 'bound-back')) return replacement;
  if (replacement.kind === 'bound-back' && !replacement.healthy) return replacement;
  const toNode = replacement.kind === 'relocated' ? replacement.toNode : replacement.node;
  const newPodUid = replacement.kind === 'relocated' ? replacement.newPodUid : '';
  const boundAt = replacement.kind === 'relocated' ? replacement.boundAt : undefined;
  const moved = { kind: 'relocated' as const, toNode, newPodUid, ...(boundAt ? { boundAt } : {}) };
  if (!held || held.uid !== record.heldPod.uid) return { ...moved, held: { gone: true } };
  if (held.nodeName) return { ...moved, held: { node: held.nodeName, ...(held.boundAt ? { boundAt: held.boundAt } : {}) } };
  if (!overdue) return { kind: 'wait' };
  return {
    kind: 'stuck',
    reason: 'held-pod-pending',
    message: `its replacement is on ${toNode}, and ${record.heldPod.name} is still Pending after ${Math.round(timeoutMs / 1000)} s${held.pendingMessage ? `: ${held.pendingMessage}` : ''}`,
  };
}

/** The held pod as the judgement needs it. */
export function heldPodView(pod: Pod | undefined): HeldPodView | undefined {
  const v = replacementView(pod);
  return v && { uid: v.uid, ...(v.nodeName ? { nodeName: v.nodeName } : {}), ...(v.boundAt ? { boundAt: v.boundAt } : {}), ...(v.pendingMessage ? { pendingMessage: v.pendingMessage } : {}) };
}

/** The settlement a judgement calls for (none while waiting). */
export function settlementOf(j: Judgement): SettlementKind | undefined {
  if (j.kind === 'wait' || j.kind === 'waiting-for-capacity') return undefined;
  if (j.kind === 'relocated' || (j.kind === 'bound-back' && j.healthy)) return 'relocated';
  return 'stuck';
}

/** The outcome reported once a judgement's settlement is claimed. */
export function settledOutcome(record: DeletionRecord, j: Exclude<Judgement, { kind: 'wait' }>, now: Date): Outcome {
  const grown = record.expectedGrowth ? `; the node was expected from ${record.expectedGrowth}` : '';
  const ns = record.namespace;
  const name = `${ns}/${record.pod}`;
  const base = {
    assistant: { namespace: ns, pod: record.pod, podUid: record.oldPodUid, statefulSet: record.statefulSet, statefulSetUid: record.statefulSetUid, pipelineRun: record.pipelineRun },
    triggerId: record.triggerId,
    triggerSource: record.triggerSource,
    fromNode: record.fromNode,
    nodeReasons: record.reasonCodes,
    deleteLatencyMs: sinceTrigger(record, record.deletedAt),
    forced: record.forced,
  };
  switch (j.kind) {
    case 'relocated': {
      const h = record.heldPod;
      const freed = !h ? '' : j.held?.gone ? `; ${h.name}, which it was to free, is gone` : j.held?.node ? `, and ${h.name} followed it to ${j.held.node}` : '';
      return {
        ...base,
        kind: 'relocated',
        reason: h ? RESCUE_REASON : (record.reasonCodes[0] ?? 'relocated'),
        message: `${name} moved from ${record.fromNode} to ${j.toNode}${freed} (${record.reasons}${grown})`,
        toNode: j.toNode,
        ...(j.newPodUid ? { newPodUid: j.newPodUid } : {}),
        boundLatencyMs: sinceTrigger(record, boundAfterDelete(record, j.boundAt ?? now.toISOString())),
        ...(h ? { heldPod: h.name } : {}),
        // The pain measured: from the scheduler finding the pod Unschedulable to its bind.
        ...(h && j.held?.node ? { pendingToBoundMs: Date.parse(j.held.boundAt ?? now.toISOString()) - Date.parse(h.since) } : {}),
      };
    }
    case 'bound-back':
      // A node schedulable again (a cordon undone while the delete was on its way) is as good as any.
      return j.healthy
        ? { ...base, kind: 'skipped', reason: 'bound-back', message: `${name} was deleted from ${j.node}, and its replacement was bound back to it: the node is schedulable again` }
        : { ...base, kind: 'stuck', reason: 'bound-back', message: `${name} was deleted from ${j.node} but its replacement was bound back to it, and it is still unschedulable` };
    case 'stuck':
      return { ...base, kind: 'stuck', reason: j.reason, message: `${name} was deleted from ${record.fromNode} but ${j.message}`, ...(record.heldPod ? { heldPod: record.heldPod.name } : {}) };
    case 'waiting-for-capacity':
      // Still under way: a `started` outcome, with the reason that says what it waits for.
      return { ...base, kind: 'started', reason: 'waiting-for-capacity', message: `${name} was deleted from ${record.fromNode} and ${j.message}` };
  }
}

/** The pod as the judgement needs it; `boundAt` falls back to its PodScheduled condition's time. */
export function replacementView(pod: Pod | undefined, boundAt?: string): ReplacementView | undefined {
  const uid = pod?.metadata?.uid;
  if (!pod || !uid) return undefined;
  const scheduled = (pod.status?.conditions ?? []).find((c) => c.type === 'PodScheduled');
  const scheduledAt = scheduled?.status === 'True' && scheduled.lastTransitionTime ? new Date(scheduled.lastTransitionTime).toISOString() : undefined;
  return {
    uid,
    nodeName: pod.spec?.nodeName,
    boundAt: boundAt ?? scheduledAt,
    terminating: !!pod.metadata?.deletionTimestamp,
    pendingMessage: scheduled?.status === 'False' ? scheduled.message : undefined,
  };
}

/** For a record that expects a new node: whether the capacity timeout has passed since its delete. */
export function capacityWait(record: DeletionRecord, now: Date, capacityTimeoutMs: number): { overdue: boolean; timeoutMs: number } | undefined {
  return record.expectedGrowth ? { overdue: isOverdue(record, now, capacityTimeoutMs), timeoutMs: capacityTimeoutMs } : undefined;
}

/** Whether the confirmation timeout has passed since the record's delete. */
export function isOverdue(record: DeletionRecord, now: Date, timeoutMs: number): boolean {
  return now.getTime() - Date.parse(record.deletedAt) >= timeoutMs;
}

/**
 * The record's Event name: the StatefulSet's and the old pod's, so that a replayed trigger (or two
 * invocations deciding the same delete) write one record, and the loop guard counts the delete once.
 */
export function deletionRecordId(statefulSet: string, oldPodUid: string): string {
  return `${statefulSet}.${oldPodUid}.deleting`;
}

/** The name of a record's settlement claim (created at most once by the apiserver). */
export function settlementClaimId(recordId: string, kind: SettlementKind): string {
  return `${recordId.replace(/\.deleting$/, '')}.${kind}`;
}

/** The StatefulSet a pod of it is named after (`<set>-<ordinal>`); undefined for another name. */
export function statefulSetOfPodName(pod: string): string | undefined {
  return /^(.+)-\d+$/.exec(pod)?.[1];
}

/**
 * A replacement is bound after its delete; a PodScheduled condition's time (whole seconds: the sweep's
 * only clue when the bind event was lost) can read earlier, and is then taken as the delete's.
 */
function boundAfterDelete(record: DeletionRecord, boundAt: string): string {
  return Date.parse(boundAt) < Date.parse(record.deletedAt) ? record.deletedAt : boundAt;
}

function sinceTrigger(record: DeletionRecord, at: string): number {
  return Date.parse(at) - Date.parse(record.observedAt);
}
