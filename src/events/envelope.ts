/**
 * The EventBridge envelope as Lambda receives it (after Powertools' packages/parser/src/schemas/eventbridge.ts),
 * with `detail` left unknown. AWS owns this shape and adds keys (e.g. `replay-name`): unknown keys are dropped.
 */
import * as z from './zod.js';
import { SOURCE } from './contract.js';
import { shortValue } from './errors.js';

export const EventBridgeEnvelopeSchema = z.object({
  version: z.string(),
  id: z.string().check(z.minLength(1)),
  'detail-type': z.string(),
  source: z.string(),
  account: z.string(),
  time: z.iso.datetime(),
  region: z.string(),
  resources: z.array(z.string()),
  detail: z.unknown(),
});
export type EventBridgeEnvelope = z.infer<typeof EventBridgeEnvelopeSchema>;

/** The schema of one of our own events: our source, one detail-type, and that detail-type's detail. */
export function ownEventSchema<T extends string, D extends z.ZodMiniType>(detailType: T, detail: D) {
  return z.extend(EventBridgeEnvelopeSchema, {
    source: z.literal(SOURCE, { error: (i) => `must be "${SOURCE}", got ${shortValue(i.input)}` }),
    'detail-type': z.literal(detailType),
    detail,
  });
}
