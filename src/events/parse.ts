/**
 * Turns what a Lambda receives into the one RelocationTrigger the relocator handles, or throws an
 * InvalidEventError (non-retryable) that names every bad field.
 */
import type * as z from './zod.js';
import type { RelocationTrigger } from '../domain/trigger.js';
import {
  ASSISTANT_POD_CHANGED,
  INBOUND_DETAIL_TYPES,
  MAX_EVENT_BYTES,
  NODE_SCHEDULABILITY_CHANGED,
  RELOCATION_REQUESTED,
  TASKRUN_POD_UNSCHEDULABLE,
} from './contract.js';
import { InvalidEventError, parseOrThrow } from './errors.js';
import { triggerFromAssistantPodChanged } from './assistant-pod-changed.js';
import { InboundEventSchema } from './inbound.js';
import { triggerFromNodeSchedulabilityChanged } from './node-schedulability-changed.js';
import { triggerFromRelocationRequested } from './relocation-requested.js';
import { triggerFromTaskRunPodUnschedulable } from './taskrun-pod-unschedulable.js';
import { ScheduledEventSchema, triggerFromScheduledEvent } from './scheduled-event.js';

/** An event of ours: "Node Schedulability Changed", "Assistant Pod Changed", "Relocation Requested" or "TaskRun Pod Unschedulable". */
export function parseTriggerEvent(raw: unknown): RelocationTrigger {
  const event = parseEvent(InboundEventSchema, raw, subjectOf(raw));
  switch (event['detail-type']) {
    case NODE_SCHEDULABILITY_CHANGED:
      return triggerFromNodeSchedulabilityChanged(event);
    case ASSISTANT_POD_CHANGED:
      return triggerFromAssistantPodChanged(event);
    case RELOCATION_REQUESTED:
      return triggerFromRelocationRequested(event);
    case TASKRUN_POD_UNSCHEDULABLE:
      return triggerFromTaskRunPodUnschedulable(event);
  }
}

/** The sweep's schedule: a trigger to look at every assistant. */
export function parseScheduledEvent(raw: unknown): RelocationTrigger {
  return triggerFromScheduledEvent(parseEvent(ScheduledEventSchema, raw, '"Scheduled Event" event'));
}

function parseEvent<S extends z.ZodMiniType>(schema: S, raw: unknown, subject: string): z.infer<S> {
  // Measured before parsing, so that an oversized payload costs one serialisation and no validation work.
  let json: string | undefined;
  try {
    json = JSON.stringify(raw);
  } catch (e) {
    throw new InvalidEventError(subject, [{ path: '', message: `not serialisable as JSON (${(e as Error).message})` }]);
  }
  const bytes = json === undefined ? 0 : Buffer.byteLength(json);
  if (bytes > MAX_EVENT_BYTES) {
    const message = `${bytes} bytes of JSON, over the ${MAX_EVENT_BYTES}-byte (256 KiB) limit of an EventBridge event`;
    throw new InvalidEventError(subject, [{ path: '', message }]);
  }
  return parseOrThrow(schema, raw, subject);
}

/** `"Node Schedulability Changed" event` when the detail-type is one of ours, else just `event`. */
function subjectOf(raw: unknown): string {
  const detailType = typeof raw === 'object' && raw !== null && (raw as Record<string, unknown>)['detail-type'];
  return (INBOUND_DETAIL_TYPES as readonly unknown[]).includes(detailType) ? `"${String(detailType)}" event` : 'event';
}
