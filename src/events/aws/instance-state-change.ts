/**
 * "EC2 Instance State-change Notification": an instance entered a state. Only stopping, stopped, shutting-down
 * and terminated take it away; pending and running (and any state AWS may add) come to no trigger, with the
 * reason, rather than to an error. As AWS documents it (AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html,
 * with `stopping` for the sample's `pending`; AWS's sample has no `version`, which EventBridge does send);
 * test/fixtures/events/aws/instance-state-change.json:
 *
 *   {
 *     "id": "7bf73129-1428-4cd3-a780-95db273d1602",
 *     "detail-type": "EC2 Instance State-change Notification",
 *     "source": "aws.ec2",
 *     "account": "123456789012",
 *     "time": "2021-11-11T21:29:54Z",
 *     "region": "us-east-1",
 *     "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-1234567890abcdef0"],
 *     "detail": {
 *       "instance-id": "i-1234567890abcdef0",
 *       "state": "stopping"
 *     }
 *   }
 */
import * as z from '../zod.js';
import type { RelocationTrigger } from '../../domain/trigger.js';
import { awsEventSchema, ec2InstanceId } from './fields.js';
import type { NoTrigger } from './notice.js';

export const INSTANCE_STATE_CHANGE = 'EC2 Instance State-change Notification';

/** The states that take the instance away, and the disruption kind each is reported as. */
export const LEAVING_STATES: Readonly<Record<string, string>> = {
  stopping: 'InstanceStopping',
  stopped: 'InstanceStopped',
  'shutting-down': 'InstanceShuttingDown',
  terminated: 'InstanceTerminated',
};

export const InstanceStateChangeDetailSchema = z.object({
  'instance-id': ec2InstanceId,
  /** pending, running, stopping, stopped, shutting-down or terminated. */
  state: z.string().check(z.minLength(1), z.maxLength(64)),
});

export const InstanceStateChangeEventSchema = awsEventSchema('aws.ec2', INSTANCE_STATE_CHANGE, InstanceStateChangeDetailSchema);
export type InstanceStateChangeEvent = z.infer<typeof InstanceStateChangeEventSchema>;

export function triggerFromInstanceStateChange(event: InstanceStateChangeEvent): RelocationTrigger | NoTrigger {
  const { 'instance-id': instanceId, state } = event.detail;
  const kind = Object.hasOwn(LEAVING_STATES, state) ? LEAVING_STATES[state] : undefined;
  if (!kind) {
    const leaving = Object.keys(LEAVING_STATES).join(', ');
    return { ignored: `instance ${instanceId} entered state "${state}", which does not take it away (only ${leaving} do)` };
  }
  return {
    id: event.id,
    source: 'aws-instance-state-change',
    target: { kind: 'instance', instanceId },
    observedAt: event.time,
    disruption: { kind, detail: `EC2 instance ${instanceId} entered state ${state}` },
  };
}
