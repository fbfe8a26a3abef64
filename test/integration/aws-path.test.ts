/**
 * The AWS-shaped path end to end on the real control plane: a cordon -> the forwarder (its own process,
 * its shipped RBAC) publishes -> the loopback EventBridge and serverless.yml's rules (Event Ruler) -> the
 * BUILT on-node-event bundle, invoked as a Lambda, reaches the apiserver with an EKS token (KUBE_AUTH=eks,
 * accepted by the loopback EKS authenticator) and deletes the assistant -> the StatefulSet's replacement is
 * bound elsewhere. What the bundle returned and logged, and what the apiserver recorded, are checked.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../src/local-cluster/fixtures/clients.js';
import { createNode, setUnschedulable } from '../../src/local-cluster/fixtures/nodes.js';
import { taskRunPod } from '../../src/local-cluster/fixtures/tekton.js';
import { AWS_PATH_CLUSTER, AWS_PATH_REGION, AWS_PATH_STAGE, AwsPath, PATH_FUNCTIONS } from '../support/aws-path/aws-path.js';
import { type LambdaIdentity, startLambdaIdentity } from '../support/aws-path/lambda-identity.js';
import { Scenario, waitForBoundPod } from './support.js';

let identity: LambdaIdentity;
let s: Scenario;
let path: AwsPath;

beforeAll(async () => {
  identity = await startLambdaIdentity({ clusterId: AWS_PATH_CLUSTER, stage: AWS_PATH_STAGE, region: AWS_PATH_REGION, functions: PATH_FUNCTIONS });
  s = await Scenario.start(identity.controlPlaneOptions);
  // A failed invocation is retried after 2 s and 4 s instead of Lambda's 1 and 2 minutes, so a test fails in time.
  // A short grace for held TaskRun pods, the same on both sides as a deployment sets it.
  const grace = { PENDING_GRACE_SECONDS: '2' };
  path = await AwsPath.start({ cp: s.cp, admin: s.admin, identity, lambda: { errorRetryDelaysMs: [2_000, 4_000] }, functionEnv: grace, forwarderEnv: grace });
});

afterAll(async () => {
  await path?.stop();
  await s?.stop();
  await identity?.authenticator.close();
});

describe('the AWS-shaped path', () => {
  it('relocates an assistant off a cordoned node through the forwarder, the bus rules and the built bundles, as the Lambda role', async () => {
    const [a, b] = await s.pool('aws', 2);
    const { ns, sts, pod } = await s.assistant('aws', { startOn: a!, others: [b!] });
    const name = `${sts}-0`;
    const oldUid = pod.metadata!.uid!;
    expect(await path.settle(60_000)).toBe(true);
    const invocationsBefore = path.lambdas.invocations.length;

    await setUnschedulable(s.admin, a!, true);
    const replacement = await eventually(
      'the replacement to be bound',
      () => s.admin.core.readNamespacedPod({ namespace: ns, name }).catch(() => undefined),
      (p: V1Pod | undefined) => !!p && p.metadata?.uid !== oldUid && !!p.spec?.nodeName,
      { timeoutMs: 60_000 },
    );
    expect(replacement!.spec!.nodeName).toBe(b);
    expect(await path.settle(60_000)).toBe(true);

    // The deleting invocation: on-node-event, triggered by the cordon, reporting this pod (relocated, or
    // `started` once confirmation is asynchronous), nothing failed.
    const invocations = path.lambdas.invocations.slice(invocationsBefore);
    expect(invocations.filter((i) => !i.result.ok).map((i) => i.result.error)).toEqual([]);
    const mine = path.outcomes().filter((o) => o.outcome.assistant && (o.outcome.assistant as { podUid?: string }).podUid === oldUid);
    const acted = mine.find((o) => o.fn === 'on-node-event' && !['skipped', 'blocked', 'failed', 'stuck'].includes(o.outcome.kind));
    expect(acted, `outcomes about the pod: ${JSON.stringify(mine.map((o) => `${o.fn}:${o.outcome.kind}/${String(o.outcome.reason)}`))}`).toBeDefined();
    expect(acted!.outcome.fromNode).toBe(a);
    expect(mine.filter((o) => o.outcome.kind === 'failed')).toEqual([]);
    // ... and logged it, with the invocation's request id on the line (Powertools context).
    const logged = path.lambdas.logs.filter((l) => l.fn === 'on-node-event' && (l.json?.outcome as { assistant?: { podUid?: string } } | undefined)?.assistant?.podUid === oldUid);
    expect(logged.map((l) => l.json?.function_request_id)).toContain(acted!.requestId);

    // The apiserver saw the delete as the Lambda role, mapped by the EKS authenticator to the relocator group.
    const deletes = s.cp.auditEvents().filter((e) => e.verb === 'delete' && e.objectRef?.resource === 'pods' && e.objectRef.name === name && e.objectRef.namespace === ns);
    expect(deletes.map((e) => e.user.username)).toEqual([identity.principals['on-node-event']!.assumedRoleArn]);
    expect(deletes[0]!.user.groups).toContain('affinity-relocator');
    expect(deletes[0]!.responseStatus?.code).toBe(200);
    expect(identity.authenticator.reviews.rejected).toEqual([]);
    expect(identity.authenticator.reviews.authenticated).toBeGreaterThanOrEqual(1);
    // Every function started cold once at least, from the bundle built by scripts/build.ts.
    expect(path.lambdas.invocations.some((i) => i.fn === 'on-node-event' && i.cold)).toBe(true);
    expect(path.bus.routingErrors).toEqual([]);

    // Only the replacement's bind invoked on-pod-event, and that invocation confirmed the relocation. The
    // old pod's deletion reaches no function (when the forwarder published it at all: its queue keeps the
    // newest change per pod, and the bind may have superseded it; Event Ruler's test covers the rule).
    const podChanges = path.bus.endpoint.accepted
      .filter((e) => e.DetailType === 'Assistant Pod Changed')
      .map((e) => ({ id: e.EventId, detail: JSON.parse(e.Detail!) as { change: string; pod: { name: string; uid: string } } }))
      .filter((e) => e.detail.pod.name === name);
    const deletions = podChanges.filter((e) => e.detail.change === 'deleted').map((e) => e.id);
    expect(path.bus.deliveries.filter((d) => deletions.includes(d.eventId))).toEqual([]);
    const bound = podChanges.find((e) => e.detail.change === 'bound' && e.detail.pod.uid === replacement!.metadata!.uid);
    expect(bound, JSON.stringify(podChanges)).toBeDefined();
    expect(path.bus.deliveries.filter((d) => d.eventId === bound!.id).map((d) => d.rules)).toEqual([[`affinity-relocator-${AWS_PATH_STAGE}-assistant-pod`]]);
    const confirming = invocations.filter((i) => i.fn === 'on-pod-event' && i.eventId === bound!.id).map((i) => i.requestId);
    expect(mine.filter((o) => o.fn === 'on-pod-event' && o.outcome.kind === 'relocated').map((o) => o.requestId)).toEqual([expect.toBeOneOf(confirming)]);
  });

  it('frees a TaskRun pod held Pending by its assistant\'s healthy node: the forwarder\'s event after the grace, the built on-pod-event as the Lambda role, the release settles it', async () => {
    const pool = 'awsheld';
    const [small, big] = [`${pool}-1`, `${pool}-2`];
    await createNode(s.admin, small, { cpu: '2', labels: { pool } });
    await createNode(s.admin, big, { cpu: '8', labels: { pool } });
    const { ns, sts, pod, pr, claim } = await s.assistant(pool, { startOn: small, others: [big] });
    expect(await path.settle(60_000)).toBe(true);
    const body = taskRunPod(pr, 'second', sts, [claim]);
    body.spec!.containers[0]!.resources = { requests: { cpu: '3' } };
    const held = await s.admin.core.createNamespacedPod({ namespace: ns, body });
    const heldName = held.metadata!.name!;

    const bound = await waitForBoundPod(s.admin, ns, heldName, { timeoutMs: 60_000 });
    expect(bound.spec?.nodeName).toBe(big);
    const replacement = await s.admin.core.readNamespacedPod({ namespace: ns, name: `${sts}-0` });
    expect(replacement.metadata?.uid).not.toBe(pod.metadata!.uid);
    expect(replacement.spec?.nodeName).toBe(big);
    const relocated = await eventually('the rescue reported relocated', async () => path.outcomes().find((o) => o.outcome.kind === 'relocated' && o.outcome.heldPod === heldName), (o) => o !== undefined, { timeoutMs: 60_000 });
    expect(relocated!.fn).toBe('on-pod-event');
    expect(relocated!.outcome).toMatchObject({ reason: 'pending-taskrun', fromNode: small, toNode: big });
    const started = path.outcomes().find((o) => o.outcome.kind === 'started' && o.outcome.heldPod === heldName);
    expect(started).toMatchObject({ fn: 'on-pod-event', outcome: { triggerSource: 'pending-pod-event' } });
    expect(path.lambdas.invocations.filter((i) => !i.result.ok).map((i) => i.result.error)).toEqual([]);
  });
});
