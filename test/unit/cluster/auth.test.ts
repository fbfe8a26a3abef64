import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createKubeConfig, kubeConfigOptionsFromEnv } from '../../../src/cluster/auth.js';
import { type LoopbackApi, caData, credentials, signedAt, startLoopbackApi, T0 } from './fixtures/loopback-api.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'auth-test-'));
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a kubeconfig with one cluster per context and returns its path. */
function aKubeconfig(file: string, contexts: string[], current?: string): string {
  const path = join(dir, file);
  const yaml = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    ...contexts.map((c) => `- name: ${c}\n  cluster:\n    server: https://${c}.example:6443`),
    'users:',
    ...contexts.map((c) => `- name: ${c}-user\n  user:\n    token: not-a-real-token`),
    'contexts:',
    ...contexts.map((c) => `- name: ${c}\n  context:\n    cluster: ${c}\n    user: ${c}-user`),
    ...(current ? [`current-context: ${current}`] : []),
  ].join('\n');
  writeFileSync(path, yaml);
  return path;
}

describe('kubeconfig auth', () => {
  it("uses the kubeconfig's current context", async () => {
    const path = aKubeconfig('config', ['dev', 'prod'], 'dev');

    const kc = await createKubeConfig({ mode: 'kubeconfig', path });

    expect(kc.getCurrentCluster()?.server).toBe('https://dev.example:6443');
  });

  it('switches to the context it is given', async () => {
    const path = aKubeconfig('config', ['dev', 'prod'], 'dev');

    const kc = await createKubeConfig({ mode: 'kubeconfig', path, context: 'prod' });

    expect(kc.getCurrentContext()).toBe('prod');
    expect(kc.getCurrentCluster()?.server).toBe('https://prod.example:6443');
  });

  it('names the available contexts when the one it is given does not exist', async () => {
    const path = aKubeconfig('config', ['dev', 'prod'], 'dev');

    await expect(createKubeConfig({ mode: 'kubeconfig', path, context: 'staging' })).rejects.toThrow(
      'kubeconfig has no context "staging"; available: dev, prod',
    );
  });

  it('asks for a context when the kubeconfig has no current one', async () => {
    const path = aKubeconfig('config', ['dev', 'prod']);

    await expect(createKubeConfig({ mode: 'kubeconfig', path })).rejects.toThrow(
      'kubeconfig has no current context; name one (KUBE_CONTEXT); available: dev, prod',
    );
  });

  it("names the caller's own setting when it asks for a context (the CLI's flag, not KUBE_CONTEXT)", async () => {
    const path = aKubeconfig('config', ['dev', 'prod']);
    const settings = { context: '--context NAME', kubeconfig: 'give --kubeconfig FILE or set KUBECONFIG' };

    await expect(createKubeConfig({ mode: 'kubeconfig', path, settings })).rejects.toThrow(
      'kubeconfig has no current context; name one (--context NAME); available: dev, prod',
    );
  });

  it('merges a KUBECONFIG-style list of files, the first current-context winning, as kubectl does', async () => {
    const first = aKubeconfig('a', ['dev']);
    const second = aKubeconfig('b', ['prod'], 'prod');
    const third = aKubeconfig('c', ['lab'], 'lab');

    const kc = await createKubeConfig({ mode: 'kubeconfig', path: [first, second, third].join(delimiter) });

    expect(kc.getContexts().map((c) => c.name)).toEqual(['dev', 'prod', 'lab']);
    expect(kc.getCurrentContext()).toBe('prod');
  });

  it('says which kubeconfig file it could not read', async () => {
    const path = join(dir, 'missing');

    await expect(createKubeConfig({ mode: 'kubeconfig', path })).rejects.toThrow(
      `could not load kubeconfig ${path}: ENOENT`,
    );
  });

  it.skipIf(existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token'))(
    'says no kubeconfig was found instead of falling back to an unauthenticated localhost',
    async () => {
      vi.stubEnv('KUBECONFIG', '');
      vi.stubEnv('HOME', dir);

      await expect(createKubeConfig({ mode: 'kubeconfig' })).rejects.toThrow('no kubeconfig found');
      await expect(createKubeConfig({ mode: 'kubeconfig', settings: { context: '--context NAME', kubeconfig: 'give --kubeconfig FILE or set KUBECONFIG' } })).rejects.toThrow(
        /^no kubeconfig found: .*; give --kubeconfig FILE or set KUBECONFIG$/,
      );
    },
  );
});

describe('in-cluster auth', () => {
  it("talks to the API server's service with the pod's service account token", async () => {
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '10.96.0.1');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', '443');

    const kc = await createKubeConfig({ mode: 'in-cluster' });

    expect(kc.getCurrentCluster()?.server).toBe('https://10.96.0.1:443');
    expect(kc.getCurrentUser()?.authProvider?.config?.tokenFile).toBe(
      '/var/run/secrets/kubernetes.io/serviceaccount/token',
    );
  });

  it('says it is not in a pod when the service variables are missing', async () => {
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', '');

    await expect(createKubeConfig({ mode: 'in-cluster' })).rejects.toThrow(
      'in-cluster auth needs KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT',
    );
  });
});

describe('EKS auth', () => {
  let api: LoopbackApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('sends a current token with every request, renewing it as time passes', async () => {
    api = await startLoopbackApi();
    const clock = { now: T0 };
    const kc = await createKubeConfig({
      mode: 'eks',
      clusterName: 'tekton-prod',
      endpoint: api.endpoint,
      caData,
      region: 'eu-west-1',
      credentials: async () => credentials,
      now: () => clock.now,
    });
    const core = kc.makeApiClient(CoreV1Api);

    await core.readNamespace({ name: 'default' });
    clock.now = T0 + 10 * 60_000;
    await core.readNamespace({ name: 'default' });
    clock.now = T0 + 15 * 60_000;
    await core.readNamespace({ name: 'default' });

    expect(api.authorizations.map(signedAt)).toEqual(['20240115T100000Z', '20240115T100000Z', '20240115T101500Z']);
  });

  it('gives the same current token to Watch and the other fetch-based helpers', async () => {
    const clock = { now: T0 };
    const kc = await createKubeConfig({
      mode: 'eks',
      clusterName: 'tekton-prod',
      endpoint: 'https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com',
      caData,
      region: 'eu-west-1',
      credentials: async () => credentials,
      now: () => clock.now,
    });

    // What Watch, Log, Exec and friends do before each request; the headers are node-fetch's.
    const authorization = async () => {
      const { headers } = await kc.applyToFetchOptions({});
      return (headers as { get(name: string): string | null }).get('Authorization') ?? undefined;
    };

    const first = await authorization();
    clock.now = T0 + 20 * 60_000;
    const later = await authorization();

    expect(signedAt(first)).toBe('20240115T100000Z');
    expect(signedAt(later)).toBe('20240115T102000Z');
  });

  it('names every problem with the cluster settings at once', async () => {
    await expect(
      createKubeConfig({
        mode: 'eks',
        clusterName: 'tekton-prod',
        endpoint: 'http://ABCDEF.gr7.eu-west-1.eks.amazonaws.com',
        caData: 'bm90IGEgY2VydGlmaWNhdGU=',
        region: ' ',
      }),
    ).rejects.toThrow(
      'invalid EKS cluster settings: the region is empty; ' +
        'the endpoint is not an https URL: "http://ABCDEF.gr7.eu-west-1.eks.amazonaws.com"; ' +
        'the CA data is not base64 of a PEM certificate',
    );
  });
});

describe('kubeConfigOptionsFromEnv', () => {
  it('defaults to the kubeconfig named by KUBECONFIG and KUBE_CONTEXT', () => {
    expect(kubeConfigOptionsFromEnv({ KUBECONFIG: '/etc/kube/config', KUBE_CONTEXT: 'prod' })).toEqual({
      mode: 'kubeconfig',
      path: '/etc/kube/config',
      context: 'prod',
    });
    expect(kubeConfigOptionsFromEnv({})).toEqual({ mode: 'kubeconfig', path: undefined, context: undefined });
  });

  it('selects in-cluster auth', () => {
    expect(kubeConfigOptionsFromEnv({ KUBE_AUTH: 'in-cluster' })).toEqual({ mode: 'in-cluster' });
  });

  it('selects EKS auth with the cluster from the environment', () => {
    const env = {
      KUBE_AUTH: 'eks',
      EKS_CLUSTER_NAME: 'tekton-prod',
      EKS_ENDPOINT: 'https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com',
      EKS_CA_DATA: 'LS0tLS1CRUdJTi...',
      AWS_REGION: 'eu-west-1',
    };

    expect(kubeConfigOptionsFromEnv(env)).toEqual({
      mode: 'eks',
      clusterName: 'tekton-prod',
      endpoint: 'https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com',
      caData: 'LS0tLS1CRUdJTi...',
      region: 'eu-west-1',
    });
  });

  it('names every missing EKS variable in one error', () => {
    expect(() => kubeConfigOptionsFromEnv({ KUBE_AUTH: 'eks', EKS_CLUSTER_NAME: 'tekton-prod', EKS_CA_DATA: ' ' })).toThrow(
      'KUBE_AUTH=eks needs EKS_ENDPOINT, EKS_CA_DATA, AWS_REGION (missing or empty)',
    );
  });

  it('refuses an unknown KUBE_AUTH', () => {
    expect(() => kubeConfigOptionsFromEnv({ KUBE_AUTH: 'iam' })).toThrow(
      'KUBE_AUTH must be eks, in-cluster or kubeconfig, got "iam"',
    );
  });
});
