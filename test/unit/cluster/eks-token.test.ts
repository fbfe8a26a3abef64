import { createHash, createHmac } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type AwsCredentials,
  createEksToken,
  EKS_TOKEN_RENEW_AFTER_MS,
  EksTokenSource,
  stsHostname,
} from '../../../src/cluster/eks-token.js';

// AWS's documentation example keys: well-known, valid nowhere.
const credentials: AwsCredentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const sessionCredentials: AwsCredentials = {
  ...credentials,
  accessKeyId: 'ASIAEXAMPLE',
  sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE+/token=with*odd(chars)',
};
const T0 = Date.parse('2024-01-15T10:00:00Z');
const MINUTE = 60_000;

/** The presigned URL inside a token. */
function urlOf(token: string): URL {
  expect(token.startsWith('k8s-aws-v1.')).toBe(true);
  const encoded = token.slice('k8s-aws-v1.'.length);
  expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/); // base64url without padding
  return new URL(Buffer.from(encoded, 'base64url').toString('utf8'));
}

const hex = (data: string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * The SigV4 query-string signature of `url`, computed from the AWS documentation's algorithm as STS does
 * when it verifies the URL: canonical request (empty payload), string to sign, derived key, HMAC.
 */
function sigV4Signature(url: URL, clusterName: string, secretAccessKey: string, region: string): string {
  const params = [...url.searchParams].filter(([name]) => name !== 'X-Amz-Signature');
  const canonicalQuery = params
    .map(([name, value]) => [rfc3986(name), rfc3986(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const canonicalRequest = [
    'GET',
    '/',
    canonicalQuery,
    `host:${url.host}`,
    `x-k8s-aws-id:${clusterName}`,
    '',
    'host;x-k8s-aws-id',
    hex(''),
  ].join('\n');
  const amzDate = url.searchParams.get('X-Amz-Date') ?? '';
  const day = amzDate.slice(0, 8);
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, `${day}/${region}/sts/aws4_request`, hex(canonicalRequest)].join(
    '\n',
  );
  const dateKey = hmac(`AWS4${secretAccessKey}`, day);
  const signingKey = hmac(hmac(hmac(dateKey, region), 'sts'), 'aws4_request');
  return hmac(signingKey, stringToSign).toString('hex');
}

describe('an EKS token', () => {
  const request = { clusterName: 'tekton-prod', region: 'eu-west-1', credentials, signingDate: new Date(T0) };

  it('is a presigned GetCallerIdentity URL of the regional STS endpoint, as aws eks get-token makes it', async () => {
    const url = urlOf(await createEksToken(request));

    expect(url.protocol).toBe('https:');
    expect(url.host).toBe('sts.eu-west-1.amazonaws.com');
    expect(url.pathname).toBe('/');
    const q = url.searchParams;
    expect(q.get('Action')).toBe('GetCallerIdentity');
    expect(q.get('Version')).toBe('2011-06-15');
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(q.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20240115/eu-west-1/sts/aws4_request');
    expect(q.get('X-Amz-Date')).toBe('20240115T100000Z');
    expect(q.get('X-Amz-Expires')).toBe('60');
    expect(q.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(q.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    // aws-iam-authenticator rejects any parameter outside its allow-list.
    expect([...q.keys()].sort()).toEqual([
      'Action',
      'Version',
      'X-Amz-Algorithm',
      'X-Amz-Credential',
      'X-Amz-Date',
      'X-Amz-Expires',
      'X-Amz-Signature',
      'X-Amz-SignedHeaders',
    ]);
  });

  it('carries a valid SigV4 signature over the cluster id header', async () => {
    const url = urlOf(await createEksToken(request));

    expect(url.searchParams.get('X-Amz-Signature')).toBe(
      sigV4Signature(url, 'tekton-prod', credentials.secretAccessKey, 'eu-west-1'),
    );
  });

  it('is not valid for another cluster', async () => {
    const url = urlOf(await createEksToken(request));

    expect(url.searchParams.get('X-Amz-Signature')).not.toBe(
      sigV4Signature(url, 'tekton-staging', credentials.secretAccessKey, 'eu-west-1'),
    );
  });

  it('signs the session token of temporary credentials', async () => {
    const url = urlOf(await createEksToken({ ...request, credentials: sessionCredentials }));

    expect(url.searchParams.get('X-Amz-Security-Token')).toBe(sessionCredentials.sessionToken);
    expect(url.searchParams.get('X-Amz-Signature')).toBe(
      sigV4Signature(url, 'tekton-prod', sessionCredentials.secretAccessKey, 'eu-west-1'),
    );
  });

  it('is the same for the same clock and credentials', async () => {
    expect(await createEksToken(request)).toBe(await createEksToken(request));
  });

  it('never contains the secret access key', async () => {
    const token = await createEksToken(request);

    expect(token).not.toContain(credentials.secretAccessKey);
    expect(urlOf(token).href).not.toContain(credentials.secretAccessKey);
  });
});

describe('the STS endpoint', () => {
  it('is regional, with the China partition suffix in China regions', () => {
    expect(stsHostname('us-east-1')).toBe('sts.us-east-1.amazonaws.com');
    expect(stsHostname('cn-north-1')).toBe('sts.cn-north-1.amazonaws.com.cn');
  });
});

describe('EksTokenSource', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  function aTokenSource(provide: () => Promise<AwsCredentials> = async () => credentials) {
    const clock = { now: T0 };
    let credentialCalls = 0;
    const source = new EksTokenSource({
      clusterName: 'tekton-prod',
      region: 'eu-west-1',
      credentials: () => {
        credentialCalls++;
        return provide();
      },
      now: () => clock.now,
    });
    return { source, clock, credentialCalls: () => credentialCalls };
  }
  const signedAt = (token: string) => urlOf(token).searchParams.get('X-Amz-Date');

  it('reuses its token for 14 minutes, then signs a new one', async () => {
    const { source, clock, credentialCalls } = aTokenSource();

    const first = await source.getToken();
    clock.now = T0 + EKS_TOKEN_RENEW_AFTER_MS - 1;
    expect(await source.getToken()).toBe(first);
    expect(credentialCalls()).toBe(1);

    clock.now = T0 + 14 * MINUTE;
    const renewed = await source.getToken();
    expect(renewed).not.toBe(first);
    expect(signedAt(renewed)).toBe('20240115T101400Z');
    expect(credentialCalls()).toBe(2);
  });

  it('renews early when the credentials that signed the token expire', async () => {
    const expiring = { ...sessionCredentials, expiration: new Date(T0 + 5 * MINUTE) };
    const { source, clock } = aTokenSource(async () => expiring);

    const first = await source.getToken();
    clock.now = T0 + 5 * MINUTE;

    expect(signedAt(await source.getToken())).toBe('20240115T100500Z');
    expect(signedAt(first)).toBe('20240115T100000Z');
  });

  it('gives concurrent callers one shared renewal', async () => {
    let release!: (c: AwsCredentials) => void;
    const slowCredentials = new Promise<AwsCredentials>((resolve) => (release = resolve));
    const { source, credentialCalls } = aTokenSource(() => slowCredentials);

    const callers = [source.getToken(), source.getToken(), source.getToken()];
    release(credentials);
    const tokens = await Promise.all(callers);

    expect(credentialCalls()).toBe(1);
    expect(new Set(tokens).size).toBe(1);
  });

  it("signs with the AWS SDK's default credential chain when given no credentials", async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDFROMENV');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', credentials.secretAccessKey);
    vi.stubEnv('AWS_SESSION_TOKEN', '');
    const source = new EksTokenSource({ clusterName: 'tekton-prod', region: 'eu-west-1', now: () => T0 });

    const url = urlOf(await source.getToken());

    expect(url.searchParams.get('X-Amz-Credential')).toBe('AKIDFROMENV/20240115/eu-west-1/sts/aws4_request');
  });

  it('reports a failed renewal without secrets and tries again on the next call', async () => {
    let fail = true;
    const { source } = aTokenSource(async () => {
      if (fail) throw new Error('Could not load credentials from any providers');
      return credentials;
    });

    const error = await source.getToken().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toBe('could not create an EKS token for cluster tekton-prod (eu-west-1)');
    expect((error?.cause as Error).message).toBe('Could not load credentials from any providers');

    fail = false;
    expect(signedAt(await source.getToken())).toBe('20240115T100000Z');
  });
});
