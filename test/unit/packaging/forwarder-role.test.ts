/**
 * The forwarder's AWS identity, as `npm run package` writes it: a role that the forwarder's ServiceAccount
 * (and nothing else) can assume, through EKS Pod Identity or IRSA, and that can only put our events on our
 * bus; and a bus that takes events from nobody but the forwarder and the functions.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { asArray, condition, getAtt, resolve, resource } from './cfn.js';
import { PARAMS, packaged, type Template } from './packaged.js';

type Statement = { Sid?: string; Effect: string; Principal: unknown; Action: string | string[]; Resource?: unknown; Condition?: Record<string, Record<string, unknown>> };

const SERVICE_ACCOUNT = 'system:serviceaccount:affinity-relocator:affinity-relocator-forwarder';

let template: Template;

/** The trust policy CloudFormation would create, with IRSA on or off. */
function trustPolicy(useIrsa: boolean): { Statement: Statement[] } {
  const document = resolve(template, resource(template, 'ForwarderRole').Properties.AssumeRolePolicyDocument, { conditions: { UseIrsa: useIrsa } });
  expect(typeof document, 'a JSON document in a string (IRSA condition keys start with the provider name)').toBe('string');
  return JSON.parse(document as string) as { Statement: Statement[] };
}

describe('the forwarder role', () => {
  beforeAll(async () => {
    template = (await packaged()).template;
  }, 600_000);

  it('can be assumed through EKS Pod Identity only by the forwarder ServiceAccount of this cluster', () => {
    const [podIdentity] = trustPolicy(false).Statement;
    expect(trustPolicy(false).Statement).toHaveLength(1);
    expect(podIdentity).toEqual({
      Sid: 'EksPodIdentity',
      Effect: 'Allow',
      Principal: { Service: 'pods.eks.amazonaws.com' },
      Action: ['sts:AssumeRole', 'sts:TagSession'],
      Condition: {
        StringEquals: {
          'aws:RequestTag/eks-cluster-name': PARAMS.clusterName,
          'aws:RequestTag/kubernetes-namespace': 'affinity-relocator',
          'aws:RequestTag/kubernetes-service-account': 'affinity-relocator-forwarder',
        },
      },
    });
  });

  it("can also be assumed with the forwarder ServiceAccount's IRSA token when oidcProvider is given", () => {
    expect(template.Conditions?.UseIrsa).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [PARAMS.oidcProvider, ''] }] });
    expect(condition(template, 'UseIrsa')).toBe(true);
    const statements = trustPolicy(true).Statement;
    expect(statements.map((s) => s.Sid)).toEqual(['EksPodIdentity', 'Irsa']);
    expect(statements[1]).toEqual({
      Sid: 'Irsa',
      Effect: 'Allow',
      Principal: { Federated: `arn:aws:iam::111122223333:oidc-provider/${PARAMS.oidcProvider}` },
      Action: 'sts:AssumeRoleWithWebIdentity',
      Condition: { StringEquals: { [`${PARAMS.oidcProvider}:sub`]: SERVICE_ACCOUNT, [`${PARAMS.oidcProvider}:aud`]: 'sts.amazonaws.com' } },
    });
  });

  it('may only put events of source affinity-relocator on the relocator bus', () => {
    const role = resource(template, 'ForwarderRole');
    const statements = (role.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap((p) => p.PolicyDocument.Statement);
    expect(statements.map((s) => ({ ...s, Action: asArray(s.Action) }))).toEqual([
      {
        Sid: 'PublishTransitions',
        Effect: 'Allow',
        Action: ['events:PutEvents'],
        Resource: { 'Fn::GetAtt': ['RelocatorEventBus', 'Arn'] },
        Condition: { StringEquals: { 'events:source': 'affinity-relocator' } },
      },
    ]);
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.RoleName).toBe('affinity-relocator-prod-eu-west-1-forwarder');
  });

  it('is associated with the ServiceAccount through EKS Pod Identity when createPodIdentityAssociation is true', () => {
    const association = resource(template, 'ForwarderPodIdentityAssociation');
    expect(association.Properties).toEqual({
      ClusterName: PARAMS.clusterName,
      Namespace: 'affinity-relocator',
      ServiceAccount: 'affinity-relocator-forwarder',
      RoleArn: { 'Fn::GetAtt': ['ForwarderRole', 'Arn'] },
    });
    expect(template.Conditions?.[association.Condition!]).toEqual({ 'Fn::Equals': ['true', 'true'] });
  });

  it('and the functions are the only ones that may put events on the bus (besides busPublisherArns)', () => {
    const policies = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Events::EventBusPolicy');
    const statements = policies.map((p) => {
      expect(p.Properties.EventBusName).toEqual({ Ref: 'RelocatorEventBus' });
      return resolve(template, p.Properties.Statement) as Statement;
    });
    const bus = getAtt('RelocatorEventBus');
    expect(statements).toEqual([
      { Effect: 'Allow', Principal: { AWS: getAtt('ForwarderRole') }, Action: 'events:PutEvents', Resource: bus },
      {
        Effect: 'Deny',
        Principal: '*',
        Action: 'events:PutEvents',
        Resource: bus,
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': [getAtt('ForwarderRole'), getAtt('IamRoleLambdaExecution'), PARAMS.busPublisherArns] } },
      },
    ]);
    // Without busPublisherArns, the two roles alone.
    const deny = resolve(template, policies[1]!.Properties.Statement, { conditions: { HasBusPublishers: false } }) as Statement;
    expect(deny.Condition).toEqual({ ArnNotEquals: { 'aws:PrincipalArn': [getAtt('ForwarderRole'), getAtt('IamRoleLambdaExecution')] } });
    // EventBridge refuses concurrent changes to one bus policy.
    expect(asArray(policies[1]!.DependsOn)).toEqual(['ForwarderPutEventsOnBus']);
  });
});
