import { describe, expect, it } from 'vitest';
import {
  asReplacement,
  expired,
  hostnameOf,
  PLACEMENT_GROUP,
  PLACEMENT_KIND,
  PLACEMENT_VERSION,
  placementHint,
  placementObject,
  STEERED_TO_ANNOTATION,
  steeredTo,
} from '../../../src/domain/placement-hint.js';
import { aNode, anAssistantOf, aPod, aStatefulSet, NOW } from './builders.js';

const MINUTE = 60_000;
const sts = aStatefulSet('affinity-assistant-0123456789');
const assistant = anAssistantOf(sts).on('worker1').build();

describe('a placement hint', () => {
  it("names the pod, its StatefulSet's uid, the node and its hostname label, the held pod, and when it expires", () => {
    const held = aPod('pr-1-second-pod');
    const hint = placementHint({ assistant, node: aNode('worker2').build(), heldPod: held, now: NOW, ttlMs: 5 * MINUTE });
    expect(hint).toEqual({
      namespace: 'ci',
      pod: 'affinity-assistant-0123456789-0',
      statefulSetUid: 'uid-affinity-assistant-0123456789',
      node: 'worker2',
      hostname: 'worker2',
      heldPod: { name: 'pr-1-second-pod', uid: 'uid-pr-1-second-pod' },
      expiresAt: '2026-11-25T12:05:00.000Z',
    });
  });

  it("selects the node by its kubernetes.io/hostname label, which need not be the node's name", () => {
    const node = aNode('ip-10-0-1-2.ec2.internal').labelled('kubernetes.io/hostname', 'ip-10-0-1-2').build();
    const hint = placementHint({ assistant, node, now: NOW, ttlMs: MINUTE });
    expect(hint).toMatchObject({ node: 'ip-10-0-1-2.ec2.internal', hostname: 'ip-10-0-1-2' });
    expect(hint.heldPod).toBeUndefined();
  });

  it('refuses, naming what is missing, what no nodeSelector or StatefulSet could be found for', () => {
    const unlabelled = aNode('worker2').build();
    delete unlabelled.metadata!.labels!['kubernetes.io/hostname'];
    expect(hostnameOf(unlabelled)).toBeUndefined();
    expect(() => placementHint({ assistant, node: unlabelled, now: NOW, ttlMs: MINUTE })).toThrow(
      'placement hint for ci/affinity-assistant-0123456789-0: node worker2 has no kubernetes.io/hostname label to select it by',
    );
    const orphan = anAssistantOf(sts).withoutOwner().build();
    expect(() => placementHint({ assistant: orphan, node: aNode('worker2').build(), now: NOW, ttlMs: MINUTE })).toThrow('the pod has no StatefulSet controller');
    expect(() => placementHint({ assistant, node: aNode('worker2').build(), now: NOW, ttlMs: 0 })).toThrow('ttlMs must be positive, got 0');
  });

  it('is written as an AssistantPlacement named after the pod, in its namespace', () => {
    const hint = placementHint({ assistant, node: aNode('worker2').build(), heldPod: aPod('held'), now: NOW, ttlMs: MINUTE });
    const o = placementObject(hint);
    expect(o).toEqual({
      apiVersion: `${PLACEMENT_GROUP}/${PLACEMENT_VERSION}`,
      kind: PLACEMENT_KIND,
      metadata: { name: hint.pod, namespace: 'ci', labels: { 'app.kubernetes.io/managed-by': 'affinity-relocator' } },
      spec: { pod: hint.pod, statefulSetUid: hint.statefulSetUid, node: 'worker2', hostname: 'worker2', heldPod: { name: 'held', uid: 'uid-held' }, expiresAt: hint.expiresAt },
    });
    expect(placementObject({ ...hint, heldPod: undefined }).spec).not.toHaveProperty('heldPod');
  });

  it('expires at expiresAt; an unreadable time counts as expired', () => {
    const hint = { expiresAt: '2026-11-25T12:05:00.000Z' };
    expect(expired(hint, NOW)).toBe(false);
    expect(expired(hint, new Date('2026-11-25T12:04:59.999Z'))).toBe(false);
    expect(expired(hint, new Date('2026-11-25T12:05:00.000Z'))).toBe(true);
    expect(expired({ expiresAt: 'soon' }, NOW)).toBe(true);
  });

  it('tells a steered pod by the annotation the admission policy writes', () => {
    const steered = anAssistantOf(sts).build();
    steered.metadata!.annotations = { [STEERED_TO_ANNOTATION]: 'worker2' };
    expect(steeredTo(steered)).toBe('worker2');
    expect(steeredTo(assistant)).toBeUndefined();
  });
});

describe('asReplacement', () => {
  const steered = {
    metadata: { name: 'affinity-assistant-a-0', annotations: { 'affinity-relocator.io/steered-to': 'w2' } },
    spec: { containers: [], nodeSelector: { pool: 'ci', 'kubernetes.io/hostname': 'w2' } },
  };
  it('judges a steered assistant as its replacement will be: without the hostname our policy pinned', () => {
    expect(asReplacement(steered).spec?.nodeSelector).toEqual({ pool: 'ci' });
    expect(steered.spec.nodeSelector['kubernetes.io/hostname']).toBe('w2'); // the read pod is not changed
  });
  it('leaves a pod that was not steered as it is, its own hostname pin included', () => {
    const pinned = { metadata: { name: 'p' }, spec: { containers: [], nodeSelector: { 'kubernetes.io/hostname': 'w1' } } };
    expect(asReplacement(pinned)).toBe(pinned);
  });
});
