/**
 * Deletes that rely on the cluster growing, on the real control plane without a controller that grows it
 * (scale-up.test.ts runs Karpenter itself): the cluster autoscaler is detected by its status ConfigMap,
 * a NodePool is a karpenter.sh/v1 object created from Karpenter's own CRD. While the replacement is
 * Pending past the confirmation timeout the sweep reports it `waiting-for-capacity`, not stuck; once a
 * node takes it, relocated, naming who was expected to make the node; past the capacity timeout, stuck.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelocatorConfig } from '../../src/domain/config.js';
import type { Outcome } from '../../src/domain/outcome.js';
import { delivered } from '../../src/local/delivered.js';
import { onScheduledEvent } from '../../src/relocator/handlers.js';
import { createRelocator } from '../../src/runtime/relocator.js';
import { eventually } from '../../src/local-cluster/fixtures/clients.js';
import { createNode, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { aNodePool, createNodePool, installKarpenterCrds } from '../../src/local-cluster/karpenter.js';
import { Scenario, TEST_CONFIG, waitForBoundPod } from './support.js';

const CONFIG: RelocatorConfig = { ...TEST_CONFIG, confirmTimeoutMs: 1_000, capacityTimeoutMs: 120_000 };

let s: Scenario;
beforeAll(async () => {
  s = await Scenario.start();
  await s.startLocalMode(CONFIG);
});
afterAll(async () => {
  await s?.stop();
});

const about = (pod: string, kind: string, reason?: string) => (o: Outcome) => o.kind === kind && o.assistant.pod === pod && (!reason || o.reason === reason);

/** One run of the sweep (the AWS schedule's event) with its own relocator and settings. */
async function sweep(config: RelocatorConfig): Promise<Outcome[]> {
  const { relocator } = createRelocator({ kc: s.cp.kubeConfig('relocator'), config });
  const event = delivered(
    { Source: 'aws.events', DetailType: 'Scheduled Event', Detail: '{}' },
    { region: 'us-east-1', resources: ['arn:aws:events:us-east-1:000000000000:rule/affinity-relocator-sweep'] },
  );
  return onScheduledEvent(event, { relocator, cluster: 'test' });
}

/** The assistant alone in its pool, its node cordoned: deleted, the replacement Pending. */
async function deletedRelyingOnGrowth(pool: string) {
  const [a] = await s.pool(pool, 1);
  const { sts, ns, pod } = await s.assistant(pool, { startOn: a!, others: [] });
  const name = `${sts}-0`;
  await setUnschedulable(s.admin, a!, true);
  const started = await s.waitForOutcome('the assistant to be deleted', about(name, 'started'));
  const pending = await eventually(
    'the replacement to be Pending',
    () => s.admin.core.readNamespacedPod({ namespace: ns, name }),
    (p) => p.metadata?.uid !== pod.metadata?.uid && !p.spec?.nodeName && (p.status?.conditions ?? []).some((c) => c.type === 'PodScheduled' && c.status === 'False'),
  );
  // Past the confirmation timeout.
  await new Promise((r) => setTimeout(r, CONFIG.confirmTimeoutMs + 200));
  return { a: a!, ns, name, started, pending };
}

describe('a delete that relies on the cluster growing', () => {
  it('with the cluster autoscaler: waiting for capacity while Pending, then relocated to the node it adds', async () => {
    await s.admin.core.createNamespacedConfigMap({ namespace: 'kube-system', body: { metadata: { name: 'cluster-autoscaler-status' }, data: { status: 'Cluster-wide: Health: Healthy' } } });
    const { a, ns, name, started, pending } = await deletedRelyingOnGrowth('ca');
    expect(started.message).toMatch(/no node can take it now: cluster-autoscaler is expected to add one/);

    const waiting = (await sweep(CONFIG)).find(about(name, 'started', 'waiting-for-capacity'));
    expect(waiting?.message).toMatch(/was deleted from ca-1 and its replacement is Pending while cluster-autoscaler adds a node \(0\/\d+ nodes are available/);
    expect(await s.eventReasons(ns, name.replace(/-0$/, ''))).toContain('AssistantWaitingForCapacity');
    // Not a settlement: a second sweep says it again, and nothing is stuck.
    const again = await sweep(CONFIG);
    // (The Pending replacement itself is looked at too, and skipped as not bound yet.)
    expect(again.filter((o) => o.assistant.pod === name).map((o) => `${o.kind} ${o.reason}`).sort()).toEqual(['skipped not-bound', 'started waiting-for-capacity']);

    // The autoscaler's node joins the pool.
    await createNode(s.admin, 'ca-2', { labels: { pool: 'ca' } });
    const bound = await waitForBoundPod(s.admin, ns, name, { notUid: started.assistant.podUid });
    expect(bound.metadata?.uid).toBe(pending.metadata?.uid);
    const relocated = await s.waitForOutcome('the relocated outcome', about(name, 'relocated'));
    expect(relocated).toMatchObject({ fromNode: a, toNode: 'ca-2' });
    expect(relocated.message).toMatch(/the node was expected from cluster-autoscaler\)$/);
  });

  it('with a NodePool that makes no node: named when deleting, waiting for capacity, then stuck past the capacity timeout', async () => {
    await installKarpenterCrds(s.admin);
    await createNodePool(s.admin, aNodePool('idle', { labels: { pool: 'np' } }));
    const { name, started } = await deletedRelyingOnGrowth('np');
    expect(started.message).toMatch(/no node can take it now: NodePool idle is expected to add one/);

    expect((await sweep(CONFIG)).find(about(name, 'started', 'waiting-for-capacity'))?.message).toMatch(/Pending while NodePool idle adds a node/);
    const stuck = (await sweep({ ...CONFIG, capacityTimeoutMs: CONFIG.confirmTimeoutMs })).find(about(name, 'stuck'));
    expect(stuck).toMatchObject({ reason: 'pending' });
    expect(stuck?.message).toMatch(/its replacement is still Pending after 1 s, and NodePool idle has added no node that took it/);
  });
});
