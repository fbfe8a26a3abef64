/**
 * "Assistant Pod Changed": the forwarder saw an affinity-assistant pod get bound to a node, reappear on another
 * node (its StatefulSet recreated it), or be deleted. Sample: test/fixtures/events/valid/assistant-pod-changed.json.
 */
import * as z from './zod.js';
import type { RelocationTrigger } from '../domain/trigger.js';
import { ASSISTANT_POD_CHANGED, SCHEMA_VERSION } from './contract.js';
import { ownEventSchema } from './envelope.js';
import { parseOrThrow } from './errors.js';
import { detailBase, dns1123Label, dns1123Subdomain, resourceVersion, uid } from './fields.js';

export const AssistantPodChangedDetailSchema = z
  .strictObject({
    ...detailBase,
    pod: z.strictObject({
      namespace: dns1123Label,
      name: dns1123Subdomain,
      uid,
      resourceVersion,
      /** Absent only for a pod deleted before it was bound. */
      nodeName: z.optional(dns1123Subdomain),
    }),
    change: z.enum(['bound', 'moved', 'deleted']),
    /** The node the pod was on before it moved. */
    previousNodeName: z.optional(dns1123Subdomain),
  })
  // The trigger names the node the change concerns, so the node names it needs must be there.
  .check(
    z.superRefine((d, ctx) => {
      if (d.change !== 'deleted' && d.pod.nodeName === undefined) {
        ctx.addIssue({ code: 'custom', path: ['pod', 'nodeName'], message: `required when change is "${d.change}"` });
      }
      if (d.change === 'moved' && d.previousNodeName === undefined) {
        ctx.addIssue({ code: 'custom', path: ['previousNodeName'], message: 'required when change is "moved"' });
      }
    }),
  );
export type AssistantPodChangedDetail = z.infer<typeof AssistantPodChangedDetailSchema>;

export const AssistantPodChangedEventSchema = ownEventSchema(ASSISTANT_POD_CHANGED, AssistantPodChangedDetailSchema);
export type AssistantPodChangedEvent = z.infer<typeof AssistantPodChangedEventSchema>;

/** Builds (and validates, so that nothing invalid leaves the producer) the detail of a pod event. */
export function assistantPodChangedDetail(
  fields: Omit<AssistantPodChangedDetail, 'schemaVersion'>,
): AssistantPodChangedDetail {
  return parseOrThrow(
    AssistantPodChangedDetailSchema,
    { schemaVersion: SCHEMA_VERSION, ...fields },
    `"${ASSISTANT_POD_CHANGED}" detail`,
  );
}

export function triggerFromAssistantPodChanged(event: AssistantPodChangedEvent): RelocationTrigger {
  const { pod, cluster, observedAt, change } = event.detail;
  return {
    id: event.id,
    source: 'pod-event',
    target: {
      kind: 'pod',
      pod: {
        namespace: pod.namespace,
        name: pod.name,
        uid: pod.uid,
        resourceVersion: pod.resourceVersion,
        // The node the pod is on now: that is the node to check (a pod moved onto a bad node must move
        // again); the relocator treats a pod found elsewhere than this as a stale hint.
        nodeName: pod.nodeName,
      },
      change,
    },
    observedAt,
    cluster,
  };
}
