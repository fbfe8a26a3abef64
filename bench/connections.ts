/**
 * What the apiserver connections cost the forwarder and the relocator, on the real control plane through a
 * loopback TCP proxy that counts connections: TCP connections per request of the forwarder's Lease client
 * (client-node's generated API, on the forwarder's KubeConfig: keep-alive patch and User-Agent view) and of
 * ./src/cluster/http.ts (the relocator's reads); and how long a watch on a quiet resource (no change, only
 * bookmarks) stays open, capped at QUIET_WATCH_SECONDS (default 45): the forwarder's assistant-pod watch is
 * often that quiet. This is how client-node 2.0.1 was judged (not adopted; see README): a new undici agent
 * per request (50 connections for 50 Lease requests, vs 1), and a 30 s inactivity timeout on Watch.
 */
import net from 'node:net';
import { CoordinationV1Api, Watch } from '@kubernetes/client-node';
import { KubeHttpClient } from '../src/cluster/http.js';
import { enableKeepAlive } from '../src/cluster/keep-alive.js';
import { withUserAgent } from '../src/cluster/labelled.js';
import { ControlPlane } from '../src/local-cluster/controlplane.js';
import { type Bench, type Result, summarize } from './lib.js';

const REQUESTS = 50;

export const connections: Bench = {
  name: 'connections',
  async run() {
    const cp = await ControlPlane.start({ kubelets: false });
    let opened = 0;
    const upstream = Number(new URL(cp.server).port);
    const proxy = net.createServer((client) => {
      opened++;
      const server = net.connect(upstream, '127.0.0.1');
      client.pipe(server).pipe(client);
      client.on('error', () => server.destroy());
      server.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      // The apiserver's certificate names 127.0.0.1, so TLS passes through the proxy unchanged.
      const kc = cp.kubeConfig('admin');
      kc.clusters = kc.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${(proxy.address() as net.AddressInfo).port}` }));
      const forwarderKc = withUserAgent(enableKeepAlive(kc), 'forwarder');
      const results: Result[] = [];
      const perRequest = async (name: string, call: () => Promise<unknown>) => {
        opened = 0;
        for (let i = 0; i < REQUESTS; i++) await call();
        results.push({ ...summarize(name, `connections / ${REQUESTS} requests`, [opened]), n: REQUESTS });
      };
      const leases = forwarderKc.makeApiClient(CoordinationV1Api);
      await perRequest('lease client (client-node API)', () => leases.listNamespacedLease({ namespace: 'kube-system' }));
      const http = new KubeHttpClient(forwarderKc);
      await perRequest('relocator reads (src/cluster/http.ts)', () => http.request({ method: 'GET', path: '/api/v1/namespaces/kube-system' }));

      const capMs = Number(process.env.QUIET_WATCH_SECONDS ?? 45) * 1000;
      const t0 = performance.now();
      let abort: AbortController | undefined;
      const ended = new Promise<void>((resolve) => {
        void new Watch(forwarderKc).watch('/api/v1/persistentvolumes', { allowWatchBookmarks: true }, () => undefined, () => resolve()).then((ac) => (abort = ac));
      });
      await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, capMs))]);
      abort?.abort();
      results.push(summarize('quiet watch open (capped)', 's', [Math.round(performance.now() - t0) / 1000]));
      return results;
    } finally {
      proxy.close();
      await cp.stop();
    }
  },
};
