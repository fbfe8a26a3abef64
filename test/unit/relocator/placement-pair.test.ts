/**
 * PlacementFinder.findPair: where the assistant's replacement and the TaskRun pod it holds can go together,
 * read from an in-memory cluster (the reads PlacementFinder makes, counted), with the booking discipline of
 * `find`. The pure check is test/unit/domain/pair-feasibility.test.ts; the real scheduler judges both in
 * test/integration/pending-differential.test.ts.
 */
import type { V1Affinity, V1Toleration } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../src/domain/config.js';
import type { Node, Pod } from '../../../src/domain/k8s.js';
import { findPairFeasibleNodes } from '../../../src/domain/pair-feasibility.js';
import { labelSelectorMatches } from '../../../src/domain/pod-affinity.js';
import { PlacementFinder } from '../../../src/relocator/placement.js';
import type { ClusterPort } from '../../../src/relocator/ports.js';
import { aHeldTaskRunPod, aNode, ago, anAssistantOf, aPod, aStatefulSet, NOW } from '../domain/builders.js';

/** `a=b,c in (d,e),f notin (g),h,!i` (labelSelectorQuery's output) as a LabelSelector. */
function parseQuery(q: string) {
  const parts = q.split(/,(?![^(]*\))/).filter(Boolean);
  const matchLabels: Record<string, string> = {};
  const matchExpressions: { key: string; operator: string; values?: string[] }[] = [];
  for (const p of parts) {
    const set = /^(\S+) (in|notin) \((.*)\)$/.exec(p);
    if (set) matchExpressions.push({ key: set[1]!, operator: set[2] === 'in' ? 'In' : 'NotIn', values: set[3]!.split(',') });
    else if (p.includes('=')) matchLabels[p.split('=')[0]!] = p.split('=')[1]!;
    else if (p.startsWith('!')) matchExpressions.push({ key: p.slice(1), operator: 'DoesNotExist' });
    else matchExpressions.push({ key: p, operator: 'Exists' });
  }
  return { matchLabels, matchExpressions };
}

/** The reads PlacementFinder makes, answered from `pods`, each counted. */
function cluster(pods: Pod[]) {
  const reads: string[] = [];
  const port = {
    async listPodsOnNode(node: string) {
      reads.push(`node ${node}`);
      return pods.filter((p) => p.spec?.nodeName === node);
    },
    async listPods(selector: string) {
      reads.push(`selector ${selector}`);
      return pods.filter((p) => labelSelectorMatches(parseQuery(selector), p.metadata?.labels));
    },
    async listPodsInNamespace(ns: string) {
      reads.push(`namespace ${ns}`);
      return pods.filter((p) => p.metadata?.namespace === ns);
    },
    async listNamespaces() {
      reads.push('namespaces');
      return [];
    },
  };
  return { reads, port: port as unknown as ClusterPort };
}

const GPU: V1Toleration = { key: 'dedicated', operator: 'Exists' };
const sts = aStatefulSet();
const assistant = anAssistantOf(sts).on('w1').requesting({ cpu: '50m' }).tolerating(GPU).build();
const held = aHeldTaskRunPod('run-second-pod', { requests: { cpu: '3' } });

/** w1 (2 cpu) holds the assistant; w2 has room for the replacement only; gpu lacks the held pod's toleration; w3 takes both. */
function world(more: { pods?: Pod[]; nodes?: Node[] } = {}) {
  const nodes = [
    aNode('w1').allocatable({ cpu: '2' }).build(),
    aNode('w2').build(),
    aNode('gpu').tainted('dedicated', 'NoSchedule', 'gpu').build(),
    aNode('w3').build(),
    ...(more.nodes ?? []),
  ];
  const pods = [assistant, aPod('busy', { node: 'w2', requests: { cpu: '2' } }), ...(more.pods ?? [])];
  return { nodes, ...cluster(pods) };
}

function stage1(nodes: Node[], a = assistant, h = held) {
  return findPairFeasibleNodes({ assistant: a, held: h, nodes, assistantVolumes: [], heldVolumes: [], excluded: new Set(['w1']), now: NOW, config: DEFAULT_CONFIG });
}

const byNames = (nodes: Node[], names: string[]) => nodes.filter((n) => names.includes(n.metadata!.name!));

async function findPair(finder: PlacementFinder, nodes: Node[], a = assistant, h = held, o: { leftNode?: boolean; firstFit?: boolean } = {}) {
  const s1 = stage1(nodes, a, h);
  const left = o.leftNode ? nodes.find((n) => n.metadata?.name === a.spec?.nodeName) : undefined;
  return finder.findPair(a, h, byNames(nodes, s1.replacementNodes), nodes, s1, left, { firstFit: o.firstFit });
}

describe('PlacementFinder.findPair', () => {
  it('finds the node that takes both, names those that take the replacement alone, and whether the node left takes it back', async () => {
    const w = world();
    const p = await findPair(new PlacementFinder(w.port), w.nodes, assistant, held, { leftNode: true });
    expect(p).toMatchObject({ node: 'w3', pairNodes: ['w3'], aloneOnly: ['w2', 'gpu'], allProbed: true, backOnBadNode: true });
    expect(p.summary).toBe('w3 can take the replacement and ci/run-second-pod together (2/4 nodes pass both pods\' node filters; 3 probed for room and pod affinity; 2 would take the replacement alone: w2, gpu)');
  });

  it('says why no node takes both, first failing pod first, counted as the scheduler counts', async () => {
    const w = world({ pods: [aPod('fill', { node: 'w3', requests: { cpu: '1' } })] });
    const p = await findPair(new PlacementFinder(w.port), w.nodes);
    expect(p).toMatchObject({ node: undefined, pairNodes: [], aloneOnly: ['w2', 'w3', 'gpu'], allProbed: true });
    expect(p.summary).toBe(
      '0/4 nodes fit: 2 Insufficient cpu for both (assistant 50m + run-second-pod 3000m), 1 is the node being left, 1 has untolerated taint dedicated=gpu:NoSchedule (held pod)',
    );
  });

  it("says the node left would not take the replacement back when it has no room for it", async () => {
    const w = world({ pods: [aPod('squatter', { node: 'w1', requests: { cpu: '1960m' } })] });
    expect((await findPair(new PlacementFinder(w.port), w.nodes, assistant, held, { leftNode: true })).backOnBadNode).toBe(false);
  });

  it("reads the candidates' pods, the pods the held pod's terms select and its namespace's pods, once each", async () => {
    const w = world();
    await findPair(new PlacementFinder(w.port), w.nodes);
    expect(w.reads.sort()).toEqual(['namespace ci', 'node gpu', 'node w2', 'node w3', 'selector app.kubernetes.io/instance=affinity-assistant-0123456789,app.kubernetes.io/component=affinity-assistant'].sort());
  });

  it("keeps the held pod away from the pods its own anti-affinity selects, read by their labels", async () => {
    const avoidsBatch: V1Affinity = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'batch' } }, topologyKey: 'kubernetes.io/hostname' }] } };
    const picky = aHeldTaskRunPod('run-second-pod', { requests: { cpu: '3' }, affinity: avoidsBatch });
    const w = world({ pods: [aPod('batch', { node: 'w3', labels: { app: 'batch' } })], nodes: [aNode('w4').build()] });
    const p = await findPair(new PlacementFinder(w.port), w.nodes, assistant, picky);
    expect(p).toMatchObject({ node: 'w4', pairNodes: ['w4'], aloneOnly: ['w2', 'w3', 'gpu'] });
    expect(w.reads).toContain('selector app=batch');
  });

  it('honours the zone-wide anti-affinity of a pod of its namespace on another node against the held pod', async () => {
    const guard = aPod('guard', {
      node: 'w9',
      affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { 'tekton.dev/pipelineRun': 'pr-1' } }, topologyKey: 'topology.kubernetes.io/zone' }] } },
    });
    const w = world({ pods: [guard], nodes: [aNode('w9').cordoned().build(), aNode('far').inZone('us-east-1b').build()] });
    const p = await findPair(new PlacementFinder(w.port), w.nodes);
    expect(p).toMatchObject({ node: 'far', pairNodes: ['far'], aloneOnly: ['w2', 'w3', 'gpu'] });
  });

  it('books both pods on the node found, so a sibling pair is not promised the same room, until released', async () => {
    const w = world({ pods: [aPod('fill', { node: 'w3', requests: { cpu: '900m' } })] }); // w3: room for one pair
    const finder = new PlacementFinder(w.port);
    const other = anAssistantOf(aStatefulSet('affinity-assistant-other')).on('w1').withUid('pod-uid-2').requesting({ cpu: '50m' }).tolerating(GPU).build();
    const otherHeld = aHeldTaskRunPod('other-second-pod', { assistant: 'affinity-assistant-other', requests: { cpu: '3' } });
    const [a, b] = await Promise.all([findPair(finder, w.nodes), findPair(finder, w.nodes, other, otherHeld)]);
    expect([a.node, b.node].sort()).toEqual(['w3', undefined].sort());
    const [won, lost, lostHeld, wonPair] = a.node ? [a, other, otherHeld, [assistant, held] as const] : [b, assistant, held, [other, otherHeld] as const];
    expect(won.node).toBe('w3');
    expect((await findPair(finder, w.nodes, lost, lostHeld)).node).toBeUndefined();
    finder.releasePair(wonPair[0], wonPair[1], 'w3');
    expect((await findPair(finder, w.nodes, lost, lostHeld)).node).toBe('w3');
  });

  it('names a NotReady node the tolerant replacement may land on among those that take it alone, and never picks it', async () => {
    const tolerant = anAssistantOf(sts).on('w1').requesting({ cpu: '50m' }).tolerating(GPU, { key: 'node.kubernetes.io/not-ready', operator: 'Exists' }).build();
    const w = world({ nodes: [aNode('down').notReady('False', ago(600_000)).tainted('node.kubernetes.io/not-ready', 'NoSchedule').build()] });
    const p = await findPair(new PlacementFinder(w.port), w.nodes, tolerant, held);
    expect(p).toMatchObject({ node: 'w3', pairNodes: ['w3'], aloneOnly: ['w2', 'gpu', 'down'], allProbed: true });
  });

  it('probes at most maxProbes candidates and says when the list is incomplete', async () => {
    const w = world({ nodes: [aNode('w4').build()] });
    const p = await findPair(new PlacementFinder(w.port, { maxProbes: 2 }), w.nodes);
    // Nodes where both pass their node filters come first (w2, w3, w4), gpu last: w4 and gpu are not probed.
    expect(p).toMatchObject({ node: 'w3', pairNodes: ['w3'], aloneOnly: ['w2'], allProbed: false });
    const none = world({ pods: [aPod('f3', { node: 'w3', requests: { cpu: '2' } })], nodes: [aNode('w4').allocatable({ cpu: '1' }).build(), aNode('w5').build()] });
    const q = await findPair(new PlacementFinder(none.port, { maxProbes: 2 }), none.nodes);
    expect(q.node).toBeUndefined();
    expect(q.summary).toMatch(/2 not probed \(at most 2 per assistant\)/); // w4 and w5
  });

  it('stops at the first node that takes both with firstFit', async () => {
    const w = world({ nodes: [aNode('w4').build()] });
    const p = await findPair(new PlacementFinder(w.port), w.nodes, assistant, held, { firstFit: true });
    expect(p).toMatchObject({ node: 'w3', pairNodes: ['w3'], allProbed: false });
    expect(w.reads.filter((r) => r.startsWith('node '))).toEqual(['node w2', 'node w3']);
  });
});
