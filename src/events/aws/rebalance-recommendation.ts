/**
 * "EC2 Instance Rebalance Recommendation": a Spot Instance is at elevated risk of interruption. Often early,
 * sometimes together with the interruption warning, and often for instances that then run on: noisy, so
 * AWS_EVENT_ACTIONS ignores it unless told otherwise. As AWS documents it
 * (AWSEC2/latest/UserGuide/rebalance-recommendations.html, its time placeholder filled in);
 * test/fixtures/events/aws/rebalance-recommendation.json:
 *
 *   {
 *     "version": "0",
 *     "id": "12345678-1234-1234-1234-123456789012",
 *     "detail-type": "EC2 Instance Rebalance Recommendation",
 *     "source": "aws.ec2",
 *     "account": "123456789012",
 *     "time": "2025-03-14T09:21:07Z",
 *     "region": "us-east-2",
 *     "resources": ["arn:aws:ec2:us-east-2:123456789012:instance/i-1234567890abcdef0"],
 *     "detail": {
 *       "instance-id": "i-1234567890abcdef0"
 *     }
 *   }
 */
import * as z from '../zod.js';
import type { RelocationTrigger } from '../../domain/trigger.js';
import { awsEventSchema, ec2InstanceId } from './fields.js';

export const REBALANCE_RECOMMENDATION = 'EC2 Instance Rebalance Recommendation';

export const RebalanceRecommendationDetailSchema = z.object({
  'instance-id': ec2InstanceId,
});

export const RebalanceRecommendationEventSchema = awsEventSchema(
  'aws.ec2',
  REBALANCE_RECOMMENDATION,
  RebalanceRecommendationDetailSchema,
);
export type RebalanceRecommendationEvent = z.infer<typeof RebalanceRecommendationEventSchema>;

export function triggerFromRebalanceRecommendation(event: RebalanceRecommendationEvent): RelocationTrigger {
  const instanceId = event.detail['instance-id'];
  return {
    id: event.id,
    source: 'aws-rebalance-recommendation',
    target: { kind: 'instance', instanceId },
    observedAt: event.time,
    // No deadline: a risk, not an announcement.
    disruption: { kind: 'RebalanceRecommendation', detail: `Spot Instance ${instanceId} is at elevated risk of interruption` },
  };
}
