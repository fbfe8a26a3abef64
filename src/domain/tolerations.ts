/** Kubernetes toleration semantics (k8s.io/api/core/v1 Toleration.ToleratesTaint), as pure functions. */
import type { Taint, Toleration } from './k8s.js';

/**
 * Whether one toleration tolerates one taint, as the scheduler decides it. An empty key with operator
 * Exists tolerates every taint; an empty effect tolerates every effect.
 */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  switch (t.operator ?? 'Equal') {
    case 'Exists':
      return true;
    case 'Equal':
      // An empty key is only valid with Exists; with Equal it tolerates nothing.
      return !!t.key && (t.value ?? '') === (taint.value ?? '');
    default:
      return false;
  }
}

/**
 * Whether the pod tolerates the taint for good. A NoExecute toleration with tolerationSeconds only
 * delays eviction, so for "can this pod stay/land here" it does not count.
 */
export function toleratesPermanently(tolerations: Toleration[] | undefined, taint: Taint): boolean {
  return (tolerations ?? []).some(
    (t) => toleratesTaint(t, taint) && !(taint.effect === 'NoExecute' && t.tolerationSeconds != null),
  );
}

/** Taints with effect NoSchedule or NoExecute that the pod does not tolerate (PreferNoSchedule never). */
export function untoleratedTaints(taints: Taint[] | undefined, tolerations: Toleration[] | undefined): Taint[] {
  return (taints ?? []).filter(
    (taint) => (taint.effect === 'NoSchedule' || taint.effect === 'NoExecute') && !toleratesPermanently(tolerations, taint),
  );
}

/** The taint the node controller and kubectl cordon put on unschedulable nodes. */
export const UNSCHEDULABLE_TAINT: Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };
export const NOT_READY_TAINT_KEY = 'node.kubernetes.io/not-ready';
export const UNREACHABLE_TAINT_KEY = 'node.kubernetes.io/unreachable';
export const OUT_OF_SERVICE_TAINT_KEY = 'node.kubernetes.io/out-of-service';

/** Matches a key against patterns: exact, `prefix*`, or `*`. */
export function keyMatches(key: string, patterns: string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? key.startsWith(p.slice(0, -1)) : key === p));
}
