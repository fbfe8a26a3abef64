/**
 * The in-process stand-in for the EventBridge bus in local mode: wraps each entry in an EventBridge
 * envelope, routes it by detail-type exactly as serverless.yml's rules do, and calls the same handler
 * as the Lambda. Like a controller's work queue it coalesces by object: while a trigger for a node or
 * pod is being handled, newer ones for the same object wait, and only the latest runs afterwards. The
 * sweep's schedule is one such object: one sweep at a time, and the ticks that come meanwhile run once.
 * So is capacity: every "a node became schedulable" event asks the same question (which blocked assistants
 * fit now?), so a wave of uncordons runs one evaluation at a time, and the newest once more after it.
 */
import type { Outcome } from '../domain/outcome.js';
import {
  ASSISTANT_POD_CHANGED,
  NODE_SCHEDULABILITY_CHANGED,
  type PutEventsEntry,
  RELOCATION_REQUESTED,
  TASKRUN_POD_UNSCHEDULABLE,
} from '../events/contract.js';
import type { Publisher } from '../forwarder/publisher.js';
import { objectKey } from '../forwarder/put-events-entry.js';
import { delivered } from './delivered.js';

/**
 * serverless.yml's rules: detail-type -> function, and the values a rule requires of top-level detail
 * fields (a pod's deletion invokes nothing: its replacement's bind is an event of its own).
 */
export const ROUTES: Record<string, { fn: 'on-node-event' | 'on-pod-event'; detail?: Record<string, readonly string[]> }> = {
  [NODE_SCHEDULABILITY_CHANGED]: { fn: 'on-node-event' },
  [RELOCATION_REQUESTED]: { fn: 'on-node-event' },
  [ASSISTANT_POD_CHANGED]: { fn: 'on-pod-event', detail: { change: ['bound', 'moved'] } },
  [TASKRUN_POD_UNSCHEDULABLE]: { fn: 'on-pod-event' },
};

/** The function an event of ours goes to, as the rules decide; undefined when no rule takes it. */
export function routeOf(detailType: string, detail: unknown): 'on-node-event' | 'on-pod-event' | undefined {
  const route = ROUTES[detailType];
  if (!route) return undefined;
  const fields = (detail ?? {}) as Record<string, unknown>;
  const takes = Object.entries(route.detail ?? {}).every(([field, values]) => values.includes(fields[field] as string));
  return takes ? route.fn : undefined;
}

export type LocalHandler = (event: unknown) => Promise<Outcome[]>;

type Route = 'on-node-event' | 'on-pod-event' | 'sweep';

/** The coalescing key of the schedule's events (no object's key looks like it). */
const SWEEP_KEY = 'schedule/sweep';
/** The coalescing key of every capacity event (a node schedulable or joined): they all look at the same assistants. */
const CAPACITY_KEY = 'capacity';
/** The rule that sends the schedule, as in AWS (serverless.yml's sweep), in the envelope's resources. */
export const SWEEP_RULE_ARN = 'arn:aws:events:local:000000000000:rule/affinity-relocator-sweep';

export interface LocalBusOptions {
  /** `sweep`: the sweep Lambda's handler, which takes the schedule's "Scheduled Event". */
  handlers: Record<'on-node-event' | 'on-pod-event', LocalHandler> & { sweep?: LocalHandler };
  onOutcomes?: (outcomes: Outcome[], event: unknown) => void;
  onError?: (e: unknown, event: unknown) => void;
}

export class LocalBus implements Publisher {
  private readonly running = new Map<string, Promise<void>>();
  private readonly pending = new Map<string, unknown>();

  constructor(private readonly o: LocalBusOptions) {}

  async publish(entries: PutEventsEntry[]): Promise<void> {
    for (const e of entries) {
      const event = delivered(e);
      const route = routeOf(e.DetailType, event.detail);
      if (!route) continue; // no rule matches: EventBridge drops it too
      this.enqueue(isCapacity(event) ? CAPACITY_KEY : objectKey(e), route, event);
    }
  }

  /**
   * One tick of the sweep's schedule: delivers an `aws.events` "Scheduled Event", as EventBridge's schedule
   * does, to the sweep handler. A tick while a sweep runs waits for it, and several such ticks run once.
   */
  sweep(time: Date = new Date()): void {
    if (!this.o.handlers.sweep) throw new Error('this bus has no sweep handler');
    const event = delivered({ Source: 'aws.events', DetailType: 'Scheduled Event', Detail: '{}' }, { time, resources: [SWEEP_RULE_ARN] });
    this.enqueue(SWEEP_KEY, 'sweep', event);
  }

  /** Drops a tick waiting for the running sweep (local mode's stop() starts no new sweep). */
  cancelPendingSweep(): void {
    this.pending.delete(SWEEP_KEY);
  }

  /** Resolves when nothing is running or pending (for tests and the demo). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  private enqueue(key: string, route: Route, event: unknown): void {
    if (this.running.has(key)) {
      this.pending.set(key, { route, event });
      return;
    }
    const run = (async () => {
      try {
        const handler = this.o.handlers[route];
        if (!handler) throw new Error(`this bus has no ${route} handler`);
        // Called first: `onOutcomes?.(await handler(event))` would skip the handler when onOutcomes is unset.
        const outcomes = await handler(event);
        this.o.onOutcomes?.(outcomes, event);
      } catch (e) {
        this.o.onError?.(e, event);
      }
    })().finally(() => {
      this.running.delete(key);
      const next = this.pending.get(key) as { route: typeof route; event: unknown } | undefined;
      this.pending.delete(key);
      if (next) this.enqueue(key, next.route, next.event);
    });
    this.running.set(key, run);
  }
}

/** A "Node Schedulability Changed" saying the node is schedulable (its detail as the delivery parsed it). */
function isCapacity(event: ReturnType<typeof delivered>): boolean {
  return event['detail-type'] === NODE_SCHEDULABILITY_CHANGED && (event.detail as { schedulable?: unknown } | null)?.schedulable === true;
}
