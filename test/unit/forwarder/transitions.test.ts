import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../src/domain/config.js';
import { TransitionDetector } from '../../../src/forwarder/transitions.js';
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
});
