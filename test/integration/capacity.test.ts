/**
 * Nobody left behind (issue 9), in local mode on the real control plane: an assistant blocked because no
 * other node of its pool can take it is relocated as soon as capacity appears, by the forwarder's capacity
 * event (the sweep set to an hour, so it is not the sweep), whatever the capacity is: the other node
 * uncordoned, its taint removed, Ready again, or a new node joining the pool. And one that no event would
 * revisit (a node relabelled into the pool) is relocated by local mode's periodic sweep.
 */
import type { V1Node } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Outcome } from '../../src/domain/outcome.js';
import { eventually, mergePatch } from '../../src/local-cluster/fixtures/clients.js';
import { addTaint, createNode, removeTaint, setReady, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { Scenario, TEST_CONFIG, waitForBoundPod } from './support.js';

let s: Scenario;
beforeAll(async () => {
  s = await Scenario.start();
  await s.startLocalMode(TEST_CONFIG, { sweepIntervalMs: 3_600_000 });
});
afterAll(async () => {
  await s?.stop();
});

const hasTaint = (key: string) => (n: V1Node) => (n.spec?.taints ?? []).some((t) => t.key === key);
const about = (pod: string, kind: string) => (o: Outcome) => o.kind === kind && o.assistant.pod === pod;
/** From capacity to the replacement bound: "a few seconds" on a loaded 2-core machine. */
const FEW_SECONDS = 5_000;

/**
 * The assistant on `<pool>-1`, `<pool>-2` made unable to take it by `block`; `<pool>-1` cordoned: blocked,
 * no feasible node. Then `capacity()`: the replacement must be bound to `to` within a few seconds.
 */
async function blockedThenCapacity(pool: string, o: { nodes: number; block?: (b: string) => Promise<void>; capacity: (b: string) => Promise<unknown>; to?: string }) {
  const [a, b] = await s.pool(pool, o.nodes);
  const { sts, ns, pod } = await s.assistant(pool, { startOn: a!, others: b ? [b] : [] });
  const name = `${sts}-0`;
  if (b && o.block) await o.block(b);
  await setUnschedulable(s.admin, a!, true);
  const blocked = await s.waitForOutcome('the assistant to be blocked', about(name, 'blocked'));
  expect(blocked).toMatchObject({ reason: 'no-feasible-node', fromNode: a, triggerSource: 'node-event' });
  expect((await s.admin.core.readNamespacedPod({ namespace: ns, name })).metadata?.uid).toBe(pod.metadata!.uid);

  const started = Date.now();
  await o.capacity(b ?? `${pool}-2`);
  const moved = await waitForBoundPod(s.admin, ns, name, { notUid: pod.metadata!.uid!, timeoutMs: FEW_SECONDS });
  const tookMs = Date.now() - started;
  expect(moved.spec?.nodeName).toBe(o.to ?? b);
  const relocated = await s.waitForOutcome('the relocated outcome', about(name, 'relocated'), FEW_SECONDS);
  // A capacity event ("Node Schedulability Changed", schedulable) did it: the sweep is an hour away.
  expect(relocated).toMatchObject({ fromNode: a, toNode: o.to ?? b, triggerSource: 'node-event' });
  expect(tookMs).toBeLessThan(FEW_SECONDS);
  return { a: a!, b, tookMs };
}

describe('a blocked assistant is relocated when capacity appears', () => {
  it('(a) the only other node of its pool is uncordoned', async () => {
    await blockedThenCapacity('cap-uncordon', {
      nodes: 2,
      block: async (b) => {
        await setUnschedulable(s.admin, b, true);
        // The cordon's taint too, as on a node cordoned for a while: both steps of the uncordon then count.
        await eventually('the cordon taint', () => s.admin.core.readNode({ name: b }), hasTaint('node.kubernetes.io/unschedulable'));
      },
      capacity: (b) => setUnschedulable(s.admin, b, false),
    });
  });

  it('(b) its taint is removed (one the verdict ignores, which kept the scheduler away all the same)', async () => {
    await blockedThenCapacity('cap-taint', {
      nodes: 2,
      block: async (b) => void (await addTaint(s.admin, b, { key: 'example.com/maintenance', value: 'kernel', effect: 'NoSchedule' })),
      capacity: (b) => removeTaint(s.admin, b, 'example.com/maintenance'),
    });
  });

  it('(c) it becomes Ready again', async () => {
    await blockedThenCapacity('cap-ready', {
      nodes: 2,
      block: async (b) => {
        await setReady(s.admin, b, 'False', new Date(Date.now() - 60_000));
        await eventually('the not-ready taint', () => s.admin.core.readNode({ name: b }), hasTaint('node.kubernetes.io/not-ready'));
      },
      capacity: (b) => setReady(s.admin, b, 'True'),
    });
  });

  it('(d) a new Ready node joins the pool', async () => {
    await blockedThenCapacity('cap-join', {
      nodes: 1,
      capacity: (name) => createNode(s.admin, name, { labels: { pool: 'cap-join' } }),
      to: 'cap-join-2',
    });
  });
});

describe("local mode's periodic sweep", () => {
  it('relocates a blocked assistant that no event revisits (a node relabelled into its pool), and stops with local mode', async () => {
    const sweepMs = 1_500;
    await s.stopLocalMode();
    await s.startLocalMode(TEST_CONFIG, { sweepIntervalMs: sweepMs });
    const [a] = await s.pool('sweep', 1);
    // Healthy, but outside the pool: the assistant's nodeSelector (pool=sweep) rules it out.
    const [elsewhere] = await s.pool('sweep-other', 1);
    const { sts, ns, pod } = await s.assistant('sweep', { startOn: a!, others: [] });
    const name = `${sts}-0`;
    await setUnschedulable(s.admin, a!, true);
    await s.waitForOutcome('the assistant to be blocked', (o) => about(name, 'blocked')(o) && o.triggerSource === 'node-event');
    // Blocked again by every sweep meanwhile, never moved.
    await s.waitForOutcome('a sweep to find it blocked', (o) => about(name, 'blocked')(o) && o.triggerSource === 'sweep', 3 * sweepMs + 5_000);

    // A label is nothing the forwarder watches: only the sweep can notice that this node fits now.
    await s.admin.core.patchNode({ name: elsewhere!, body: { metadata: { labels: { pool: 'sweep' } } } }, mergePatch);
    const labelledAt = Date.now();
    const moved = await waitForBoundPod(s.admin, ns, name, { notUid: pod.metadata!.uid!, timeoutMs: 2 * sweepMs + 10_000 });
    expect(moved.spec?.nodeName).toBe(elsewhere);
    const relocated = await s.waitForOutcome('the relocated outcome', about(name, 'relocated'));
    expect(relocated).toMatchObject({ triggerSource: 'sweep', fromNode: a, toNode: elsewhere });
    expect(Date.now() - labelledAt).toBeLessThan(2 * sweepMs + 10_000);

    // stop(): no sweep runs after it.
    await s.stopLocalMode();
    const sweepsSoFar = s.outcomes.filter((o) => o.triggerSource === 'sweep').length;
    await new Promise((r) => setTimeout(r, 2 * sweepMs + 500));
    expect(s.outcomes.filter((o) => o.triggerSource === 'sweep').length).toBe(sweepsSoFar);
  });
});
