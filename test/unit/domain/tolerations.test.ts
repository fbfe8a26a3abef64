import { describe, expect, it } from 'vitest';
import { keyMatches, toleratesPermanently, toleratesTaint, untoleratedTaints } from '../../../src/domain/tolerations.js';

const taint = { key: 'dedicated', value: 'ci', effect: 'NoSchedule' };

describe('toleration rules (as the scheduler applies them)', () => {
  it.each([
    ['Equal with the same key, value and effect', { key: 'dedicated', operator: 'Equal', value: 'ci', effect: 'NoSchedule' }, true],
    ['Equal is the default operator', { key: 'dedicated', value: 'ci' }, true],
    ['Equal with another value', { key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoSchedule' }, false],
    ['Exists on the key, any value', { key: 'dedicated', operator: 'Exists' }, true],
    ['Exists with an empty key tolerates everything', { operator: 'Exists' }, true],
    ['an empty key with Equal tolerates nothing', { operator: 'Equal', value: 'ci' }, false],
    ['another effect', { key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }, false],
    ['another key', { key: 'other', operator: 'Exists' }, false],
    ['an unknown operator', { key: 'dedicated', operator: 'Gt', value: '1' }, false],
  ])('%s', (_name, toleration, expected) => {
    expect(toleratesTaint(toleration, taint)).toBe(expected);
  });

  it('does not count a NoExecute toleration with tolerationSeconds as permanent', () => {
    const t = { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' };
    expect(toleratesPermanently([{ key: t.key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }], t)).toBe(false);
    expect(toleratesPermanently([{ key: t.key, operator: 'Exists', effect: 'NoExecute' }], t)).toBe(true);
  });

  it('never counts PreferNoSchedule taints', () => {
    expect(untoleratedTaints([{ key: 'soft', effect: 'PreferNoSchedule' }, taint], [])).toEqual([taint]);
  });

  it('matches taint keys exactly, by prefix with *, or all with *', () => {
    expect(keyMatches('aws-node-termination-handler/spot-itn', ['aws-node-termination-handler/*'])).toBe(true);
    expect(keyMatches('aws-node-termination-handler', ['aws-node-termination-handler/*'])).toBe(false);
    expect(keyMatches('anything', ['*'])).toBe(true);
    expect(keyMatches('karpenter.sh/disrupted', ['karpenter.sh/disruption'])).toBe(false);
  });
});
