/**
 * "EC2 Spot Instance Interruption Warning": EC2 takes a Spot Instance back in two minutes (stop or terminate),
 * or at once (hibernate). As AWS documents it (AWSEC2/latest/UserGuide/spot-instance-termination-notices.html,
 * its time and action placeholders filled in); test/fixtures/events/aws/spot-interruption.json:
 *
 *   {
 *     "version": "0",
 *     "id": "12345678-1234-1234-1234-123456789012",
 *     "detail-type": "EC2 Spot Instance Interruption Warning",
 *     "source": "aws.ec2",
 *     "account": "123456789012",
 *     "time": "2025-03-14T09:26:53Z",
 *     "region": "us-east-2",
 *     "resources": ["arn:aws:ec2:us-east-2:123456789012:instance/i-1234567890abcdef0"],
 *     "detail": {
 *       "instance-id": "i-1234567890abcdef0",
 *       "instance-action": "terminate"
 *     }
 *   }
 */
import * as z from '../zod.js';
import type { RelocationTrigger } from '../../domain/trigger.js';
import { awsEventSchema, ec2InstanceId } from './fields.js';

export const SPOT_INTERRUPTION = 'EC2 Spot Instance Interruption Warning';

export const SpotInterruptionDetailSchema = z.object({
  'instance-id': ec2InstanceId,
  /** `terminate`, `stop` or `hibernate` today; any value still means the instance goes away. */
  'instance-action': z.string().check(z.minLength(1), z.maxLength(64)),
});

export const SpotInterruptionEventSchema = awsEventSchema('aws.ec2', SPOT_INTERRUPTION, SpotInterruptionDetailSchema);
export type SpotInterruptionEvent = z.infer<typeof SpotInterruptionEventSchema>;

/** The warning comes two minutes ahead, except for hibernation, which begins immediately. */
const WARNING_MS = 2 * 60_000;

export function triggerFromSpotInterruption(event: SpotInterruptionEvent): RelocationTrigger {
  const { 'instance-id': instanceId, 'instance-action': action } = event.detail;
  const notAfter = new Date(Date.parse(event.time) + (action === 'hibernate' ? 0 : WARNING_MS)).toISOString();
  return {
    id: event.id,
    source: 'aws-spot-interruption',
    target: { kind: 'instance', instanceId },
    observedAt: event.time,
    disruption: { kind: 'SpotInterruption', detail: `EC2 will ${action} Spot Instance ${instanceId}`, notAfter },
  };
}
