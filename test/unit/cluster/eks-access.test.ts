/**
 * The Lambdas' own way to an EKS cluster (no client-node KubeConfig): the cluster's CA is trusted and a
 * current EKS token goes with every request made by KubeHttpClient, against an HTTPS server on the loopback.
 */
import { rootCertificates } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createEksAccess } from '../../../src/cluster/eks-access.js';
import { KubeHttpClient } from '../../../src/cluster/http.js';
import { ConfigError } from '../../../src/config/env.js';
import { lambdaClusterAccess } from '../../../src/lambda/runtime.js';
import { caData, credentials, type LoopbackApi, signedAt, startLoopbackApi, T0 } from './fixtures/loopback-api.js';

let api: LoopbackApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

describe('EKS access for the Lambdas', () => {
  it('trusts the cluster CA and sends a current token with every request, renewed as time passes', async () => {
    api = await startLoopbackApi();
    const clock = { now: T0 };
    const access = await createEksAccess({
      mode: 'eks',
      clusterName: 'tekton-prod',
      endpoint: api.endpoint,
      caData,
      region: 'eu-west-1',
      credentials: async () => credentials,
      now: () => clock.now,
    });
    const http = new KubeHttpClient(access);

    expect(await http.request({ method: 'GET', path: '/api/v1/namespaces/default' })).toMatchObject({ metadata: { name: 'default' } });
    clock.now = T0 + 10 * 60_000;
    await http.request({ method: 'GET', path: '/api/v1/namespaces/default' });
    clock.now = T0 + 15 * 60_000;
    await http.request({ method: 'GET', path: '/api/v1/namespaces/default' });

    expect(api.authorizations.map(signedAt)).toEqual(['20240115T100000Z', '20240115T100000Z', '20240115T101500Z']);
  });

  it('refuses a server whose certificate the cluster CA did not sign', async () => {
    api = await startLoopbackApi();
    // A real CA, but not the one behind the server's (self-signed) certificate.
    const otherCa = Buffer.from(rootCertificates[0]!).toString('base64');
    const access = await createEksAccess({ mode: 'eks', clusterName: 'c', endpoint: api.endpoint, caData: otherCa, region: 'eu-west-1', credentials: async () => credentials });
    await expect(new KubeHttpClient(access).request({ method: 'GET', path: '/api/v1/namespaces/default' })).rejects.toThrow(/self.signed certificate/);
    expect(api.authorizations).toEqual([]);
  });

  it('names every problem with the cluster settings at once', async () => {
    await expect(
      createEksAccess({ mode: 'eks', clusterName: 'tekton-prod', endpoint: 'http://x.eks.amazonaws.com', caData: 'bm90IGEgY2VydGlmaWNhdGU=', region: ' ' }),
    ).rejects.toThrow(
      'invalid EKS cluster settings: the region is empty; the endpoint is not an https URL: "http://x.eks.amazonaws.com"; the CA data is not base64 of a PEM certificate',
    );
  });

  it('is the only way the functions reach a cluster: another KUBE_AUTH is a configuration error naming it', async () => {
    await expect(lambdaClusterAccess({ KUBE_AUTH: 'kubeconfig' })).rejects.toThrow(ConfigError);
    await expect(lambdaClusterAccess({ KUBE_AUTH: 'in-cluster' })).rejects.toThrow('KUBE_AUTH=eks, not in-cluster');
    await expect(lambdaClusterAccess({ KUBE_AUTH: 'eks' })).rejects.toThrow('KUBE_AUTH=eks needs EKS_CLUSTER_NAME, EKS_ENDPOINT, EKS_CA_DATA, AWS_REGION');
  });
});
