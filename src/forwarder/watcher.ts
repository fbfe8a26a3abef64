/**
 * Watches Nodes and assistant Pods and publishes every real transition (see transitions.ts) as an event
 * of the contract. A node's verdict changes are published only for nodes that host an assistant; capacity
 * (a node schedulable again, or a new Ready one) for any node, since an assistant blocked elsewhere may be
 * waiting for it. Unless PENDING_TASKRUNS is `off`, it also watches Pending TaskRun pods and publishes those
 * held by their assistant's node (./held-pod-watch.ts). Used by local mode and by the in-cluster forwarder.
 */
import type { KubeConfig, V1Node, V1Pod } from '@kubernetes/client-node';
import { selectorString } from '../domain/assistant.js';
import type { RelocatorConfig, SchedulabilityConfig } from '../domain/config.js';
import { assistantPodChangedDetail } from '../events/assistant-pod-changed.js';
import { ASSISTANT_POD_CHANGED, NODE_SCHEDULABILITY_CHANGED, type PutEventsEntry } from '../events/contract.js';
import { toPutEventsEntry } from '../events/inbound.js';
import { nodeSchedulabilityChangedDetail } from '../events/node-schedulability-changed.js';
import type { HeldPodTimings } from './held-pod-schedule.js';
import { HeldPodWatch } from './held-pod-watch.js';
import type { Publisher } from './publisher.js';
import { SlimInformer } from './slim-informer.js';
import { type NodeTransition, type PodTransition, TransitionDetector } from './transitions.js';

export interface WatcherOptions {
  kc: KubeConfig;
  cluster: string;
  config: SchedulabilityConfig & Pick<RelocatorConfig, 'pendingTaskRuns' | 'pendingGraceMs'>;
  assistantSelector: Record<string, string>;
  publisher: Publisher;
  /** The held pods' schedule after the grace and their rate budget (./held-pod-schedule.ts); tests shorten them. */
  heldPodTimings?: Partial<HeldPodTimings>;
  /** Called with every error (watch errors are retried with backoff). */
  onError?: (e: unknown) => void;
  now?: () => Date;
}

export class ClusterWatcher {
  private readonly detector: TransitionDetector;
  private pods!: SlimInformer<V1Pod>;
  private nodes!: SlimInformer<V1Node>;
  private heldPods: HeldPodWatch | undefined;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;
  private readonly now: () => Date;
  private readonly counters = { watchErrors: 0, published: 0 };
  private podsSynced = false;
  private nodesSynced = false;

  constructor(private readonly o: WatcherOptions) {
    this.detector = new TransitionDetector(o.config);
    this.now = o.now ?? (() => new Date());
  }

  async start(): Promise<void> {
    const labelSelector = selectorString(this.o.assistantSelector);
    const onError = (e: unknown) => {
      if (this.stopped) return; // stop() aborts the watches: not an error
      this.counters.watchErrors++;
      this.o.onError?.(e);
    };
    this.pods = new SlimInformer<V1Pod>({
      kc: this.o.kc,
      path: '/api/v1/pods',
      labelSelector,
      slim: slimPod,
      // The first list records where the assistants are without publishing them: a start or a
      // failover must not send one event per assistant in the cluster (10,000 Lambda invocations); an
      // assistant on a bad node is covered by that node's transition, published on first sight.
      onUpsert: (p) => {
        const t = this.detector.observePod(p);
        if (this.podsSynced) this.onPod(t);
      },
      onDelete: (p) => this.onPod(this.detector.forgetPod(p)),
      onError,
    });
    this.nodes = new SlimInformer<V1Node>({
      kc: this.o.kc,
      path: '/api/v1/nodes',
      slim: slimNode,
      onUpsert: (n) => this.onNode(n),
      onDelete: (n) => this.emitNode(this.detector.forgetNode(n)),
      onError,
    });
    // Pods first: a verdict change is published only when the node hosts an assistant.
    await this.pods.start();
    this.podsSynced = true;
    if (this.stopped) return;
    await this.nodes.start();
    // From here on a node seen for the first time has joined (the initial list published no capacity).
    this.nodesSynced = true;
    if (this.stopped || this.o.config.pendingTaskRuns === 'off') return;
    this.heldPods = new HeldPodWatch({
      kc: this.o.kc,
      cluster: this.o.cluster,
      assistantSelector: this.o.assistantSelector,
      graceMs: this.o.config.pendingGraceMs,
      timings: this.o.heldPodTimings,
      publish: (entries) => this.publish(entries),
      onError,
      now: this.now,
    });
    await this.heldPods.start();
  }

  /** Lists (initial syncs and relists), watch errors, entries handed to the publisher, and TaskRun pods held now. */
  stats(): { lists: number; watchErrors: number; published: number; heldPods: number } {
    const lists = (this.pods?.counters.lists ?? 0) + (this.nodes?.counters.lists ?? 0) + (this.heldPods?.lists ?? 0);
    return { ...this.counters, lists, heldPods: this.heldPods?.held ?? 0 };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.all([this.pods?.stop(), this.nodes?.stop(), this.heldPods?.stop()]);
  }

  private onNode(node: V1Node): void {
    this.emitNode(this.detector.observeNode(node, this.now(), { afterInitialList: this.nodesSynced }));
    this.scheduleRecheck(node);
  }

  /** A NotReady grace runs out without any update to the node: look again when it does. */
  private scheduleRecheck(node: V1Node): void {
    const name = node.metadata?.name ?? '';
    clearTimeout(this.timers.get(name));
    this.timers.delete(name);
    const until = this.detector.pendingUntil(name);
    if (!until || this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(name);
      const latest = this.nodes.get(name);
      if (latest) this.onNode(latest);
    }, Math.max(0, until.getTime() - this.now().getTime()) + 50);
    t.unref();
    this.timers.set(name, t);
  }

  private emitNode(t: NodeTransition | undefined): void {
    if (!t) return;
    const name = t.node.metadata?.name ?? '';
    // Capacity is news for any node; a verdict change only for a node whose assistants it concerns. One
    // event either way: an uncordoned node hosting an assistant is both, and says so once.
    if (!t.capacity && !(t.verdictChanged && this.detector.nodesWithAssistants().has(name))) return;
    const reasons = (v: NodeTransition['verdict']) => v.reasons.map((r) => ({ code: r.code, message: r.message }));
    const detail = nodeSchedulabilityChangedDetail({
      cluster: this.o.cluster,
      observedAt: this.now().toISOString(),
      node: {
        name,
        uid: t.node.metadata?.uid ?? '',
        resourceVersion: t.node.metadata?.resourceVersion ?? '',
        ...(t.node.spec?.providerID ? { providerID: t.node.spec.providerID } : {}),
      },
      schedulable: t.verdict.schedulable,
      reasons: reasons(t.verdict),
      ...(t.previous ? { previousReasons: reasons(t.previous) } : {}),
    });
    this.publish([toPutEventsEntry(NODE_SCHEDULABILITY_CHANGED, detail)]);
  }

  private onPod(t: PodTransition | undefined): void {
    if (!t) return;
    const m = t.pod.metadata ?? {};
    const detail = assistantPodChangedDetail({
      cluster: this.o.cluster,
      observedAt: this.now().toISOString(),
      pod: {
        namespace: m.namespace ?? '',
        name: m.name ?? '',
        uid: m.uid ?? '',
        resourceVersion: m.resourceVersion ?? '',
        ...(t.pod.spec?.nodeName ? { nodeName: t.pod.spec.nodeName } : {}),
      },
      change: t.change,
      ...(t.previousNodeName ? { previousNodeName: t.previousNodeName } : {}),
    });
    this.publish([toPutEventsEntry(ASSISTANT_POD_CHANGED, detail)]);
  }

  private publish(entries: PutEventsEntry[]): void {
    this.counters.published += entries.length;
    this.o.publisher.publish(entries).catch((e: unknown) => this.o.onError?.(e));
  }
}

/** What the forwarder decides on about a node: identity, cordon, taints, providerID, Ready. */
export function slimNode(raw: unknown): V1Node {
  const n = raw as V1Node;
  return {
    metadata: {
      name: n.metadata?.name,
      uid: n.metadata?.uid,
      resourceVersion: n.metadata?.resourceVersion,
      ...(n.metadata?.deletionTimestamp ? { deletionTimestamp: n.metadata.deletionTimestamp } : {}),
    },
    spec: { unschedulable: n.spec?.unschedulable, taints: n.spec?.taints, providerID: n.spec?.providerID },
    status: { conditions: (n.status?.conditions ?? []).filter((c) => c.type === 'Ready') },
  };
}

/** What the forwarder decides on about an assistant pod: identity and node. */
export function slimPod(raw: unknown): V1Pod {
  const p = raw as V1Pod;
  return {
    metadata: { name: p.metadata?.name, namespace: p.metadata?.namespace, uid: p.metadata?.uid, resourceVersion: p.metadata?.resourceVersion },
    spec: { nodeName: p.spec?.nodeName, containers: [] },
  };
}
