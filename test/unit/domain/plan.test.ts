import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type RelocatorConfig } from '../../../src/domain/config.js';
import { type Decision, type Observation, planRelocation } from '../../../src/domain/plan.js';
import { aLocalVolume, aNode, anAssistantOf, aPipelineRun, aStatefulSet, aZonalVolume, ago, NOW } from './builders.js';

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
const plan = (o: Partial<Observation>, c: Partial<RelocatorConfig> = {}): Decision => planRelocation(observe(o), { ...DEFAULT_CONFIG, ...c });
const cordonedW1 = () => aNode('w1').cordoned().build();

describe('planning the relocation of one assistant', () => {
  it('deletes the assistant from a cordoned node when another node fits', () => {
    const d = plan({ node: cordonedW1() });
    expect(d).toMatchObject({ action: 'delete', podUid: 'pod-uid-1', force: false, targets: ['w2'] });
    expect(d.action === 'delete' && d.message).toMatch(/delete ci\/affinity-assistant-0123456789-0 \(uid pod-uid-1\) from w1 because the node is cordoned \(spec.unschedulable\); 1\/3 nodes fit/);
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
    expect(d.message).toMatch(/a replacement would be scheduled straight back/);
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
    expect(d.message).toMatch(/0\/3 nodes fit: .*1 is the node being left.*1 cordoned.*1 is outside the node affinity of volume pv-a \(topology.kubernetes.io\/zone In us-east-1a\)/);
  });

  it('blocks when a node-local volume is pinned to the bad node', () => {
    const d = plan({ node: cordonedW1(), volumes: [aLocalVolume('pv-local', 'w1')] });
    expect(d).toMatchObject({ outcome: 'blocked', reason: 'no-feasible-node' });
  });

  it("blocks when no node matches the pod's nodeSelector", () => {
    const d = plan({ node: cordonedW1(), pod: anAssistantOf(sts).on('w1').withNodeSelector({ pool: 'ci' }).build() });
    expect(d).toMatchObject({ outcome: 'blocked' });
    expect(d.message).toContain("does not match the pod's nodeSelector");
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
});
