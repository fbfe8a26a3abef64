/**
 * End to end with the real Tekton Pipelines controller (v1.15.0, built from its Go module), the real
 * control plane and the kubelet stand-in, affinity-relocator in local mode as the relocator identity.
 * A Pipeline `first → second` shares a volumeClaimTemplate workspace; the assistant's node is cordoned
 * while TaskRun 1 runs. In every coschedule mode the PipelineRun must succeed with TaskRun 2 on another
 * node; Tekton alone leaves TaskRun 2 unschedulable. And the assistants and TaskRun pods our fixtures
 * build (for the fast tests) are compared with the ones this Tekton builds. One control plane and one controller serve the
 * file (the controller is restarted to change mode); each test has its own pool of nodes, chosen by the
 * PipelineRun's pod template.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Outcome } from '../../src/domain/outcome.js';
import { eventually, statusOf } from '../../src/local-cluster/fixtures/clients.js';
import { createNode, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../../src/local-cluster/fixtures/pods.js';
import {
  type AssistantPodTemplate,
  assistantStatefulSet,
  type CoscheduleMode,
  type PipelineRun,
  pvcNameFromWorkspaceBinding,
  taskRunPod,
} from '../../src/local-cluster/fixtures/tekton.js';
import {
  assistantFor,
  CLAIM_TEMPLATE_SPEC,
  createTwoTaskPipeline,
  FIRST,
  readPipelineRun,
  runPipeline,
  SECOND,
  succeeded,
  taskRunPodName,
  waitForPipelineRunDone,
  waitForRunningPod,
  WORKSPACE,
  workspaceClaim,
} from '../../src/local-cluster/fixtures/tekton-runs.js';
import { provisionVolume } from '../../src/local-cluster/fixtures/volumes.js';
import { Scenario, TEST_CONFIG, waitForBoundPod } from './support.js';

let s: Scenario;
beforeAll(async () => {
  s = await Scenario.start({ tekton: { version: 'v1.15.0' } });
  await s.startLocalMode(TEST_CONFIG);
});
afterAll(async () => {
  await s?.stop();
});

const PIPELINE = 'first-then-second';
const relocatedFrom = (pod: string, node: string) => (o: Outcome) => o.kind === 'relocated' && o.assistant.pod === pod && o.fromNode === node;

interface Started {
  ns: string;
  pr: PipelineRun;
  /** The assistant's pod name (`<statefulset>-0`). */
  assistant: string;
  assistantUid: string;
  first: V1Pod;
  node: string;
}

const ignoreConflict = (e: unknown) => {
  if (statusOf(e) !== 409) throw e;
};

/**
 * In namespace and pool `pool`: the Pipeline, a PipelineRun of it, a volume for its workspace claim;
 * waits until TaskRun 1's pod runs next to the assistant.
 */
async function startRun(pool: string, mode: CoscheduleMode, name = 'build'): Promise<Started> {
  const ns = pool;
  await createNamespace(s.admin, ns).catch(ignoreConflict);
  await createTwoTaskPipeline(s.admin, ns, PIPELINE).catch(ignoreConflict);
  const pr = await runPipeline(s.admin, ns, PIPELINE, { name, nodeSelector: { pool } });
  // No provisioner runs: the volume is made for the claim Tekton (or the StatefulSet) is about to create.
  await provisionVolume(s.admin, ns, workspaceClaim(mode, pr), { kind: 'anywhere' }, { createClaim: false });
  const assistant = `${assistantFor(mode, pr)}-0`;
  const first = await waitForRunningPod(s.admin, ns, taskRunPodName(pr, FIRST));
  const aa = await waitForBoundPod(s.admin, ns, assistant);
  expect(first.spec?.nodeName).toBe(aa.spec?.nodeName);
  return { ns, pr, assistant, assistantUid: aa.metadata!.uid!, first, node: aa.spec!.nodeName! };
}

/** Completes TaskRun 1's pod now and TaskRun 2's when it runs; the finished PipelineRun and TaskRun 2's pod. */
async function finish(r: Started): Promise<{ pr: PipelineRun; second: V1Pod }> {
  const secondName = taskRunPodName(r.pr, SECOND);
  const secondDone = s.cp.kubelets.complete(r.ns, secondName);
  await s.cp.kubelets.complete(r.ns, r.first.metadata!.name!);
  await secondDone;
  const pr = await waitForPipelineRunDone(s.admin, r.ns, r.pr.metadata.name);
  return { pr, second: await s.admin.core.readNamespacedPod({ namespace: r.ns, name: secondName }) };
}

describe('real Tekton v1.15.0 with affinity-relocator in local mode: cordon the assistant node while TaskRun 1 runs', () => {
  for (const mode of ['workspaces', 'pipelineruns', 'isolate-pipelinerun'] as const) {
    it(`coschedule: ${mode} — the PipelineRun succeeds, TaskRun 2 on the node the assistant moved to`, async () => {
      await s.tekton.setCoschedule(mode);
      const pool = `e2e-${mode}`;
      const nodes = await s.pool(pool, 2);
      const r = await startRun(pool, mode);
      const other = nodes.find((n) => n !== r.node)!;

      await setUnschedulable(s.admin, r.node, true);
      const relocated = await s.waitForOutcome(`${r.assistant} relocated off ${r.node}`, relocatedFrom(r.assistant, r.node), 60_000);
      expect(relocated.toNode).toBe(other);
      // A cordon evicts nothing: TaskRun 1 runs on where it started.
      const firstNow = await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.first.metadata!.name! });
      expect(firstNow.metadata?.uid).toBe(r.first.metadata?.uid);
      expect(firstNow.status?.phase).toBe('Running');

      const { pr, second } = await finish(r);
      expect(succeeded(pr)).toBe('True');
      expect(second.spec?.nodeName).toBe(other);
    });
  }

  it('coschedule: isolate-pipelinerun with no free node — blocked, then a node joins and the PipelineRun completes', async () => {
    const mode = 'isolate-pipelinerun';
    await s.tekton.setCoschedule(mode);
    const pool = 'e2e-isolate-full';
    await s.pool(pool, 2);
    const ours = await startRun(pool, mode, 'ours');
    // Another PipelineRun's assistant takes the pool's other node: isolation keeps ours off it.
    const theirs = await startRun(pool, mode, 'theirs');
    expect(theirs.node).not.toBe(ours.node);

    await setUnschedulable(s.admin, ours.node, true);
    const blocked = await s.waitForOutcome(`${ours.assistant} blocked`, (o) => o.kind === 'blocked' && o.assistant.pod === ours.assistant, 60_000);
    expect(blocked).toMatchObject({ reason: 'no-feasible-node', fromNode: ours.node });
    // Left in place: deleting it would leave the PipelineRun with no assistant at all.
    expect((await s.admin.core.readNamespacedPod({ namespace: ours.ns, name: ours.assistant })).metadata?.uid).toBe(ours.assistantUid);

    const joined = `${pool}-3`;
    await createNode(s.admin, joined, { labels: { pool } });
    await s.waitForOutcome(`${ours.assistant} relocated to ${joined}`, (o) => relocatedFrom(ours.assistant, ours.node)(o) && o.toNode === joined, 60_000);
    const { pr, second } = await finish(ours);
    expect(succeeded(pr)).toBe('True');
    expect(second.spec?.nodeName).toBe(joined);
    expect(succeeded((await finish(theirs)).pr)).toBe('True');
  });
});

describe('real Tekton v1.15.0 alone', () => {
  it('leaves the assistant on the cordoned node: TaskRun 2 cannot be scheduled (what affinity-relocator is for)', async () => {
    await s.stopLocalMode();
    const mode = 'workspaces';
    await s.tekton.setCoschedule(mode);
    const pool = 'e2e-alone';
    await s.pool(pool, 2);
    const r = await startRun(pool, mode);
    await setUnschedulable(s.admin, r.node, true);
    await s.cp.kubelets.complete(r.ns, r.first.metadata!.name!);
    const secondName = taskRunPodName(r.pr, SECOND);
    const second = await eventually(
      `TaskRun 2's pod ${secondName} to be found unschedulable`,
      () => s.admin.core.readNamespacedPod({ namespace: r.ns, name: secondName }),
      (p) => (p.status?.conditions ?? []).some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable'),
      { timeoutMs: 60_000 },
    );
    expect(second.spec?.nodeName).toBeUndefined();
    const aa = await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.assistant });
    expect(aa.metadata?.uid).toBe(r.assistantUid);
    expect(aa.spec?.nodeName).toBe(r.node);
  });
});

describe('no drift: the fixtures build the assistant real Tekton v1.15.0 builds', () => {
  const podTemplate = {
    nodeSelector: { pool: 'drift' },
    tolerations: [{ key: 'example.com/dedicated', operator: 'Equal', value: 'ci', effect: 'NoSchedule' }],
    affinity: {
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 10, preference: { matchExpressions: [{ key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['m6i.xlarge'] }] } },
        ],
      },
    },
  };
  /** JSON as the API returns it (dates as strings, no undefined). */
  const plain = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

  for (const mode of ['workspaces', 'pipelineruns', 'isolate-pipelinerun'] as const) {
    it(`coschedule: ${mode} — labels, owner reference, affinity, volumes, tolerations, and the TaskRun pod's affinity`, async () => {
      await s.tekton.setCoschedule(mode);
      const ns = `drift-${mode}`;
      await createNamespace(s.admin, ns);
      await createTwoTaskPipeline(s.admin, ns, PIPELINE);
      const created = await runPipeline(s.admin, ns, PIPELINE, { name: 'drift', labels: { team: 'platform' }, ...podTemplate });
      const name = assistantFor(mode, created);
      // No node of pool "drift" exists: the assistant and TaskRun 1 stay Pending, which is all this needs.
      const real = await eventually(`Tekton's StatefulSet ${ns}/${name}`, () => s.admin.apps.readNamespacedStatefulSet({ namespace: ns, name }), () => true);
      const pr = await readPipelineRun(s.admin, ns, 'drift'); // with the labels Tekton added before it made the set
      const claim = pvcNameFromWorkspaceBinding(undefined, WORKSPACE, pr.metadata.uid);
      const fixture = assistantStatefulSet(pr, {
        mode,
        workspaceName: WORKSPACE,
        ...(mode === 'workspaces'
          ? { claimNames: [claim] }
          : { claimTemplates: [{ metadata: { name: claim }, spec: CLAIM_TEMPLATE_SPEC }] }),
        podTemplate: plain(podTemplate) as AssistantPodTemplate,
      });

      expect(real.metadata?.name).toBe(fixture.metadata?.name);
      expect(real.metadata?.labels).toEqual(fixture.metadata?.labels);
      expect(plain(real.metadata?.ownerReferences)).toEqual(plain(fixture.metadata?.ownerReferences));
      expect(real.spec?.selector.matchLabels).toEqual(fixture.spec?.selector.matchLabels);
      const [r, f] = [real.spec!.template, fixture.spec!.template];
      expect(r.metadata?.labels).toEqual(f.metadata?.labels);
      expect(plain(r.spec?.affinity)).toEqual(plain(f.spec?.affinity));
      expect(plain(r.spec?.tolerations)).toEqual(plain(f.spec?.tolerations));
      expect(r.spec?.nodeSelector).toEqual(f.spec?.nodeSelector);
      expect(plain(r.spec?.volumes ?? [])).toEqual(plain(f.spec?.volumes ?? []));
      expect((real.spec?.volumeClaimTemplates ?? []).map((t) => t.metadata?.name)).toEqual((fixture.spec?.volumeClaimTemplates ?? []).map((t) => t.metadata?.name));
      const [rc, fc] = [r.spec!.containers[0]!, f.spec!.containers[0]!];
      expect({ name: rc.name, args: rc.args, resources: plain(rc.resources), mounts: plain(rc.volumeMounts ?? []) }).toEqual({
        name: fc.name,
        args: fc.args,
        resources: plain(fc.resources),
        mounts: plain(fc.volumeMounts ?? []),
      });
      expect(rc.image).toMatch(/\/nop:/); // the -nop-image flag: Tekton's nop image holds the node

      // TaskRun 1's pod: the labels, annotation and required podAffinity the fixtures' TaskRun pods carry.
      const podName = taskRunPodName(pr, FIRST);
      const pod = await eventually(`TaskRun 1's pod ${podName}`, () => s.admin.core.readNamespacedPod({ namespace: ns, name: podName }), () => true);
      const expected = taskRunPod(pr, FIRST, name);
      expect(pod.metadata?.labels).toMatchObject(expected.metadata!.labels!);
      expect(pod.metadata?.annotations).toMatchObject(expected.metadata!.annotations!);
      expect(plain(pod.spec?.affinity?.podAffinity)).toEqual(plain(expected.spec?.affinity?.podAffinity));
    });
  }
});
