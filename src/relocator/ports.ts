/** What the relocator needs from the outside world; implemented by src/cluster (and by the reporters). */
import type { Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, StatefulSet, Taint } from '../domain/k8s.js';
import type { PipelineRunLike } from '../domain/assistant.js';
import type { DeletionRecord, SettlementKind } from '../domain/deletion-record.js';
import type { NodePool } from '../domain/growth.js';
import type { Outcome, OutcomeKind } from '../domain/outcome.js';
import type { PlacementHint } from '../domain/placement-hint.js';

export type DeleteResult = 'deleted' | 'not-found' | 'conflict';

export type TaintUpdateResult = 'updated' | 'unchanged' | 'not-found';

/** 'unsupported': the cluster has no AssistantPlacement API (infra/kubernetes/steering not installed). */
export type PlacementWriteResult = 'written' | 'unsupported';

export interface ClusterPort {
  getNode(name: string): Promise<Node | undefined>;
  listNodes(): Promise<Node[]>;
  /** Pods matching the assistant selector, optionally only those bound to one node. */
  listAssistantPods(o?: { nodeName?: string }): Promise<Pod[]>;
  /**
   * The same, each pod turned by `map` into what the caller keeps of it (undefined: nothing) as its page
   * arrives: 10,000 assistants need not all be held whole (the sweep's memory).
   */
  listAssistantPods<U>(o: { nodeName?: string; map: (pod: Pod) => U | undefined }): Promise<U[]>;
  /** Non-terminal pods bound to the node (what the scheduler counts there), every namespace. */
  listPodsOnNode(nodeName: string): Promise<Pod[]>;
  /** Non-terminal pods matching a label selector (`a=b,c in (d)`), every namespace. */
  listPods(labelSelector: string): Promise<Pod[]>;
  /** Non-terminal pods of one namespace. */
  listPodsInNamespace(namespace: string): Promise<Pod[]>;
  /**
   * TaskRun pods not bound to any node and Pending (label `tekton.dev/taskRun`), every namespace: the pods
   * that may be held by their assistant's node (src/domain/held-pod.ts decides which are).
   */
  listPendingTaskRunPods(): Promise<Pod[]>;
  /** For inter-pod affinity terms with a namespaceSelector. */
  listNamespaces(): Promise<Namespace[]>;
  getPod(namespace: string, name: string): Promise<Pod | undefined>;
  getStatefulSet(namespace: string, name: string): Promise<StatefulSet | undefined>;
  /** apiVersion as found in the owner reference, e.g. "tekton.dev/v1". */
  getPipelineRun(namespace: string, name: string, apiVersion: string): Promise<PipelineRunLike | undefined>;
  getPersistentVolumeClaim(namespace: string, name: string): Promise<PersistentVolumeClaim | undefined>;
  getPersistentVolume(name: string): Promise<PersistentVolume | undefined>;
  /**
   * The same objects for many names at once (absent names map to undefined): a trigger's assistants read
   * their owners and volumes with one request per collection rather than one per object.
   */
  getStatefulSets(namespace: string, names: string[]): Promise<Map<string, StatefulSet | undefined>>;
  getPipelineRuns(namespace: string, names: string[], apiVersion: string): Promise<Map<string, PipelineRunLike | undefined>>;
  getPersistentVolumeClaims(namespace: string, names: string[]): Promise<Map<string, PersistentVolumeClaim | undefined>>;
  getPersistentVolumes(names: string[]): Promise<Map<string, PersistentVolume | undefined>>;
  /** Karpenter's NodePools (karpenter.sh/v1); [] when Karpenter's CRD is not installed. */
  listNodePools(): Promise<NodePool[]>;
  /** Whether the cluster autoscaler's status ConfigMap (kube-system/cluster-autoscaler-status) exists. */
  clusterAutoscalerStatusExists(): Promise<boolean>;
  /** Deletes with a uid precondition. `force`: grace period 0. `dryRun`: server-side dry run. */
  deletePod(namespace: string, name: string, o: { uid: string; force: boolean; dryRun: boolean }): Promise<DeleteResult>;
  /**
   * Replaces the node's taints with `change(current)` (read, change, write with the read resourceVersion,
   * again on a conflict); `change` returning undefined means there is nothing to do.
   */
  updateNodeTaints(name: string, change: (taints: Taint[] | undefined) => Taint[] | undefined): Promise<TaintUpdateResult>;
  /**
   * Records a core/v1 Event of a given name on a StatefulSet, at most once: true when this caller created
   * it. What is reported once per state (a held pod blocked for the same reason) is claimed this way.
   */
  recordEventOnce(sts: StatefulSet, e: { name: string; type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<boolean>;
  /** Records a core/v1 Event on a StatefulSet (visible in `kubectl describe statefulset`). */
  recordEvent(sts: StatefulSet, e: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void>;
  /**
   * The deletion records and settlement claims on one StatefulSet: by uid (the delete path, which read
   * it) or by namespace and name (a pod event, which names only the pod).
   */
  relocationHistory(sts: { namespace: string; name?: string; uid?: string }): Promise<RelocationHistory>;
  /** Every deletion record (and claim) in the cluster since `since`: the sweep's and the cap's view. */
  recentRelocations(since: Date, o?: { claims?: boolean }): Promise<RelocationHistory>;
  /** Writes the record of a delete (once: a replay of the same delete finds it there and is fine). */
  recordDeletion(sts: StatefulSet, record: DeletionRecord, message: string): Promise<void>;
  /**
   * Claims the settlement of a record (at most once per record and kind, across every invocation): true
   * when this caller made it, and the claim is the outcome's Event on the StatefulSet.
   */
  claimSettlement(record: DeletionRecord, kind: SettlementKind, e: { type: 'Normal' | 'Warning'; message: string }): Promise<boolean>;
  /**
   * Writes the AssistantPlacement that steers the replacement of `hint.pod` to `hint.node` (named after the
   * pod, in its namespace), replacing one already there for that pod. Write it before deleting the pod.
   * 'unsupported' when the cluster has no AssistantPlacement API: the delete then goes unsteered.
   */
  writePlacementHint(hint: PlacementHint): Promise<PlacementWriteResult>;
  /** Deletes the placement of a pod (its replacement is bound, or it expired); none there is fine. */
  deletePlacementHint(namespace: string, pod: string): Promise<void>;
  /** Every placement in the cluster (the sweep deletes the expired ones); [] without the API. */
  listPlacementHints(): Promise<PlacementHint[]>;
}

export interface RelocationHistory {
  /** Records that parse (settleable), newest first. */
  records: DeletionRecord[];
  /** Each of our deletes (records that do not parse included): what the loop guard and the cap count. */
  deletes: { at: Date; statefulSetUid?: string }[];
  /** Settlements already claimed, by record id. */
  settled: Map<string, Set<SettlementKind>>;
}

/** Where outcomes go: result events, Kubernetes Events, logs, metrics. */
export type OutcomeSink = (outcome: Outcome, context: { statefulSet?: StatefulSet }) => Promise<void>;

export interface NotificationKey {
  namespace: string;
  statefulSet: string;
  statefulSetUid: string;
  kind: OutcomeKind;
}

/** Where the notification gate (./notifications.ts) keeps its claims; the cluster adapter implements it. */
export interface NotificationLedger {
  /**
   * Records a notification for `key` at `now`, unless one was recorded within `windowMs` before `now`.
   * True when this caller recorded it (and should notify); atomic across callers.
   */
  claimNotification(key: NotificationKey, now: Date, windowMs: number, note: string): Promise<boolean>;
}
