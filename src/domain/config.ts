import type { WhenNoNodeFits } from './growth.js';

/** Settings of a decision. Read and validated once at start-up (see src/config/relocator.ts). */

export interface SchedulabilityConfig {
  /**
   * Taint keys that make a node bad for an assistant when the pod does not tolerate them. A trailing
   * `*` matches any suffix (`aws-node-termination-handler/*`); `*` alone matches every key.
   */
  taintInclude: string[];
  /** Keys never counted, even when included (same pattern syntax). */
  taintExclude: string[];
  /** How long Ready may be False/Unknown (or the not-ready/unreachable taint stand) before it counts. */
  notReadyGraceMs: number;
}

export interface RelocatorConfig extends SchedulabilityConfig {
  /** Labels every assistant pod carries (matched exactly); ownership is checked as well. */
  assistantSelector: Record<string, string>;
  /** At most this many relocations of one StatefulSet within `loopGuardWindowMs`. */
  loopGuardMax: number;
  loopGuardWindowMs: number;
  /** How long after the delete the recreated pod may take to be bound before the outcome is `stuck`. */
  confirmTimeoutMs: number;
  /**
   * Cluster-wide cap on assistant deletes per minute (counted from the deletion records of every
   * invocation); beyond it the rest are `blocked` with reason `rate-limit` until the minute has passed.
   */
  maxDeletesPerMinute: number;
  /** Act nowhere; report what would be done. */
  dryRun: boolean;
  /**
   * Taint a node that an AWS notice announces as going away (NoSchedule, ./interruption-taint.ts) before
   * moving its assistants, so that the scheduler does not bind their replacements straight back to it.
   */
  interruptionTaint: boolean;
  /** The sweep lifts our interruption taint once it is this old. */
  interruptionTaintTtlMs: number;
  /**
   * When no existing node can take the replacement (./growth.ts): `auto` deletes when a Karpenter NodePool
   * or the cluster autoscaler can add a node that can, `delete` always deletes, `block` never does.
   */
  whenNoNodeFits: WhenNoNodeFits;
  /** Whether the cluster autoscaler runs: `auto` looks for its status ConfigMap. */
  clusterAutoscaler: 'auto' | 'present' | 'absent';
  /**
   * How long a replacement whose node is expected from Karpenter or the cluster autoscaler may stay
   * Pending before it is `stuck` (reported `waiting-for-capacity` meanwhile, once past `confirmTimeoutMs`).
   */
  capacityTimeoutMs: number;
  /**
   * TaskRun pods held Pending by their assistant's node (src/domain/held-pod.ts): `rescue` moves the
   * assistant when a node can take it and the pod together, `report` says what it would do and deletes
   * nothing, `off` does not look at them.
   */
  pendingTaskRuns: PendingTaskRuns;
  /** How long such a pod must have been Unschedulable before it counts (the scheduler may yet place it). */
  pendingGraceMs: number;
}

export const PENDING_TASKRUNS_MODES = ['rescue', 'report', 'off'] as const;
export type PendingTaskRuns = (typeof PENDING_TASKRUNS_MODES)[number];

/** Taints that mean "this node is going away or must not take work" on EKS and common add-ons. */
export const DEFAULT_TAINT_INCLUDE = [
  'node.kubernetes.io/unschedulable',
  'node.kubernetes.io/not-ready',
  'node.kubernetes.io/unreachable',
  'node.kubernetes.io/out-of-service',
  'karpenter.sh/disrupted',
  'karpenter.sh/disruption',
  'ToBeDeletedByClusterAutoscaler',
  'DeletionCandidateOfClusterAutoscaler',
  'aws-node-termination-handler/*',
  'medik8s.io/drain',
];

export const DEFAULT_CONFIG: RelocatorConfig = {
  taintInclude: DEFAULT_TAINT_INCLUDE,
  taintExclude: [],
  notReadyGraceMs: 60_000,
  assistantSelector: { 'app.kubernetes.io/component': 'affinity-assistant' },
  loopGuardMax: 3,
  loopGuardWindowMs: 30 * 60_000,
  confirmTimeoutMs: 60_000,
  // A node-group rotation of 20 nodes x 50 assistants must fit in a minute; a runaway loop must not.
  maxDeletesPerMinute: 2_000,
  dryRun: false,
  interruptionTaint: true,
  // Spot and ASG notices end with the instance within minutes; this bounds the others (rebalance
  // recommendations, maintenance announced days ahead) without tainting the node for good.
  interruptionTaintTtlMs: 6 * 60 * 60_000,
  whenNoNodeFits: 'auto',
  clusterAutoscaler: 'auto',
  // Karpenter gives up on a node that has not registered within 15 min (its NodeClaim registration TTL),
  // and the cluster autoscaler by default too (--max-node-provision-time=15m): no sooner is it stuck.
  capacityTimeoutMs: 15 * 60_000,
  pendingTaskRuns: 'rescue',
  // The scheduler retries an unschedulable pod when the cluster changes, and at least every 5 min; 20 s
  // lets a pod that was only waiting for a moment's room be placed before anything moves.
  pendingGraceMs: 20_000,
};
