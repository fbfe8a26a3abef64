/**
 * Is this node fit to keep (or receive) an affinity assistant? A pure verdict with named reasons,
 * computed the same way by the Lambdas, the forwarder and the CLI.
 */
import type { Node, Taint, Toleration } from './k8s.js';
import type { SchedulabilityConfig } from './config.js';
import { INTERRUPTION_TAINT_KEY, interruptionTaintedAt } from './interruption-taint.js';
import type { ExternalDisruption } from './trigger.js';
import {
  keyMatches,
  NOT_READY_TAINT_KEY,
  toleratesPermanently,
  UNREACHABLE_TAINT_KEY,
  UNSCHEDULABLE_TAINT,
} from './tolerations.js';

export type NodeReasonCode = 'Cordoned' | 'Tainted' | 'NotReady' | 'Deleting' | 'Interrupted' | 'Gone';

export interface NodeReason {
  code: NodeReasonCode;
  message: string;
  /** The taint behind a Tainted/NotReady reason. */
  taint?: Taint;
}

export interface NodeVerdict {
  schedulable: boolean;
  reasons: NodeReason[];
  /** Ready is False/Unknown (or a not-ready taint stands) but the grace has not run out: when it will. */
  notReadyUntil?: Date;
}

export interface AssessOptions {
  now: Date;
  config: SchedulabilityConfig;
  /** The assistant's tolerations: a taint it tolerates does not make the node bad for it. */
  tolerations?: Toleration[];
  /** An announcement from outside the node object (AWS notice, alert). */
  disruption?: ExternalDisruption;
}

const NOT_READY_KEYS = [NOT_READY_TAINT_KEY, UNREACHABLE_TAINT_KEY];

export function assessNode(node: Node | undefined, o: AssessOptions): NodeVerdict {
  if (!node) return { schedulable: false, reasons: [{ code: 'Gone', message: 'the node no longer exists' }] };
  const reasons: NodeReason[] = [];
  let notReadyUntil: Date | undefined;

  if (node.metadata?.deletionTimestamp) {
    reasons.push({ code: 'Deleting', message: `the node is being deleted (since ${iso(node.metadata.deletionTimestamp)})` });
  }
  if (o.disruption) {
    const by = o.disruption.notAfter ? ` (expected by ${o.disruption.notAfter})` : '';
    reasons.push({ code: 'Interrupted', message: `${o.disruption.kind}: ${o.disruption.detail}${by}` });
  }
  if (node.spec?.unschedulable && !toleratesPermanently(o.tolerations, UNSCHEDULABLE_TAINT)) {
    reasons.push({ code: 'Cordoned', message: 'the node is cordoned (spec.unschedulable)' });
  }

  // Ready False/Unknown, and the node controller's not-ready/unreachable taints, count only after the
  // grace: a kubelet restart or a short network blip must not move every assistant in the cluster.
  const ready = (node.status?.conditions ?? []).find((c) => c.type === 'Ready');
  const readySince = ready?.lastTransitionTime ? new Date(ready.lastTransitionTime) : undefined;
  const graceOver = (since: Date | undefined): boolean => {
    if (!since || o.now.getTime() - since.getTime() >= o.config.notReadyGraceMs) return true;
    const until = new Date(since.getTime() + o.config.notReadyGraceMs);
    if (!notReadyUntil || until < notReadyUntil) notReadyUntil = until;
    return false;
  };
  let notReadyCounted = false;
  if (ready && ready.status !== 'True' && graceOver(readySince)) {
    notReadyCounted = true;
    reasons.push({
      code: 'NotReady',
      message: `Ready is ${ready.status ?? 'unset'} since ${readySince ? readySince.toISOString() : 'an unknown time'}${ready.reason ? ` (${ready.reason})` : ''}`,
    });
  }

  for (const taint of node.spec?.taints ?? []) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (taint.key === UNSCHEDULABLE_TAINT.key) continue; // reported as Cordoned from spec.unschedulable
    if (taint.key === INTERRUPTION_TAINT_KEY) {
      // Ours, whatever the include/exclude settings say; an announcement in hand says the same, better.
      if (!o.disruption && !toleratesPermanently(o.tolerations, taint)) {
        const at = interruptionTaintedAt(taint);
        reasons.push({ code: 'Interrupted', message: `announced as going away${at ? ` at ${at.toISOString()}` : ''} (tainted ${describeTaint(taint)})`, taint });
      }
      continue;
    }
    if (!keyMatches(taint.key, o.config.taintInclude) || keyMatches(taint.key, o.config.taintExclude)) continue;
    if (toleratesPermanently(o.tolerations, taint)) continue;
    if (NOT_READY_KEYS.includes(taint.key)) {
      const since = taint.timeAdded ? new Date(taint.timeAdded) : readySince;
      if (notReadyCounted || !graceOver(since)) continue;
      notReadyCounted = true;
      reasons.push({ code: 'NotReady', message: `tainted ${describeTaint(taint)}`, taint });
      continue;
    }
    reasons.push({ code: 'Tainted', message: `tainted ${describeTaint(taint)}`, taint });
  }

  return { schedulable: reasons.length === 0, reasons, ...(reasons.length === 0 && notReadyUntil ? { notReadyUntil } : {}) };
}

export function describeTaint(t: Taint): string {
  return `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;
}

/** Stable summary of a verdict for change detection: same codes and taints = same verdict. */
export function verdictKey(v: NodeVerdict): string {
  return v.reasons
    .map((r) => (r.taint ? `${r.code}:${describeTaint(r.taint)}` : r.code))
    .sort()
    .join(',');
}

function iso(d: Date | string): string {
  return new Date(d).toISOString();
}
