/**
 * Who made a request, as the apiserver's audit log tells a cluster admin: every request of ours carries
 * `affinity-relocator/<version> (<component>)`, from the CLI, local mode, the forwarder (its Lease client
 * and watches too) and the Lambdas' own EKS access. The real apiserver writes the log; each phase reads
 * the entries its identity added meanwhile.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { startLocalMode } from '../../src/cli/local-mode.js';
import { EksAccess } from '../../src/cluster/eks-access.js';
import { DEFAULT_CONFIG } from '../../src/domain/config.js';
import type { FlushResult, PublisherStats } from '../../src/forwarder/eventbridge-publisher.js';
import { type ForwarderPublisher, startForwarder } from '../../src/forwarder/main.js';
import { createRelocator } from '../../src/runtime/relocator.js';
import { ControlPlane, RELOCATOR_USER } from '../../src/local-cluster/controlplane.js';
import { type Clients, clientsFor, eventually, mergePatch } from '../../src/local-cluster/fixtures/clients.js';
import { createNode } from '../../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../../src/local-cluster/fixtures/pods.js';
import { applyRelocatorRbac } from '../../src/local-cluster/fixtures/rbac.js';
import { runCli } from './support.js';

interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  userAgent?: string;
  user: { username: string };
}

const ours = (component: string) => `affinity-relocator/${pkg.version} (${component})`;
const LAMBDA_SA = { namespace: 'ua', name: 'lambda' };

let dir: string;
let cp: ControlPlane;
let admin: Clients;
let read = 0;

/** The audit entries written since the last call (the log only grows). */
function newEntries(): AuditEvent[] {
  const text = readFileSync(join(dir, 'audit.log'), 'utf8');
  const fresh = text.slice(read);
  read = text.length;
  return fresh
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent);
}

/** Collects the entries of one identity from now on: `seen()` is "verb path" per user agent so far. */
function watchAudit(username: string): () => Record<string, string[]> {
  newEntries();
  const out: Record<string, string[]> = {};
  return () => {
    for (const e of newEntries()) {
      if (e.user.username === username) (out[e.userAgent ?? '(none)'] ??= []).push(`${e.verb} ${e.requestURI.split('?')[0]}`);
    }
    return out;
  };
}

/** Entries are written as requests complete (a watch: as it starts): wait for one we know is coming. */
const until = (seen: () => Record<string, string[]>, agent: string, request: string) =>
  eventually(`"${request}" by ${agent} in the audit log`, async () => seen(), (s) => (s[agent] ?? []).includes(request), { timeoutMs: 20_000 });

class NullPublisher implements ForwarderPublisher {
  async publish(): Promise<void> {}
  async close(): Promise<FlushResult> {
    return { delivered: true, left: [] };
  }
  stats(): PublisherStats {
    return { depth: 0, inFlight: 0, oldestAgeMs: 0, observed: 0, emitted: 0, coalesced: 0, dropped: 0, retried: 0, calls: 0, callFailures: {}, entryFailures: {} };
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ua-audit-'));
  // Metadata (who, what, user agent) of every request once answered, and of watches once started.
  writeFileSync(join(dir, 'policy.yaml'), 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n');
  cp = await ControlPlane.start({
    kubelets: false,
    apiserverArgs: [`--audit-policy-file=${join(dir, 'policy.yaml')}`, `--audit-log-path=${join(dir, 'audit.log')}`, '--audit-log-format=json'],
  });
  admin = clientsFor(cp.kubeConfig('admin'));
  await applyRelocatorRbac(admin);
  await createNode(admin, 'ua-node');
});

afterAll(async () => {
  await cp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the User-Agent the apiserver records', () => {
  it('is "(cli)" for every request of status, plan and relocate', async () => {
    const seen = watchAudit(RELOCATOR_USER);
    const on = ['--kubeconfig', cp.kubeconfigPath, '--context', 'relocator'];
    for (const args of [['status'], ['plan', '--node', 'ua-node'], ['relocate', '--node', 'ua-node', '--dry-run']]) {
      const out = await runCli([...args, ...on]);
      expect(out.code, out.stderr).toBe(0);
    }
    await until(seen, ours('cli'), 'get /api/v1/nodes/ua-node');
    expect(Object.keys(seen())).toEqual([ours('cli')]);
    expect(seen()[ours('cli')]).toEqual(expect.arrayContaining(['list /api/v1/pods', 'list /api/v1/nodes']));
  });

  it('is "(local)" for local mode: its lists, its watches and the relocator it runs', async () => {
    const seen = watchAudit(RELOCATOR_USER);
    const mode = await startLocalMode({ kc: cp.kubeConfig('relocator'), config: DEFAULT_CONFIG, cluster: 'test', sweepIntervalMs: 0 });
    try {
      await until(seen, ours('local'), 'watch /api/v1/nodes');
      // A cordon of a node with no assistant: the relocator looks for assistants there.
      await admin.core.patchNode({ name: 'ua-node', body: { spec: { unschedulable: true } } }, mergePatch);
      await until(seen, ours('local'), 'watch /api/v1/pods');
    } finally {
      await mode.stop();
      await admin.core.patchNode({ name: 'ua-node', body: { spec: { unschedulable: false } } }, mergePatch);
    }
    expect(Object.keys(seen())).toEqual([ours('local')]);
    expect(seen()[ours('local')]).toEqual(expect.arrayContaining(['list /api/v1/nodes', 'list /api/v1/pods']));
  });

  it('is "(forwarder)" for the forwarder: its Lease client, its lists and its watches', async () => {
    await createNamespace(admin, 'ua');
    const seen = watchAudit('admin');
    const settings = { cluster: 'test', eventBusName: 'unused', podName: 'fwd-0', namespace: 'ua', leaseName: 'ua-lease', opsPort: 0, resyncMs: 0, config: DEFAULT_CONFIG };
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const forwarder = await startForwarder(settings, { kc: cp.kubeConfig('admin'), publisher: new NullPublisher(), log: quiet });
    try {
      await until(seen, ours('forwarder'), 'watch /api/v1/nodes');
      await until(seen, ours('forwarder'), 'create /apis/coordination.k8s.io/v1/namespaces/ua/leases');
    } finally {
      await forwarder.stop();
    }
    expect(Object.keys(seen())).toEqual([ours('forwarder')]);
  });

  it('is "(lambda)" for the Lambdas\' own EKS access (a bearer token and the CA, no kubeconfig)', async () => {
    await admin.core.createNamespacedServiceAccount({ namespace: LAMBDA_SA.namespace, body: { metadata: { name: LAMBDA_SA.name } } });
    await admin.rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'ua-lambda' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', ...LAMBDA_SA }],
      },
    });
    const { status } = await admin.core.createNamespacedServiceAccountToken({ ...LAMBDA_SA, body: { spec: { audiences: [], expirationSeconds: 600 } } });
    const caData = cp.kubeConfig('admin').getCurrentCluster()!.caData!;
    const seen = watchAudit(`system:serviceaccount:${LAMBDA_SA.namespace}:${LAMBDA_SA.name}`);
    const { relocator } = createRelocator({ kc: new EksAccess(cp.server, caData, { getToken: async () => status!.token }), config: DEFAULT_CONFIG });
    await relocator.handle({ id: 'ua', source: 'manual', observedAt: new Date().toISOString(), cluster: 'test', target: { kind: 'node', node: { name: 'ua-node' } } });
    await until(seen, ours('lambda'), 'list /api/v1/nodes');
    expect(Object.keys(seen())).toEqual([ours('lambda')]);
  });
});
