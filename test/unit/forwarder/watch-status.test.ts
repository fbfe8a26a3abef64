/**
 * A watch's ERROR event: decoded into an error that names the Status's code and reason (watch-status.ts),
 * and acted on by the slim informer: 410 relists, anything else is reported and the watch restarted after a
 * backoff. The informer runs against a loopback server that speaks the watch wire format (one JSON event per
 * line), as the informer's own requests cannot be made to fail so on a real API server; the ERROR it sends is
 * the one a real kube-apiserver sends (test/integration/watch-errors.test.ts provokes it).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { httpStatusOf } from '../../../src/cluster/retry.js';
import { type ObjectMeta, SlimInformer } from '../../../src/forwarder/slim-informer.js';
import { WatchStatusError, watchStatusError } from '../../../src/forwarder/watch-status.js';

const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code, reason, message });

/** As kube-apiserver v1.36 ends a watch-list request for a resourceVersion it has not reached. */
const TOO_LARGE_RV = {
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: 'Timeout: Too large resource version: 999999999, current: 252',
  reason: 'Timeout',
  details: { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 },
  code: 504,
};

describe('an ERROR event of a watch', () => {
  it('becomes an error naming the path, code, reason and message of its Status, read by httpStatusOf as the HTTP errors are', () => {
    const e = watchStatusError('/api/v1/nodes', status(500, 'InternalError', 'an error on the server ("unable to decode an event from the watch stream") has prevented the request from succeeding'));

    expect(e).toBeInstanceOf(WatchStatusError);
    expect(e).toMatchObject({ statusCode: 500, reason: 'InternalError', path: '/api/v1/nodes' });
    expect(e.message).toBe(
      'watch of /api/v1/nodes ended with an ERROR event: 500 InternalError: an error on the server ("unable to decode an event from the watch stream") has prevented the request from succeeding',
    );
    expect(httpStatusOf(e)).toBe(500);
    expect(httpStatusOf(watchStatusError('/api/v1/pods', status(410, 'Expired', 'too old resource version: 1 (2275)')))).toBe(410);
  });

  it.each([
    ['a string', 'boom'],
    ['null', null],
    ['an object of another kind', { kind: 'Node', metadata: { name: 'worker-1' } }],
    ['a Status whose code is not a number', { kind: 'Status', code: '500' }],
  ])('is still an error, without a code, when its object is %s', (_what, object) => {
    const e = watchStatusError('/api/v1/nodes', object);

    expect(e.statusCode).toBeUndefined();
    expect(httpStatusOf(e)).toBeUndefined();
    expect(e.message).toMatch(/^watch of \/api\/v1\/nodes ended with an ERROR event: no code: not a Status: /);
  });

  it('keeps a long message to a log line', () => {
    const e = watchStatusError('/api/v1/nodes', status(500, 'InternalError', 'x'.repeat(10_000)));

    expect(e.message.length).toBeLessThan(400);
  });
});

/** Serves one list of nodes and answers each watch request with the next scripted stream. */
class WatchServer {
  readonly requests: string[] = [];
  private readonly server = http.createServer((req, res) => this.answer(req, res));

  constructor(private readonly watches: object[][]) {}

  async start(): Promise<KubeConfig> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'loopback', server: `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'nobody' }],
      contexts: [{ name: 'loopback', cluster: 'loopback', user: 'nobody' }],
      currentContext: 'loopback',
    });
    return kc;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const watching = url.searchParams.get('watch') === 'true';
    this.requests.push(watching ? `watch from ${url.searchParams.get('resourceVersion')}` : 'list');
    res.writeHead(200, { 'content-type': 'application/json' });
    if (!watching) {
      res.end(JSON.stringify({ kind: 'NodeList', metadata: { resourceVersion: '10' }, items: [aNode('worker-1', '10')] }));
      return;
    }
    const events = this.watches.shift();
    // No script left: a watch that stays open until the informer stops.
    if (!events) return void res.write('');
    res.end(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
  }
}

const aNode = (name: string, resourceVersion: string) => ({ kind: 'Node', metadata: { name, uid: `uid-${name}`, resourceVersion } });

let server: WatchServer | undefined;
let informer: SlimInformer<ObjectMeta> | undefined;

afterEach(async () => {
  await informer?.stop();
  await server?.close();
  informer = server = undefined;
});

async function informerOn(watches: object[][], errors: unknown[], upserts: string[]): Promise<SlimInformer<ObjectMeta>> {
  server = new WatchServer(watches);
  const kc = await server.start();
  informer = new SlimInformer<ObjectMeta>({
    kc,
    path: '/api/v1/nodes',
    slim: (raw) => raw as ObjectMeta,
    onUpsert: (o) => upserts.push(`${o.metadata?.name}@${o.metadata?.resourceVersion}`),
    onDelete: () => undefined,
    onError: (e) => errors.push(e),
    // The shortest backoff: the first wait is drawn from [0, 1 s), here 0.
    random: () => 0,
  });
  await informer.start();
  return informer;
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('the slim informer, told by an ERROR event that its watch ended', () => {
  it('reports a Status other than 410 with its code and reason, and watches again from where it was, without a relist', async () => {
    const errors: unknown[] = [];
    const upserts: string[] = [];
    const i = await informerOn(
      [[{ type: 'MODIFIED', object: aNode('worker-1', '11') }, { type: 'ERROR', object: TOO_LARGE_RV }]],
      errors,
      upserts,
    );

    await until('a second watch', () => server!.requests.length === 3);
    expect(server!.requests).toEqual(['list', 'watch from 10', 'watch from 11']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ statusCode: 504, reason: 'Timeout' });
    expect(String(errors[0])).toMatch(/504 Timeout: Timeout: Too large resource version/);
    expect(i.counters).toEqual({ lists: 1, failures: 1 });
    expect(upserts).toEqual(['worker-1@10', 'worker-1@11']);
  });

  it('relists on 410 without reporting an error', async () => {
    const errors: unknown[] = [];
    const i = await informerOn([[{ type: 'ERROR', object: status(410, 'Expired', 'too old resource version: 10 (2275)') }]], errors, []);

    await until('a watch after the relist', () => server!.requests.length === 4);
    expect(server!.requests).toEqual(['list', 'watch from 10', 'list', 'watch from 10']);
    expect(errors).toEqual([]);
    expect(i.counters).toEqual({ lists: 2, failures: 0 });
  });
});
