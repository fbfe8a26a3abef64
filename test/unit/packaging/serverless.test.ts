/**
 * `npm run package` (build + `osls package`) works offline with no AWS credentials, and the CloudFormation
 * template it writes wires the functions as DESIGN.md says: the custom bus, one rule per detail-type,
 * AWS-native notices from the default bus, the Alertmanager webhook, dead-letter queues, and
 * least-privilege IAM. (The forwarder's role: forwarder-role.test.ts; alerts and alarms: alerting.test.ts;
 * what each rule's pattern matches: event-patterns.test.ts.)
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { findEntryPoints, repoRoot } from '../../../scripts/build.js';
import { asArray, condition, resolve, resourcesOf } from './cfn.js';
import { type Packaged, PARAMS, type Resource, type Template, packaged } from './packaged.js';

const run = promisify(execFile);

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Principal?: unknown; Condition?: unknown };

const entryPoints = await findEntryPoints();
const functionNames = entryPoints.map((e) => path.basename(e, '.ts'));
/** Invoked by EventBridge (asynchronously); the webhook is invoked by API Gateway, synchronously. */
const asyncFunctions = functionNames.filter((n) => n !== 'alertmanager');

let pkg: Packaged;
let template: Template;

const resources = (type: string) => resourcesOf(template, type);

function lambdaOf(name: string): [string, Resource] {
  const found = resources('AWS::Lambda::Function').find(([, r]) => r.Properties.Handler === `dist/functions/${name}.handler`);
  if (!found) throw new Error(`no Lambda function with handler dist/functions/${name}.handler`);
  return found;
}

function rulesTargeting(logicalId: string): Resource[] {
  return resources('AWS::Events::Rule')
    .map(([, r]) => r)
    .filter((r) => (r.Properties.Targets as { Arn: unknown }[]).some((t) => JSON.stringify(t.Arn) === JSON.stringify({ 'Fn::GetAtt': [logicalId, 'Arn'] })));
}

function roleStatements(logicalId: string): Statement[] {
  const role = template.Resources[logicalId]!;
  return ((role.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap((p) => p.PolicyDocument.Statement);
}

const busRef = { Ref: 'RelocatorEventBus' };
const busArn = { 'Fn::GetAtt': ['RelocatorEventBus', 'Arn'] };
const tokenParameterArn = {
  'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${PARAMS.alertmanagerTokenParameter}`,
};

describe('npm run package', () => {
  beforeAll(async () => {
    pkg = await packaged();
    template = pkg.template;
  }, 600_000);

  it('creates the custom event bus affinity-relocator-<stage> and outputs what a deployment wires up', () => {
    expect(template.Resources.RelocatorEventBus).toMatchObject({ Type: 'AWS::Events::EventBus', Properties: { Name: 'affinity-relocator-prod' } });
    expect(template.Outputs.EventBusArn?.Value).toEqual(busArn);
    expect(template.Outputs.LambdaRoleArn?.Value).toEqual({ 'Fn::GetAtt': ['IamRoleLambdaExecution', 'Arn'] });
    expect(template.Outputs.ForwarderRoleArn?.Value).toEqual({ 'Fn::GetAtt': ['ForwarderRole', 'Arn'] });
    expect(template.Outputs.AlertsTopicArn?.Value).toEqual({ Ref: 'AlertsTopic' });
    expect(resolve(template, template.Outputs.AlertmanagerWebhookUrl?.Value)).toBe('https://{HttpApi}.execute-api.eu-west-1.amazonaws.com/alertmanager');
  });

  it('deploys exactly the entry points in functions/, on nodejs22.x arm64 with 256 MB', () => {
    const handlers = resources('AWS::Lambda::Function').map(([, r]) => r.Properties.Handler).sort();
    expect(handlers).toEqual(functionNames.map((n) => `dist/functions/${n}.handler`).sort());
    for (const name of functionNames) {
      const [, fn] = lambdaOf(name);
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], MemorySize: 256 });
      expect(fn.Properties.ReservedConcurrentExecutions).toBeGreaterThan(0);
    }
    for (const name of asyncFunctions) expect(lambdaOf(name)[1].Properties.Timeout, name).toBe(90);
  });

  it('gives every function the configuration it reads', () => {
    const envOf = (name: string) => (lambdaOf(name)[1].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    for (const name of functionNames) {
      expect(envOf(name)).toMatchObject({
        KUBE_AUTH: 'eks',
        EKS_CLUSTER_NAME: PARAMS.clusterName,
        EKS_ENDPOINT: PARAMS.eksEndpoint,
        EKS_CA_DATA: PARAMS.eksCaData,
        CLUSTER_NAME: PARAMS.clusterName,
        DRY_RUN: 'true',
        INTERRUPTION_TAINT: '',
        INTERRUPTION_TAINT_TTL_MINUTES: '',
        // Every function publishes result events, so every one gates its notifications.
        NOTIFY_DEDUPE_WINDOW_MINUTES: '',
        EVENT_BUS_NAME: busRef,
        POWERTOOLS_SERVICE_NAME: 'affinity-relocator',
        POWERTOOLS_METRICS_NAMESPACE: expect.any(String),
      });
    }
    if (functionNames.includes('on-aws-event')) expect(envOf('on-aws-event')).toMatchObject({ AWS_EVENT_ACTIONS: '' });
    if (functionNames.includes('alertmanager')) {
      expect(envOf('alertmanager')).toMatchObject({
        ALERTMANAGER_TOKEN_PARAMETER: PARAMS.alertmanagerTokenParameter,
        ALERTMANAGER_ALERTS: '',
      });
    }
  });

  const patterns: Record<string, { 'detail-type': string[]; detail?: Record<string, string[]> }[]> = {
    'on-node-event': [{ 'detail-type': ['Node Schedulability Changed'] }, { 'detail-type': ['Relocation Requested'] }],
    // A deleted pod needs nothing of the function (the handler returns no outcome for it).
    // And a TaskRun pod held Pending by its assistant's node.
    'on-pod-event': [{ 'detail-type': ['Assistant Pod Changed'], detail: { change: ['bound', 'moved'] } }, { 'detail-type': ['TaskRun Pod Unschedulable'] }],
  };

  it.each(Object.entries(patterns))('routes the bus events %s handles to it, and only those', (name, expected) => {
    const rules = rulesTargeting(lambdaOf(name)[0]);
    expect(rules.map((r) => r.Properties.EventBusName)).toEqual(expected.map(() => busRef));
    expect(rules.map((r) => r.Properties.EventPattern)).toEqual(expected.map((p) => ({ source: ['affinity-relocator'], ...p })));
  });

  it("routes AWS's own notices of an instance going away to on-aws-event, from the default bus", () => {
    const rules = rulesTargeting(lambdaOf('on-aws-event')[0]);
    // AWS services publish only to the default bus: a rule naming our bus would never fire.
    expect(rules.map((r) => r.Properties.EventBusName)).toEqual(rules.map(() => undefined));
    expect(rules.map((r) => [r.Properties.Name, r.Properties.EventPattern])).toEqual([
      ['affinity-relocator-prod-aws-spot-interruption', { source: ['aws.ec2'], 'detail-type': ['EC2 Spot Instance Interruption Warning'] }],
      ['affinity-relocator-prod-aws-rebalance-recommendation', { source: ['aws.ec2'], 'detail-type': ['EC2 Instance Rebalance Recommendation'] }],
      [
        'affinity-relocator-prod-aws-instance-stopping',
        {
          source: ['aws.ec2'],
          'detail-type': ['EC2 Instance State-change Notification'],
          detail: { state: ['stopping', 'stopped', 'shutting-down', 'terminated'] },
        },
      ],
      ['affinity-relocator-prod-aws-asg-terminate', { source: ['aws.autoscaling'], 'detail-type': ['EC2 Instance-terminate Lifecycle Action'] }],
      [
        'affinity-relocator-prod-aws-health-scheduled-change',
        { source: ['aws.health'], 'detail-type': ['AWS Health Event'], detail: { service: ['EC2'], eventTypeCategory: ['scheduledChange'] } },
      ],
    ]);
  });

  it('runs the sweep every 5 minutes on the default bus', () => {
    const rules = rulesTargeting(lambdaOf('sweep')[0]);
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties).toMatchObject({ ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
    expect(rules[0]!.Properties.EventBusName).toBeUndefined();
  });

  it('sends failed async invocations, after 2 retries, and undeliverable events to an SQS dead-letter queue', () => {
    const queues = new Set(resources('AWS::SQS::Queue').map(([id]) => id));
    for (const name of asyncFunctions) {
      const [logicalId] = lambdaOf(name);
      const invokeConfig = resources('AWS::Lambda::EventInvokeConfig').find(([, r]) => JSON.stringify(r.Properties.FunctionName) === JSON.stringify({ Ref: logicalId }));
      expect(invokeConfig, `${name} has no EventInvokeConfig`).toBeDefined();
      const props = invokeConfig![1].Properties as { MaximumRetryAttempts: number; MaximumEventAgeInSeconds: number; DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [string, string] } } } };
      expect(props.MaximumRetryAttempts).toBe(2);
      expect(props.MaximumEventAgeInSeconds).toBeGreaterThan(0);
      const dlq = props.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0];
      expect(queues).toContain(dlq);
      const rules = rulesTargeting(logicalId);
      expect(rules.length, `${name} has no rule`).toBeGreaterThan(0);
      for (const rule of rules) {
        expect((rule.Properties.Targets as { DeadLetterConfig?: unknown }[])[0]!.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } });
      }
    }
  });

  it('lets EventBridge write to the dead-letter queues only for our own rules, on either bus', () => {
    const [, policy] = resources('AWS::SQS::QueuePolicy')[0]!;
    const queues = resources('AWS::SQS::Queue').map(([id]) => ({ Ref: id }));
    expect(policy.Properties.Queues).toEqual(expect.arrayContaining(queues));
    const [statement] = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
    expect(statement).toMatchObject({ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sqs:SendMessage' });
    const sources = resolve(template, (statement!.Condition as { ArnLike: { 'aws:SourceArn': unknown } }).ArnLike['aws:SourceArn']) as string[];
    expect(sources).toEqual([
      'arn:aws:events:eu-west-1:111122223333:rule/affinity-relocator-prod/*',
      'arn:aws:events:eu-west-1:111122223333:rule/affinity-relocator-prod-sweep',
      'arn:aws:events:eu-west-1:111122223333:rule/affinity-relocator-prod-aws-*',
    ]);
    // Every rule with a DLQ is covered by one of those patterns.
    const covered = (arn: string) => sources.some((p) => new RegExp(`^${p.replace(/[.*]/g, (c) => (c === '*' ? '.*' : '\\.'))}$`).test(arn));
    for (const [, rule] of resources('AWS::Events::Rule')) {
      const name = rule.Properties.Name as string;
      const arn = rule.Properties.EventBusName ? `arn:aws:events:eu-west-1:111122223333:rule/affinity-relocator-prod/${name}` : `arn:aws:events:eu-west-1:111122223333:rule/${name}`;
      expect(covered(arn), arn).toBe(true);
    }
  });

  it('serves the Alertmanager webhook at POST /alertmanager, answering within the HTTP API timeout', () => {
    const [logicalId, fn] = lambdaOf('alertmanager');
    const [, route] = resources('AWS::ApiGatewayV2::Route')[0]!;
    expect(route.Properties.RouteKey).toBe('POST /alertmanager');
    // The function checks the bearer token itself (from SSM); API Gateway only forwards.
    expect(route.Properties.AuthorizationType ?? 'NONE').toBe('NONE');
    const [, integration] = resources('AWS::ApiGatewayV2::Integration')[0]!;
    expect(JSON.stringify(integration.Properties.IntegrationUri)).toContain(logicalId);
    expect(integration.Properties.PayloadFormatVersion).toBe('2.0');
    expect(fn.Properties.Timeout).toBeLessThan(30);
    expect(rulesTargeting(logicalId)).toEqual([]);
  });

  it('grants no wildcard action on a wildcard resource, and PutEvents only on the bus', () => {
    const statements: Statement[] = resources('AWS::IAM::Role').flatMap(([id]) => roleStatements(id));
    expect(statements.length).toBeGreaterThan(0);
    for (const s of statements) {
      const actions = asArray(s.Action);
      const targets = asArray(s.Resource);
      expect(actions.some((a) => a === '*' || a.endsWith(':*')) && targets.includes('*'), JSON.stringify(s)).toBe(false);
      expect(actions, 'no action is a bare wildcard').not.toContain('*');
    }
    // The Lambda role (result events) and the forwarder's role, and nothing else.
    const putEvents = resources('AWS::IAM::Role').flatMap(([id]) =>
      roleStatements(id)
        .filter((s) => asArray(s.Action).some((a) => a === 'events:PutEvents' || a === 'events:*'))
        .map((s) => [id, s.Resource]),
    );
    expect(putEvents).toEqual([
      ['IamRoleLambdaExecution', busArn],
      ['ForwarderRole', busArn],
    ]);
    // Presigning the EKS token needs no permission, and nothing reads the cluster through the EKS API.
    const allActions = statements.flatMap((s) => asArray(s.Action));
    expect(allActions).not.toContain('sts:GetCallerIdentity');
    expect(allActions.filter((a) => a.startsWith('eks:'))).toEqual([]);
  });

  it("lets the webhook function, and it alone, read its token parameter and nothing else of SSM, decrypting through SSM only", () => {
    const statements = roleStatements('IamRoleLambdaExecution');
    const ssm = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('ssm:')));
    expect(ssm.map((s) => [s.Effect, asArray(s.Action), s.Resource])).toEqual([['Allow', ['ssm:GetParameter'], tokenParameterArn]]);
    // The role is shared by every function: only the webhook's code may use this grant.
    const [, webhook] = lambdaOf('alertmanager');
    const webhookArn = `arn:aws:lambda:eu-west-1:111122223333:function:${webhook.Properties.FunctionName as string}`;
    expect(resolve(template, ssm[0]!.Condition)).toEqual({ ArnLike: { 'lambda:SourceFunctionArn': [webhookArn, `${webhookArn}:*`] } });
    const kms = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('kms:')));
    expect(kms).toHaveLength(1);
    expect(asArray(kms[0]!.Action)).toEqual(['kms:Decrypt']);
    expect(resolve(template, kms[0]!.Resource)).toBe('arn:aws:kms:eu-west-1:111122223333:key/*');
    expect(resolve(template, kms[0]!.Condition)).toEqual({
      StringEquals: {
        'kms:ViaService': 'ssm.eu-west-1.amazonaws.com',
        'kms:EncryptionContext:PARAMETER_ARN': `arn:aws:ssm:eu-west-1:111122223333:parameter${PARAMS.alertmanagerTokenParameter}`,
      },
    });
  });

  it('maps the Lambda role to the Kubernetes group affinity-relocator through an EKS access entry', () => {
    const entries = resources('AWS::EKS::AccessEntry');
    expect(entries).toHaveLength(1);
    const [, entry] = entries[0]!;
    expect(entry.Properties).toEqual({
      ClusterName: PARAMS.clusterName,
      PrincipalArn: { 'Fn::GetAtt': ['IamRoleLambdaExecution', 'Arn'] },
      Type: 'STANDARD',
      KubernetesGroups: ['affinity-relocator'],
    });
    expect(template.Conditions?.[entry.Condition!]).toEqual({ 'Fn::Equals': ['true', 'true'] });
  });

  it('puts every function in the given subnets and security groups, and grants the VPC policy, only when subnetIds is set', () => {
    expect(template.Conditions?.UseVpc).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [PARAMS.subnetIds, ''] }] });
    for (const name of functionNames) {
      const vpc = lambdaOf(name)[1].Properties.VpcConfig;
      expect(resolve(template, vpc), name).toEqual({ SubnetIds: PARAMS.subnetIds.split(','), SecurityGroupIds: [PARAMS.securityGroupIds] });
      expect(resolve(template, { VpcConfig: vpc }, { conditions: { UseVpc: false } }), name).toEqual({});
    }
    const managed = template.Resources.IamRoleLambdaExecution!.Properties.ManagedPolicyArns;
    expect(resolve(template, managed)).toEqual(['arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole']);
    expect(resolve(template, { ManagedPolicyArns: managed }, { conditions: { UseVpc: false } })).toEqual({});
    expect(condition(template, 'UseVpc')).toBe(true);
  });

  it('switches every optional feature off when its parameter is not given', async () => {
    // The resolved configuration of the dev stage with no --param at all (no build needed).
    const { stdout } = await run(path.join(repoRoot, 'node_modules', '.bin', 'osls'), ['print', '--format', 'json', '--path', 'resources'], {
      cwd: repoRoot,
      env: { ...process.env, CI: '1' },
      timeout: 120_000,
    });
    const defaults = JSON.parse(stdout) as Template;
    for (const c of ['UseIrsa', 'CreatePodIdentityAssociation', 'HasBusPublishers', 'NotifyRelocated', 'HasSlack', 'HasPagerDuty', 'UseVpc']) {
      expect(condition(defaults, c), c).toBe(false);
    }
  }, 120_000);

  it('zips each function with its own bundle and source map only', async () => {
    for (const name of functionNames) {
      const { stdout } = await run('unzip', ['-Z1', pkg.artifact(name)]);
      expect(stdout.trim().split('\n').sort()).toEqual([`dist/functions/${name}.mjs`, `dist/functions/${name}.mjs.map`]);
    }
  });
});
