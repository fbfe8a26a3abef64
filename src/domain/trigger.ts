/**
 * The one normalised input of the relocator. Every source (forwarded Kubernetes events, AWS notices,
 * alerts, the sweep, the CLI) becomes a RelocationTrigger; the relocator never looks at where it came
 * from. A trigger is a hint naming what to look at: the relocator re-reads the live objects.
 */

/** Where a trigger came from (for logs, metrics and result events; never for decisions). */
export type TriggerSource =
  | 'node-event'
  | 'pod-event'
  /** A TaskRun pod the scheduler left Unschedulable past the grace, tied to its assistant's node. */
  | 'pending-pod-event'
  | 'sweep'
  | 'manual'
  | 'alert'
  | 'aws-spot-interruption'
  | 'aws-rebalance-recommendation'
  | 'aws-instance-state-change'
  | 'aws-asg-terminate'
  | 'aws-health-scheduled-change';

/** An object reference as seen when the event was produced (uid/resourceVersion let us spot staleness). */
export interface ObservedRef {
  name: string;
  uid?: string;
  resourceVersion?: string;
}

export interface ObservedPodRef extends ObservedRef {
  namespace: string;
  /** Node the pod was bound to when observed. */
  nodeName?: string;
}

/** An announcement, from outside the node object, that the node is going away. */
export interface ExternalDisruption {
  /** e.g. 'SpotInterruption', 'AsgTerminate', 'ScheduledRetirement', 'InstanceStopping'. */
  kind: string;
  detail: string;
  /** When the instance is expected to go (if the source says). */
  notAfter?: string;
}

export type TriggerTarget =
  /** Look at every assistant on this node. */
  | { kind: 'node'; node: ObservedRef }
  /** Look at the node that hosts this EC2 instance (mapped by spec.providerID). */
  | { kind: 'instance'; instanceId: string; zone?: string }
  /**
   * Look at one assistant pod. `change` (from the forwarder) lets the relocator settle a deletion it
   * recorded when the pod is a replacement just bound, and skip a pod reported deleted.
   */
  | { kind: 'pod'; pod: ObservedPodRef; change?: 'bound' | 'moved' | 'deleted' }
  /**
   * A TaskRun pod Pending because its required affinity ties it to an assistant whose node cannot take
   * it (src/domain/held-pod.ts): look at that pod and its assistant, and move the assistant when a node
   * can take both.
   */
  | {
      kind: 'pending-pod';
      pod: ObservedPodRef;
      assistant?: string;
      /** The pod is no longer held (bound, or gone): settle a rescue of ours that waited for it. */
      released?: true;
    }
  /** Look at every assistant in the cluster. */
  | { kind: 'all' }
  /**
   * Capacity may have appeared (a node became schedulable, or joined Ready): look at every assistant on
   * a node that is unschedulable now, since one that was blocked there may fit somewhere at last.
   */
  | { kind: 'stranded'; becauseOf?: string };

export interface RelocationTrigger {
  /** Unique id of the trigger (EventBridge event id, or generated), for logs and result events. */
  id: string;
  source: TriggerSource;
  target: TriggerTarget;
  /** When the source observed the condition (ISO 8601). Latency is measured from here. */
  observedAt: string;
  /** Set when the source itself announces the node's disruption (AWS notices, alerts). */
  disruption?: ExternalDisruption;
  /** Cluster name the trigger is meant for (several clusters may share a bus). */
  cluster?: string;
}
