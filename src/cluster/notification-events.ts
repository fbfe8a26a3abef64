/**
 * The notification ledger's marker Events (src/relocator/notifications.ts says why they exist): on the
 * StatefulSet, reason `Notified<Kind>`, named `<sts uid>.notified-<kind>.<n>` so that the next claim's
 * name follows from the last one and the apiserver's create-once semantics pick one winner.
 */
import type { KubeEvent } from '../domain/k8s.js';
import type { OutcomeKind } from '../domain/outcome.js';

export function claimReason(kind: OutcomeKind): string {
  return `Notified${kind[0]!.toUpperCase()}${kind.slice(1)}`;
}

export function claimPrefix(statefulSetUid: string, kind: OutcomeKind): string {
  return `${statefulSetUid}.notified-${kind}.`;
}

/**
 * Among a StatefulSet's claims of one kind: the highest claim number, and whether one was made within
 * `windowMs` before `now` (then there is nothing to claim).
 */
export function lastClaim(events: KubeEvent[], prefix: string, now: Date, windowMs: number): { last: number; recent: boolean } {
  let last = 0;
  let recent = false;
  for (const ev of events) {
    const name = ev.metadata?.name ?? '';
    const n = name.startsWith(prefix) ? Number(name.slice(prefix.length)) : NaN;
    if (!Number.isInteger(n)) continue;
    last = Math.max(last, n);
    const at = ev.lastTimestamp ?? ev.firstTimestamp ?? ev.metadata?.creationTimestamp;
    if (at && now.getTime() - new Date(at).getTime() < windowMs) recent = true;
  }
  return { last, recent };
}
