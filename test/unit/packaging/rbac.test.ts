/**
 * The relocator's Kubernetes permissions (infra/kubernetes/relocator/) stay least-privilege: exactly the
 * verbs the relocator uses, no wildcards, no secrets, bound to the group the EKS access entry maps the
 * Lambda role to.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../../scripts/build.js';

const dir = path.join(repoRoot, 'infra', 'kubernetes', 'relocator');

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] };
type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  rules?: Rule[];
  roleRef?: { apiGroup: string; kind: string; name: string };
  subjects?: { apiGroup?: string; kind: string; name: string }[];
};

let kustomization: { resources: string[] };
let manifests: Manifest[];

beforeAll(async () => {
  kustomization = yaml.load(await readFile(path.join(dir, 'kustomization.yaml'), 'utf8')) as typeof kustomization;
  manifests = [];
  for (const file of kustomization.resources) {
    manifests.push(...(yaml.loadAll(await readFile(path.join(dir, file), 'utf8')) as Manifest[]).filter(Boolean));
  }
});

const clusterRole = () => manifests.find((m) => m.kind === 'ClusterRole' && m.metadata.name === 'affinity-relocator')!;

/** The verbs granted on `group/resource`. */
function verbsOn(group: string, resource: string): string[] {
  return clusterRole()
    .rules!.filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource))
    .flatMap((r) => r.verbs)
    .sort();
}

describe('the relocator ClusterRole', () => {
  it('is listed with every manifest of the directory in the kustomization', async () => {
    const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
    expect([...kustomization.resources].sort()).toEqual(files);
    expect(clusterRole()).toBeDefined();
  });

  it('grants no wildcard verb, resource or API group, and no non-resource URL', () => {
    for (const rule of clusterRole().rules!) {
      expect(rule.verbs, JSON.stringify(rule)).not.toContain('*');
      expect(rule.resources, JSON.stringify(rule)).not.toContain('*');
      expect(rule.resources.filter((r) => r.endsWith('/*')), JSON.stringify(rule)).toEqual([]);
      expect(rule.apiGroups, JSON.stringify(rule)).not.toContain('*');
      expect(rule.nonResourceURLs).toBeUndefined();
    }
  });

  it('grants nothing on secrets, and no escalation (bind, escalate, impersonate)', () => {
    for (const rule of clusterRole().rules!) {
      expect(rule.resources).not.toContain('secrets');
      expect(rule.verbs.filter((v) => ['bind', 'escalate', 'impersonate'].includes(v))).toEqual([]);
    }
  });

  it('grants exactly what a relocation uses', () => {
    // patch: the interruption taint only (the admission policy in infra/kubernetes/admission holds it to that).
    expect(verbsOn('', 'nodes')).toEqual(['get', 'list', 'patch', 'watch']);
    expect(verbsOn('', 'nodes/status')).toEqual([]);
    expect(verbsOn('', 'pods')).toEqual(['delete', 'get', 'list', 'watch']);
    expect(verbsOn('apps', 'statefulsets')).toEqual(['get', 'list']);
    expect(verbsOn('', 'persistentvolumeclaims')).toEqual(['get', 'list']);
    expect(verbsOn('', 'persistentvolumes')).toEqual(['get', 'list']);
    expect(verbsOn('', 'events')).toEqual(['create', 'list']);
    expect(verbsOn('events.k8s.io', 'events')).toEqual([]); // the code writes core/v1 Events only
    expect(verbsOn('tekton.dev', 'pipelineruns')).toEqual(['get', 'list']);
    // Inter-pod affinity terms with a namespaceSelector: namespaces are matched by their labels.
    expect(verbsOn('', 'namespaces')).toEqual(['list']);
    // When no node fits now: could a Karpenter NodePool make one?
    expect(verbsOn('karpenter.sh', 'nodepools')).toEqual(['get', 'list']);
    expect(verbsOn('karpenter.sh', 'nodeclaims')).toEqual([]);
    expect(verbsOn('', 'configmaps')).toEqual([]);
    // Steering: its own placements, written before a delete and deleted after; replaced by delete + create.
    expect(verbsOn('affinity-relocator.io', 'assistantplacements')).toEqual(['create', 'delete', 'get', 'list']);
    const granted = clusterRole().rules!.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}`)));
    expect([...new Set(granted)].sort()).toEqual(
      [
        '/nodes',
        '/pods',
        'apps/statefulsets',
        '/persistentvolumeclaims',
        '/persistentvolumes',
        '/events',
        '/namespaces',
        'tekton.dev/pipelineruns',
        'karpenter.sh/nodepools',
        'affinity-relocator.io/assistantplacements',
      ].sort(),
    );
  });

  it('changes nothing but pods (delete), events (create), nodes (patch, held to the interruption taint by admission) and its placements', () => {
    const writes = ['create', 'update', 'patch', 'delete', 'deletecollection'];
    const writable = clusterRole()
      .rules!.filter((r) => r.verbs.some((v) => writes.includes(v)))
      .flatMap((r) => r.resources.map((res) => `${res}:${r.verbs.filter((v) => writes.includes(v)).join(',')}`));
    expect(writable.sort()).toEqual(['assistantplacements:create,delete', 'events:create', 'nodes:patch', 'pods:delete']);
  });

  it('is bound to the group affinity-relocator, which the EKS access entry gives the Lambda role', () => {
    const bindings = manifests.filter((m) => m.kind === 'ClusterRoleBinding');
    expect(bindings).toHaveLength(1);
    expect(bindings[0]!.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'affinity-relocator' });
    expect(bindings[0]!.subjects).toEqual([{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'affinity-relocator' }]);
  });
});

describe("the Role that reads the cluster autoscaler's status", () => {
  const role = () => manifests.find((m) => m.kind === 'Role')! as Manifest & { metadata: { namespace?: string } };

  it('grants get on the ConfigMap kube-system/cluster-autoscaler-status, by name, and nothing else', () => {
    expect(manifests.filter((m) => m.kind === 'Role')).toHaveLength(1);
    expect(role().metadata.namespace).toBe('kube-system');
    expect(role().rules).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['cluster-autoscaler-status'], verbs: ['get'] }]);
  });

  it('is bound in kube-system to the group affinity-relocator', () => {
    const bindings = manifests.filter((m) => m.kind === 'RoleBinding') as (Manifest & { metadata: { namespace?: string } })[];
    expect(bindings).toHaveLength(1);
    expect(bindings[0]!.metadata.namespace).toBe('kube-system');
    expect(bindings[0]!.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role().metadata.name });
    expect(bindings[0]!.subjects).toEqual([{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'affinity-relocator' }]);
  });
});
