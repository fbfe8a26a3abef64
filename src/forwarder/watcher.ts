/**
 * Watches Nodes and assistant Pods and publishes every real transition (see transitions.ts) as an event
 * of the contract. Node transitions are published only for nodes that host an assistant. Used by local
 * mode now and by the in-cluster forwarder.
 */
import { CoreV1Api, type Informer, type KubeConfig, makeInformer, type ObjectCache, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { selectorString } from '../domain/assistant.js';
import type { SchedulabilityConfig } from '../domain/config.js';
import { assistantPodChangedDetail } from '../events/assistant-pod-changed.js';
import { ASSISTANT_POD_CHANGED, NODE_SCHEDULABILITY_CHANGED } from '../events/contract.js';
import { toPutEventsEntry } from '../events/inbound.js';
import { nodeSchedulabilityChangedDetail } from '../events/node-schedulability-changed.js';
import type { Publisher } from './publisher.js';
import { type NodeTransition, type PodTransition, TransitionDetector } from './transitions.js';

export interface WatcherOptions {
  kc: KubeConfig;
  cluster: string;
  config: SchedulabilityConfig;
  assistantSelector: Record<string, string>;
  publisher: Publisher;
  /** Called with every error (watch errors are retried with backoff). */
  onError?: (e: unknown) => void;
  now?: () => Date;
}

export class ClusterWatcher {
  private readonly detector: TransitionDetector;
  private pods!: Informer<V1Pod> & ObjectCache<V1Pod>;
  private nodes!: Informer<V1Node> & ObjectCache<V1Node>;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;
  private readonly now: () => Date;
  private readonly counters = { lists: 0, watchErrors: 0, published: 0 };

  constructor(private readonly o: WatcherOptions) {
    this.detector = new TransitionDetector(o.config);
    this.now = o.now ?? (() => new Date());
  }

  async start(): Promise<void> {
    const core = this.o.kc.makeApiClient(CoreV1Api);
    const labelSelector = selectorString(this.o.assistantSelector);
    // Each list is a (re)sync: at start, and after a watch ended in an error or 410 Gone.
    this.pods = makeInformer(this.o.kc, '/api/v1/pods', () => (this.counters.lists++, core.listPodForAllNamespaces({ labelSelector })), labelSelector);
    this.nodes = makeInformer(this.o.kc, '/api/v1/nodes', () => (this.counters.lists++, core.listNode()));
    this.pods.on('add', (p) => this.onPod(this.detector.observePod(p)));
    this.pods.on('update', (p) => this.onPod(this.detector.observePod(p)));
    this.pods.on('delete', (p) => this.onPod(this.detector.forgetPod(p)));
    this.nodes.on('add', (n) => this.onNode(n));
    this.nodes.on('update', (n) => this.onNode(n));
    this.nodes.on('delete', (n) => this.emitNode(this.detector.forgetNode(n)));
    for (const inf of [this.pods, this.nodes] as const) {
      inf.on('error', (e: unknown) => {
        if (this.stopped) return; // stop() aborts the watches: not an error
        this.counters.watchErrors++;
        this.o.onError?.(e);
        // client-node informers stop on error: restart after a pause (the relist covers the gap).
        if (!this.stopped) setTimeout(() => !this.stopped && void inf.start().catch((err: unknown) => this.o.onError?.(err)), 1_000);
      });
    }
    // Pods first: a node transition is published only when the node hosts an assistant.
    await this.pods.start();
    await this.nodes.start();
  }

  /** Lists (initial syncs and relists), watch errors, and entries handed to the publisher. */
  stats(): { lists: number; watchErrors: number; published: number } {
    return { ...this.counters };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.all([this.pods?.stop(), this.nodes?.stop()]);
  }

  private onNode(node: V1Node): void {
    this.emitNode(this.detector.observeNode(node, this.now()));
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
    if (!this.detector.nodesWithAssistants().has(name)) return;
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
    this.publish(toPutEventsEntry(NODE_SCHEDULABILITY_CHANGED, detail));
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
    this.publish(toPutEventsEntry(ASSISTANT_POD_CHANGED, detail));
  }

  private publish(entry: ReturnType<typeof toPutEventsEntry>): void {
    this.counters.published++;
    this.o.publisher.publish([entry]).catch((e: unknown) => this.o.onError?.(e));
  }
}
