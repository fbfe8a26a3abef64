/**
 * The cordon scenario with the real Tekton controller, for every path affinity-relocator runs on
 * (tekton.test.ts runs it through local mode and through the AWS-shaped path): a Pipeline `first → second`
 * shares a volumeClaimTemplate workspace; the assistant's node is cordoned while TaskRun 1 runs; the
 * PipelineRun must succeed with TaskRun 2 on the node the assistant moved to, in every coschedule mode.
 * The paths differ only in where their outcomes are seen (`OutcomeSource`). Each test has its own pool of
 * nodes (and namespace), chosen by the PipelineRun's pod template; `prefix` keeps the paths' pools apart.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { expect, it } from 'vitest';
import type { Outcome } from '../../src/domain/outcome.js';
import { eventually, statusOf } from '../../src/local-cluster/fixtures/clients.js';
import { createNode, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../../src/local-cluster/fixtures/pods.js';
import type { CoscheduleMode, PipelineRun } from '../../src/local-cluster/fixtures/tekton.js';
import {
  assistantFor,
  createTwoTaskPipeline,
  FIRST,
  runPipeline,
  SECOND,
  succeeded,
  taskRunPodName,
  waitForPipelineRunDone,
  waitForRunningPod,
  workspaceClaim,
} from '../../src/local-cluster/fixtures/tekton-runs.js';
import { provisionVolume } from '../../src/local-cluster/fixtures/volumes.js';
import type { AwsPath } from '../support/aws-path/aws-path.js';
import { type Scenario, waitForBoundPod } from './support.js';

export const PIPELINE = 'first-then-second';
export const COSCHEDULE_MODES = ['workspaces', 'pipelineruns', 'isolate-pipelinerun'] as const;

/** Where a path's outcomes are seen: the first one matching, waited for. */
export interface OutcomeSource {
  waitFor(what: string, match: (o: Outcome) => boolean, timeoutMs: number): Promise<Outcome>;
}

/** Local mode: the outcomes its sinks were handed. */
export function localOutcomes(s: Scenario): OutcomeSource {
  return { waitFor: (what, match, timeoutMs) => s.waitForOutcome(what, match, timeoutMs) };
}

/** The AWS-shaped path: the result events the functions published on the bus (what alert rules see). */
export function busOutcomes(path: AwsPath): OutcomeSource {
  return {
    waitFor: async (what, match, timeoutMs) =>
      (await eventually(`a result event on the bus: ${what}`, async () => path.resultEvents().find(match), (o) => o !== undefined, { timeoutMs }))!,
  };
}

export const relocatedFrom = (pod: string, node: string) => (o: Outcome) => o.kind === 'relocated' && o.assistant.pod === pod && o.fromNode === node;

export interface Started {
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
export async function startRun(s: Scenario, pool: string, mode: CoscheduleMode, name = 'build'): Promise<Started> {
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
export async function finish(s: Scenario, r: Started): Promise<{ pr: PipelineRun; second: V1Pod }> {
  const secondName = taskRunPodName(r.pr, SECOND);
  const secondDone = s.cp.kubelets.complete(r.ns, secondName);
  await s.cp.kubelets.complete(r.ns, r.first.metadata!.name!);
  await secondDone;
  const pr = await waitForPipelineRunDone(s.admin, r.ns, r.pr.metadata.name);
  return { pr, second: await s.admin.core.readNamespacedPod({ namespace: r.ns, name: secondName }) };
}

/**
 * The tests, for a describe whose hooks start the relocator: per coschedule mode, the cordon while TaskRun 1
 * runs; then isolate-pipelinerun with no free node (blocked until a node joins). `scenario` and `outcomes`
 * are read when a test runs (the hooks set them).
 */
export function cordonTests(o: { prefix: string; scenario: () => Scenario; outcomes: () => OutcomeSource }): void {
  for (const mode of COSCHEDULE_MODES) {
    it(`coschedule: ${mode} — the PipelineRun succeeds, TaskRun 2 on the node the assistant moved to`, async () => {
      const s = o.scenario();
      await s.tekton.setCoschedule(mode);
      const pool = `${o.prefix}-${mode}`;
      const nodes = await s.pool(pool, 2);
      const r = await startRun(s, pool, mode);
      const other = nodes.find((n) => n !== r.node)!;

      await setUnschedulable(s.admin, r.node, true);
      const relocated = await o.outcomes().waitFor(`${r.assistant} relocated off ${r.node}`, relocatedFrom(r.assistant, r.node), 60_000);
      expect(relocated.toNode).toBe(other);
      // A cordon evicts nothing: TaskRun 1 runs on where it started.
      const firstNow = await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.first.metadata!.name! });
      expect(firstNow.metadata?.uid).toBe(r.first.metadata?.uid);
      expect(firstNow.status?.phase).toBe('Running');

      const { pr, second } = await finish(s, r);
      expect(succeeded(pr)).toBe('True');
      expect(second.spec?.nodeName).toBe(other);
    });
  }

  it('coschedule: isolate-pipelinerun with no free node — blocked, then a node joins and the PipelineRun completes', async () => {
    const s = o.scenario();
    const mode = 'isolate-pipelinerun';
    await s.tekton.setCoschedule(mode);
    const pool = `${o.prefix}-isolate-full`;
    await s.pool(pool, 2);
    const ours = await startRun(s, pool, mode, 'ours');
    // Another PipelineRun's assistant takes the pool's other node: isolation keeps ours off it.
    const theirs = await startRun(s, pool, mode, 'theirs');
    expect(theirs.node).not.toBe(ours.node);

    await setUnschedulable(s.admin, ours.node, true);
    const blocked = await o.outcomes().waitFor(`${ours.assistant} blocked`, (x) => x.kind === 'blocked' && x.assistant.pod === ours.assistant, 60_000);
    expect(blocked).toMatchObject({ reason: 'no-feasible-node', fromNode: ours.node });
    // Left in place: deleting it would leave the PipelineRun with no assistant at all.
    expect((await s.admin.core.readNamespacedPod({ namespace: ours.ns, name: ours.assistant })).metadata?.uid).toBe(ours.assistantUid);

    // The join is the only trigger (neither path runs a sweep here): local mode's node watch, or the forwarder's event.
    const joined = `${pool}-3`;
    await createNode(s.admin, joined, { labels: { pool } });
    const moved = await o.outcomes().waitFor(`${ours.assistant} relocated to ${joined}`, (x) => relocatedFrom(ours.assistant, ours.node)(x) && x.toNode === joined, 60_000);
    expect(moved.triggerSource).toBe('node-event');
    const { pr, second } = await finish(s, ours);
    expect(succeeded(pr)).toBe('True');
    expect(second.spec?.nodeName).toBe(joined);
    expect(succeeded((await finish(s, theirs)).pr)).toBe('True');
  });
}
