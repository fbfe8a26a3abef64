/**
 * End to end with the real Tekton Pipelines controller (v1.15.0, built from its Go module), the real
 * control plane and the kubelet stand-in. A Pipeline `first → second` shares a volumeClaimTemplate
 * workspace; the assistant's node is cordoned while TaskRun 1 runs (./tekton-cordon.ts). In every
 * coschedule mode the PipelineRun must succeed with TaskRun 2 on another node, once with affinity-relocator
 * in local mode (as the relocator identity), once through the AWS-shaped path (the forwarder process -> the
 * loopback bus and serverless.yml's rules -> the built bundles as Lambdas, with EKS tokens); Tekton alone
 * leaves TaskRun 2 unschedulable. Issue 20's case: a healthy assistant node too small for TaskRun 2 holds
 * it Pending under Tekton alone; local mode (the forwarder's event after the grace) moves the assistant to a
 * node where both fit (src/local-cluster/fixtures/tekton-pending.ts); `demo --pending` shows it. And the assistants and TaskRun pods our fixtures build
 * (for the fast tests) are compared with the ones this Tekton builds.
 * One control plane and one controller serve the file (the controller is restarted to change mode): only
 * one v1.x Tekton controller can run on a machine (port 8080), so every test with it lives here, where
 * vitest runs them one after another, never in two files at once. Each test has its own pool of nodes,
 * chosen by the PipelineRun's pod template.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../src/local-cluster/fixtures/clients.js';
import { setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../../src/local-cluster/fixtures/pods.js';
import { type AssistantPodTemplate, assistantStatefulSet, pvcNameFromWorkspaceBinding, taskRunPod } from '../../src/local-cluster/fixtures/tekton.js';
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
  WORKSPACE,
} from '../../src/local-cluster/fixtures/tekton-runs.js';
import { holdSecondTask, startPendingRun, unschedulableCondition } from '../../src/local-cluster/fixtures/tekton-pending.js';
import { AWS_PATH_CLUSTER, AWS_PATH_REGION, AWS_PATH_STAGE, AwsPath, PATH_FUNCTIONS } from '../support/aws-path/aws-path.js';
import { type LambdaIdentity, startLambdaIdentity } from '../support/aws-path/lambda-identity.js';
import { runCli, Scenario, TEST_CONFIG } from './support.js';

/** The relocator's settings for the held pod: PENDING_GRACE_SECONDS as released (20 s). */
const PENDING_CONFIG = TEST_CONFIG;
import { busOutcomes, cordonTests, localOutcomes, PIPELINE, startRun } from './tekton-cordon.js';

let identity: LambdaIdentity;
let s: Scenario;
beforeAll(async () => {
  // The control plane also accepts the Lambdas' EKS tokens (and audits their requests), for the AWS-shaped path.
  identity = await startLambdaIdentity({ clusterId: AWS_PATH_CLUSTER, stage: AWS_PATH_STAGE, region: AWS_PATH_REGION, functions: PATH_FUNCTIONS });
  s = await Scenario.start({ tekton: { version: 'v1.15.0' }, ...identity.controlPlaneOptions });
});
afterAll(async () => {
  await s?.stop();
  await identity?.authenticator.close();
});

describe('real Tekton v1.15.0 with affinity-relocator in local mode: cordon the assistant node while TaskRun 1 runs', () => {
  beforeAll(async () => {
    await s.startLocalMode(TEST_CONFIG);
  });
  afterAll(async () => {
    await s.stopLocalMode();
  });
  cordonTests({ prefix: 'e2e', scenario: () => s, outcomes: () => localOutcomes(s) });
});

describe('real Tekton v1.15.0 with affinity-relocator through the AWS-shaped path: cordon the assistant node while TaskRun 1 runs', () => {
  let path: AwsPath;
  beforeAll(async () => {
    // A failed invocation is retried after 2 s and 4 s instead of Lambda's 1 and 2 minutes, so a test fails
    // in time. No schedules: as in local mode, the events alone must do it.
    path = await AwsPath.start({ cp: s.cp, admin: s.admin, identity, lambda: { errorRetryDelaysMs: [2_000, 4_000] }, schedules: false });
  });
  afterAll(async () => {
    await path?.stop();
  });
  let before = { invocations: 0, accepted: 0 };
  beforeEach(() => {
    before = { invocations: path.lambdas.invocations.length, accepted: path.bus.endpoint.accepted.length };
  });
  afterEach(() => {
    // Whatever the test waited for, nothing on the way failed.
    const invocations = path.lambdas.invocations.slice(before.invocations);
    expect(invocations.filter((i) => !i.result.ok).map((i) => `${i.fn}: ${i.result.error?.name}: ${i.result.error?.message}`)).toEqual([]);
    const results = path.resultEvents(before.accepted);
    expect(results.filter((o) => o.kind === 'failed')).toEqual([]);
    expect(path.bus.routingErrors).toEqual([]);
    expect(identity.authenticator.reviews.rejected).toEqual([]);
    // Each relocation reported was the Lambdas' doing: their role deleted the assistant (the apiserver's audit).
    const deletedByLambda = new Set(
      s.cp
        .auditEvents()
        .filter((e) => e.verb === 'delete' && e.objectRef?.resource === 'pods' && e.responseStatus?.code === 200 && identity.usernames.includes(e.user.username))
        .map((e) => `${e.objectRef?.namespace}/${e.objectRef?.name}`),
    );
    const relocated = results.filter((o) => o.kind === 'relocated').map((o) => `${o.assistant.namespace}/${o.assistant.pod}`);
    expect(relocated.filter((pod) => !deletedByLambda.has(pod))).toEqual([]);
  });
  cordonTests({ prefix: 'aws', scenario: () => s, outcomes: () => busOutcomes(path) });
});

describe('real Tekton v1.15.0 alone', () => {
  // Neither local mode nor the AWS-shaped path runs now (their describes stopped them).
  it('leaves the assistant on the cordoned node: TaskRun 2 cannot be scheduled (what affinity-relocator is for)', async () => {
    const mode = 'workspaces';
    await s.tekton.setCoschedule(mode);
    const pool = 'e2e-alone';
    await s.pool(pool, 2);
    const r = await startRun(s, pool, mode);
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

describe('real Tekton v1.15.0 and a TaskRun pod held Pending by its assistant on a healthy node (issue 20)', () => {
  // Tekton alone first (neither local mode nor the AWS-shaped path runs now), then local mode, whose
  // forwarder publishes the held pod ("TaskRun Pod Unschedulable") once it has been held for the grace.
  it('TaskRun 2 stays Pending under Tekton alone; in local mode the assistant moves to the big node, TaskRun 2 runs there and the PipelineRun succeeds', async () => {
    await s.tekton.setCoschedule('workspaces');
    const r = await startPendingRun(s.admin, { namespace: 'pending', small: 'pending-1', big: 'pending-2', labels: { pool: 'pending' } });
    const held = await holdSecondTask(s.admin, s.cp.kubelets, r);
    expect(unschedulableCondition(held)?.message).toMatch(/1 Insufficient cpu, 1 node\(s\) didn't match pod affinity rules/);

    // Tekton alone, for as long as the forwarder's grace: TaskRun 2 never bound, the assistant never moved.
    const until = Date.now() + PENDING_CONFIG.pendingGraceMs;
    while (Date.now() < until) {
      const second = await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.secondPod });
      const aa = await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.assistant });
      expect(second.spec?.nodeName).toBeUndefined();
      expect({ uid: aa.metadata?.uid, node: aa.spec?.nodeName }).toEqual({ uid: r.assistantUid, node: r.small });
      await new Promise((w) => setTimeout(w, 1_000));
    }

    await s.startLocalMode(PENDING_CONFIG);
    try {
      const relocated = await s.waitForOutcome('the rescue settled by the release', (o) => o.kind === 'relocated' && o.heldPod === r.secondPod, 60_000);
      expect(relocated).toMatchObject({ reason: 'pending-taskrun', fromNode: r.small, toNode: r.big, triggerSource: 'pending-pod-event' });
      expect(relocated.pendingToBoundMs).toBeGreaterThan(0);
      expect(s.outcomes.find((o) => o.kind === 'started' && o.heldPod === r.secondPod)).toMatchObject({ reason: 'pending-taskrun', triggerSource: 'pending-pod-event' });
      const assistant = await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.assistant });
      expect({ moved: assistant.metadata?.uid !== r.assistantUid, node: assistant.spec?.nodeName }).toEqual({ moved: true, node: r.big });
      // Completed once settled: a finished PipelineRun has Tekton delete its assistant.
      await s.cp.kubelets.complete(r.ns, r.secondPod);
      const pr = await waitForPipelineRunDone(s.admin, r.ns, r.pr.metadata.name);
      expect(succeeded(pr)).toBe('True');
      expect((await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.secondPod })).spec?.nodeName).toBe(r.big);
      // TaskRun 1 was done before the move: nothing of the run was disturbed.
      const first = await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.firstPod });
      expect({ node: first.spec?.nodeName, phase: first.status?.phase }).toEqual({ node: r.small, phase: 'Succeeded' });
      expect(s.errors).toEqual([]);
    } finally {
      await s.stopLocalMode();
    }
  });
});

describe('real Tekton v1.15.0, a TaskRun pod held Pending, through the AWS-shaped path (issue 20)', () => {
  it('the forwarder process publishes the held pod, the built on-pod-event moves the assistant as the Lambda role, TaskRun 2 runs and the PipelineRun succeeds', async () => {
    await s.tekton.setCoschedule('workspaces');
    // The same grace on both sides, as a deployment sets it (serverless.yml's pendingGraceSeconds, the chart's forwarder.pendingGraceSeconds).
    const grace = { PENDING_GRACE_SECONDS: String(PENDING_CONFIG.pendingGraceMs / 1000) };
    const path = await AwsPath.start({ cp: s.cp, admin: s.admin, identity, lambda: { errorRetryDelaysMs: [2_000, 4_000] }, schedules: false, functionEnv: grace, forwarderEnv: grace });
    try {
      const r = await startPendingRun(s.admin, { namespace: 'pending-aws', small: 'pending-aws-1', big: 'pending-aws-2', labels: { pool: 'pending-aws' } });
      await holdSecondTask(s.admin, s.cp.kubelets, r);
      const relocated = await busOutcomes(path).waitFor('the rescue settled', (o) => o.kind === 'relocated' && o.heldPod === r.secondPod, 90_000);
      expect(relocated).toMatchObject({ reason: 'pending-taskrun', fromNode: r.small, toNode: r.big, triggerSource: 'pending-pod-event' });
      const assistant = await s.admin.core.readNamespacedPod({ namespace: r.ns, name: r.assistant });
      expect({ moved: assistant.metadata?.uid !== r.assistantUid, node: assistant.spec?.nodeName }).toEqual({ moved: true, node: r.big });
      await s.cp.kubelets.complete(r.ns, r.secondPod);
      expect(succeeded(await waitForPipelineRunDone(s.admin, r.ns, r.pr.metadata.name))).toBe('True');
      // The Lambda role deleted the assistant (the apiserver's audit), and nothing on the way failed.
      // (By namespace too: the local-mode case above runs a PipelineRun of the same name, whose assistant has the same name.)
      const deletes = s.cp.auditEvents().filter((e) => e.verb === 'delete' && e.objectRef?.namespace === r.ns && e.objectRef?.name === r.assistant && e.responseStatus?.code === 200);
      expect(deletes.map((e) => identity.usernames.includes(e.user.username))).toEqual([true]);
      expect(path.lambdas.invocations.filter((i) => !i.result.ok).map((i) => `${i.fn}: ${i.result.error?.message}`)).toEqual([]);
      expect(path.bus.routingErrors).toEqual([]);
    } finally {
      await path.stop();
    }
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

describe('demo --pending, as a newcomer runs it (last: its own control plane and Tekton need port 8080)', () => {
  beforeAll(async () => {
    await s.tekton.stop();
  });
  it('shows TaskRun 2 held Pending, the relocator moving the assistant, TaskRun 2 following and the PipelineRun succeeding, exit 0', async () => {
    const out = await runCli(['demo', '--pending'], { PENDING_GRACE_SECONDS: '5' });
    expect(out.code, `${out.stdout}\n${out.stderr}`).toBe(0);
    expect(out.stdout).toMatch(/TaskRun 2's pod pipeline-run-kcsr4-second-pod is Pending: 0\/3 nodes are available: .*Insufficient cpu/);
    expect(out.stdout).toMatch(/forwarder publishes "TaskRun Pod Unschedulable": demo\/pipeline-run-kcsr4-second-pod, assistant affinity-assistant-\w+, Unschedulable since /);
    expect(out.stdout).toMatch(/STARTED demo\/affinity-assistant-\w+-0 \[pending-taskrun\]: .* deleted from kind-multinode-worker1 to free demo\/pipeline-run-kcsr4-second-pod/);
    expect(out.stdout).toMatch(/RELOCATED demo\/affinity-assistant-\w+-0 \[pending-taskrun\]: .* moved from kind-multinode-worker1 to kind-multinode-worker2, and pipeline-run-kcsr4-second-pod followed it to kind-multinode-worker2/);
    expect(out.stdout).toMatch(/TaskRun 2's pod runs on kind-multinode-worker2, beside the assistant/);
    expect(out.stdout).toMatch(/PipelineRun pipeline-run-kcsr4: Succeeded/);
    expect(out.stdout).not.toMatch(/error/i);
    // Nothing on stderr but, when another checkout's Tekton holds :8080 a while, the notice that the demo waits for it.
    expect(out.stderr.split('\n').filter((l) => l && !/port 8080 is in use, waiting for it to be free/.test(l))).toEqual([]);
  }, 300_000);
});
