import { describe, expect, it } from 'vitest';
import {
  InvalidEventError,
  isNonRetryable,
  MAX_EVENT_BYTES,
  parseScheduledEvent,
  parseTriggerEvent,
} from '../../../src/events/index.js';
import { fixtureFiles, fixtureJson, sampleEvent } from './fixtures.js';

/** The error a parse throws (fails the test when it does not throw). */
function rejection(parse: () => unknown): InvalidEventError {
  try {
    parse();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidEventError);
    expect(isNonRetryable(e)).toBe(true);
    return e as InvalidEventError;
  }
  throw new Error('expected the event to be rejected');
}

/** A copy of a sample with `change` applied to its detail. */
function withDetail(path: string, change: Record<string, unknown>) {
  const event = sampleEvent(path);
  return { ...event, detail: { ...(event.detail as Record<string, unknown>), ...change } };
}

describe('parseTriggerEvent', () => {
  it('turns a node event into a trigger to look at that node', () => {
    expect(parseTriggerEvent(sampleEvent('valid/node-schedulability-changed.json'))).toStrictEqual({
      id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
      source: 'node-event',
      target: {
        kind: 'node',
        node: {
          name: 'ip-10-0-12-34.eu-west-1.compute.internal',
          uid: '0c5a8f9e-3d2b-4e61-9a7f-1b2c3d4e5f60',
          resourceVersion: '48213977',
        },
      },
      observedAt: '2025-03-14T09:26:52.614Z',
      cluster: 'ci-eu-west-1',
    });
  });

  it('turns a moved assistant pod into a trigger naming the node it is on now', () => {
    expect(parseTriggerEvent(sampleEvent('valid/assistant-pod-changed.json'))).toEqual({
      id: 'f2b9c0d1-7e3a-4c5b-8d6e-9f0a1b2c3d4e',
      source: 'pod-event',
      target: {
        kind: 'pod',
        pod: {
          namespace: 'builds',
          name: 'affinity-assistant-1f3c2a9b7d-0',
          uid: '9d8c7b6a-5f4e-4d3c-b2a1-0f9e8d7c6b5a',
          resourceVersion: '48214102',
          nodeName: 'ip-10-0-45-67.eu-west-1.compute.internal',
        },
        change: 'moved',
      },
      observedAt: '2025-03-14T09:27:30.902Z',
      cluster: 'ci-eu-west-1',
    });
  });

  it('names the node a bound pod is bound to, and the node a deleted pod was on', () => {
    for (const change of ['bound', 'deleted']) {
      const event = withDetail('valid/assistant-pod-changed.json', { change });
      delete event.detail.previousNodeName;
      expect(parseTriggerEvent(event).target).toMatchObject({
        pod: { nodeName: 'ip-10-0-45-67.eu-west-1.compute.internal' },
        change,
      });
    }
  });

  it('accepts the deletion of a pod that was never bound', () => {
    const event = sampleEvent('valid/assistant-pod-changed.json');
    const { nodeName: _, ...unboundPod } = (event.detail as { pod: Record<string, unknown> }).pod;
    const deleted = withDetail('valid/assistant-pod-changed.json', { change: 'deleted', pod: unboundPod });
    delete deleted.detail.previousNodeName;
    expect(parseTriggerEvent(deleted).target).toMatchObject({
      kind: 'pod',
      pod: { name: 'affinity-assistant-1f3c2a9b7d-0', nodeName: undefined },
    });
  });

  it('turns a request from a person into a manual trigger for the pod they named', () => {
    expect(parseTriggerEvent(sampleEvent('valid/relocation-requested.json'))).toEqual({
      id: '2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5f7a',
      source: 'manual',
      target: {
        kind: 'pod',
        pod: {
          namespace: 'builds',
          name: 'affinity-assistant-1f3c2a9b7d-0',
          uid: '9d8c7b6a-5f4e-4d3c-b2a1-0f9e8d7c6b5a',
        },
      },
      observedAt: '2025-03-14T10:02:10.337Z',
      cluster: 'ci-eu-west-1',
    });
  });

  it('turns a request from Alertmanager into an alert trigger for the instance, carrying the disruption', () => {
    expect(parseTriggerEvent(sampleEvent('valid/relocation-requested-by-alert.json'))).toEqual({
      id: '8e0a2c4e-6b8d-4f1a-a3c5-e7092b4d6f81',
      source: 'alert',
      target: { kind: 'instance', instanceId: 'i-0a1b2c3d4e5f67890' },
      observedAt: '2025-03-14T11:45:00Z',
      disruption: {
        kind: 'NodeHardwareDegraded',
        detail: 'EBS volume impaired on i-0a1b2c3d4e5f67890',
        notAfter: '2025-03-14T12:15:00Z',
      },
      cluster: 'ci-eu-west-1',
    });
  });

  it('accepts a request for a node by name and an 8-digit instance id', () => {
    const byNode = withDetail('valid/relocation-requested.json', { target: { node: { name: 'worker-3' } } });
    expect(parseTriggerEvent(byNode).target).toEqual({ kind: 'node', node: { name: 'worker-3' } });
    const byOldInstance = withDetail('valid/relocation-requested.json', { target: { instanceId: 'i-0123abcd' } });
    expect(parseTriggerEvent(byOldInstance).target).toEqual({ kind: 'instance', instanceId: 'i-0123abcd' });
  });

  it('turns a TaskRun pod held Pending into a trigger naming the pod and the assistant that holds it', () => {
    expect(parseTriggerEvent(sampleEvent('valid/taskrun-pod-unschedulable.json'))).toStrictEqual({
      id: '0c6f1e2d-3b4a-4f5e-9a8b-7c6d5e4f3a2b',
      source: 'pending-pod-event',
      target: {
        kind: 'pending-pod',
        pod: { namespace: 'builds', name: 'build-7x2kq-compile-pod', uid: '4b3a2c1d-0e9f-4a8b-b7c6-d5e4f3a2b1c0', resourceVersion: '48215530' },
        assistant: 'affinity-assistant-1f3c2a9b7d',
      },
      observedAt: '2025-03-14T09:31:01.517Z',
      cluster: 'ci-eu-west-1',
    });
  });

  it('accepts a held TaskRun pod without the scheduler\'s message', () => {
    const event = sampleEvent('valid/taskrun-pod-unschedulable.json');
    delete (event.detail as Record<string, unknown>).message;
    expect(parseTriggerEvent(event).target).toMatchObject({ kind: 'pending-pod', assistant: 'affinity-assistant-1f3c2a9b7d' });
  });

  it('names every bad field of a held TaskRun pod in one message', () => {
    const event = sampleEvent('valid/taskrun-pod-unschedulable.json');
    const { assistant: _, ...detail } = event.detail as Record<string, unknown>;
    const bad = { ...event, detail: { ...detail, unschedulableSince: 'yesterday', nodeName: 'w1' } };
    expect(rejection(() => parseTriggerEvent(bad)).message).toBe(
      'invalid "TaskRun Pod Unschedulable" event: ' +
        'detail.assistant: Invalid input: expected string, received undefined; ' +
        'detail.unschedulableSince: Invalid ISO datetime; ' +
        'detail.nodeName: unknown field (check its spelling)',
    );
  });

  it('accepts envelope keys AWS may add, such as replay-name', () => {
    const replayed = { ...sampleEvent('valid/node-schedulability-changed.json'), 'replay-name': 'after-outage' };
    expect(parseTriggerEvent(replayed).source).toBe('node-event');
  });

  describe('rejects malformed events as non-retryable, naming the bad field', () => {
    // file -> the path of one issue the error must list, and a fragment of that issue's message.
    const cases = fixtureJson('malformed/cases.json') as Record<string, { path: string; message?: string }>;

    it('has an expectation for every malformed sample, and a sample for every expectation', () => {
      expect(fixtureFiles('malformed').filter((f) => f !== 'cases.json').sort()).toEqual(Object.keys(cases).sort());
    });

    it.each(Object.entries(cases))('%s', (file, { path, message = '' }) => {
      const err = rejection(() => parseTriggerEvent(sampleEvent(`malformed/${file}`)));
      expect(err.issues).toContainEqual({ path, message: expect.stringContaining(message) });
      expect(err.message).toContain(path === '' ? message : `${path}: `);
    });
  });

  it('names every bad field in one message', () => {
    const event = sampleEvent('valid/node-schedulability-changed.json');
    const detail = event.detail as { node: object };
    const bad = {
      ...event,
      detail: { ...detail, node: { ...detail.node, name: 'Worker_1' }, observedAt: 'yesterday' },
    };
    expect(rejection(() => parseTriggerEvent(bad)).message).toBe(
      'invalid "Node Schedulability Changed" event: ' +
        'detail.observedAt: Invalid ISO datetime; ' +
        'detail.node.name: must be a DNS-1123 subdomain (lowercase alphanumerics, "-", ".")',
    );
  });

  it('lists the first ten problems and counts the rest', () => {
    const reasons = Array.from({ length: 12 }, () => ({ message: 'no code' }));
    const err = rejection(() => parseTriggerEvent(withDetail('valid/node-schedulability-changed.json', { reasons })));
    expect(err.issues).toHaveLength(12);
    expect(err.message).toContain('detail.reasons[9].code');
    expect(err.message).not.toContain('detail.reasons[10].code');
    expect(err.message).toMatch(/; and 2 more$/);
  });

  it('never repeats a long value from the event in its message', () => {
    const secretish = 'AKIA'.repeat(100);
    const err = rejection(() =>
      parseTriggerEvent({ ...sampleEvent('valid/node-schedulability-changed.json'), 'detail-type': secretish }),
    );
    expect(err.message).not.toContain(secretish);
    expect(err.message.length).toBeLessThan(300);
  });

  it('rejects an event over 256 KiB before validating it, saying how big it is', () => {
    const huge = withDetail('valid/node-schedulability-changed.json', { padding: 'x'.repeat(300 * 1024) });
    const err = rejection(() => parseTriggerEvent(huge));
    expect(err.issues).toHaveLength(1); // the unknown field was never looked at
    expect(err.message).toMatch(
      /^invalid "Node Schedulability Changed" event: \d{6} bytes of JSON, over the 262144-byte \(256 KiB\) limit/,
    );
    expect(err.message).not.toContain('xxxxxxxxxx');
  });

  it('accepts an event of exactly 256 KiB and rejects one byte more, counting bytes rather than characters', () => {
    const event = sampleEvent('valid/node-schedulability-changed.json');
    const withReplayName = (name: string) => ({ ...event, 'replay-name': name });
    const room = MAX_EVENT_BYTES - Buffer.byteLength(JSON.stringify(withReplayName('')));
    expect(room % 2).toBe(0); // so that two-byte characters can fill it exactly
    expect(parseTriggerEvent(withReplayName('é'.repeat(room / 2))).source).toBe('node-event');
    expect(rejection(() => parseTriggerEvent(withReplayName('é'.repeat(room / 2) + 'x'))).message).toContain(
      `${MAX_EVENT_BYTES + 1} bytes`,
    );
  });

  it('rejects an object that cannot be serialised as JSON', () => {
    const circular: Record<string, unknown> = { ...sampleEvent('valid/node-schedulability-changed.json') };
    circular.self = circular;
    expect(rejection(() => parseTriggerEvent(circular)).message).toMatch(/not serialisable as JSON/);
  });

  it('rejects undefined as not an object', () => {
    expect(rejection(() => parseTriggerEvent(undefined)).message).toBe(
      'invalid event: Invalid input: expected object, received undefined',
    );
  });
});

describe('parseScheduledEvent', () => {
  it('turns the sweep schedule into a trigger to look at every assistant', () => {
    expect(parseScheduledEvent(sampleEvent('valid/scheduled-event.json'))).toEqual({
      id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
      source: 'sweep',
      target: { kind: 'all' },
      observedAt: '2025-03-14T09:30:00Z',
    });
  });

  it('rejects an event that is not the schedule, naming source and detail-type', () => {
    const err = rejection(() => parseScheduledEvent(sampleEvent('valid/node-schedulability-changed.json')));
    expect(err.issues.map((i) => i.path)).toEqual(['detail-type', 'source']);
    expect(err.message).toMatch(/^invalid "Scheduled Event" event: /);
  });
});

describe('isNonRetryable', () => {
  it('does not claim other errors, which may be transient', () => {
    expect(isNonRetryable(new Error('ECONNRESET'))).toBe(false);
    expect(isNonRetryable('InvalidEventError')).toBe(false);
  });
});
