/**
 * How the Lambdas reach an EKS cluster: its endpoint and CA (serverless.yml parameters) and a bearer token
 * presigned from the function's IAM role (./eks-token.ts), renewed before it expires. A KubeAccess of its
 * own rather than a client-node KubeConfig: the Lambdas never read a kubeconfig, and KubeConfig brings
 * js-yaml, socks, ip-address, jsonpath-plus, node-fetch and openid-client into every bundle (about a quarter
 * of it, all compiled at every cold start) for nothing.
 */
import type https from 'node:https';
import { ConfigError } from '../config/env.js';
import type { EksKubeConfigOptions } from './auth-options.js';
import type { KubeAccess } from './http.js';
import { userAgent } from './user-agent.js';

/** Only the functions reach the cluster this way. */
const LAMBDA_USER_AGENT = userAgent('lambda');

export class EksAccess implements KubeAccess {
  private readonly ca: string;
  private readonly cluster: { server: string };

  constructor(
    endpoint: string,
    caData: string,
    private readonly tokens: { getToken(): Promise<string> },
  ) {
    this.ca = Buffer.from(caData, 'base64').toString('utf8');
    this.cluster = { server: endpoint };
  }

  getCurrentCluster(): { server: string } {
    return this.cluster;
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    opts.ca = this.ca;
    opts.rejectUnauthorized = true;
    opts.headers = { ...opts.headers, Authorization: `Bearer ${await this.tokens.getToken()}`, 'User-Agent': LAMBDA_USER_AGENT };
  }
}

/** The EKS cluster of `options`, with tokens from the AWS credentials (default: the SDK's provider chain). */
export async function createEksAccess(options: EksKubeConfigOptions): Promise<EksAccess> {
  const tokens = await eksTokenSource(options);
  return new EksAccess(options.endpoint, options.caData, tokens);
}

/**
 * The one way to an EKS token, for the Lambdas' EksAccess and for a client-node KubeConfig (./auth.ts):
 * the settings checked, then tokens presigned from the AWS credentials and renewed before they expire.
 * eks-token.ts (the SigV4 signer) is loaded only when a token is needed.
 */
export async function eksTokenSource(options: EksKubeConfigOptions): Promise<{ getToken(): Promise<string> }> {
  const { clusterName, region } = validEks(options);
  const { EksTokenSource } = await import('./eks-token.js');
  return new EksTokenSource({ clusterName, region, credentials: options.credentials, now: options.now });
}

export function validEks(options: EksKubeConfigOptions): EksKubeConfigOptions {
  const problems: string[] = [];
  if (!options.clusterName.trim()) problems.push('the cluster name is empty');
  if (!options.region.trim()) problems.push('the region is empty');
  if (!URL.canParse(options.endpoint) || new URL(options.endpoint).protocol !== 'https:') {
    problems.push(`the endpoint is not an https URL: "${options.endpoint}"`);
  }
  if (!Buffer.from(options.caData, 'base64').toString('latin1').includes('-----BEGIN CERTIFICATE-----')) {
    problems.push('the CA data is not base64 of a PEM certificate');
  }
  if (problems.length > 0) throw new ConfigError(`invalid EKS cluster settings: ${problems.join('; ')}`);
  return options;
}
