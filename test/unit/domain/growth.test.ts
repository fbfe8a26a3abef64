/** When no node fits now: can a Karpenter NodePool or the cluster autoscaler add one that does? */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../src/domain/config.js';
import { type GrowthInput, growthFor, type NodePool, pairGrowthFor, type PairGrowthInput } from '../../../src/domain/growth.js';
import { aLocalVolume, aNode, anAssistantOf, aPod, aStatefulSet, aZonalVolume, NOW } from './builders.js';

const ZONE = 'topology.kubernetes.io/zone';

function aNodePool(name: string, o: Partial<NodePool['spec']['template']['spec']> & { labels?: Record<string, string>; limits?: Record<string, string>; used?: Record<string, string> } = {}): NodePool {
  const { labels, limits, used, ...spec } = o;
  return {
    metadata: { name },
    spec: {
      template: { ...(labels ? { metadata: { labels } } : {}), spec: { requirements: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }], ...spec } },
      ...(limits ? { limits } : {}),
    },
    ...(used ? { status: { resources: used } } : {}),
  };
}

const assistant = () => anAssistantOf(aStatefulSet()).on('w1').requesting({ cpu: '100m', memory: '64Mi' });

function input(o: Partial<GrowthInput> = {}): GrowthInput {
  return {
    pod: assistant().build(),
    volumes: [],
    badNode: 'w1',
    nodes: [aNode('w1').cordoned().build()],
    nodePools: [],
    clusterAutoscaler: false,
    now: NOW,
    config: DEFAULT_CONFIG,
    ...o,
  };
}

describe('Karpenter NodePools', () => {
  it('counts on a NodePool that constrains nothing the assistant needs, and names it', () => {
    const g = growthFor(input({ nodePools: [aNodePool('default')], volumes: [aZonalVolume('pv-a', 'us-east-1a')] }));
    expect(g).toEqual({ canGrow: true, by: 'NodePool default', message: 'NodePool default can create a node that takes it' });
  });

  it("blocks when the NodePool's zones exclude the volume's zone, and counts on one whose zones include it", () => {
    const other = aNodePool('zone-b', { requirements: [{ key: ZONE, operator: 'In', values: ['us-east-1b', 'us-east-1c'] }] });
    const g = growthFor(input({ nodePools: [other], volumes: [aZonalVolume('pv-a', 'us-east-1a')] }));
    expect(g.canGrow).toBe(false);
    expect(g.message).toMatch(/^NodePool zone-b cannot create a node that fits \(such a node is outside the node affinity of volume pv-a \(topology.kubernetes.io\/zone In us-east-1a\)\)$/);

    const notB = aNodePool('not-b', { requirements: [{ key: ZONE, operator: 'NotIn', values: ['us-east-1b'] }] });
    expect(growthFor(input({ nodePools: [other, notB], volumes: [aZonalVolume('pv-a', 'us-east-1a')] }))).toMatchObject({ canGrow: true, by: 'NodePool not-b' });
  });

  it('blocks when the NodePool has reached its limits, and counts on it while they leave room for the assistant', () => {
    const full = aNodePool('full', { limits: { cpu: '16' }, used: { cpu: '16' } });
    expect(growthFor(input({ nodePools: [full] }))).toEqual({ canGrow: false, message: 'NodePool full has reached its limits (cpu: 16, 16 in use)' });
    const almost = aNodePool('almost', { limits: { cpu: '16', memory: '64Gi' }, used: { cpu: '15950m', memory: '1Gi' } });
    expect(growthFor(input({ nodePools: [almost] })).message).toMatch(/reached its limits \(cpu: 16, 15950m in use\)/);
    const nodes = aNodePool('nodes', { limits: { nodes: '3' }, used: { nodes: '3' } });
    expect(growthFor(input({ nodePools: [nodes] })).canGrow).toBe(false);
    const room = aNodePool('room', { limits: { cpu: '16', nodes: '3' }, used: { cpu: '8', nodes: '2' } });
    expect(growthFor(input({ nodePools: [room] }))).toMatchObject({ canGrow: true, by: 'NodePool room' });
  });

  it("needs the NodePool's taints tolerated, but not its startup taints", () => {
    const gpu = { key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' };
    const tainted = aNodePool('gpu', { taints: [gpu] });
    expect(growthFor(input({ nodePools: [tainted] })).message).toMatch(/NodePool gpu cannot create a node that fits \(such a node has untolerated taint nvidia.com\/gpu=true:NoSchedule\)/);
    const tolerant = assistant().tolerating({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }).build();
    expect(growthFor(input({ nodePools: [tainted], pod: tolerant })).canGrow).toBe(true);
    const startup = aNodePool('cni', { startupTaints: [{ key: 'node.cilium.io/agent-not-ready', effect: 'NoSchedule' }] });
    expect(growthFor(input({ nodePools: [startup] })).canGrow).toBe(true);
  });

  it("matches the pod's nodeSelector against the NodePool's labels and requirements (a label it does not set is absent)", () => {
    const pod = assistant().withNodeSelector({ pool: 'ci' }).build();
    expect(growthFor(input({ pod, nodePools: [aNodePool('plain')] })).message).toMatch(/such a node does not match the pod's nodeSelector/);
    expect(growthFor(input({ pod, nodePools: [aNodePool('labelled', { labels: { pool: 'ci' } })] })).canGrow).toBe(true);
    const required = aNodePool('required', { requirements: [{ key: 'pool', operator: 'In', values: ['ci', 'build'] }] });
    expect(growthFor(input({ pod, nodePools: [required] })).canGrow).toBe(true);
    const otherValue = aNodePool('other', { requirements: [{ key: 'pool', operator: 'In', values: ['build'] }] });
    expect(growthFor(input({ pod, nodePools: [otherValue] })).canGrow).toBe(false);
  });

  it("matches required node affinity (Gt on a NodePool's numeric label, NotIn on the arch)", () => {
    const affinity = (key: string, operator: string, values: string[]) => ({
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key, operator, values }] }] } },
    });
    const big = aNodePool('big', { requirements: [{ key: 'example.com/cpus', operator: 'Gt', values: ['8'] }] });
    const small = aNodePool('small', { requirements: [{ key: 'example.com/cpus', operator: 'Lt', values: ['4'] }] });
    const wantsBig = assistant().withAffinity(affinity('example.com/cpus', 'Gt', ['6'])).build();
    expect(growthFor(input({ pod: wantsBig, nodePools: [small] })).canGrow).toBe(false);
    expect(growthFor(input({ pod: wantsBig, nodePools: [small, big] }))).toMatchObject({ by: 'NodePool big' });
    const arm = aNodePool('arm', { requirements: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['arm64'] }] });
    const notArm = assistant().withAffinity(affinity('kubernetes.io/arch', 'NotIn', ['arm64'])).build();
    expect(growthFor(input({ pod: notArm, nodePools: [arm] })).canGrow).toBe(false);
    expect(growthFor(input({ pod: notArm, nodePools: [aNodePool('any-arch')] })).canGrow).toBe(true);
  });

  it('does not count on a NodePool that is being deleted or not Ready', () => {
    const deleting = { ...aNodePool('old'), metadata: { name: 'old', deletionTimestamp: NOW.toISOString() } };
    const notReady = { ...aNodePool('broken'), status: { conditions: [{ type: 'Ready', status: 'False', message: 'NodeClass not found' }] } };
    const g = growthFor(input({ nodePools: [deleting, notReady] }));
    expect(g).toEqual({ canGrow: false, message: 'NodePool broken is not Ready (NodeClass not found); NodePool old is being deleted' });
  });
});

describe('the cluster autoscaler', () => {
  it('counts on it when a node like an existing one would take the assistant (only room is missing), the bad node included', () => {
    const g = growthFor(input({ clusterAutoscaler: true, nodes: [aNode('w1').cordoned().tainted('node.kubernetes.io/unschedulable').build()] }));
    expect(g).toEqual({ canGrow: true, by: 'cluster-autoscaler', message: 'cluster-autoscaler can add a node like w1 (only room is missing)' });
  });

  it("does not when no node group's nodes could take it (the volume's zone has none)", () => {
    const nodes = [aNode('w1').cordoned().inZone('us-east-1b').build(), aNode('w2').inZone('us-east-1c').build()];
    const g = growthFor(input({ clusterAutoscaler: true, nodes, volumes: [aZonalVolume('pv-a', 'us-east-1a')] }));
    expect(g).toEqual({ canGrow: false, message: "cluster-autoscaler: no node group's nodes would pass the node filters (not only room is missing)" });
  });
});

describe('what nothing can grow for', () => {
  it('blocks an assistant whose node-local volume is on the bad node, whatever could add nodes', () => {
    const g = growthFor(input({ clusterAutoscaler: true, nodePools: [aNodePool('default')], volumes: [aLocalVolume('local-pv', 'w1')] }));
    expect(g).toEqual({ canGrow: false, message: 'volume local-pv is local to w1: no new node can take it' });
  });

  it('says so when there is neither Karpenter nor the cluster autoscaler', () => {
    expect(growthFor(input())).toEqual({ canGrow: false, message: 'neither Karpenter NodePools nor the cluster autoscaler were found' });
  });
});

describe('a node for the replacement and the TaskRun pod it holds (pairGrowthFor)', () => {
  const held = (o: { selects?: Record<string, string>; cpu?: string } = {}) => {
    const p = aPod('run-second-pod', { requests: { cpu: o.cpu ?? '3' } });
    if (o.selects) p.spec!.nodeSelector = o.selects;
    return p;
  };
  const pair = (o: Partial<PairGrowthInput> = {}): PairGrowthInput => {
    const { pod, volumes, ...rest } = input();
    return { ...rest, assistant: pod, held: held(), assistantVolumes: volumes, heldVolumes: [], ...o };
  };
  const weighted = (p: NodePool, weight: number): NodePool => ({ ...p, spec: { ...p.spec, weight } });

  it('counts on the NodePool Karpenter picks for the replacement when it can take both', () => {
    expect(pairGrowthFor(pair({ nodePools: [aNodePool('default')] }))).toMatchObject({ canGrow: true, by: 'NodePool default' });
  });

  it('answers for the heaviest NodePool that takes the replacement, even when a lighter one would take the pod too', () => {
    const red = aNodePool('red', { labels: { team: 'red' } });
    const plain = aNodePool('plain');
    const g = pairGrowthFor(pair({ held: held({ selects: { team: 'red' } }), nodePools: [weighted(red, 1), weighted(plain, 10)] }));
    expect(g).toMatchObject({ canGrow: false, message: expect.stringContaining('NodePool plain, which Karpenter would choose for the replacement, cannot create a node') });
    expect(pairGrowthFor(pair({ held: held({ selects: { team: 'red' } }), nodePools: [weighted(red, 10), weighted(plain, 1)] }))).toMatchObject({ canGrow: true, by: 'NodePool red' });
  });

  it('counts both pods against the NodePool limits', () => {
    const g = pairGrowthFor(pair({ nodePools: [aNodePool('small', { limits: { cpu: '2' } })] }));
    expect(g).toMatchObject({ canGrow: false, message: expect.stringContaining('has reached its limits (cpu: 2, 0 in use) for both pods') });
  });

  it('for the cluster autoscaler, needs a node like an existing one with room for the sum', () => {
    const big = aNode('w2').build();
    big.status = { ...big.status, allocatable: { cpu: '8', memory: '8Gi', pods: '110' } };
    const small = aNode('w2').build();
    small.status = { ...small.status, allocatable: { cpu: '2', memory: '8Gi', pods: '110' } };
    expect(pairGrowthFor(pair({ clusterAutoscaler: true, nodes: [big] }))).toMatchObject({ canGrow: true, by: 'cluster-autoscaler' });
    expect(pairGrowthFor(pair({ clusterAutoscaler: true, nodes: [small] }))).toMatchObject({ canGrow: false });
  });
});
