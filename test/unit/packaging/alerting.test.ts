/**
 * Alert routing, as `npm run package` writes it: result events that need a human become a message on-call
 * can act on, on the alerts topic and, when configured, in Slack and PagerDuty; everything that silently
 * failed (a dead-letter queue that fills, a function that errs) raises an alarm on the same topic.
 * (Which events each rule matches, by AWS's own engine: event-patterns.test.ts.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { OutcomeKind } from '../../../src/domain/outcome.js';
import { ResultDetailSchema } from '../../../src/events/results.js';
import * as z from '../../../src/events/zod.js';
import { asArray, condition, getAtt, resolve, resource, resourcesOf } from './cfn.js';
import { placements, renderJson, renderText, variables } from './input-transformer.js';
import { type Packaged, PARAMS, type Template, packaged } from './packaged.js';
import { ASSISTANT, anOutcome, CLUSTER, resultEvent } from './result-events.js';

type Target = {
  Id: string;
  Arn: unknown;
  RoleArn?: unknown;
  RetryPolicy?: unknown;
  DeadLetterConfig?: unknown;
  InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: unknown };
};
type Statement = { Sid?: string; Effect: string; Principal?: unknown; Action: string | string[]; Resource: unknown; Condition?: unknown };

const ROUTING_KEY = 'the-routing-key';

let pkg: Packaged;
let template: Template;

/** A rule's targets as deployed with the given stack parameters (the alert integrations' secrets). */
function targets(rule: string, parameters: Record<string, string> = {}): Target[] {
  return resolve(template, resource(template, rule).Properties.Targets, { parameters }) as Target[];
}
const withBoth = { SlackWebhookUrl: 'https://hooks.slack.com/services/T/B/x', PagerDutyRoutingKey: ROUTING_KEY };
const target = (rule: string, id: string) => {
  const t = targets(rule, withBoth).find((x) => x.Id === id);
  if (!t) throw new Error(`${rule} has no target ${id}`);
  return t;
};

/** What a target receives for an outcome. */
function rendered(rule: string, id: string, kind: OutcomeKind, opts: { minimal?: boolean; reason?: string } = {}) {
  const t = target(rule, id);
  const outcome = anOutcome(kind, opts);
  const values = variables(t.InputTransformer.InputPathsMap, resultEvent(opts.reason ? { ...outcome, reason: opts.reason } : outcome));
  const tpl = t.InputTransformer.InputTemplate as string;
  return tpl.trimStart().startsWith('{') ? renderJson(tpl, values) : renderText(tpl, values);
}

/** Does this JSON path name a field of every, or of some, result event? */
function fieldOf(p: string): 'required' | 'optional' | 'absent' {
  const keys = p.replace(/^\$\./, '').split('.');
  if (keys.length === 1) return ['detail-type', 'time', 'source', 'id', 'account', 'region'].includes(keys[0]!) ? 'required' : 'absent';
  if (keys[0] !== 'detail') return 'absent';
  let schema: z.ZodMiniType = ResultDetailSchema;
  let optional = false;
  for (const key of keys.slice(1)) {
    if (schema instanceof z.ZodMiniOptional) {
      optional = true;
      schema = schema._zod.def.innerType as z.ZodMiniType;
    }
    if (!(schema instanceof z.ZodMiniObject)) return 'absent';
    const next = (schema.shape as Record<string, z.ZodMiniType>)[key];
    if (!next) return 'absent';
    schema = next;
  }
  return optional || schema instanceof z.ZodMiniOptional ? 'optional' : 'required';
}

const PROBLEMS = ['Assistant Relocation Blocked', 'Assistant Relocation Failed', 'Assistant Relocation Stuck'];

describe('alerts', () => {
  beforeAll(async () => {
    pkg = await packaged();
    template = pkg.template;
  }, 600_000);

  it('sends blocked, failed and stuck relocations from the relocator bus to the alerts topic affinity-relocator-<stage>-alerts', () => {
    expect(resource(template, 'AlertsTopic').Properties.TopicName).toBe('affinity-relocator-prod-alerts');
    const rule = resource(template, 'AlertsRule');
    expect(rule.Condition).toBeUndefined();
    expect(rule.Properties).toMatchObject({
      EventBusName: { Ref: 'RelocatorEventBus' },
      State: 'ENABLED',
      // Notifications only: a repeat within the notification window is published with notify: false.
      EventPattern: { source: ['affinity-relocator'], 'detail-type': PROBLEMS, detail: { notify: [true] } },
    });
    const topic = target('AlertsRule', 'alerts-topic');
    expect(topic.Arn).toEqual({ Ref: 'AlertsTopic' });
    // An alert is worth a late delivery; one that cannot be delivered is kept, and alarmed on (below).
    expect(topic.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 });
    expect(topic.DeadLetterConfig).toEqual({ Arn: getAtt('AlertsDlq') });
  });

  it('tells on-call what happened, to which PipelineRun and pod, why, and what to run next', () => {
    const message = rendered('AlertsRule', 'alerts-topic', 'blocked') as string;
    const { namespace, pod, statefulSet, pipelineRun } = ASSISTANT;
    expect(message.split('\n')[0]).toBe(`[affinity-relocator] Assistant Relocation Blocked in cluster ${CLUSTER} at 2025-03-14T09:27:42Z`);
    expect(message).toContain(`PipelineRun:  ${pipelineRun}`);
    expect(message).toContain(`Pod:          ${namespace}/${pod}`);
    expect(message).toContain(`StatefulSet:  ${statefulSet}`);
    expect(message).toContain('Node:         ip-10-0-12-34.eu-west-1.compute.internal');
    expect(message).toContain('Outcome:      blocked (no-feasible-node)');
    expect(message).toContain(`Why:          ${anOutcome('blocked').message}`);
    expect(message).toContain('npm start -- status');
    expect(message).toContain(`kubectl describe statefulset ${statefulSet} -n ${namespace}`);
    expect(message).toContain(`npm start -- relocate --pod ${namespace}/${pod}`);
    expect(message).toContain(`kubectl describe pod ${pod} -n ${namespace}`);
    expect(message).not.toMatch(/<[A-Za-z]+>/);
  });

  it('still alerts when an outcome lacks the optional names (a failure before the StatefulSet was read)', () => {
    for (const id of ['alerts-topic', 'slack', 'pagerduty']) {
      for (const kind of ['blocked', 'failed', 'stuck'] as const) expect(() => rendered('AlertsRule', id, kind, { minimal: true }), `${id} ${kind}`).not.toThrow();
    }
    const message = rendered('AlertsRule', 'alerts-topic', 'failed', { minimal: true }) as string;
    expect(message).toContain(`Pod:          ${ASSISTANT.namespace}/${ASSISTANT.pod}`);
    expect(message).toContain('PipelineRun:  \n');
  });

  it('reads only fields of result events, and puts free text only where EventBridge quotes it', () => {
    const rules = ['AlertsRule', 'RelocatedRule', 'NotifyOnlyRule'];
    for (const rule of rules) {
      for (const t of targets(rule, withBoth)) {
        const { InputPathsMap: paths, InputTemplate: tpl } = t.InputTransformer;
        for (const [name, p] of Object.entries(paths)) expect(fieldOf(p), `${rule}/${t.Id}: <${name}> = ${p}`).not.toBe('absent');
        if (!(tpl as string).trimStart().startsWith('{')) continue;
        const { inString, asValue } = placements(tpl as string);
        // Inside a JSON string only names, ids and codes, which never hold a quote...
        for (const name of inString) expect(['message', 'reason'], `${rule}/${t.Id}: <${name}> inside a string`).not.toContain(name);
        // ...and as JSON values only fields every result has (an absent one would leave invalid JSON).
        for (const name of asValue) expect(fieldOf(paths[name]!), `${rule}/${t.Id}: <${name}> as a value`).toBe('required');
      }
    }
  });

  it('posts problems to a Slack incoming webhook as {"text": ...} when slackWebhookUrl is given', () => {
    const slack = target('AlertsRule', 'slack');
    expect(slack.Arn).toEqual(getAtt('SlackApiDestination'));
    expect(slack.RoleArn).toEqual(getAtt('AlertsApiDestinationsRole'));
    expect(slack.DeadLetterConfig).toEqual({ Arn: getAtt('AlertsDlq') });
    const body = rendered('AlertsRule', 'slack', 'failed') as { text: string; attachments: { fields: { title: string; value: string }[] }[] };
    expect(body.text).toContain('Assistant Relocation Failed');
    expect(body.text).toContain(ASSISTANT.pipelineRun);
    expect(body.text).toContain(`${ASSISTANT.namespace}/${ASSISTANT.pod}`);
    const fields = Object.fromEntries(body.attachments[0]!.fields.map((f) => [f.title, f.value]));
    expect(fields.Why).toBe(anOutcome('failed').message);
    expect(fields['What on-call can do']).toContain(`npm start -- relocate --pod ${ASSISTANT.namespace}/${ASSISTANT.pod}`);
    const api = resource(template, 'SlackApiDestination');
    expect(api.Condition).toBe('HasSlack');
    expect(api.Properties).toMatchObject({ InvocationEndpoint: { Ref: 'SlackWebhookUrl' }, HttpMethod: 'POST' });
  });

  it('opens one PagerDuty incident per StatefulSet and kind (Events API v2) when pagerDutyRoutingKey is given', () => {
    const body = rendered('AlertsRule', 'pagerduty', 'stuck') as Record<string, unknown> & { payload: Record<string, unknown> };
    expect(body).toMatchObject({ routing_key: ROUTING_KEY, event_action: 'trigger', dedup_key: `${ASSISTANT.statefulSetUid}-stuck` });
    expect(body.payload).toMatchObject({
      summary: `Assistant Relocation Stuck: PipelineRun ${ASSISTANT.pipelineRun}, pod ${ASSISTANT.namespace}/${ASSISTANT.pod} (cluster ${CLUSTER})`,
      source: `affinity-relocator/${CLUSTER}`,
      severity: 'error',
      custom_details: expect.objectContaining({ why: anOutcome('stuck').message }),
    });
    expect(['critical', 'error', 'warning', 'info']).toContain(body.payload.severity);
    expect((body.payload.summary as string).length).toBeLessThanOrEqual(1024);
    expect(resource(template, 'PagerDutyApiDestination').Properties).toMatchObject({
      InvocationEndpoint: 'https://events.pagerduty.com/v2/enqueue',
      HttpMethod: 'POST',
    });
  });

  it('never writes the Slack webhook or the PagerDuty key into the template: they are NoEcho stack parameters', () => {
    const text = JSON.stringify(template);
    expect(text).not.toContain(PARAMS.slackWebhookUrl);
    expect(text).not.toContain(PARAMS.pagerDutyRoutingKey);
    expect(template.Parameters).toEqual({
      SlackWebhookUrl: expect.objectContaining({ Type: 'String', NoEcho: true, Default: '' }),
      PagerDutyRoutingKey: expect.objectContaining({ Type: 'String', NoEcho: true, Default: '' }),
    });
    expect(pkg.state.service.provider.stackParameters).toEqual([
      { ParameterKey: 'SlackWebhookUrl', ParameterValue: PARAMS.slackWebhookUrl },
      { ParameterKey: 'PagerDutyRoutingKey', ParameterValue: PARAMS.pagerDutyRoutingKey },
    ]);
    // Empty (the default): neither integration exists.
    const none = { parameters: { SlackWebhookUrl: '', PagerDutyRoutingKey: '' } };
    for (const c of ['HasSlack', 'HasPagerDuty', 'HasApiDestination']) {
      expect(condition(template, c, none), c).toBe(false);
      expect(condition(template, c, { parameters: withBoth }), c).toBe(true);
    }
    expect(targets('AlertsRule').map((t) => t.Id)).toEqual(['alerts-topic']);
    for (const [, r] of [...resourcesOf(template, 'AWS::Events::Connection'), ...resourcesOf(template, 'AWS::Events::ApiDestination')]) {
      expect(['HasSlack', 'HasPagerDuty']).toContain(r.Condition);
    }
  });

  it('lets EventBridge invoke those two API destinations and nothing else', () => {
    const role = resource(template, 'AlertsApiDestinationsRole');
    expect(role.Condition).toBe('HasApiDestination');
    expect(resolve(template, role.Properties.AssumeRolePolicyDocument)).toMatchObject({
      Statement: [{ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sts:AssumeRole', Condition: { StringEquals: { 'aws:SourceAccount': '111122223333' } } }],
    });
    const statements = (resolve(template, role.Properties.Policies, { parameters: withBoth }) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
      (p) => p.PolicyDocument.Statement,
    );
    expect(statements.map((s) => [s.Effect, asArray(s.Action), s.Resource])).toEqual([
      ['Allow', ['events:InvokeApiDestination'], [getAtt('SlackApiDestination'), getAtt('PagerDutyApiDestination')]],
    ]);
    const slackOnly = resolve(template, role.Properties.Policies, { parameters: { SlackWebhookUrl: 'https://x' } }) as { PolicyDocument: { Statement: Statement[] } }[];
    expect(slackOnly[0]!.PolicyDocument.Statement[0]!.Resource).toEqual([getAtt('SlackApiDestination')]);
  });

  it('tells about successful relocations only when notifyRelocated is true, on the topic and Slack, never paging', () => {
    const rule = resource(template, 'RelocatedRule');
    expect(rule.Condition).toBe('NotifyRelocated');
    expect(template.Conditions?.NotifyRelocated).toEqual({ 'Fn::Equals': [PARAMS.notifyRelocated, 'true'] });
    expect(rule.Properties.EventPattern).toEqual({ source: ['affinity-relocator'], 'detail-type': ['Assistant Relocated'], detail: { notify: [true] } });
    expect(targets('RelocatedRule', withBoth).map((t) => t.Id)).toEqual(['alerts-topic', 'slack']);
    const message = rendered('RelocatedRule', 'alerts-topic', 'relocated') as string;
    expect(message).toContain(
      `The affinity assistant of PipelineRun ${ASSISTANT.pipelineRun} (pod ${ASSISTANT.namespace}/${ASSISTANT.pod}) moved from node ip-10-0-12-34.eu-west-1.compute.internal to ip-10-0-45-67.eu-west-1.compute.internal.`,
    );
  });

  it('tells on-call what an AWS notice set to notify-only would have moved, on the topic and Slack, never paging', () => {
    const rule = resource(template, 'NotifyOnlyRule');
    expect(rule.Condition).toBeUndefined();
    expect(rule.Properties.EventPattern).toEqual({
      source: ['affinity-relocator'],
      'detail-type': ['Assistant Relocation Skipped'],
      detail: { reason: ['notify-only'], notify: [true] },
    });
    expect(targets('NotifyOnlyRule', withBoth).map((t) => t.Id)).toEqual(['alerts-topic', 'slack']);
    const message = rendered('NotifyOnlyRule', 'alerts-topic', 'skipped', { reason: 'notify-only' }) as string;
    expect(message.split('\n')[0]).toBe(
      `[affinity-relocator] AWS notice for node ip-10-0-12-34.eu-west-1.compute.internal in cluster ${CLUSTER} at 2025-03-14T09:27:42Z (notify-only)`,
    );
    expect(message).toContain(`npm start -- relocate --pod ${ASSISTANT.namespace}/${ASSISTANT.pod}`);
    const slack = rendered('NotifyOnlyRule', 'slack', 'skipped', { reason: 'notify-only' }) as { text: string };
    expect(slack.text).toContain(`pod \`${ASSISTANT.namespace}/${ASSISTANT.pod}\`, was not moved`);
  });

  it('lets only those rules, and our own alarms, publish to the alerts topic', () => {
    const policy = resourcesOf(template, 'AWS::SNS::TopicPolicy')[0]![1];
    expect(policy.Properties.Topics).toEqual([{ Ref: 'AlertsTopic' }]);
    const statements = (resolve(template, policy.Properties.PolicyDocument) as { Statement: Statement[] }).Statement;
    expect(statements).toEqual([
      {
        Sid: 'ResultEventRules',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: 'AlertsTopic' },
        Condition: { ArnEquals: { 'aws:SourceArn': [getAtt('AlertsRule'), getAtt('NotifyOnlyRule'), getAtt('RelocatedRule')] } },
      },
      {
        Sid: 'RelocatorAlarms',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: 'AlertsTopic' },
        Condition: { ArnLike: { 'aws:SourceArn': 'arn:aws:cloudwatch:eu-west-1:111122223333:alarm:affinity-relocator-prod-*' } },
      },
    ]);
    const withoutRelocated = resolve(template, policy.Properties.PolicyDocument, { conditions: { NotifyRelocated: false } }) as { Statement: Statement[] };
    expect(withoutRelocated.Statement[0]!.Condition).toEqual({ ArnEquals: { 'aws:SourceArn': [getAtt('AlertsRule'), getAtt('NotifyOnlyRule')] } });
  });

  it("alarms on every dead-letter queue that holds a message and every function's errors, over 5 minutes, to the alerts topic", () => {
    const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    for (const a of alarms) {
      expect(a).toMatchObject({ Period: 300, EvaluationPeriods: 1, Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching', AlarmActions: [{ Ref: 'AlertsTopic' }] });
      expect(a.AlarmName as string).toMatch(/^affinity-relocator-prod-/); // what the topic policy admits
    }
    const watched = (namespace: string, metric: string) =>
      alarms.filter((a) => a.Namespace === namespace && a.MetricName === metric).map((a) => (a.Dimensions as { Value: unknown }[])[0]!.Value);
    const queues = resourcesOf(template, 'AWS::SQS::Queue').map(([id]) => ({ 'Fn::GetAtt': [id, 'QueueName'] }));
    expect(watched('AWS/SQS', 'ApproximateNumberOfMessagesVisible')).toEqual(expect.arrayContaining(queues));
    expect(watched('AWS/SQS', 'ApproximateNumberOfMessagesVisible')).toHaveLength(queues.length);
    const functions = resourcesOf(template, 'AWS::Lambda::Function').map(([id]) => ({ Ref: id }));
    expect(watched('AWS/Lambda', 'Errors')).toEqual(expect.arrayContaining(functions));
    expect(watched('AWS/Lambda', 'Errors')).toHaveLength(functions.length);
  });
});
