/**
 * Result events: one per outcome, for alert rules and dashboards. The detail is the Outcome (src/domain/outcome.ts)
 * plus the fields every detail carries; the detail-type says the kind, so rules need not look inside.
 */
import * as z from './zod.js';
import type { Outcome } from '../domain/outcome.js';
import { RESULT_DETAIL_TYPES, SCHEMA_VERSION, SOURCE, type PutEventsEntry } from './contract.js';
import { detailBase, dns1123Label, dns1123Subdomain, reasonCode, text, uid } from './fields.js';

const OUTCOME_FIELDS = {
  kind: z.enum(['started', 'relocated', 'blocked', 'failed', 'skipped', 'stuck']),
  reason: text(64),
  message: text(2048),
  assistant: z.strictObject({
    namespace: dns1123Label,
    pod: dns1123Subdomain,
    podUid: z.optional(uid),
    statefulSet: z.optional(dns1123Subdomain),
    statefulSetUid: z.optional(uid),
    pipelineRun: z.optional(dns1123Subdomain),
  }),
  fromNode: z.optional(dns1123Subdomain),
  toNode: z.optional(dns1123Subdomain),
  newPodUid: z.optional(uid),
  nodeReasons: z.optional(z.array(reasonCode).check(z.maxLength(32))),
  triggerId: text(256),
  triggerSource: text(64),
  // Not checked for >= 0: they span two clocks (the producer's observedAt and ours).
  deleteLatencyMs: z.optional(z.number()),
  boundLatencyMs: z.optional(z.number()),
  forced: z.optional(z.boolean()),
  dryRun: z.optional(z.boolean()),
  heldPod: z.optional(dns1123Subdomain),
  pendingToBoundMs: z.optional(z.number()),
};

export const ResultDetailSchema = z.strictObject({
  ...detailBase,
  ...OUTCOME_FIELDS,
  /** A notification (what the alert rules route): the first of its StatefulSet and kind in a window. */
  notify: z.boolean(),
});
export type ResultDetail = z.infer<typeof ResultDetailSchema>;

// Fails to compile when Outcome and the schema above stop describing the same fields.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type _SchemaMatchesOutcome = Assert<Equal<z.infer<z.ZodMiniObject<typeof OUTCOME_FIELDS>>, Outcome>>;
type Assert<T extends true> = T;

export function toResultEntry(outcome: Outcome, cluster: string, now: Date, notify: boolean): PutEventsEntry {
  // The outcome first, so that nothing in it can override the contract's own fields.
  const detail: ResultDetail = { ...outcome, schemaVersion: SCHEMA_VERSION, cluster, observedAt: now.toISOString(), notify };
  return { Source: SOURCE, DetailType: RESULT_DETAIL_TYPES[outcome.kind], Detail: JSON.stringify(detail) };
}
