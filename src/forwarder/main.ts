/**
 * The forwarder's process, one per replica of the Deployment in infra/kubernetes/forwarder/. Every replica
 * serves /healthz, /readyz and /metrics and takes part in the leader election; only the leader watches
 * nodes, assistant pods and Pending TaskRun pods and publishes their transitions to EventBridge.
 *
 * Environment: CLUSTER_NAME, EVENT_BUS_NAME, POD_NAME, POD_NAMESPACE (required; the last two from the
 * downward API); LEASE_NAME (default affinity-relocator-forwarder), OPS_PORT (8080), RESYNC_SECONDS (600;
 * 0 = only when leadership starts); the relocator's ASSISTANT_SELECTOR, TAINT_INCLUDE, TAINT_EXCLUDE,
 * NOT_READY_GRACE_SECONDS, PENDING_TASKRUNS (`off`: no watch of TaskRun pods) and PENDING_GRACE_SECONDS
 * (src/config/relocator.ts). The pod's service account reaches the
 * cluster (KUBE_AUTH overrides, see src/cluster/auth.ts); the AWS SDK's default chain (IRSA or EKS Pod
 * Identity) reaches EventBridge.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Logger } from '@aws-lambda-powertools/logger';
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import * as z from '../events/zod.js';
import { createKubeConfig, kubeConfigOptionsFromEnv } from '../cluster/auth.js';
import { enableKeepAlive } from '../cluster/keep-alive.js';
import { withUserAgent } from '../cluster/labelled.js';
import type { RelocatorConfig } from '../domain/config.js';
import { type Env, parseEnv, required } from '../config/env.js';
import { configFromEnv } from '../config/relocator.js';
import { EventBridgePublisher } from './eventbridge-publisher.js';
import { type LeaderElectionTimings, LeaderElector } from './leader.js';
import { ForwarderMetrics, startOpsServer } from './ops-server.js';
import { WatchStatusError } from './watch-status.js';
import { ClusterWatcher } from './watcher.js';

export interface ForwarderSettings {
  /** Written into every event: several clusters may share a bus. */
  cluster: string;
  eventBusName: string;
  /** This replica's identity in the lease. */
  podName: string;
  /** Where the lease lives. */
  namespace: string;
  leaseName: string;
  /** 0 picks a free port (tests). */
  opsPort: number;
  /** How often the leader replaces its watcher with a fresh one (a full resync); 0 = never. */
  resyncMs: number;
  config: RelocatorConfig;
  /** client-go's defaults unless a test shortens them. */
  election?: Partial<LeaderElectionTimings>;
}

const ForwarderEnv = z.object({
  CLUSTER_NAME: required('the cluster name that every event carries'),
  EVENT_BUS_NAME: required('the EventBridge bus (name or ARN) to publish to'),
  POD_NAME: required('the pod name, from the downward API (fieldRef metadata.name)'),
  POD_NAMESPACE: required('the pod namespace, from the downward API (fieldRef metadata.namespace)'),
  LEASE_NAME: z._default(
    z.string().check(z.regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'must be a Kubernetes object name (lower case, digits, - and .)')),
    'affinity-relocator-forwarder',
  ),
  OPS_PORT: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(65_535)), 8080),
  RESYNC_SECONDS: z._default(z.coerce.number().check(z.int(), z.gte(0), z.lte(86_400)), 600),
});

/** Reads and validates the settings once; an error names every variable that is wrong. */
export function forwarderSettings(env: Env = process.env): ForwarderSettings {
  const e = parseEnv(ForwarderEnv, env, { what: 'forwarder' });
  return {
    cluster: e.CLUSTER_NAME,
    eventBusName: e.EVENT_BUS_NAME,
    podName: e.POD_NAME,
    namespace: e.POD_NAMESPACE,
    leaseName: e.LEASE_NAME,
    opsPort: e.OPS_PORT,
    resyncMs: e.RESYNC_SECONDS * 1000,
    config: configFromEnv(env),
  };
}

export type Log = Pick<Logger, 'info' | 'warn' | 'error'>;

/** What the forwarder uses of its publisher; an interface so tests can stand in for EventBridge. */
export type ForwarderPublisher = Pick<EventBridgePublisher, 'publish' | 'close' | 'stats'>;

export interface Forwarder {
  /** The ops server's port. */
  readonly opsPort: number;
  isLeader(): boolean;
  /** Stops watching, flushes the publisher (bounded), releases the lease, closes the ops server. */
  stop(): Promise<void>;
}

/** Shutdown must fit the pod's terminationGracePeriodSeconds (30 s); what is still queued after this is lost. */
const FLUSH_TIMEOUT_MS = 10_000;
/** After a watcher failed to start (its own list and watch errors it retries itself). */
const RETRY_START_MS = 5_000;

export async function startForwarder(s: ForwarderSettings, deps: { kc: KubeConfig; publisher: ForwarderPublisher; log: Log }): Promise<Forwarder> {
  const { publisher, log } = deps;
  const kc = withUserAgent(enableKeepAlive(deps.kc), 'forwarder');
  const metrics = new ForwarderMetrics(() => publisher.stats());
  const watching = new Watching(
    () =>
      new ClusterWatcher({
        kc,
        cluster: s.cluster,
        config: s.config,
        assistantSelector: s.config.assistantSelector,
        publisher,
        // The publisher rejects only once closed, after the watcher has stopped: these are watch errors.
        onError: (e) => {
          metrics.watchRestarted();
          // The Status of an ERROR event says why: its code and reason go on the line as fields.
          const status = e instanceof WatchStatusError ? { code: e.statusCode, reason: e.reason } : {};
          log.warn('watch failed; restarting it with backoff', { ...errorFields(e), ...status });
        },
      }),
    s.resyncMs,
    log,
  );
  let stopping = false;
  const elector = new LeaderElector({
    api: kc.makeApiClient(CoordinationV1Api),
    namespace: s.namespace,
    name: s.leaseName,
    identity: s.podName,
    ...s.election,
    onStartedLeading: () => {
      if (stopping) return;
      log.info('leading: watching nodes and pods');
      metrics.setLeader(true);
      watching.start();
    },
    onStoppedLeading: () => {
      log.info('no longer leading: stopped watching');
      metrics.setLeader(false);
      watching.stop().catch((e: unknown) => log.error('stopping the watcher failed', errorFields(e)));
    },
    onNewLeader: (leader) => log.info('lease holder observed', { leader, lease: `${s.namespace}/${s.leaseName}` }),
    onError: (e) => log.warn('leader election', errorFields(e)),
  });
  const server = await startOpsServer({
    port: s.opsPort,
    registry: metrics.registry,
    notReady: () => {
      if (stopping) return 'shutting down';
      if (elector.isLeader()) return watching.synced ? undefined : 'leading; watches not synced yet';
      return elector.leader() === undefined ? 'the lease has not been read yet' : undefined;
    },
  });
  elector.start();
  return {
    opsPort: server.port,
    isLeader: () => elector.isLeader(),
    async stop() {
      stopping = true;
      await watching.stop();
      const flushed = await publisher.close(FLUSH_TIMEOUT_MS).catch((e: unknown) => {
        log.error('flushing the publisher failed', errorFields(e));
        return undefined;
      });
      if (!flushed?.delivered) log.warn('events left undelivered at shutdown', { objects: flushed?.left.length });
      // Released only after the flush, so the next leader's events follow ours on the bus instead of
      // interleaving with them.
      await elector.stop();
      await server.close();
    },
  };
}

/**
 * The leader's watcher. Every term of leadership starts a fresh one, whose initial list re-emits the current
 * state, so a failover loses nothing (duplicates are fine). Every resync period a fresh watcher replaces it
 * the same way, started before the old one stops so that no change falls between the two.
 */
class Watching {
  private current: ClusterWatcher | undefined;
  private starting: ClusterWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Counts start() and stop(): a replacement that finds it changed belongs to a term that is over. */
  private generation = 0;

  constructor(
    private readonly create: () => ClusterWatcher,
    private readonly resyncMs: number,
    private readonly log: Log,
  ) {}

  /** A watcher of this term has listed everything once. */
  get synced(): boolean {
    return this.current !== undefined;
  }

  start(): void {
    this.replaceInBackground(++this.generation);
  }

  async stop(): Promise<void> {
    this.generation++;
    clearTimeout(this.timer);
    const running = [this.current, this.starting];
    this.current = this.starting = undefined;
    await Promise.all(running.map((w) => w?.stop()));
  }

  private async replace(generation: number): Promise<void> {
    const next = this.create();
    this.starting = next;
    try {
      // Resolves once both initial lists are done (list errors are retried by the watcher itself).
      await next.start();
    } catch (e) {
      this.log.error('starting the watcher failed; retrying', errorFields(e));
      await next.stop();
      return this.schedule(generation, RETRY_START_MS);
    }
    if (generation !== this.generation) {
      // stop() came while it was starting: stop it again, for what it started after that first stop.
      await next.stop();
      return;
    }
    const previous = this.current;
    this.current = next;
    this.starting = undefined;
    await previous?.stop();
    if (this.resyncMs > 0) this.schedule(generation, this.resyncMs);
  }

  private schedule(generation: number, ms: number): void {
    if (generation !== this.generation) return;
    this.timer = setTimeout(() => this.replaceInBackground(generation), ms);
  }

  private replaceInBackground(generation: number): void {
    this.replace(generation).catch((e: unknown) => this.log.error('replacing the watcher failed', errorFields(e)));
  }
}

/**
 * The message only: the HTTP clients' error objects carry whole responses and request details, more than a
 * log line needs and more than we have vetted for secrets.
 */
function errorFields(e: unknown): { error: string } {
  return { error: e instanceof Error ? e.message : String(e) };
}

async function main(): Promise<void> {
  const log = new Logger({ serviceName: 'affinity-relocator-forwarder' });
  try {
    const settings = forwarderSettings();
    // The pod's service account unless KUBE_AUTH says otherwise (running the forwarder outside a cluster).
    const kc = await createKubeConfig(process.env.KUBE_AUTH ? kubeConfigOptionsFromEnv() : { mode: 'in-cluster' });
    const publisher = new EventBridgePublisher({
      eventBusName: settings.eventBusName,
      onCallError: (e, code) => log.warn('PutEvents failed; retrying with backoff', { code, ...errorFields(e) }),
      onDropped: ({ key, code, message }) => log.error('event dropped: EventBridge refused it for good', { object: key, code, message }),
    });
    const forwarder = await startForwarder(settings, { kc, publisher, log });
    log.info('started', { cluster: settings.cluster, pod: settings.podName, lease: `${settings.namespace}/${settings.leaseName}`, opsPort: forwarder.opsPort });
    // once: a second signal finds no listener and ends the process the default way, at once.
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    log.info('stopping', { signal });
    await forwarder.stop();
    log.info('stopped');
    process.exit(0);
  } catch (e) {
    log.error('the forwarder failed', errorFields(e));
    process.exit(1);
  }
}

/** This file is the program (the image runs its bundle; `tsx src/forwarder/main.ts`), not a test's import. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  try {
    return script !== undefined && import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) void main();
