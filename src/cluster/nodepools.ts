/**
 * Karpenter's NodePools (karpenter.sh/v1) as src/domain/growth.ts reads them, through a schema: the fields
 * a decision uses are checked, the rest is ignored. A NodePool that does not parse (another version's
 * shape) is left out: nothing is relied on that was not understood.
 */
import type { NodePool } from '../domain/growth.js';
import * as z from '../events/zod.js';

export const NODEPOOLS_PATH = '/apis/karpenter.sh/v1/nodepools';
/** The cluster autoscaler writes its status here (--write-status-configmap, on by default). */
export const CLUSTER_AUTOSCALER_STATUS = { namespace: 'kube-system', name: 'cluster-autoscaler-status' } as const;

const quantity = z.union([z.string(), z.number()]);
const requirement = z.object({ key: z.string(), operator: z.string(), values: z.optional(z.array(z.string())) });
const taint = z.object({ key: z.string(), value: z.optional(z.string()), effect: z.string() });

const NodePoolSchema = z.object({
  metadata: z.object({ name: z.string(), deletionTimestamp: z.optional(z.string()) }),
  spec: z.object({
    template: z.object({
      metadata: z.optional(z.object({ labels: z.optional(z.record(z.string(), z.string())) })),
      spec: z.object({
        requirements: z.optional(z.array(requirement)),
        taints: z.optional(z.array(taint)),
        startupTaints: z.optional(z.array(taint)),
      }),
    }),
    limits: z.optional(z.record(z.string(), quantity)),
    /** Karpenter tries NodePools of higher weight first (the pair's growth answer follows its choice). */
    weight: z.optional(z.number()),
  }),
  status: z.optional(
    z.object({
      resources: z.optional(z.record(z.string(), quantity)),
      conditions: z.optional(z.array(z.object({ type: z.string(), status: z.string(), message: z.optional(z.string()) }))),
    }),
  ),
});

/** The items that parse as NodePools. */
export function nodePoolsOf(items: unknown[]): NodePool[] {
  return items.flatMap((item) => {
    const r = NodePoolSchema.safeParse(item);
    return r.success ? [r.data as NodePool] : [];
  });
}
