/**
 * When no node fits now but the cluster can grow (issue 14), with the real Karpenter core and its kwok
 * cloud provider (src/local-cluster/karpenter.ts) on the real control plane, in local mode: a cordoned
 * assistant whose every other node is full is deleted because a NodePool can make a node for it;
 * Karpenter makes one for the Pending replacement, the replacement is bound there, and a TaskRun pod
 * follows it. A NodePool that cannot make a node in the volume's zone changes nothing: blocked, not
 * deleted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Outcome } from '../../src/domain/outcome.js';
import { eventually } from '../../src/local-cluster/fixtures/clients.js';
import { createNode, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { taskRunPod } from '../../src/local-cluster/fixtures/tekton.js';
import { aNodePool, createNodePool, Karpenter } from '../../src/local-cluster/karpenter.js';
import { Scenario, TEST_CONFIG, waitForBoundPod } from './support.js';

let s: Scenario;
let karpenter: Karpenter;
beforeAll(async () => {
  s = await Scenario.start();
  karpenter = await Karpenter.start(s.cp);
  await s.startLocalMode(TEST_CONFIG);
}, 180_000);
afterAll(async () => {
  await s?.stopLocalMode();
  await karpenter?.stop();
  await s?.stop();
});

const about = (pod: string, kind: string) => (o: Outcome) => o.kind === kind && o.assistant.pod === pod;
const NODEPOOL_LABEL = 'karpenter.sh/nodepool';

describe('an assistant no node can take now, on a cluster Karpenter can grow', () => {
  it("is deleted relying on the NodePool, whose new node takes the replacement and the next TaskRun's pod", async () => {
    await createNodePool(s.admin, aNodePool('grow', { labels: { pool: 'grow' } }));
    await s.pool('grow', 1);
    // The other node of the pool is full (one pod slot, taken).
    await createNode(s.admin, 'grow-2', { labels: { pool: 'grow' }, pods: '1' });
    const { sts, ns, pod, pr, claim } = await s.assistant('grow', { startOn: 'grow-1', others: ['grow-2'] });
    await s.admin.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'filler' }, spec: { nodeName: 'grow-2', containers: [{ name: 'c', image: 'busybox' }] } } });
    const name = `${sts}-0`;

    await setUnschedulable(s.admin, 'grow-1', true);
    const started = await s.waitForOutcome('the assistant to be deleted', about(name, 'started'));
    expect(started.message).toMatch(/no node can take it now: NodePool grow is expected to add one/);

    const moved = await waitForBoundPod(s.admin, ns, name, { notUid: pod.metadata!.uid!, timeoutMs: 120_000 });
    const node = await s.admin.core.readNode({ name: moved.spec!.nodeName! });
    expect(node.metadata?.labels?.[NODEPOOL_LABEL]).toBe('grow');
    expect(node.spec?.providerID).toMatch(/^kwok:\/\//);

    const relocated = await s.waitForOutcome('the relocated outcome', about(name, 'relocated'), 60_000);
    expect(relocated).toMatchObject({ fromNode: 'grow-1', toNode: node.metadata?.name });
    expect(relocated.message).toMatch(/the node was expected from NodePool grow\)$/);
    // From the cordon to the bind, the node's creation included.
    expect(relocated.boundLatencyMs).toBeGreaterThan(relocated.deleteLatencyMs!);

    const task = await s.admin.core.createNamespacedPod({ namespace: ns, body: taskRunPod(pr, 'after-scale-up', sts, [claim]) });
    expect((await waitForBoundPod(s.admin, ns, task.metadata!.name!)).spec?.nodeName).toBe(node.metadata?.name);
    expect(karpenter.errors).toEqual([]);
  });

  it("is blocked, and not deleted, when the only NodePool cannot make a node in its volume's zone", async () => {
    await createNodePool(s.admin, aNodePool('zone-b-only', { labels: { pool: 'zonal-grow' }, requirements: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['test-zone-b'] }] }));
    await createNode(s.admin, 'zonal-grow-1', { zone: 'test-zone-a', labels: { pool: 'zonal-grow', 'topology.kubernetes.io/region': 'test' } });
    const { sts, ns, pod } = await s.assistant('zonal-grow', { startOn: 'zonal-grow-1', others: [], placement: { kind: 'zone', zone: 'test-zone-a' } });
    const name = `${sts}-0`;

    await setUnschedulable(s.admin, 'zonal-grow-1', true);
    const blocked = await s.waitForOutcome('the assistant to be blocked', about(name, 'blocked'));
    expect(blocked.reason).toBe('no-feasible-node');
    expect(blocked.message).toMatch(
      /nothing can add a node for it: .*NodePool zone-b-only cannot create a node that fits \(such a node is outside the node affinity of volume .* \(topology.kubernetes.io\/zone In test-zone-a\)\)/,
    );
    // The other NodePool is named too: its nodes would not match the assistant's nodeSelector.
    expect(blocked.message).toMatch(/NodePool grow cannot create a node that fits \(such a node does not match the pod's nodeSelector\)/);
    // Nothing deleted, and Karpenter was given nothing to do.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await s.admin.core.readNamespacedPod({ namespace: ns, name })).metadata?.uid).toBe(pod.metadata?.uid);
    const claims = await s.admin.custom.listClusterCustomObject({ group: 'karpenter.sh', version: 'v1', plural: 'nodeclaims' });
    expect((claims as { items: { metadata: { labels?: Record<string, string> } }[] }).items.filter((c) => c.metadata.labels?.[NODEPOOL_LABEL] === 'zone-b-only')).toEqual([]);
    await eventually('no outcome but blocked for it', async () => s.outcomes.filter((o) => o.assistant.pod === name).map((o) => o.kind), (k) => k.every((x) => x === 'blocked'));
  });
});
