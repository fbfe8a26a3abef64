/**
 * A stand-in for the kubelets of the fake nodes, doing the things of a kubelet that the rest of the
 * system can observe through the API:
 *   - a pod bound to a Ready node starts: its init containers ran to completion (terminated, exit 0),
 *     then status phase Running, Ready, every container running;
 *   - a pod the test has said to complete (`complete`) finishes once it runs: every container
 *     terminated, exit 0 and phase Succeeded, or one container's chosen exit code and phase Failed
 *     (restartPolicy Never, as TaskRun pods have), as a kubelet reports a finished TaskRun pod;
 *   - a pod being deleted gracefully on a Ready node is stopped and then removed (the kubelet's final
 *     delete with grace period 0, preconditioned on the uid).
 * On a node whose Ready condition is not True it does nothing, exactly like a dead kubelet: a graceful
 * delete there stays Terminating forever, which is what relocation on NotReady nodes must cope with.
 * It is not a fake of the API: the apiserver, scheduler and controllers are real.
 */
import {
  type Informer,
  type KubeConfig,
  makeInformer,
  type ObjectCache,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { type Clients, clientsFor, mergePatch, statusOf } from './fixtures/clients.js';

/** How a pod told to complete ends: every container exits 0, or `container` (default the last) fails. */
export interface Completion {
  exitCode?: number;
  /** The container that exits with `exitCode`; the others exit 0. Default: the last container. */
  container?: string;
}

interface PendingCompletion extends Completion {
  done: () => void;
}

const isReady = (n: V1Node | undefined): boolean =>
  !!n && (n.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'True');

export class SimulatedKubelets {
  private readonly c: Clients;
  private pods!: Informer<V1Pod> & ObjectCache<V1Pod>;
  private nodes!: Informer<V1Node> & ObjectCache<V1Node>;
  private stopped = false;
  private readonly inFlight = new Set<string>();
  /** Uids of pods this stand-in has started (the informer's copy may still say Pending for a moment). */
  private readonly started = new Set<string>();
  /** Completions the test asked for, by namespace/name, until a running pod of that name takes one. */
  private readonly completions = new Map<string, PendingCompletion>();
  /** Errors other than the expected races (404/409), for tests to assert on. */
  readonly errors: string[] = [];

  private constructor(kc: KubeConfig) {
    this.c = clientsFor(kc);
  }

  static async start(kc: KubeConfig): Promise<SimulatedKubelets> {
    const k = new SimulatedKubelets(kc);
    k.nodes = makeInformer(kc, '/api/v1/nodes', () => k.c.core.listNode());
    k.pods = makeInformer(kc, '/api/v1/pods', () => k.c.core.listPodForAllNamespaces());
    const restartOnError = (inf: Informer<V1Pod> | Informer<V1Node>) =>
      inf.on('error', () => {
        if (!k.stopped) setTimeout(() => void inf.start().catch(() => undefined), 500);
      });
    restartOnError(k.nodes);
    restartOnError(k.pods);
    k.pods.on('add', (p) => k.reconcile(p));
    k.pods.on('update', (p) => k.reconcile(p));
    const onNode = (n: V1Node) => {
      if (!isReady(n)) return;
      for (const p of k.pods.list()) if (p.spec?.nodeName === n.metadata?.name) k.reconcile(p);
    };
    k.nodes.on('add', onNode);
    k.nodes.on('update', onNode);
    await k.nodes.start();
    await k.pods.start();
    return k;
  }

  /**
   * Says that pod `namespace/name` completes: now if it is running on a Ready node, else as soon as a
   * pod of that name is (it need not exist yet: a test can say how a TaskRun's pod ends before Tekton
   * creates it). Resolves once the completed status is written. A later call for the same name
   * replaces one not yet taken.
   */
  complete(namespace: string, name: string, how: Completion = {}): Promise<void> {
    const key = `${namespace}/${name}`;
    const done = new Promise<void>((resolve) => this.completions.set(key, { ...how, done: resolve }));
    const pod = this.pods.get(name, namespace);
    if (pod) this.reconcile(pod);
    return done;
  }

  /** Whether the node is Ready as this stand-in sees it now (its watch may lag the apiserver a moment). */
  seesReady(nodeName: string): boolean {
    return isReady(this.nodes.get(nodeName));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.pods?.stop(), this.nodes?.stop()]);
  }

  private reconcile(pod: V1Pod): void {
    const nodeName = pod.spec?.nodeName;
    const uid = pod.metadata?.uid;
    if (this.stopped || !nodeName || !uid || this.inFlight.has(uid)) return;
    if (!isReady(this.nodes.get(nodeName))) return;
    const { namespace = 'default', name = '' } = pod.metadata ?? {};
    const key = `${namespace}/${name}`;
    const completion = this.completions.get(key);
    let action: Promise<unknown> | undefined;
    let onDone: (() => void) | undefined;
    const deleting = !!pod.metadata?.deletionTimestamp;
    if (deleting) {
      // With a body, the apiserver reads DeleteOptions from the body alone and ignores query
      // parameters: gracePeriodSeconds must be in the body.
      action = this.c.core.deleteNamespacedPod({ namespace, name, body: { gracePeriodSeconds: 0, preconditions: { uid } } });
    } else if (pod.status?.phase === 'Pending' && !this.started.has(uid)) {
      action = this.c.core
        .patchNamespacedPodStatus({ namespace, name, body: runningStatus(pod, new Date()) }, mergePatch)
        .then(() => this.started.add(uid));
    } else if ((pod.status?.phase === 'Running' || this.started.has(uid)) && completion) {
      this.completions.delete(key);
      onDone = completion.done;
      action = this.c.core.patchNamespacedPodStatus({ namespace, name, body: completedStatus(pod, completion, new Date()) }, mergePatch);
    }
    if (!action) return;
    this.inFlight.add(uid);
    action
      .then(
        () => onDone?.(),
        (e: unknown) => {
          const code = statusOf(e);
          if (code !== 404 && code !== 409) this.errors.push(`${namespace}/${name}: ${String(e)}`);
          // The pod changed or went away under the patch: the completion waits for the next pod of that name.
          if (completion && onDone && !this.completions.has(key)) this.completions.set(key, completion);
        },
      )
      .finally(() => {
        this.inFlight.delete(uid);
        // An update that came while this action ran was dropped: a completion asked for meanwhile (or
        // waiting for this start), or a delete that came while the pod was being started, must not wait
        // for another update that may never come (the pod would stay Terminating for good).
        const latest = this.pods.get(name, namespace);
        const missed = this.completions.has(key) || (!deleting && !!latest?.metadata?.deletionTimestamp);
        if (missed && latest?.metadata?.uid === uid) this.reconcile(latest);
      });
  }
}

const terminatedInit = (name: string, image: string | undefined, at: Date) => ({
  name,
  image: image ?? '',
  imageID: '',
  ready: true,
  restartCount: 0,
  started: false,
  state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: at, finishedAt: at } },
});

/** A started pod's status: init containers done (they run before the others), every container running. */
function runningStatus(pod: V1Pod, now: Date) {
  return {
    metadata: { uid: pod.metadata?.uid },
    status: {
      phase: 'Running',
      startTime: now,
      conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastTransitionTime: now })),
      initContainerStatuses: (pod.spec?.initContainers ?? []).map((ct) => terminatedInit(ct.name, ct.image, now)),
      containerStatuses: (pod.spec?.containers ?? []).map((ct) => ({
        name: ct.name,
        image: ct.image ?? '',
        imageID: '',
        ready: true,
        restartCount: 0,
        started: true,
        state: { running: { startedAt: now } },
      })),
    },
  };
}

/** A finished pod's status: every container terminated, phase Succeeded, or Failed when one failed. */
function completedStatus(pod: V1Pod, how: Completion, now: Date) {
  const containers = pod.spec?.containers ?? [];
  const failing = how.exitCode ? (how.container ?? containers.at(-1)?.name) : undefined;
  const startedAt = (name: string): Date | undefined => {
    const s = pod.status?.containerStatuses?.find((x) => x.name === name)?.state?.running?.startedAt;
    return s ? new Date(s) : undefined;
  };
  const notReady = (type: string) => ({ type, status: 'False', reason: 'PodCompleted', lastTransitionTime: now });
  return {
    metadata: { uid: pod.metadata?.uid },
    status: {
      phase: failing ? 'Failed' : 'Succeeded',
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
        { type: 'Initialized', status: 'True', lastTransitionTime: now },
        notReady('ContainersReady'),
        notReady('Ready'),
      ],
      containerStatuses: containers.map((ct) => {
        const exitCode = ct.name === failing ? how.exitCode! : 0;
        return {
          name: ct.name,
          image: ct.image ?? '',
          imageID: '',
          ready: false,
          restartCount: 0,
          started: false,
          state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: startedAt(ct.name) ?? now, finishedAt: now } },
        };
      }),
    },
  };
}
