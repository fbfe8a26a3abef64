/**
 * The shipped steering manifests (infra/kubernetes/steering) name what the code writes and reads: the
 * AssistantPlacement API of src/domain/placement-hint.ts, the assistant selector's default, the annotation.
 * What they do is proven on the real apiserver (test/integration/steering.test.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../scripts/build.js';
import { DEFAULT_CONFIG } from '../../../src/domain/config.js';
import { PLACEMENT_GROUP, PLACEMENT_KIND, PLACEMENT_PLURAL, PLACEMENT_VERSION, STEERED_TO_ANNOTATION } from '../../../src/domain/placement-hint.js';

const dir = path.join(repoRoot, 'infra', 'kubernetes', 'steering');
const objects = (yaml.load(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] }).resources.flatMap(
  (f) => yaml.loadAll(readFileSync(path.join(dir, f), 'utf8')) as Record<string, any>[], // eslint-disable-line @typescript-eslint/no-explicit-any
);
const ofKind = (kind: string) => {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};

describe('the steering manifests', () => {
  it('define the AssistantPlacement API the relocator writes', () => {
    const crd = ofKind('CustomResourceDefinition');
    expect(crd.metadata.name).toBe(`${PLACEMENT_PLURAL}.${PLACEMENT_GROUP}`);
    expect(crd.spec).toMatchObject({ group: PLACEMENT_GROUP, scope: 'Namespaced', names: { plural: PLACEMENT_PLURAL, kind: PLACEMENT_KIND } });
    expect(crd.spec.versions.map((v: { name: string }) => v.name)).toEqual([PLACEMENT_VERSION]);
    const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec;
    expect([...spec.required].sort()).toEqual(['expiresAt', 'hostname', 'node', 'pod', 'statefulSetUid']);
  });

  it("steer only assistant pods on create, ignore their own failures, and take the placements of the pod's namespace", () => {
    const policy = ofKind('MutatingAdmissionPolicy');
    expect(policy.spec.failurePolicy).toBe('Ignore');
    expect(policy.spec.paramKind).toEqual({ apiVersion: `${PLACEMENT_GROUP}/${PLACEMENT_VERSION}`, kind: PLACEMENT_KIND });
    expect(policy.spec.matchConstraints.resourceRules).toEqual([{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }]);
    expect(policy.spec.matchConstraints.objectSelector).toEqual({ matchLabels: DEFAULT_CONFIG.assistantSelector });
    expect(JSON.stringify(policy.spec.mutations)).toContain(STEERED_TO_ANNOTATION);
    const binding = ofKind('MutatingAdmissionPolicyBinding');
    expect(binding.spec.policyName).toBe(policy.metadata.name);
    // No namespace: a namespaced paramKind is then looked up in the namespace of the pod admitted.
    expect(binding.spec.paramRef).toEqual({ selector: {}, parameterNotFoundAction: 'Allow' });
  });
});
