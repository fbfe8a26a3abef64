/**
 * Is this pod (still) a Tekton affinity assistant we may move? Labels alone are not enough (other
 * software uses the generic app.kubernetes.io/* labels): the pod must be controlled by a StatefulSet
 * that is controlled by a tekton.dev PipelineRun that is still running.
 */
import type { OwnerReference, Pod, StatefulSet } from './k8s.js';
import type { SkipReason } from './outcome.js';

/** The parts of a PipelineRun we read. */
export interface PipelineRunLike {
  metadata?: { name?: string; uid?: string; deletionTimestamp?: Date | string };
  status?: { conditions?: { type?: string; status?: string; reason?: string }[] };
}

export type AssistantCheck = { ok: true } | { ok: false; reason: SkipReason; message: string };

export function controllerOf(refs: OwnerReference[] | undefined): OwnerReference | undefined {
  return (refs ?? []).find((r) => r.controller === true);
}

export function matchesSelector(labels: Record<string, string> | undefined, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** Label selector string for list calls, e.g. "app.kubernetes.io/component=affinity-assistant". */
export function selectorString(selector: Record<string, string>): string {
  return Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Checks on the pod alone: labels and a StatefulSet controller. */
export function checkAssistantPod(pod: Pod, selector: Record<string, string>): AssistantCheck {
  if (!matchesSelector(pod.metadata?.labels, selector)) {
    return { ok: false, reason: 'not-an-assistant', message: 'the pod does not carry the affinity-assistant labels' };
  }
  const owner = controllerOf(pod.metadata?.ownerReferences);
  if (owner?.kind !== 'StatefulSet' || owner.apiVersion !== 'apps/v1') {
    return { ok: false, reason: 'not-an-assistant', message: 'the pod is not controlled by a StatefulSet' };
  }
  return { ok: true };
}

/** Checks on the chain: pod -> StatefulSet -> running PipelineRun. */
export function checkOwnership(pod: Pod, sts: StatefulSet | undefined, pr: PipelineRunLike | undefined): AssistantCheck {
  const podOwner = controllerOf(pod.metadata?.ownerReferences);
  if (!sts || sts.metadata?.uid !== podOwner?.uid) {
    return { ok: false, reason: 'gone', message: `StatefulSet ${podOwner?.name ?? '?'} no longer exists` };
  }
  if (sts.metadata?.deletionTimestamp) {
    return { ok: false, reason: 'pipelinerun-finished', message: `StatefulSet ${sts.metadata.name} is being deleted` };
  }
  const stsOwner = controllerOf(sts.metadata?.ownerReferences);
  if (stsOwner?.kind !== 'PipelineRun' || !stsOwner.apiVersion.startsWith('tekton.dev/')) {
    return { ok: false, reason: 'not-an-assistant', message: `StatefulSet ${sts.metadata?.name} is not controlled by a Tekton PipelineRun` };
  }
  if (!pr || pr.metadata?.uid !== stsOwner.uid) {
    return { ok: false, reason: 'pipelinerun-finished', message: `PipelineRun ${stsOwner.name} no longer exists` };
  }
  if (pr.metadata?.deletionTimestamp) {
    return { ok: false, reason: 'pipelinerun-finished', message: `PipelineRun ${stsOwner.name} is being deleted` };
  }
  const succeeded = (pr.status?.conditions ?? []).find((c) => c.type === 'Succeeded');
  if (succeeded && succeeded.status !== 'Unknown') {
    return {
      ok: false,
      reason: 'pipelinerun-finished',
      message: `PipelineRun ${stsOwner.name} has finished (Succeeded=${succeeded.status}${succeeded.reason ? `, ${succeeded.reason}` : ''})`,
    };
  }
  return { ok: true };
}

/** Claim names the pod mounts (its workspaces, or the set's volumeClaimTemplates). */
export function claimNamesOf(pod: Pod): string[] {
  return (pod.spec?.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : []));
}
