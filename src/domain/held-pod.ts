/**
 * A TaskRun pod held Pending by its affinity assistant: the symptom the relocator cures besides the cause
 * (a bad node). Tekton gives every TaskRun pod of a workspace a required podAffinity term on its assistant's
 * `app.kubernetes.io/instance` label (topology: the node), so the pod can only go where the assistant is.
 * When that node cannot take it, the scheduler marks it Unschedulable and nothing else will ever move it.
 * Pure: which pods qualify, since when, and why not.
 */
import type { Pod, PodAffinityTerm } from './k8s.js';

export const TASKRUN_LABEL = 'tekton.dev/taskRun';
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';
export const HOSTNAME_TOPOLOGY = 'kubernetes.io/hostname';

/** What the relocator keeps of a Pending TaskRun pod that waits for its assistant's node. */
export interface HeldPod {
  /** Value of the assistant's `app.kubernetes.io/instance` label (its StatefulSet's name). */
  assistant: string;
  /** When the scheduler first marked the pod Unschedulable (PodScheduled=False since). */
  since: Date;
  /** The scheduler's last message, e.g. "0/3 nodes are available: 1 Insufficient cpu, ...". */
  message: string;
}

export type HeldCheck = { held: true; pod: HeldPod } | { held: false; why: string };

/**
 * The assistant a pod's required affinity ties it to: a term on the node (hostname topology) whose selector
 * asks for the assistant's labels (`assistantSelector`) and names one instance. Undefined: none.
 */
export function assistantInstanceOf(pod: Pod, assistantSelector: Record<string, string>): string | undefined {
  const terms: PodAffinityTerm[] = pod.spec?.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  for (const t of terms) {
    if (t.topologyKey !== HOSTNAME_TOPOLOGY) continue;
    const m = t.labelSelector?.matchLabels ?? {};
    const instance = m[INSTANCE_LABEL];
    if (!instance) continue;
    if (Object.entries(assistantSelector).every(([k, v]) => m[k] === v)) return instance;
  }
  return undefined;
}

/** When the scheduler marked the pod Unschedulable, or undefined when it has not (or it is bound). */
export function unschedulableSince(pod: Pod): { since: Date; message: string } | undefined {
  if (pod.spec?.nodeName || pod.status?.phase !== 'Pending') return undefined;
  const c = (pod.status?.conditions ?? []).find((x) => x.type === 'PodScheduled');
  if (c?.status !== 'False' || c.reason !== 'Unschedulable') return undefined;
  const since = c.lastTransitionTime ? new Date(c.lastTransitionTime) : undefined;
  if (!since || Number.isNaN(since.getTime())) return undefined;
  return { since, message: c.message ?? '' };
}

/**
 * Whether `pod` is a TaskRun pod held Pending by an assistant, as far as the pod alone says. Left alone
 * (with the reason): a pod of no TaskRun, a pod not tied to an assistant, one bound or terminating, one
 * the scheduler has not marked Unschedulable (its claim not bound yet, say), and one with a nominated
 * node (a preemption is making room for it).
 */
export function heldTaskRunPod(pod: Pod, assistantSelector: Record<string, string>): HeldCheck {
  if (!pod.metadata?.labels?.[TASKRUN_LABEL]) return { held: false, why: `the pod has no ${TASKRUN_LABEL} label` };
  const assistant = assistantInstanceOf(pod, assistantSelector);
  if (!assistant) return { held: false, why: 'the pod has no required affinity to an affinity assistant' };
  if (pod.metadata.deletionTimestamp) return { held: false, why: 'the pod is terminating' };
  if (pod.spec?.nodeName) return { held: false, why: `the pod is bound to ${pod.spec.nodeName}` };
  if (pod.status?.nominatedNodeName) return { held: false, why: `the scheduler nominated ${pod.status.nominatedNodeName} for it (a preemption is under way)` };
  const u = unschedulableSince(pod);
  if (!u) return { held: false, why: 'the scheduler has not marked the pod Unschedulable' };
  return { held: true, pod: { assistant, since: u.since, message: u.message } };
}

/** Whether the pod has been held for at least `graceMs` at `now`. */
export function heldLongEnough(held: HeldPod, now: Date, graceMs: number): boolean {
  return now.getTime() - held.since.getTime() >= graceMs;
}
