/**
 * AWS's own notices that an EC2 instance is going away, as AWS sends them (`aws.ec2`, `aws.autoscaling`,
 * `aws.health`), turned into RelocationTriggers for the instance (one file per notice, like
 * aws-node-termination-handler's pkg/monitor/sqsevent). The relocator maps each instance to a node of its
 * own cluster by spec.providerID; several clusters may share the account, so the triggers name no cluster.
 */
import * as z from '../zod.js';
import type { RelocationTrigger } from '../../domain/trigger.js';
import { InvalidEventError, parseOrThrow, shortValue } from '../errors.js';
import { ASG_TERMINATE, AsgTerminateEventSchema, triggerFromAsgTerminate } from './asg-terminate.js';
import { HEALTH_EVENT, HealthScheduledChangeEventSchema, triggersFromHealthScheduledChange } from './health-scheduled-change.js';
import { INSTANCE_STATE_CHANGE, InstanceStateChangeEventSchema, triggerFromInstanceStateChange } from './instance-state-change.js';
import type { AwsEventReading, AwsNotice, NoTrigger } from './notice.js';
import {
  REBALANCE_RECOMMENDATION,
  RebalanceRecommendationEventSchema,
  triggerFromRebalanceRecommendation,
} from './rebalance-recommendation.js';
import { SPOT_INTERRUPTION, SpotInterruptionEventSchema, triggerFromSpotInterruption } from './spot-interruption.js';

export * from './notice.js';
export { ec2InstanceId, instanceIdIn } from './fields.js';
export * from './spot-interruption.js';
export * from './rebalance-recommendation.js';
export * from './instance-state-change.js';
export * from './asg-terminate.js';
export * from './health-scheduled-change.js';

interface Route {
  notice: AwsNotice;
  source: string;
  detailType: string;
  read(raw: unknown, subject: string): RelocationTrigger | RelocationTrigger[] | NoTrigger;
}

function route<S extends z.ZodMiniType>(
  notice: AwsNotice,
  source: string,
  detailType: string,
  schema: S,
  map: (event: z.infer<S>) => RelocationTrigger | RelocationTrigger[] | NoTrigger,
): Route {
  return { notice, source, detailType, read: (raw, subject) => map(parseOrThrow(schema, raw, subject)) };
}

/** What serverless.yml's rules for on-aws-event match: source and detail-type. */
export const AWS_EVENT_ROUTES: readonly Route[] = [
  route('spot-interruption', 'aws.ec2', SPOT_INTERRUPTION, SpotInterruptionEventSchema, triggerFromSpotInterruption),
  route('rebalance-recommendation', 'aws.ec2', REBALANCE_RECOMMENDATION, RebalanceRecommendationEventSchema, triggerFromRebalanceRecommendation),
  route('instance-state-change', 'aws.ec2', INSTANCE_STATE_CHANGE, InstanceStateChangeEventSchema, triggerFromInstanceStateChange),
  route('asg-terminate', 'aws.autoscaling', ASG_TERMINATE, AsgTerminateEventSchema, triggerFromAsgTerminate),
  route('health-scheduled-change', 'aws.health', HEALTH_EVENT, HealthScheduledChangeEventSchema, triggersFromHealthScheduledChange),
];

const ACCEPTED = AWS_EVENT_ROUTES.map((r) => `"${r.detailType}"`).join(', ');

/**
 * The AWS sources we consume. From one of these (only AWS may send `aws.*`), a detail-type we have no
 * route for is a type AWS added or a rule matching more than we read: a no-op with a metric, as in
 * Karpenter's interruption controller, never a retry and a page.
 */
const AWS_SOURCES = new Set(AWS_EVENT_ROUTES.map((r) => r.source));

const HeadSchema = z.object({ source: z.string(), 'detail-type': z.string() });

/**
 * The triggers an AWS notice comes to, or none and why (`unknown` for a detail-type of one of our AWS
 * sources that we do not read); throws an InvalidEventError (non-retryable) naming every bad field,
 * `detail-type` when it is none of ours and the source is no AWS source of ours either.
 */
export function readAwsEvent(raw: unknown): AwsEventReading {
  const head = parseOrThrow(HeadSchema, raw, 'AWS event');
  const detailType = head['detail-type'];
  const r = AWS_EVENT_ROUTES.find((x) => x.detailType === detailType);
  if (!r && AWS_SOURCES.has(head.source)) {
    return { triggers: [], ignored: `an AWS event type we do not read: "${detailType}" from ${head.source}`, unknown: { source: head.source, detailType } };
  }
  if (!r) {
    // What we got first: the rendered message cuts long issues short.
    throw new InvalidEventError('AWS event', [{ path: 'detail-type', message: `got ${shortValue(detailType)}, expected one of ${ACCEPTED}` }]);
  }
  const subject = `"${detailType}" event`;
  if (head.source !== r.source) {
    // Only AWS may send `aws.*` sources (PutEvents refuses them): anything else is a forgery or a test.
    throw new InvalidEventError(subject, [{ path: 'source', message: `must be "${r.source}", got ${shortValue(head.source)}` }]);
  }
  const read = r.read(raw, subject);
  if ('ignored' in read) return { notice: r.notice, triggers: [], ignored: read.ignored };
  return { notice: r.notice, triggers: Array.isArray(read) ? read : [read] };
}

/** The triggers an AWS notice comes to (none for one that announces nothing, e.g. a state change to running). */
export function parseAwsEvent(raw: unknown): RelocationTrigger[] {
  return readAwsEvent(raw).triggers;
}
