/** Karpenter NodePools as the API returns them, read through the schema: what parses is kept, the rest left out. */
import { describe, expect, it } from 'vitest';
import { nodePoolsOf } from '../../../src/cluster/nodepools.js';

/** A karpenter.sh/v1 NodePool as `kubectl get nodepool -o json` shows one (Karpenter's getting-started example). */
const nodePool = {
  apiVersion: 'karpenter.sh/v1',
  kind: 'NodePool',
  metadata: { name: 'default', uid: 'u', resourceVersion: '7', generation: 1 },
  spec: {
    template: {
      metadata: { labels: { team: 'ci' } },
      spec: {
        requirements: [
          { key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] },
          { key: 'karpenter.k8s.aws/instance-generation', operator: 'Gt', values: ['2'] },
          { key: 'node.kubernetes.io/instance-type', operator: 'Exists', minValues: 5 },
        ],
        nodeClassRef: { group: 'karpenter.k8s.aws', kind: 'EC2NodeClass', name: 'default' },
        taints: [{ key: 'ci', value: 'true', effect: 'NoSchedule' }],
        startupTaints: [{ key: 'node.cilium.io/agent-not-ready', effect: 'NoExecute' }],
        expireAfter: '720h',
      },
    },
    limits: { cpu: 1000, memory: '1000Gi' },
    weight: 10,
    disruption: { consolidationPolicy: 'WhenEmptyOrUnderutilized', consolidateAfter: '1m' },
  },
  status: {
    resources: { cpu: '12', memory: '48Gi', nodes: '3', pods: '330' },
    conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: '', lastTransitionTime: '2026-11-26T10:00:00Z' }],
  },
};

describe('nodePoolsOf', () => {
  it('keeps what a decision reads of a NodePool (requirements, labels, taints, limits, weight, usage, conditions)', () => {
    const [pool] = nodePoolsOf([nodePool]);
    expect(pool).toMatchObject({
      metadata: { name: 'default' },
      spec: { template: { metadata: { labels: { team: 'ci' } }, spec: { taints: [{ key: 'ci', value: 'true', effect: 'NoSchedule' }] } }, limits: { cpu: 1000, memory: '1000Gi' } },
      status: { resources: { cpu: '12' }, conditions: [{ type: 'Ready', status: 'True' }] },
    });
    expect(pool?.spec.template.spec.requirements).toHaveLength(3);
    expect(pool?.spec.weight).toBe(10);
  });

  it('leaves out an object that is no NodePool of this shape (another version, a bad edit), and keeps the others', () => {
    const broken = { ...nodePool, metadata: { name: 'broken' }, spec: { template: { spec: { requirements: 'amd64' } } } };
    const nameless = { ...nodePool, metadata: {} };
    expect(nodePoolsOf([broken, nameless, nodePool, null]).map((p) => p.metadata.name)).toEqual(['default']);
  });
});
