/**
 * The real Karpenter core with its kwok cloud provider (sigs.k8s.io/karpenter/kwok), built from its Go
 * module (src/local-cluster/karpenter/<version>/go.mod pins the release; the build is cached like the control
 * plane's), running against the test control plane:
 *
 *   const karpenter = await Karpenter.start(cp);        // CRDs, the KWOKNodeClass `default`, the controller
 *   await createNodePool(admin, aNodePool('default')); // it now makes nodes for Pending pods
 *   ...
 *   await karpenter.stop();                            // before cp.stop()
 *
 * The kwok provider creates Node objects without a kubelet (as kwok's own nodes are); in a kwok cluster
 * sigs.k8s.io/kwok then posts their status. Here a small stand-in does the only part of that the tests
 * need: it posts Ready=True for every node the provider created (the kubelet stand-in, kubelets.ts, then
 * runs their pods like any node's). What an install would add and these tests leave out, on purpose: the
 * Deployment and its RBAC (the controller runs with the admin identity, leader election off) and the
 * metrics; the probes and metrics listen on free ports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Informer, loadAllYaml, makeInformer, type ObjectCache, type V1CustomResourceDefinition, type V1Node } from '@kubernetes/client-node';
import { type BuildOptions, ensureGoProgram, type GoProgram, moduleSourceDir } from './binary.js';
import { type ControlPlane, freePort, httpOk } from './controlplane.js';
import { type Clients, clientsFor, mergePatch, statusOf } from './fixtures/clients.js';
import { createIgnoringConflict, installCrds } from './fixtures/crds.js';
import { readyCondition } from './fixtures/nodes.js';
import { ComponentProcess, waitUntilReady } from './process.js';
import { dieWithParent } from './tekton.js';

export const KARPENTER_VERSION = 'v1.8.0';
export const KARPENTER_MODULE = 'sigs.k8s.io/karpenter';
/** The providerID prefix of the nodes the kwok provider creates. */
const KWOK_PROVIDER_PREFIX = 'kwok://';
/** The zones the kwok provider's instance types are offered in (kwok/cloudprovider/instance_types.json). */
export const KWOK_ZONES = ['test-zone-a', 'test-zone-b', 'test-zone-c', 'test-zone-d'] as const;

const HERE = dirname(fileURLToPath(import.meta.url));

export const KARPENTER: GoProgram = {
  label: `Karpenter ${KARPENTER_VERSION} (kwok provider)`,
  moduleDir: join(HERE, 'karpenter', KARPENTER_VERSION),
  pkg: `${KARPENTER_MODULE}/kwok`,
  version: KARPENTER_VERSION,
  name: 'karpenter-kwok',
};

/** The controller binary, built first when the cache has none (~900 packages, minutes). */
export function ensureKarpenter(opts: BuildOptions = {}): Promise<string> {
  return ensureGoProgram(KARPENTER, opts);
}

/** The release's CRDs: NodePool, NodeClaim, NodeOverlay (kwok/charts/crds) and KWOKNodeClass (kwok/apis/crds). */
export function karpenterCrds(): V1CustomResourceDefinition[] {
  const src = moduleSourceDir(KARPENTER.moduleDir, KARPENTER_MODULE);
  return [join(src, 'kwok', 'charts', 'crds'), join(src, 'kwok', 'apis', 'crds')]
    .flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => join(dir, f)))
    .flatMap((f) => loadAllYaml(readFileSync(f, 'utf8')) as { kind?: string }[])
    .filter((o): o is V1CustomResourceDefinition => o?.kind === 'CustomResourceDefinition');
}

/** Installs the CRDs (idempotent) and waits until they are served. */
export function installKarpenterCrds(c: Clients): Promise<void> {
  return installCrds(c, karpenterCrds());
}

/**
 * The KWOKNodeClass every NodePool here refers to, Ready (Karpenter makes nodes only for a NodePool whose
 * NodeClass is Ready; in a kwok install nothing reconciles the class either, and its status stays as set).
 */
export async function createKwokNodeClass(c: Clients, name = 'default'): Promise<void> {
  const group = 'karpenter.kwok.sh';
  await createIgnoringConflict(() => c.custom.createClusterCustomObject({ group, version: 'v1alpha1', plural: 'kwoknodeclasses', body: { apiVersion: `${group}/v1alpha1`, kind: 'KWOKNodeClass', metadata: { name } } }));
  const now = new Date().toISOString();
  await c.custom.patchClusterCustomObjectStatus(
    {
      group,
      version: 'v1alpha1',
      plural: 'kwoknodeclasses',
      name,
      body: { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: '', lastTransitionTime: now, observedGeneration: 1 }] } },
    },
    mergePatch,
  );
}

export interface NodePoolOptions {
  requirements?: { key: string; operator: string; values?: string[] }[];
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
  limits?: Record<string, string>;
  /** Karpenter tries NodePools of higher weight first. */
  weight?: number;
}

/** A karpenter.sh/v1 NodePool of the KWOKNodeClass `default`; nothing of a test's is consolidated or expired. */
export function aNodePool(name: string, o: NodePoolOptions = {}): Record<string, unknown> {
  return {
    apiVersion: 'karpenter.sh/v1',
    kind: 'NodePool',
    metadata: { name },
    spec: {
      template: {
        ...(o.labels ? { metadata: { labels: o.labels } } : {}),
        spec: {
          requirements: o.requirements ?? [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }],
          ...(o.taints ? { taints: o.taints } : {}),
          nodeClassRef: { group: 'karpenter.kwok.sh', kind: 'KWOKNodeClass', name: 'default' },
          expireAfter: 'Never',
        },
      },
      ...(o.limits ? { limits: o.limits } : {}),
      ...(o.weight !== undefined ? { weight: o.weight } : {}),
      disruption: { consolidateAfter: 'Never', consolidationPolicy: 'WhenEmpty' },
    },
  };
}

export async function createNodePool(c: Clients, pool: Record<string, unknown>): Promise<void> {
  await c.custom.createClusterCustomObject({ group: 'karpenter.sh', version: 'v1', plural: 'nodepools', body: pool });
}

/**
 * What kwok does for the nodes of the kwok provider, as far as the tests need it: posts Ready=True (with
 * the addresses and node info a kubelet would) for each one as it appears.
 */
class KwokNodeStatus {
  private nodes!: Informer<V1Node> & ObjectCache<V1Node>;
  private stopped = false;
  readonly errors: string[] = [];

  constructor(private readonly c: Clients) {}

  async start(kc: Parameters<typeof makeInformer>[0]): Promise<void> {
    this.nodes = makeInformer(kc, '/api/v1/nodes', () => this.c.core.listNode());
    this.nodes.on('error', () => {
      if (!this.stopped) setTimeout(() => void this.nodes.start().catch(() => undefined), 500);
    });
    this.nodes.on('add', (n) => void this.ready(n));
    this.nodes.on('update', (n) => void this.ready(n));
    await this.nodes.start();
  }

  private async ready(n: V1Node): Promise<void> {
    const name = n.metadata?.name ?? '';
    if (this.stopped || !n.spec?.providerID?.startsWith(KWOK_PROVIDER_PREFIX)) return;
    if ((n.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'True')) return;
    try {
      await this.c.core.patchNodeStatus(
        {
          name,
          body: {
            status: {
              phase: 'Running',
              conditions: [readyCondition('True', new Date())],
              addresses: [{ type: 'Hostname', address: name }],
              nodeInfo: { kubeletVersion: 'v1.36.3', containerRuntimeVersion: 'kwok', operatingSystem: 'linux', architecture: 'amd64', osImage: 'kwok', kernelVersion: 'kwok', kubeProxyVersion: '', machineID: '', systemUUID: '', bootID: '' },
            },
          },
        },
        mergePatch,
      );
    } catch (e) {
      if (statusOf(e) !== 404) this.errors.push(`node ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  stop(): void {
    this.stopped = true;
    void this.nodes?.stop();
  }
}

export interface KarpenterOptions {
  binary?: string;
  readyTimeoutMs?: number;
}

export class Karpenter {
  private constructor(
    private readonly proc: ComponentProcess,
    private readonly status: KwokNodeStatus,
  ) {}

  static async start(cp: ControlPlane, o: KarpenterOptions = {}): Promise<Karpenter> {
    const binary = o.binary ?? (await ensureKarpenter());
    const kc = cp.kubeConfig('admin');
    const admin = clientsFor(kc);
    await installKarpenterCrds(admin);
    await createKwokNodeClass(admin);
    const status = new KwokNodeStatus(admin);
    await status.start(kc);
    const probePort = await freePort();
    const env = {
      KUBECONFIG: cp.kubeconfigPath,
      DISABLE_LEADER_ELECTION: 'true',
      METRICS_PORT: String(await freePort()),
      HEALTH_PROBE_PORT: String(probePort),
      // Its pod's namespace in an install; where it would keep what is namespaced.
      SYSTEM_NAMESPACE: 'kube-system',
      // Batching stays as released (a node is launched 1 s after the last new Pending pod): it is part of
      // what the scale-up figure measures.
      LOG_LEVEL: 'info',
    };
    const [cmd, args] = dieWithParent(binary, []);
    const proc = new ComponentProcess(`karpenter-${KARPENTER_VERSION}`, cmd, args, join(cp.workDir, `karpenter-${KARPENTER_VERSION}.log`), env);
    try {
      await waitUntilReady(proc, () => httpOk(`http://127.0.0.1:${probePort}/readyz`), o.readyTimeoutMs ?? 90_000);
    } catch (e) {
      status.stop();
      await proc.stop();
      throw e;
    }
    return new Karpenter(proc, status);
  }

  /** The controller's process (its log). */
  get process(): ComponentProcess {
    return this.proc;
  }

  /** What the node-status stand-in could not do (for tests to assert on). */
  get errors(): string[] {
    return this.status.errors;
  }

  async stop(): Promise<void> {
    this.status.stop();
    await this.proc.stop();
  }
}
