/** The events the relocator consumes from its own producers, and the PutEvents entries that carry them. */
import * as z from './zod.js';
import {
  ASSISTANT_POD_CHANGED,
  INBOUND_DETAIL_TYPES,
  NODE_SCHEDULABILITY_CHANGED,
  RELOCATION_REQUESTED,
  SOURCE,
  TASKRUN_POD_UNSCHEDULABLE,
  type InboundDetailType,
  type PutEventsEntry,
} from './contract.js';
import { shortValue } from './errors.js';
import { AssistantPodChangedEventSchema, type AssistantPodChangedDetail } from './assistant-pod-changed.js';
import {
  NodeSchedulabilityChangedEventSchema,
  type NodeSchedulabilityChangedDetail,
} from './node-schedulability-changed.js';
import { RelocationRequestedEventSchema, type RelocationRequestedDetail } from './relocation-requested.js';
import { TaskRunPodUnschedulableEventSchema, type TaskRunPodUnschedulableDetail } from './taskrun-pod-unschedulable.js';

const ACCEPTED = INBOUND_DETAIL_TYPES.map((t) => `"${t}"`).join(', ');

export const InboundEventSchema = z.discriminatedUnion(
  'detail-type',
  [NodeSchedulabilityChangedEventSchema, AssistantPodChangedEventSchema, RelocationRequestedEventSchema, TaskRunPodUnschedulableEventSchema],
  {
    error: (i) =>
      i.code === 'invalid_union'
        ? `must be one of ${ACCEPTED}, got ${shortValue((i.input as Record<string, unknown>)['detail-type'])}`
        : undefined,
  },
);
export type InboundEvent = z.infer<typeof InboundEventSchema>;

export interface InboundDetails {
  [NODE_SCHEDULABILITY_CHANGED]: NodeSchedulabilityChangedDetail;
  [ASSISTANT_POD_CHANGED]: AssistantPodChangedDetail;
  [RELOCATION_REQUESTED]: RelocationRequestedDetail;
  [TASKRUN_POD_UNSCHEDULABLE]: TaskRunPodUnschedulableDetail;
}

/** The PutEvents entry for one of our details (built with the detail builders, which validate it). */
export function toPutEventsEntry<T extends InboundDetailType>(
  detailType: T,
  detail: InboundDetails[T],
): PutEventsEntry {
  return { Source: SOURCE, DetailType: detailType, Detail: JSON.stringify(detail) };
}
