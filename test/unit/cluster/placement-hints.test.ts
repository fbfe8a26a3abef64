/** AssistantPlacements as the API returns them, read back into hints; and which 404 means "not installed". */
import { describe, expect, it } from 'vitest';
import { isMissingNamespace, placementHintsOf, placementsPath } from '../../../src/cluster/placement-hints.js';

/** One as `kubectl get assistantplacement -o json` shows it. */
const stored = {
  apiVersion: 'affinity-relocator.io/v1alpha1',
  kind: 'AssistantPlacement',
  metadata: { name: 'affinity-assistant-0123456789-0', namespace: 'ci', uid: 'u', resourceVersion: '7', creationTimestamp: '2026-11-25T12:00:00Z' },
  spec: {
    pod: 'affinity-assistant-0123456789-0',
    statefulSetUid: '0b6f0a52-8c1e-4a7e-9d61-2f0f5e0c9a11',
    node: 'ip-10-0-1-2.ec2.internal',
    hostname: 'ip-10-0-1-2',
    heldPod: { name: 'pr-1-second-pod', uid: 'f3c2a9b7-0000-4000-8000-000000000001' },
    expiresAt: '2026-11-25T12:05:00Z',
  },
};

describe('placements read back', () => {
  it('become hints with their namespace', () => {
    expect(placementHintsOf([stored])).toEqual([{ namespace: 'ci', ...stored.spec }]);
  });

  it('leave out what does not parse (another version, a missing field)', () => {
    const { node: _node, ...noNode } = stored.spec;
    expect(placementHintsOf([{ ...stored, spec: noNode }, { metadata: {} }, null, stored])).toHaveLength(1);
  });

  it('are created in their namespace, its name encoded', () => {
    expect(placementsPath('ci')).toBe('/apis/affinity-relocator.io/v1alpha1/namespaces/ci/assistantplacements');
  });

  it("tell a missing namespace (the apiserver's Status names it) from a missing API", () => {
    expect(isMissingNamespace({ kind: 'Status', reason: 'NotFound', message: 'namespaces "ci" not found', details: { name: 'ci', kind: 'namespaces' } })).toBe(true);
    expect(isMissingNamespace({ kind: 'Status', reason: 'NotFound', message: 'the server could not find the requested resource', details: {} })).toBe(false);
    expect(isMissingNamespace('404 page not found')).toBe(false);
  });
});
