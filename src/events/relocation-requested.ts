/**
 * "Relocation Requested": a person (CLI) or an alert (the Alertmanager webhook) asks to look at a node, a pod
 * or an EC2 instance now. Samples: test/fixtures/events/valid/relocation-requested*.json.
 */
import * as z from './zod.js';
import type { RelocationTrigger, TriggerTarget } from '../domain/trigger.js';
import { RELOCATION_REQUESTED } from './contract.js';
import { ownEventSchema } from './envelope.js';
import { detailBase, dns1123Label, dns1123Subdomain, isoDateTime, text, uid } from './fields.js';

const TARGET_KEYS = ['node', 'pod', 'instanceId'] as const;

// One object with three optional keys rather than a union of three: a union would report a bad node name as
// "invalid input" on `target`, where this names `target.node.name`.
const TargetSchema = z
  .strictObject({
    node: z.optional(z.strictObject({ name: dns1123Subdomain })),
    pod: z.optional(z.strictObject({ namespace: dns1123Label, name: dns1123Subdomain, uid: z.optional(uid) })),
    instanceId: z.optional(
      z.string().check(z.regex(/^i-([0-9a-f]{8}|[0-9a-f]{17})$/, 'must be an EC2 instance id: "i-" and 8 or 17 lowercase hex digits')),
    ),
  })
  .check(
    z.superRefine((t, ctx) => {
      const given = TARGET_KEYS.filter((k) => t[k] !== undefined);
      if (given.length !== 1) {
        const got = given.join(', ') || 'none';
        ctx.addIssue({ code: 'custom', message: `must name exactly one of ${TARGET_KEYS.join(', ')}, got ${got}` });
      }
    }),
  );

export const RelocationRequestedDetailSchema = z.strictObject({
  ...detailBase,
  target: TargetSchema,
  /** Who asked: a user name, or `alertmanager/<receiver>` for alerts. */
  requestedBy: text(256),
  reason: text(1024),
  /** Set when the requester knows the node is going away (e.g. an alert about the instance). */
  disruption: z.optional(
    z.strictObject({ kind: text(64), detail: z.string().check(z.maxLength(1024)), notAfter: z.optional(isoDateTime) }),
  ),
});
export type RelocationRequestedDetail = z.infer<typeof RelocationRequestedDetailSchema>;

export const RelocationRequestedEventSchema = ownEventSchema(RELOCATION_REQUESTED, RelocationRequestedDetailSchema);
export type RelocationRequestedEvent = z.infer<typeof RelocationRequestedEventSchema>;

export function triggerFromRelocationRequested(event: RelocationRequestedEvent): RelocationTrigger {
  const { target, requestedBy, disruption, cluster, observedAt } = event.detail;
  return {
    id: event.id,
    source: requestedBy.startsWith('alertmanager') ? 'alert' : 'manual',
    target: targetOf(target),
    observedAt,
    disruption,
    cluster,
  };
}

function targetOf({ node, pod, instanceId }: RelocationRequestedDetail['target']): TriggerTarget {
  if (node) return { kind: 'node', node };
  if (pod) return { kind: 'pod', pod };
  // The schema guarantees exactly one of the three.
  return { kind: 'instance', instanceId: instanceId! };
}
