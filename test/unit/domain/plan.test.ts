import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type RelocatorConfig } from '../../../src/domain/config.js';
import { roomRejection, summarize } from '../../../src/domain/feasibility.js';
import { type Decision, type Observation, planRelocation } from '../../../src/domain/plan.js';
import { podRequests } from '../../../src/domain/resources.js';
import { aLocalVolume, aNode, anAssistantOf, aPipelineRun, aPod, aStatefulSet, aZonalVolume, ago, NOW } from './builders.js';

const pr = aPipelineRun();
const sts = aStatefulSet(undefined, pr);
const w1 = aNode('w1');
const w2 = aNode('w2');
const controlPlane = aNode('cp').tainted('node-role.kubernetes.io/control-plane');

function observe(o: Partial<Observation> = {}): Observation {
  const node = o.node ?? w1.build();
  return {
    pod: anAssistantOf(sts).on('w1').build(),
    node,
    statefulSet: sts,
    pipelineRun: pr,
    nodes: [controlPlane.build(), node, w2.build()],
    volumes: [],
    recentRelocations: 0,
    now: NOW,
    ...o,
  };
}
/**
 * Both stages, as the relocator runs them: plan; on `find-placement`, stage 2 over the candidates with
 * the pods given per node (what the relocator would read); plan again with the placement.
 */
function plan(o: Partial<Observation>, c: Partial<RelocatorConfig> = {}, podsOn: Record<string, V1Pod[]> = {}): Decision {
  const obs = observe(o);
  // What can grow the cluster has tests of its own (growth.test.ts): here nothing can.
  const config: RelocatorConfig = { ...DEFAULT_CONFIG, whenNoNodeFits: 'block', ...c };
  const first = planRelocation(obs, config);
  if (first.action !== 'find-placement') return first;
  const byName = new Map(obs.nodes.map((n) => [n.metadata!.name!, n]));
  const termPods = Object.values(podsOn).flat().map((p) => ({ pod: p, node: byName.get(p.spec!.nodeName!) }));
  const room = (name: string) =>
    roomRejection({ pod: obs.pod!, request: podRequests(obs.pod!), node: byName.get(name)!, nodePods: podsOn[name] ?? [], termPods, antiAffinityPods: termPods, nsLabels: () => undefined });
  if (first.badNode && room(first.badNode.metadata!.name!) === undefined) {
    return planRelocation({ ...obs, placement: { node: undefined, summary: 'it would come back', backOnBadNode: true } }, config);
  }
  const rejections = new Map(first.feasibility.rejections);
  for (const name of first.candidates) {
    const why = room(name);
    if (why === undefined) return planRelocation({ ...obs, placement: { node: name, summary: `${name} can take it`, backOnBadNode: false } }, config);
    rejections.set(why, (rejections.get(why) ?? 0) + 1);
  }
  return planRelocation({ ...obs, placement: { node: undefined, summary: summarize(0, obs.nodes.length, rejections), backOnBadNode: false } }, config);
}
/** The decision's message (every decision but `find-placement` has one). */
const msg = (d: Decision): string => ('message' in d ? d.message : '');
const cordonedW1 = () => aNode('w1').cordoned().build();

describe('planning the relocation of one assistant', () => {
  it('deletes the assistant from a cordoned node when another node fits', () => {
    const d = plan({ node: cordonedW1() });
    expect(d).toMatchObject({ action: 'delete', podUid: 'pod-uid-1', force: false, targets: ['w2'] });
    expect(d.action === 'delete' && d.message).toMatch(/delete ci\/affinity-assistant-0123456789-0 \(uid pod-uid-1\) from w1 because the node is cordoned \(spec.unschedulable\); w2 can take it/);
  });

  it('leaves an assistant on a healthy node alone (a spoofed or stale event)', () => {
    expect(plan({})).toMatchObject({ action: 'none', outcome: 'skipped', reason: 'healthy' });
  });

  it('skips a trigger about an older pod of the same name', () => {
    expect(plan({ node: cordonedW1(), expected: { uid: 'old-uid' } })).toMatchObject({ outcome: 'skipped', reason: 'stale' });
  });

  it('skips a trigger about a node the pod is no longer on', () => {
    expect(plan({ node: cordonedW1(), expected: { nodeName: 'w0' } })).toMatchObject({ outcome: 'skipped', reason: 'stale' });
  });

  it('leaves unbound, terminating and vanished pods alone', () => {
    expect(plan({ pod: anAssistantOf(sts).build() })).toMatchObject({ reason: 'not-bound' });
    expect(plan({ node: cordonedW1(), pod: anAssistantOf(sts).on('w1').terminating().build() })).toMatchObject({ reason: 'already-terminating' });
    expect(plan({ pod: undefined })).toMatchObject({ reason: 'gone' });
  });

  it('never touches a pod with the labels that is not owned through a StatefulSet by a PipelineRun', () => {
    expect(plan({ node: cordonedW1(), pod: anAssistantOf(sts).on('w1').withoutOwner().build() })).toMatchObject({ reason: 'not-an-assistant' });
    const foreign = aStatefulSet('affinity-assistant-0123456789', null);
    expect(plan({ node: cordonedW1(), statefulSet: foreign })).toMatchObject({ reason: 'not-an-assistant' });
  });

  it('leaves the assistant of a finished, deleted or vanished PipelineRun alone', () => {
    expect(plan({ node: cordonedW1(), pipelineRun: aPipelineRun('pr-1', { succeeded: 'True' }) })).toMatchObject({ reason: 'pipelinerun-finished' });
    expect(plan({ node: cordonedW1(), pipelineRun: aPipelineRun('pr-1', { succeeded: 'False' }) })).toMatchObject({ reason: 'pipelinerun-finished' });
    expect(plan({ node: cordonedW1(), pipelineRun: aPipelineRun('pr-1', { deleting: true }) })).toMatchObject({ reason: 'pipelinerun-finished' });
    expect(plan({ node: cordonedW1(), pipelineRun: undefined })).toMatchObject({ reason: 'pipelinerun-finished' });
    expect(plan({ node: cordonedW1(), statefulSet: undefined })).toMatchObject({ reason: 'gone' });
  });

  it('reports, and does not delete, a pod that tolerates the cordon (it would come straight back)', () => {
    const d = plan({ node: cordonedW1(), pod: anAssistantOf(sts).on('w1').tolerating({ operator: 'Exists' }).build() });
    expect(d).toMatchObject({ action: 'none', outcome: 'blocked', reason: 'tolerates-bad-node' });
    expect(msg(d)).toMatch(/a replacement would be scheduled straight back/);
    const tainted = aNode('w1').tainted('karpenter.sh/disrupted').build();
    const d2 = plan({ node: tainted, pod: anAssistantOf(sts).on('w1').tolerating({ key: 'karpenter.sh/disrupted', operator: 'Exists' }).build() });
    expect(d2).toMatchObject({ action: 'none', outcome: 'blocked', reason: 'tolerates-bad-node' });
  });

  it('relocates a pod whose toleration of the not-ready taint is only temporary', () => {
    const notReady = aNode('w1').notReady('False', ago(120_000)).tainted('node.kubernetes.io/not-ready', 'NoExecute', undefined, ago(120_000)).build();
    const temporary = { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 };
    expect(plan({ node: notReady, pod: anAssistantOf(sts).on('w1').tolerating(temporary).build() })).toMatchObject({ action: 'delete', force: true });
  });

  it('blocks when a NoExecute-tolerating pod on a NotReady node would be scheduled back', () => {
    const notReady = aNode('w1').notReady('False', ago(120_000)).build();
    const d = plan({ node: notReady, pod: anAssistantOf(sts).on('w1').tolerating({ operator: 'Exists' }).build() }, {});
    expect(d).toMatchObject({ action: 'none', outcome: 'blocked', reason: 'tolerates-bad-node' });
  });

  it('blocks when the volume is pinned to a zone whose other nodes are all unschedulable', () => {
    const nodes = [cordonedW1(), aNode('w2').cordoned().build(), aNode('w3').inZone('us-east-1b').build()];
    const d = plan({ node: nodes[0], nodes, volumes: [aZonalVolume('pv-a', 'us-east-1a')], pod: anAssistantOf(sts).on('w1').mounting('c').build() });
    expect(d).toMatchObject({ action: 'none', outcome: 'blocked', reason: 'no-feasible-node' });
    expect(msg(d)).toMatch(/0\/3 nodes fit: .*1 is the node being left.*1 cordoned.*1 is outside the node affinity of volume pv-a \(topology.kubernetes.io\/zone In us-east-1a\)/);
  });

  it('blocks when a node-local volume is pinned to the bad node', () => {
    const d = plan({ node: cordonedW1(), volumes: [aLocalVolume('pv-local', 'w1')] });
    expect(d).toMatchObject({ outcome: 'blocked', reason: 'no-feasible-node' });
  });

  it("blocks when no node matches the pod's nodeSelector", () => {
    const d = plan({ node: cordonedW1(), pod: anAssistantOf(sts).on('w1').withNodeSelector({ pool: 'ci' }).build() });
    expect(d).toMatchObject({ outcome: 'blocked' });
    expect(msg(d)).toContain("does not match the pod's nodeSelector");
    const nodes = [controlPlane.build(), cordonedW1(), aNode('w2').labelled('pool', 'ci').build()];
    expect(plan({ node: nodes[1], nodes, pod: anAssistantOf(sts).on('w1').withNodeSelector({ pool: 'ci' }).build() })).toMatchObject({ action: 'delete', targets: ['w2'] });
  });

  it('does not count NotReady nodes, even within their grace, as targets', () => {
    const nodes = [cordonedW1(), aNode('w2').notReady('False', ago(1_000)).build()];
    expect(plan({ node: nodes[0], nodes })).toMatchObject({ outcome: 'blocked', reason: 'no-feasible-node' });
  });

  it('force-deletes from a NotReady node past the grace, and waits within it', () => {
    expect(plan({ node: aNode('w1').notReady('Unknown', ago(61_000)).build() })).toMatchObject({ action: 'delete', force: true });
    expect(plan({ node: aNode('w1').notReady('Unknown', ago(1_000)).build() })).toMatchObject({ outcome: 'skipped', reason: 'not-ready-grace' });
  });

  it('force-deletes from a node being deleted, a vanished node, and an out-of-service node', () => {
    expect(plan({ node: aNode('w1').deleting().build() })).toMatchObject({ action: 'delete', force: true });
    expect(plan({ node: undefined })).toMatchObject({ action: 'delete', force: true });
    expect(plan({ node: aNode('w1').tainted('node.kubernetes.io/out-of-service', 'NoExecute').build() })).toMatchObject({ action: 'delete', force: true });
  });

  it('stops after the loop guard limit', () => {
    const d = plan({ node: cordonedW1(), recentRelocations: 3 });
    expect(d).toMatchObject({ outcome: 'blocked', reason: 'loop-guard' });
  });

  it('relocates off a node AWS announced as going away, even if it looks healthy', () => {
    const d = plan({ disruption: { kind: 'SpotInterruption', detail: 'two-minute warning' } });
    expect(d).toMatchObject({ action: 'delete', force: false, targets: ['w2'] });
  });

  it('never targets nodes announced as doomed', () => {
    expect(plan({ node: cordonedW1(), doomedNodes: new Set(['w2']) })).toMatchObject({ outcome: 'blocked', reason: 'no-feasible-node' });
  });

  it('asks for a placement only when the node filters leave candidates, and decides nothing before', () => {
    const first = planRelocation(observe({ node: cordonedW1() }), DEFAULT_CONFIG);
    expect(first).toMatchObject({ action: 'find-placement', candidates: ['w2'] });
    const none = planRelocation(observe({ node: cordonedW1(), doomedNodes: new Set(['w2']) }), { ...DEFAULT_CONFIG, whenNoNodeFits: 'block' });
    expect(none).toMatchObject({ outcome: 'blocked', reason: 'no-feasible-node' });
  });

  describe('when no node fits (WHEN_NO_NODE_FITS)', () => {
    const noneFits = () => observe({ node: cordonedW1(), doomedNodes: new Set(['w2']) });
    it('auto: asks whether the cluster can grow, then deletes relying on who can, or blocks saying why nothing can', () => {
      expect(planRelocation(noneFits(), DEFAULT_CONFIG)).toEqual({ action: 'find-growth', reasons: [expect.objectContaining({ code: 'Cordoned' })] });
      const grows = planRelocation({ ...noneFits(), growth: { canGrow: true, by: 'NodePool default', message: 'NodePool default can create a node that takes it' } }, DEFAULT_CONFIG);
      expect(grows).toMatchObject({ action: 'delete', podUid: 'pod-uid-1', targets: [], growth: 'NodePool default' });
      expect(msg(grows)).toMatch(/no node can take it now \(0\/3 nodes fit: .*\), but NodePool default can create a node that takes it$/);
      const cannot = planRelocation({ ...noneFits(), growth: { canGrow: false, message: 'NodePool gpu has reached its limits (cpu: 10, 10 in use)' } }, DEFAULT_CONFIG);
      expect(cannot).toMatchObject({ action: 'none', outcome: 'blocked', reason: 'no-feasible-node' });
      expect(msg(cannot)).toMatch(/; nothing can add a node for it: NodePool gpu has reached its limits/);
    });
    it('delete: deletes without asking; block: blocks without asking', () => {
      const forced = planRelocation(noneFits(), { ...DEFAULT_CONFIG, whenNoNodeFits: 'delete' });
      expect(forced).toMatchObject({ action: 'delete', targets: [], growth: 'an autoscaler (WHEN_NO_NODE_FITS=delete)' });
      expect(planRelocation(noneFits(), { ...DEFAULT_CONFIG, whenNoNodeFits: 'block' })).toMatchObject({ outcome: 'blocked', reason: 'no-feasible-node' });
    });
    it('never deletes, whatever the setting, an assistant whose local volume is on the node being left', () => {
      for (const whenNoNodeFits of ['delete', 'auto'] as const) {
        const d = planRelocation({ ...noneFits(), volumes: [aLocalVolume('local-pv', 'w1')] }, { ...DEFAULT_CONFIG, whenNoNodeFits });
        expect(d).toMatchObject({ outcome: 'blocked', reason: 'no-feasible-node' });
        expect(msg(d)).toMatch(/; volume local-pv is local to w1: no new node can take it$/);
      }
    });
    it('never lets growth override the loop guard, or a replacement that would come straight back', () => {
      const growth = { canGrow: true as const, by: 'cluster-autoscaler', message: 'cluster-autoscaler can add a node like w2' };
      expect(planRelocation({ ...noneFits(), growth, recentRelocations: 3 }, DEFAULT_CONFIG)).toMatchObject({ outcome: 'blocked', reason: 'loop-guard' });
      const tolerant = anAssistantOf(sts).on('w1').tolerating({ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }).build();
      const back = { node: undefined, summary: 'it would come back', backOnBadNode: true };
      expect(planRelocation({ ...noneFits(), pod: tolerant, growth, placement: back }, DEFAULT_CONFIG)).toMatchObject({ outcome: 'blocked', reason: 'tolerates-bad-node' });
    });
  });

  it('blocks when the only other node has no room for the assistant (cpu, pod count)', () => {
    const assistant = anAssistantOf(sts).on('w1').requesting({ cpu: '50m', memory: '100Mi' }).build();
    const small = aNode('w2').allocatable({ cpu: '40m' }).build();
    const d = plan({ node: cordonedW1(), nodes: [cordonedW1(), small], pod: assistant });
    expect(d).toMatchObject({ outcome: 'blocked', reason: 'no-feasible-node' });
    expect(d.action === 'none' && d.message).toMatch(/0\/2 nodes fit: .*1 Insufficient cpu/);

    const onePod = aNode('w2').allocatable({ pods: '1' }).build();
    const full = plan({ node: cordonedW1(), nodes: [cordonedW1(), onePod], pod: assistant }, {}, { w2: [aPod('other', { node: 'w2' })] });
    expect(full.action === 'none' && full.message).toMatch(/1 Too many pods/);
  });

  it("blocks in isolate-pipelinerun mode when every other node holds another assistant (required anti-affinity)", () => {
    const repel = { labelSelector: { matchLabels: { 'app.kubernetes.io/component': 'affinity-assistant' } }, topologyKey: 'kubernetes.io/hostname' };
    const isolated = anAssistantOf(sts).on('w1').withAffinity({ podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [repel] } }).build();
    const other = aPod('other-assistant', { node: 'w2', labels: { 'app.kubernetes.io/component': 'affinity-assistant' } });
    const d = plan({ node: cordonedW1(), pod: isolated }, {}, { w2: [other] });
    expect(d).toMatchObject({ outcome: 'blocked', reason: 'no-feasible-node' });
    expect(d.action === 'none' && d.message).toContain("didn't match pod anti-affinity rules");
    // The other assistant's own anti-affinity keeps a plain assistant away as well (symmetry).
    const otherIsolated = { ...other, spec: { ...other.spec!, affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [repel] } } } };
    const plain = plan({ node: cordonedW1() }, {}, { w2: [otherIsolated] });
    expect(plain.action === 'none' && plain.message).toContain("didn't satisfy existing pods anti-affinity rules");
    // A third node with no assistant takes it.
    const nodes = [controlPlane.build(), cordonedW1(), w2.build(), aNode('w3').build()];
    expect(plan({ node: nodes[1], nodes, pod: isolated }, {}, { w2: [other] })).toMatchObject({ action: 'delete', targets: ['w3'] });
  });

  it('moves a pod that tolerates the cordon when the pods on its node would keep the replacement away', () => {
    const tolerant = anAssistantOf(sts).on('w1').tolerating({ operator: 'Exists' }).build();
    const repelling = aPod('guard', { node: 'w1', affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { 'app.kubernetes.io/component': 'affinity-assistant' } }, topologyKey: 'kubernetes.io/hostname' }] } } });
    const d = plan({ node: cordonedW1(), pod: tolerant }, {}, { w1: [repelling] });
    expect(d).toMatchObject({ action: 'delete' });
    expect(d.action === 'delete' && d.targets).not.toContain('w1'); // it tolerates everything: cp or w2
    // Without such a pod the replacement would come straight back.
    expect(plan({ node: cordonedW1(), pod: tolerant })).toMatchObject({ outcome: 'blocked', reason: 'tolerates-bad-node' });
  });

  it('keeps the pod out of every node of a zone where a pod elsewhere has zone-wide anti-affinity against it', () => {
    const zoneGuard = aPod('zone-guard', { node: 'w3', affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { 'app.kubernetes.io/component': 'affinity-assistant' } }, topologyKey: 'topology.kubernetes.io/zone' }] } } });
    const nodes = [cordonedW1(), aNode('w2').build(), aNode('w3').build()]; // all in us-east-1a
    const d = plan({ node: nodes[0], nodes }, {}, { w3: [zoneGuard] });
    expect(d).toMatchObject({ outcome: 'blocked', reason: 'no-feasible-node' });
    expect(msg(d)).toContain("2 didn't satisfy existing pods anti-affinity rules");
    const otherZone = [cordonedW1(), aNode('w2').inZone('us-east-1b').build(), aNode('w3').build()];
    expect(plan({ node: otherZone[0], nodes: otherZone }, {}, { w3: [zoneGuard] })).toMatchObject({ action: 'delete', targets: ['w2'] });
  });
});
