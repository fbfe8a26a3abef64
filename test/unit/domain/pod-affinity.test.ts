import type { V1PodAffinityTerm } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { interPodRejection, labelSelectorMatches, labelSelectorQuery, termMatchesPod } from '../../../src/domain/pod-affinity.js';
import { aNode, aPod } from './builders.js';

const HOST = 'kubernetes.io/hostname';
const ZONE = 'topology.kubernetes.io/zone';
const term = (labels: Record<string, string>, topologyKey = HOST, more: Partial<V1PodAffinityTerm> = {}): V1PodAffinityTerm => ({
  labelSelector: { matchLabels: labels },
  topologyKey,
  ...more,
});
const noNs = () => undefined;

describe('label selectors', () => {
  it('match as metav1 selectors do: nil matches nothing, {} everything', () => {
    expect(labelSelectorMatches(undefined, { a: 'b' })).toBe(false);
    expect(labelSelectorMatches({}, {})).toBe(true);
    const sel = { matchLabels: { app: 'x' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }, { key: 'canary', operator: 'DoesNotExist' }] };
    expect(labelSelectorMatches(sel, { app: 'x', tier: 'b' })).toBe(true);
    expect(labelSelectorMatches(sel, { app: 'x', tier: 'c' })).toBe(false);
    expect(labelSelectorMatches(sel, { app: 'x', tier: 'a', canary: '' })).toBe(false);
    expect(labelSelectorMatches({ matchExpressions: [{ key: 't', operator: 'NotIn', values: ['a'] }] }, {})).toBe(true);
  });

  it('become the list query the apiserver understands', () => {
    const sel = { matchLabels: { app: 'x' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }, { key: 'c', operator: 'NotIn', values: ['d'] }, { key: 'e', operator: 'Exists' }, { key: 'f', operator: 'DoesNotExist' }] };
    expect(labelSelectorQuery(sel)).toBe('app=x,tier in (a,b),c notin (d),e,!f');
  });
});

describe('namespaces of a term', () => {
  const p = aPod('p', { namespace: 'team-b', labels: { app: 'x' } });
  it("default to the term owner's namespace", () => {
    expect(termMatchesPod(term({ app: 'x' }), 'team-a', p, noNs)).toBe(false);
    expect(termMatchesPod(term({ app: 'x' }), 'team-b', p, noNs)).toBe(true);
  });
  it('are the listed ones, plus those the namespaceSelector matches ({}: all)', () => {
    expect(termMatchesPod(term({ app: 'x' }, HOST, { namespaces: ['team-b'] }), 'team-a', p, noNs)).toBe(true);
    expect(termMatchesPod(term({ app: 'x' }, HOST, { namespaceSelector: {} }), 'team-a', p, noNs)).toBe(true);
    const byLabel = term({ app: 'x' }, HOST, { namespaceSelector: { matchLabels: { ci: 'true' } } });
    expect(termMatchesPod(byLabel, 'team-a', p, (ns) => (ns === 'team-b' ? { ci: 'true' } : undefined))).toBe(true);
    expect(termMatchesPod(byLabel, 'team-a', p, () => ({ ci: 'false' }))).toBe(false);
  });
});

describe('the inter-pod affinity filter', () => {
  const w2 = aNode('w2').build();
  const w3 = aNode('w3').inZone('us-east-1b').build();
  const placed = (name: string, node = w2, labels = { app: 'db' }) => ({ pod: aPod(name, { node: node.metadata!.name, labels }), node });

  it('requires a matching pod in the same domain for an affinity term', () => {
    const pod = aPod('in', { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'db' })] } } });
    expect(interPodRejection({ pod, node: w2, termPods: [placed('db', w2)], nodePods: [], nsLabels: noNs })).toBeUndefined();
    expect(interPodRejection({ pod, node: w3, termPods: [placed('db', w2)], nodePods: [], nsLabels: noNs })).toBe("didn't match pod affinity rules");
  });

  it('lets the first pod of a series that matches its own affinity go anywhere', () => {
    const pod = aPod('first', { labels: { app: 'db' }, affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'db' })] } } });
    expect(interPodRejection({ pod, node: w3, termPods: [], nodePods: [], nsLabels: noNs })).toBeUndefined();
    const other = aPod('other', { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'db' })] } } });
    expect(interPodRejection({ pod: other, node: w3, termPods: [], nodePods: [], nsLabels: noNs })).toBe("didn't match pod affinity rules");
  });

  it('fails an affinity term whose topology key the node lacks', () => {
    const pod = aPod('in', { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'db' }, 'rack')] } } });
    expect(interPodRejection({ pod, node: w2, termPods: [placed('db', w2)], nodePods: [], nsLabels: noNs })).toBe("didn't match pod affinity rules");
  });

  it('keeps the pod out of a zone where its anti-affinity finds a match, not out of other zones', () => {
    const pod = aPod('in', { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'db' }, ZONE)] } } });
    const w4 = aNode('w4').build(); // same zone as w2
    expect(interPodRejection({ pod, node: w4, termPods: [placed('db', w2)], nodePods: [], nsLabels: noNs })).toBe("didn't match pod anti-affinity rules");
    expect(interPodRejection({ pod, node: w3, termPods: [placed('db', w2)], nodePods: [], nsLabels: noNs })).toBeUndefined();
  });

  it("honours the anti-affinity of the pods already on the node", () => {
    const guard = aPod('guard', { node: 'w2', affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ role: 'assistant' })] } } });
    const pod = aPod('in', { labels: { role: 'assistant' } });
    expect(interPodRejection({ pod, node: w2, termPods: [], nodePods: [guard], nsLabels: noNs })).toBe("didn't satisfy existing pods anti-affinity rules");
    expect(interPodRejection({ pod: aPod('in2', { labels: { role: 'web' } }), node: w2, termPods: [], nodePods: [guard], nsLabels: noNs })).toBeUndefined();
  });
});
