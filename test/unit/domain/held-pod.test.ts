import { describe, expect, it } from 'vitest';
import type { Pod } from '../../../src/domain/k8s.js';
import { assistantInstanceOf, heldLongEnough, heldTaskRunPod } from '../../../src/domain/held-pod.js';

const SELECTOR = { 'app.kubernetes.io/component': 'affinity-assistant' };

/** A TaskRun pod as Tekton writes it, Unschedulable since 10:00:00. */
function pending(over: { labels?: Record<string, string>; term?: object | null; status?: object; nodeName?: string; deleting?: boolean } = {}): Pod {
  const term =
    over.term === null
      ? undefined
      : (over.term ?? {
          labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'affinity-assistant-abc', 'app.kubernetes.io/component': 'affinity-assistant' } },
          topologyKey: 'kubernetes.io/hostname',
        });
  return {
    metadata: { name: 'run-second-pod', namespace: 'ci', uid: 'u1', labels: over.labels ?? { 'tekton.dev/taskRun': 'run-second' }, ...(over.deleting ? { deletionTimestamp: '2026-12-07T10:01:00Z' } : {}) },
    spec: { containers: [], ...(over.nodeName ? { nodeName: over.nodeName } : {}), ...(term ? { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term as never] } } } : {}) },
    status: over.status ?? {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', lastTransitionTime: '2026-12-07T10:00:00Z', message: '0/2 nodes are available: 1 Insufficient cpu' }],
    },
  };
}

describe('heldTaskRunPod', () => {
  it('recognises a TaskRun pod the scheduler left Unschedulable beside its assistant, with since and message', () => {
    const c = heldTaskRunPod(pending(), SELECTOR);
    expect(c).toEqual({ held: true, pod: { assistant: 'affinity-assistant-abc', since: new Date('2026-12-07T10:00:00Z'), message: '0/2 nodes are available: 1 Insufficient cpu' } });
  });

  it.each([
    ['no TaskRun label', pending({ labels: { app: 'x' } }), /no tekton.dev\/taskRun label/],
    ['affinity to something that is not an assistant', pending({ term: { labelSelector: { matchLabels: { app: 'db', 'app.kubernetes.io/instance': 'db' } }, topologyKey: 'kubernetes.io/hostname' } }), /no required affinity to an affinity assistant/],
    ['affinity to an assistant across a zone, not a node', pending({ term: { labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'a', 'app.kubernetes.io/component': 'affinity-assistant' } }, topologyKey: 'topology.kubernetes.io/zone' } }), /no required affinity/],
    ['no affinity at all', pending({ term: null }), /no required affinity/],
    ['bound', pending({ nodeName: 'w1' }), /bound to w1/],
    ['terminating', pending({ deleting: true }), /terminating/],
    ['a nominated node (preemption)', pending({ status: { phase: 'Pending', nominatedNodeName: 'w2', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', lastTransitionTime: '2026-12-07T10:00:00Z' }] } }), /nominated w2/],
    ['not marked Unschedulable (never tried yet)', pending({ status: { phase: 'Pending' } }), /not marked the pod Unschedulable/],
    ['PodScheduled False for another reason', pending({ status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated', lastTransitionTime: '2026-12-07T10:00:00Z' }] } }), /not marked/],
  ])('leaves alone a pod with %s', (_, pod, why) => {
    const c = heldTaskRunPod(pod, SELECTOR);
    expect(c.held).toBe(false);
    if (!c.held) expect(c.why).toMatch(why);
  });

  it('reads a custom assistant selector', () => {
    const term = { labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'x', team: 'ci' } }, topologyKey: 'kubernetes.io/hostname' };
    expect(assistantInstanceOf(pending({ term }), { team: 'ci' })).toBe('x');
    expect(assistantInstanceOf(pending({ term }), SELECTOR)).toBeUndefined();
  });

  it('counts the grace from when the scheduler marked it', () => {
    const c = heldTaskRunPod(pending(), SELECTOR);
    if (!c.held) throw new Error('expected held');
    expect(heldLongEnough(c.pod, new Date('2026-12-07T10:00:19.999Z'), 20_000)).toBe(false);
    expect(heldLongEnough(c.pod, new Date('2026-12-07T10:00:20Z'), 20_000)).toBe(true);
  });
});
