/**
 * The forwarder's operability server on a loopback port: what the kubelet's probes and a Prometheus
 * scrape see.
 */
import { request } from 'node:http';
import { register as globalRegistry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PublisherStats } from '../../../src/forwarder/eventbridge-publisher.js';
import { ForwarderMetrics, type OpsServer, startOpsServer } from '../../../src/forwarder/ops-server.js';

const NOTHING_YET: PublisherStats = {
  depth: 0,
  inFlight: 0,
  oldestAgeMs: 0,
  observed: 0,
  emitted: 0,
  coalesced: 0,
  dropped: 0,
  retried: 0,
  calls: 0,
  callFailures: {},
  entryFailures: {},
};

let stats: PublisherStats;
let notReady: string | undefined;
let metrics: ForwarderMetrics;
let server: OpsServer;

beforeEach(async () => {
  stats = NOTHING_YET;
  notReady = undefined;
  metrics = new ForwarderMetrics(() => stats);
  server = await startOpsServer({ port: 0, host: '127.0.0.1', registry: metrics.registry, notReady: () => notReady });
});

afterEach(async () => {
  await server.close();
});

interface Response {
  status: number;
  contentType: string | undefined;
  body: string;
}

function get(path: string, method = 'GET'): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample line of the Prometheus text, e.g. `metric{code="X"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('the liveness endpoint', () => {
  it('answers 200 while the event loop turns', async () => {
    expect(await get('/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
  });
});

describe('the readiness endpoint', () => {
  it('answers 200 when the readiness check has no objection', async () => {
    expect(await get('/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it('answers 503 with the reason while the check objects, and 200 again once it does not', async () => {
    notReady = 'watches not synced yet';
    expect(await get('/readyz')).toMatchObject({ status: 503, body: 'not ready: watches not synced yet\n' });
    notReady = undefined;
    expect((await get('/readyz')).status).toBe(200);
  });
});

describe('the metrics endpoint', () => {
  it('serves Prometheus text with the leader status and watch restarts', async () => {
    let text = (await get('/metrics')).body;
    expect(sample(text, 'affinity_relocator_forwarder_leader')).toBe(0);
    metrics.setLeader(true);
    metrics.watchRestarted();
    const res = await get('/metrics');
    expect(res.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    text = res.body;
    expect(sample(text, 'affinity_relocator_forwarder_leader')).toBe(1);
    expect(sample(text, 'affinity_relocator_forwarder_watch_restarts_total')).toBe(1);
  });

  it("reports the publisher's current numbers at every scrape", async () => {
    stats = {
      ...NOTHING_YET,
      observed: 20,
      emitted: 7,
      coalesced: 2,
      dropped: 1,
      depth: 5,
      inFlight: 3,
      oldestAgeMs: 1500,
      callFailures: { ThrottlingException: 4, ECONNREFUSED: 2 },
      entryFailures: { InternalFailure: 1 },
    };
    let text = (await get('/metrics')).body;
    expect(sample(text, 'affinity_relocator_forwarder_events_observed_total')).toBe(20);
    expect(sample(text, 'affinity_relocator_forwarder_events_emitted_total')).toBe(7);
    expect(sample(text, 'affinity_relocator_forwarder_events_coalesced_total')).toBe(2);
    expect(sample(text, 'affinity_relocator_forwarder_events_dropped_total')).toBe(1);
    expect(sample(text, 'affinity_relocator_forwarder_publish_failures_total{scope="call",code="ThrottlingException"}')).toBe(4);
    expect(sample(text, 'affinity_relocator_forwarder_publish_failures_total{scope="call",code="ECONNREFUSED"}')).toBe(2);
    expect(sample(text, 'affinity_relocator_forwarder_publish_failures_total{scope="entry",code="InternalFailure"}')).toBe(1);
    expect(sample(text, 'affinity_relocator_forwarder_queue_depth')).toBe(5);
    expect(sample(text, 'affinity_relocator_forwarder_in_flight')).toBe(3);
    expect(sample(text, 'affinity_relocator_forwarder_oldest_undelivered_age_seconds')).toBe(1.5);

    stats = { ...stats, emitted: 15, depth: 0, inFlight: 0, oldestAgeMs: 0 };
    text = (await get('/metrics')).body;
    expect(sample(text, 'affinity_relocator_forwarder_events_emitted_total')).toBe(15);
    expect(sample(text, 'affinity_relocator_forwarder_queue_depth')).toBe(0);
  });

  it('includes process metrics such as the event loop delay', async () => {
    expect((await get('/metrics')).body).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('labels nothing with a node or pod name', async () => {
    stats = { ...NOTHING_YET, callFailures: { ThrottlingException: 1 }, entryFailures: { MalformedDetail: 1 } };
    metrics.setLeader(true);
    const text = (await get('/metrics')).body;
    const labels = [...text.matchAll(/^affinity_relocator_forwarder_\w+\{([^}]*)\}/gm)].flatMap((m) => m[1]!.split(',').map((kv) => kv.split('=')[0]));
    expect(new Set(labels)).toEqual(new Set(['scope', 'code']));
  });

  it("leaves prom-client's global registry alone", async () => {
    await get('/metrics');
    expect(globalRegistry.getMetricsAsArray().filter((m) => m.name.startsWith('affinity_relocator_'))).toEqual([]);
  });
});

describe('the server', () => {
  it('answers 404 elsewhere and 405 to anything but GET and HEAD', async () => {
    expect((await get('/')).status).toBe(404);
    expect((await get('/healthz', 'POST')).status).toBe(405);
    expect(await get('/healthz', 'HEAD')).toMatchObject({ status: 200, body: '' });
  });

  it('closes at once, kept-alive connections included, and frees its port', async () => {
    const port = server.port;
    await get('/healthz');
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    const fresh = new Promise((resolve, reject) => request({ host: '127.0.0.1', port, path: '/healthz', agent: false }, resolve).on('error', reject).end());
    await expect(fresh).rejects.toThrow(/ECONNREFUSED/);
    server = await startOpsServer({ port, host: '127.0.0.1', registry: metrics.registry, notReady: () => undefined });
    expect(server.port).toBe(port);
  });
});
