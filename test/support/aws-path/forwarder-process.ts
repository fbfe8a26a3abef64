/**
 * The forwarder as it runs in production, against the loopback control plane: its own process
 * (src/forwarder/main.ts, leader election, ops server), the shipped manifests' namespace, ServiceAccount and
 * RBAC (infra/kubernetes/forwarder, all but the Deployment and its PodDisruptionBudget, which need a
 * kubelet that runs images), the ServiceAccount's token (TokenRequest, as the kubelet mounts it) in a
 * kubeconfig, and EventBridge reached through the SDK's default chain (credentials from the environment,
 * the endpoint from AWS_ENDPOINT_URL_EVENTBRIDGE).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type KubernetesObject, KubernetesObjectApi, loadAllYaml, loadYaml } from '@kubernetes/client-node';
import { repoRoot } from '../../../scripts/build.js';
import type { ControlPlane } from '../../../src/local-cluster/controlplane.js';
import { type Clients, statusOf } from '../../../src/local-cluster/fixtures/clients.js';

const FORWARDER_DIR = path.join(repoRoot, 'infra', 'kubernetes', 'forwarder');
const NOT_HERE = new Set(['Deployment', 'PodDisruptionBudget']);

/** The kustomization's objects we apply, with its namespace set as kustomize would. */
function forwarderObjects(): KubernetesObject[] {
  const k = loadYaml<{ namespace: string; resources: string[] }>(readFileSync(path.join(FORWARDER_DIR, 'kustomization.yaml'), 'utf8'));
  return k.resources
    .flatMap((f) => loadAllYaml(readFileSync(path.join(FORWARDER_DIR, f), 'utf8')) as KubernetesObject[])
    .filter((o) => !NOT_HERE.has(o.kind!))
    .map((o) => (['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind!) ? o : { ...o, metadata: { ...o.metadata, namespace: k.namespace } }));
}

/** A free loopback port (its OPS_PORT must be >= 1). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface ForwarderProcessOptions {
  cp: ControlPlane;
  admin: Clients;
  cluster: string;
  busName: string;
  busUrl: string;
  region: string;
  /** The environment's AWS credentials (any: the loopback endpoint checks only that requests are signed). */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Extra environment (e.g. the relocator's ASSISTANT_SELECTOR). */
  env?: Record<string, string>;
  /** Each line the forwarder logs. */
  onLine?: (line: string) => void;
}

export class ForwarderProcess {
  /** Its ops server's port, once it has logged 'started'. */
  opsPort: number | undefined;
  readonly lines: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  /** Resolves when its /readyz answers 200 (leading, and its watches synced). */
  async ready(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`the forwarder exited; last lines:\n${this.lines.slice(-10).join('\n')}`);
      if (this.opsPort !== undefined) {
        const status = await fetch(`http://127.0.0.1:${this.opsPort}/readyz`).then((r) => r.status, () => 0);
        if (status === 200) return;
      }
      if (Date.now() > deadline) throw new Error(`the forwarder was not ready within ${timeoutMs} ms; last lines:\n${this.lines.slice(-10).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  static async start(o: ForwarderProcessOptions): Promise<ForwarderProcess> {
    const objects = forwarderObjects();
    const api = KubernetesObjectApi.makeApiClient(o.admin.kc);
    for (const obj of objects) {
      await api.create(obj).catch((e: unknown) => {
        if (statusOf(e) !== 409) throw e;
      });
    }
    const sa = objects.find((x) => x.kind === 'ServiceAccount')!;
    const namespace = sa.metadata!.namespace!;
    const token = await o.admin.core.createNamespacedServiceAccountToken({
      namespace,
      name: sa.metadata!.name!,
      body: { spec: { audiences: [], expirationSeconds: 6 * 3600 } },
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'aws-path-forwarder-'));
    const kubeconfig = path.join(dir, 'kubeconfig');
    const ca = readFileSync(path.join(o.cp.workDir, 'ca.crt')).toString('base64');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'local', cluster: { server: o.cp.server, 'certificate-authority-data': ca } }],
        users: [{ name: 'forwarder', user: { token: token.status!.token } }],
        contexts: [{ name: 'forwarder', context: { cluster: 'local', user: 'forwarder' } }],
        'current-context': 'forwarder',
      }),
      { mode: 0o600 },
    );
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'forwarder', 'main.ts')], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        KUBE_AUTH: 'kubeconfig',
        KUBECONFIG: kubeconfig,
        CLUSTER_NAME: o.cluster,
        EVENT_BUS_NAME: o.busName,
        AWS_REGION: o.region,
        AWS_ACCESS_KEY_ID: o.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: o.credentials.secretAccessKey,
        AWS_ENDPOINT_URL_EVENTBRIDGE: o.busUrl,
        POD_NAME: 'affinity-relocator-forwarder-0',
        POD_NAMESPACE: namespace,
        OPS_PORT: String(await freePort()),
        RESYNC_SECONDS: '600',
        ...o.env,
      },
    });
    const f = new ForwarderProcess(child, dir);
    for (const stream of [child.stdout!, child.stderr!]) {
      let buffer = '';
      stream.on('data', (c: Buffer) => {
        buffer += c.toString('utf8');
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const l of lines.filter((x) => x.trim())) {
          f.lines.push(l);
          if (f.lines.length > 1000) f.lines.shift();
          const port = /"opsPort":(\d+)/.exec(l)?.[1];
          if (port) f.opsPort = Number(port);
          o.onLine?.(l);
        }
      });
    }
    return f;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, as the kubelet stops a pod: the forwarder flushes its queue and releases its lease. */
  async stop(): Promise<void> {
    if (this.running) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
