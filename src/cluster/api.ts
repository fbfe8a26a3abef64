/**
 * The few Kubernetes calls the relocator makes, as plain JSON requests (./http.ts) authenticated by a
 * client-node KubeConfig. Every call is retried on 429/5xx/network errors and passes through one
 * concurrency limiter; 404 becomes `undefined` and, on delete, 404/409 are outcomes, not errors.
 *
 * The objects returned are the API server's JSON as is: timestamps are RFC 3339 strings, not the Date
 * objects client-node's generated clients would make of them, although the model types (type-only
 * imports, nothing of client-node's generated code is bundled) say Date. Consumers go through
 * `new Date(x)` or truthiness, which both accept.
 */
import type {
  CoreV1Event,
  CoreV1EventList,
  V1DeleteOptions,
  V1Namespace,
  V1Node,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Pod,
  V1StatefulSet,
  V1Taint,
} from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { PipelineRunLike } from '../domain/assistant.js';
import { selectorString } from '../domain/assistant.js';
import { type DeletionRecord, type SettlementKind, settlementClaimId } from '../domain/deletion-record.js';
import type { ClusterPort, DeleteResult, RelocationHistory, TaintUpdateResult } from '../relocator/ports.js';
import { DELETE_EVENT_REASON, eventTime, recordAnnotations, recordOf, SETTLEMENT_REASONS } from './deletion-events.js';
import { type KubeAccess, KubeHttpClient, type KubeRequest, segment as seg } from './http.js';
import { createLimiter } from './limit.js';
import { CLUSTER_AUTOSCALER_STATUS, NODEPOOLS_PATH, nodePoolsOf } from './nodepools.js';
import type { NodePool } from '../domain/growth.js';
import { statefulSetEvent } from './statefulset-event.js';
import { httpStatusOf, withRetry } from './retry.js';

/** Tells our own stored attempt from another caller's Event of the same name. */
const ATTEMPT_ANNOTATION = 'affinity-relocator.io/attempt';

/** Items per page of a list: bounds the memory of one response at 5,000 nodes or 10,000 pods. */
export const LIST_PAGE_SIZE = 500;

/**
 * What no decision reads and a list would keep for its whole invocation: every object's managedFields
 * (often its largest part) and a node's image list (tens of KB on a real node). Dropped page by page, so
 * that one invocation's memory stays within its function at 5,000 nodes and 10,000 assistants.
 */
function slim<T>(item: T): T {
  const o = item as { metadata?: { managedFields?: unknown }; status?: { images?: unknown } };
  if (o.metadata) delete o.metadata.managedFields;
  if (o.status) delete o.status.images;
  return item;
}

/** The scheduler's own pod informer selector: terminal pods hold no room and match no affinity. */
const NON_TERMINAL = 'status.phase!=Succeeded,status.phase!=Failed';

export interface KubernetesClusterOptions {
  assistantSelector: Record<string, string>;
  /** Concurrent requests at most (client-side). */
  maxConcurrency?: number;
  /** Name written as the Events' source/reporting component. */
  component?: string;
}

export class KubernetesCluster implements ClusterPort {
  private readonly http: KubeHttpClient;
  private readonly limit: <T>(fn: () => Promise<T>) => Promise<T>;
  private readonly selector: string;
  private readonly component: string;

  constructor(kc: KubeAccess, o: KubernetesClusterOptions) {
    this.http = new KubeHttpClient(kc);
    this.limit = createLimiter(o.maxConcurrency ?? 8);
    this.selector = selectorString(o.assistantSelector);
    this.component = o.component ?? 'affinity-relocator';
  }

  /** Retries outside the limiter, so a request sleeping in backoff does not hold a slot. */
  private call<T>(r: KubeRequest, retry?: Parameters<typeof withRetry>[1]): Promise<T> {
    return withRetry(() => this.limit(() => this.http.request<T>(r)), retry);
  }

  /** The object, or undefined on 404. */
  private async read<T>(path: string): Promise<T | undefined> {
    try {
      return await this.call<T>({ method: 'GET', path });
    } catch (e) {
      if (httpStatusOf(e) === 404) return undefined;
      throw e;
    }
  }

  getNode(name: string): Promise<V1Node | undefined> {
    return this.read(`/api/v1/nodes/${seg(name)}`);
  }

  /**
   * Every item of a list, page by page (`limit`/`continue`). A continue token that expired while paging
   * (410) starts the list over: a list is a snapshot, and half of two snapshots is neither.
   */
  private async listAll<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T[]> {
    for (let attempt = 1; ; attempt++) {
      const items: T[] = [];
      let next: string | undefined;
      try {
        do {
          const page = await this.call<{ items: T[]; metadata?: { continue?: string } }>({
            method: 'GET',
            path,
            query: { ...query, limit: String(LIST_PAGE_SIZE), continue: next },
          });
          for (const item of page.items) items.push(slim(item));
          next = page.metadata?.continue || undefined;
        } while (next);
        return items;
      } catch (e) {
        if (httpStatusOf(e) !== 410 || next === undefined || attempt >= 3) throw e;
      }
    }
  }

  listNodes(): Promise<V1Node[]> {
    return this.listAll('/api/v1/nodes');
  }

  listAssistantPods(o: { nodeName?: string } = {}): Promise<V1Pod[]> {
    const fieldSelector = o.nodeName ? `spec.nodeName=${o.nodeName}` : undefined;
    return this.listAll('/api/v1/pods', { labelSelector: this.selector, fieldSelector });
  }

  listPodsOnNode(nodeName: string): Promise<V1Pod[]> {
    return this.listAll('/api/v1/pods', { fieldSelector: `spec.nodeName=${nodeName},${NON_TERMINAL}` });
  }

  listPods(labelSelector: string): Promise<V1Pod[]> {
    return this.listAll('/api/v1/pods', { labelSelector, fieldSelector: NON_TERMINAL });
  }

  listPodsInNamespace(namespace: string): Promise<V1Pod[]> {
    return this.listAll(`/api/v1/namespaces/${seg(namespace)}/pods`, { fieldSelector: NON_TERMINAL });
  }

  listNamespaces(): Promise<V1Namespace[]> {
    return this.listAll('/api/v1/namespaces');
  }

  getPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    return this.read(`/api/v1/namespaces/${seg(namespace)}/pods/${seg(name)}`);
  }

  getStatefulSet(namespace: string, name: string): Promise<V1StatefulSet | undefined> {
    return this.read(`/apis/apps/v1/namespaces/${seg(namespace)}/statefulsets/${seg(name)}`);
  }

  getPipelineRun(namespace: string, name: string, apiVersion: string): Promise<PipelineRunLike | undefined> {
    const [group = 'tekton.dev', version = 'v1'] = apiVersion.split('/');
    return this.read(`/apis/${seg(group)}/${seg(version)}/namespaces/${seg(namespace)}/pipelineruns/${seg(name)}`);
  }

  getPersistentVolumeClaim(namespace: string, name: string): Promise<V1PersistentVolumeClaim | undefined> {
    return this.read(`/api/v1/namespaces/${seg(namespace)}/persistentvolumeclaims/${seg(name)}`);
  }

  getPersistentVolume(name: string): Promise<V1PersistentVolume | undefined> {
    return this.read(`/api/v1/persistentvolumes/${seg(name)}`);
  }

  async listNodePools(): Promise<NodePool[]> {
    try {
      return nodePoolsOf(await this.listAll<unknown>(NODEPOOLS_PATH));
    } catch (e) {
      // No karpenter.sh/v1 API here: no Karpenter.
      if (httpStatusOf(e) === 404) return [];
      throw e;
    }
  }

  async clusterAutoscalerStatusExists(): Promise<boolean> {
    const { namespace, name } = CLUSTER_AUTOSCALER_STATUS;
    return (await this.read(`/api/v1/namespaces/${seg(namespace)}/configmaps/${seg(name)}`)) !== undefined;
  }

  async deletePod(namespace: string, name: string, o: { uid: string; force: boolean; dryRun: boolean }): Promise<DeleteResult> {
    try {
      // With a body the apiserver takes DeleteOptions from the body alone and ignores query
      // parameters: the precondition, the grace period and dryRun all go here.
      const body: V1DeleteOptions = {
        preconditions: { uid: o.uid },
        ...(o.force ? { gracePeriodSeconds: 0 } : {}),
        ...(o.dryRun ? { dryRun: ['All'] } : {}),
      };
      await this.call(
        { method: 'DELETE', path: `/api/v1/namespaces/${seg(namespace)}/pods/${seg(name)}`, body },
        // Only 429 proves the apiserver did not act: after a dropped connection or a 5xx the delete may
        // have happened, and a retry would report the pod as gone or replaced instead of confirming it.
        { isRetryable: (e) => httpStatusOf(e) === 429 },
      );
      return 'deleted';
    } catch (e) {
      const status = httpStatusOf(e);
      if (status === 404) return 'not-found';
      if (status === 409) return 'conflict';
      throw e;
    }
  }

  async updateNodeTaints(name: string, change: (taints: V1Taint[] | undefined) => V1Taint[] | undefined): Promise<TaintUpdateResult> {
    // spec.taints has no merge key: a patch replaces the whole list, so it carries the resourceVersion it
    // was computed from and the apiserver refuses it (409) if anyone changed the node meanwhile.
    for (let attempt = 1; ; attempt++) {
      const node = await this.getNode(name);
      if (!node) return 'not-found';
      const taints = change(node.spec?.taints);
      if (!taints) return 'unchanged';
      try {
        await this.call({
          method: 'PATCH',
          path: `/api/v1/nodes/${seg(name)}`,
          contentType: 'application/merge-patch+json',
          body: { metadata: { resourceVersion: node.metadata?.resourceVersion }, spec: { taints: taints.length > 0 ? taints : null } },
        });
        return 'updated';
      } catch (e) {
        const status = httpStatusOf(e);
        if (status === 404) return 'not-found';
        // Kubelets update their node's status every few seconds: a conflict or two is normal.
        if (status !== 409 || attempt >= 5) throw e;
      }
    }
  }

  async recordEvent(sts: V1StatefulSet, e: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void> {
    const name = `${sts.metadata?.name}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`;
    await this.createEvent(sts, { name, ...e });
  }

  relocationHistory(sts: { namespace: string; name?: string; uid?: string }): Promise<RelocationHistory> {
    const fieldSelector = sts.uid ? `involvedObject.uid=${sts.uid}` : `involvedObject.kind=StatefulSet,involvedObject.name=${sts.name}`;
    return this.listAll<CoreV1Event>(`/api/v1/namespaces/${seg(sts.namespace)}/events`, { fieldSelector }).then((events) => this.history(events));
  }

  async recentRelocations(since: Date, o: { claims?: boolean } = {}): Promise<RelocationHistory> {
    const reasons = [DELETE_EVENT_REASON, ...(o.claims ? Object.values(SETTLEMENT_REASONS) : [])];
    const lists = await Promise.all(reasons.map((reason) => this.listAll<CoreV1Event>('/api/v1/events', { fieldSelector: `reason=${reason},source=${this.component}` })));
    const h = this.history(lists.flat());
    const after = (d: Date) => d.getTime() >= since.getTime();
    return { ...h, records: h.records.filter((r) => after(new Date(r.deletedAt))), deletes: h.deletes.filter((d) => after(d.at)) };
  }

  /** Our deletion records and claims among a StatefulSet's (or the cluster's) Events. */
  private history(events: CoreV1Event[]): RelocationHistory {
    const ours = events.filter((ev) => ev.source?.component === this.component);
    const records: DeletionRecord[] = [];
    const deletes: RelocationHistory['deletes'] = [];
    const settled = new Map<string, Set<SettlementKind>>();
    for (const ev of ours) {
      if (ev.reason === DELETE_EVENT_REASON) {
        const at = eventTime(ev);
        if (at) deletes.push({ at, statefulSetUid: ev.involvedObject?.uid });
        const record = recordOf(ev);
        if (record) records.push(record);
      }
    }
    // Claims are found by name (one map lookup per Event, not one comparison per record and Event).
    const claims = new Map<string, { id: string; kind: SettlementKind }>();
    for (const r of records) for (const kind of ['relocated', 'stuck'] as const) claims.set(settlementClaimId(r.id, kind), { id: r.id, kind });
    for (const ev of ours) {
      const claim = claims.get(ev.metadata?.name ?? '');
      if (claim) settled.set(claim.id, new Set([...(settled.get(claim.id) ?? []), claim.kind]));
    }
    records.sort((a, b) => Date.parse(b.deletedAt) - Date.parse(a.deletedAt));
    return { records, deletes, settled };
  }

  async recordDeletion(sts: V1StatefulSet, record: DeletionRecord, message: string): Promise<void> {
    await this.createEvent(sts, { name: record.id, type: 'Normal', reason: DELETE_EVENT_REASON, message, annotations: recordAnnotations(record) });
  }

  claimSettlement(record: DeletionRecord, kind: SettlementKind, e: { type: 'Normal' | 'Warning'; message: string }): Promise<boolean> {
    const sts = { metadata: { namespace: record.namespace, name: record.statefulSet, uid: record.statefulSetUid } };
    return this.createEvent(sts, { name: settlementClaimId(record.id, kind), reason: SETTLEMENT_REASONS[kind], ...e });
  }

  /**
   * Creates an Event of a given name: false when another caller created it first, which makes it a claim.
   * A 409 may also be our own earlier attempt, stored before its answer was lost (the retry sends the same
   * name): the attempt id it carries tells which.
   */
  private async createEvent(
    sts: V1StatefulSet,
    e: { name: string; type: 'Normal' | 'Warning'; reason: string; message: string; annotations?: Record<string, string> },
  ): Promise<boolean> {
    const namespace = sts.metadata?.namespace ?? 'default';
    const attempt = randomBytes(8).toString('hex');
    const body = statefulSetEvent({
      ...e,
      annotations: { ...e.annotations, [ATTEMPT_ANNOTATION]: attempt },
      namespace,
      statefulSet: { name: sts.metadata?.name, uid: sts.metadata?.uid, resourceVersion: sts.metadata?.resourceVersion },
      component: this.component,
    });
    try {
      await this.call({ method: 'POST', path: `/api/v1/namespaces/${seg(namespace)}/events`, body });
      return true;
    } catch (e) {
      if (httpStatusOf(e) !== 409) throw e;
    }
    const stored = await this.call<CoreV1EventList>({ method: 'GET', path: `/api/v1/namespaces/${seg(namespace)}/events`, query: { fieldSelector: `metadata.name=${e.name}` } });
    return stored.items.some((ev) => ev.metadata?.annotations?.[ATTEMPT_ANNOTATION] === attempt);
  }

}
