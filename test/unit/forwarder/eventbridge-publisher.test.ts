import { setTimeout as delay } from 'node:timers/promises';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_EVENT_BYTES } from '../../../src/events/contract.js';
import {
  type DroppedEntry,
  EventBridgePublisher,
  type EventBridgePublisherOptions,
  type FlushResult,
} from '../../../src/forwarder/eventbridge-publisher.js';
import { entrySize } from '../../../src/forwarder/put-events-entry.js';
import { FakeEventBridge, type WireEntry } from '../../support/eventbridge-server.js';
import {
  aCordonedNode,
  anAssistantBound,
  aPaddedNodeEntry,
  fakeTime,
  loopbackClientConfig,
  manualTime,
  nodeState,
} from './fixtures.js';

const BUS = 'affinity-relocator';

let fake: FakeEventBridge;
const publishers: EventBridgePublisher[] = [];

beforeEach(async () => {
  fake = await FakeEventBridge.start();
});

afterEach(async () => {
  await Promise.all(publishers.splice(0).map((p) => p.close(0)));
  await fake.close();
  vi.unstubAllEnvs();
});

function publisherFor(options: Partial<EventBridgePublisherOptions> = {}): EventBridgePublisher {
  const publisher = new EventBridgePublisher({ eventBusName: BUS, clientConfig: loopbackClientConfig(fake), ...options });
  publishers.push(publisher);
  return publisher;
}

/** As the watcher publishes: one entry per call, without waiting. */
function publishEach(publisher: EventBridgePublisher, entries: ReturnType<typeof aCordonedNode>[]): void {
  for (const entry of entries) void publisher.publish([entry]);
}

const nodes = (n: number, prefix = 'worker') => Array.from({ length: n }, (_, i) => aCordonedNode(`${prefix}-${i + 1}`));
const acceptedNodes = () => fake.accepted.map((e) => nodeState(e).node);
const wireSize = (e: WireEntry) => entrySize({ Source: e.Source, DetailType: e.DetailType, Detail: e.Detail });
const callSizes = () => fake.calls.map((c) => c.entries.length);

describe('EventBridgePublisher', () => {
  describe('batching', () => {
    it('sends 25 transitions in three PutEvents calls of at most 10 entries, each entry once, on the configured bus', async () => {
      // A linger longer than the test, so that only the count limit and the flush decide the calls.
      const publisher = publisherFor({ lingerMs: 60_000 });

      publishEach(publisher, nodes(25));

      expect(await publisher.flush()).toEqual({ delivered: true, left: [] });
      expect(callSizes().sort((a, b) => b - a)).toEqual([10, 10, 5]);
      expect(acceptedNodes().sort()).toEqual(nodes(25).map((e) => nodeState(e).node).sort());
      expect(new Set(fake.accepted.map((e) => e.EventBusName))).toEqual(new Set([BUS]));
      expect(publisher.stats()).toMatchObject({ observed: 25, emitted: 25, calls: 3, depth: 0, inFlight: 0 });
    });

    it('starts a new call before the entries of one reach 256 KiB, counting bytes as EventBridge does', async () => {
      const publisher = publisherFor({ lingerMs: 60_000 });
      const big = Array.from({ length: 5 }, (_, i) => aPaddedNodeEntry(`big-${i}`, 100 * 1024));

      publishEach(publisher, big);
      await publisher.flush();

      expect(callSizes().sort()).toEqual([1, 2, 2]);
      for (const call of fake.calls) {
        expect(call.entries.reduce((sum, e) => sum + wireSize(e), 0)).toBeLessThan(MAX_EVENT_BYTES);
      }
      expect(fake.accepted).toHaveLength(5);
    });

    it('refuses an entry no PutEvents call could carry, reports it and sends the others', async () => {
      const dropped: DroppedEntry[] = [];
      const publisher = publisherFor({ onDropped: (d) => dropped.push(d) });

      await publisher.publish([aPaddedNodeEntry('huge', MAX_EVENT_BYTES), aCordonedNode('worker-1')]);
      await publisher.flush();

      expect(dropped).toMatchObject([{ key: 'node/huge', code: 'EntryTooLarge' }]);
      expect(acceptedNodes()).toEqual(['worker-1']);
      expect(publisher.stats()).toMatchObject({ observed: 2, emitted: 1, dropped: 1, entryFailures: { EntryTooLarge: 1 } });
    });

    it('sends a lone transition once the linger has passed, without waiting for a full batch', async () => {
      const time = manualTime();
      const publisher = publisherFor({ lingerMs: 40, ...time });

      await publisher.publish([aCordonedNode('worker-1')]);
      expect(time.pending()).toEqual([40]);
      await time.advance(39);
      expect(publisher.stats().calls).toBe(0);
      await time.advance(1);
      expect(publisher.stats().calls).toBe(1);

      await vi.waitFor(() => expect(fake.accepted).toHaveLength(1), { interval: 5 });
      expect(fake.calls).toHaveLength(1);
    });

    // The 50 ms goal from a cordon to PutEvents, end to end, is measured by `npm run bench -- forwarder`.
    it('holds each lone transition for the default linger, 10 ms, and no longer, before calling PutEvents', async () => {
      const time = manualTime();
      const publisher = publisherFor({ ...time });

      for (let i = 0; i < 3; i++) {
        await publisher.publish([aCordonedNode(`worker-${i}`)]);
        expect(time.pending()).toEqual([10]);
        await time.advance(9);
        expect(publisher.stats().calls).toBe(i);
        await time.advance(1);
        expect(publisher.stats().calls).toBe(i + 1);
        await vi.waitFor(() => expect(fake.accepted).toHaveLength(i + 1), { interval: 1 });
      }
    });
  });

  describe('retries', () => {
    it('retries the entries refused in a partial failure until each is delivered, and only those', async () => {
      const time = fakeTime();
      const publisher = publisherFor({ ...time });
      fake.failEntries({ code: 'InternalFailure', count: 3 });
      fake.failEntries({ code: 'ThrottlingException', count: 2 });

      publishEach(publisher, nodes(10));
      await publisher.flush();

      expect(acceptedNodes().sort()).toEqual(nodes(10).map((e) => nodeState(e).node).sort()); // each exactly once
      expect(fake.calls.map((c) => c.errorCodes.filter(Boolean).length)).toEqual([5, 0]);
      expect(callSizes()).toEqual([10, 5]);
      expect(publisher.stats()).toMatchObject({
        emitted: 10,
        retried: 5,
        dropped: 0,
        entryFailures: { InternalFailure: 3, ThrottlingException: 2 },
      });
    });

    it('backs off exponentially with full jitter while the whole call is throttled, then delivers', async () => {
      const time = fakeTime();
      const errors: string[] = [];
      const publisher = publisherFor({ ...time, random: () => 0.5, onCallError: (_e, code) => errors.push(code) });
      fake.throttleNextCalls(4);

      publishEach(publisher, nodes(3));
      await publisher.flush();

      expect(acceptedNodes().sort()).toEqual(['worker-1', 'worker-2', 'worker-3']);
      expect(fake.calls.map((c) => c.status)).toEqual([400, 400, 400, 400, 200]);
      // The linger, then half of each ceiling: 100, 200, 400, 800 ms.
      expect(time.sleeps).toEqual([10, 50, 100, 200, 400]);
      expect(errors).toEqual(Array(4).fill('ThrottlingException'));
      expect(publisher.stats().callFailures).toEqual({ ThrottlingException: 4 });
    });

    it('starts the backoff from the beginning again after a success', async () => {
      const time = fakeTime();
      const publisher = publisherFor({ ...time, random: () => 0.5 });

      fake.throttleNextCalls(2);
      await publisher.publish([aCordonedNode('worker-1')]);
      await publisher.flush();
      fake.throttleNextCalls(1);
      await publisher.publish([aCordonedNode('worker-2')]);
      await publisher.flush();

      expect(time.sleeps).toEqual([10, 50, 100, 10, 50]);
    });

    it.each(['MalformedDetail', 'InvalidArgument', 'AccessDeniedException', 'NotAuthorizedForDetailTypeException'])(
      'drops an entry refused with %s, reports and counts it, and delivers the rest',
      async (code) => {
        const dropped: DroppedEntry[] = [];
        const publisher = publisherFor({ lingerMs: 60_000, onDropped: (d) => dropped.push(d) });
        fake.failEntries({ code, match: (e) => nodeState(e).node === 'worker-2' });

        publishEach(publisher, nodes(3));
        expect(await publisher.flush()).toEqual({ delivered: true, left: [] });

        expect(dropped).toMatchObject([{ key: 'node/worker-2', code, message: `injected ${code}` }]);
        expect(acceptedNodes().sort()).toEqual(['worker-1', 'worker-3']);
        expect(fake.calls).toHaveLength(1);
        expect(publisher.stats()).toMatchObject({ emitted: 2, dropped: 1, retried: 0, entryFailures: { [code]: 1 } });
      },
    );

    it('drops an entry whose detail EventBridge finds malformed', async () => {
      const dropped: DroppedEntry[] = [];
      const publisher = publisherFor({ onDropped: (d) => dropped.push(d), keyOf: () => 'other' });

      await publisher.publish([{ Source: 'affinity-relocator', DetailType: 'Node Schedulability Changed', Detail: '[1, 2]' }]);
      await publisher.flush();

      expect(dropped).toMatchObject([{ code: 'MalformedDetail' }]);
      expect(fake.accepted).toHaveLength(0);
    });

    it('sends an entry again when the answer is lost: it may arrive twice, never zero times', async () => {
      const publisher = publisherFor({ ...fakeTime() });
      fake.loseNextResponses(1);

      await publisher.publish([aCordonedNode('worker-1')]);
      await publisher.flush();

      expect(acceptedNodes()).toEqual(['worker-1', 'worker-1']);
      expect(publisher.stats()).toMatchObject({ emitted: 1, retried: 1, callFailures: { ECONNRESET: 1 } });
    });

    it('abandons a call not answered in time and sends its entries again', async () => {
      const errors: string[] = [];
      const publisher = publisherFor({
        callTimeoutMs: 100,
        backoffBaseMs: 1,
        onCallError: (_e, code) => {
          errors.push(code);
          fake.latencyMs = 0; // the bus answers again
        },
      });
      fake.latencyMs = 500;

      await publisher.publish([aCordonedNode('worker-1')]);
      await publisher.flush();

      expect(errors).toEqual(['AbortError']);
      expect(acceptedNodes()).toContain('worker-1');
      expect(publisher.stats()).toMatchObject({ emitted: 1, retried: 1, callFailures: { AbortError: 1 } });
    });
  });

  describe('while the bus is unreachable', () => {
    it.each(['refuse', 'unavailable'] as const)(
      'keeps only the newest state of each object through an outage (%s) and delivers it afterwards',
      async (mode) => {
        const errors: string[] = [];
        const publisher = publisherFor({ backoffBaseMs: 5, backoffMaxMs: 20, onCallError: (_e, code) => errors.push(code) });
        const names = ['worker-1', 'worker-2', 'worker-3', 'worker-4', 'worker-5'];
        await fake.outage(mode);

        let maxDepth = 0;
        let maxHeld = 0;
        for (let version = 1; version <= 400; version++) {
          for (const name of names) void publisher.publish([aCordonedNode(name, String(version))]);
          const { depth, inFlight } = publisher.stats();
          maxDepth = Math.max(maxDepth, depth);
          maxHeld = Math.max(maxHeld, depth + inFlight);
          if (version % 20 === 0) await delay(5); // let calls fail meanwhile
        }
        await fake.restore();
        expect(await publisher.flush()).toEqual({ delivered: true, left: [] });

        expect(errors.length).toBeGreaterThan(0);
        expect(maxDepth).toBeLessThanOrEqual(names.length);
        expect(maxHeld).toBeLessThanOrEqual(2 * names.length);
        const newest = new Map(fake.accepted.map((e) => [nodeState(e).node, nodeState(e).resourceVersion]));
        expect(Object.fromEntries(newest)).toEqual(Object.fromEntries(names.map((n) => [n, '400'])));
        const s = publisher.stats();
        expect(s.observed).toBe(2000);
        expect(s.emitted).toBeLessThan(2 * names.length);
        expect(s.observed).toBe(s.emitted + s.coalesced + s.dropped + s.depth + s.inFlight);
      },
    );

    it('delivers a newer state of an object in flight after the older one, and coalesces the ones between', async () => {
      const publisher = publisherFor();
      fake.latencyMs = 200;

      await publisher.publish([aCordonedNode('worker-1', '1')]);
      await vi.waitFor(() => expect(publisher.stats().inFlight).toBe(1), { interval: 2 });
      expect(publisher.stats()).toMatchObject({ depth: 0, emitted: 0 }); // outcome unknown: held, not forgotten
      await publisher.publish([aCordonedNode('worker-1', '2')]);
      await publisher.publish([aCordonedNode('worker-1', '3')]);
      await publisher.flush();

      expect(fake.accepted.map((e) => nodeState(e).resourceVersion)).toEqual(['1', '3']);
      expect(publisher.stats()).toMatchObject({ observed: 3, emitted: 2, coalesced: 1 });
    });

    it('coalesces node and pod entries by object, never across objects', async () => {
      const publisher = publisherFor({ lingerMs: 1_000 });

      await publisher.publish([aCordonedNode('worker-1', '1'), anAssistantBound('ci', 'affinity-assistant-abc-0', 'worker-1')]);
      await publisher.publish([aCordonedNode('worker-1', '2'), anAssistantBound('builds', 'affinity-assistant-abc-0', 'worker-1')]);

      expect(publisher.stats()).toMatchObject({ depth: 3, coalesced: 1 });
      await publisher.flush();
      expect(fake.accepted.map((e) => e.DetailType)).toEqual([
        'Node Schedulability Changed',
        'Assistant Pod Changed',
        'Assistant Pod Changed',
      ]);
      expect(nodeState(fake.accepted[0]!).resourceVersion).toBe('2');
    });
  });

  describe('shutdown', () => {
    it('delivers what is queued on close, then refuses new entries', async () => {
      const publisher = publisherFor({ lingerMs: 60_000 });
      publishEach(publisher, nodes(3));

      expect(await publisher.close(2_000)).toEqual({ delivered: true, left: [] });

      expect(fake.accepted).toHaveLength(3);
      await expect(publisher.publish([aCordonedNode('worker-4')])).rejects.toThrow('closed');
    });

    it('reports what it could not deliver by the deadline', async () => {
      const time = manualTime();
      const publisher = publisherFor({ backoffBaseMs: 5, backoffMaxMs: 20, ...time });
      await fake.outage('refuse');
      await publisher.publish([aCordonedNode('worker-1'), aCordonedNode('worker-2')]);

      let result: FlushResult | undefined;
      const closing = publisher.close(100).then((r) => (result = r));
      // The deadline is a wait of 100 ms, and close() answers when it is over, though the bus is still down.
      await vi.waitFor(() => expect(time.pending()).toContain(100), { interval: 1 });
      expect(result).toBeUndefined();
      await time.advance(100);
      await closing;

      expect(result?.delivered).toBe(false);
      expect(result?.left.sort()).toEqual(['node/worker-1', 'node/worker-2']);
    });

    it('abandons a call still unanswered at the deadline and reports its entries as left, not as a failure', async () => {
      const errors: string[] = [];
      // A client of the caller's, which close() leaves open: the call itself must be abandoned.
      const client = new EventBridgeClient({ ...loopbackClientConfig(fake), maxAttempts: 1 });
      const time = manualTime();
      const publisher = publisherFor({ client, onCallError: (_e, code) => errors.push(code), ...time });
      fake.latencyMs = 3_000;
      await publisher.publish([aCordonedNode('worker-1')]);
      await time.advance(10); // the linger
      await vi.waitFor(() => expect(publisher.stats().inFlight).toBe(1), { interval: 5 });

      const closing = publisher.close(100);
      await time.advance(100);
      const result = await closing;

      // Had close() waited for the call, the bus's answer would have delivered the entry.
      expect(result).toEqual({ delivered: false, left: ['node/worker-1'] });
      // Abandoned, not waited for: the bus would answer only seconds later.
      await vi.waitFor(() => expect(publisher.stats().inFlight).toBe(0), { timeout: 500 });
      expect(errors).toEqual([]);
      client.destroy();
    });
  });

  describe('the client', () => {
    it('finds the endpoint in AWS_ENDPOINT_URL_EVENTBRIDGE, as the SDK does', async () => {
      vi.stubEnv('AWS_ENDPOINT_URL_EVENTBRIDGE', fake.url);
      const { endpoint: _ignored, ...withoutEndpoint } = loopbackClientConfig(fake);
      const publisher = publisherFor({ clientConfig: withoutEndpoint });

      await publisher.publish([aCordonedNode('worker-1')]);
      await publisher.flush();

      expect(acceptedNodes()).toEqual(['worker-1']);
    });

    it('uses a client it is given, and leaves it open on close', async () => {
      const client = new EventBridgeClient(loopbackClientConfig(fake));
      const publisher = publisherFor({ client });

      await publisher.publish([aCordonedNode('worker-1')]);
      await publisher.close();
      const direct = await client.send(new PutEventsCommand({ Entries: [{ ...aCordonedNode('worker-2'), EventBusName: BUS }] }));
      client.destroy();

      expect(direct.FailedEntryCount).toBe(0);
      expect(acceptedNodes()).toEqual(['worker-1', 'worker-2']);
    });
  });
});
