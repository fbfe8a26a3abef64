import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../src/domain/config.js';
import { restrictionsOf, TransitionDetector } from '../../../src/forwarder/transitions.js';
import { aNode, anAssistantOf, ago, NOW } from '../domain/builders.js';

const later = (ms: number) => new Date(NOW.getTime() + ms);
const withRv = <T extends { metadata?: { resourceVersion?: string } }>(o: T, rv: string): T => ({ ...o, metadata: { ...o.metadata, resourceVersion: rv } });

describe('transition detection', () => {
  it('emits nothing for a healthy node first seen, nor for any number of heartbeats', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    expect(d.observeNode(withRv(aNode('w1').build(), '1'), NOW)).toBeUndefined();
    for (let i = 2; i < 200; i++) {
      const hb = aNode('w1').build();
      hb.status!.conditions![0]!.lastHeartbeatTime = later(i * 10_000);
      expect(d.observeNode(withRv(hb, String(i)), later(i * 10_000))).toBeUndefined();
    }
  });

  it('emits a node that is already unschedulable when first seen, once', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    const t = d.observeNode(withRv(aNode('w1').cordoned().build(), '1'), NOW);
    expect(t?.verdict.reasons.map((r) => r.code)).toEqual(['Cordoned']);
    expect(t?.previous).toBeUndefined();
    expect(d.observeNode(withRv(aNode('w1').cordoned().build(), '2'), NOW)).toBeUndefined();
  });

  it('emits cordon, an added taint and uncordon as three transitions with their previous verdicts', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    d.observeNode(withRv(aNode('w1').build(), '1'), NOW);
    const cordon = d.observeNode(withRv(aNode('w1').cordoned().build(), '2'), NOW);
    expect(cordon?.previous?.schedulable).toBe(true);
    const taint = d.observeNode(withRv(aNode('w1').cordoned().tainted('karpenter.sh/disrupted').build(), '3'), NOW);
    expect(taint?.verdict.reasons.map((r) => r.code).sort()).toEqual(['Cordoned', 'Tainted']);
    const back = d.observeNode(withRv(aNode('w1').build(), '4'), NOW);
    expect(back?.verdict.schedulable).toBe(true);
  });

  it('ignores a replayed resourceVersion', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    d.observeNode(withRv(aNode('w1').build(), '5'), NOW);
    expect(d.observeNode(withRv(aNode('w1').cordoned().build(), '5'), NOW)).toBeUndefined();
  });

  it('turns NotReady into a transition when the grace runs out, without any new update', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    const node = withRv(aNode('w1').notReady('Unknown', ago(10_000)).build(), '7');
    expect(d.observeNode(node, NOW)).toBeUndefined();
    expect(d.pendingUntil('w1')).toEqual(later(50_000));
    const t = d.observeNode(node, later(50_000));
    expect(t?.verdict.reasons.map((r) => r.code)).toEqual(['NotReady']);
    expect(d.pendingUntil('w1')).toBeUndefined();
  });

  it('emits a known node that is deleted', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    expect(d.forgetNode(aNode('w0').build())).toBeUndefined();
    d.observeNode(withRv(aNode('w1').build(), '1'), NOW);
    expect(d.forgetNode(aNode('w1').build())?.verdict.reasons.map((r) => r.code)).toEqual(['Gone']);
  });

  it('emits an assistant pod bound, moved and deleted, and not its status updates', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    expect(d.observePod(anAssistantOf().build())).toBeUndefined(); // not bound yet
    expect(d.observePod(anAssistantOf().on('w1').build())?.change).toBe('bound');
    expect(d.observePod(anAssistantOf().on('w1').build())).toBeUndefined();
    expect(d.observePod(anAssistantOf().on('w2').build())).toMatchObject({ change: 'moved', previousNodeName: 'w1' });
    expect(d.nodesWithAssistants()).toEqual(new Set(['w2']));
    expect(d.forgetPod(anAssistantOf().on('w2').build())).toMatchObject({ change: 'deleted', previousNodeName: 'w2' });
    // the replacement, same name and a new uid, is bound again
    expect(d.observePod(anAssistantOf().on('w3').withUid('pod-uid-2').build())?.change).toBe('bound');
    // a late delete of the old pod is not the new pod's delete
    expect(d.forgetPod(anAssistantOf().on('w2').build())).toBeUndefined();
  });

  it('marks a verdict change as such, and a deletion too', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    expect(d.observeNode(withRv(aNode('w1').cordoned().build(), '1'), NOW)?.verdictChanged).toBe(true);
    expect(d.forgetNode(aNode('w1').build())?.verdictChanged).toBe(true);
  });
});

describe('capacity: a node that may take a blocked assistant now', () => {
  const UNSCHEDULABLE_TAINT = 'node.kubernetes.io/unschedulable';
  const observe = (d: TransitionDetector, node: ReturnType<ReturnType<typeof aNode>['build']>, rv: string, afterInitialList = true) =>
    d.observeNode(withRv(node, rv), NOW, { afterInitialList });

  it('publishes both steps of an uncordon of a node hosting nothing: spec.unschedulable cleared, then the cordon taint lifted', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    observe(d, aNode('w2').build(), '1', false);
    observe(d, aNode('w2').cordoned().build(), '2');
    observe(d, aNode('w2').cordoned().tainted(UNSCHEDULABLE_TAINT).build(), '3');
    // Step 1: the verdict changes (assessNode reports the cordon from spec.unschedulable, not the taint).
    const uncordon = observe(d, aNode('w2').tainted(UNSCHEDULABLE_TAINT).build(), '4');
    expect(uncordon).toMatchObject({ capacity: 'restrictions-lifted', verdictChanged: true, verdict: { schedulable: true } });
    expect(uncordon?.previous?.reasons.map((r) => r.code)).toEqual(['Cordoned']);
    // Step 2: the verdict stays schedulable, but the scheduler can place pods there only now.
    const lifted = observe(d, aNode('w2').build(), '5');
    expect(lifted).toMatchObject({ capacity: 'restrictions-lifted', verdictChanged: false, verdict: { schedulable: true } });
    // And a heartbeat after it is nothing.
    expect(observe(d, aNode('w2').build(), '6')).toBeUndefined();
  });

  it('publishes the removal of a taint the verdict ignores (not in TAINT_INCLUDE), which still kept pods off', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    observe(d, aNode('w2').build(), '1', false);
    // Adding it is no transition at all: the verdict ignores the key, and nothing was lifted.
    expect(observe(d, aNode('w2').tainted('example.com/maintenance').build(), '2')).toBeUndefined();
    expect(observe(d, aNode('w2').tainted('example.com/maintenance', 'NoSchedule', 'v2').build(), '3')).toBeUndefined(); // a new value
    expect(observe(d, aNode('w2').build(), '4')).toMatchObject({ capacity: 'restrictions-lifted', verdictChanged: false });
  });

  it('publishes an included taint lifted (the verdict changes too) once, and a NoExecute lifted while a NoSchedule of the same key stays', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    observe(d, aNode('w2').tainted('karpenter.sh/disrupted').build(), '1', false);
    expect(observe(d, aNode('w2').build(), '2')).toMatchObject({ capacity: 'restrictions-lifted', verdictChanged: true });
    observe(d, aNode('w2').tainted('example.com/gpu', 'NoExecute').tainted('example.com/gpu', 'NoSchedule').build(), '3');
    expect(observe(d, aNode('w2').tainted('example.com/gpu', 'NoSchedule').build(), '4')?.capacity).toBe('restrictions-lifted');
  });

  it('publishes nothing while the node stays unschedulable, however many restrictions are lifted, nor for PreferNoSchedule', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    observe(d, aNode('w2').cordoned().tainted('karpenter.sh/disrupted').tainted('example.com/soft', 'PreferNoSchedule').build(), '1', false);
    // Tainted, still cordoned: the verdict changes (reported for nodes hosting an assistant), but no capacity.
    const t = observe(d, aNode('w2').cordoned().tainted('example.com/soft', 'PreferNoSchedule').build(), '2');
    expect(t).toMatchObject({ verdictChanged: true, verdict: { schedulable: false } });
    expect(t?.capacity).toBeUndefined();
    expect(observe(d, aNode('w2').cordoned().build(), '3')).toBeUndefined();
  });

  it('publishes Ready again: at once when the not-ready taint is still within the grace, else when the taint is lifted', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    observe(d, aNode('w2').notReady('False', ago(5_000)).build(), '1', false);
    expect(observe(d, aNode('w2').build(), '2')).toMatchObject({ capacity: 'restrictions-lifted', verdictChanged: false });

    const e = new TransitionDetector(DEFAULT_CONFIG);
    const taint = 'node.kubernetes.io/not-ready';
    observe(e, aNode('w3').notReady('False', ago(600_000)).tainted(taint, 'NoSchedule', undefined, ago(600_000)).build(), '1', false);
    // Ready is True, but the node controller's taint (past the grace) still stands: not schedulable yet.
    expect(observe(e, aNode('w3').tainted(taint, 'NoSchedule', undefined, ago(600_000)).build(), '2')).toMatchObject({ verdictChanged: true, verdict: { schedulable: false } });
    expect(observe(e, aNode('w3').build(), '3')).toMatchObject({ capacity: 'restrictions-lifted', verdictChanged: true, verdict: { schedulable: true } });
  });

  it('publishes a node that joins Ready and schedulable after the initial list, and not before its not-ready taint is lifted', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    expect(observe(d, aNode('new-1').build(), '10')).toMatchObject({ capacity: 'joined', verdictChanged: false, verdict: { schedulable: true } });
    expect(observe(d, aNode('new-1').build(), '11')).toBeUndefined();
    // As every node joins where TaintNodesByCondition runs: tainted not-ready until the node controller saw it Ready.
    const joining = aNode('new-2').tainted('node.kubernetes.io/not-ready', 'NoSchedule', undefined, NOW);
    expect(observe(d, joining.build(), '20')).toBeUndefined();
    expect(observe(d, aNode('new-2').build(), '21')?.capacity).toBe('restrictions-lifted');
    // Not Ready, or cordoned, on arrival: nothing until it is.
    expect(observe(d, aNode('new-3').notReady('False', NOW).build(), '30')).toBeUndefined();
    expect(observe(d, aNode('new-3').build(), '31')?.capacity).toBe('restrictions-lifted');
    expect(observe(d, aNode('new-4').cordoned().build(), '40')?.capacity).toBeUndefined();
  });

  it('publishes nothing for the initial list (start, failover, resync), whatever the nodes look like', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    const healthy = Array.from({ length: 1000 }, (_, i) => observe(d, aNode(`n${i}`).build(), '1', false));
    expect(healthy.filter(Boolean)).toEqual([]);
    // Tainted with keys the verdict ignores, or Ready again within the grace: still nothing on first sight.
    expect(observe(d, aNode('t1').tainted('example.com/maintenance').build(), '1', false)).toBeUndefined();
    expect(observe(d, aNode('t2').notReady('False', NOW).build(), '1', false)).toBeUndefined();
  });

  it('compares a relist with what it knew: a lifted restriction missed during the gap is published, an unchanged node is not', () => {
    const d = new TransitionDetector(DEFAULT_CONFIG);
    observe(d, aNode('w1').cordoned().build(), '1', false);
    observe(d, aNode('w2').build(), '1', false);
    expect(observe(d, aNode('w1').build(), '50')?.capacity).toBe('restrictions-lifted');
    expect(observe(d, aNode('w2').build(), '50')).toBeUndefined();
  });

  it('publishes nothing for heartbeats of a tainted, cordoned or NotReady node', () => {
    for (const b of [aNode('w1').tainted('example.com/gpu'), aNode('w1').cordoned(), aNode('w1').notReady('False', ago(600_000))]) {
      const d = new TransitionDetector(DEFAULT_CONFIG);
      observe(d, b.build(), '1', false);
      for (let i = 2; i < 50; i++) {
        const hb = b.build();
        hb.status!.conditions![0]!.lastHeartbeatTime = later(i * 10_000);
        expect(observe(d, hb, String(i))).toBeUndefined();
      }
    }
  });

  it('keeps one short string per node, empty for a node without restrictions', () => {
    expect(restrictionsOf(aNode('w1').build())).toBe('');
    expect(restrictionsOf(aNode('w1').tainted('example.com/soft', 'PreferNoSchedule').build())).toBe('');
    expect(restrictionsOf(aNode('w1').cordoned().tainted('b', 'NoExecute', 'x').tainted('a').notReady('Unknown', NOW).build()).split('\n')).toEqual([
      'Ready!=True',
      'a:NoSchedule',
      'b:NoExecute',
      'unschedulable',
    ]);
  });
});
