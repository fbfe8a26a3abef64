/**
 * The EventBridge schedule that starts the sweep, as AWS sends it (`aws.events`, "Scheduled Event", detail `{}`).
 * Sample: test/fixtures/events/valid/scheduled-event.json.
 */
import * as z from './zod.js';
import type { RelocationTrigger } from '../domain/trigger.js';
import { EventBridgeEnvelopeSchema } from './envelope.js';

export const ScheduledEventSchema = z.extend(EventBridgeEnvelopeSchema, {
  source: z.literal('aws.events'),
  'detail-type': z.literal('Scheduled Event'),
});
export type ScheduledEvent = z.infer<typeof ScheduledEventSchema>;

export function triggerFromScheduledEvent(event: ScheduledEvent): RelocationTrigger {
  return { id: event.id, source: 'sweep', target: { kind: 'all' }, observedAt: event.time };
}
