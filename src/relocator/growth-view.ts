/**
 * What can grow the cluster, read once per trigger (and only when some assistant finds no node that
 * fits): Karpenter's NodePools and whether the cluster autoscaler runs (its status ConfigMap, or the
 * CLUSTER_AUTOSCALER setting). A read that fails is no reason to delete: the assistant stays blocked,
 * and the message says what could not be read.
 */
import type { RelocatorConfig } from '../domain/config.js';
import { type Growth, type GrowthInput, growthFor, type NodePool, pairGrowthFor, type PairGrowthInput } from '../domain/growth.js';
import type { ClusterPort } from './ports.js';

type Known<T> = { ok: true; value: T } | { ok: false; why: string };

export class GrowthView {
  private pools?: Promise<Known<NodePool[]>>;
  private autoscaler?: Promise<Known<boolean>>;

  constructor(
    private readonly cluster: ClusterPort,
    private readonly config: RelocatorConfig,
  ) {}

  judge(i: Omit<GrowthInput, 'nodePools' | 'clusterAutoscaler'>): Promise<Growth> {
    return this.answer((known) => growthFor({ ...i, ...known }));
  }

  /** The same for the replacement and the TaskRun pod it holds, on one node (a rescue). */
  judgePair(i: Omit<PairGrowthInput, 'nodePools' | 'clusterAutoscaler'>): Promise<Growth> {
    return this.answer((known) => pairGrowthFor({ ...i, ...known }));
  }

  private async answer(decide: (known: { nodePools: NodePool[]; clusterAutoscaler: boolean }) => Growth): Promise<Growth> {
    this.pools ??= known(this.cluster.listNodePools(), "could not read Karpenter's NodePools");
    this.autoscaler ??=
      this.config.clusterAutoscaler === 'auto'
        ? known(this.cluster.clusterAutoscalerStatusExists(), "could not read the cluster autoscaler's status ConfigMap")
        : Promise.resolve({ ok: true, value: this.config.clusterAutoscaler === 'present' });
    const [pools, autoscaler] = await Promise.all([this.pools, this.autoscaler]);
    const growth = decide({ nodePools: pools.ok ? pools.value : [], clusterAutoscaler: autoscaler.ok && autoscaler.value });
    const unread = [pools, autoscaler].flatMap((k) => (k.ok ? [] : [k.why]));
    if (growth.canGrow || unread.length === 0) return growth;
    return { canGrow: false, message: `${growth.message} (${unread.join('; ')})` };
  }
}

function known<T>(p: Promise<T>, what: string): Promise<Known<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (e: unknown) => ({ ok: false as const, why: `${what}: ${e instanceof Error ? e.message : String(e)}` }),
  );
}
