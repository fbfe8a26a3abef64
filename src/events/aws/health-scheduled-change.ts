/**
 * "AWS Health Event", EC2 `scheduledChange`: EC2 will retire, stop or reboot instances for maintenance, usually
 * days ahead (startTime). One trigger per affected instance, acted on now, like aws-node-termination-handler.
 * Other services and categories, closed changes and entities that are not instances come to no trigger, with
 * the reason. Times are RFC 1123 ("Thu, 27 Aug 2026 13:19:03 GMT"); entities are instance ids or their ARNs.
 * As AWS documents it (health/latest/ug/aws-health-events-eventbridge-schema.html, "Account-specific AWS Health
 * Event - Amazon EC2 Instance Retirement", verbatim, without `resources` as there);
 * test/fixtures/events/aws/health-scheduled-change.json:
 *
 *   {
 *     "version": "0",
 *     "id": "7bf73129-1428-4cd3-a780-95db273d1602",
 *     "detail-type": "AWS Health Event",
 *     "source": "aws.health",
 *     "account": "123456789012",
 *     "time": "2026-01-27T01:43:21Z",
 *     "region": "us-east-1",
 *     "detail": {
 *       "eventArn": "arn:aws:health:us-east-1::event/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_90353408594353983",
 *       "service": "EC2",
 *       "eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
 *       "eventTypeCategory": "scheduledChange",
 *       "eventScopeCode": "ACCOUNT_SPECIFIC",
 *       "communicationId": "1234abc01232a4012345678-1",
 *       "startTime": "Thu, 27 Aug 2026 13:19:03 GMT",
 *       "lastUpdatedTime": "Thu, 27 Jan 2026 13:44:13 GMT",
 *       "statusCode": "open",
 *       "eventRegion": "us-east-1",
 *       "eventDescription": [{
 *         "language": "en_US",
 *         "latestDescription": "A description of the event will be provided here"
 *       }],
 *       "eventMetadata": {
 *         "keystring1": "valuestring1",
 *         "keystring2": "valuestring2",
 *         "keystring3": "valuestring3",
 *         "keystring4": "valuestring4",
 *         "truncated": "true"
 *       },
 *       "affectedEntities": [{
 *         "entityValue": "arn:aws:ec2:us-east-1:123456789012:instance/i-1234567890abcdef0",
 *         "lastUpdatedTime": "Thu, 26 Jan 2026 19:01:55 GMT",
 *         "status": "PENDING"
 *       }],
 *       "affectedAccount": "123456789012",
 *       "page": "1",
 *       "totalPages": "1",
 *       "backupEvent": "false",
 *       "personas": ["OPERATIONS"],
 *       "actionability": "ACTION_REQUIRED"
 *     }
 *   }
 */
import * as z from '../zod.js';
import type { RelocationTrigger } from '../../domain/trigger.js';
import { awsEventSchema, instanceIdIn } from './fields.js';
import type { NoTrigger } from './notice.js';

export const HEALTH_EVENT = 'AWS Health Event';

const RFC_1123 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const isoDateTime = z.iso.datetime({ offset: true });

/** AWS Health's "DoW, DD MMM YYYY HH:MM:SS GMT" (ISO 8601 accepted too), as ISO 8601. */
const healthTime = z.pipe(
  z
    .string()
    .check(
      z.refine(
        (s) => (RFC_1123.test(s) || isoDateTime.safeParse(s).success) && !Number.isNaN(Date.parse(s)),
        'must be a time such as "Thu, 27 Aug 2026 13:19:03 GMT"',
      ),
    ),
  z.transform((s) => new Date(s).toISOString()),
);

export const HealthScheduledChangeDetailSchema = z.object({
  eventArn: z.string().check(z.minLength(1), z.maxLength(1600)),
  /** `EC2` for the notices we act on. */
  service: z.string().check(z.minLength(1), z.maxLength(64)),
  eventTypeCode: z.string().check(z.minLength(1), z.maxLength(128)),
  /** `scheduledChange` for the notices we act on (also issue, accountNotification, investigation). */
  eventTypeCategory: z.string().check(z.minLength(1), z.maxLength(64)),
  /** open, upcoming or closed; documented as required, absent from older samples. */
  statusCode: z.optional(z.string().check(z.maxLength(64))),
  startTime: healthTime,
  affectedEntities: z.optional(z.array(z.object({ entityValue: z.string().check(z.maxLength(1600)) }))),
});

export const HealthScheduledChangeEventSchema = awsEventSchema('aws.health', HEALTH_EVENT, HealthScheduledChangeDetailSchema);
export type HealthScheduledChangeEvent = z.infer<typeof HealthScheduledChangeEventSchema>;

export function triggersFromHealthScheduledChange(event: HealthScheduledChangeEvent): RelocationTrigger[] | NoTrigger {
  const d = event.detail;
  const what = `AWS Health ${d.eventTypeCode}`;
  if (d.service !== 'EC2') return { ignored: `${what} concerns ${d.service}, not EC2` };
  if (d.eventTypeCategory !== 'scheduledChange') {
    return { ignored: `${what} is in category ${d.eventTypeCategory}, not scheduledChange` };
  }
  if (d.statusCode === 'closed') return { ignored: `${what} is closed: the change is over or was cancelled` };
  const instanceIds = [...new Set((d.affectedEntities ?? []).map((e) => instanceIdIn(e.entityValue)))].filter(
    (id): id is string => id !== undefined,
  );
  if (instanceIds.length === 0) return { ignored: `${what} names no EC2 instance in detail.affectedEntities` };
  return instanceIds.map((instanceId) => ({
    id: event.id,
    source: 'aws-health-scheduled-change',
    target: { kind: 'instance', instanceId },
    observedAt: event.time,
    disruption: { kind: 'ScheduledChange', detail: `${what} for instance ${instanceId}`, notAfter: d.startTime },
  }));
}
