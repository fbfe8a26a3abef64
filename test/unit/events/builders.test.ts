import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from 'vitest';
import {
  ASSISTANT_POD_CHANGED,
  assistantPodChangedDetail,
  InvalidEventError,
  NODE_SCHEDULABILITY_CHANGED,
  nodeSchedulabilityChangedDetail,
  parseTriggerEvent,
  toPutEventsEntry,
} from '../../../src/events/index.js';
import { asDelivered } from './fixtures.js';

const cordoned = {
  cluster: 'ci-eu-west-1',
  observedAt: '2025-03-14T09:26:52.614Z',
  node: { name: 'worker-1', uid: 'node-uid-1', resourceVersion: '101' },
  schedulable: false,
  reasons: [{ code: 'Cordoned', message: 'spec.unschedulable is true' }],
};

describe('input event builders', () => {
  it('builds a node event that travels through EventBridge and comes back as a trigger for that node', () => {
    const entry = toPutEventsEntry(NODE_SCHEDULABILITY_CHANGED, nodeSchedulabilityChangedDetail(cordoned));
    expect(entry).toMatchObject({ Source: 'affinity-relocator', DetailType: 'Node Schedulability Changed' });
    expect(JSON.parse(entry.Detail)).toEqual({ schemaVersion: 1, ...cordoned });
    expect(parseTriggerEvent(asDelivered(entry, 'evt-1'))).toEqual({
      id: 'evt-1',
      source: 'node-event',
      target: { kind: 'node', node: { name: 'worker-1', uid: 'node-uid-1', resourceVersion: '101' } },
      observedAt: '2025-03-14T09:26:52.614Z',
      cluster: 'ci-eu-west-1',
    });
  });

  it('builds a pod event that travels through EventBridge and comes back as a trigger for that pod', () => {
    const detail = assistantPodChangedDetail({
      cluster: 'ci-eu-west-1',
      observedAt: '2025-03-14T09:27:30+01:00',
      pod: {
        namespace: 'builds',
        name: 'affinity-assistant-abc-0',
        uid: 'pod-uid-1',
        resourceVersion: '202',
        nodeName: 'worker-1',
      },
      change: 'bound',
    });
    const trigger = parseTriggerEvent(asDelivered(toPutEventsEntry(ASSISTANT_POD_CHANGED, detail)));
    expect(trigger).toMatchObject({
      source: 'pod-event',
      target: { kind: 'pod', pod: { namespace: 'builds', name: 'affinity-assistant-abc-0', nodeName: 'worker-1' } },
      observedAt: '2025-03-14T09:27:30+01:00',
    });
  });

  it('refuses to build a detail that consumers would reject, naming the field', () => {
    const bad = { ...cordoned, node: { ...cordoned.node, name: 'Worker_1' } };
    expect(() => nodeSchedulabilityChangedDetail(bad)).toThrow(InvalidEventError);
    expect(() => nodeSchedulabilityChangedDetail(bad)).toThrow(
      /^invalid "Node Schedulability Changed" detail: node\.name: must be a DNS-1123 subdomain/,
    );
  });

  it('refuses extra fields handed over by mistake, such as a whole Kubernetes object', () => {
    const withWholeNode = { ...cordoned, node: { ...cordoned.node, spec: { unschedulable: true } } };
    expect(() => nodeSchedulabilityChangedDetail(withWholeNode)).toThrow('node.spec: unknown field');
  });

  it('produces entries the EventBridge client accepts', () => {
    const detail = nodeSchedulabilityChangedDetail(cordoned);
    const entry: PutEventsRequestEntry = toPutEventsEntry(NODE_SCHEDULABILITY_CHANGED, detail);
    expect(entry.EventBusName).toBeUndefined();
  });
});
