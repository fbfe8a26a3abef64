/**
 * Which result events are notifications: the `notify` field of every result event, which the alert rules
 * of serverless.yml (SNS, Slack, PagerDuty) match on. Every outcome is still published; only the first per
 * (StatefulSet uid, outcome kind) per window says `notify: true`. The same assistant is looked at again and
 * again (the sweep every 5 minutes, the forwarder, AWS notices, repeated alerts, EventBridge's
 * at-least-once delivery), and a blocked assistant stays blocked: without this, on-call would hear about
 * it every 5 minutes. Only what a human should hear of is ever claimed (`notifiable`): a healthy or stale
 * skip costs nothing.
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
 * When the claim cannot be made (the apiserver is unreachable), the outcome is notified: a duplicate
 * notification is better than a lost one. An outcome with no StatefulSet uid (a pod gone before it was
 * read, a failure before the owner was known) cannot be keyed, and is notified too.
 */
import type { StatefulSet } from '../domain/k8s.js';
import { type Env, parseEnv } from '../config/env.js';
import type { Outcome } from '../domain/outcome.js';
import * as z from '../events/zod.js';
import type { NotificationKey, NotificationLedger } from './ports.js';

export const DEFAULT_DEDUPE_WINDOW_MS = 30 * 60_000;
/** The apiserver's default Event TTL: claims older than this may already be gone. */
export const MAX_DEDUPE_WINDOW_MS = 60 * 60_000;

export interface NotificationGateOptions {
  windowMs?: number;
  now?: () => Date;
  /** A claim that failed (the outcome is notified anyway). */
  onClaimError?: (error: unknown, outcome: Outcome) => void;
  /** An outcome held back as a repeat. */
  onSuppressed?: (outcome: Outcome, key: NotificationKey) => void;
}

/** Decides whether an outcome's result event is a notification. */
export type NotificationGate = (outcome: Outcome, context: { statefulSet?: StatefulSet }) => Promise<boolean>;

/**
 * What a human should hear of: problems (blocked, failed, stuck), relocations (routed only when the
 * deployment asks for them), and the would-be moves of a notice configured as notify-only, which exist
 * for no other reason. Dry runs, healthy and stale skips are not.
 */
export function notifiable(outcome: Outcome): boolean {
  if (outcome.kind === 'started') return false;
  return outcome.kind !== 'skipped' || outcome.reason === 'notify-only';
}

/** Every notifiable outcome is a notification: for callers with no ledger (local runs, tests). */
export const notifyAll: NotificationGate = async (outcome) => notifiable(outcome);

/** The first notifiable outcome per (StatefulSet uid, outcome kind) per window is a notification. */
export function notificationGate(ledger: NotificationLedger, o: NotificationGateOptions = {}): NotificationGate {
  const windowMs = o.windowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
  if (!(windowMs > 0 && windowMs <= MAX_DEDUPE_WINDOW_MS)) {
    throw new RangeError(`the notification window must be within (0, ${MAX_DEDUPE_WINDOW_MS}] ms (the apiserver keeps Events 1 h), got ${windowMs}`);
  }
  const now = o.now ?? (() => new Date());
  return async (outcome, context) => {
    if (!notifiable(outcome)) return false;
    // A relocation is reported once already (its settlement is claimed once per delete, and a StatefulSet
    // is relocated at most LOOP_GUARD_MAX times a window): no claim to spend requests on.
    if (outcome.kind === 'relocated') return true;
    const key = keyOf(outcome, context.statefulSet);
    if (!key) return true;
    try {
      if (await ledger.claimNotification(key, now(), windowMs, `${outcome.kind} (${outcome.reason}): ${outcome.message}`)) return true;
    } catch (e) {
      o.onClaimError?.(e, outcome);
      return true;
    }
    o.onSuppressed?.(outcome, key);
    return false;
  };
}

const WindowEnv = z.object({
  NOTIFY_DEDUPE_WINDOW_MINUTES: z.optional(
    z.coerce
      .number()
      .check(
        z.int(),
        z.gte(1),
        z.lte(MAX_DEDUPE_WINDOW_MS / 60_000, `at most ${MAX_DEDUPE_WINDOW_MS / 60_000} (the apiserver keeps Events for 1 h)`),
      ),
  ),
});

/** NOTIFY_DEDUPE_WINDOW_MINUTES (unset or empty: 30), in ms; a ConfigError naming the variable otherwise. */
export function notifyWindowFromEnv(env: Env = process.env): number {
  const minutes = parseEnv(WindowEnv, env).NOTIFY_DEDUPE_WINDOW_MINUTES;
  return minutes !== undefined ? minutes * 60_000 : DEFAULT_DEDUPE_WINDOW_MS;
}

function keyOf(outcome: Outcome, sts: StatefulSet | undefined): NotificationKey | undefined {
  const namespace = sts?.metadata?.namespace ?? outcome.assistant.namespace;
  const statefulSet = sts?.metadata?.name ?? outcome.assistant.statefulSet;
  const statefulSetUid = sts?.metadata?.uid ?? outcome.assistant.statefulSetUid;
  if (!namespace || !statefulSet || !statefulSetUid) return undefined;
  return { namespace, statefulSet, statefulSetUid, kind: outcome.kind };
}

/** Event reason of a claim: `NotifiedRelocated`, `NotifiedBlocked`... */
