/**
 * The forwarder's publisher in AWS: queues entries by the object they report on and sends them to the bus with
 * PutEvents, in batches, until EventBridge acknowledges each one or refuses it for good.
 *
 * Delivery is at least once. `publish()` resolves as soon as the entries are queued; an entry leaves the queue
 * only when EventBridge answered with an EventId, when a newer entry about the same object replaced it, or when
 * EventBridge refused it with a code that retrying cannot change (reported through onDropped). An entry whose
 * outcome is unknown (a timeout, a reset connection) is sent again, so the bus may see it twice; the Lambdas
 * decide on live state and are idempotent, so a duplicate costs one reconcile. The queue lives in memory: what
 * it held is lost if the process dies, and the relist on restart and the sweep Lambda cover that gap.
 *
 * While the bus cannot be reached the queue coalesces: per object only the newest entry waits (plus at most one
 * in flight), so memory is bounded by the number of objects, not by the length of the outage.
 *
 * Retries, decided once here rather than in the SDK (the client we build has maxAttempts 1, so that a retry
 * picks up newer states and every failure is counted):
 * - a failed call (throttling, 5xx, network, timeout, but also AccessDenied or a missing bus) is retried for
 *   every entry, with exponential backoff and full jitter. The others are configuration an operator fixes;
 *   holding the newest state until then loses nothing and costs bounded memory. Our entries cannot make a
 *   request invalid: Source and DetailType are constants, the detail is validated, sizes are checked here.
 * - per-entry failures in a partial failure follow the PutEventsResultEntry reference: InternalFailure and
 *   ThrottlingException are retried (and back off, as the bus is under strain); every other code
 *   (MalformedDetail, InvalidArgument, AccessDeniedException, NotAuthorizedForSource/DetailTypeException,
 *   RedactionFailure, ...) is a verdict on the entry itself, e.g. an IAM condition on events:source or
 *   events:detail-type, so the entry is dropped, counted and reported.
 */
import { setTimeout as delay } from 'node:timers/promises';
import {
  EventBridgeClient,
  type EventBridgeClientConfig,
  PutEventsCommand,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { MAX_EVENT_BYTES, type PutEventsEntry } from '../events/contract.js';
import { Backoff } from '../cluster/backoff.js';
import { CoalescingQueue, type QueuedItem } from './coalescing-queue.js';
import type { Publisher } from './publisher.js';
import { entrySize, objectKey } from './put-events-entry.js';

/** PutEvents accepts at most 10 entries per call. */
export const MAX_ENTRIES_PER_CALL = 10;

/** The per-entry codes the PutEventsResultEntry API reference lists as retryable. */
const RETRYABLE_ENTRY_CODES = new Set(['InternalFailure', 'ThrottlingException']);

/** Our code for an entry too large for any PutEvents call: refused before it is queued. */
export const ENTRY_TOO_LARGE = 'EntryTooLarge';

export interface DroppedEntry {
  key: string;
  entry: PutEventsEntry;
  code: string;
  message: string;
}

export interface EventBridgePublisherOptions {
  /** Name or ARN of the bus. */
  eventBusName: string;
  /** A client to use as is (tests, shared clients). Default: one built from clientConfig. */
  client?: EventBridgeClient;
  /**
   * Config of the client built when none is given, over `{ maxAttempts: 1 }`. The SDK reads the region,
   * credentials and AWS_ENDPOINT_URL_EVENTBRIDGE (or AWS_ENDPOINT_URL) from the environment as usual.
   */
  clientConfig?: EventBridgeClientConfig;
  /** The object an entry is about; entries with the same key coalesce. Default: objectKey (node/…, pod/…/…). */
  keyOf?: (entry: PutEventsEntry) => string;
  /**
   * How long the first entry of a batch that is not full waits for others. Default 10 ms: a burst (a node
   * group update cordoning several nodes) shares calls, while a single cordon still reaches PutEvents well
   * within the 50 ms latency goal.
   */
  lingerMs?: number;
  /** PutEvents calls in flight at once. Default 4. */
  maxConcurrentCalls?: number;
  /** A call not answered by then is abandoned (its entries retried). Real time, not the injected clock. Default 5000. */
  callTimeoutMs?: number;
  /** Backoff after a failure: the first wait is drawn from [0, backoffBaseMs). Default 100. */
  backoffBaseMs?: number;
  /** Cap on any backoff wait, and so the delivery delay after the bus comes back. Default 5000. */
  backoffMaxMs?: number;
  /** Every failed call, with a short code for logs and metrics (see callErrorCode); its entries are retried. */
  onCallError?: (error: unknown, code: string) => void;
  /** Every entry given up. */
  onDropped?: (dropped: DroppedEntry) => void;
  /** Milliseconds; injectable, with sleep, for tests. Default Date.now. */
  now?: () => number;
  /** Must reject or resolve early once `signal` aborts. Default: a timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** In [0, 1), for the jitter. Default Math.random. */
  random?: () => number;
}

/** Numbers for the forwarder's metrics; counters only grow. */
export interface PublisherStats {
  /** Entries waiting to be sent: at most one per object. */
  depth: number;
  /** Entries in calls whose outcome is not known yet. */
  inFlight: number;
  /** Age of the oldest entry not delivered yet (0 when none): how stale the bus's view may be. */
  oldestAgeMs: number;
  /** Entries given to publish(). observed = emitted + coalesced + dropped + depth + inFlight. */
  observed: number;
  /** Entries EventBridge acknowledged with an EventId. */
  emitted: number;
  /** Entries replaced by a newer entry about the same object before they were delivered. */
  coalesced: number;
  /** Entries given up: non-retryable per-entry code, or too large. */
  dropped: number;
  /** Entries queued again after a retryable failure. */
  retried: number;
  /** PutEvents calls started. */
  calls: number;
  /** Failed calls by callErrorCode (ThrottlingException, HTTP503, ECONNREFUSED, AbortError...). */
  callFailures: Record<string, number>;
  /** Entries refused in a partial failure, by ErrorCode, retryable or not (and EntryTooLarge). */
  entryFailures: Record<string, number>;
}

export interface FlushResult {
  /** Nothing is left: every entry published was delivered, coalesced into a delivered one, or given up. */
  delivered: boolean;
  /** Keys of the objects whose newest entry was not delivered, in flight first. */
  left: string[];
}

type Item = QueuedItem<PutEventsEntry>;

export class EventBridgePublisher implements Publisher {
  private readonly queue = new CoalescingQueue<PutEventsEntry>();
  private readonly client: EventBridgeClient;
  private readonly backoff: Backoff;
  private readonly keyOf: (entry: PutEventsEntry) => string;
  private readonly lingerMs: number;
  private readonly maxConcurrentCalls: number;
  private readonly callTimeoutMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly counters = {
    observed: 0,
    emitted: 0,
    coalesced: 0,
    dropped: 0,
    retried: 0,
    calls: 0,
    callFailures: {} as Record<string, number>,
    entryFailures: {} as Record<string, number>,
  };
  /** No call starts before this time: the backoff after a failure. */
  private retryAt = 0;
  /** While a flush waits, batches go out without lingering. */
  private flushing = 0;
  private closed = false;
  /** Set by close() once the flush is over: nothing starts any more. */
  private halted = false;
  /**
   * One controller per call in flight (their number is the calls in flight), for the call's timeout and for
   * close(). Not AbortSignal.any() with one process-long signal: on Node 20/22 that leaks a dependent signal
   * per call (nodejs/node#55351), and the forwarder runs for weeks.
   */
  private readonly callAborts = new Set<AbortController>();
  /** The one pending wake-up of pump(), for a linger or a backoff. */
  private wake: { at: number; abort: AbortController } | undefined;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly o: EventBridgePublisherOptions) {
    this.client = o.client ?? new EventBridgeClient({ maxAttempts: 1, ...o.clientConfig });
    this.keyOf = o.keyOf ?? objectKey;
    this.lingerMs = o.lingerMs ?? 10;
    this.maxConcurrentCalls = o.maxConcurrentCalls ?? 4;
    this.callTimeoutMs = o.callTimeoutMs ?? 5_000;
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.backoff = new Backoff({ baseMs: o.backoffBaseMs ?? 100, maxMs: o.backoffMaxMs ?? 5_000, random: o.random ?? Math.random });
  }

  /** Queues the entries (the newest per object wins) and resolves; delivery happens in the background. */
  async publish(entries: PutEventsEntry[]): Promise<void> {
    if (this.closed) throw new Error('the EventBridge publisher is closed');
    for (const entry of entries) this.add(entry);
    this.pump();
  }

  /** Sends what is queued without lingering; resolves when the queue is empty or after timeoutMs. */
  async flush(timeoutMs = Infinity): Promise<FlushResult> {
    this.flushing++;
    try {
      this.pump();
      await this.idle(timeoutMs);
    } finally {
      this.flushing--;
    }
    const left = this.queue.keys();
    return { delivered: left.length === 0, left };
  }

  /**
   * Graceful shutdown: refuses further entries, flushes for up to timeoutMs, then abandons calls still in
   * flight (their entries count as left: they may or may not have been delivered) and releases the client
   * if it built it.
   */
  async close(timeoutMs = 10_000): Promise<FlushResult> {
    this.closed = true;
    const result = await this.flush(timeoutMs);
    this.halted = true;
    this.wake?.abort.abort();
    for (const abort of this.callAborts) abort.abort();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    if (!this.o.client) this.client.destroy();
    return result;
  }

  stats(): PublisherStats {
    const oldest = this.queue.oldestSince();
    return {
      ...this.counters,
      callFailures: { ...this.counters.callFailures },
      entryFailures: { ...this.counters.entryFailures },
      depth: this.queue.depth,
      inFlight: this.queue.inFlight,
      oldestAgeMs: oldest === undefined ? 0 : this.now() - oldest,
    };
  }

  private add(entry: PutEventsEntry): void {
    this.counters.observed++;
    const key = this.keyOf(entry);
    const bytes = entrySize(entry);
    if (bytes >= MAX_EVENT_BYTES) {
      this.count(this.counters.entryFailures, ENTRY_TOO_LARGE);
      this.drop({ key, entry, code: ENTRY_TOO_LARGE, message: `${bytes} bytes; PutEvents takes less than ${MAX_EVENT_BYTES}` });
      return;
    }
    if (this.queue.put(key, entry, bytes, this.now())) this.counters.coalesced++;
  }

  /** Starts every call that may start now, or arranges to be called again when one may. */
  private pump(): void {
    if (this.halted) return;
    const now = this.now();
    if (now < this.retryAt) return this.wakeAt(this.retryAt);
    while (this.callAborts.size < this.maxConcurrentCalls) {
      const batch = this.queue.peek(MAX_ENTRIES_PER_CALL, MAX_EVENT_BYTES);
      const first = batch.items[0];
      if (!first) return;
      const lingerEnds = first.since + this.lingerMs;
      if (!batch.full && this.flushing === 0 && now < lingerEnds) return this.wakeAt(lingerEnds);
      this.queue.take(batch.items);
      void this.send(batch.items);
    }
  }

  private wakeAt(at: number): void {
    // An earlier wake-up re-plans anyway; a later one is replaced by this one.
    if (this.wake && this.wake.at <= at) return;
    this.wake?.abort.abort();
    const wake = { at, abort: new AbortController() };
    this.wake = wake;
    this.sleep(Math.max(0, at - this.now()), wake.abort.signal).then(
      () => {
        if (this.wake !== wake) return;
        this.wake = undefined;
        this.pump();
      },
      () => undefined, // aborted: replaced by an earlier wake-up, or closed
    );
  }

  private async send(items: Item[]): Promise<void> {
    this.counters.calls++;
    const Entries = items.map((item) => ({ ...item.value, EventBusName: this.o.eventBusName }));
    const abort = new AbortController();
    this.callAborts.add(abort);
    const timeout = setTimeout(() => abort.abort(), this.callTimeoutMs);
    try {
      const output = await this.client.send(new PutEventsCommand({ Entries }), { abortSignal: abort.signal });
      this.settle(items, output.Entries ?? []);
    } catch (error) {
      this.failCall(items, error);
    } finally {
      clearTimeout(timeout);
      this.callAborts.delete(abort);
      this.pump();
      if (this.queue.isEmpty) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** Results come in the order of the request's entries. */
  private settle(items: Item[], results: PutEventsResultEntry[]): void {
    let retrying = false;
    items.forEach((item, i) => {
      const { EventId, ErrorCode, ErrorMessage } = results[i] ?? {};
      if (EventId) {
        this.queue.done(item);
        this.counters.emitted++;
        return;
      }
      // No result at all leaves the outcome unknown: send it again.
      this.count(this.counters.entryFailures, ErrorCode ?? 'NoResult');
      if (ErrorCode && !RETRYABLE_ENTRY_CODES.has(ErrorCode)) {
        this.queue.done(item);
        this.drop({ key: item.key, entry: item.value, code: ErrorCode, message: ErrorMessage ?? '' });
        return;
      }
      retrying = true;
      this.requeue(item);
    });
    if (retrying) this.backOff();
    else this.backoff.reset();
  }

  private failCall(items: Item[], error: unknown): void {
    const code = callErrorCode(error);
    this.count(this.counters.callFailures, code);
    for (const item of items) this.requeue(item);
    this.backOff();
    // Calls abandoned by close() are reported by close() as left, not as failures to retry.
    if (!this.halted) this.o.onCallError?.(error, code);
  }

  private requeue(item: Item): void {
    if (this.queue.retry(item)) this.counters.retried++;
    else this.counters.coalesced++;
  }

  private backOff(): void {
    this.retryAt = this.now() + this.backoff.next();
  }

  private drop(dropped: DroppedEntry): void {
    this.counters.dropped++;
    this.o.onDropped?.(dropped);
  }

  private count(counts: Record<string, number>, code: string): void {
    counts[code] = (counts[code] ?? 0) + 1;
  }

  private async idle(timeoutMs: number): Promise<void> {
    if (this.queue.isEmpty) return;
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (timeoutMs === Infinity) return idle;
    const deadline = new AbortController();
    await Promise.race([idle, this.sleep(timeoutMs, deadline.signal).catch(() => undefined)]);
    deadline.abort();
  }
}

/**
 * A short label for a failed call, bounded in number for metrics: the service's error code
 * (ThrottlingException), else the HTTP status of an answer without one (HTTP503), else the network error
 * code (ECONNREFUSED), else the error's name (AbortError when the call timed out or was abandoned).
 */
export function callErrorCode(error: unknown): string {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return typeof e.name === 'string' && e.name !== 'Unknown' ? e.name : `HTTP${status}`;
  if (typeof e.code === 'string') return e.code;
  return typeof e.name === 'string' ? e.name : 'Unknown';
}
