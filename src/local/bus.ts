/**
 * The in-process stand-in for the EventBridge bus in local mode: wraps each entry in an EventBridge
 * envelope, routes it by detail-type exactly as serverless.yml's rules do, and calls the same handler
 * as the Lambda. Like a controller's work queue it coalesces by object: while a trigger for a node or
 * pod is being handled, newer ones for the same object wait, and only the latest runs afterwards.
 */
import type { Outcome } from '../domain/outcome.js';
import { ASSISTANT_POD_CHANGED, NODE_SCHEDULABILITY_CHANGED, type PutEventsEntry, RELOCATION_REQUESTED } from '../events/contract.js';
import type { Publisher } from '../forwarder/publisher.js';
import { objectKey } from '../forwarder/put-events-entry.js';
import { delivered } from './delivered.js';

/** serverless.yml's rules: detail-type -> function. */
export const ROUTES: Record<string, 'on-node-event' | 'on-pod-event'> = {
  [NODE_SCHEDULABILITY_CHANGED]: 'on-node-event',
  [RELOCATION_REQUESTED]: 'on-node-event',
  [ASSISTANT_POD_CHANGED]: 'on-pod-event',
};

export type LocalHandler = (event: unknown) => Promise<Outcome[]>;

export interface LocalBusOptions {
  handlers: Record<'on-node-event' | 'on-pod-event', LocalHandler>;
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
      const route = ROUTES[e.DetailType];
      if (!route) continue; // no rule matches: EventBridge drops it too
      this.enqueue(objectKey(e), route, event);
    }
  }

  /** Resolves when nothing is running or pending (for tests and the demo). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  private enqueue(key: string, route: 'on-node-event' | 'on-pod-event', event: unknown): void {
    if (this.running.has(key)) {
      this.pending.set(key, { route, event });
      return;
    }
    const run = (async () => {
      try {
        this.o.onOutcomes?.(await this.o.handlers[route](event), event);
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
