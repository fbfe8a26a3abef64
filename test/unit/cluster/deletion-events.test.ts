import { describe, expect, it } from 'vitest';
import { recordAnnotations, recordOf } from '../../../src/cluster/deletion-events.js';
import type { DeletionRecord } from '../../../src/domain/deletion-record.js';

const record: DeletionRecord = {
  id: 'affinity-assistant-1.old-uid.deleting',
  namespace: 'ci',
  statefulSet: 'affinity-assistant-1',
  statefulSetUid: 'sts-uid',
  pod: 'affinity-assistant-1-0',
  oldPodUid: 'old-uid',
  fromNode: 'node-a',
  triggerId: 't1',
  triggerSource: 'aws-spot-interruption',
  observedAt: '2026-11-26T10:00:00.000Z',
  deletedAt: '2026-11-26T10:00:00.100Z',
  reasonCodes: ['Interrupted'],
  reasons: 'SpotInterruption: EC2 Spot Instance Interruption Warning',
  forced: false,
  disruption: { kind: 'SpotInterruption', detail: 'EC2 Spot Instance Interruption Warning', notAfter: '2026-11-26T10:02:00Z' },
};

const event = (annotations: Record<string, string> | undefined, name = record.id) => ({ reason: 'AssistantDeleting', involvedObject: {}, metadata: { name, annotations } });

describe('deletion records on Events', () => {
  it('round-trips a record, the announcement that made us leave included', () => {
    expect(recordOf(event(recordAnnotations(record)))).toEqual(record);
    const { disruption: _d, ...plain } = record;
    expect(recordOf(event(recordAnnotations(plain)))).toEqual(plain);
  });

  it('round-trips the held pod a rescue frees and where its replacement was steered', () => {
    const rescue = { ...record, heldPod: { name: 'run-second-pod', uid: 'held-uid', since: '2026-11-26T09:59:40.000Z' }, steeredTo: { node: 'worker2', by: 'admission' as const } };
    expect(recordOf(event(recordAnnotations(rescue)))).toEqual(rescue);
    expect(recordOf(event(recordAnnotations({ ...rescue, steeredTo: { node: 'worker2', by: 'magic' } as never })))).toBeUndefined();
  });

  it('reads no record from an Event without one, or with one that does not parse', () => {
    expect(recordOf(event(undefined))).toBeUndefined();
    expect(recordOf({ ...event(recordAnnotations(record)), reason: 'AssistantRelocated' })).toBeUndefined();
    expect(recordOf(event({ 'affinity-relocator.io/deletion': '{not json' }))).toBeUndefined();
    expect(recordOf(event(recordAnnotations({ ...record, disruption: { kind: 'SpotInterruption' } as never })))).toBeUndefined();
  });
});
