/**
 * The relocator's own NoSchedule taint on a node that AWS announced as going away (Spot interruption,
 * ASG termination, scheduled retirement...). Such a node still looks healthy to the scheduler, which would
 * bind the assistant's replacement straight back to it; aws-node-termination-handler and Karpenter taint
 * the node for the same reason. NoSchedule only: what runs there keeps running; the node is not cordoned.
 *
 * The value says which notice and when (`aws-spot-interruption.20261125T184000Z`), so that the sweep can
 * lift the taint once it is older than a TTL (a rebalance recommendation or a maintenance weeks ahead must
 * not keep a node out of use for good), and `kubectl describe node` tells an operator who put it there.
 */
import type { Node, Taint } from './k8s.js';

export const INTERRUPTION_TAINT_KEY = 'affinity-relocator.io/interruption';

/** The taint for a notice from `source`, placed at `at`. The value is a valid label value (<= 63 chars). */
export function interruptionTaint(source: string, at: Date): Taint {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const prefix = source.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63 - stamp.length - 1);
  return { key: INTERRUPTION_TAINT_KEY, value: `${prefix || 'notice'}.${stamp}`, effect: 'NoSchedule' };
}

/** Our taint on the node, if any. */
export function interruptionTaintOf(node: Node | undefined): Taint | undefined {
  return (node?.spec?.taints ?? []).find((t) => t.key === INTERRUPTION_TAINT_KEY);
}

/** When our taint was placed, from its value; undefined when the value is not ours to read. */
export function interruptionTaintedAt(taint: Taint): Date | undefined {
  const m = /\.(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(taint.value ?? '');
  if (!m) return undefined;
  const at = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/**
 * The node's taints with ours added, or undefined when it carries ours already (the first notice's time
 * is kept: a repeated notice must not extend the TTL forever).
 */
export function taintsWithInterruption(taints: Taint[] | undefined, taint: Taint): Taint[] | undefined {
  if ((taints ?? []).some((t) => t.key === INTERRUPTION_TAINT_KEY)) return undefined;
  return [...(taints ?? []), taint];
}

/** The node's taints without ours, or undefined when it carries none of ours. */
export function taintsWithoutInterruption(taints: Taint[] | undefined): Taint[] | undefined {
  const kept = (taints ?? []).filter((t) => t.key !== INTERRUPTION_TAINT_KEY);
  return kept.length === (taints ?? []).length ? undefined : kept;
}

/**
 * Has our taint on the node outlived `ttlMs`? A value we cannot date counts as expired (someone wrote it
 * by hand, or an older version did): the sweep then lifts a taint that nothing else would ever lift.
 */
export function interruptionTaintExpired(node: Node, now: Date, ttlMs: number): boolean {
  const taint = interruptionTaintOf(node);
  if (!taint) return false;
  const at = interruptionTaintedAt(taint);
  return !at || now.getTime() - at.getTime() >= ttlMs;
}
