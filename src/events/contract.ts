/**
 * The names and limits of the event contract (DESIGN.md section 4). The zod schemas next to this file are the
 * truth about the shape of each detail.
 *
 * Our detail schemas are strict: an unknown key is rejected ("unknown field"), so a typo such as `nodeNmae`
 * is caught at the first event instead of silently dropping data. The price is the order of upgrades: a new
 * field must reach the consumers (Lambdas) before the producers (forwarder, alert webhook, CLI) send it, or
 * come with a new schemaVersion. The EventBridge envelope, which AWS owns and extends, is not strict.
 */
import type { OutcomeKind } from '../domain/outcome.js';

/** Custom sources may not start with `aws.` (EventBridge reserves it). */
export const SOURCE = 'affinity-relocator';
export const SCHEMA_VERSION = 1;

/** EventBridge rejects PutEvents entries over 256 KiB, so nothing larger can be a genuine event of ours. */
export const MAX_EVENT_BYTES = 256 * 1024;

export const NODE_SCHEDULABILITY_CHANGED = 'Node Schedulability Changed';
export const ASSISTANT_POD_CHANGED = 'Assistant Pod Changed';
export const RELOCATION_REQUESTED = 'Relocation Requested';
/** A TaskRun pod Unschedulable past the grace, tied by required affinity to an assistant's node. */
export const TASKRUN_POD_UNSCHEDULABLE = 'TaskRun Pod Unschedulable';
export const INBOUND_DETAIL_TYPES = [NODE_SCHEDULABILITY_CHANGED, ASSISTANT_POD_CHANGED, RELOCATION_REQUESTED, TASKRUN_POD_UNSCHEDULABLE] as const;
export type InboundDetailType = (typeof INBOUND_DETAIL_TYPES)[number];

/** One result detail-type per outcome kind, so that alert rules can match on detail-type alone. */
export const RESULT_DETAIL_TYPES = {
  started: 'Assistant Relocation Started',
  relocated: 'Assistant Relocated',
  blocked: 'Assistant Relocation Blocked',
  failed: 'Assistant Relocation Failed',
  skipped: 'Assistant Relocation Skipped',
  stuck: 'Assistant Relocation Stuck',
} as const satisfies Record<OutcomeKind, string>;
export type ResultDetailType = (typeof RESULT_DETAIL_TYPES)[OutcomeKind];

/** A PutEvents request entry (assignable to the SDK's PutEventsRequestEntry); the caller adds EventBusName. */
export interface PutEventsEntry {
  Source: typeof SOURCE;
  DetailType: string;
  Detail: string;
}
