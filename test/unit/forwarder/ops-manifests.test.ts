/**
 * The forwarder's Kubernetes manifests (infra/kubernetes/forwarder/) as `kubectl apply -k` would send them:
 * least-privilege RBAC, a hardened pod, two replicas that survive a drain, and an environment the
 * forwarder accepts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import {
  dumpYaml,
  type KubernetesObject,
  loadAllYaml,
  type V1ClusterRole,
  type V1ClusterRoleBinding,
  type V1Deployment,
  type V1EnvVar,
  type V1PodDisruptionBudget,
  type V1PolicyRule,
  type V1Role,
  type V1RoleBinding,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { forwarderSettings } from '../../../src/forwarder/main.js';

const dir = new URL('../../../infra/kubernetes/forwarder/', import.meta.url);
const NAMESPACE = 'affinity-relocator';
const NAME = 'affinity-relocator-forwarder';

const read = (file: string) => readFileSync(new URL(file, dir), 'utf8');
const kustomization = loadAllYaml(read('kustomization.yaml'))[0] as { namespace: string; resources: string[] };
const files = kustomization.resources.map((file) => ({ file, text: read(file) }));
const objects: KubernetesObject[] = files.flatMap(({ text }) => loadAllYaml(text));

function one<T extends KubernetesObject>(kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as T;
}

const clusterRole = () => one<V1ClusterRole>('ClusterRole');
const role = () => one<V1Role>('Role');
const deployment = () => one<V1Deployment>('Deployment');
const podSpec = () => deployment().spec!.template.spec!;
const container = () => {
  const containers = podSpec().containers;
  expect(containers).toHaveLength(1);
  return containers[0]!;
};

/** `group/resource: verbs` for every rule, sorted: what the role grants, in one comparable value. */
function grants(rules: V1PolicyRule[]): string[] {
  return rules.flatMap((r) => (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).map((res) => `${g}/${res}${r.resourceNames ? `(${r.resourceNames.join(',')})` : ''}: ${[...r.verbs].sort().join(',')}`))).sort();
}

describe('the forwarder manifests', () => {
  it('are all listed in the kustomization, which puts them in the affinity-relocator namespace', () => {
    const onDisk = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(onDisk.sort());
    expect(kustomization.namespace).toBe(NAMESPACE);
    expect(one('Namespace').metadata?.name).toBe(NAMESPACE);
    for (const o of objects.filter((o) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind!))) {
      expect(o.metadata?.namespace, `${o.kind} ${o.metadata?.name}`).toBe(NAMESPACE);
    }
  });

  it('use only fields Kubernetes knows (a misspelt field would be dropped, silently without strict validation)', () => {
    for (const { file, text } of files) {
      const raw = yaml.loadAll(text);
      const typed = loadAllYaml(text).map((o: KubernetesObject) => yaml.load(dumpYaml(o)));
      expect(typed, file).toEqual(raw);
    }
  });
});

describe('the forwarder RBAC', () => {
  it('grants no wildcard, nothing on secrets, and no escalation', () => {
    for (const rule of [...clusterRole().rules!, ...role().rules!]) {
      const all = [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs, ...(rule.resourceNames ?? [])];
      expect(all.filter((x) => x.includes('*')), JSON.stringify(rule)).toEqual([]);
      expect(rule.nonResourceURLs).toBeUndefined();
      expect(rule.resources).not.toContain('secrets');
      expect(rule.verbs.filter((v) => ['bind', 'escalate', 'impersonate'].includes(v))).toEqual([]);
    }
  });

  it('grants cluster-wide only reading nodes and pods, which the watcher lists and watches', () => {
    expect(grants(clusterRole().rules!)).toEqual(['/nodes: get,list,watch', '/pods: get,list,watch']);
  });

  it('grants in its own namespace only what leader election does with its lease', () => {
    // `create` cannot be limited to a name; reading and renewing are limited to the forwarder's lease.
    expect(grants(role().rules!)).toEqual([`coordination.k8s.io/leases(${NAME}): get,update`, 'coordination.k8s.io/leases: create']);
  });

  it("binds both to the forwarder's service account", () => {
    const subject = [{ kind: 'ServiceAccount', name: NAME, namespace: NAMESPACE }];
    const crb = one<V1ClusterRoleBinding>('ClusterRoleBinding');
    expect(crb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole().metadata!.name });
    expect(crb.subjects).toEqual(subject);
    const rb = one<V1RoleBinding>('RoleBinding');
    expect(rb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role().metadata!.name });
    expect(rb.subjects).toEqual(subject);
    expect(one<V1ServiceAccount>('ServiceAccount').metadata?.name).toBe(NAME);
    expect(podSpec().serviceAccountName).toBe(NAME);
  });
});

describe('the service account', () => {
  it('carries an IRSA role ARN to replace', () => {
    expect(one<V1ServiceAccount>('ServiceAccount').metadata?.annotations?.['eks.amazonaws.com/role-arn']).toMatch(/^arn:aws:iam::\d{12}:role\/.+/);
  });
});

describe('the Deployment', () => {
  it('runs two replicas that never share a node, so draining one node leaves the other', () => {
    expect(deployment().spec?.replicas).toBe(2);
    const labels = deployment().spec!.template.metadata!.labels;
    expect(deployment().spec?.selector.matchLabels).toEqual(labels);
    const byNode = podSpec().topologySpreadConstraints?.find((c) => c.topologyKey === 'kubernetes.io/hostname');
    expect(byNode).toMatchObject({ maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: labels } });
    expect(deployment().spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
  });

  it('runs as a non-root user without privileges, on a read-only root filesystem', () => {
    expect(podSpec().securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(podSpec().securityContext?.runAsUser).toBeGreaterThan(0);
    expect(container().securityContext).toEqual({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(podSpec().hostNetwork).toBeUndefined();
    expect(podSpec().volumes).toBeUndefined();
  });

  it('probes /healthz for liveness and /readyz for readiness on the ops port', () => {
    const c = container();
    expect(c.ports).toEqual([{ name: 'ops', containerPort: 8080, protocol: 'TCP' }]);
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'ops' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'ops' });
  });

  it('requests CPU and memory and caps memory', () => {
    expect(container().resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container().resources?.limits?.memory).toEqual(expect.any(String));
  });

  it('gives the forwarder its pod name and namespace from the downward API', () => {
    const env = container().env ?? [];
    expect(env.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(env.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
  });

  it('configures a forwarder that starts once the overlay sets CLUSTER_NAME, and refuses to before', () => {
    const env = environment(container().env ?? []);
    expect(() => forwarderSettings(env)).toThrow(/CLUSTER_NAME/);
    const settings = forwarderSettings({ ...env, CLUSTER_NAME: 'prod' });
    expect(settings).toMatchObject({ podName: 'forwarder-7d9f-abcde', namespace: NAMESPACE, leaseName: role().rules![1]!.resourceNames![0] });
    expect(settings.opsPort).toBe(container().ports![0]!.containerPort);
  });
});

describe('the PodDisruptionBudget', () => {
  it("keeps one replica available and selects the Deployment's pods", () => {
    const pdb = one<V1PodDisruptionBudget>('PodDisruptionBudget');
    expect(pdb.spec?.minAvailable).toBe(1);
    expect(pdb.spec?.selector?.matchLabels).toEqual(deployment().spec?.selector.matchLabels);
  });
});

/** The container's environment as the kubelet would set it in a pod of this namespace. */
function environment(vars: V1EnvVar[]): NodeJS.ProcessEnv {
  const downward: Record<string, string> = { 'metadata.name': 'forwarder-7d9f-abcde', 'metadata.namespace': NAMESPACE };
  return Object.fromEntries(vars.map((v) => [v.name, v.value ?? downward[v.valueFrom?.fieldRef?.fieldPath ?? '']]));
}
