import { describe, expect, it } from 'vitest';
import {
  capacityWait,
  type DeletionRecord,
  deletionRecord,
  deletionRecordId,
  isOverdue,
  judgeReplacement,
  replacementView,
  settledOutcome,
  settlementClaimId,
  settlementOf,
  statefulSetOfPodName,
} from '../../../src/domain/deletion-record.js';
import type { NodeVerdict } from '../../../src/domain/schedulability.js';

const record: DeletionRecord = {
  id: deletionRecordId('affinity-assistant-1f3c', 'old-uid'),
  namespace: 'builds',
  statefulSet: 'affinity-assistant-1f3c',
  statefulSetUid: 'sts-uid',
  pipelineRun: 'release-42',
  pod: 'affinity-assistant-1f3c-0',
  oldPodUid: 'old-uid',
  fromNode: 'worker1',
  triggerId: 'trigger-1',
  triggerSource: 'node-event',
  observedAt: '2026-11-26T10:00:00.000Z',
  deletedAt: '2026-11-26T10:00:00.080Z',
  reasonCodes: ['Cordoned'],
  reasons: 'node worker1 is cordoned',
  forced: false,
};
const healthy: NodeVerdict = { schedulable: true, reasons: [] };
const cordoned: NodeVerdict = { schedulable: false, reasons: [{ code: 'Cordoned', message: 'node worker3 is cordoned' }] };
const TIMEOUT = 60_000;

describe('judgeReplacement', () => {
  it('is a relocation when a new pod is bound to another schedulable node, with the latencies from the trigger', () => {
    const j = judgeReplacement(record, { uid: 'new-uid', nodeName: 'worker2', boundAt: '2026-11-26T10:00:00.250Z' }, healthy, false, TIMEOUT);
    expect(j).toEqual({ kind: 'relocated', toNode: 'worker2', newPodUid: 'new-uid', boundAt: '2026-11-26T10:00:00.250Z' });
    expect(settlementOf(j)).toBe('relocated');
    expect(settledOutcome(record, j as Exclude<typeof j, { kind: 'wait' }>, new Date())).toMatchObject({
      kind: 'relocated',
      reason: 'Cordoned',
      fromNode: 'worker1',
      toNode: 'worker2',
      newPodUid: 'new-uid',
      deleteLatencyMs: 80,
      boundLatencyMs: 250,
      triggerId: 'trigger-1',
      assistant: { namespace: 'builds', pod: 'affinity-assistant-1f3c-0', podUid: 'old-uid', statefulSetUid: 'sts-uid', pipelineRun: 'release-42' },
    });
  });

  it("never reports a bind before the delete: a PodScheduled time in whole seconds that reads earlier counts as the delete's", () => {
    // The sweep judges a replacement whose bind event was lost by its PodScheduled condition, truncated to the second.
    const j = judgeReplacement(record, replacementView({ metadata: { uid: 'new-uid' }, spec: { nodeName: 'worker2', containers: [] }, status: { conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-11-26T10:00:00Z' }] } }), healthy, false, TIMEOUT);
    expect(j).toMatchObject({ kind: 'relocated', boundAt: '2026-11-26T10:00:00.000Z' });
    expect(settledOutcome(record, j as Exclude<typeof j, { kind: 'wait' }>, new Date())).toMatchObject({ deleteLatencyMs: 80, boundLatencyMs: 80 });
  });

  it('waits while no replacement is bound and the timeout has not passed, whatever is there', () => {
    for (const pod of [undefined, { uid: 'old-uid', nodeName: 'worker1' }, { uid: 'new-uid' }]) {
      expect(judgeReplacement(record, pod, pod?.nodeName ? cordoned : undefined, false, TIMEOUT)).toEqual({ kind: 'wait' });
    }
  });

  it('names why it is stuck once overdue: not recreated, old pod still there, or Pending with the scheduler message', () => {
    expect(judgeReplacement(record, undefined, undefined, true, TIMEOUT)).toMatchObject({ kind: 'stuck', reason: 'not-recreated' });
    expect(judgeReplacement(record, { uid: 'old-uid', nodeName: 'worker1', terminating: true }, cordoned, true, TIMEOUT)).toMatchObject({ kind: 'stuck', reason: 'old-pod-terminating' });
    const pending = judgeReplacement(record, { uid: 'new-uid', pendingMessage: '0/3 nodes are available' }, undefined, true, TIMEOUT);
    expect(pending).toMatchObject({ kind: 'stuck', reason: 'pending' });
    expect(pending.kind === 'stuck' && pending.message).toContain('0/3 nodes are available');
  });

  it('tells a replacement bound back to the node it left (fine if schedulable again) from one bound to another bad node', () => {
    const back = judgeReplacement(record, { uid: 'new-uid', nodeName: 'worker1' }, healthy, false, TIMEOUT);
    expect(back).toEqual({ kind: 'bound-back', node: 'worker1', healthy: true });
    expect(settlementOf(back)).toBe('relocated');
    expect(settledOutcome(record, back as Exclude<typeof back, { kind: 'wait' }>, new Date())).toMatchObject({ kind: 'skipped', reason: 'bound-back' });
    const stillBad = judgeReplacement(record, { uid: 'new-uid', nodeName: 'worker1' }, cordoned, false, TIMEOUT);
    expect(settlementOf(stillBad)).toBe('stuck');
    expect(settledOutcome(record, stillBad as Exclude<typeof stillBad, { kind: 'wait' }>, new Date())).toMatchObject({ kind: 'stuck', reason: 'bound-back' });
    const elsewhere = judgeReplacement(record, { uid: 'new-uid', nodeName: 'worker3' }, cordoned, false, TIMEOUT);
    expect(elsewhere).toMatchObject({ kind: 'stuck', reason: 'bound-to-bad-node' });
    expect(elsewhere.kind === 'stuck' && elsewhere.message).toContain('node worker3 is cordoned');
  });

  it('refuses to judge a bound pod without its node verdict', () => {
    expect(() => judgeReplacement(record, { uid: 'new-uid', nodeName: 'worker2' }, undefined, false, TIMEOUT)).toThrow(/no verdict/);
  });
});

describe('names and views', () => {
  it('derives one record per deleted pod and one claim per record and kind', () => {
    expect(record.id).toBe('affinity-assistant-1f3c.old-uid.deleting');
    expect(settlementClaimId(record.id, 'relocated')).toBe('affinity-assistant-1f3c.old-uid.relocated');
    expect(settlementClaimId(record.id, 'stuck')).not.toBe(settlementClaimId(record.id, 'relocated'));
  });

  it('finds the StatefulSet of a pod by its name, and none for a name that is no ordinal pod', () => {
    expect(statefulSetOfPodName('affinity-assistant-1f3c-0')).toBe('affinity-assistant-1f3c');
    expect(statefulSetOfPodName('web-12')).toBe('web');
    expect(statefulSetOfPodName('standalone')).toBeUndefined();
  });

  it('is overdue from the timeout on, counted from the delete', () => {
    expect(isOverdue(record, new Date(Date.parse(record.deletedAt) + TIMEOUT - 1), TIMEOUT)).toBe(false);
    expect(isOverdue(record, new Date(Date.parse(record.deletedAt) + TIMEOUT), TIMEOUT)).toBe(true);
  });

  it('reads a pod: bound time from PodScheduled unless given, and the scheduler message of a Pending one', () => {
    const bound = replacementView({
      metadata: { uid: 'u' },
      spec: { nodeName: 'worker2', containers: [] },
      status: { conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-11-26T10:00:01Z' as unknown as Date }] },
    });
    expect(bound).toMatchObject({ uid: 'u', nodeName: 'worker2', boundAt: '2026-11-26T10:00:01.000Z', terminating: false });
    const pending = replacementView({
      metadata: { uid: 'u' },
      spec: { containers: [] },
      status: { conditions: [{ type: 'PodScheduled', status: 'False', message: '0/3 nodes are available' }] },
    });
    expect(pending).toMatchObject({ nodeName: undefined, boundAt: undefined, pendingMessage: '0/3 nodes are available' });
    expect(replacementView(undefined)).toBeUndefined();
  });
});

describe('a delete that relies on a new node (Karpenter, cluster autoscaler)', () => {
  const growing: DeletionRecord = { ...record, expectedGrowth: 'NodePool default' };
  const CAPACITY = 900_000;
  const at = (ms: number) => new Date(Date.parse(growing.deletedAt) + ms);
  const pending = { uid: 'new-uid', pendingMessage: '0/3 nodes are available' };

  it('is waiting for capacity, not stuck, while Pending past the confirmation timeout and within the capacity timeout', () => {
    const j = judgeReplacement(growing, pending, undefined, true, TIMEOUT, capacityWait(growing, at(TIMEOUT), CAPACITY));
    expect(j).toEqual({ kind: 'waiting-for-capacity', message: 'its replacement is Pending while NodePool default adds a node (0/3 nodes are available)' });
    expect(settlementOf(j)).toBeUndefined();
    const o = settledOutcome(growing, j as Exclude<typeof j, { kind: 'wait' }>, at(TIMEOUT));
    expect(o).toMatchObject({ kind: 'started', reason: 'waiting-for-capacity', deleteLatencyMs: 80 });
  });

  it('is stuck past the capacity timeout, saying who added no node', () => {
    const j = judgeReplacement(growing, pending, undefined, true, TIMEOUT, capacityWait(growing, at(CAPACITY), CAPACITY));
    expect(j).toEqual({ kind: 'stuck', reason: 'pending', message: 'its replacement is still Pending after 900 s, and NodePool default has added no node that took it: 0/3 nodes are available' });
  });

  it('is relocated once bound, with the latency from the trigger (node creation included) and who made the node', () => {
    const j = judgeReplacement(growing, { uid: 'new-uid', nodeName: 'default-x7k2p', boundAt: '2026-11-26T10:00:41.000Z' }, healthy, true, TIMEOUT, capacityWait(growing, at(TIMEOUT), CAPACITY));
    const o = settledOutcome(growing, j as Exclude<typeof j, { kind: 'wait' }>, at(TIMEOUT));
    expect(o).toMatchObject({ kind: 'relocated', toNode: 'default-x7k2p', boundLatencyMs: 41_000 });
    expect(o.message).toBe('builds/affinity-assistant-1f3c-0 moved from worker1 to default-x7k2p (node worker1 is cordoned; the node was expected from NodePool default)');
  });

  it('a record that expects no node is stuck at the confirmation timeout, as before', () => {
    expect(capacityWait(record, at(TIMEOUT), CAPACITY)).toBeUndefined();
    expect(judgeReplacement(record, pending, undefined, true, TIMEOUT, capacityWait(record, at(TIMEOUT), CAPACITY))).toMatchObject({ kind: 'stuck', reason: 'pending' });
  });
});

describe('deletionRecord', () => {
  it('records a delete with its trigger, its time and what each path adds, and names it after the StatefulSet and the old pod', () => {
    const r = deletionRecord(
      { statefulSet: { name: 'aa', uid: 'sts-uid' }, namespace: 'ci', pod: 'aa-0', oldPodUid: 'old', fromNode: 'w1', reasonCodes: ['Cordoned'], reasons: 'cordoned', forced: false, heldPod: { name: 'p', uid: 'h', since: '2026-11-26T09:59:00.000Z' } },
      { id: 't', source: 'node-event', observedAt: '2026-11-26T10:00:00Z', disruption: { kind: 'SpotInterruption', detail: 'warning' } },
      new Date('2026-11-26T10:00:00.050Z'),
    );
    expect(r).toMatchObject({ id: deletionRecordId('aa', 'old'), statefulSet: 'aa', statefulSetUid: 'sts-uid', triggerId: 't', observedAt: '2026-11-26T10:00:00.000Z', deletedAt: '2026-11-26T10:00:00.050Z', disruption: { kind: 'SpotInterruption' }, heldPod: { name: 'p' } });
    expect(r).not.toHaveProperty('expectedGrowth');
    expect(r).not.toHaveProperty('steeredTo');
  });
});
