/**
 * The few Kubernetes calls the relocator makes, as plain JSON requests (./http.ts) authenticated by a
 * client-node KubeConfig. Every call is retried on 429/5xx/network errors and passes through one
 * concurrency limiter; 404 becomes `undefined` and, on delete, 404/409 are outcomes, not errors.
 *
 * The objects returned are the API server's JSON as is: timestamps are RFC 3339 strings, not the Date
 * objects client-node's generated clients would make of them, and the types say so (src/domain/k8s.ts:
 * client-node's models with every Date widened to Date | string; type-only, nothing of client-node's
 * generated code is bundled).
 */
import type { V1DeleteOptions } from '@kubernetes/client-node';
import type { KubeEvent, KubeEventList, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, StatefulSet, Taint } from '../domain/k8s.js';
import { randomBytes } from 'node:crypto';
import type { PipelineRunLike } from '../domain/assistant.js';
import { selectorString } from '../domain/assistant.js';
import { TASKRUN_LABEL } from '../domain/held-pod.js';
import { type DeletionRecord, type SettlementKind, settlementClaimId } from '../domain/deletion-record.js';
import type { ClusterPort, DeleteResult, NotificationKey, NotificationLedger, PlacementWriteResult, RelocationHistory, TaintUpdateResult } from '../relocator/ports.js';
import { type PlacementHint, placementObject } from '../domain/placement-hint.js';
import { isMissingNamespace, PLACEMENTS_PATH, placementHintsOf, placementsPath } from './placement-hints.js';
import { DELETE_EVENT_REASON, eventTime, recordAnnotations, recordOf, SETTLEMENT_REASONS } from './deletion-events.js';
import { type KubeAccess, KubeHttpClient, KubernetesApiError, type KubeRequest, segment as seg } from './http.js';
import { createLimiter } from './limit.js';
import { claimPrefix, claimReason, lastClaim } from './notification-events.js';
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

/** A continue token expired while paging (410 Gone on a page after the first). */
class ContinueExpired extends Error {
  override name = 'ContinueExpired';
}

/** Parsed deletion records kept per container (a few hundred bytes each). */
const PARSED_RECORDS_MAX = 20_000;

/** Fewer names than this are read with a GET each: a list is worth it only for more. */
const BATCH_MIN = 4;

/** The scheduler's own pod informer selector: terminal pods hold no room and match no affinity. */
const NON_TERMINAL = 'status.phase!=Succeeded,status.phase!=Failed';

export interface KubernetesClusterOptions {
  assistantSelector: Record<string, string>;
  /** Concurrent requests at most (client-side). */
  maxConcurrency?: number;
  /** Name written as the Events' source/reporting component. */
  component?: string;
}

export class KubernetesCluster implements ClusterPort, NotificationLedger {
  private readonly http: KubeHttpClient;
  private readonly limit: <T>(fn: () => Promise<T>) => Promise<T>;
  private readonly selector: string;
  private readonly component: string;
  /** Collections whose `list` RBAC refused: read with GETs from then on. */
  private readonly listRefused = new Set<string>();
  /**
   * Records already parsed, by Event uid and resourceVersion (an Event's annotation cannot change without
   * a new resourceVersion): a container re-reads the cluster's records every second while it deletes, and
   * parsing and checking each record again was most of that read's CPU time.
   */
  private readonly parsedRecords = new Map<string, DeletionRecord | undefined>();

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

  getNode(name: string): Promise<Node | undefined> {
    return this.read(`/api/v1/nodes/${seg(name)}`);
  }

  /**
   * Walks a list page by page (`limit`/`continue`), each item slimmed, until the last page or until
   * `onPage` returns false. A 410 on a continue token (it expired while paging) is thrown as
   * ContinueExpired, which callers treat as they must (a list is a snapshot: half of two is neither).
   */
  private async walk<T>(
    path: string,
    query: Record<string, string | undefined>,
    onPage: (items: T[], remainingItemCount: number | undefined) => boolean,
  ): Promise<void> {
    let next: string | undefined;
    do {
      let page: { items: T[]; metadata?: { continue?: string; remainingItemCount?: number } };
      try {
        page = await this.call({ method: 'GET', path, query: { ...query, limit: String(LIST_PAGE_SIZE), continue: next } });
      } catch (e) {
        if (next !== undefined && httpStatusOf(e) === 410) throw new ContinueExpired();
        throw e;
      }
      next = page.metadata?.continue || undefined;
      if (!onPage(page.items.map(slim), next ? page.metadata?.remainingItemCount : 0)) return;
    } while (next);
  }

  /**
   * Every item of a list, or what `map` makes of each (undefined: left out), page by page so that the
   * whole list never sits in memory; an expired continue token starts it over (at most three times).
   */
  private async listAll<T, U = T>(path: string, query: Record<string, string | undefined> = {}, map?: (item: T) => U | undefined): Promise<U[]> {
    for (let attempt = 1; ; attempt++) {
      const items: U[] = [];
      try {
        await this.walk<T>(path, query, (page) => {
          if (!map) items.push(...(page as unknown as U[]));
          else for (const item of page) {
            const u = map(item);
            if (u !== undefined) items.push(u);
          }
          return true;
        });
        return items;
      } catch (e) {
        if (!(e instanceof ContinueExpired) || attempt >= 3) throw e;
      }
    }
  }

  listNodes(): Promise<Node[]> {
    return this.listAll('/api/v1/nodes');
  }

  listAssistantPods(o?: { nodeName?: string }): Promise<Pod[]>;
  listAssistantPods<U>(o: { nodeName?: string; map: (pod: Pod) => U | undefined }): Promise<U[]>;
  listAssistantPods<U>(o: { nodeName?: string; map?: (pod: Pod) => U | undefined } = {}): Promise<(Pod | U)[]> {
    const fieldSelector = o.nodeName ? `spec.nodeName=${o.nodeName}` : undefined;
    return this.listAll<Pod, Pod | U>('/api/v1/pods', { labelSelector: this.selector, fieldSelector }, o.map);
  }

  listPendingTaskRunPods(): Promise<Pod[]> {
    return this.listAll('/api/v1/pods', { labelSelector: TASKRUN_LABEL, fieldSelector: 'spec.nodeName=,status.phase=Pending' });
  }

  listPodsOnNode(nodeName: string): Promise<Pod[]> {
    return this.listAll('/api/v1/pods', { fieldSelector: `spec.nodeName=${nodeName},${NON_TERMINAL}` });
  }

  listPods(labelSelector: string): Promise<Pod[]> {
    return this.listAll('/api/v1/pods', { labelSelector, fieldSelector: NON_TERMINAL });
  }

  listPodsInNamespace(namespace: string): Promise<Pod[]> {
    return this.listAll(`/api/v1/namespaces/${seg(namespace)}/pods`, { fieldSelector: NON_TERMINAL });
  }

  listNamespaces(): Promise<Namespace[]> {
    return this.listAll('/api/v1/namespaces');
  }

  getPod(namespace: string, name: string): Promise<Pod | undefined> {
    return this.read(`/api/v1/namespaces/${seg(namespace)}/pods/${seg(name)}`);
  }

  getStatefulSet(namespace: string, name: string): Promise<StatefulSet | undefined> {
    return this.read(`/apis/apps/v1/namespaces/${seg(namespace)}/statefulsets/${seg(name)}`);
  }

  getPipelineRun(namespace: string, name: string, apiVersion: string): Promise<PipelineRunLike | undefined> {
    const [group = 'tekton.dev', version = 'v1'] = apiVersion.split('/');
    return this.read(`/apis/${seg(group)}/${seg(version)}/namespaces/${seg(namespace)}/pipelineruns/${seg(name)}`);
  }

  getPersistentVolumeClaim(namespace: string, name: string): Promise<PersistentVolumeClaim | undefined> {
    return this.read(`/api/v1/namespaces/${seg(namespace)}/persistentvolumeclaims/${seg(name)}`);
  }

  getPersistentVolume(name: string): Promise<PersistentVolume | undefined> {
    return this.read(`/api/v1/persistentvolumes/${seg(name)}`);
  }

  getStatefulSets(namespace: string, names: string[]): Promise<Map<string, StatefulSet | undefined>> {
    return this.readMany('statefulsets', `/apis/apps/v1/namespaces/${seg(namespace)}/statefulsets`, names, (n) => this.getStatefulSet(namespace, n));
  }

  getPipelineRuns(namespace: string, names: string[], apiVersion: string): Promise<Map<string, PipelineRunLike | undefined>> {
    const [group = 'tekton.dev', version = 'v1'] = apiVersion.split('/');
    // A PipelineRun carries its whole pipeline spec and status: only what the decision reads is kept.
    const keep = (pr: PipelineRunLike): PipelineRunLike => ({ metadata: pr.metadata, status: { conditions: pr.status?.conditions } });
    return this.readMany(`pipelineruns.${apiVersion}`, `/apis/${seg(group)}/${seg(version)}/namespaces/${seg(namespace)}/pipelineruns`, names, (n) => this.getPipelineRun(namespace, n, apiVersion), keep);
  }

  getPersistentVolumeClaims(namespace: string, names: string[]): Promise<Map<string, PersistentVolumeClaim | undefined>> {
    return this.readMany('persistentvolumeclaims', `/api/v1/namespaces/${seg(namespace)}/persistentvolumeclaims`, names, (n) => this.getPersistentVolumeClaim(namespace, n));
  }

  getPersistentVolumes(names: string[]): Promise<Map<string, PersistentVolume | undefined>> {
    return this.readMany('persistentvolumes', '/api/v1/persistentvolumes', names, (n) => this.getPersistentVolume(n));
  }

  /**
   * Objects of one collection by name, in as few requests as it takes: one GET each for a few names;
   * for more, the collection is listed page by page as long as the pages still to come (the first page's
   * remainingItemCount tells) are fewer than the GETs they replace, and whatever the list did not reach is
   * read one by one. A name missing from a finished list does not exist (as a GET's 404 would say). A
   * list that RBAC refuses (a role granted before `list` was asked for) falls back to GETs for good, with
   * nothing lost but requests.
   */
  private async readMany<T extends { metadata?: { name?: string } }>(
    kind: string,
    collection: string,
    names: string[],
    one: (name: string) => Promise<T | undefined>,
    keep: (item: T) => T = (item) => item,
  ): Promise<Map<string, T | undefined>> {
    const wanted = new Set(names);
    const found = new Map<string, T | undefined>();
    if (wanted.size >= BATCH_MIN && !this.listRefused.has(kind)) {
      try {
        let complete = false;
        await this.walk<T>(collection, {}, (page, remaining) => {
          for (const item of page) {
            const name = item.metadata?.name;
            if (name && wanted.has(name)) found.set(name, keep(item));
          }
          complete = remaining === 0;
          // Go on while the pages to come are fewer than the GETs they would replace.
          return !complete && Math.ceil((remaining ?? Number.POSITIVE_INFINITY) / LIST_PAGE_SIZE) < wanted.size - found.size;
        });
        if (complete) for (const name of wanted) if (!found.has(name)) found.set(name, undefined);
      } catch (e) {
        if (httpStatusOf(e) === 403) this.listRefused.add(kind);
        // An expired continue token: what is missing is read one by one.
        else if (!(e instanceof ContinueExpired)) throw e;
      }
    }
    await Promise.all([...wanted].filter((name) => !found.has(name)).map(async (name) => found.set(name, await one(name))));
    return found;
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

  async updateNodeTaints(name: string, change: (taints: Taint[] | undefined) => Taint[] | undefined): Promise<TaintUpdateResult> {
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

  async recordEvent(sts: StatefulSet, e: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void> {
    const name = `${sts.metadata?.name}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`;
    await this.createEvent(sts, { name, ...e });
  }

  recordEventOnce(sts: StatefulSet, e: { name: string; type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<boolean> {
    return this.createEvent(sts, e);
  }

  relocationHistory(sts: { namespace: string; name?: string; uid?: string }): Promise<RelocationHistory> {
    const fieldSelector = sts.uid ? `involvedObject.uid=${sts.uid}` : `involvedObject.kind=StatefulSet,involvedObject.name=${sts.name}`;
    return this.listAll<KubeEvent>(`/api/v1/namespaces/${seg(sts.namespace)}/events`, { fieldSelector }).then((events) => this.history(events));
  }

  async recentRelocations(since: Date, o: { claims?: boolean } = {}): Promise<RelocationHistory> {
    const reasons = [DELETE_EVENT_REASON, ...(o.claims ? Object.values(SETTLEMENT_REASONS) : [])];
    const lists = await Promise.all(reasons.map((reason) => this.listAll<KubeEvent>('/api/v1/events', { fieldSelector: `reason=${reason},source=${this.component}` })));
    const h = this.history(lists.flat());
    const after = (d: Date) => d.getTime() >= since.getTime();
    return { ...h, records: h.records.filter((r) => after(new Date(r.deletedAt))), deletes: h.deletes.filter((d) => after(d.at)) };
  }

  /** Our deletion records and claims among a StatefulSet's (or the cluster's) Events. */
  private history(events: KubeEvent[]): RelocationHistory {
    const ours = events.filter((ev) => ev.source?.component === this.component);
    const records: DeletionRecord[] = [];
    const deletes: RelocationHistory['deletes'] = [];
    const settled = new Map<string, Set<SettlementKind>>();
    for (const ev of ours) {
      if (ev.reason === DELETE_EVENT_REASON) {
        const at = eventTime(ev);
        if (at) deletes.push({ at, statefulSetUid: ev.involvedObject?.uid });
        const record = this.recordOf(ev);
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

  private recordOf(ev: KubeEvent): DeletionRecord | undefined {
    const key = `${ev.metadata?.uid}/${ev.metadata?.resourceVersion}`;
    if (!ev.metadata?.uid || !ev.metadata.resourceVersion) return recordOf(ev);
    if (this.parsedRecords.has(key)) return this.parsedRecords.get(key);
    // Bounded: Events live an hour; a container that saw more than this many starts over.
    if (this.parsedRecords.size >= PARSED_RECORDS_MAX) this.parsedRecords.clear();
    const record = recordOf(ev);
    this.parsedRecords.set(key, record);
    return record;
  }

  async recordDeletion(sts: StatefulSet, record: DeletionRecord, message: string): Promise<void> {
    await this.createEvent(sts, { name: record.id, type: 'Normal', reason: DELETE_EVENT_REASON, message, annotations: recordAnnotations(record) });
  }

  claimSettlement(record: DeletionRecord, kind: SettlementKind, e: { type: 'Normal' | 'Warning'; message: string }): Promise<boolean> {
    const sts = { metadata: { namespace: record.namespace, name: record.statefulSet, uid: record.statefulSetUid } };
    return this.createEvent(sts, { name: settlementClaimId(record.id, kind), reason: SETTLEMENT_REASONS[kind], ...e });
  }

  /** The notification ledger as marker Events on the StatefulSet (./notification-events.ts). */
  async claimNotification(key: NotificationKey, now: Date, windowMs: number, note: string): Promise<boolean> {
    const reason = claimReason(key.kind);
    const prefix = claimPrefix(key.statefulSetUid, key.kind);
    const list = await this.call<KubeEventList>({
      method: 'GET',
      path: `/api/v1/namespaces/${seg(key.namespace)}/events`,
      query: { fieldSelector: `involvedObject.uid=${key.statefulSetUid},reason=${reason}` },
    });
    const { last, recent } = lastClaim(list.items, prefix, now, windowMs);
    if (recent) return false;
    const message = `notified ${note}`;
    const minutes = Math.round(windowMs / 60_000);
    const sts = { metadata: { namespace: key.namespace, name: key.statefulSet, uid: key.statefulSetUid } };
    return this.createEvent(sts, {
      name: `${prefix}${last + 1}`,
      type: 'Normal',
      reason,
      message: `${message.length > 900 ? `${message.slice(0, 897)}...` : message} (further ${key.kind} outcomes within ${minutes} min are not notified)`,
      now,
    });
  }

  async writePlacementHint(hint: PlacementHint): Promise<PlacementWriteResult> {
    const body = placementObject(hint);
    // Replaced by delete + create, not update: the relocator's role then needs no update or patch on
    // placements (get, list, create, delete), and the policy never sees half of an old placement. The
    // gap between the two is harmless: the placement is written before the pod is deleted.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.call({ method: 'POST', path: placementsPath(hint.namespace), body });
        return 'written';
      } catch (e) {
        const status = httpStatusOf(e);
        if (status === 404 && !(e instanceof KubernetesApiError && isMissingNamespace(e.body))) return 'unsupported';
        // 409: one is there for this pod (an earlier move's, or a concurrent writer's, or our own create
        // whose answer was lost); it is replaced. A writer that keeps racing us wins after three rounds.
        if (status !== 409 || attempt >= 3) throw e;
      }
      await this.deletePlacementHint(hint.namespace, hint.pod);
    }
  }

  async deletePlacementHint(namespace: string, pod: string): Promise<void> {
    try {
      await this.call({ method: 'DELETE', path: `${placementsPath(namespace)}/${seg(pod)}` });
    } catch (e) {
      // Gone already, or no AssistantPlacement API at all: either way there is none.
      if (httpStatusOf(e) !== 404) throw e;
    }
  }

  async listPlacementHints(): Promise<PlacementHint[]> {
    try {
      return placementHintsOf(await this.listAll<unknown>(PLACEMENTS_PATH));
    } catch (e) {
      // No AssistantPlacement API here: steering is not installed, so there are none.
      if (httpStatusOf(e) === 404) return [];
      throw e;
    }
  }

  /**
   * Creates an Event of a given name: false when another caller created it first, which makes it a claim.
   * A 409 may also be our own earlier attempt, stored before its answer was lost (the retry sends the same
   * name): the attempt id it carries tells which.
   */
  private async createEvent(
    sts: StatefulSet,
    e: { name: string; type: 'Normal' | 'Warning'; reason: string; message: string; annotations?: Record<string, string>; now?: Date },
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
    const stored = await this.call<KubeEventList>({ method: 'GET', path: `/api/v1/namespaces/${seg(namespace)}/events`, query: { fieldSelector: `metadata.name=${e.name}` } });
    return stored.items.some((ev) => ev.metadata?.annotations?.[ATTEMPT_ANNOTATION] === attempt);
  }

}
