/**
 * The notification gate's own rules with a stand-in ledger. The ledger itself (marker Events claimed on the
 * StatefulSet) runs against the real control plane in test/integration/admission.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Outcome } from '../../../src/domain/outcome.js';
import { ConfigError } from '../../../src/config/env.js';
import { claimReason } from '../../../src/cluster/notification-events.js';
import { DEFAULT_DEDUPE_WINDOW_MS, notifiable, notificationGate, notifyWindowFromEnv } from '../../../src/relocator/notifications.js';
import type { NotificationKey, NotificationLedger } from '../../../src/relocator/ports.js';

const outcome = (o: Partial<Outcome> = {}): Outcome => ({
  kind: 'blocked',
  reason: 'no-feasible-node',
  message: 'no healthy node can take ci/affinity-assistant-3c9f0e1a2b-0',
  assistant: { namespace: 'ci', pod: 'affinity-assistant-3c9f0e1a2b-0', statefulSet: 'affinity-assistant-3c9f0e1a2b', statefulSetUid: 'uid-1' },
  triggerId: 't1',
  triggerSource: 'sweep',
  ...o,
});

/** A ledger that grants the first claim per key, recording every claim. */
function firstWins() {
  const keys: NotificationKey[] = [];
  const seen = new Set<string>();
  const ledger: NotificationLedger = {
    claimNotification: async (k) => {
      keys.push(k);
      const id = `${k.statefulSetUid}/${k.kind}`;
      return !seen.has(id) && !!seen.add(id);
    },
  };
  return { keys, ledger };
}

describe('the notification gate', () => {
  it('makes the first outcome per StatefulSet uid and kind a notification, and not its repeats', async () => {
    const { keys, ledger } = firstWins();
    const gate = notificationGate(ledger);
    expect(await gate(outcome(), {})).toBe(true);
    expect(await gate(outcome({ triggerId: 't2' }), {})).toBe(false);
    // Another kind of the same StatefulSet, and the same kind of another one, are notifications of their own.
    expect(await gate(outcome({ kind: 'stuck', reason: 'pending' }), {})).toBe(true);
    expect(await gate(outcome({ assistant: { namespace: 'ci', pod: 'x-0', statefulSet: 'x', statefulSetUid: 'uid-2' } }), {})).toBe(true);
    expect(keys[0]).toEqual({ namespace: 'ci', statefulSet: 'affinity-assistant-3c9f0e1a2b', statefulSetUid: 'uid-1', kind: 'blocked' });
  });

  it('keys by the StatefulSet read live when the outcome names none', async () => {
    const { keys, ledger } = firstWins();
    const sts = { metadata: { namespace: 'ci', name: 'affinity-assistant-9', uid: 'uid-9' } };
    expect(await notificationGate(ledger)(outcome({ assistant: { namespace: 'ci', pod: 'affinity-assistant-9-0' } }), { statefulSet: sts })).toBe(true);
    expect(keys).toEqual([{ namespace: 'ci', statefulSet: 'affinity-assistant-9', statefulSetUid: 'uid-9', kind: 'blocked' }]);
  });

  it('never claims for what no human needs to hear: dry runs, healthy or stale skips', async () => {
    const { keys, ledger } = firstWins();
    const gate = notificationGate(ledger);
    for (const reason of ['dry-run', 'healthy', 'stale', 'gone', 'loop-guard']) {
      expect(await gate(outcome({ kind: 'skipped', reason }), {}), reason).toBe(false);
    }
    expect(keys).toEqual([]);
  });

  it("notifies a notice's would-be move in notify-only, and every problem kind and relocation", () => {
    expect(notifiable(outcome({ kind: 'skipped', reason: 'notify-only' }))).toBe(true);
    for (const kind of ['blocked', 'failed', 'stuck', 'relocated'] as const) expect(notifiable(outcome({ kind })), kind).toBe(true);
  });

  it('notifies when the ledger cannot be reached: a duplicate page beats a lost one', async () => {
    const errors: unknown[] = [];
    const gate = notificationGate({ claimNotification: async () => Promise.reject(new Error('ECONNREFUSED')) }, { onClaimError: (e) => errors.push(e) });
    expect(await gate(outcome(), {})).toBe(true);
    expect(errors).toHaveLength(1);
  });

  it('notifies an outcome that names no StatefulSet, which it cannot key', async () => {
    const gate = notificationGate({ claimNotification: async () => false });
    expect(await gate(outcome({ kind: 'failed', reason: 'error', assistant: { namespace: 'ci', pod: 'p-0' } }), {})).toBe(true);
  });

  it('tells which outcome it held back', async () => {
    const held: Outcome[] = [];
    const gate = notificationGate({ claimNotification: async () => false }, { onSuppressed: (o) => held.push(o) });
    expect(await gate(outcome(), {})).toBe(false);
    expect(held.map((o) => o.kind)).toEqual(['blocked']);
  });

  it('refuses a window longer than the apiserver keeps Events', () => {
    expect(() => notificationGate({ claimNotification: async () => true }, { windowMs: 61 * 60_000 })).toThrow(RangeError);
  });

  it('names its marker Events after the outcome kind', () => {
    expect(claimReason('blocked')).toBe('NotifiedBlocked');
    expect(claimReason('relocated')).toBe('NotifiedRelocated');
  });
});

describe('NOTIFY_DEDUPE_WINDOW_MINUTES', () => {
  it('defaults to 30 minutes when unset or empty, and is read in minutes', () => {
    expect(notifyWindowFromEnv({})).toBe(DEFAULT_DEDUPE_WINDOW_MS);
    expect(notifyWindowFromEnv({ NOTIFY_DEDUPE_WINDOW_MINUTES: '' })).toBe(DEFAULT_DEDUPE_WINDOW_MS);
    expect(notifyWindowFromEnv({ NOTIFY_DEDUPE_WINDOW_MINUTES: '15' })).toBe(15 * 60_000);
  });

  it.each(['90', '0', 'soon', '1.5'])('refuses %s with an error naming the variable', (value) => {
    expect(() => notifyWindowFromEnv({ NOTIFY_DEDUPE_WINDOW_MINUTES: value })).toThrow(ConfigError);
    expect(() => notifyWindowFromEnv({ NOTIFY_DEDUPE_WINDOW_MINUTES: value })).toThrow(/NOTIFY_DEDUPE_WINDOW_MINUTES/);
  });
});
