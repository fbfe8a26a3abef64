/**
 * "TaskRun Pod Unschedulable": the forwarder saw a TaskRun pod whose required affinity ties it to an
 * affinity assistant stay Unschedulable for the grace (PENDING_GRACE_SECONDS): the symptom itself, whatever
 * its cause. A hint like every trigger: the relocator re-reads the pod, its assistant and the nodes.
 * Sample: test/fixtures/events/valid/taskrun-pod-unschedulable.json.
 */
import * as z from './zod.js';
import type { RelocationTrigger } from '../domain/trigger.js';
import { SCHEMA_VERSION, TASKRUN_POD_UNSCHEDULABLE } from './contract.js';
import { ownEventSchema } from './envelope.js';
import { parseOrThrow } from './errors.js';
import { detailBase, dns1123Label, dns1123Subdomain, isoDateTime, resourceVersion, uid } from './fields.js';

export const TaskRunPodUnschedulableDetailSchema = z.strictObject({
  ...detailBase,
  pod: z.strictObject({ namespace: dns1123Label, name: dns1123Subdomain, uid, resourceVersion }),
  /** The `app.kubernetes.io/instance` value its required affinity asks for (the assistant's StatefulSet). */
  assistant: dns1123Subdomain,
  /** When the scheduler marked it Unschedulable (its PodScheduled condition's lastTransitionTime). */
  unschedulableSince: isoDateTime,
  /** The scheduler's message, e.g. "0/3 nodes are available: 1 Insufficient cpu, ...". */
  message: z.optional(z.string().check(z.maxLength(2048))),
  /**
   * `released`: a pod published as held is no longer Pending and unbound (bound, or gone): a rescue of
   * ours that waits for it can be settled now. Absent: it is held.
   */
  released: z.optional(z.literal(true)),
});
export type TaskRunPodUnschedulableDetail = z.infer<typeof TaskRunPodUnschedulableDetailSchema>;

export const TaskRunPodUnschedulableEventSchema = ownEventSchema(TASKRUN_POD_UNSCHEDULABLE, TaskRunPodUnschedulableDetailSchema);
export type TaskRunPodUnschedulableEvent = z.infer<typeof TaskRunPodUnschedulableEventSchema>;

/** Builds (and validates, so that nothing invalid leaves the producer) the detail. */
export function taskRunPodUnschedulableDetail(fields: Omit<TaskRunPodUnschedulableDetail, 'schemaVersion'>): TaskRunPodUnschedulableDetail {
  return parseOrThrow(TaskRunPodUnschedulableDetailSchema, { schemaVersion: SCHEMA_VERSION, ...fields }, `"${TASKRUN_POD_UNSCHEDULABLE}" detail`);
}

export function triggerFromTaskRunPodUnschedulable(event: TaskRunPodUnschedulableEvent): RelocationTrigger {
  const { pod, assistant, cluster, observedAt, released } = event.detail;
  return {
    id: event.id,
    source: 'pending-pod-event',
    target: { kind: 'pending-pod', pod: { namespace: pod.namespace, name: pod.name, uid: pod.uid, resourceVersion: pod.resourceVersion }, assistant, ...(released ? { released } : {}) },
    observedAt,
    cluster,
  };
}
