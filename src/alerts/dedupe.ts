/**
 * One notification per (StatefulSet uid, outcome kind) per window: an OutcomeSink decorator for the sink
 * that pages people (the result-event sink, whose events the SNS / Slack / PagerDuty rules match). The
 * same assistant is looked at again and again (the sweep every 5 minutes, the forwarder, AWS notices,
 * repeated alerts, EventBridge's at-least-once delivery), and a blocked assistant stays blocked: without
 * this, on-call would hear about it every 5 minutes.
 *
 * Where the state lives. Not in the Lambda (containers come and go, and run side by side), and not in a
 * count of the outcome Events that kubeEventSink records: the relocator runs its sinks in parallel, and
 * two invocations counting at once would both count zero. It lives in the cluster, next to the loop
 * guard's state, as marker Events on the StatefulSet (`kubectl describe statefulset` shows them: reason
 * `Notified<Kind>`), claimed by a conditional write: the apiserver creates an object of a given name at
 * most once, so the claim's name is derived from the previous one (`<uid>.notified-<kind>.<n+1>`), and of
 * two invocations that saw the same last claim, exactly one creates the next one (the other gets 409).
 * The window slides: a claim is refused while the last one is younger than the window.
 *
 * It needs only what the relocator's ClusterRole already grants on events (create, list), no new
 * resource and no AWS table. Its limit is the apiserver's Event TTL (`--event-ttl`, 1 h, also on EKS):
 * a window longer than that would forget claims, so the window is capped at 60 minutes.
 *
 * When the claim cannot be made (the apiserver is unreachable), the outcome is forwarded: a duplicate
 * notification is better than a lost one. An outcome with no StatefulSet uid (a pod gone before it was
 * read, a failure before the owner was known) cannot be keyed, and is forwarded too.
 */
import { randomBytes } from 'node:crypto';
import type { CoreV1EventList, KubeConfig, V1StatefulSet } from '@kubernetes/client-node';
import { KubeHttpClient, segment as seg } from '../cluster/http.js';
import { httpStatusOf, withRetry } from '../cluster/retry.js';
import { statefulSetEvent } from '../cluster/statefulset-event.js';
import type { Outcome, OutcomeKind } from '../domain/outcome.js';
import type { OutcomeSink } from '../relocator/ports.js';

export const DEFAULT_DEDUPE_WINDOW_MS = 30 * 60_000;
/** The apiserver's default Event TTL: claims older than this may already be gone. */
export const MAX_DEDUPE_WINDOW_MS = 60 * 60_000;

export interface NotificationKey {
  namespace: string;
  statefulSet: string;
  statefulSetUid: string;
  kind: OutcomeKind;
}

export interface NotificationLedger {
  /**
   * Records a notification for `key` at `now`, unless one was recorded within `windowMs` before `now`.
   * True when this caller recorded it (and should notify); atomic across callers.
   */
  claim(key: NotificationKey, now: Date, windowMs: number, note: string): Promise<boolean>;
}

export interface DedupeOptions {
  windowMs?: number;
  now?: () => Date;
  /** A claim that failed (the outcome was forwarded anyway). */
  onClaimError?: (error: unknown, outcome: Outcome) => void;
  /** An outcome held back as a repeat. */
  onSuppressed?: (outcome: Outcome, key: NotificationKey) => void;
}

/** `inner`, called with the first outcome per (StatefulSet uid, outcome kind) per window only. */
export function dedupeSink(inner: OutcomeSink, ledger: NotificationLedger, o: DedupeOptions = {}): OutcomeSink {
  const windowMs = o.windowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
  if (!(windowMs > 0 && windowMs <= MAX_DEDUPE_WINDOW_MS)) {
    throw new RangeError(`the notification window must be within (0, ${MAX_DEDUPE_WINDOW_MS}] ms (the apiserver keeps Events 1 h), got ${windowMs}`);
  }
  const now = o.now ?? (() => new Date());
  return async (outcome, context) => {
    const key = keyOf(outcome, context.statefulSet);
    if (key) {
      let first = true;
      try {
        first = await ledger.claim(key, now(), windowMs, `${outcome.kind} (${outcome.reason}): ${outcome.message}`);
      } catch (e) {
        o.onClaimError?.(e, outcome);
      }
      if (!first) {
        o.onSuppressed?.(outcome, key);
        return;
      }
    }
    await inner(outcome, context);
  };
}

function keyOf(outcome: Outcome, sts: V1StatefulSet | undefined): NotificationKey | undefined {
  const namespace = sts?.metadata?.namespace ?? outcome.assistant.namespace;
  const statefulSet = sts?.metadata?.name ?? outcome.assistant.statefulSet;
  const statefulSetUid = sts?.metadata?.uid ?? outcome.assistant.statefulSetUid;
  if (!namespace || !statefulSet || !statefulSetUid) return undefined;
  return { namespace, statefulSet, statefulSetUid, kind: outcome.kind };
}

/** Event reason of a claim: `NotifiedRelocated`, `NotifiedBlocked`... */
export function claimReason(kind: OutcomeKind): string {
  return `Notified${kind[0]!.toUpperCase()}${kind.slice(1)}`;
}

const CLAIM_ANNOTATION = 'affinity-relocator.io/claim';

/** The ledger as marker Events on the StatefulSet (see the top of this file). */
export class KubernetesNotificationLedger implements NotificationLedger {
  private readonly http: KubeHttpClient;
  private readonly component: string;

  constructor(kc: KubeConfig, o: { component?: string } = {}) {
    this.http = new KubeHttpClient(kc);
    this.component = o.component ?? 'affinity-relocator';
  }

  async claim(key: NotificationKey, now: Date, windowMs: number, note: string): Promise<boolean> {
    const reason = claimReason(key.kind);
    const prefix = `${key.statefulSetUid}.notified-${key.kind}.`;
    const path = `/api/v1/namespaces/${seg(key.namespace)}/events`;
    const list = await withRetry(() =>
      this.http.request<CoreV1EventList>({ method: 'GET', path, query: { fieldSelector: `involvedObject.uid=${key.statefulSetUid},reason=${reason}` } }),
    );
    let last = 0;
    for (const ev of list.items) {
      const name = ev.metadata?.name ?? '';
      const n = name.startsWith(prefix) ? Number(name.slice(prefix.length)) : NaN;
      if (!Number.isInteger(n)) continue;
      last = Math.max(last, n);
      const at = ev.lastTimestamp ?? ev.firstTimestamp ?? ev.metadata?.creationTimestamp;
      if (at && now.getTime() - new Date(at).getTime() < windowMs) return false;
    }

    const name = `${prefix}${last + 1}`;
    const claimId = randomBytes(8).toString('hex');
    const minutes = Math.round(windowMs / 60_000);
    const message = `notified ${note}`;
    const body = statefulSetEvent({
      name,
      namespace: key.namespace,
      statefulSet: { name: key.statefulSet, uid: key.statefulSetUid },
      annotations: { [CLAIM_ANNOTATION]: claimId },
      type: 'Normal',
      reason,
      message: `${message.length > 900 ? `${message.slice(0, 897)}...` : message} (further ${key.kind} outcomes within ${minutes} min are not notified)`,
      component: this.component,
      now,
    });
    try {
      await withRetry(() => this.http.request({ method: 'POST', path, body }));
      return true;
    } catch (e) {
      if (httpStatusOf(e) !== 409) throw e;
    }
    // 409: another invocation claimed it first, or an earlier attempt of ours was stored before its
    // response was lost. The claim id tells which.
    const existing = await withRetry(() =>
      this.http.request<CoreV1EventList>({ method: 'GET', path, query: { fieldSelector: `metadata.name=${name}` } }),
    );
    return existing.items.some((ev) => ev.metadata?.annotations?.[CLAIM_ANNOTATION] === claimId);
  }
}
