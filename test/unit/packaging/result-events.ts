/**
 * Result events exactly as the functions publish them (src/events/results.ts `toResultEntry`), wrapped in
 * the envelope EventBridge delivers to a rule's targets.
 */
import type { Outcome, OutcomeKind } from '../../../src/domain/outcome.js';
import { toResultEntry } from '../../../src/events/results.js';
import { notifiable } from '../../../src/relocator/notifications.js';

export const CLUSTER = 'ci-eu-west-1';
const NOW = new Date('2025-03-14T09:27:41.250Z');

/** An assistant with every name a result can carry. */
export const ASSISTANT = {
  namespace: 'builds',
  pod: 'affinity-assistant-1f3c2a9b7d-0',
  podUid: '9d8c7b6a-5f4e-4d3c-b2a1-0f9e8d7c6b5a',
  statefulSet: 'affinity-assistant-1f3c2a9b7d',
  statefulSetUid: '3b1f7c2e-8a4d-4e6f-9b0c-1d2e3f4a5b6c',
  pipelineRun: 'release-42',
};

const MESSAGES: Record<OutcomeKind, string> = {
  started: 'builds/affinity-assistant-1f3c2a9b7d-0 deleted from ip-10-0-12-34.eu-west-1.compute.internal (cordoned); its StatefulSet recreates it',
  relocated: 'relocated off ip-10-0-12-34.eu-west-1.compute.internal in 3.8 s',
  // Quotes, as in Kubernetes' own messages: free text must survive every alert template.
  blocked: 'no healthy node can take the pod: volume "pvc-7f3a" is bound to eu-west-1a, where every node is cordoned',
  failed: 'could not relocate builds/affinity-assistant-1f3c2a9b7d-0: pods "affinity-assistant-1f3c2a9b7d-0" is forbidden',
  stuck: 'the recreated pod is still Pending after 60 s: 0/3 nodes are available',
  skipped: 'dry run: would delete builds/affinity-assistant-1f3c2a9b7d-0',
};

/** An outcome of this kind with every optional field, or (`minimal`) with the required ones only. */
export function anOutcome(kind: OutcomeKind, { minimal = false } = {}): Outcome {
  const required: Outcome = {
    kind,
    reason: kind === 'blocked' ? 'no-feasible-node' : kind === 'skipped' ? 'dry-run' : kind,
    message: MESSAGES[kind],
    assistant: minimal ? { namespace: ASSISTANT.namespace, pod: ASSISTANT.pod } : ASSISTANT,
    triggerId: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    triggerSource: 'node-event',
  };
  if (minimal) return required;
  return {
    ...required,
    fromNode: 'ip-10-0-12-34.eu-west-1.compute.internal',
    nodeReasons: ['Cordoned'],
    ...(kind === 'relocated' ? { toNode: 'ip-10-0-45-67.eu-west-1.compute.internal', newPodUid: 'b0c1d2e3-f4a5-4b6c-8d7e-9f0a1b2c3d4e', boundLatencyMs: 3810 } : {}),
  };
}

/**
 * The event a rule on the relocator bus sees for this outcome; `notify` as the functions' notification
 * gate would say for a first occurrence (a repeat within the window says false).
 */
export function resultEvent(outcome: Outcome, { notify = notifiable(outcome) } = {}): Record<string, unknown> {
  const entry = toResultEntry(outcome, CLUSTER, NOW, notify);
  return {
    version: '0',
    id: '0d4a1c7e-2b3f-4c5d-8e9f-a0b1c2d3e4f5',
    'detail-type': entry.DetailType,
    source: entry.Source,
    account: '111122223333',
    time: '2025-03-14T09:27:42Z',
    region: 'eu-west-1',
    resources: [],
    detail: JSON.parse(entry.Detail) as unknown,
  };
}
