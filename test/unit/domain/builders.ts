/** Small builders named after Kubernetes objects, for the domain's unit tests. */
import type { V1Affinity, V1Container, V1Node, V1PersistentVolume, V1Pod, V1StatefulSet, V1Taint, V1Toleration } from '@kubernetes/client-node';
import type { PipelineRunLike } from '../../../src/domain/assistant.js';

export const NOW = new Date('2026-11-25T12:00:00Z');
export const ago = (ms: number): Date => new Date(NOW.getTime() - ms);

export class NodeBuilder {
  private readonly n: V1Node;
  constructor(name: string) {
    this.n = {
      metadata: { name, uid: `uid-${name}`, resourceVersion: '1', labels: { 'kubernetes.io/hostname': name, 'topology.kubernetes.io/zone': 'us-east-1a' } },
      spec: { providerID: `aws:///us-east-1a/i-0${name.length}23456789abcdef` },
      status: {
        allocatable: { cpu: '4', memory: '16Gi', pods: '110' },
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: ago(3_600_000) }],
      },
    };
  }
  /** Allocatable cpu, memory, pods... (replaces the default 4 cpu, 16Gi, 110 pods for the names given). */
  allocatable(r: Record<string, string>): this {
    this.n.status!.allocatable = { ...this.n.status!.allocatable, ...r };
    return this;
  }
  cordoned(): this {
    this.n.spec!.unschedulable = true;
    return this;
  }
  tainted(key: string, effect: V1Taint['effect'] = 'NoSchedule', value?: string, timeAdded?: Date): this {
    this.n.spec!.taints = [...(this.n.spec!.taints ?? []), { key, effect, ...(value ? { value } : {}), ...(timeAdded ? { timeAdded } : {}) }];
    return this;
  }
  notReady(status: 'False' | 'Unknown', since: Date): this {
    this.n.status!.conditions = [{ type: 'Ready', status, lastTransitionTime: since, reason: 'KubeletNotReady' }];
    return this;
  }
  deleting(): this {
    this.n.metadata!.deletionTimestamp = ago(1_000);
    return this;
  }
  inZone(zone: string): this {
    this.n.metadata!.labels!['topology.kubernetes.io/zone'] = zone;
    return this;
  }
  labelled(k: string, v: string): this {
    this.n.metadata!.labels![k] = v;
    return this;
  }
  build(): V1Node {
    return structuredClone(this.n);
  }
}
export const aNode = (name: string) => new NodeBuilder(name);

export const aPipelineRun = (name = 'pr-1', o: Partial<{ succeeded: 'True' | 'False' | 'Unknown'; deleting: boolean }> = {}): PipelineRunLike => ({
  metadata: { name, uid: `uid-${name}`, ...(o.deleting ? { deletionTimestamp: ago(1) } : {}) },
  status: { conditions: [{ type: 'Succeeded', status: o.succeeded ?? 'Unknown', reason: 'Running' }] },
});

/** `pr` null: a StatefulSet with the assistant's shape that no PipelineRun controls. */
export const aStatefulSet = (name = 'affinity-assistant-0123456789', pr: PipelineRunLike | null = aPipelineRun()): V1StatefulSet => ({
  metadata: {
    name,
    namespace: 'ci',
    uid: `uid-${name}`,
    ownerReferences: pr
      ? [{ apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', name: pr.metadata!.name!, uid: pr.metadata!.uid!, controller: true }]
      : [],
  },
});

export class PodBuilder {
  private readonly p: V1Pod;
  constructor(sts: V1StatefulSet) {
    this.p = {
      metadata: {
        name: `${sts.metadata!.name}-0`,
        namespace: 'ci',
        uid: 'pod-uid-1',
        labels: { 'app.kubernetes.io/component': 'affinity-assistant', 'app.kubernetes.io/instance': sts.metadata!.name! },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: sts.metadata!.name!, uid: sts.metadata!.uid!, controller: true }],
      },
      spec: { containers: [{ name: 'affinity-assistant', image: 'nop' }] },
    };
  }
  on(node: string): this {
    this.p.spec!.nodeName = node;
    return this;
  }
  withUid(uid: string): this {
    this.p.metadata!.uid = uid;
    return this;
  }
  tolerating(...t: V1Toleration[]): this {
    this.p.spec!.tolerations = [...(this.p.spec!.tolerations ?? []), ...t];
    return this;
  }
  withNodeSelector(sel: Record<string, string>): this {
    this.p.spec!.nodeSelector = sel;
    return this;
  }
  mounting(claim: string): this {
    this.p.spec!.volumes = [...(this.p.spec!.volumes ?? []), { name: 'workspace-0', persistentVolumeClaim: { claimName: claim } }];
    return this;
  }
  terminating(): this {
    this.p.metadata!.deletionTimestamp = ago(1);
    return this;
  }
  requesting(requests: Record<string, string>): this {
    this.p.spec!.containers[0]!.resources = { requests };
    return this;
  }
  withAffinity(affinity: V1Affinity): this {
    this.p.spec!.affinity = affinity;
    return this;
  }
  withoutOwner(): this {
    this.p.metadata!.ownerReferences = [];
    return this;
  }
  build(): V1Pod {
    return structuredClone(this.p);
  }
}
export const anAssistantOf = (sts: V1StatefulSet = aStatefulSet()) => new PodBuilder(sts);

/** Any pod (not an assistant) bound to a node, e.g. what fills it. */
export function aPod(name: string, o: { node?: string; namespace?: string; labels?: Record<string, string>; requests?: Record<string, string>; affinity?: V1Affinity; initContainers?: V1Container[]; overhead?: Record<string, string> } = {}): V1Pod {
  return {
    metadata: { name, namespace: o.namespace ?? 'ci', uid: `uid-${name}`, labels: o.labels ?? {} },
    spec: {
      nodeName: o.node,
      containers: [{ name: 'main', image: 'busybox', ...(o.requests ? { resources: { requests: o.requests } } : {}) }],
      ...(o.initContainers ? { initContainers: o.initContainers } : {}),
      ...(o.affinity ? { affinity: o.affinity } : {}),
      ...(o.overhead ? { overhead: o.overhead } : {}),
    },
  };
}

export const aZonalVolume = (name: string, zone: string): V1PersistentVolume => ({
  metadata: { name },
  spec: {
    nodeAffinity: {
      required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: [zone] }] }] },
    },
  },
});
export const aLocalVolume = (name: string, node: string): V1PersistentVolume => ({
  metadata: { name },
  spec: {
    nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }] } },
  },
});

/**
 * A TaskRun pod as Tekton writes it beside an assistant (required podAffinity to the assistant's instance on
 * the node), Pending and Unschedulable: the pod an assistant holds.
 */
export function aHeldTaskRunPod(
  name = 'run-second-pod',
  o: {
    assistant?: string;
    requests?: Record<string, string>;
    claims?: string[];
    tolerations?: V1Toleration[];
    nodeSelector?: Record<string, string>;
    affinity?: V1Affinity;
  } = {},
): V1Pod {
  const assistantTerm = {
    labelSelector: { matchLabels: { 'app.kubernetes.io/instance': o.assistant ?? 'affinity-assistant-0123456789', 'app.kubernetes.io/component': 'affinity-assistant' } },
    topologyKey: 'kubernetes.io/hostname',
  };
  const affinity: V1Affinity = structuredClone(o.affinity ?? {});
  affinity.podAffinity = {
    ...affinity.podAffinity,
    requiredDuringSchedulingIgnoredDuringExecution: [...(affinity.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []), assistantTerm],
  };
  return {
    metadata: { name, namespace: 'ci', uid: `uid-${name}`, labels: { 'tekton.dev/taskRun': name.replace(/-pod$/, ''), 'tekton.dev/pipelineRun': 'pr-1' } },
    spec: {
      containers: [{ name: 'step-main', image: 'alpine', ...(o.requests ? { resources: { requests: o.requests } } : {}) }],
      affinity,
      ...(o.tolerations ? { tolerations: o.tolerations } : {}),
      ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
      volumes: (o.claims ?? []).map((claimName, i) => ({ name: `ws-${i}`, persistentVolumeClaim: { claimName } })),
    },
    status: {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', lastTransitionTime: ago(60_000), message: '0/3 nodes are available: 1 Insufficient cpu' }],
    },
  };
}
