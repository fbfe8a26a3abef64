/**
 * The owners and volumes of a drained node's assistants are read together: one list per collection and
 * namespace instead of a GET per object (counted at the apiserver, in its audit log), with exactly the
 * same decisions; and a deployment whose role predates `list` still relocates, with GETs.
 */
import type { V1ClusterRole } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELOCATOR_USER } from '../../src/local-cluster/controlplane.js';
import { eventually, statusOf } from '../../src/local-cluster/fixtures/clients.js';
import { setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import type { RelocationTrigger } from '../../src/domain/trigger.js';
import { createRelocator } from '../../src/runtime/relocator.js';
import { Scenario, TEST_CONFIG } from './support.js';

const ASSISTANTS = 6;

let s: Scenario;
beforeAll(async () => {
  s = await Scenario.start({ audit: { users: [RELOCATOR_USER] } });
});
afterAll(async () => {
  await s?.stop();
});

let seq = 0;
const cordoned = (node: string): RelocationTrigger => ({
  id: `batched-${++seq}`,
  source: 'node-event',
  observedAt: new Date().toISOString(),
  cluster: 'test',
  target: { kind: 'node', node: { name: node } },
});

/** `ASSISTANTS` assistants of one namespace on node 1 of a new pool; node 2 can take them all. */
async function drainedNode(pool: string): Promise<{ from: string; to: string }> {
  const [a, b] = await s.pool(pool, 2);
  for (let i = 0; i < ASSISTANTS; i++) await s.assistant(pool, { startOn: a!, others: [b!], pipelineRun: `pr-${pool}-${i}` });
  await setUnschedulable(s.admin, a!, true);
  return { from: a!, to: b! };
}

/** The relocator's requests from `since` on, as `verb resource` (lists and GETs of one object told apart). */
function requestsSince(since: number, namespace: string): string[] {
  return s.cp
    .auditEvents()
    .filter((e) => Date.parse(e.requestReceivedTimestamp) >= since && (e.objectRef?.namespace === namespace || !e.objectRef?.namespace))
    .map((e) => `${e.verb} ${e.objectRef?.resource ?? e.requestURI}`);
}

const count = (requests: string[], what: string) => requests.filter((r) => r === what).length;

describe('batched ownership reads', () => {
  it('reads the StatefulSets, PipelineRuns, claims and volumes of a node’s assistants with one list each', async () => {
    const { from, to } = await drainedNode('batched');
    const since = Date.now();
    const outcomes = await createRelocator({ kc: s.cp.kubeConfig('relocator'), config: TEST_CONFIG }).relocator.handle(cordoned(from));

    expect(outcomes.map((o) => `${o.kind} ${o.fromNode}`)).toEqual(Array(ASSISTANTS).fill(`started ${from}`));
    expect(outcomes.every((o) => o.message.includes(`${to} can take it`))).toBe(true);
    const requests = requestsSince(since, 'batched');
    for (const resource of ['statefulsets', 'pipelineruns', 'persistentvolumeclaims', 'persistentvolumes']) {
      expect(count(requests, `list ${resource}`), `${resource}: ${requests.join(', ')}`).toBe(1);
      expect(count(requests, `get ${resource}`), `${resource}: ${requests.join(', ')}`).toBe(0);
    }
    expect(count(requests, 'delete pods')).toBe(ASSISTANTS);
  });

  it('falls back to a GET per object when the role does not allow list, and decides the same', async () => {
    const { from, to } = await drainedNode('get-only');
    const role = (await s.admin.rbac.readClusterRole({ name: 'affinity-relocator' })) as V1ClusterRole;
    const batched = new Set(['statefulsets', 'pipelineruns', 'persistentvolumeclaims', 'persistentvolumes']);
    const getOnly = (role.rules ?? []).map((r) => (r.resources?.some((x) => batched.has(x)) ? { ...r, verbs: r.verbs.filter((v) => v !== 'list') } : r));
    await s.admin.rbac.replaceClusterRole({ name: 'affinity-relocator', body: { ...role, rules: getOnly } });
    try {
      // The authorizer's cache follows the role a moment later: wait until a list is refused.
      const kc = s.cp.kubeConfig('relocator');
      await eventually('list to be refused', () => s.relocator.apps.listNamespacedStatefulSet({ namespace: 'get-only' }).then(() => 200, (e: unknown) => statusOf(e)), (code) => code === 403);

      const since = Date.now();
      const outcomes = await createRelocator({ kc, config: TEST_CONFIG }).relocator.handle(cordoned(from));
      expect(outcomes.map((o) => `${o.kind} ${o.fromNode}`)).toEqual(Array(ASSISTANTS).fill(`started ${from}`));
      expect(outcomes.every((o) => o.message.includes(`${to} can take it`))).toBe(true);
      const requests = requestsSince(since, 'get-only');
      // One refused list per collection at most, then never again; a GET per object.
      for (const resource of batched) expect(count(requests, `list ${resource}`), resource).toBeLessThanOrEqual(1);
      expect(count(requests, 'get statefulsets')).toBe(ASSISTANTS);
      expect(count(requests, 'get persistentvolumeclaims')).toBe(ASSISTANTS);
    } finally {
      await s.admin.rbac.replaceClusterRole({ name: 'affinity-relocator', body: { ...role, metadata: { ...role.metadata, resourceVersion: undefined } } });
    }
  });
});
