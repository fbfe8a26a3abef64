/**
 * The forwarder's operability endpoints, for the kubelet and Prometheus:
 *   /healthz  liveness: answered by the event loop itself, so a wedged loop fails the probe's timeout;
 *   /readyz   readiness: the caller's check (watches synced when leading; a standby is ready too, or a
 *             rollout and the PodDisruptionBudget would wait on it forever);
 *   /metrics  Prometheus text from a Registry of our own, never prom-client's global one.
 * Metric labels are bounded sets (error codes); never a node or pod name, whose number grows with the cluster.
 * The publisher's numbers are its own (EventBridgePublisher.stats()), read at each scrape.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { PublisherStats } from './eventbridge-publisher.js';

const PREFIX = 'affinity_relocator_forwarder_';

export class ForwarderMetrics {
  readonly registry = new Registry();
  private readonly leader: Gauge;
  private readonly restarts: Counter;

  /** `stats` is read at every scrape, so the publisher keeps the only copy of its numbers. */
  constructor(stats: () => PublisherStats) {
    const registers = [this.registry];
    this.leader = new Gauge({ name: `${PREFIX}leader`, help: '1 while this replica holds the lease and watches, else 0', registers });
    this.leader.set(0);
    this.restarts = new Counter({ name: `${PREFIX}watch_restarts_total`, help: 'Watches restarted (with a relist) after an error', registers });
    // The publisher's running totals, copied at each scrape (prom-client counters have no set(): reset, add).
    const total = (name: string, help: string, value: (s: PublisherStats) => number) =>
      new Counter({
        name: `${PREFIX}${name}`,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value(stats()));
        },
      });
    total('events_observed_total', 'Transitions the watcher detected and handed to the publisher', (s) => s.observed);
    total('events_emitted_total', 'Events EventBridge acknowledged', (s) => s.emitted);
    total('events_coalesced_total', 'Queued events replaced by a newer one about the same object before delivery', (s) => s.coalesced);
    total('events_dropped_total', 'Events given up: refused by EventBridge for good, or too large', (s) => s.dropped);
    new Counter({
      name: `${PREFIX}publish_failures_total`,
      help: 'Failed PutEvents calls (scope "call") and refused entries (scope "entry"), by error code',
      labelNames: ['scope', 'code'],
      registers,
      collect() {
        this.reset();
        const s = stats();
        for (const [code, n] of Object.entries(s.callFailures)) this.inc({ scope: 'call', code }, n);
        for (const [code, n] of Object.entries(s.entryFailures)) this.inc({ scope: 'entry', code }, n);
      },
    });
    const gauge = (name: string, help: string, value: (s: PublisherStats) => number) =>
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        registers,
        collect() {
          this.set(value(stats()));
        },
      });
    gauge('queue_depth', 'Events waiting to be sent (at most one per object)', (s) => s.depth);
    gauge('in_flight', 'Events in PutEvents calls not answered yet', (s) => s.inFlight);
    gauge('oldest_undelivered_age_seconds', 'Age of the oldest event not delivered yet: how stale the bus may be', (s) => s.oldestAgeMs / 1000);
    // Process metrics, among them the event loop's delay (nodejs_eventloop_lag_*): responsiveness, measured.
    collectDefaultMetrics({ register: this.registry });
  }

  setLeader(leading: boolean): void {
    this.leader.set(leading ? 1 : 0);
  }

  watchRestarted(): void {
    this.restarts.inc();
  }
}

export interface OpsServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  /** Default: every interface, where the kubelet's probes arrive (the pod IP). */
  host?: string;
  registry: Registry;
  /** Why the process is not ready, or undefined when it is. */
  notReady: () => string | undefined;
}

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startOpsServer(o: OpsServerOptions): Promise<OpsServer> {
  const server = createServer((req, res) => {
    respond(req, o).then(
      (r) => send(res, r),
      (e: unknown) => send(res, { status: 500, body: `${e instanceof Error ? e.message : String(e)}\n` }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        // Prometheus and the kubelet keep connections alive; close() alone would wait for them to idle out.
        server.closeAllConnections();
      }),
  };
}

interface Reply {
  status: number;
  body: string;
  contentType?: string;
}

async function respond(req: IncomingMessage, o: OpsServerOptions): Promise<Reply> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return { status: 405, body: 'method not allowed\n' };
  switch (new URL(req.url ?? '/', 'http://localhost').pathname) {
    case '/healthz':
      return { status: 200, body: 'ok\n' };
    case '/readyz': {
      const why = o.notReady();
      return why === undefined ? { status: 200, body: 'ok\n' } : { status: 503, body: `not ready: ${why}\n` };
    }
    case '/metrics':
      return { status: 200, body: await o.registry.metrics(), contentType: o.registry.contentType };
    default:
      return { status: 404, body: 'not found\n' };
  }
}

function send(res: ServerResponse, r: Reply): void {
  res.writeHead(r.status, { 'content-type': r.contentType ?? 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(r.body);
}
