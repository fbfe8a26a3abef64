/**
 * When the forwarder publishes "TaskRun Pod Unschedulable" for each TaskRun pod held Pending by its
 * assistant's node. Pure state machine: no I/O, no timers; the watcher tells it what it sees and asks it
 * what is due and when to wake.
 *
 * Per pod: first once it has been Unschedulable for the grace (PENDING_GRACE_SECONDS, counted from the
 * PodScheduled condition's lastTransitionTime, so a pod held since before a start or failover is due at
 * once), then again while it stays held: 15 s later, 30 s, then every 60 s. Nothing once it is bound,
 * deleted or no longer held (`forget`, or `observe` without `since`). Why this schedule:
 * - a held pod's trigger is level-triggered: the relocator re-reads the pod, its assistant and the nodes,
 *   and when it cannot free the pod now (no node fits the pair yet, another pod of the run still uses the
 *   workspace on the assistant's node) nothing else will tell it when that changes: the pod that held the
 *   workspace ending, capacity appearing, are changes of other objects. So the pod is shown again while it
 *   waits, soon at first (what blocked it is often a step of the same run about to end), and at most a
 *   minute apart after that, so that a pod freed by another pod's end waits a minute at worst;
 * - at one event a minute a pod held for a day costs 1,440 invocations, which is cheap, and the relocator
 *   reports a blocked pod once per pod and state, not per event.
 *
 * Overall at most 5 events a second (a token bucket of 10, so that they leave in batches of up to 10, one
 * PutEvents call): on-pod-event runs with a reserved concurrency of 5 by default, and the assistants'
 * own events (a relocation's confirmation) share it. Due pods go oldest due first. So a start or failover
 * that finds many pods held past their grace publishes them all (they are the pain), 10 every 2 s, not
 * 10,000 at once; beyond 300 held pods the budget, not the schedule, spaces each pod's events.
 */

/** The schedule after the grace, and the budget; see the module comment for the reasons. */
export interface HeldPodTimings {
  /** The first repeat after the first event; each next one doubles. */
  firstRepeatMs: number;
  /** The longest wait between two events about one pod. */
  maxRepeatMs: number;
  /** Events per second at most, over all pods. */
  perSecond: number;
  /** Events that may leave at once (PutEvents takes 10 per call). */
  burst: number;
}

export const HELD_POD_TIMINGS: HeldPodTimings = { firstRepeatMs: 15_000, maxRepeatMs: 60_000, perSecond: 5, burst: 10 };

interface Entry {
  uid: string;
  sinceMs: number;
  /** The assistant that holds it (a released pod no longer says). */
  assistant?: string;
  dueMs: number;
  /** Events published about it so far. */
  sent: number;
}

export class HeldPodSchedule {
  private readonly pods = new Map<string, Entry>();
  private tokens: number;
  private refilledAt: number | undefined;
  private readonly timings: HeldPodTimings;

  constructor(
    private readonly graceMs: number,
    timings: Partial<HeldPodTimings> = {},
  ) {
    this.timings = { ...HELD_POD_TIMINGS, ...timings };
    this.tokens = this.timings.burst;
  }

  /**
   * What the pod under `key` looks like now: held since `sinceMs` (the condition's lastTransitionTime), or
   * not held (undefined). Returns when it is due if this (re)started its schedule: a pod first seen held, a
   * new pod under the same name, or one marked Unschedulable anew. An update that changes neither keeps the
   * schedule as it is (the scheduler rewrites the condition's message on every retry).
   */
  observe(key: string, uid: string, sinceMs: number | undefined, assistant?: string): number | undefined {
    if (sinceMs === undefined) {
      this.pods.delete(key);
      return undefined;
    }
    const known = this.pods.get(key);
    if (known && known.uid === uid && known.sinceMs === sinceMs) return undefined;
    const dueMs = sinceMs + this.graceMs;
    this.pods.set(key, { uid, sinceMs, dueMs, sent: 0, ...(assistant ? { assistant } : {}) });
    return dueMs;
  }

  /**
   * The pod is gone from the watch: bound, no longer Pending, or deleted. What was known of it when it was
   * published at least once (someone may be waiting for its release), else undefined.
   */
  forget(key: string): { uid: string; sinceMs: number; assistant?: string } | undefined {
    const entry = this.pods.get(key);
    this.pods.delete(key);
    return entry && entry.sent > 0 ? { uid: entry.uid, sinceMs: entry.sinceMs, ...(entry.assistant ? { assistant: entry.assistant } : {}) } : undefined;
  }

  /** The pods to publish now, oldest due first, as many as the budget allows; each is rescheduled. */
  take(nowMs: number): string[] {
    this.refill(nowMs);
    const due = this.due(nowMs);
    const taken = due.slice(0, Math.floor(this.tokens));
    for (const [, entry] of taken) {
      entry.sent++;
      entry.dueMs = nowMs + this.repeatAfter(entry.sent);
      this.tokens--;
    }
    return taken.map(([key]) => key);
  }

  /**
   * When `take` has something to give next (undefined: no pod is held). With pods due and no budget left,
   * when enough budget has come back for a full batch (or for all that are due, if fewer).
   */
  nextWakeAt(nowMs: number): number | undefined {
    let earliest: number | undefined;
    let dueCount = 0;
    for (const entry of this.pods.values()) {
      if (entry.dueMs <= nowMs) dueCount++;
      if (earliest === undefined || entry.dueMs < earliest) earliest = entry.dueMs;
    }
    if (earliest === undefined) return undefined;
    const tokens = this.tokensAt(nowMs);
    const want = dueCount > 0 ? Math.min(dueCount, this.timings.burst) : 1;
    const budgetAt = nowMs + Math.ceil((Math.max(0, want - tokens) * 1000) / this.timings.perSecond);
    return Math.max(earliest, budgetAt);
  }

  /** Pods held now (known to be held, due or not). */
  get size(): number {
    return this.pods.size;
  }

  /** The wait after the `sent`-th event: 15 s, 30 s, then the cap. */
  private repeatAfter(sent: number): number {
    return Math.min(this.timings.maxRepeatMs, this.timings.firstRepeatMs * 2 ** Math.min(sent - 1, 30));
  }

  private due(nowMs: number): [string, Entry][] {
    const due: [string, Entry][] = [];
    for (const item of this.pods) if (item[1].dueMs <= nowMs) due.push(item);
    return due.sort((a, b) => a[1].dueMs - b[1].dueMs || (a[0] < b[0] ? -1 : 1));
  }

  private tokensAt(nowMs: number): number {
    if (this.refilledAt === undefined) return this.tokens;
    const earned = (Math.max(0, nowMs - this.refilledAt) * this.timings.perSecond) / 1000;
    return Math.min(this.timings.burst, this.tokens + earned);
  }

  private refill(nowMs: number): void {
    this.tokens = this.tokensAt(nowMs);
    this.refilledAt = nowMs;
  }
}
