/**
 * Forwarder delivery on the real control plane through the real EventBridgePublisher and the AWS SDK,
 * to a loopback EventBridge endpoint that throttles, fails entries and goes down: every transition
 * arrives; while the bus is down the queue holds at most one entry per object and the newest state of
 * each object is what arrives afterwards.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBridgePublisher } from '../../src/forwarder/eventbridge-publisher.js';
import { ClusterWatcher } from '../../src/forwarder/watcher.js';
import { eventually } from '../../src/local-cluster/fixtures/clients.js';
import { setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { FakeEventBridge } from '../support/eventbridge-server.js';
import { Scenario, TEST_CONFIG } from './support.js';

let s: Scenario;
let bus: FakeEventBridge;
let publisher: EventBridgePublisher;
let watcher: ClusterWatcher;

beforeAll(async () => {
  s = await Scenario.start();
  bus = await FakeEventBridge.start();
  const client = new EventBridgeClient({ endpoint: bus.url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' }, maxAttempts: 1 });
  publisher = new EventBridgePublisher({ eventBusName: 'test', client, backoffBaseMs: 20, backoffMaxMs: 200 });
  watcher = new ClusterWatcher({ kc: s.cp.kubeConfig('relocator'), cluster: 'test', config: TEST_CONFIG, assistantSelector: TEST_CONFIG.assistantSelector, publisher });
  await watcher.start();
});
afterAll(async () => {
  await watcher?.stop();
  await publisher?.close(2_000);
  await bus?.close();
  await s?.stop();
});

/** The node events the bus accepted since `from`, as "node:codes" in arrival order. */
const nodeEvents = (prefix: string, from: number) =>
  bus.accepted
    .slice(from)
    .map((e) => JSON.parse(e.Detail ?? '{}') as { node?: { name: string }; reasons?: { code: string }[] })
    .filter((d) => d.node?.name.startsWith(prefix))
    .map((d) => `${d.node!.name}:${d.reasons!.map((r) => r.code).join('+') || 'ok'}`);

describe('forwarder delivery to EventBridge', () => {
  it('delivers every transition through throttling and partial failures', async () => {
    const nodes = await s.pool('flaky', 6);
    for (let i = 0; i < 3; i++) await s.assistant('flaky', { startOn: nodes[i]!, others: nodes.filter((_, j) => j !== i), pipelineRun: `pr-flaky-${i}` });
    await eventually('the set-up to be delivered', async () => publisher.stats().depth + publisher.stats().inFlight, (n) => n === 0);
    const from = bus.accepted.length;
    bus.throttleNextCalls(3);
    bus.failEntries({ code: 'ThrottlingException', count: 2 });
    bus.failEntries({ code: 'InternalFailure', count: 2 });
    for (const n of nodes.slice(0, 3)) await setUnschedulable(s.admin, n, true);
    await eventually('three cordons to arrive', async () => nodeEvents('flaky-', from), (l) => l.length >= 3, { timeoutMs: 20_000 });
    expect(nodeEvents('flaky-', from).sort()).toEqual(nodes.slice(0, 3).map((n) => `${n}:Cordoned`).sort());
    const stats = publisher.stats();
    expect(stats.callFailures.ThrottlingException ?? 0).toBeGreaterThanOrEqual(1);
    expect(stats.retried).toBeGreaterThanOrEqual(4);
    expect(stats.dropped).toBe(0);
  });

  it('coalesces by node while the bus is down, and delivers the newest state after', async () => {
    const nodes = await s.pool('outage', 4);
    for (let i = 0; i < 2; i++) await s.assistant('outage', { startOn: nodes[i]!, others: nodes.filter((_, j) => j !== i), pipelineRun: `pr-outage-${i}` });
    await eventually('the binds to be delivered', async () => publisher.stats().depth + publisher.stats().inFlight, (n) => n === 0);
    const from = bus.accepted.length;
    await bus.outage('unavailable');
    let maxDepth = 0;
    // A long burst: each of the two hosting nodes flips 21 times, ending cordoned.
    for (let round = 0; round <= 20; round++) {
      for (const n of nodes.slice(0, 2)) await setUnschedulable(s.admin, n, round % 2 === 0);
      maxDepth = Math.max(maxDepth, publisher.stats().depth + publisher.stats().inFlight);
    }
    await setUnschedulable(s.admin, nodes[1]!, false); // node 2 ends healthy, node 1 cordoned
    await new Promise((r) => setTimeout(r, 500));
    maxDepth = Math.max(maxDepth, publisher.stats().depth + publisher.stats().inFlight);
    const coalesced = publisher.stats().coalesced;
    expect(nodeEvents('outage-', from)).toEqual([]);
    // Bounded by the objects, not by the 43 transitions: two nodes (plus in-flight copies of them).
    expect(maxDepth).toBeLessThanOrEqual(4);
    expect(coalesced).toBeGreaterThan(30);

    await bus.restore();
    await eventually('the newest states to arrive', async () => nodeEvents('outage-', from), (l) => l.length >= 2, { timeoutMs: 20_000 });
    const last = new Map(nodeEvents('outage-', from).map((e) => e.split(':') as [string, string]));
    expect(last.get(nodes[0]!)).toBe('Cordoned');
    expect(last.get(nodes[1]!)).toBe('ok');
  });
});
