import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from 'vitest';
import type { Outcome, OutcomeKind } from '../../../src/domain/outcome.js';
import { ResultDetailSchema, toResultEntry } from '../../../src/events/index.js';

const NOW = new Date('2025-03-14T09:27:41.250Z');

/** An outcome with only the required fields. */
function anOutcome(kind: OutcomeKind, reason: string): Outcome {
  return {
    kind,
    reason,
    message: `assistant ${kind}: ${reason}`,
    assistant: { namespace: 'builds', pod: 'affinity-assistant-abc-0' },
    triggerId: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    triggerSource: 'node-event',
  };
}

const relocated: Outcome = {
  ...anOutcome('relocated', 'relocated'),
  assistant: {
    namespace: 'builds',
    pod: 'affinity-assistant-abc-0',
    podUid: 'old-pod-uid',
    statefulSet: 'affinity-assistant-abc',
    statefulSetUid: 'sts-uid',
    pipelineRun: 'release-42',
  },
  fromNode: 'ip-10-0-12-34.eu-west-1.compute.internal',
  toNode: 'ip-10-0-45-67.eu-west-1.compute.internal',
  newPodUid: 'new-pod-uid',
  nodeReasons: ['Cordoned', 'Tainted'],
  deleteLatencyMs: 412,
  boundLatencyMs: 3810,
  forced: false,
  dryRun: false,
};

describe('toResultEntry', () => {
  it.each([
    { outcome: relocated, detailType: 'Assistant Relocated' },
    { outcome: anOutcome('blocked', 'no-feasible-node'), detailType: 'Assistant Relocation Blocked' },
    { outcome: anOutcome('failed', 'delete-error'), detailType: 'Assistant Relocation Failed' },
    { outcome: { ...anOutcome('skipped', 'dry-run'), dryRun: true }, detailType: 'Assistant Relocation Skipped' },
    { outcome: anOutcome('stuck', 'pending-past-deadline'), detailType: 'Assistant Relocation Stuck' },
  ])('publishes a $outcome.kind outcome as $detailType, with a detail the result schema accepts', (c) => {
    const { outcome, detailType } = c;
    const entry = toResultEntry(outcome, 'ci-eu-west-1', NOW, outcome.kind !== 'skipped');
    expect(entry.Source).toBe('affinity-relocator');
    expect(entry.DetailType).toBe(detailType);
    const detail = ResultDetailSchema.parse(JSON.parse(entry.Detail));
    expect(detail).toEqual({
      schemaVersion: 1,
      cluster: 'ci-eu-west-1',
      observedAt: '2025-03-14T09:27:41.250Z',
      notify: outcome.kind !== 'skipped',
      ...outcome,
    });
  });

  it('says whether the event is a notification, and the schema requires it to say so', () => {
    for (const notify of [true, false]) expect(JSON.parse(toResultEntry(relocated, 'ci-eu-west-1', NOW, notify).Detail).notify).toBe(notify);
    const { notify: _, ...without } = JSON.parse(toResultEntry(relocated, 'ci-eu-west-1', NOW, true).Detail) as Record<string, unknown>;
    expect(ResultDetailSchema.safeParse(without).error?.issues[0]?.path).toEqual(['notify']);
  });

  it('produces entries the EventBridge client accepts', () => {
    const entry: PutEventsRequestEntry = toResultEntry(relocated, 'ci-eu-west-1', NOW, true);
    expect(entry.EventBusName).toBeUndefined();
  });
});

describe('ResultDetailSchema', () => {
  it('rejects a result detail with a field it does not know, so consumers notice a contract change', () => {
    const detail = { ...JSON.parse(toResultEntry(relocated, 'ci-eu-west-1', NOW, true).Detail), toNodeName: 'x' };
    expect(ResultDetailSchema.safeParse(detail).success).toBe(false);
  });
});
