/**
 * `npm run package` (build + `osls package`) works offline with no AWS credentials, and the CloudFormation
 * template it writes wires the functions as DESIGN.md says: the custom bus, one rule per detail-type,
 * dead-letter queues, and least-privilege IAM.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { findEntryPoints, repoRoot } from '../../../scripts/build.js';

const run = promisify(execFile);

type Resource = { Type: string; Condition?: string; Properties: Record<string, unknown> };
type Template = { Resources: Record<string, Resource>; Outputs: Record<string, { Value: unknown }>; Conditions?: Record<string, unknown> };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Principal?: unknown; Condition?: unknown };

const entryPoints = await findEntryPoints();
const functionNames = entryPoints.map((e) => path.basename(e, '.ts'));

const PARAMS = {
  clusterName: 'prod-cluster',
  eksEndpoint: 'https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com',
  eksCaData: 'LS0tLS1CRUdJTg==',
  createAccessEntry: 'true',
};

let template: Template;

const resources = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
const asArray = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

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

const busRef = { Ref: 'RelocatorEventBus' };
const busArn = { 'Fn::GetAtt': ['RelocatorEventBus', 'Arn'] };

describe.skipIf(entryPoints.length === 0)('npm run package', () => {
  beforeAll(async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, CI: '1' };
    // Offline and without credentials, as on a developer's machine or CI.
    for (const name of Object.keys(env)) if (/^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|PROFILE)$/.test(name)) delete env[name];
    const params = Object.entries(PARAMS).flatMap(([k, v]) => ['--param', `${k}=${v}`]);
    await run('npm', ['run', 'package', '--', '--stage', 'prod', '--region', 'eu-west-1', ...params], {
      cwd: repoRoot,
      env,
      timeout: 540_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((e: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`npm run package failed:\n${e.stdout ?? ''}\n${e.stderr ?? e.message}`);
    });
    template = JSON.parse(await readFile(path.join(repoRoot, '.serverless', 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
  }, 600_000);

  it('creates the custom event bus affinity-relocator-<stage> and outputs its ARN and the Lambda role ARN', () => {
    expect(template.Resources.RelocatorEventBus).toMatchObject({ Type: 'AWS::Events::EventBus', Properties: { Name: 'affinity-relocator-prod' } });
    expect(template.Outputs.EventBusArn?.Value).toEqual(busArn);
    expect(template.Outputs.LambdaRoleArn?.Value).toEqual({ 'Fn::GetAtt': ['IamRoleLambdaExecution', 'Arn'] });
  });

  it('deploys exactly the entry points in functions/, on nodejs22.x arm64', () => {
    const handlers = resources('AWS::Lambda::Function').map(([, r]) => r.Properties.Handler).sort();
    expect(handlers).toEqual(functionNames.map((n) => `dist/functions/${n}.handler`).sort());
    for (const name of functionNames) {
      const [, fn] = lambdaOf(name);
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Timeout: 90 });
      expect(fn.Properties.ReservedConcurrentExecutions).toBeGreaterThan(0);
    }
  });

  it('gives every function the configuration it reads', () => {
    for (const name of functionNames) {
      const env = (lambdaOf(name)[1].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env).toMatchObject({
        KUBE_AUTH: 'eks',
        EKS_CLUSTER_NAME: PARAMS.clusterName,
        EKS_ENDPOINT: PARAMS.eksEndpoint,
        EKS_CA_DATA: PARAMS.eksCaData,
        CLUSTER_NAME: PARAMS.clusterName,
        DRY_RUN: 'true',
        EVENT_BUS_NAME: busRef,
        POWERTOOLS_SERVICE_NAME: 'affinity-relocator',
        POWERTOOLS_METRICS_NAMESPACE: expect.any(String),
      });
    }
  });

  const patterns: Record<string, { 'detail-type': string[] }[]> = {
    'on-node-event': [{ 'detail-type': ['Node Schedulability Changed'] }, { 'detail-type': ['Relocation Requested'] }],
    'on-pod-event': [{ 'detail-type': ['Assistant Pod Changed'] }],
  };

  it.each(Object.entries(patterns))('routes the bus events %s handles to it, and only those', (name, expected) => {
    const rules = rulesTargeting(lambdaOf(name)[0]);
    expect(rules.map((r) => r.Properties.EventBusName)).toEqual(expected.map(() => busRef));
    expect(rules.map((r) => r.Properties.EventPattern)).toEqual(expected.map((p) => ({ source: ['affinity-relocator'], ...p })));
  });

  it('runs the sweep every 5 minutes on the default bus', () => {
    const rules = rulesTargeting(lambdaOf('sweep')[0]);
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties).toMatchObject({ ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
    expect(rules[0]!.Properties.EventBusName).toBeUndefined();
  });

  it('sends failed async invocations, after 2 retries, and undeliverable events to an SQS dead-letter queue', () => {
    const queues = new Set(resources('AWS::SQS::Queue').map(([id]) => id));
    for (const name of functionNames) {
      const [logicalId] = lambdaOf(name);
      const invokeConfig = resources('AWS::Lambda::EventInvokeConfig').find(([, r]) => JSON.stringify(r.Properties.FunctionName) === JSON.stringify({ Ref: logicalId }));
      expect(invokeConfig, `${name} has no EventInvokeConfig`).toBeDefined();
      const props = invokeConfig![1].Properties as { MaximumRetryAttempts: number; MaximumEventAgeInSeconds: number; DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [string, string] } } } };
      expect(props.MaximumRetryAttempts).toBe(2);
      expect(props.MaximumEventAgeInSeconds).toBeGreaterThan(0);
      const dlq = props.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0];
      expect(queues).toContain(dlq);
      for (const rule of rulesTargeting(logicalId)) {
        expect((rule.Properties.Targets as { DeadLetterConfig?: unknown }[])[0]!.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } });
      }
    }
  });

  it('grants no wildcard action on a wildcard resource, and PutEvents only on the bus', () => {
    const statements: Statement[] = resources('AWS::IAM::Role').flatMap(([, role]) =>
      ((role.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap((p) => p.PolicyDocument.Statement),
    );
    expect(statements.length).toBeGreaterThan(0);
    for (const s of statements) {
      const actions = asArray(s.Action);
      const targets = asArray(s.Resource);
      expect(actions.some((a) => a === '*' || a.endsWith(':*')) && targets.includes('*'), JSON.stringify(s)).toBe(false);
      expect(actions, 'no action is a bare wildcard').not.toContain('*');
    }
    const putEvents = statements.filter((s) => asArray(s.Action).some((a) => a === 'events:PutEvents' || a === 'events:*'));
    expect(putEvents).toHaveLength(1);
    expect(putEvents[0]!.Resource).toEqual(busArn);
    // Presigning the EKS token needs no permission, and nothing reads the cluster through the EKS API.
    const allActions = statements.flatMap((s) => asArray(s.Action));
    expect(allActions).not.toContain('sts:GetCallerIdentity');
    expect(allActions.filter((a) => a.startsWith('eks:'))).toEqual([]);
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

  it('zips each function with its own bundle and source map only', async () => {
    const state = JSON.parse(await readFile(path.join(repoRoot, '.serverless', 'serverless-state.json'), 'utf8')) as {
      service: { functions: Record<string, { package: { artifact: string } }> };
    };
    for (const name of functionNames) {
      const artifact = state.service.functions[name]?.package.artifact;
      expect(artifact, `${name} has no artifact`).toBeDefined();
      const { stdout } = await run('unzip', ['-Z1', artifact!]);
      expect(stdout.trim().split('\n').sort()).toEqual([`dist/functions/${name}.mjs`, `dist/functions/${name}.mjs.map`]);
    }
  });
});

if (entryPoints.length === 0) {
  it.skip('npm run package: functions/ has no entry points yet, so there is nothing to package (the Lambda entry points are written separately)', () => {});
}
