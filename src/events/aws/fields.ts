/**
 * What the AWS notices share: the EventBridge envelope as AWS sends it, and the EC2 instance id. AWS owns
 * these shapes and extends them, so unknown keys are dropped, never rejected (unlike our own details).
 */
import * as z from '../zod.js';
import { EventBridgeEnvelopeSchema } from '../envelope.js';
import { shortValue } from '../errors.js';

/**
 * The envelope of one AWS notice: its source, its detail-type and that detail-type's detail. `version` and
 * `resources` are optional because AWS's own documented samples leave them out at times (the state-change
 * sample has no `version`, the Health retirement sample no `resources`); nothing here reads them.
 */
export function awsEventSchema<S extends string, T extends string, D extends z.ZodMiniType>(source: S, detailType: T, detail: D) {
  return z.extend(EventBridgeEnvelopeSchema, {
    version: z.optional(z.string()),
    resources: z.optional(z.array(z.string())),
    source: z.literal(source, { error: (i) => `must be "${source}", got ${shortValue(i.input)}` }),
    'detail-type': z.literal(detailType),
    detail,
  });
}

const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/** `i-` and 8 (older instances) or 17 lowercase hex digits. */
export const ec2InstanceId = z
  .string()
  .check(z.regex(INSTANCE_ID, 'must be an EC2 instance id: "i-" and 8 or 17 lowercase hex digits'));

/** The instance id in `i-0123...` or in its ARN `arn:aws:ec2:<region>:<account>:instance/i-0123...`. */
export function instanceIdIn(value: string): string | undefined {
  const id = /^arn:aws[a-z-]*:ec2:[^:]*:[^:]*:instance\/(.+)$/.exec(value)?.[1] ?? value;
  return INSTANCE_ID.test(id) ? id : undefined;
}
