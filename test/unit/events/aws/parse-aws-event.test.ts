/**
 * AWS's own notices, from the sample events AWS documents (test/fixtures/events/aws/), to the triggers the
 * relocator handles: one per instance announced as going away, none (with the reason) for a notice that
 * announces nothing, and an InvalidEventError naming the field for anything malformed.
 */
import { describe, expect, it } from 'vitest';
import type { RelocationTrigger } from '../../../../src/domain/trigger.js';
import { AWS_EVENT_ROUTES, AWS_NOTICES, parseAwsEvent, readAwsEvent } from '../../../../src/events/aws/index.js';
import { InvalidEventError, isNonRetryable } from '../../../../src/events/errors.js';
import { fixtureFiles, sampleEvent } from '../fixtures.js';

const INSTANCE = 'i-1234567890abcdef0';
const target = { kind: 'instance', instanceId: INSTANCE } as const;

type Event = Record<string, unknown> & { detail: Record<string, unknown> };

/** A copy of an AWS sample with `change` applied to its detail. */
function sample(notice: string, change: Record<string, unknown> = {}): Event {
  const event = sampleEvent(`aws/${notice}.json`) as Event;
  return { ...event, detail: { ...event.detail, ...change } };
}

/** The error a parse throws (fails the test when it does not throw). */
function rejection(raw: unknown): InvalidEventError {
  try {
    readAwsEvent(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidEventError);
    expect(isNonRetryable(e)).toBe(true);
    return e as InvalidEventError;
  }
  throw new Error('expected the event to be rejected');
}

const expected: Record<string, RelocationTrigger[]> = {
  'spot-interruption': [
    {
      id: '12345678-1234-1234-1234-123456789012',
      source: 'aws-spot-interruption',
      target,
      observedAt: '2025-03-14T09:26:53Z',
      disruption: { kind: 'SpotInterruption', detail: `EC2 will terminate Spot Instance ${INSTANCE}`, notAfter: '2025-03-14T09:28:53.000Z' },
    },
  ],
  'rebalance-recommendation': [
    {
      id: '12345678-1234-1234-1234-123456789012',
      source: 'aws-rebalance-recommendation',
      target,
      observedAt: '2025-03-14T09:21:07Z',
      disruption: { kind: 'RebalanceRecommendation', detail: `Spot Instance ${INSTANCE} is at elevated risk of interruption` },
    },
  ],
  'instance-state-change': [
    {
      id: '7bf73129-1428-4cd3-a780-95db273d1602',
      source: 'aws-instance-state-change',
      target,
      observedAt: '2021-11-11T21:29:54Z',
      disruption: { kind: 'InstanceStopping', detail: `EC2 instance ${INSTANCE} entered state stopping` },
    },
  ],
  'asg-terminate': [
    {
      id: '12345678-1234-1234-1234-123456789012',
      source: 'aws-asg-terminate',
      target,
      observedAt: '2025-03-14T09:30:12Z',
      disruption: {
        kind: 'AsgTerminate',
        detail: `Auto Scaling group my-asg is terminating instance ${INSTANCE} (lifecycle hook my-lifecycle-hook)`,
      },
    },
  ],
  'health-scheduled-change': [
    {
      id: '7bf73129-1428-4cd3-a780-95db273d1602',
      source: 'aws-health-scheduled-change',
      target,
      observedAt: '2026-01-27T01:43:21Z',
      disruption: {
        kind: 'ScheduledChange',
        detail: `AWS Health AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED for instance ${INSTANCE}`,
        notAfter: '2026-08-27T13:19:03.000Z',
      },
    },
  ],
};

describe('parseAwsEvent on the samples AWS documents', () => {
  it('has one sample per notice, and a route for each', () => {
    expect(fixtureFiles('aws').sort()).toEqual(AWS_NOTICES.map((n) => `${n}.json`).sort());
    expect(AWS_EVENT_ROUTES.map((r) => r.notice).sort()).toEqual([...AWS_NOTICES].sort());
  });

  it.each(AWS_NOTICES)('turns the %s sample into a trigger for its instance, naming no cluster', (notice) => {
    expect(parseAwsEvent(sampleEvent(`aws/${notice}.json`))).toStrictEqual(expected[notice]);
    const reading = readAwsEvent(sampleEvent(`aws/${notice}.json`));
    expect(reading.notice).toBe(notice);
    expect(reading.ignored).toBeUndefined();
  });
});

describe('EC2 Spot Instance Interruption Warning', () => {
  it('expects a hibernating instance to go at once rather than in two minutes', () => {
    const [trigger] = parseAwsEvent(sample('spot-interruption', { 'instance-action': 'hibernate' }));
    expect(trigger?.disruption).toEqual({ kind: 'SpotInterruption', detail: `EC2 will hibernate Spot Instance ${INSTANCE}`, notAfter: '2025-03-14T09:26:53.000Z' });
  });

  it('accepts an instance id of the older 8-digit form', () => {
    const [trigger] = parseAwsEvent(sample('spot-interruption', { 'instance-id': 'i-abcd1111' }));
    expect(trigger?.target).toEqual({ kind: 'instance', instanceId: 'i-abcd1111' });
  });
});

describe('EC2 Instance State-change Notification', () => {
  it.each([
    ['stopping', 'InstanceStopping'],
    ['stopped', 'InstanceStopped'],
    ['shutting-down', 'InstanceShuttingDown'],
    ['terminated', 'InstanceTerminated'],
  ])('relocates for an instance entering %s', (state, kind) => {
    const triggers = parseAwsEvent(sample('instance-state-change', { state }));
    expect(triggers).toEqual([expect.objectContaining({ target, disruption: { kind, detail: `EC2 instance ${INSTANCE} entered state ${state}` } })]);
  });

  it.each(['running', 'pending', 'rebooting'])('comes to no trigger, with the reason, for an instance entering %s', (state) => {
    const reading = readAwsEvent(sample('instance-state-change', { state }));
    expect(reading).toEqual({
      notice: 'instance-state-change',
      triggers: [],
      ignored: `instance ${INSTANCE} entered state "${state}", which does not take it away (only stopping, stopped, shutting-down, terminated do)`,
    });
    expect(parseAwsEvent(sample('instance-state-change', { state }))).toEqual([]);
  });
});

describe('AWS Health Event', () => {
  const entities = (...values: string[]) => ({ affectedEntities: values.map((entityValue) => ({ entityValue, status: 'PENDING' })) });

  it('gives one trigger per affected instance, whether named by id or by ARN, all due at the start time', () => {
    const event = sample(
      'health-scheduled-change',
      entities(`arn:aws:ec2:us-east-1:123456789012:instance/${INSTANCE}`, 'i-0fedcba9876543210', 'i-abcd1111'),
    );
    const triggers = parseAwsEvent(event);
    expect(triggers.map((t) => t.target)).toEqual([
      target,
      { kind: 'instance', instanceId: 'i-0fedcba9876543210' },
      { kind: 'instance', instanceId: 'i-abcd1111' },
    ]);
    for (const t of triggers) {
      expect(t).toMatchObject({ id: event.id, source: 'aws-health-scheduled-change', observedAt: event.time });
      expect(t.disruption).toMatchObject({ kind: 'ScheduledChange', notAfter: '2026-08-27T13:19:03.000Z' });
    }
  });

  it('skips entities that are not instances, and instances named twice', () => {
    const triggers = parseAwsEvent(sample('health-scheduled-change', entities('h-0123456789abcdef0', INSTANCE, 'AWS_ACCOUNT', INSTANCE)));
    expect(triggers.map((t) => t.target)).toEqual([target]);
  });

  it('reads the older shape too: bare instance ids, no statusCode, a single-digit day', () => {
    const { statusCode: _, ...older } = sample('health-scheduled-change', { startTime: 'Sat, 5 Jun 2027 15:10:09 GMT', ...entities('i-12345678') }).detail;
    const [trigger] = parseAwsEvent({ ...sampleEvent('aws/health-scheduled-change.json'), resources: ['i-12345678'], detail: older });
    expect(trigger).toMatchObject({ target: { kind: 'instance', instanceId: 'i-12345678' }, disruption: { notAfter: '2027-06-05T15:10:09.000Z' } });
  });

  it.each([
    [{ service: 'RDS' }, 'AWS Health AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED concerns RDS, not EC2'],
    [{ eventTypeCategory: 'issue' }, 'AWS Health AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED is in category issue, not scheduledChange'],
    [{ statusCode: 'closed' }, 'AWS Health AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED is closed: the change is over or was cancelled'],
    [{ affectedEntities: [] }, 'AWS Health AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED names no EC2 instance in detail.affectedEntities'],
  ])('comes to no trigger, with the reason, for %j', (change, ignored) => {
    expect(readAwsEvent(sample('health-scheduled-change', change))).toEqual({ notice: 'health-scheduled-change', triggers: [], ignored });
  });
});

describe('malformed AWS events', () => {
  const without = (notice: string, key: string) => {
    const event = sample(notice);
    delete event.detail[key];
    return event;
  };

  it.each<[string, () => unknown, string]>([
    ['a Spot warning without instance-id', () => without('spot-interruption', 'instance-id'), 'detail.instance-id'],
    ['a Spot warning for a malformed instance id', () => sample('spot-interruption', { 'instance-id': 'i-XYZ' }), 'detail.instance-id'],
    ['a Spot warning whose action is a number', () => sample('spot-interruption', { 'instance-action': 42 }), 'detail.instance-action'],
    ['a Spot warning whose time is not ISO 8601', () => ({ ...sample('spot-interruption'), time: '14/03/2025 09:26' }), 'time'],
    ['a Spot warning without an id', () => ({ ...sample('spot-interruption'), id: '' }), 'id'],
    ['a Spot warning from another source', () => ({ ...sample('spot-interruption'), source: 'affinity-relocator' }), 'source'],
    ['a rebalance recommendation without a detail', () => ({ ...sample('rebalance-recommendation'), detail: null }), 'detail'],
    ['a state change without a state', () => without('instance-state-change', 'state'), 'detail.state'],
    ['an ASG lifecycle action without EC2InstanceId', () => without('asg-terminate', 'EC2InstanceId'), 'detail.EC2InstanceId'],
    [
      'an ASG terminate action with a launch transition',
      () => sample('asg-terminate', { LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING' }),
      'detail.LifecycleTransition',
    ],
    ['a Health event whose start time is not a time', () => sample('health-scheduled-change', { startTime: 'next Tuesday' }), 'detail.startTime'],
    ['a Health event without a service', () => without('health-scheduled-change', 'service'), 'detail.service'],
    [
      'a Health event with an entity that is not a string',
      () => sample('health-scheduled-change', { affectedEntities: [{ entityValue: INSTANCE }, { entityValue: 42 }] }),
      'detail.affectedEntities[1].entityValue',
    ],
    ['a detail-type we do not handle from a source that is no AWS source of ours', () => ({ ...sample('asg-terminate'), source: 'my.app', 'detail-type': 'EC2 Instance Launch Successful' }), 'detail-type'],
    ['an event without a detail-type', () => ({ ...sample('spot-interruption'), 'detail-type': undefined }), 'detail-type'],
    ['null', () => null, ''],
  ])('rejects %s, naming %s', (_, build, path) => {
    const err = rejection(build());
    expect(err.issues.map((i) => i.path)).toContain(path);
    if (path) expect(err.message).toContain(`${path}:`);
  });

  it('lists the detail-types it handles when given another one', () => {
    const err = rejection({ ...sample('asg-terminate'), source: 'my.app', 'detail-type': 'EC2 Instance Launch Successful' });
    expect(err.issues).toEqual([
      {
        path: 'detail-type',
        message:
          'got "EC2 Instance Launch Successful", expected one of "EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation", ' +
          '"EC2 Instance State-change Notification", "EC2 Instance-terminate Lifecycle Action", "AWS Health Event"',
      },
    ]);
    expect(err.message).toMatch(/^invalid AWS event: detail-type: got "EC2 Instance Launch Successful", expected one of /);
  });

  it.each([
    ['aws.autoscaling', 'EC2 Instance Launch Successful'],
    ['aws.ec2', 'EC2 Fast Launch State-change Notification'],
    ['aws.health', 'AWS Health Abuse Event'],
  ])('reads a %s event of a type it does not know ("%s") as nothing to do, and says which', (source, detailType) => {
    const event = { ...sample('asg-terminate'), source, 'detail-type': detailType, detail: { whatever: 'AWS adds' } };
    expect(readAwsEvent(event)).toEqual({ triggers: [], ignored: `an AWS event type we do not read: "${detailType}" from ${source}`, unknown: { source, detailType } });
  });

  it('still rejects a malformed event of a type it knows from the same source', () => {
    expect(rejection(sample('asg-terminate', { EC2InstanceId: 42 })).issues.map((i) => i.path)).toEqual(['detail.EC2InstanceId']);
  });

  it('names the notice in the error', () => {
    expect(rejection(without('spot-interruption', 'instance-id')).message).toMatch(/^invalid "EC2 Spot Instance Interruption Warning" event: detail\.instance-id: /);
  });
});
