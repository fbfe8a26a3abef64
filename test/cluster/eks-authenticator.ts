/**
 * The EKS authenticator on loopback: a kube-apiserver authentication token webhook (TokenReview,
 * `--authentication-token-webhook-config-file`) that takes the `k8s-aws-v1.` bearer tokens the Lambdas make
 * (src/cluster/eks-token.ts) and maps them to the Kubernetes user and groups an EKS access entry gives the IAM
 * role, as EKS does it.
 *
 * It is the one stand-in of the AWS-shaped path, and why: in EKS the apiserver hands the token to
 * aws-iam-authenticator, which checks the presigned URL's form and then calls it, i.e. asks AWS STS
 * GetCallerIdentity who signed it. STS cannot run here. So the checks aws-iam-authenticator makes are made
 * as it makes them (pkg/token/token.go Verify: prefix, base64url, https, an STS host, path /, only the
 * query parameters it allows, Action=GetCallerIdentity, the x-k8s-aws-id header signed, X-Amz-Expires within
 * 0..900 s, X-Amz-Date not older than 15 minutes), and STS's part is done by recomputing the SigV4 signature
 * with the secret of the access key named in the URL and this cluster's id as the x-k8s-aws-id header, as STS
 * would see the request the authenticator sends: a token signed for another cluster, with another secret
 * or tampered with fails. The identity STS would answer (the assumed-role ARN) is the one registered with
 * the access key; the access entry of its role gives the groups, and the username is EKS's default for a
 * role, `arn:aws:sts::<account>:assumed-role/<role>/{{SessionName}}`.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';

export interface EksPrincipal {
  /** The credentials the Lambda's environment has (what STS would know them by). */
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** What STS GetCallerIdentity answers for them: arn:aws:sts::<account>:assumed-role/<role>/<session>. */
  assumedRoleArn: string;
  /** The access entry's KubernetesGroups for the role. */
  groups: string[];
}

export interface EksUser {
  username: string;
  uid: string;
  groups: string[];
  extra: Record<string, string[]>;
}

const TOKEN_PREFIX = 'k8s-aws-v1.';
const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** aws-iam-authenticator's host check (partition suffixes .cn included). */
const STS_HOST = /^sts(\.[a-z1-9-]+)?\.amazonaws\.com(\.cn)?$/;
const ALLOWED_PARAMETERS = new Set([
  'action',
  'version',
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-security-token',
  'x-amz-signature',
  'x-amz-signedheaders',
]);
const TOKEN_LIFETIME_MS = 15 * 60_000;

export class TokenRejected extends Error {
  override readonly name = 'TokenRejected';
}

/** Verifies one token for `clusterId`; returns the Kubernetes user, or throws TokenRejected saying why. */
export async function verifyEksToken(token: string, clusterId: string, principals: readonly EksPrincipal[], now = Date.now()): Promise<EksUser> {
  if (!token.startsWith(TOKEN_PREFIX)) throw new TokenRejected(`token is missing expected "${TOKEN_PREFIX}" prefix`);
  const decoded = Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8');
  if (!URL.canParse(decoded)) throw new TokenRejected('the token is not a URL');
  const url = new URL(decoded);
  if (url.protocol !== 'https:') throw new TokenRejected(`unexpected scheme ${url.protocol}`);
  if (!STS_HOST.test(url.host)) throw new TokenRejected(`unexpected hostname ${url.host}`);
  if (url.pathname !== '/') throw new TokenRejected(`unexpected path ${url.pathname}`);
  const q = new Map<string, string>();
  for (const [key, value] of url.searchParams) {
    const k = key.toLowerCase();
    if (!ALLOWED_PARAMETERS.has(k)) throw new TokenRejected(`non-whitelisted query parameter ${key}`);
    if (q.has(k)) throw new TokenRejected(`duplicate query parameter ${key}`);
    q.set(k, value);
  }
  if (q.get('action') !== 'GetCallerIdentity') throw new TokenRejected('unexpected action parameter in pre-signed URL');
  if (!(q.get('x-amz-signedheaders') ?? '').split(';').includes(CLUSTER_ID_HEADER)) {
    throw new TokenRejected(`client did not sign the ${CLUSTER_ID_HEADER} header in the pre-signed URL`);
  }
  const expires = Number(q.get('x-amz-expires'));
  if (!Number.isInteger(expires) || expires < 0 || expires > 900) throw new TokenRejected(`invalid X-Amz-Expires parameter in pre-signed URL: ${q.get('x-amz-expires')}`);
  const signedAt = parseAmzDate(q.get('x-amz-date') ?? '');
  if (signedAt === undefined) throw new TokenRejected('error parsing X-Amz-Date parameter');
  if (now > signedAt.getTime() + TOKEN_LIFETIME_MS) throw new TokenRejected('X-Amz-Date parameter is expired (15 minute expiration)');

  // STS's part: who signed it, and was it signed for this cluster?
  const [accessKeyId, , region, service] = (q.get('x-amz-credential') ?? '').split('/');
  const principal = principals.find((p) => p.accessKeyId === accessKeyId);
  if (!principal || !region || service !== 'sts') throw new TokenRejected('STS: The security token included in the request is invalid');
  if ((q.get('x-amz-security-token') ?? undefined) !== principal.sessionToken) throw new TokenRejected('STS: The security token included in the request is invalid');
  const signer = new SignatureV4({ service: 'sts', region, credentials: principal, sha256: Sha256 });
  const expected = await signer.presign(
    { method: 'GET', protocol: 'https:', hostname: url.host, path: '/', query: { Action: 'GetCallerIdentity', Version: q.get('version') ?? '' }, headers: { host: url.host, [CLUSTER_ID_HEADER]: clusterId } },
    { signingDate: signedAt, expiresIn: expires },
  );
  const want = Buffer.from(String(expected.query?.['X-Amz-Signature'] ?? ''));
  const got = Buffer.from(q.get('x-amz-signature') ?? '');
  if (want.length !== got.length || !timingSafeEqual(want, got)) {
    throw new TokenRejected('STS: The request signature we calculated does not match the signature you provided');
  }
  return userFor(principal);
}

/** EKS's mapping of an assumed role through its access entry (no custom username: EKS's default). */
function userFor(p: EksPrincipal): EksUser {
  const m = /^arn:(aws[\w-]*):sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/.exec(p.assumedRoleArn);
  if (!m) throw new Error(`not an assumed-role ARN: ${p.assumedRoleArn}`);
  const [, partition, account, role, session] = m as unknown as [string, string, string, string, string];
  return {
    username: p.assumedRoleArn,
    uid: `aws-iam-authenticator:${account}:${p.accessKeyId}`,
    groups: [...p.groups],
    extra: {
      accessKeyId: [p.accessKeyId],
      arn: [p.assumedRoleArn],
      canonicalArn: [`arn:${partition}:iam::${account}:role/${role}`],
      sessionName: [session],
    },
  };
}

/** 20060102T150405Z */
function parseAmzDate(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se] = m.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, se));
}

/** The webhook server: POST a TokenReview, get it back with its status. Counts what it answered. */
export class EksAuthenticator {
  readonly reviews = { authenticated: 0, rejected: [] as string[] };

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(o: { clusterId: string; principals: EksPrincipal[] }): Promise<EksAuthenticator> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const a = new EksAuthenticator(server, (server.address() as AddressInfo).port);
    server.on('request', (req, res) => {
      void a.review(req, o).then(
        (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
        (e: unknown) => res.writeHead(400, { 'content-type': 'text/plain' }).end(e instanceof Error ? e.message : String(e)),
      );
    });
    return a;
  }

  /** The webhook's URL, for ControlPlaneOptions.tokenWebhook. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/authenticate`;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async review(req: IncomingMessage, o: { clusterId: string; principals: EksPrincipal[] }): Promise<object> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { apiVersion?: string; kind?: string; spec?: { token?: string; audiences?: string[] } };
    if (review.kind !== 'TokenReview' || typeof review.spec?.token !== 'string') throw new Error('expected a TokenReview with spec.token');
    const answer = (status: object) => ({ apiVersion: review.apiVersion, kind: 'TokenReview', status });
    try {
      const user = await verifyEksToken(review.spec.token, o.clusterId, o.principals);
      this.reviews.authenticated++;
      return answer({ authenticated: true, user, audiences: review.spec.audiences });
    } catch (e) {
      if (!(e instanceof TokenRejected)) throw e;
      this.reviews.rejected.push(e.message);
      return answer({ authenticated: false, error: e.message });
    }
  }
}
