/**
 * The loopback EKS authenticator (the stand-in for aws-iam-authenticator + STS) accepts exactly the tokens
 * EKS would: made by our own token code for this cluster with the registered credentials, not expired, not
 * tampered with; and maps them to the access entry's groups under EKS's default username for a role.
 */
import { describe, expect, it } from 'vitest';
import { createEksToken } from '../../../src/cluster/eks-token.js';
import { type EksPrincipal, verifyEksToken } from '../../cluster/eks-authenticator.js';

const principal: EksPrincipal = {
  accessKeyId: 'ASIAEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE',
  assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/relocator-lambda/on-node-event',
  groups: ['affinity-relocator'],
};
const T0 = Date.parse('2024-01-15T10:00:00Z');
const MINUTE = 60_000;
const token = (o: { cluster?: string; secret?: string; at?: number } = {}) =>
  createEksToken({
    clusterName: o.cluster ?? 'prod',
    region: 'eu-west-1',
    credentials: { ...principal, secretAccessKey: o.secret ?? principal.secretAccessKey },
    signingDate: new Date(o.at ?? T0),
  });

describe('the loopback EKS authenticator', () => {
  it('maps a token of this cluster to the role’s default username and the access entry’s groups', async () => {
    const user = await verifyEksToken(await token(), 'prod', [principal], T0 + MINUTE);
    expect(user.username).toBe(principal.assumedRoleArn);
    expect(user.groups).toEqual(['affinity-relocator']);
    expect(user.extra.canonicalArn).toEqual(['arn:aws:iam::123456789012:role/relocator-lambda']);
    expect(user.extra.sessionName).toEqual(['on-node-event']);
  });

  it('rejects a token signed for another cluster, with another secret, expired, or tampered with', async () => {
    await expect(verifyEksToken(await token({ cluster: 'staging' }), 'prod', [principal], T0)).rejects.toThrow(/signature/);
    await expect(verifyEksToken(await token({ secret: 'not-it' }), 'prod', [principal], T0)).rejects.toThrow(/signature/);
    await expect(verifyEksToken(await token(), 'prod', [principal], T0 + 16 * MINUTE)).rejects.toThrow(/expired/);
    await expect(verifyEksToken(await token(), 'prod', [{ ...principal, accessKeyId: 'ASIAOTHER' }], T0)).rejects.toThrow(/security token/);
    const url = new URL(Buffer.from((await token()).slice('k8s-aws-v1.'.length), 'base64url').toString());
    url.searchParams.set('Action', 'AssumeRole');
    await expect(verifyEksToken(`k8s-aws-v1.${Buffer.from(url.href).toString('base64url')}`, 'prod', [principal], T0)).rejects.toThrow(/action/);
    url.searchParams.set('Action', 'GetCallerIdentity');
    url.searchParams.set('X-Amz-SignedHeaders', 'host');
    await expect(verifyEksToken(`k8s-aws-v1.${Buffer.from(url.href).toString('base64url')}`, 'prod', [principal], T0)).rejects.toThrow(/x-k8s-aws-id/);
    await expect(verifyEksToken('Bearer-something', 'prod', [principal], T0)).rejects.toThrow(/prefix/);
  });
});
