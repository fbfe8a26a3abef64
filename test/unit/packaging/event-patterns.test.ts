/**
 * Every EventBridge rule of the packaged template matches exactly the events it should, as decided by
 * Event Ruler, AWS's own implementation of EventBridge's pattern matching (test/event-ruler/): our inbound
 * sample events, AWS's sample notices, result events as the functions publish them, and near misses.
 * Each rule also listens on the right bus: AWS publishes its notices on the default bus only, and our
 * forwarder and functions publish on the relocator bus only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { OutcomeKind } from '../../../src/domain/outcome.js';
import {
  ASSISTANT_POD_CHANGED,
  NODE_SCHEDULABILITY_CHANGED,
  RELOCATION_REQUESTED,
  RESULT_DETAIL_TYPES,
  SOURCE,
  TASKRUN_POD_UNSCHEDULABLE,
} from '../../../src/events/contract.js';
import { repoRoot } from '../../../scripts/build.js';
import { EVENT_RULER_VERSION, matchingRules } from '../../event-ruler/harness.js';
import { resourcesOf } from './cfn.js';
import { packaged, STAGE, type Template } from './packaged.js';
import { anOutcome, resultEvent } from './result-events.js';

type Event = { source: string; 'detail-type': string; detail: Record<string, unknown>; [k: string]: unknown };
type Bus = 'default' | 'relocator';

/**
 * What each rule is for, said independently of its pattern: the bus it listens on and the events it must
 * take. Keyed by the rule's name without `affinity-relocator-<stage>-`. A rule in the template that is not
 * here fails the test, so a new rule comes with its intent.
 */
const INTENT: Record<string, { bus: Bus; takes: (e: Event) => boolean }> = {
  // The forwarder's transitions and manual or alert-driven requests -> on-node-event / on-pod-event.
  'node-schedulability': { bus: 'relocator', takes: (e) => e.source === SOURCE && e['detail-type'] === NODE_SCHEDULABILITY_CHANGED },
  'relocation-requested': { bus: 'relocator', takes: (e) => e.source === SOURCE && e['detail-type'] === RELOCATION_REQUESTED },
  // A bind or a move only: a deleted pod needs nothing (its replacement's bind is an event of its own).
  'assistant-pod': { bus: 'relocator', takes: (e) => e.source === SOURCE && e['detail-type'] === ASSISTANT_POD_CHANGED && ['bound', 'moved'].includes(e.detail.change as string) },
  // A TaskRun pod held Pending by its assistant's node, whatever the scheduler's message (or none).
  'taskrun-pod-unschedulable': { bus: 'relocator', takes: (e) => e.source === SOURCE && e['detail-type'] === TASKRUN_POD_UNSCHEDULABLE },
  // AWS's notices that an instance is going away -> on-aws-event.
  'aws-spot-interruption': { bus: 'default', takes: (e) => e.source === 'aws.ec2' && e['detail-type'] === 'EC2 Spot Instance Interruption Warning' },
  'aws-rebalance-recommendation': { bus: 'default', takes: (e) => e.source === 'aws.ec2' && e['detail-type'] === 'EC2 Instance Rebalance Recommendation' },
  'aws-instance-stopping': {
    bus: 'default',
    takes: (e) =>
      e.source === 'aws.ec2' &&
      e['detail-type'] === 'EC2 Instance State-change Notification' &&
      ['stopping', 'stopped', 'shutting-down', 'terminated'].includes(e.detail.state as string),
  },
  'aws-asg-terminate': { bus: 'default', takes: (e) => e.source === 'aws.autoscaling' && e['detail-type'] === 'EC2 Instance-terminate Lifecycle Action' },
  'aws-health-scheduled-change': {
    bus: 'default',
    takes: (e) => e.source === 'aws.health' && e['detail-type'] === 'AWS Health Event' && e.detail.service === 'EC2' && e.detail.eventTypeCategory === 'scheduledChange',
  },
  // Result events that need a human -> the alerts topic (and Slack, PagerDuty); successes only on request;
  // notices set to notify-only as information. Only notifications (notify: true): repeats in the
  // notification window are published with notify: false and reach no one.
  alerts: {
    bus: 'relocator',
    takes: (e) =>
      e.source === SOURCE &&
      e.detail.notify === true &&
      [RESULT_DETAIL_TYPES.blocked, RESULT_DETAIL_TYPES.failed, RESULT_DETAIL_TYPES.stuck].includes(e['detail-type'] as never),
  },
  relocated: { bus: 'relocator', takes: (e) => e.source === SOURCE && e.detail.notify === true && e['detail-type'] === RESULT_DETAIL_TYPES.relocated },
  'notify-only': {
    bus: 'relocator',
    takes: (e) => e.source === SOURCE && e.detail.notify === true && e['detail-type'] === RESULT_DETAIL_TYPES.skipped && e.detail.reason === 'notify-only',
  },
};

const PREFIX = `affinity-relocator-${STAGE}-`;

function readEvents(dir: string): [string, Event][] {
  const full = path.join(repoRoot, dir);
  return readdirSync(full)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => [`${dir}/${f}`, JSON.parse(readFileSync(path.join(full, f), 'utf8')) as Event]);
}

const clone = (e: Event, change: (c: Event) => void): Event => {
  const c = structuredClone(e);
  change(c);
  return c;
};

let template: Template;
let rules: { name: string; bus: Bus; pattern: unknown }[];
/** Every sample: where it comes from, the bus it is published on, the event. */
let samples: { label: string; bus: Bus; event: Event }[];
let matches: string[][];

describe(`event patterns, matched by Event Ruler ${EVENT_RULER_VERSION}`, () => {
  beforeAll(async () => {
    template = (await packaged()).template;
    rules = resourcesOf(template, 'AWS::Events::Rule')
      .filter(([, r]) => r.Properties.EventPattern !== undefined)
      .map(([id, r]) => {
        const name = r.Properties.Name as string;
        if (!name?.startsWith(PREFIX)) throw new Error(`rule ${id} is named ${name}, not ${PREFIX}...`);
        return { name: name.slice(PREFIX.length), bus: r.Properties.EventBusName === undefined ? 'default' : 'relocator', pattern: r.Properties.EventPattern };
      });

    const inbound = readEvents('test/fixtures/events/valid');
    const aws = readEvents('test/fixtures/events/aws');
    const awsSample = (detailType: string) => {
      const found = aws.find(([, e]) => e['detail-type'] === detailType);
      if (!found) throw new Error(`test/fixtures/events/aws has no "${detailType}" sample`);
      return found[1];
    };
    const stateChange = awsSample('EC2 Instance State-change Notification');
    const health = awsSample('AWS Health Event');
    const asg = awsSample('EC2 Instance-terminate Lifecycle Action');
    const kinds: OutcomeKind[] = ['relocated', 'blocked', 'failed', 'stuck', 'skipped'];

    samples = [
      // The sample events the functions are tested with; the sweep's Scheduled Event comes on the
      // default bus (no pattern takes it: its rule is a schedule).
      ...inbound.map(([label, event]) => ({ label, bus: (event.source === SOURCE ? 'relocator' : 'default') as Bus, event })),
      ...aws.map(([label, event]) => ({ label, bus: 'default' as Bus, event })),
      // Every state an instance passes through: only those on its way out count.
      ...['pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated'].map((state) => ({
        label: `instance state ${state}`,
        bus: 'default' as Bus,
        event: clone(stateChange, (c) => (c.detail.state = state)),
      })),
      // Result events exactly as toResultEntry builds them, with all fields and with the required ones.
      ...kinds.flatMap((kind) => [
        { label: `result ${kind}`, bus: 'relocator' as Bus, event: resultEvent(anOutcome(kind)) as Event },
        { label: `result ${kind}, minimal`, bus: 'relocator' as Bus, event: resultEvent(anOutcome(kind, { minimal: true })) as Event },
        { label: `result ${kind}, a repeat in the window`, bus: 'relocator' as Bus, event: resultEvent(anOutcome(kind), { notify: false }) as Event },
      ]),
      { label: 'result skipped notify-only', bus: 'relocator', event: resultEvent({ ...anOutcome('skipped'), reason: 'notify-only' }) as Event },
      { label: 'result skipped notify-only, a repeat', bus: 'relocator', event: resultEvent({ ...anOutcome('skipped'), reason: 'notify-only' }, { notify: false }) as Event },
      // Every change of an assistant pod: a bind or a move is the function's, a delete is not.
      ...(['bound', 'moved', 'deleted'] as const).map((change) => ({
        label: `assistant pod ${change}`,
        bus: 'relocator' as Bus,
        event: clone(inbound.find(([, e]) => e['detail-type'] === ASSISTANT_POD_CHANGED)![1], (c) => {
          c.detail.change = change;
          if (change !== 'moved') delete c.detail.previousNodeName;
        }),
      })),
      // A held TaskRun pod, without the scheduler's message (it is optional).
      {
        label: 'taskrun pod unschedulable, no message',
        bus: 'relocator' as Bus,
        event: clone(inbound.find(([, e]) => e['detail-type'] === TASKRUN_POD_UNSCHEDULABLE)![1], (c) => delete c.detail.message),
      },
      // Near misses.
      { label: 'health event of another service', bus: 'default', event: clone(health, (c) => (c.detail.service = 'RDS')) },
      { label: 'EC2 health issue, not a scheduled change', bus: 'default', event: clone(health, (c) => (c.detail.eventTypeCategory = 'issue')) },
      { label: 'ASG launch lifecycle action', bus: 'default', event: clone(asg, (c) => (c['detail-type'] = 'EC2 Instance-launch Lifecycle Action')) },
      { label: 'ASG termination done', bus: 'default', event: clone(asg, (c) => (c['detail-type'] = 'EC2 Instance Terminate Successful')) },
      {
        label: 'our detail-type from another source',
        bus: 'relocator',
        event: clone(inbound.find(([, e]) => e['detail-type'] === NODE_SCHEDULABILITY_CHANGED)![1], (c) => (c.source = 'affinity-relocator-test')),
      },
      {
        label: 'a held TaskRun pod from another source',
        bus: 'relocator',
        event: clone(inbound.find(([, e]) => e['detail-type'] === TASKRUN_POD_UNSCHEDULABLE)![1], (c) => (c.source = 'tekton')),
      },
      { label: 'an unknown detail-type of ours', bus: 'relocator', event: clone(resultEvent(anOutcome('blocked')) as Event, (c) => (c['detail-type'] = 'Assistant Relocation Postponed')) },
      // PutEvents refuses custom events with an aws.* source, and none reaches our bus anyway; were one
      // there, no rule on our bus would take it.
      { label: 'a spot warning on the relocator bus', bus: 'relocator', event: awsSample('EC2 Spot Instance Interruption Warning') },
      // And our events never reach the default bus; were one there, no rule on it would take it.
      { label: 'a transition on the default bus', bus: 'default', event: inbound.find(([, e]) => e.source === SOURCE)![1] },
    ];

    matches = await matchingRules(
      Object.fromEntries(rules.map((r) => [r.name, r.pattern])),
      samples.map((s) => s.event),
    );
  }, 600_000);

  it('knows what every rule of the template is for', () => {
    expect(rules.map((r) => r.name).sort()).toEqual(Object.keys(INTENT).sort());
    for (const r of rules) expect(r.bus, r.name).toBe(INTENT[r.name]!.bus);
  });

  it('matches each sample event by exactly the rules that should take it, on the bus it is published on', () => {
    const busOf = new Map(rules.map((r) => [r.name, r.bus]));
    const got = samples.map((s, i) => [s.label, matches[i]!.filter((name) => busOf.get(name) === s.bus)]);
    const want = samples.map((s) => [s.label, rules.filter((r) => r.bus === s.bus && INTENT[r.name]!.takes(s.event)).map((r) => r.name).sort()]);
    expect(got).toEqual(want);
  });

  it('has a sample that each rule takes, and one sample that a rule on the other bus would have taken', () => {
    for (const r of rules) expect(samples.some((s, i) => s.bus === r.bus && matches[i]!.includes(r.name)), r.name).toBe(true);
    // The bus is part of the routing: these samples match a pattern, on the bus they never arrive on.
    const offBus = samples.filter((s, i) => matches[i]!.some((name) => rules.find((r) => r.name === name)!.bus !== s.bus)).map((s) => s.label);
    expect(offBus).toEqual(expect.arrayContaining(['a spot warning on the relocator bus', 'a transition on the default bus']));
  });

  it('invokes on-pod-event for a bind or a move of an assistant pod, not for its deletion', () => {
    const takers = (label: string) => matches[samples.findIndex((s) => s.label === label)]!;
    expect(takers('assistant pod bound')).toEqual(['assistant-pod']);
    expect(takers('assistant pod moved')).toEqual(['assistant-pod']);
    expect(takers('assistant pod deleted')).toEqual([]);
  });

  it('invokes on-pod-event\'s rule for a TaskRun pod held Pending, from our source only', () => {
    const takers = (label: string) => matches[samples.findIndex((s) => s.label === label)]!;
    expect(takers('test/fixtures/events/valid/taskrun-pod-unschedulable.json')).toEqual(['taskrun-pod-unschedulable']);
    expect(takers('taskrun pod unschedulable, no message')).toEqual(['taskrun-pod-unschedulable']);
    expect(takers('a held TaskRun pod from another source')).toEqual([]);
  });

  it('routes every kind of result event deliberately: problems alert, successes and notify-only notices inform, other skips and repeats stay quiet', () => {
    const takers = (label: string) => matches[samples.findIndex((s) => s.label === label)]!;
    expect(takers('result blocked')).toEqual(['alerts']);
    expect(takers('result failed')).toEqual(['alerts']);
    expect(takers('result stuck')).toEqual(['alerts']);
    expect(takers('result relocated')).toEqual(['relocated']);
    expect(takers('result skipped')).toEqual([]);
    expect(takers('result skipped notify-only')).toEqual(['notify-only']);
    for (const kind of ['relocated', 'blocked', 'failed', 'stuck', 'skipped'] as const) expect(takers(`result ${kind}, a repeat in the window`), kind).toEqual([]);
    expect(takers('result skipped notify-only, a repeat')).toEqual([]);
  });
});
