/**
 * The decision for a TaskRun pod held Pending by its assistant's node (issue 20): move the assistant when,
 * and only when, a node other than its own can take the assistant's replacement and that pod together, and
 * nothing else of the run is running beside the assistant (a workspace in use is never split). Pure and
 * level-based like ./plan.ts: the trigger names the pod; the live objects decide.
 */
import type { Node, Pod, StatefulSet } from './k8s.js';
import { checkAssistantPod, checkOwnership, type PipelineRunLike } from './assistant.js';
import type { RelocatorConfig } from './config.js';
import type { Growth } from './growth.js';
import { heldLongEnough, heldTaskRunPod, type HeldPod } from './held-pod.js';
import type { SkipReason } from './outcome.js';
import { assessNode } from './schedulability.js';

/** Where both pods can go, from the caller's probes (src/relocator/placement.ts). */
export interface PairPlacement {
  /** A node that takes the replacement and then the held pod; undefined: none of those probed. */
  node: string | undefined;
  summary: string;
  /** Probed nodes that would take the replacement alone but not the pair. */
  aloneOnly: string[];
  /** Whether every candidate was probed (aloneOnly is then the whole list). */
  complete: boolean;
}

export interface RescueObservation {
  /** The TaskRun pod, live (undefined: gone), and the uid the trigger named. */
  held: Pod | undefined;
  expectedHeldUid?: string;
  /** Its assistant, live (undefined: gone). */
  assistant: Pod | undefined;
  assistantName: string;
  /** The assistant's node, live. */
  node: Node | undefined;
  statefulSet: StatefulSet | undefined;
  pipelineRun: PipelineRunLike | undefined;
  /** Non-terminal pods bound to the assistant's node with required affinity to the same assistant (the held pod aside). */
  workspaceUsers: Pod[];
  /** Claims of the held pod that are not bound yet (it waits for them, not for a node). */
  unboundClaims: string[];
  recentRelocations: number;
  placement?: PairPlacement;
  /** Whether the cluster can grow a node for both (./growth.ts pairGrowthFor), asked when no node takes them. */
  growth?: Growth;
  now: Date;
}

export type RescueDecision =
  /** The assistant's node is bad: the cause's own decision (./plan.ts) applies. */
  | { action: 'cause' }
  /** Every check passed: the caller probes the nodes for the pair, then asks again. */
  | { action: 'find-pair-placement'; held: HeldPod }
  /** No node takes both: the caller asks whether the cluster can grow one, then asks again. */
  | { action: 'find-growth'; held: HeldPod }
  | {
      action: 'delete';
      podUid: string;
      held: HeldPod;
      heldUid: string;
      /** The node found for both; undefined when a node is expected from `growth`. */
      target?: string;
      /** Who is expected to add the node that takes both ("NodePool default"), when no node can now. */
      growth?: string;
      /** Without admission steering, our taint on the node left is enough only when every node that takes the replacement takes the pod too. */
      taintFallbackSafe: boolean;
      message: string;
    }
  | { action: 'none'; outcome: 'skipped'; reason: SkipReason; message: string }
  | { action: 'none'; outcome: 'blocked'; reason: string; message: string };

const skip = (reason: SkipReason, message: string): RescueDecision => ({ action: 'none', outcome: 'skipped', reason, message });
const blocked = (reason: string, message: string): RescueDecision => ({ action: 'none', outcome: 'blocked', reason, message });

export function planRescue(o: RescueObservation, config: RelocatorConfig): RescueDecision {
  const held = o.held;
  if (!held) return skip('gone', 'the TaskRun pod no longer exists');
  const heldName = `${held.metadata?.namespace}/${held.metadata?.name}`;
  if (o.expectedHeldUid && o.expectedHeldUid !== held.metadata?.uid) return skip('stale', `${heldName} was recreated (uid ${o.expectedHeldUid} is gone): the event is stale`);
  const check = heldTaskRunPod(held, config.assistantSelector);
  if (!check.held) return skip('not-held', `${heldName} is not held by an assistant: ${check.why}`);
  const h = check.pod;
  if (!heldLongEnough(h, o.now, config.pendingGraceMs)) {
    return skip('not-held', `${heldName} has been Unschedulable for ${Math.round((o.now.getTime() - h.since.getTime()) / 1000)} s, less than PENDING_GRACE_SECONDS (${config.pendingGraceMs / 1000} s)`);
  }
  if (o.unboundClaims.length > 0) return skip('not-held', `${heldName} waits for its claim ${o.unboundClaims[0]} to be bound, not for a node`);

  const a = o.assistant;
  if (!a) return skip('gone', `${heldName} waits for assistant ${o.assistantName}, which has no pod`);
  const aName = `${a.metadata?.namespace}/${a.metadata?.name}`;
  const identity = checkAssistantPod(a, config.assistantSelector);
  if (!identity.ok) return skip(identity.reason, `${aName}: ${identity.message}`);
  const ownership = checkOwnership(a, o.statefulSet, o.pipelineRun);
  if (!ownership.ok) return skip(ownership.reason, `${aName}: ${ownership.message}`);
  const nodeName = a.spec?.nodeName;
  // Its own pod may be Pending for another reason (a bad node it is being moved from, its own claim).
  if (!nodeName) return skip('not-bound', `${aName} is not bound to a node itself`);
  if (a.metadata?.deletionTimestamp) return skip('already-terminating', `${aName} is already terminating`);
  if (!assessNode(o.node, { now: o.now, config }).schedulable) return { action: 'cause' };

  const user = o.workspaceUsers[0];
  if (user) {
    return blocked(
      'workspace-in-use',
      `${heldName} waits for ${aName} on ${nodeName}, but ${user.metadata?.namespace}/${user.metadata?.name} of the same run is running there: moving the assistant would split a workspace in use; looked at again when it ends`,
    );
  }
  if (o.recentRelocations >= config.loopGuardMax) {
    return blocked(
      'loop-guard',
      `StatefulSet ${o.statefulSet?.metadata?.name} was relocated ${o.recentRelocations} times within ${Math.round(config.loopGuardWindowMs / 60_000)} min (limit ${config.loopGuardMax}): not again`,
    );
  }
  if (!o.placement) return { action: 'find-pair-placement', held: h };
  const p = o.placement;
  if (!p.node) {
    const none = `no node other than ${nodeName} can take ${aName}'s replacement and ${heldName} together (${p.summary})`;
    const stays = `${heldName} stays Pending: ${h.message || 'Unschedulable'}`;
    if (config.whenNoNodeFits === 'block') return blocked('no-feasible-node', `${none}; ${stays}`);
    // A node to come can only be steered to by our taint on the node left, which keeps the replacement
    // off that node alone: an existing node that takes the replacement (not the pod) would get it.
    if (!p.complete || p.aloneOnly.length > 0) {
      const where = p.aloneOnly[0] ? `${p.aloneOnly[0]} would take the replacement alone, where ${heldName} cannot follow` : 'not every node that could take the replacement was probed';
      return blocked('no-feasible-node', `${none}, and a new node would not help: ${where}; ${stays}`);
    }
    const grow = (by: string, because: string): RescueDecision => ({
      action: 'delete',
      podUid: a.metadata?.uid ?? '',
      held: h,
      heldUid: held.metadata?.uid ?? '',
      growth: by,
      taintFallbackSafe: true,
      message: `delete ${aName} (uid ${a.metadata?.uid}) from ${nodeName}, which cannot take ${heldName} (${h.message || 'Unschedulable'}); ${none}, ${because}`,
    });
    if (config.whenNoNodeFits === 'delete') return grow('an autoscaler (WHEN_NO_NODE_FITS=delete)', 'and WHEN_NO_NODE_FITS=delete deletes it anyway');
    if (!o.growth) return { action: 'find-growth', held: h };
    if (o.growth.canGrow) return grow(o.growth.by, `but ${o.growth.message}`);
    return blocked('no-feasible-node', `${none}; nothing can add a node for both: ${o.growth.message}; ${stays}`);
  }
  return {
    action: 'delete',
    podUid: a.metadata?.uid ?? '',
    held: h,
    heldUid: held.metadata?.uid ?? '',
    target: p.node,
    taintFallbackSafe: p.complete && p.aloneOnly.length === 0,
    message: `delete ${aName} (uid ${a.metadata?.uid}) from ${nodeName}, which cannot take ${heldName} (${h.message || 'Unschedulable'}); ${p.summary}`,
  };
}

/** Whether a bound pod uses the assistant's workspace on its node: tied to the same assistant and not finished. */
export function usesWorkspace(p: Pod, assistant: string, instanceOf: (p: Pod) => string | undefined): boolean {
  const phase = p.status?.phase;
  return !!p.spec?.nodeName && !p.metadata?.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed' && instanceOf(p) === assistant;
}
