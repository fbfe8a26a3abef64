/**
 * Connection reuse for @kubernetes/client-node 1.x, which builds a new https.Agent for every request
 * (KubeConfig.createAgent) and so pays a TCP + TLS handshake per call. Measured on the test control
 * plane: the relocator's ~8 calls per decision took ~190 ms p50 from cordon to delete without reuse.
 * The agent is cached per distinct set of options (server, CA, client certificate), so a renewed
 * credential still gets its own agent; bearer tokens travel in headers and do not affect it.
 * client-node 2.0.1 (evaluated with `npm run bench -- connections`) does not make this patch unnecessary:
 * its agent cache serves only applyToHTTPSOptions, while its generated API clients and Watch build a new
 * undici agent per request (50 connections for 50 Lease requests, 1 with this patch on 1.4), and its
 * Watch aborts a watch that has been quiet for 30 s. Revisit with a release that reuses dispatchers.
 */
import { createHash } from 'node:crypto';
import type { Agent } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

type CreateAgent = (cluster: unknown, options: Record<string, unknown>) => Agent;
const patched = new WeakSet<KubeConfig>();

export function enableKeepAlive(kc: KubeConfig): KubeConfig {
  if (patched.has(kc)) return kc;
  patched.add(kc);
  // createAgent is private in the typings but a plain method at run time; this is its only override.
  const target = kc as unknown as { createAgent: CreateAgent };
  const original = target.createAgent.bind(kc);
  const agents = new Map<string, Agent>();
  target.createAgent = (cluster, options) => {
    const key = createHash('sha256')
      .update(JSON.stringify([(cluster as { server?: string } | null)?.server, ...['ca', 'cert', 'key', 'pfx', 'servername', 'rejectUnauthorized'].map((k) => String(options[k] ?? ''))]))
      .digest('hex');
    let agent = agents.get(key);
    if (!agent) {
      agent = original(cluster, { ...options, keepAlive: true, maxSockets: 16 });
      agents.set(key, agent);
    }
    return agent;
  };
  return kc;
}
