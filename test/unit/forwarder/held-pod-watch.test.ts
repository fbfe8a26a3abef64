import { describe, expect, it } from 'vitest';
import { slimTaskRunPod } from '../../../src/forwarder/held-pod-watch.js';

const SELECTOR = { 'app.kubernetes.io/component': 'affinity-assistant' };

/** A TaskRun pod much as Tekton writes it: steps, init containers, volumes, and the assistant's affinity term. */
function taskRunPod(o: { message?: string; term?: boolean } = {}) {
  return {
    metadata: {
      name: 'build-7x2kq-compile-pod',
      namespace: 'builds',
      uid: '4b3a2c1d-0e9f-4a8b-b7c6-d5e4f3a2b1c0',
      resourceVersion: '48215530',
      labels: { 'tekton.dev/taskRun': 'build-7x2kq-compile', 'tekton.dev/pipelineRun': 'build-7x2kq', 'app.kubernetes.io/managed-by': 'tekton-pipelines' },
      annotations: { 'pipeline.tekton.dev/affinity-assistant': 'affinity-assistant-1f3c2a9b7d', 'pipeline.tekton.dev/release': 'v1.15.0' },
      managedFields: [{ manager: 'controller', operation: 'Update', fieldsV1: { 'f:spec': {} } }],
    },
    spec: {
      initContainers: [{ name: 'prepare', image: 'entrypoint', args: Array.from({ length: 20 }, (_, i) => `-arg${i}`) }],
      containers: [{ name: 'step-compile', image: 'golang', command: ['/tekton/bin/entrypoint'], resources: { requests: { cpu: '3' } } }],
      volumes: [{ name: 'tekton-internal-workspace', emptyDir: {} }],
      affinity: o.term === false
        ? undefined
        : {
            podAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                { labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'affinity-assistant-1f3c2a9b7d', 'app.kubernetes.io/component': 'affinity-assistant' } }, topologyKey: 'kubernetes.io/hostname' },
              ],
            },
          },
    },
    status: {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', lastTransitionTime: '2025-03-14T09:30:41Z', message: o.message ?? '0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn\'t match pod affinity rules.' }],
    },
  };
}

const identity = { name: 'build-7x2kq-compile-pod', namespace: 'builds', uid: '4b3a2c1d-0e9f-4a8b-b7c6-d5e4f3a2b1c0', resourceVersion: '48215530' };

describe('what the forwarder keeps of a Pending TaskRun pod', () => {
  it('keeps its identity and the verdict on the whole pod: the assistant that holds it, since when, and why', () => {
    expect(slimTaskRunPod(taskRunPod(), SELECTOR)).toStrictEqual({
      metadata: identity,
      held: { assistant: 'affinity-assistant-1f3c2a9b7d', sinceMs: Date.parse('2025-03-14T09:30:41Z'), message: "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match pod affinity rules." },
    });
  });

  it('keeps only the identity of a pod that no assistant holds', () => {
    expect(slimTaskRunPod(taskRunPod({ term: false }), SELECTOR)).toStrictEqual({ metadata: identity });
  });

  it('cuts the scheduler\'s message to what the event takes', () => {
    const view = slimTaskRunPod(taskRunPod({ message: 'x'.repeat(5_000) }), SELECTOR);
    expect(view.held?.message).toHaveLength(2048);
  });
});
