/**
 * The pair check (src/domain/pair-feasibility.ts): can a node take the assistant's replacement and then the
 * TaskRun pod it holds Pending, as kube-scheduler judges the two one after the other. Each filter, for each
 * pod, both ways; the real scheduler judges the same in test/integration/pending-differential.test.ts.
 */
import type { V1Affinity, V1PodAffinityTerm } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../src/domain/config.js';
import type { Node, Pod } from '../../../src/domain/k8s.js';
import { findPairFeasibleNodes, pairNodeRejection, type PairRoomInput, pairRoomRejection, replacementOn } from '../../../src/domain/pair-feasibility.js';
import type { PlacedPod } from '../../../src/domain/pod-affinity.js';
import { aHeldTaskRunPod, aNode, ago, anAssistantOf, aPod, aStatefulSet, aZonalVolume, NOW } from './builders.js';

const HOST = 'kubernetes.io/hostname';
const ZONE = 'topology.kubernetes.io/zone';
const sts = aStatefulSet();
const assistant = anAssistantOf(sts).on('w1').requesting({ cpu: '50m', memory: '100Mi' }).build();
const held = aHeldTaskRunPod('run-second-pod', { requests: { cpu: '3' } });
const w1 = aNode('w1').allocatable({ cpu: '2' }).build();
const w2 = aNode('w2').build();
const opts = { excluded: new Set(['w1']), now: NOW, config: DEFAULT_CONFIG };
const term = (labels: Record<string, string>, topologyKey = HOST): V1PodAffinityTerm => ({ labelSelector: { matchLabels: labels }, topologyKey });
const anti = (...terms: V1PodAffinityTerm[]): V1Affinity => ({ podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: terms } });
const placed = (pod: Pod, node: Node): PlacedPod => ({ pod, node });

/** Stage 2 on `node` with nothing else in the cluster unless given. */
function room(o: Partial<PairRoomInput> & { node: Node }): ReturnType<typeof pairRoomRejection> {
  return pairRoomRejection({
    assistant,
    held,
    nodePods: [],
    // The old assistant, still on w1, selected by the held pod's affinity: it must not count.
    heldTermPods: [placed(assistant, w1)],
    assistantTermPods: [],
    antiAffinityPods: [],
    nsLabels: () => undefined,
    ...o,
  });
}

describe('stage 1 for the pair: each pod its own node filters', () => {
  const none = { assistant: [], held: [] };

  it("judges the replacement first, with today's filters (the node being left, a cordon)", () => {
    expect(pairNodeRejection(assistant, held, w1, none, opts)).toEqual({ pod: 'replacement', reason: 'is the node being left' });
    expect(pairNodeRejection(assistant, held, aNode('w3').cordoned().build(), none, opts)).toEqual({ pod: 'replacement', reason: 'cordoned' });
    expect(pairNodeRejection(assistant, held, w2, none, opts)).toBeUndefined();
  });

  it('rejects a node whose taint the held pod does not tolerate, and not one it tolerates', () => {
    const gpu = aNode('gpu').tainted('dedicated', 'NoSchedule', 'gpu').build();
    const tolerant = anAssistantOf(sts).on('w1').tolerating({ key: 'dedicated', operator: 'Exists' }).build();
    expect(pairNodeRejection(tolerant, held, gpu, none, opts)).toEqual({ pod: 'held', reason: 'has untolerated taint dedicated=gpu:NoSchedule (held pod)' });
    const heldTolerant = aHeldTaskRunPod('run-second-pod', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] });
    expect(pairNodeRejection(tolerant, heldTolerant, gpu, none, opts)).toBeUndefined();
    // The other way: the held pod tolerates it, the replacement does not.
    expect(pairNodeRejection(assistant, heldTolerant, gpu, none, opts)).toEqual({ pod: 'replacement', reason: 'has untolerated taint dedicated=gpu:NoSchedule' });
  });

  it("rejects a node that lacks the held pod's nodeSelector or required node affinity", () => {
    const ssd = aHeldTaskRunPod('run-second-pod', { nodeSelector: { disktype: 'ssd' } });
    expect(pairNodeRejection(assistant, ssd, w2, none, opts)?.reason).toBe("does not match the pod's nodeSelector (held pod)");
    expect(pairNodeRejection(assistant, ssd, aNode('w3').labelled('disktype', 'ssd').build(), none, opts)).toBeUndefined();
    const inB = aHeldTaskRunPod('run-second-pod', {
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: ZONE, operator: 'In', values: ['us-east-1b'] }] }] } } },
    });
    expect(pairNodeRejection(assistant, inB, w2, none, opts)).toEqual({ pod: 'held', reason: "does not match the pod's required node affinity (held pod)" });
    expect(pairNodeRejection(assistant, inB, aNode('w3').inZone('us-east-1b').build(), none, opts)).toBeUndefined();
  });

  it("rejects a node outside the node affinity of the held pod's own volumes, and of the assistant's", () => {
    const w3 = aNode('w3').inZone('us-east-1b').build();
    const cache = aZonalVolume('pv-cache', 'us-east-1b');
    expect(pairNodeRejection(assistant, held, w2, { assistant: [], held: [cache] }, opts)).toEqual({
      pod: 'held',
      reason: 'is outside the node affinity of volume pv-cache (topology.kubernetes.io/zone In us-east-1b) (held pod)',
    });
    expect(pairNodeRejection(assistant, held, w3, { assistant: [], held: [cache] }, opts)).toBeUndefined();
    const workspace = aZonalVolume('pv-ws', 'us-east-1a');
    expect(pairNodeRejection(assistant, held, w3, { assistant: [workspace], held: [workspace, cache] }, opts)?.pod).toBe('replacement');
  });

  it('lists where the replacement alone passes, where both do, and counts each node under the first failing pod', () => {
    const gpu = aNode('gpu').tainted('dedicated', 'NoSchedule', 'gpu').build();
    const tolerant = anAssistantOf(sts).on('w1').tolerating({ key: 'dedicated', operator: 'Exists' }).build();
    const f = findPairFeasibleNodes({ assistant: tolerant, held, nodes: [w1, w2, gpu, aNode('w4').cordoned().build()], assistantVolumes: [], heldVolumes: [], ...opts });
    expect(f.nodes).toEqual(['w2']);
    expect(f.replacementNodes).toEqual(['w2', 'gpu']);
    expect(f.pairRejections).toEqual(new Map([['gpu', { pod: 'held', reason: 'has untolerated taint dedicated=gpu:NoSchedule (held pod)' }]]));
    expect(f.summary).toBe('1/4 nodes fit: 1 is the node being left, 1 has untolerated taint dedicated=gpu:NoSchedule (held pod), 1 cordoned');
  });

  it('counts a NotReady node whose taints the assistant tolerates as one the scheduler may put the replacement on, never as one for the pair', () => {
    const down = () => aNode('down').notReady('False', ago(600_000)).tainted('node.kubernetes.io/not-ready', 'NoSchedule');
    const tolerant = anAssistantOf(sts).on('w1').tolerating({ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }).build();
    const f = findPairFeasibleNodes({ assistant: tolerant, held, nodes: [w1, w2, down().build()], assistantVolumes: [], heldVolumes: [], ...opts });
    expect(f.nodes).toEqual(['w2']);
    expect(f.replacementNodes).toEqual(['w2', 'down']);
    expect(f.pairRejections.get('down')?.pod).toBe('replacement');
    // Not tolerated: the scheduler keeps the replacement off it too.
    expect(findPairFeasibleNodes({ assistant, held, nodes: [w1, w2, down().build()], assistantVolumes: [], heldVolumes: [], ...opts }).replacementNodes).toEqual(['w2']);
  });
});

describe('stage 2 for the pair: room for both', () => {
  it('sums both requests against the room left by the node’s pods', () => {
    const busy = aPod('busy', { node: 'w2', requests: { cpu: '900m' } });
    expect(room({ node: w2, nodePods: [busy] })).toEqual({ replacement: undefined, pair: undefined }); // 0.9 + 0.05 + 3 <= 4
    const busier = aPod('busier', { node: 'w2', requests: { cpu: '960m' } });
    expect(room({ node: w2, nodePods: [busier] })).toEqual({
      replacement: undefined,
      pair: { pod: 'both', reason: 'Insufficient cpu for both (assistant 50m + run-second-pod 3000m)' },
    });
  });

  it('names memory in Mi and each lacking resource', () => {
    const big = aHeldTaskRunPod('run-second-pod', { requests: { cpu: '3', memory: '15Gi' } });
    const busy = aPod('busy', { node: 'w2', requests: { cpu: '1', memory: '1Gi' } });
    expect(room({ node: w2, held: big, nodePods: [busy] }).pair?.reason).toBe(
      'Insufficient cpu for both (assistant 50m + run-second-pod 3000m), Insufficient memory for both (assistant 100Mi + run-second-pod 15360Mi)',
    );
  });

  it('counts two more pods, not one', () => {
    const small = aNode('w2').allocatable({ pods: '3' }).build();
    const one = aPod('one', { node: 'w2' });
    expect(room({ node: small, nodePods: [one] }).pair).toBeUndefined();
    const two = aPod('two', { node: 'w2' });
    expect(room({ node: small, nodePods: [one, two] })).toEqual({ replacement: undefined, pair: { pod: 'both', reason: 'Too many pods for both' } });
  });

  it('stops at the replacement when it alone has no room', () => {
    const full = aPod('full', { node: 'w2', requests: { cpu: '3980m' } });
    expect(room({ node: w2, nodePods: [full] })).toEqual({ replacement: 'Insufficient cpu', pair: { pod: 'replacement', reason: 'Insufficient cpu' } });
  });

  it('ignores the two pods themselves wherever a read or a booking left them', () => {
    const heldBooked: Pod = { ...held, spec: { ...held.spec!, nodeName: 'w2' } };
    expect(room({ node: w2, nodePods: [assistant, replacementOn(assistant, 'w2'), heldBooked] }).pair).toBeUndefined();
  });

  it('judges only the replacement where the pair failed its node filters', () => {
    expect(room({ node: w2, pairNodeRejection: { pod: 'held', reason: 'has untolerated taint x:NoSchedule (held pod)' } })).toEqual({
      replacement: undefined,
      pair: { pod: 'held', reason: 'has untolerated taint x:NoSchedule (held pod)' },
    });
  });
});

describe('stage 2 for the pair: inter-pod affinity, the replacement counted on the node', () => {
  const w3 = aNode('w3').build();

  it("satisfies the held pod's affinity to its assistant with the replacement, not with the old pod", () => {
    // The old assistant on w1 is the only pod its term selects: were it counted, w2 would fail.
    expect(room({ node: w2 }).pair).toBeUndefined();
    expect(room({ node: w2, heldTermPods: [] }).pair).toBeUndefined();
  });

  it("still judges the held pod's other affinity terms (one pod must match them all, as the scheduler counts)", () => {
    const withCache = aHeldTaskRunPod('run-second-pod', { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'cache' })] } } });
    const cache = aPod('cache', { node: 'w2', labels: { app: 'cache' } });
    expect(room({ node: w2, held: withCache, nodePods: [cache], heldTermPods: [placed(cache, w2)] })).toEqual({
      replacement: undefined,
      pair: { pod: 'held', reason: "didn't match pod affinity rules (held pod)" },
    });
  });

  it("rejects the node when one of its pods' anti-affinity selects the held pod, not the replacement", () => {
    const noRuns = aPod('no-runs', { node: 'w2', affinity: anti({ labelSelector: { matchExpressions: [{ key: 'tekton.dev/taskRun', operator: 'Exists' }] }, topologyKey: HOST }) });
    expect(room({ node: w2, nodePods: [noRuns] })).toEqual({ replacement: undefined, pair: { pod: 'held', reason: "didn't satisfy existing pods anti-affinity rules (held pod)" } });
  });

  it("rejects the node when the replacement's own anti-affinity selects the held pod", () => {
    const repelsRuns = anAssistantOf(sts).on('w1').withAffinity(anti({ labelSelector: { matchLabels: { 'tekton.dev/pipelineRun': 'pr-1' } }, topologyKey: HOST })).build();
    expect(room({ node: w2, assistant: repelsRuns })).toEqual({ replacement: undefined, pair: { pod: 'held', reason: "didn't satisfy existing pods anti-affinity rules (held pod)" } });
    // isolate-pipelinerun's term selects assistants, which a TaskRun pod is not.
    const isolated = anAssistantOf(sts).on('w1').withAffinity(anti(term({ 'app.kubernetes.io/component': 'affinity-assistant' }))).build();
    expect(room({ node: w2, assistant: isolated }).pair).toBeUndefined();
  });

  it('honours a zone-wide anti-affinity of a pod elsewhere against the held pod', () => {
    const w4 = aNode('w4').build(); // same zone as w2
    const guard = aPod('guard', { node: 'w4', affinity: anti({ labelSelector: { matchLabels: { 'tekton.dev/pipelineRun': 'pr-1' } }, topologyKey: ZONE }) });
    expect(room({ node: w2, antiAffinityPods: [placed(guard, w4)] }).pair?.reason).toBe("didn't satisfy existing pods anti-affinity rules (held pod)");
    expect(room({ node: aNode('w5').inZone('us-east-1b').build(), antiAffinityPods: [placed(guard, w4)] }).pair).toBeUndefined();
  });

  it("rejects the node when the held pod's anti-affinity finds a pod there, and not where none is", () => {
    const avoidsBatch = aHeldTaskRunPod('run-second-pod', { affinity: anti(term({ app: 'batch' })) });
    const batch = aPod('batch', { node: 'w2', labels: { app: 'batch' } });
    const seen = [placed(assistant, w1), placed(batch, w2)];
    expect(room({ node: w2, held: avoidsBatch, nodePods: [batch], heldTermPods: seen }).pair).toEqual({ pod: 'held', reason: "didn't match pod anti-affinity rules (held pod)" });
    expect(room({ node: w3, held: avoidsBatch, heldTermPods: seen }).pair).toBeUndefined();
  });

  it("rejects every node when the held pod's anti-affinity selects its own assistant's replacement", () => {
    const avoidsAssistants = aHeldTaskRunPod('run-second-pod', { affinity: anti(term({ 'app.kubernetes.io/component': 'affinity-assistant' })) });
    expect(room({ node: w2, held: avoidsAssistants }).pair).toEqual({ pod: 'held', reason: "didn't match pod anti-affinity rules (held pod)" });
  });

  it("judges the replacement's inter-pod terms as today, before the held pod", () => {
    const guard = aPod('guard', { node: 'w2', affinity: anti(term({ 'app.kubernetes.io/component': 'affinity-assistant' })) });
    expect(room({ node: w2, nodePods: [guard] })).toEqual({
      replacement: "didn't satisfy existing pods anti-affinity rules",
      pair: { pod: 'replacement', reason: "didn't satisfy existing pods anti-affinity rules" },
    });
  });
});
