/**
 * A real Kubernetes control plane on loopback for tests: embedded etcd, kube-apiserver (RBAC, client
 * certificates), kube-controller-manager and kube-scheduler, all from one Go-built binary.
 *
 *   const cp = await ControlPlane.start();
 *   const kc = cp.kubeConfig('admin');        // or 'relocator', the RBAC-limited identity
 *   ...
 *   await cp.stop();
 *
 * There are no kubelets: nodes are API objects the fixtures create (see nodes.ts), pods bound by the
 * scheduler stay in phase Pending, and tests read spec.nodeName.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ensureControlPlaneBinary } from './binary.js';
import { SimulatedKubelets } from './kubelets.js';
import { ComponentProcess, ComponentStartError, waitUntilReady } from './process.js';

export type Identity = 'admin' | 'relocator';

/** Who the RBAC-limited "relocator" identity is (client certificate CN and O). */
export const RELOCATOR_USER = 'affinity-relocator';
export const RELOCATOR_GROUP = 'affinity-relocator';

export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';

export interface ControlPlaneOptions {
  /** Binary to run; default: build or find the cached one. */
  binary?: string;
  /** Fixed ports (default: free loopback ports). A taken port is a clear start error. */
  ports?: Partial<Record<'etcd' | 'etcdPeer' | 'apiserver' | 'controllerManager' | 'scheduler', number>>;
  /** Per-component readiness timeout. */
  readyTimeoutMs?: number;
  /** Extra kube-controller-manager flags (e.g. `--controllers=...`). */
  controllerManagerArgs?: string[];
  /** Extra kube-apiserver flags (e.g. `--disable-admission-plugins=...`). */
  apiserverArgs?: string[];
  /** Keep the work directory (certificates, logs, etcd data) after stop, for debugging. */
  keepWorkDir?: boolean;
  /** Run the kubelet stand-in (kubelets.ts) for the fake nodes; default true. */
  kubelets?: boolean;
  /**
   * An authentication token webhook (TokenReview v1) the apiserver asks about bearer tokens it does not know,
   * e.g. ./eks-authenticator.ts for EKS tokens. Client certificates keep working beside it.
   */
  tokenWebhook?: { url: string };
  /** Audit these users' requests (Metadata level, one line per completed request); read with auditEvents(). */
  audit?: { users: string[] };
}

/** The fields of an audit.k8s.io/v1 Event that tests read. */
export interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  userAgent?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
  stageTimestamp: string;
}

interface Ports {
  etcd: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
}

export class ControlPlane {
  private standIn: SimulatedKubelets | undefined;

  private constructor(
    readonly binary: string,
    readonly workDir: string,
    readonly ports: Ports,
    private readonly procs: Map<ComponentName, ComponentProcess>,
    private readonly options: ControlPlaneOptions,
  ) {}

  /** https://127.0.0.1:<port> */
  get server(): string {
    return `https://127.0.0.1:${this.ports.apiserver}`;
  }

  /** kubeconfig with contexts `admin` (current) and `relocator`. */
  get kubeconfigPath(): string {
    return join(this.workDir, 'kubeconfig');
  }

  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const binary = options.binary ?? (await ensureControlPlaneBinary());
    // Free ports are found by binding :0 and releasing; another process can take one in between.
    // Then a retry with new ports is the right answer, unless the caller chose the ports.
    const attempts = options.ports ? 1 : 3;
    for (let attempt = 1; ; attempt++) {
      const ports = await choosePorts(options.ports);
      const workDir = mkdtempSync(join(tmpdir(), 'affinity-relocator-cp-'));
      const cp = new ControlPlane(binary, workDir, ports, new Map(), options);
      try {
        await cp.boot();
        return cp;
      } catch (e) {
        await cp.stop();
        const portRace = e instanceof ComponentStartError && e.lastLines.some((l) => /address already in use/.test(l));
        if (!portRace || attempt >= attempts) throw e;
      }
    }
  }

  /** A KubeConfig for one identity. */
  kubeConfig(identity: Identity = 'admin'): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    kc.setCurrentContext(identity);
    return kc;
  }

  /** The audited requests so far (ControlPlaneOptions.audit), one per request, in the order they completed. */
  auditEvents(): AuditEvent[] {
    if (!this.options.audit) throw new Error('this control plane was started without ControlPlaneOptions.audit');
    const text = readFileSync(join(this.workDir, 'audit.log'), { encoding: 'utf8', flag: 'a+' });
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as AuditEvent);
  }

  /** Process of a component (for tests that kill or restart one). */
  component(name: ComponentName): ComponentProcess {
    const p = this.procs.get(name);
    if (!p) throw new Error(`component ${name} is not running`);
    return p;
  }

  /** Stop and start the apiserver on the same port and etcd (watches see a real disconnect). */
  async restartApiserver(): Promise<void> {
    await this.procs.get('kube-apiserver')?.stop();
    await this.startApiserver();
  }

  /**
   * Writes a marker to etcd and compacts its history up to it: every resourceVersion a watcher holds
   * has then expired, and its next watch gets 410 Gone. Returns the compacted revision.
   */
  compactEtcd(): number {
    const r = spawnSync(this.binary, ['etcd-compact', `--endpoint=http://127.0.0.1:${this.ports.etcd}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`etcd-compact failed: ${r.stderr || r.error?.message}`);
    return Number(r.stdout.trim());
  }

  /** Stops every component (reverse start order), then removes the work directory. Idempotent. */
  async stop(): Promise<void> {
    await this.standIn?.stop();
    this.standIn = undefined;
    const order: ComponentName[] = ['kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'];
    for (const name of order) {
      const p = this.procs.get(name);
      if (p) await p.stop();
    }
    this.procs.clear();
    if (!this.options.keepWorkDir) rmSync(this.workDir, { recursive: true, force: true });
  }

  private async boot(): Promise<void> {
    const d = this.workDir;
    const timeout = this.options.readyTimeoutMs ?? 90_000;
    const certs = spawnSync(
      this.binary,
      [
        'certs',
        `--dir=${d}`,
        '--client=admin=system:masters',
        `--client=${RELOCATOR_USER}=${RELOCATOR_GROUP}`,
        '--client=system:kube-controller-manager=',
        '--client=system:kube-scheduler=',
      ],
      { encoding: 'utf8' },
    );
    if (certs.status !== 0) throw new Error(`certs: generating certificates failed: ${certs.stderr || certs.error?.message}`);

    this.writeKubeconfigs();

    const etcd = this.spawn('etcd', [
      'etcd',
      `--data-dir=${join(d, 'etcd')}`,
      `--listen-client-url=http://127.0.0.1:${this.ports.etcd}`,
      `--listen-peer-url=http://127.0.0.1:${this.ports.etcdPeer}`,
    ]);
    await waitUntilReady(etcd, () => httpOk(`http://127.0.0.1:${this.ports.etcd}/health`), timeout);

    await this.startApiserver();

    const cmKubeconfig = join(d, 'controller-manager.kubeconfig');
    const cm = this.spawn('kube-controller-manager', [
      'controller-manager',
      `--kubeconfig=${cmKubeconfig}`,
      `--authentication-kubeconfig=${cmKubeconfig}`,
      `--authorization-kubeconfig=${cmKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${this.ports.controllerManager}`,
      `--cert-dir=${join(d, 'controller-manager-certs')}`,
      '--leader-elect=false',
      // Each controller uses its own service account, as in kubeadm clusters, so the bootstrap RBAC
      // roles are exercised as in production.
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${join(d, 'sa.key')}`,
      `--root-ca-file=${join(d, 'ca.crt')}`,
      // No kubelet posts node status here. The node lifecycle controller stays on (it taints nodes
      // whose Ready condition a test sets to False/Unknown, as in a real cluster), but its grace period
      // for missing heartbeats is a day, so untouched nodes stay Ready for the life of a test.
      '--node-monitor-grace-period=24h',
      '--node-startup-grace-period=24h',
      ...(this.options.controllerManagerArgs ?? []),
    ]);
    const schedKubeconfig = join(d, 'scheduler.kubeconfig');
    const sched = this.spawn('kube-scheduler', [
      'scheduler',
      `--kubeconfig=${schedKubeconfig}`,
      `--authentication-kubeconfig=${schedKubeconfig}`,
      `--authorization-kubeconfig=${schedKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${this.ports.scheduler}`,
      `--cert-dir=${join(d, 'scheduler-certs')}`,
      '--leader-elect=false',
    ]);
    await Promise.all([
      waitUntilReady(cm, () => httpOk(`https://127.0.0.1:${this.ports.controllerManager}/healthz`), timeout),
      waitUntilReady(sched, () => httpOk(`https://127.0.0.1:${this.ports.scheduler}/healthz`), timeout),
    ]);
    // The service-account controllers are what make pod creation possible (the ServiceAccount
    // admission plugin needs the namespace's "default" account): ready means they have run.
    await waitUntilReady(cm, () => this.adminOk('/api/v1/namespaces/default/serviceaccounts/default'), timeout);
    if (this.options.kubelets !== false) this.standIn = await SimulatedKubelets.start(this.kubeConfig('admin'));
  }

  /** The kubelet stand-in (kubelets.ts), e.g. to `complete` a TaskRun's pod. */
  get kubelets(): SimulatedKubelets {
    if (!this.standIn) throw new Error('this control plane runs without the kubelet stand-in (kubelets: false)');
    return this.standIn;
  }

  /** Errors the kubelet stand-in met (beyond expected 404/409 races). */
  get kubeletErrors(): readonly string[] {
    return this.standIn?.errors ?? [];
  }

  private async startApiserver(): Promise<void> {
    const d = this.workDir;
    const apiserver = this.spawn('kube-apiserver', [
      'apiserver',
      `--etcd-servers=http://127.0.0.1:${this.ports.etcd}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${this.ports.apiserver}`,
      `--cert-dir=${join(d, 'apiserver-certs')}`,
      `--tls-cert-file=${join(d, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(d, 'apiserver.key')}`,
      `--client-ca-file=${join(d, 'ca.crt')}`,
      '--authorization-mode=RBAC',
      '--anonymous-auth=false',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(d, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(d, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      // Loopback is not a valid endpoint address for the "kubernetes" Service; nothing here needs it.
      '--endpoint-reconciler-type=none',
      '--shutdown-delay-duration=0s',
      '--profiling=false',
      ...this.authenticationArgs(),
      ...(this.options.apiserverArgs ?? []),
    ]);
    await waitUntilReady(apiserver, () => this.adminOk('/readyz'), this.options.readyTimeoutMs ?? 90_000);
  }

  /** The flags of the token webhook and the audit log, with the files they point to. */
  private authenticationArgs(): string[] {
    const d = this.workDir;
    const args: string[] = [];
    if (this.options.tokenWebhook) {
      const file = join(d, 'token-webhook.kubeconfig');
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'webhook', cluster: { server: this.options.tokenWebhook.url } }],
        users: [{ name: 'apiserver', user: {} }],
        contexts: [{ name: 'webhook', context: { cluster: 'webhook', user: 'apiserver' } }],
        'current-context': 'webhook',
      };
      writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
      args.push(`--authentication-token-webhook-config-file=${file}`, '--authentication-token-webhook-version=v1');
    }
    if (this.options.audit) {
      const policy = {
        apiVersion: 'audit.k8s.io/v1',
        kind: 'Policy',
        omitStages: ['RequestReceived'],
        rules: [{ level: 'Metadata', users: this.options.audit.users }, { level: 'None' }],
      };
      const file = join(d, 'audit-policy.json');
      writeFileSync(file, JSON.stringify(policy));
      // The log backend writes each event before the request completes (blocking mode, the default).
      args.push(`--audit-policy-file=${file}`, `--audit-log-path=${join(d, 'audit.log')}`, '--audit-log-format=json');
    }
    return args;
  }

  private spawn(name: ComponentName, args: string[]): ComponentProcess {
    const p = new ComponentProcess(name, this.binary, args, join(this.workDir, `${name}.log`));
    this.procs.set(name, p);
    return p;
  }

  private writeKubeconfigs(): void {
    const d = this.workDir;
    const b64 = (f: string): string => readFileSync(join(d, f)).toString('base64');
    const cluster = { name: 'local', cluster: { server: this.server, 'certificate-authority-data': b64('ca.crt') } };
    const user = (name: string) => ({
      name,
      user: { 'client-certificate-data': b64(`client-${name}.crt`), 'client-key-data': b64(`client-${name}.key`) },
    });
    const config = (users: string[], current: string, contextName: (u: string) => string) => ({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [cluster],
      users: users.map(user),
      contexts: users.map((u) => ({ name: contextName(u), context: { cluster: 'local', user: u } })),
      'current-context': current,
    });
    // JSON is YAML: every kubeconfig reader accepts it.
    const ctx = (u: string): string => (u === 'admin' ? 'admin' : 'relocator');
    writeFileSync(join(d, 'kubeconfig'), JSON.stringify(config(['admin', RELOCATOR_USER], 'admin', ctx), null, 2), {
      mode: 0o600,
    });
    for (const [file, u] of [
      ['controller-manager.kubeconfig', 'system:kube-controller-manager'],
      ['scheduler.kubeconfig', 'system:kube-scheduler'],
    ] as const) {
      writeFileSync(join(d, file), JSON.stringify(config([u], 'default', () => 'default')), { mode: 0o600 });
    }
  }

  /** GET path as admin; true on 200. */
  private adminOk(path: string): Promise<boolean> {
    const d = this.workDir;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        `${this.server}${path}`,
        {
          ca: readFileSync(join(d, 'ca.crt')),
          cert: readFileSync(join(d, 'client-admin.crt')),
          key: readFileSync(join(d, 'client-admin.key')),
          timeout: 2_000,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  }
}

/** GET url; true on 200. The components' own serving certificates are self-signed: not verified. */
export function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const opts = { timeout: 2_000, rejectUnauthorized: false };
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, opts, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** A free loopback port (bound to :0 and released; another process may take it in between). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function choosePorts(fixed: ControlPlaneOptions['ports'] = {}): Promise<Ports> {
  return {
    etcd: fixed.etcd ?? (await freePort()),
    etcdPeer: fixed.etcdPeer ?? (await freePort()),
    apiserver: fixed.apiserver ?? (await freePort()),
    controllerManager: fixed.controllerManager ?? (await freePort()),
    scheduler: fixed.scheduler ?? (await freePort()),
  };
}
