/**
 * "Node Schedulability Changed": the forwarder saw a node that hosts an assistant become unschedulable for it
 * (or schedulable again). Sample: test/fixtures/events/valid/node-schedulability-changed.json.
 */
import * as z from './zod.js';
import type { RelocationTrigger } from '../domain/trigger.js';
import { NODE_SCHEDULABILITY_CHANGED, SCHEMA_VERSION } from './contract.js';
import { ownEventSchema } from './envelope.js';
import { parseOrThrow } from './errors.js';
import { detailBase, dns1123Subdomain, reasonCode, resourceVersion, uid } from './fields.js';

const NodeReasonSchema = z.strictObject({
  /** e.g. Cordoned, Tainted, NotReady, Deleting: open-ended, since decisions are made on the live node. */
  code: reasonCode,
  message: z.string().check(z.maxLength(1024)),
});

export const NodeSchedulabilityChangedDetailSchema = z.strictObject({
  ...detailBase,
  node: z.strictObject({
    name: dns1123Subdomain,
    uid,
    resourceVersion,
    /** `aws:///<zone>/<instance-id>` on EKS; lets AWS notices and node events be correlated. */
    providerID: z.optional(z.string().check(z.maxLength(256))),
  }),
  schedulable: z.boolean(),
  reasons: z.array(NodeReasonSchema).check(z.maxLength(32)),
  previousReasons: z.optional(z.array(NodeReasonSchema).check(z.maxLength(32))),
});
export type NodeSchedulabilityChangedDetail = z.infer<typeof NodeSchedulabilityChangedDetailSchema>;

export const NodeSchedulabilityChangedEventSchema = ownEventSchema(
  NODE_SCHEDULABILITY_CHANGED,
  NodeSchedulabilityChangedDetailSchema,
);
export type NodeSchedulabilityChangedEvent = z.infer<typeof NodeSchedulabilityChangedEventSchema>;

/** Builds (and validates, so that nothing invalid leaves the producer) the detail of a node event. */
export function nodeSchedulabilityChangedDetail(
  fields: Omit<NodeSchedulabilityChangedDetail, 'schemaVersion'>,
): NodeSchedulabilityChangedDetail {
  return parseOrThrow(
    NodeSchedulabilityChangedDetailSchema,
    { schemaVersion: SCHEMA_VERSION, ...fields },
    `"${NODE_SCHEDULABILITY_CHANGED}" detail`,
  );
}

export function triggerFromNodeSchedulabilityChanged(event: NodeSchedulabilityChangedEvent): RelocationTrigger {
  const { node, cluster, observedAt, schedulable } = event.detail;
  return {
    id: event.id,
    source: 'node-event',
    // A node that became schedulable (or joined) has nothing to move off it, but it is capacity that an
    // assistant blocked elsewhere may have been waiting for: look at those.
    target: schedulable
      ? { kind: 'stranded', becauseOf: node.name }
      : { kind: 'node', node: { name: node.name, uid: node.uid, resourceVersion: node.resourceVersion } },
    observedAt,
    cluster,
  };
}
