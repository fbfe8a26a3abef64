/**
 * Result events: one per outcome, for alert rules and dashboards. The detail is the Outcome (src/domain/outcome.ts)
 * plus the fields every detail carries; the detail-type says the kind, so rules need not look inside.
 */
import * as z from 'zod';
import type { Outcome } from '../domain/outcome.js';
import { RESULT_DETAIL_TYPES, SCHEMA_VERSION, SOURCE, type PutEventsEntry } from './contract.js';
import { detailBase, dns1123Label, dns1123Subdomain, reasonCode, text, uid } from './fields.js';

const OUTCOME_FIELDS = {
  kind: z.enum(['relocated', 'blocked', 'failed', 'skipped', 'stuck']),
  reason: text(64),
  message: text(2048),
  assistant: z.strictObject({
    namespace: dns1123Label,
    pod: dns1123Subdomain,
    podUid: uid.optional(),
    statefulSet: dns1123Subdomain.optional(),
    statefulSetUid: uid.optional(),
    pipelineRun: dns1123Subdomain.optional(),
  }),
  fromNode: dns1123Subdomain.optional(),
  toNode: dns1123Subdomain.optional(),
  newPodUid: uid.optional(),
  nodeReasons: z.array(reasonCode).max(32).optional(),
  triggerId: text(256),
  triggerSource: text(64),
  // Not checked for >= 0: they span two clocks (the producer's observedAt and ours).
  deleteLatencyMs: z.number().optional(),
  boundLatencyMs: z.number().optional(),
  forced: z.boolean().optional(),
  dryRun: z.boolean().optional(),
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
type _SchemaMatchesOutcome = Assert<Equal<z.infer<z.ZodObject<typeof OUTCOME_FIELDS>>, Outcome>>;
type Assert<T extends true> = T;

export function toResultEntry(outcome: Outcome, cluster: string, now: Date, notify: boolean): PutEventsEntry {
  // The outcome first, so that nothing in it can override the contract's own fields.
  const detail: ResultDetail = { ...outcome, schemaVersion: SCHEMA_VERSION, cluster, observedAt: now.toISOString(), notify };
  return { Source: SOURCE, DetailType: RESULT_DETAIL_TYPES[outcome.kind], Detail: JSON.stringify(detail) };
}
