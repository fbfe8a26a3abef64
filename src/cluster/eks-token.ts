/**
 * EKS bearer tokens, made the way `aws eks get-token` and aws-iam-authenticator make them: the API server
 * hands the token to the EKS authenticator, which calls the presigned STS GetCallerIdentity URL inside it
 * and maps the IAM identity it gets back to a Kubernetes user. Nothing here talks to AWS.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/** The fields of the AWS SDK's `AwsCredentialIdentity` that signing needs. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** Structurally an `AwsCredentialIdentityProvider`, so any AWS SDK credential provider fits. */
export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

const TOKEN_PREFIX = 'k8s-aws-v1.';
/** Binds the token to one cluster: the authenticator rejects URLs that did not sign this header. */
const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/**
 * What aws-iam-authenticator and `aws eks get-token` put in the URL, for old authenticators that check it.
 * It is not the token's lifetime: STS honours the signature, and the authenticator the token, for 15
 * minutes after X-Amz-Date.
 */
const PRESIGNED_URL_EXPIRES_S = 60;
/** Renew a minute before the authenticator's 15 minutes run out, so no request carries a dying token. */
export const EKS_TOKEN_RENEW_AFTER_MS = 14 * 60_000;

/** The regional STS endpoint (the global one is legacy and sits in us-east-1 only). */
export function stsHostname(region: string): string {
  // China regions are a separate partition with their own DNS suffix.
  return `sts.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

export interface EksTokenRequest {
  clusterName: string;
  region: string;
  credentials: AwsCredentials;
  signingDate: Date;
}

/** One token, signed at `signingDate`. Deterministic for fixed inputs. */
export async function createEksToken({ clusterName, region, credentials, signingDate }: EksTokenRequest): Promise<string> {
  const hostname = stsHostname(region);
  const signer = new SignatureV4({ service: 'sts', region, credentials, sha256: Sha256 });
  const presigned = await signer.presign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      // Both are signed: `host` as SigV4 requires, the cluster id so the token is only good for this cluster.
      headers: { host: hostname, [CLUSTER_ID_HEADER]: clusterName },
    },
    { signingDate, expiresIn: PRESIGNED_URL_EXPIRES_S },
  );
  const query = Object.entries(presigned.query ?? {})
    .flatMap(([name, value]) => (typeof value === 'string' ? [`${uriEscape(name)}=${uriEscape(value)}`] : []))
    .join('&');
  // Node's base64url has no padding, as the authenticator expects.
  return TOKEN_PREFIX + Buffer.from(`https://${hostname}/?${query}`).toString('base64url');
}

/** RFC 3986 escaping, as SigV4 canonicalises the query (encodeURIComponent leaves !'()* alone). */
function uriEscape(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface EksTokenSourceOptions {
  clusterName: string;
  region: string;
  /** Default: the AWS SDK's Node.js provider chain (env, web identity, SSO, ini, container/instance metadata). */
  credentials?: AwsCredentialsProvider;
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
}

/** A current token for one cluster: cached, renewed before it expires, one renewal at a time. */
export class EksTokenSource {
  private readonly now: () => number;
  private credentials: AwsCredentialsProvider | undefined;
  private current: { token: string; renewAt: number } | undefined;
  private renewal: Promise<string> | undefined;

  constructor(private readonly options: EksTokenSourceOptions) {
    this.now = options.now ?? Date.now;
    this.credentials = options.credentials;
  }

  getToken(): Promise<string> {
    if (this.current && this.now() < this.current.renewAt) return Promise.resolve(this.current.token);
    // Concurrent callers share one renewal; a failed one is not cached, so the next call tries again.
    this.renewal ??= this.renew().finally(() => {
      this.renewal = undefined;
    });
    return this.renewal;
  }

  private async renew(): Promise<string> {
    const { clusterName, region } = this.options;
    try {
      this.credentials ??= await defaultCredentialsProvider();
      const credentials = await this.credentials();
      const signedAt = this.now();
      const token = await createEksToken({ clusterName, region, credentials, signingDate: new Date(signedAt) });
      // STS rejects a URL signed with temporary credentials once they expire, whatever the token's age.
      const renewAt = Math.min(signedAt + EKS_TOKEN_RENEW_AFTER_MS, credentials.expiration?.getTime() ?? Infinity);
      this.current = { token, renewAt };
      return token;
    } catch (cause) {
      // The cause comes from the credential chain or the signer, neither of which puts secrets in messages.
      throw new Error(`could not create an EKS token for cluster ${clusterName} (${region})`, { cause });
    }
  }
}

/** Imported on first use so that kubeconfig and in-cluster modes never load the AWS credential chain. */
async function defaultCredentialsProvider(): Promise<AwsCredentialsProvider> {
  const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
  return defaultProvider();
}
