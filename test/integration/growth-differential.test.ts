/**
 * The growth decision (src/domain/growth.ts: could this NodePool make a node for this pod?) against the
 * real Karpenter: generated NodePools (zone, arch and custom-label requirements, a taint, cpu limits) and
 * Pending pods (nodeSelector, required node affinity, tolerations, a zonal volume); for each, what growthFor
 * says is compared with what Karpenter does with the pod: `Nominated` (it launches a node for it) or
 * `FailedScheduling` (no NodePool can). The NodePools are read through the relocator's own adapter and
 * identity (listNodePools), as a decision reads them.
 *
 * What growthFor cannot know is left out of the generation, on purpose: the cloud provider's offerings
 * (the values are those kwok offers: its four zones, amd64/arm64) and its instance types' sizes (a limit is
 * either exhausted or ample, never a sliver smaller than the smallest instance type).
 *
 * `GROWTH_DIFF_CASES` (default 16) cases from seed `GROWTH_DIFF_SEED` (1).
 */
import type { V1NodeSelectorRequirement, V1PersistentVolume, V1Pod, V1Toleration } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesCluster } from '../../src/cluster/api.js';
import { DEFAULT_CONFIG } from '../../src/domain/config.js';
import { growthFor } from '../../src/domain/growth.js';
import { ControlPlane } from '../../src/local-cluster/controlplane.js';
import { type Clients, clientsFor, eventually } from '../../src/local-cluster/fixtures/clients.js';
import { mulberry32 } from '../cluster/fixtures/cluster-states.js';
import { createNamespace } from '../../src/local-cluster/fixtures/pods.js';
import { applyRelocatorRbac } from '../../src/local-cluster/fixtures/rbac.js';
import { provisionVolume } from '../../src/local-cluster/fixtures/volumes.js';
import { aNodePool, createNodePool, Karpenter, KWOK_ZONES } from '../../src/local-cluster/karpenter.js';

const CASES = Number(process.env.GROWTH_DIFF_CASES ?? 16);
const FIRST_SEED = Number(process.env.GROWTH_DIFF_SEED ?? 1);
const ZONE = 'topology.kubernetes.io/zone';
const ARCH = 'kubernetes.io/arch';
const NS = 'growth-diff';

let cp: ControlPlane;
let admin: Clients;
let karpenter: Karpenter;
let cluster: KubernetesCluster;
beforeAll(async () => {
  cp = await ControlPlane.start();
  admin = clientsFor(cp.kubeConfig('admin'));
  karpenter = await Karpenter.start(cp);
  await applyRelocatorRbac(admin);
  await createNamespace(admin, NS);
  cluster = new KubernetesCluster(cp.kubeConfig('relocator'), { assistantSelector: DEFAULT_CONFIG.assistantSelector });
}, 180_000);
afterAll(async () => {
  await karpenter?.stop();
  await cp?.stop();
});

interface Case {
  seed: number;
  pool: { requirements: V1NodeSelectorRequirement[]; labels: Record<string, string>; taints?: { key: string; value: string; effect: string }[]; limits?: Record<string, string> };
  pod: { nodeSelector: Record<string, string>; affinity?: V1NodeSelectorRequirement; tolerations?: V1Toleration[] };
  volumeZone?: string;
}

function generate(seed: number): Case {
  const r = mulberry32(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const id = `c${seed}`;
  const requirements: V1NodeSelectorRequirement[] = [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }];
  const zones = pick(['none', 'in', 'in', 'notin'] as const);
  if (zones === 'in') requirements.push({ key: ZONE, operator: 'In', values: [...new Set([pick(KWOK_ZONES), pick(KWOK_ZONES)])] });
  if (zones === 'notin') requirements.push({ key: ZONE, operator: 'NotIn', values: [pick(KWOK_ZONES)] });
  const arch = pick(['none', 'amd64', 'arm64'] as const);
  if (arch !== 'none') requirements.push({ key: ARCH, operator: 'In', values: [arch] });
  if (r() < 0.3) requirements.push({ key: 'example.com/team', operator: 'In', values: ['red'] });
  const tainted = r() < 0.3;
  const limits = pick([undefined, undefined, { cpu: '0' }, { cpu: '1000' }]);
  const nodeSelector: Record<string, string> = { case: id, ...(r() < 0.3 ? { 'example.com/team': 'red' } : {}) };
  const affinity = pick([undefined, { key: ZONE, operator: 'In', values: [pick(KWOK_ZONES)] }, { key: ARCH, operator: 'NotIn', values: ['arm64'] }]);
  const tolerations = tainted && r() < 0.5 ? [{ key: 'dedicated', operator: 'Equal', value: 'ci', effect: 'NoSchedule' }] : undefined;
  return {
    seed,
    pool: { requirements, labels: { case: id }, ...(tainted ? { taints: [{ key: 'dedicated', value: 'ci', effect: 'NoSchedule' }] } : {}), ...(limits ? { limits } : {}) },
    pod: { nodeSelector, ...(affinity ? { affinity } : {}), ...(tolerations ? { tolerations } : {}) },
    ...(r() < 0.4 ? { volumeZone: pick(KWOK_ZONES) } : {}),
  };
}

function podFor(c: Case, claim?: string): V1Pod {
  return {
    metadata: { name: `pod-c${c.seed}`, namespace: NS },
    spec: {
      nodeSelector: c.pod.nodeSelector,
      ...(c.pod.affinity ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [c.pod.affinity] }] } } } } : {}),
      ...(c.pod.tolerations ? { tolerations: c.pod.tolerations } : {}),
      containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '100m', memory: '64Mi' } } }],
      ...(claim ? { volumes: [{ name: 'v', persistentVolumeClaim: { claimName: claim } }] } : {}),
    },
  };
}

/** What Karpenter did with the pod: nominated it for a node it launches, or failed to schedule it. */
async function karpenterVerdict(uid: string): Promise<'Nominated' | 'FailedScheduling'> {
  const ev = await eventually(
    `Karpenter's verdict on pod ${uid}`,
    async () =>
      (await admin.core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.uid=${uid}` })).items.find(
        (e) => e.source?.component === 'karpenter' && (e.reason === 'Nominated' || e.reason === 'FailedScheduling'),
      ),
    (e) => e !== undefined,
    { timeoutMs: 30_000 },
  );
  return ev!.reason as 'Nominated' | 'FailedScheduling';
}

describe('the growth decision against the real Karpenter', () => {
  it(`agrees on ${CASES} generated NodePools and pods from seed ${FIRST_SEED}`, { timeout: 30 * 60_000 }, async () => {
    const rows: { c: Case; ours: boolean; theirs: boolean; message: string }[] = [];
    for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed++) {
      const c = generate(seed);
      await createNodePool(admin, aNodePool(`c${seed}`, c.pool));
      let volume: V1PersistentVolume | undefined;
      if (c.volumeZone) volume = await provisionVolume(admin, NS, `claim-c${seed}`, { kind: 'zone', zone: c.volumeZone });
      const pod = await admin.core.createNamespacedPod({ namespace: NS, body: podFor(c, volume ? `claim-c${seed}` : undefined) });
      // As a decision reads them: the NodePools through the relocator's adapter, the pod and volume live.
      const live = (await cluster.getPod(NS, pod.metadata!.name!))!;
      const growth = growthFor({
        pod: live,
        volumes: volume ? [(await cluster.getPersistentVolume(volume.metadata!.name!))!] : [],
        badNode: 'none',
        nodes: [],
        nodePools: (await cluster.listNodePools()).filter((p) => p.metadata.name === `c${seed}`),
        clusterAutoscaler: false,
        now: new Date(),
        config: DEFAULT_CONFIG,
      });
      const theirs = (await karpenterVerdict(pod.metadata!.uid!)) === 'Nominated';
      rows.push({ c, ours: growth.canGrow, theirs, message: growth.message });
    }
    const describe = (x: (typeof rows)[number]) => `seed ${x.c.seed}: growthFor ${x.ours ? 'grows' : 'blocks'} (${x.message}), Karpenter ${x.theirs ? 'nominated' : 'failed'}; ${JSON.stringify({ pool: x.c.pool, pod: x.c.pod, volumeZone: x.c.volumeZone })}`;
    const grows = rows.filter((x) => x.ours && x.theirs).length;
    const blocks = rows.filter((x) => !x.ours && !x.theirs).length;
    console.log(`growth differential: ${rows.length} cases, ${grows} agree it grows, ${blocks} agree it cannot, ${rows.length - grows - blocks} disagree`);
    // Both answers exercised: a generator that only ever yields one proves little.
    if (CASES >= 10) {
      expect(grows, 'cases where both say a node can be made').toBeGreaterThan(0);
      expect(blocks, 'cases where both say none can').toBeGreaterThan(0);
    }
    expect(rows.filter((x) => x.ours !== x.theirs).map(describe), 'disagreements').toEqual([]);
    expect(karpenter.errors).toEqual([]);
  });
});
