/**
 * Volumes that pin the assistant: never delete it when no healthy node can take it (the replacement
 * would stay Pending and the PipelineRun would be stuck for good); report it as blocked; relocate once a
 * node appears that can take it (its capacity event notices; the sweep is the safety net).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onScheduledEvent } from '../../src/relocator/handlers.js';
import { lambdaSinks } from '../../src/lambda/runtime.js';
import { clusterFor, createRelocator } from '../../src/runtime/relocator.js';
import { eventually } from '../../src/local-cluster/fixtures/clients.js';
import { createNode, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { delivered } from '../../src/local/delivered.js';
import { recordingBus, Scenario, TEST_CONFIG, waitForBoundPod } from './support.js';

let s: Scenario;
beforeAll(async () => {
  s = await Scenario.start();
  await s.startLocalMode();
});
afterAll(async () => {
  await s?.stop();
});

const sweepEvent = () =>
  delivered(
    { Source: 'aws.events', DetailType: 'Scheduled Event', Detail: '{}' },
    { region: 'us-east-1', resources: ['arn:aws:events:us-east-1:000000000000:rule/affinity-relocator-sweep'] },
  );

describe('assistants pinned by their volumes', () => {
  it("blocks while the volume's zone has no healthy node, then relocates when one appears", async () => {
    await createNode(s.admin, 'zone-a-1', { zone: 'us-east-1a', labels: { pool: 'zonal' } });
    await createNode(s.admin, 'zone-a-2', { zone: 'us-east-1a', labels: { pool: 'zonal' } });
    await createNode(s.admin, 'zone-b-1', { zone: 'us-east-1b', labels: { pool: 'zonal' } });
    const { sts, ns, pod } = await s.assistant('zonal', {
      startOn: 'zone-a-1',
      others: ['zone-a-2', 'zone-b-1'],
      placement: { kind: 'zone', zone: 'us-east-1a' },
    });
    await setUnschedulable(s.admin, 'zone-a-2', true);
    await setUnschedulable(s.admin, 'zone-a-1', true);

    const blocked = await s.waitForOutcome('a blocked outcome', (o) => o.assistant.pod === `${sts}-0` && o.kind === 'blocked');
    expect(blocked.reason).toBe('no-feasible-node');
    expect(blocked.message).toMatch(/no healthy node can take .* \(0\/3 nodes fit: .*is outside the node affinity of volume .*topology.kubernetes.io\/zone In us-east-1a/);
    await eventually('the block to be recorded', () => s.eventReasons(ns, sts), (r) => r.includes('AssistantRelocationBlocked'));
    expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata?.uid).toBe(pod.metadata?.uid);

    // A node joins the volume's zone: its capacity event has local mode look at the blocked assistant again.
    await createNode(s.admin, 'zone-a-3', { zone: 'us-east-1a', labels: { pool: 'zonal' } });
    const moved = await s.waitForOutcome('the assistant to be relocated', (o) => o.assistant.pod === `${sts}-0` && o.kind === 'relocated');
    expect(moved).toMatchObject({ toNode: 'zone-a-3', triggerSource: 'node-event' });
    const bound = await waitForBoundPod(s.admin, ns, `${sts}-0`);
    expect(bound.spec?.nodeName).toBe('zone-a-3');
    // The sweep after it finds nothing left to do there: no outcome about it (an assistant on a schedulable
    // node is neither reported nor returned by a sweep), and no delete.
    const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config: TEST_CONFIG });
    const outcomes = await onScheduledEvent(sweepEvent(), { relocator, cluster: 'test' });
    expect(outcomes.filter((o) => o.assistant.pod === `${sts}-0`)).toEqual([]);
    expect((await waitForBoundPod(s.admin, ns, `${sts}-0`)).metadata?.uid).toBe(bound.metadata?.uid);
  });

  it('publishes every sweep that finds an assistant blocked, as a notification only once (the sinks every function uses)', async () => {
    const [a, b] = await s.pool('swept', 2);
    const { sts, ns } = await s.assistant('swept', { startOn: a!, others: [b!], placement: { kind: 'node', node: a! } });
    await setUnschedulable(s.admin, a!, true);
    const { bus, published } = recordingBus();
    const kc = s.cp.kubeConfig('relocator');
    const cluster = clusterFor(kc, TEST_CONFIG);
    const sinks = lambdaSinks({ ledger: cluster, cluster: 'test', eventBusName: 'affinity-relocator-test', notifyWindowMs: 60_000, bus });
    const { relocator } = createRelocator({ kc, cluster, config: TEST_CONFIG, sinks });

    // Three sweeps, two of them at once (the schedule firing while a slow sweep still runs).
    await Promise.all([onScheduledEvent(sweepEvent(), { relocator, cluster: 'test' }), onScheduledEvent(sweepEvent(), { relocator, cluster: 'test' })]);
    await onScheduledEvent(sweepEvent(), { relocator, cluster: 'test' });

    const mine = published.filter((d) => d.assistant.statefulSet === sts);
    expect(mine.map((d) => `${d.kind} ${d.reason}`)).toEqual(Array(3).fill('blocked no-feasible-node'));
    expect(mine.filter((d) => d.notify)).toHaveLength(1);
    expect((await s.eventReasons(ns, sts)).filter((r) => r === 'NotifiedBlocked')).toEqual(['NotifiedBlocked']);
    // Healthy assistants elsewhere in the cluster were published too, and never as notifications.
    expect(published.filter((d) => d.kind === 'skipped').every((d) => !d.notify)).toBe(true);
  });

  it('blocks, and never deletes, an assistant whose local volume lives on the bad node', async () => {
    const [a, b] = await s.pool('local', 2);
    const { sts, ns, pod } = await s.assistant('local', { startOn: a!, others: [b!], placement: { kind: 'node', node: a! } });
    await setUnschedulable(s.admin, a!, true);
    const blocked = await s.waitForOutcome('a blocked outcome', (o) => o.assistant.pod === `${sts}-0` && o.kind === 'blocked');
    expect(blocked.reason).toBe('no-feasible-node');
    expect(blocked.message).toContain(`kubernetes.io/hostname In ${a}`);
    expect((await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` })).metadata?.uid).toBe(pod.metadata?.uid);
  });
});
