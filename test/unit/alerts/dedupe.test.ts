/**
 * The decorator's own rules with a stand-in ledger. The ledger itself (marker Events claimed on the
 * StatefulSet) runs against the real control plane in test/integration/admission.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { claimReason, dedupeSink, type NotificationKey, type NotificationLedger } from '../../../src/alerts/dedupe.js';
import type { Outcome } from '../../../src/domain/outcome.js';

const outcome = (o: Partial<Outcome> = {}): Outcome => ({
  kind: 'blocked',
  reason: 'no-feasible-node',
  message: 'no healthy node can take ci/affinity-assistant-3c9f0e1a2b-0',
  assistant: { namespace: 'ci', pod: 'affinity-assistant-3c9f0e1a2b-0', statefulSet: 'affinity-assistant-3c9f0e1a2b', statefulSetUid: 'uid-1' },
  triggerId: 't1',
  triggerSource: 'sweep',
  ...o,
});

function recorder() {
  const sent: Outcome[] = [];
  return { sent, sink: async (o: Outcome) => void sent.push(o) };
}

describe('notification dedupe', () => {
  it('asks the ledger with the StatefulSet uid and the outcome kind, and forwards only what it grants', async () => {
    const keys: NotificationKey[] = [];
    const ledger: NotificationLedger = { claim: async (k) => keys.push(k) === 1 };
    const r = recorder();
    const sink = dedupeSink(r.sink, ledger);
    await sink(outcome(), {});
    await sink(outcome({ triggerId: 't2' }), {});
    expect(r.sent.map((o) => o.triggerId)).toEqual(['t1']);
    expect(keys[0]).toEqual({ namespace: 'ci', statefulSet: 'affinity-assistant-3c9f0e1a2b', statefulSetUid: 'uid-1', kind: 'blocked' });
  });

  it('forwards when the ledger cannot be reached: a duplicate page beats a lost one', async () => {
    const errors: unknown[] = [];
    const r = recorder();
    const sink = dedupeSink(r.sink, { claim: async () => Promise.reject(new Error('ECONNREFUSED')) }, { onClaimError: (e) => errors.push(e) });
    await sink(outcome(), {});
    expect(r.sent).toHaveLength(1);
    expect(errors).toHaveLength(1);
  });

  it('forwards an outcome that names no StatefulSet, which it cannot key', async () => {
    const r = recorder();
    const sink = dedupeSink(r.sink, { claim: async () => false });
    await sink(outcome({ kind: 'skipped', reason: 'gone', assistant: { namespace: 'ci', pod: 'p-0' } }), {});
    expect(r.sent).toHaveLength(1);
  });

  it('refuses a window longer than the apiserver keeps Events', () => {
    expect(() => dedupeSink(recorder().sink, { claim: async () => true }, { windowMs: 61 * 60_000 })).toThrow(RangeError);
  });

  it('names its marker Events after the outcome kind', () => {
    expect(claimReason('blocked')).toBe('NotifiedBlocked');
    expect(claimReason('relocated')).toBe('NotifiedRelocated');
  });
});
