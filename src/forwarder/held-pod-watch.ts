/**
 * The forwarder's third watch: Pending TaskRun pods that are not bound yet, and "TaskRun Pod Unschedulable"
 * for those held by their assistant's node, on the schedule of ./held-pod-schedule.ts.
 *
 * Only such pods reach the forwarder: the label selector asks for TaskRun pods and the field selector for
 * pods neither bound nor past Pending (`spec.nodeName` and `status.phase` are among the pod fields the
 * apiserver selects on; kube-scheduler watches unassigned pods with `spec.nodeName=` too). A pod that gets bound, or ends, leaves the
 * selection and its watch reports it deleted. Each pod is judged as it arrives, whole, by the domain
 * (heldTaskRunPod), and the cache keeps its identity and the verdict only: a TaskRun pod is several KB of
 * JSON, and a cluster may hold thousands of them Pending.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { heldTaskRunPod, TASKRUN_LABEL } from '../domain/held-pod.js';
import type { Pod } from '../domain/k8s.js';
import { TASKRUN_POD_UNSCHEDULABLE, type PutEventsEntry } from '../events/contract.js';
import { toPutEventsEntry } from '../events/inbound.js';
import { taskRunPodUnschedulableDetail } from '../events/taskrun-pod-unschedulable.js';
import { HeldPodSchedule, type HeldPodTimings } from './held-pod-schedule.js';
import { SlimInformer } from './slim-informer.js';

/** Pods that are not bound (kube-scheduler's own selector for them) and still Pending. */
export const HELD_POD_FIELD_SELECTOR = 'spec.nodeName=,status.phase=Pending';

/** The contract's limit on the scheduler's message in the event. */
const MAX_MESSAGE = 2048;

/** What the forwarder keeps of a Pending TaskRun pod: who it is and, when held, by which assistant since when. */
export interface TaskRunPodView {
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
  held?: { assistant: string; sinceMs: number; message: string };
}

/** Judges the whole pod (src/domain/held-pod.ts) and keeps only what the event needs. */
export function slimTaskRunPod(raw: unknown, assistantSelector: Record<string, string>): TaskRunPodView {
  const p = raw as Pod;
  const m = p.metadata ?? {};
  const metadata = { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion };
  const check = heldTaskRunPod(p, assistantSelector);
  if (!check.held) return { metadata };
  const { assistant, since, message } = check.pod;
  return { metadata, held: { assistant, sinceMs: since.getTime(), message: message.slice(0, MAX_MESSAGE) } };
}

export interface HeldPodWatchOptions {
  kc: KubeConfig;
  cluster: string;
  assistantSelector: Record<string, string>;
  /** PENDING_GRACE_SECONDS, in ms. */
  graceMs: number;
  /** The schedule after the grace and the rate budget; tests shorten them. */
  timings?: Partial<HeldPodTimings>;
  publish: (entries: PutEventsEntry[]) => void;
  onError: (e: unknown) => void;
  now: () => Date;
}

const keyOf = (p: TaskRunPodView): string => `${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`;

export class HeldPodWatch {
  private readonly schedule: HeldPodSchedule;
  private readonly informer: SlimInformer<TaskRunPodView>;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private synced = false;
  private stopped = false;
  readonly counters = { published: 0 };

  constructor(private readonly o: HeldPodWatchOptions) {
    this.schedule = new HeldPodSchedule(o.graceMs, o.timings);
    this.informer = new SlimInformer<TaskRunPodView>({
      kc: o.kc,
      path: '/api/v1/pods',
      labelSelector: TASKRUN_LABEL,
      fieldSelector: HELD_POD_FIELD_SELECTOR,
      slim: (raw) => slimTaskRunPod(raw, o.assistantSelector),
      onUpsert: (p) => this.observe(p),
      onDelete: (p) => this.release(p),
      onError: o.onError,
    });
  }

  get lists(): number {
    return this.informer.counters.lists;
  }

  /** Pods held now, past their grace or not. */
  get held(): number {
    return this.schedule.size;
  }

  /** Resolves after the first list; from then on the schedule's timer runs. */
  async start(): Promise<void> {
    await this.informer.start();
    this.synced = true;
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer.stop();
  }

  private observe(p: TaskRunPodView): void {
    const dueMs = this.schedule.observe(keyOf(p), p.metadata.uid ?? '', p.held?.sinceMs, p.held?.assistant);
    // During the first list the timer waits: it is armed once, for all, when the list is in.
    if (dueMs !== undefined && this.synced) this.armAt(dueMs);
  }

  /**
   * A pod left the selection (bound, ended or deleted). One that was published as held gets a `released`
   * event, so that a rescue waiting for it is settled now rather than at its confirmation timeout.
   */
  private release(p: TaskRunPodView): void {
    const was = this.schedule.forget(keyOf(p));
    if (!was?.assistant || this.stopped) return;
    const m = p.metadata;
    try {
      const detail = taskRunPodUnschedulableDetail({
        cluster: this.o.cluster,
        observedAt: this.o.now().toISOString(),
        pod: { namespace: m.namespace ?? '', name: m.name ?? '', uid: m.uid ?? was.uid, resourceVersion: m.resourceVersion ?? '0' },
        assistant: was.assistant,
        unschedulableSince: new Date(was.sinceMs).toISOString(),
        released: true,
      });
      this.counters.published++;
      this.o.publish([toPutEventsEntry(TASKRUN_POD_UNSCHEDULABLE, detail)]);
    } catch (e) {
      this.o.onError(e);
    }
  }

  /** Publishes what is due and sleeps until the schedule has something again. */
  private wake(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.stopped) return;
    const nowMs = this.o.now().getTime();
    const entries: PutEventsEntry[] = [];
    for (const key of this.schedule.take(nowMs)) {
      const [namespace = '', name = ''] = key.split('/');
      const entry = this.entryFor(this.informer.get(name, namespace));
      if (entry) entries.push(entry);
    }
    if (entries.length > 0) {
      this.counters.published += entries.length;
      this.o.publish(entries);
    }
    const next = this.schedule.nextWakeAt(nowMs);
    if (next !== undefined) this.armAt(next);
  }

  private armAt(atMs: number): void {
    if (this.stopped || atMs >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = atMs;
    this.timer = setTimeout(() => this.wake(), Math.max(0, atMs - this.o.now().getTime()));
    this.timer.unref();
  }

  private entryFor(p: TaskRunPodView | undefined): PutEventsEntry | undefined {
    if (!p?.held) return undefined;
    const m = p.metadata;
    try {
      const detail = taskRunPodUnschedulableDetail({
        cluster: this.o.cluster,
        observedAt: this.o.now().toISOString(),
        pod: { namespace: m.namespace ?? '', name: m.name ?? '', uid: m.uid ?? '', resourceVersion: m.resourceVersion ?? '' },
        assistant: p.held.assistant,
        unschedulableSince: new Date(p.held.sinceMs).toISOString(),
        ...(p.held.message ? { message: p.held.message } : {}),
      });
      return toPutEventsEntry(TASKRUN_POD_UNSCHEDULABLE, detail);
    } catch (e) {
      // An assistant name the contract refuses (not a DNS-1123 subdomain) cannot be published; say so.
      this.o.onError(e);
      return undefined;
    }
  }
}
