import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type RelocatorConfig } from '../../../src/domain/config.js';
import { judgeReplacement, judgeRescue, settledOutcome, type DeletionRecord, type Judgement } from '../../../src/domain/deletion-record.js';
import { planRescue, type RescueObservation } from '../../../src/domain/rescue.js';
import { aNode, anAssistantOf, aPipelineRun, aPod, aStatefulSet, ago, NOW } from './builders.js';

const pr = aPipelineRun();
const sts = aStatefulSet(undefined, pr);
const INSTANCE = sts.metadata!.name!;
const CONFIG: RelocatorConfig = { ...DEFAULT_CONFIG, pendingGraceMs: 20_000 };
const toAssistant = { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { 'app.kubernetes.io/instance': INSTANCE, 'app.kubernetes.io/component': 'affinity-assistant' } }, topologyKey: 'kubernetes.io/hostname' }] } };

/** A TaskRun pod tied to the assistant, Unschedulable since `since`. */
function heldPod(since = ago(30_000)): V1Pod {
  const p = aPod('run-second-pod', { labels: { 'tekton.dev/taskRun': 'run-second' }, requests: { cpu: '3' }, affinity: toAssistant });
  p.metadata!.uid = 'held-uid';
  p.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', lastTransitionTime: since, message: '0/2 nodes are available: 1 Insufficient cpu' }] };
  return p;
}

function observe(o: Partial<RescueObservation> = {}): RescueObservation {
  return {
    held: heldPod(),
    assistant: anAssistantOf(sts).on('w1').build(),
    assistantName: INSTANCE,
    node: aNode('w1').build(),
    statefulSet: sts,
    pipelineRun: pr,
    workspaceUsers: [],
    unboundClaims: [],
    recentRelocations: 0,
    now: NOW,
    ...o,
  };
}
const placed = { node: 'w2', summary: 'w2 can take both', aloneOnly: [], complete: true };

describe('planRescue', () => {
  it('asks for a placement of the pair, then deletes the assistant with the held pod named', () => {
    expect(planRescue(observe(), CONFIG)).toMatchObject({ action: 'find-pair-placement' });
    const d = planRescue(observe({ placement: placed }), CONFIG);
    expect(d).toMatchObject({ action: 'delete', podUid: 'pod-uid-1', heldUid: 'held-uid', target: 'w2', taintFallbackSafe: true });
  });

  it('says the taint fallback is not enough when another node takes the replacement alone, or not every node was probed', () => {
    expect(planRescue(observe({ placement: { ...placed, aloneOnly: ['w3'] } }), CONFIG)).toMatchObject({ action: 'delete', taintFallbackSafe: false });
    expect(planRescue(observe({ placement: { ...placed, complete: false } }), CONFIG)).toMatchObject({ action: 'delete', taintFallbackSafe: false });
  });

  it('blocks when no node takes both, with the summary and the scheduler message', () => {
    const d = planRescue(observe({ placement: { node: undefined, summary: '0/3 nodes fit: 2 Insufficient cpu', aloneOnly: ['w2'], complete: true } }), CONFIG);
    expect(d).toMatchObject({ action: 'none', outcome: 'blocked', reason: 'no-feasible-node' });
    expect('message' in d && d.message).toMatch(/0\/3 nodes fit: 2 Insufficient cpu.*Insufficient cpu/);
  });

  it('never splits a workspace in use, naming the pod', () => {
    const d = planRescue(observe({ workspaceUsers: [aPod('run-first-pod', { node: 'w1' })], placement: placed }), CONFIG);
    expect(d).toMatchObject({ action: 'none', outcome: 'blocked', reason: 'workspace-in-use' });
    expect('message' in d && d.message).toContain('ci/run-first-pod');
  });

  it('hands an assistant on a bad node to the cause', () => {
    expect(planRescue(observe({ node: aNode('w1').cordoned().build() }), CONFIG)).toEqual({ action: 'cause' });
  });

  it.each<[string, Partial<RescueObservation>, string]>([
    ['the pod is gone', { held: undefined }, 'gone'],
    ['the trigger named an older pod', { expectedHeldUid: 'other' }, 'stale'],
    ['within the grace', { held: heldPod(ago(5_000)) }, 'not-held'],
    ['its claim is not bound', { unboundClaims: ['ws'] }, 'not-held'],
    ['no assistant pod', { assistant: undefined }, 'gone'],
    ['the assistant is not bound', { assistant: anAssistantOf(sts).build() }, 'not-bound'],
    ['the assistant is terminating', { assistant: anAssistantOf(sts).on('w1').terminating().build() }, 'already-terminating'],
    ['the assistant has no StatefulSet owner', { assistant: anAssistantOf(sts).on('w1').withoutOwner().build() }, 'not-an-assistant'],
    ['its run has finished', { pipelineRun: aPipelineRun('pr-1', { succeeded: 'True' }) }, 'pipelinerun-finished'],
  ])('skips when %s', (_, o, reason) => {
    expect(planRescue(observe(o), CONFIG)).toMatchObject({ action: 'none', outcome: 'skipped', reason });
  });

  it('with no node for both, asks whether the cluster can grow one, and relies on it only where our taint steers to it', () => {
    const none = { node: undefined, summary: '0/3 nodes fit', aloneOnly: [], complete: true };
    const auto = { ...CONFIG, whenNoNodeFits: 'auto' as const };
    expect(planRescue(observe({ placement: none }), auto)).toMatchObject({ action: 'find-growth' });
    expect(planRescue(observe({ placement: none, growth: { canGrow: true, by: 'NodePool ci', message: 'NodePool ci can create a node' } }), auto)).toMatchObject({ action: 'delete', growth: 'NodePool ci', taintFallbackSafe: true });
    expect(planRescue(observe({ placement: none, growth: { canGrow: false, message: 'no NodePool' } }), auto)).toMatchObject({ outcome: 'blocked', reason: 'no-feasible-node' });
    // An existing node would take the replacement alone: a new node would not get it.
    const d = planRescue(observe({ placement: { ...none, aloneOnly: ['w3'] } }), auto);
    expect(d).toMatchObject({ outcome: 'blocked', reason: 'no-feasible-node' });
    expect('message' in d && d.message).toContain('w3 would take the replacement alone');
    expect(planRescue(observe({ placement: none }), { ...CONFIG, whenNoNodeFits: 'block' })).toMatchObject({ outcome: 'blocked' });
  });

  it('keeps the loop guard', () => {
    expect(planRescue(observe({ recentRelocations: 3, placement: placed }), CONFIG)).toMatchObject({ outcome: 'blocked', reason: 'loop-guard' });
  });
});

describe('settling a rescue', () => {
  const record: DeletionRecord = {
    id: 'a.old-uid.deleting',
    namespace: 'ci',
    statefulSet: INSTANCE,
    pod: `${INSTANCE}-0`,
    oldPodUid: 'old-uid',
    fromNode: 'w1',
    triggerId: 't',
    triggerSource: 'pending-pod-event',
    observedAt: '2026-11-25T12:00:00.000Z',
    deletedAt: '2026-11-25T12:00:00.050Z',
    reasonCodes: [],
    reasons: 'ci/run-second-pod was Unschedulable beside it',
    forced: false,
    heldPod: { name: 'run-second-pod', uid: 'held-uid', since: '2026-11-25T11:59:40.000Z' },
    steeredTo: { node: 'w2', by: 'admission' },
  };
  const bound = judgeReplacement(record, { uid: 'new-uid', nodeName: 'w2', boundAt: '2026-11-25T12:00:00.400Z' }, { schedulable: true, reasons: [] }, false, 60_000);

  it('is relocated once the held pod is bound, with the time it waited', () => {
    const j = judgeRescue(record, bound, { uid: 'held-uid', nodeName: 'w2', boundAt: '2026-11-25T12:00:01.000Z' }, false, 60_000);
    const o = settledOutcome(record, j as Exclude<Judgement, { kind: 'wait' }>, NOW);
    expect(o).toMatchObject({ kind: 'relocated', reason: 'pending-taskrun', toNode: 'w2', heldPod: 'run-second-pod', pendingToBoundMs: 21_000 });
    expect(o.message).toContain('run-second-pod followed it to w2');
  });

  it('waits while the held pod is Pending, and is stuck with the scheduler message past the timeout', () => {
    const pending = { uid: 'held-uid', pendingMessage: '0/2 nodes are available: 2 Insufficient cpu' };
    expect(judgeRescue(record, bound, pending, false, 60_000)).toEqual({ kind: 'wait' });
    expect(judgeRescue(record, bound, pending, true, 60_000)).toMatchObject({ kind: 'stuck', reason: 'held-pod-pending', message: expect.stringContaining('2 Insufficient cpu') });
  });

  it('is relocated when the held pod is gone (its run was cancelled), saying so', () => {
    const j = judgeRescue(record, bound, undefined, false, 60_000);
    expect(settledOutcome(record, j as Exclude<Judgement, { kind: 'wait' }>, NOW).message).toContain('is gone');
  });

  it('leaves any other judgement of the replacement as it is', () => {
    const stuck = judgeReplacement(record, undefined, undefined, true, 60_000);
    expect(judgeRescue(record, stuck, { uid: 'held-uid', nodeName: 'w2' }, true, 60_000)).toBe(stuck);
  });
});
