/**
 * Deletion records and their settlement claims as core/v1 Events on the assistant's StatefulSet
 * (`kubectl describe statefulset` shows them). Events because the relocator may already create and list
 * them and nothing else (no patch of a StatefulSet, which could change its pods), and because the
 * apiserver creates an object of a given name at most once: the record's name is the deleted pod's, so a
 * replay writes one record; a claim's name is the record's, so a settlement is reported once.
 *
 * The record travels as one annotation (JSON), read back through a schema: an Event of ours that does not
 * parse (edited, or written by an older version) still counts for the loop guard but is never settled.
 */
import type { KubeEvent } from '../domain/k8s.js';
import type { DeletionRecord, SettlementKind } from '../domain/deletion-record.js';
import * as z from '../events/zod.js';

/** Reason of a deletion record (the loop guard and the cap count these). */
export const DELETE_EVENT_REASON = 'AssistantDeleting';
/** Reasons of the settlement claims, which are also the outcome's Event for `kubectl describe`. */
export const SETTLEMENT_REASONS: Record<SettlementKind, string> = { relocated: 'AssistantRelocated', stuck: 'AssistantRelocationStuck' };

const RECORD_ANNOTATION = 'affinity-relocator.io/deletion';

const RecordSchema = z.object({
  namespace: z.string(),
  statefulSet: z.string(),
  statefulSetUid: z.optional(z.string()),
  pipelineRun: z.optional(z.string()),
  pod: z.string(),
  oldPodUid: z.string().check(z.minLength(1)),
  fromNode: z.string().check(z.minLength(1)),
  triggerId: z.string(),
  triggerSource: z.string(),
  observedAt: z.iso.datetime({ offset: true }),
  deletedAt: z.iso.datetime({ offset: true }),
  reasonCodes: z.array(z.string()),
  reasons: z.string(),
  forced: z.boolean(),
  disruption: z.optional(z.object({ kind: z.string(), detail: z.string(), notAfter: z.optional(z.string()) })),
  expectedGrowth: z.optional(z.string()),
  heldPod: z.optional(z.object({ name: z.string(), uid: z.string().check(z.minLength(1)), since: z.iso.datetime({ offset: true }) })),
  steeredTo: z.optional(z.object({ node: z.string(), by: z.enum(['admission', 'taint']) })),
});

/** The annotations that carry a record. */
export function recordAnnotations(record: DeletionRecord): Record<string, string> {
  const { id: _id, ...fields } = record;
  return { [RECORD_ANNOTATION]: JSON.stringify(fields) };
}

/** The record an Event of ours carries; undefined when it carries none or one that does not parse. */
export function recordOf(ev: KubeEvent): DeletionRecord | undefined {
  const raw = ev.metadata?.annotations?.[RECORD_ANNOTATION];
  const id = ev.metadata?.name;
  if (ev.reason !== DELETE_EVENT_REASON || !raw || !id) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const r = RecordSchema.safeParse(json);
  return r.success ? { id, ...r.data } : undefined;
}

/** When an Event happened (the fields differ between the two Event APIs and their writers). */
export function eventTime(ev: KubeEvent): Date | undefined {
  const at = ev.lastTimestamp ?? ev.eventTime ?? ev.firstTimestamp ?? ev.metadata?.creationTimestamp;
  return at ? new Date(at) : undefined;
}
