/**
 * A stand-in for the kubelets of the fake nodes, doing the two things of a kubelet that the rest of the
 * system can observe through the API:
 *   - a pod bound to a Ready node starts: status phase Running, Ready, container running;
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

const isReady = (n: V1Node | undefined): boolean =>
  !!n && (n.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'True');

export class SimulatedKubelets {
  private readonly c: Clients;
  private pods!: Informer<V1Pod> & ObjectCache<V1Pod>;
  private nodes!: Informer<V1Node> & ObjectCache<V1Node>;
  private stopped = false;
  private readonly inFlight = new Set<string>();
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
    let action: Promise<unknown> | undefined;
    if (pod.metadata?.deletionTimestamp) {
      // With a body, the apiserver reads DeleteOptions from the body alone and ignores query
      // parameters: gracePeriodSeconds must be in the body.
      action = this.c.core.deleteNamespacedPod({ namespace, name, body: { gracePeriodSeconds: 0, preconditions: { uid } } });
    } else if (pod.status?.phase === 'Pending') {
      const now = new Date();
      action = this.c.core.patchNamespacedPodStatus(
        {
          namespace,
          name,
          body: {
            metadata: { uid },
            status: {
              phase: 'Running',
              startTime: now,
              conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastTransitionTime: now })),
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
          },
        },
        mergePatch,
      );
    }
    if (!action) return;
    this.inFlight.add(uid);
    action
      .catch((e: unknown) => {
        const code = statusOf(e);
            if (code !== 404 && code !== 409) this.errors.push(`${namespace}/${name}: ${String(e)}`);
      })
      .finally(() => this.inFlight.delete(uid));
  }
}
