/** Entries as the watcher builds them, a clock the tests drive, and an SDK client config for the loopback bus. */
import type { EventBridgeClientConfig } from '@aws-sdk/client-eventbridge';
import { ASSISTANT_POD_CHANGED, NODE_SCHEDULABILITY_CHANGED, type PutEventsEntry } from '../../../src/events/contract.js';
import { assistantPodChangedDetail } from '../../../src/events/assistant-pod-changed.js';
import { toPutEventsEntry } from '../../../src/events/inbound.js';
import { nodeSchedulabilityChangedDetail } from '../../../src/events/node-schedulability-changed.js';
import type { FakeEventBridge, WireEntry } from '../../support/eventbridge-server.js';

const cluster = 'ci-eu-west-1';
const observedAt = '2025-03-14T09:26:52.614Z';

/** A "Node Schedulability Changed" entry: the node cordoned, at a given resourceVersion. */
export function aCordonedNode(name: string, resourceVersion = '1'): PutEventsEntry {
  return toPutEventsEntry(
    NODE_SCHEDULABILITY_CHANGED,
    nodeSchedulabilityChangedDetail({
      cluster,
      observedAt,
      node: { name, uid: `uid-${name}`, resourceVersion },
      schedulable: false,
      reasons: [{ code: 'Cordoned', message: 'spec.unschedulable is true' }],
    }),
  );
}

/** An "Assistant Pod Changed" entry: the pod bound to a node. */
export function anAssistantBound(namespace: string, name: string, nodeName: string): PutEventsEntry {
  return toPutEventsEntry(
    ASSISTANT_POD_CHANGED,
    assistantPodChangedDetail({
      cluster,
      observedAt,
      pod: { namespace, name, uid: `uid-${name}`, resourceVersion: '1', nodeName },
      change: 'bound',
    }),
  );
}

/** An entry about `node` whose detail is padded to about `bytes` bytes (beyond what the builders allow). */
export function aPaddedNodeEntry(node: string, bytes: number): PutEventsEntry {
  return { Source: 'affinity-relocator', DetailType: NODE_SCHEDULABILITY_CHANGED, Detail: JSON.stringify({ node: { name: node }, pad: 'x'.repeat(bytes) }) };
}

/** What a delivered node entry says: node name and resourceVersion. */
export function nodeState(entry: WireEntry): { node: string; resourceVersion: string } {
  const detail = JSON.parse(entry.Detail ?? '{}') as { node: { name: string; resourceVersion: string } };
  return { node: detail.node.name, resourceVersion: detail.node.resourceVersion };
}

/** Static fake credentials: nothing leaves the loopback interface. */
export function loopbackClientConfig(fake: FakeEventBridge): EventBridgeClientConfig {
  return { region: 'eu-west-1', endpoint: fake.url, credentials: { accessKeyId: 'AKIDLOOPBACK', secretAccessKey: 'loopback' } };
}

/**
 * A clock that moves only when the publisher sleeps: each sleep advances it by its length (on the next turn of
 * the event loop, unless aborted first), so backoffs of seconds take no time and their lengths can be checked.
 */
export function fakeTime(start = 1_000_000) {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: (ms: number, signal: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        sleeps.push(ms);
        setImmediate(() => {
          if (signal.aborted) return reject(signal.reason as Error);
          now += ms;
          resolve();
        });
      }),
  };
}

/**
 * A clock the test moves: each sleep waits until advance() takes the clock past its end (or its signal
 * aborts), so what the publisher does before and after a wait can be checked without the wall clock.
 */
export function manualTime(start = 1_000_000) {
  let now = start;
  const timers: { at: number; ms: number; resolve: () => void }[] = [];
  return {
    now: () => now,
    /** Lengths of the sleeps still waiting, oldest first. */
    pending: () => timers.map((t) => t.ms),
    sleep: (ms: number, signal: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        // A wait of nothing is over at the next turn, as on a real clock (close(0) in an afterEach).
        if (ms <= 0) return void setImmediate(resolve);
        const timer = { at: now + ms, ms, resolve };
        timers.push(timer);
        signal.addEventListener('abort', () => {
          timers.splice(timers.indexOf(timer), 1);
          reject(signal.reason as Error);
        }, { once: true });
      }),
    /** Moves the clock on and wakes every sleep that has ended, then lets their continuations run. */
    async advance(ms: number): Promise<void> {
      now += ms;
      for (const timer of timers.filter((t) => t.at <= now)) {
        timers.splice(timers.indexOf(timer), 1);
        timer.resolve();
      }
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}
