import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../src/domain/config.js';
import { assessNode, verdictKey } from '../../../src/domain/schedulability.js';
import { aNode, ago, NOW } from './builders.js';

const assess = (node: Parameters<typeof assessNode>[0], extra: Partial<Parameters<typeof assessNode>[1]> = {}) =>
  assessNode(node, { now: NOW, config: DEFAULT_CONFIG, ...extra });
const codes = (v: ReturnType<typeof assessNode>) => v.reasons.map((r) => r.code);

describe('node schedulability for an assistant', () => {
  it('finds a Ready, untainted node schedulable', () => {
    expect(assess(aNode('w1').build())).toEqual({ schedulable: true, reasons: [] });
  });

  it('reports a cordoned node', () => {
    expect(codes(assess(aNode('w1').cordoned().build()))).toEqual(['Cordoned']);
  });

  it('does not report a cordon the pod tolerates (it would be scheduled back there)', () => {
    const v = assess(aNode('w1').cordoned().build(), { tolerations: [{ operator: 'Exists' }] });
    expect(v.schedulable).toBe(true);
  });

  it.each([
    'karpenter.sh/disrupted',
    'ToBeDeletedByClusterAutoscaler',
    'aws-node-termination-handler/spot-itn',
    'medik8s.io/drain',
    'node.kubernetes.io/out-of-service',
  ])('reports the disruption taint %s', (key) => {
    const v = assess(aNode('w1').tainted(key, 'NoSchedule').build());
    expect(codes(v)).toEqual(['Tainted']);
    expect(v.reasons[0]!.message).toContain(key);
  });

  it('ignores taints outside the include list, excluded taints, and PreferNoSchedule', () => {
    expect(assess(aNode('w1').tainted('dedicated', 'NoSchedule', 'gpu').build()).schedulable).toBe(true);
    expect(assess(aNode('w1').tainted('karpenter.sh/disrupted', 'PreferNoSchedule').build()).schedulable).toBe(true);
    const excluded = { ...DEFAULT_CONFIG, taintExclude: ['karpenter.sh/*'] };
    expect(assessNode(aNode('w1').tainted('karpenter.sh/disrupted').build(), { now: NOW, config: excluded }).schedulable).toBe(true);
  });

  it('counts every untolerated taint when the include list is *', () => {
    const all = { ...DEFAULT_CONFIG, taintInclude: ['*'] };
    expect(codes(assessNode(aNode('w1').tainted('dedicated', 'NoExecute', 'gpu').build(), { now: NOW, config: all }))).toEqual(['Tainted']);
  });

  it('ignores a disruption taint the pod tolerates', () => {
    const v = assess(aNode('w1').tainted('karpenter.sh/disrupted').build(), { tolerations: [{ key: 'karpenter.sh/disrupted', operator: 'Exists' }] });
    expect(v.schedulable).toBe(true);
  });

  it('counts NotReady only after the grace, and says when the grace ends', () => {
    const fresh = assess(aNode('w1').notReady('False', ago(10_000)).build());
    expect(fresh.schedulable).toBe(true);
    expect(fresh.notReadyUntil).toEqual(new Date(NOW.getTime() + 50_000));
    const old = assess(aNode('w1').notReady('Unknown', ago(61_000)).build());
    expect(codes(old)).toEqual(['NotReady']);
    expect(old.reasons[0]!.message).toMatch(/Ready is Unknown since/);
  });

  it("applies the same grace to the node controller's not-ready taint, and reports NotReady once", () => {
    const young = aNode('w1').notReady('False', ago(5_000)).tainted('node.kubernetes.io/not-ready', 'NoSchedule', undefined, ago(5_000));
    expect(assess(young.build()).schedulable).toBe(true);
    const old = aNode('w1').notReady('False', ago(120_000)).tainted('node.kubernetes.io/not-ready', 'NoSchedule', undefined, ago(120_000)).tainted('node.kubernetes.io/not-ready', 'NoExecute', undefined, ago(120_000));
    expect(codes(assess(old.build()))).toEqual(['NotReady']);
  });

  it('reports a node being deleted, a vanished node and an announced interruption', () => {
    expect(codes(assess(aNode('w1').deleting().build()))).toEqual(['Deleting']);
    expect(codes(assess(undefined))).toEqual(['Gone']);
    const v = assess(aNode('w1').build(), { disruption: { kind: 'SpotInterruption', detail: 'two-minute warning', notAfter: '2026-11-25T12:02:00Z' } });
    expect(codes(v)).toEqual(['Interrupted']);
    expect(v.reasons[0]!.message).toContain('expected by 2026-11-25T12:02:00Z');
  });

  it('keys verdicts by their reasons only (a heartbeat changes nothing)', () => {
    const a = assess(aNode('w1').cordoned().build());
    const b = assess(aNode('w1').cordoned().build());
    expect(verdictKey(a)).toBe(verdictKey(b));
    expect(verdictKey(a)).not.toBe(verdictKey(assess(aNode('w1').cordoned().tainted('karpenter.sh/disrupted').build())));
  });
});
