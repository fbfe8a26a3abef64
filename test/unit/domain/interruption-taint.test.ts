import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../src/domain/config.js';
import {
  INTERRUPTION_TAINT_KEY,
  interruptionTaint,
  interruptionTaintedAt,
  interruptionTaintExpired,
  taintsWithInterruption,
  taintsWithoutInterruption,
} from '../../../src/domain/interruption-taint.js';
import { assessNode } from '../../../src/domain/schedulability.js';
import { aNode, ago, NOW } from './builders.js';

const HOUR = 3_600_000;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe('the interruption taint', () => {
  it('names the notice and the time in a valid label value, NoSchedule', () => {
    const t = interruptionTaint('aws-spot-interruption', new Date('2026-11-25T18:40:07.123Z'));
    expect(t).toEqual({ key: INTERRUPTION_TAINT_KEY, value: 'aws-spot-interruption.20261125T184007Z', effect: 'NoSchedule' });
    expect(interruptionTaintedAt(t)?.toISOString()).toBe('2026-11-25T18:40:07.000Z');
  });

  it('stays a valid label value for any source, however long or odd', () => {
    for (const source of ['aws-health-scheduled-change', 'x'.repeat(200), '--weird source/with:chars', '']) {
      const t = interruptionTaint(source, NOW);
      expect(t.value!.length, source).toBeLessThanOrEqual(63);
      expect(t.value, source).toMatch(LABEL_VALUE);
      expect(interruptionTaintedAt(t)?.getTime(), source).toBe(Math.floor(NOW.getTime() / 1000) * 1000);
    }
  });

  it('is added once: a repeated notice keeps the first time (the TTL runs from the first notice)', () => {
    const first = interruptionTaint('aws-health-scheduled-change', ago(HOUR));
    const others = [{ key: 'dedicated', value: 'ci', effect: 'NoSchedule' }];
    const once = taintsWithInterruption(others, first);
    expect(once).toEqual([...others, first]);
    expect(taintsWithInterruption(once, interruptionTaint('aws-spot-interruption', NOW))).toBeUndefined();
    expect(taintsWithInterruption(undefined, first)).toEqual([first]);
  });

  it('is lifted alone, other taints kept; nothing to lift gives undefined', () => {
    const others = [{ key: 'dedicated', value: 'ci', effect: 'NoSchedule' }];
    expect(taintsWithoutInterruption([...others, interruptionTaint('aws-asg-terminate', NOW)])).toEqual(others);
    expect(taintsWithoutInterruption(others)).toBeUndefined();
    expect(taintsWithoutInterruption(undefined)).toBeUndefined();
  });

  it('expires after its TTL; a value that is not ours to date counts as expired, no taint never does', () => {
    const node = (value: string) => aNode('w1').tainted(INTERRUPTION_TAINT_KEY, 'NoSchedule', value).build();
    const young = node(interruptionTaint('aws-spot-interruption', ago(HOUR)).value!);
    const old = node(interruptionTaint('aws-spot-interruption', ago(7 * HOUR)).value!);
    expect(interruptionTaintExpired(young, NOW, 6 * HOUR)).toBe(false);
    expect(interruptionTaintExpired(old, NOW, 6 * HOUR)).toBe(true);
    expect(interruptionTaintExpired(node('by-hand'), NOW, 6 * HOUR)).toBe(true);
    expect(interruptionTaintExpired(node('x.20261399T999999Z'), NOW, 6 * HOUR)).toBe(true);
    expect(interruptionTaintExpired(aNode('w1').build(), NOW, 0)).toBe(false);
  });

  it('makes a node Interrupted for an assistant, even when the taint settings leave the key out', () => {
    const taint = interruptionTaint('aws-spot-interruption', ago(60_000));
    const node = aNode('w1').tainted(taint.key, taint.effect, taint.value).build();
    const config = { ...DEFAULT_CONFIG, taintInclude: [], taintExclude: ['*'] };
    const v = assessNode(node, { now: NOW, config });
    expect(v.reasons.map((r) => r.code)).toEqual(['Interrupted']);
    expect(v.reasons[0]!.message).toContain(`announced as going away at ${ago(60_000).toISOString().replace(/\.\d+Z$/, '.000Z')}`);
    // A pod that tolerates it would be scheduled right back: not a reason for that pod.
    expect(assessNode(node, { now: NOW, config, tolerations: [{ key: INTERRUPTION_TAINT_KEY, operator: 'Exists' }] }).schedulable).toBe(true);
    // With the announcement itself in hand, it is reported once.
    const withNotice = assessNode(node, { now: NOW, config, disruption: { kind: 'SpotInterruption', detail: 'two-minute warning' } });
    expect(withNotice.reasons.map((r) => r.code)).toEqual(['Interrupted']);
    expect(withNotice.reasons[0]!.message).toContain('two-minute warning');
  });
});
