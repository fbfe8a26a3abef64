/**
 * "EC2 Instance-terminate Lifecycle Action": an Auto Scaling group (a managed node group, a scale-in, an
 * instance refresh) holds an instance in Terminating:Wait because of a termination lifecycle hook. We only
 * move the assistants; completing the lifecycle action stays with the hook's owner (or its timeout). As AWS
 * documents it (autoscaling/ec2/userguide/ec2-auto-scaling-event-reference.html, scale-in lifecycle action,
 * its time placeholder filled in); test/fixtures/events/aws/asg-terminate.json:
 *
 *   {
 *     "version": "0",
 *     "id": "12345678-1234-1234-1234-123456789012",
 *     "detail-type": "EC2 Instance-terminate Lifecycle Action",
 *     "source": "aws.autoscaling",
 *     "account": "123456789012",
 *     "time": "2025-03-14T09:30:12Z",
 *     "region": "us-west-2",
 *     "resources": ["auto-scaling-group-arn"],
 *     "detail": {
 *       "LifecycleActionToken": "87654321-4321-4321-4321-210987654321",
 *       "AutoScalingGroupName": "my-asg",
 *       "LifecycleHookName": "my-lifecycle-hook",
 *       "EC2InstanceId": "i-1234567890abcdef0",
 *       "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
 *       "NotificationMetadata": "additional-info",
 *       "Origin": "AutoScalingGroup",
 *       "Destination": "EC2"
 *     }
 *   }
 */
import * as z from '../zod.js';
import type { RelocationTrigger } from '../../domain/trigger.js';
import { awsEventSchema, ec2InstanceId } from './fields.js';

export const ASG_TERMINATE = 'EC2 Instance-terminate Lifecycle Action';

export const AsgTerminateDetailSchema = z.object({
  EC2InstanceId: ec2InstanceId,
  AutoScalingGroupName: z.string().check(z.minLength(1), z.maxLength(1600)),
  LifecycleHookName: z.string().check(z.minLength(1), z.maxLength(255)),
  LifecycleTransition: z.literal('autoscaling:EC2_INSTANCE_TERMINATING'),
  /** `EC2`, or `WarmPool` when the group returns the instance to its warm pool (stopped: gone all the same). */
  Destination: z.optional(z.string().check(z.maxLength(64))),
});

export const AsgTerminateEventSchema = awsEventSchema('aws.autoscaling', ASG_TERMINATE, AsgTerminateDetailSchema);
export type AsgTerminateEvent = z.infer<typeof AsgTerminateEventSchema>;

export function triggerFromAsgTerminate(event: AsgTerminateEvent): RelocationTrigger {
  const { EC2InstanceId: instanceId, AutoScalingGroupName: group, LifecycleHookName: hook } = event.detail;
  return {
    id: event.id,
    source: 'aws-asg-terminate',
    target: { kind: 'instance', instanceId },
    observedAt: event.time,
    // No deadline in the event: the hook's heartbeat timeout decides, and only the group knows it.
    disruption: { kind: 'AsgTerminate', detail: `Auto Scaling group ${group} is terminating instance ${instanceId} (lifecycle hook ${hook})` },
  };
}
