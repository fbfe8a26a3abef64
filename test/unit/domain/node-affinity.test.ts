import { describe, expect, it } from 'vitest';
import { nodeSelectorMatches, termMatches } from '../../../src/domain/node-affinity.js';
import { aNode } from './builders.js';

const node = aNode('w1').labelled('pool', 'ci').labelled('generation', '7').build();
const expr = (key: string, operator: string, values?: string[]) => ({ matchExpressions: [{ key, operator, values }] });

describe('required node affinity', () => {
  it.each([
    ['In', expr('pool', 'In', ['ci', 'web']), true],
    ['In without the value', expr('pool', 'In', ['web']), false],
    ['NotIn', expr('pool', 'NotIn', ['web']), true],
    ['NotIn on a missing label', expr('gpu', 'NotIn', ['a100']), true],
    ['Exists', expr('pool', 'Exists'), true],
    ['DoesNotExist', expr('gpu', 'DoesNotExist'), true],
    ['Gt', expr('generation', 'Gt', ['6']), true],
    ['Lt', expr('generation', 'Lt', ['7']), false],
    ['Gt on a non-number', expr('pool', 'Gt', ['1']), false],
    ['matchFields on the name', { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['w1'] }] }, true],
    ['an empty term matches nothing', {}, false],
  ])('%s', (_n, term, expected) => {
    expect(termMatches(term, node)).toBe(expected);
  });

  it('ORs terms and ANDs the expressions inside one', () => {
    const both = { matchExpressions: [{ key: 'pool', operator: 'In', values: ['ci'] }, { key: 'gpu', operator: 'Exists' }] };
    expect(nodeSelectorMatches({ nodeSelectorTerms: [both] }, node)).toBe(false);
    expect(nodeSelectorMatches({ nodeSelectorTerms: [both, expr('pool', 'Exists')] }, node)).toBe(true);
    expect(nodeSelectorMatches({ nodeSelectorTerms: [] }, node)).toBe(false);
    expect(nodeSelectorMatches(undefined, node)).toBe(true);
  });
});
