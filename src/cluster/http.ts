/**
 * A minimal JSON client for the Kubernetes API on node:http(s), for the few calls KubernetesCluster makes.
 * It replaces @kubernetes/client-node's generated API classes, which were 1.17 MB of every Lambda bundle
 * (and most of its cold-start time) for about a dozen requests.
 *
 * Authentication and TLS come from a KubeAccess: ./eks-access.ts in the Lambdas, or a client-node KubeConfig
 * (CLI, local mode, forwarder), whose `applyToHTTPSOptions` sets the CA,
 * client certificate and key, the Authorization header (a kubeconfig token, or an authenticator added with
 * `kc.addAuthenticator`, such as the EKS token source of auth.ts), basic auth, and an agent. That agent is
 * a new one per call (no connection reuse: a TCP + TLS handshake every time), so it is replaced by a
 * keep-alive agent cached per distinct TLS material (server, proxy, CA, client certificate, key...): a
 * renewed certificate gets its own agent, while bearer tokens travel in headers and do not affect it.
 */
import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { DEFAULT_USER_AGENT } from './user-agent.js';

/**
 * What a request needs of the cluster's configuration: its server (and proxy), and the TLS material and
 * Authorization header applied to each request. A client-node KubeConfig is one (CLI, local mode,
 * forwarder); ./eks-access.ts is the Lambdas' own, without client-node.
 */
export interface KubeAccess {
  getCurrentCluster(): { readonly server: string; readonly proxyUrl?: string } | null;
  /** Sets TLS options and headers: Authorization, and User-Agent (see ./user-agent.ts). */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

/** Sockets per agent at most; KubernetesCluster's limiter keeps fewer requests than that in flight. */
const MAX_SOCKETS = 16;

/**
 * A refused request: the HTTP status as a numeric `code` (as client-node's ApiException has it, and as
 * `httpStatusOf` reads it), the parsed body (usually a Status) and the response headers (for Retry-After).
 */
export class KubernetesApiError extends Error {
  override readonly name = 'KubernetesApiError';

  constructor(
    readonly code: number,
    readonly body: unknown,
    readonly headers: IncomingHttpHeaders,
    what: string,
  ) {
    const message = (body as { message?: unknown } | null)?.message;
    super(`${what}: HTTP ${code}${typeof message === 'string' && message ? `: ${message}` : ''}`);
  }
}

export type Query = Record<string, string | undefined>;

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Absolute API path, e.g. `/api/v1/nodes`; path segments already encoded (see `segment`). */
  path: string;
  /** Query parameters; undefined values are left out. Each is URL-encoded here. */
  query?: Query;
  /** Sent as JSON. */
  body?: unknown;
  /** Content-Type of the body; PATCH needs the patch type, e.g. application/merge-patch+json. */
  contentType?: string;
}

/** One path segment (a name or namespace), encoded. */
export const segment = (s: string): string => encodeURIComponent(s);

/** Option names that make up the TLS identity of a connection (those KubeConfig may set). */
const TLS_OPTIONS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized'] as const;

export class KubeHttpClient {
  private readonly agents = new Map<string, http.Agent>();

  constructor(private readonly kc: KubeAccess) {
    // Fail at construction, as KubeConfig.makeApiClient did, rather than at the first call.
    if (!kc.getCurrentCluster()) throw new Error('No active cluster!');
  }

  /** The parsed JSON response of a 2xx; throws KubernetesApiError otherwise, or the network error. */
  async request<T>(r: KubeRequest): Promise<T> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('No active cluster!');
    const payload = r.body === undefined ? undefined : JSON.stringify(r.body);
    const opts: https.RequestOptions = {
      method: r.method,
      headers: {
        Accept: 'application/json',
        // The KubeAccess names the component (./labelled.ts, ./eks-access.ts) when it applies its options.
        'User-Agent': DEFAULT_USER_AGENT,
        ...(payload === undefined ? {} : { 'Content-Type': r.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) }),
      },
    };
    // Sets ca/cert/key, rejectUnauthorized, servername, the Authorization (or Impersonate-User) header,
    // our User-Agent (a labelled KubeConfig, EksAccess),
    // `auth` for basic auth, and `agent` (a fresh one, replaced below). Throws for a plain-http server
    // without skipTLSVerify, as client-node always has.
    await this.kc.applyToHTTPSOptions(opts);
    opts.agent = this.agentFor(cluster.server, cluster.proxyUrl, opts);

    const query = Object.entries(r.query ?? {})
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&');
    // The server may carry a path prefix (an authenticating proxy's, for instance).
    const url = `${cluster.server.replace(/\/+$/, '')}${r.path}${query ? `?${query}` : ''}`;
    const what = `${r.method} ${r.path}`;
    const transport = url.startsWith('http:') ? http : https;

    try {
      return await this.send<T>(transport, url, opts, payload, what);
    } catch (e) {
      // A kept-alive socket the server (or a frozen Lambda's network) closed while idle fails on reuse
      // before the request reached the apiserver: resend once on a fresh socket, as Node's http docs
      // advise (request.reusedSocket). Any other failure goes to the caller's retry policy.
      if ((e as { reusedSocket?: boolean }).reusedSocket && (e as { code?: string }).code === 'ECONNRESET') {
        return this.send<T>(transport, url, opts, payload, what);
      }
      throw e;
    }
  }

  private send<T>(transport: typeof http | typeof https, url: string, opts: https.RequestOptions, payload: string | undefined, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let req: http.ClientRequest | undefined = undefined;
      const fail = (e: Error & { code?: unknown }) => {
        // Keeps the network error as `cause` (isRetryableError looks there) and its string code.
        const error = Object.assign(
          new Error(`${what}: ${e.message}`, { cause: e }),
          typeof e.code === 'string' ? { code: e.code } : {},
          { reusedSocket: req?.reusedSocket === true },
        );
        reject(error);
      };
      req = transport.request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', fail);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // Not JSON (a proxy's error page, say): kept as text for the error.
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            if (typeof body === 'string') reject(new Error(`${what}: HTTP ${status} with a body that is not JSON`));
            else resolve(body as T);
          } else {
            reject(new KubernetesApiError(status, body, res.headers, what));
          }
        });
      });
      req.on('error', fail);
      req.end(payload);
    });
  }

  /**
   * One keep-alive agent per distinct TLS material. Through a proxy, the agent KubeConfig built for it
   * (it knows the proxy kinds) is kept and reused instead.
   */
  private agentFor(server: string, proxyUrl: string | undefined, opts: https.RequestOptions): http.Agent {
    const hash = createHash('sha256').update(server).update('\0').update(proxyUrl ?? '');
    for (const name of TLS_OPTIONS) {
      const value = opts[name] as unknown;
      hash.update('\0');
      if (value === undefined) continue;
      hash.update(name).update('=');
      if (Buffer.isBuffer(value) || typeof value === 'string') hash.update(value);
      else hash.update(JSON.stringify(value, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('base64') : v)) ?? '');
    }
    const key = hash.digest('hex');
    let agent = this.agents.get(key);
    if (!agent) {
      if (proxyUrl && opts.agent instanceof http.Agent) agent = opts.agent;
      else if (server.startsWith('http:')) agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
      else {
        const tls: https.AgentOptions = { keepAlive: true, maxSockets: MAX_SOCKETS };
        for (const name of TLS_OPTIONS) if (opts[name] !== undefined) Object.assign(tls, { [name]: opts[name] });
        agent = new https.Agent(tls);
      }
      this.agents.set(key, agent);
    }
    return agent;
  }
}
