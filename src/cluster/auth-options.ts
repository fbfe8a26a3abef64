/**
 * How we reach the cluster, as settings: a kubeconfig file (CLI, local mode), the pod's service account
 * (forwarder), or an IAM identity turned into an EKS token (Lambdas). Free of client-node, so that the
 * Lambdas can read their settings without bundling it (./eks-access.ts).
 */
import { ConfigError, type Env } from '../config/env.js';
import type { AwsCredentialsProvider } from './eks-token.js';

export type KubeConfigOptions =
  | {
      mode: 'kubeconfig';
      /** A file, or a list of them joined like $KUBECONFIG; default: $KUBECONFIG, then ~/.kube/config. */
      path?: string;
      /** Default: the kubeconfig's current-context. */
      context?: string;
      /** How the caller's user names these settings, for errors (default: KUBE_CONTEXT, KUBECONFIG...). */
      settings?: KubeconfigSettingNames;
    }
  | { mode: 'in-cluster' }
  | EksKubeConfigOptions;

export interface KubeconfigSettingNames {
  /** Where a context is named, e.g. `KUBE_CONTEXT` or `--context NAME`. */
  context: string;
  /** What to do when no kubeconfig is found. */
  kubeconfig: string;
}

/** The names of the environment, as kubeConfigOptionsFromEnv reads it (Lambdas, forwarder). */
export const ENV_SETTING_NAMES: KubeconfigSettingNames = {
  context: 'KUBE_CONTEXT',
  kubeconfig: 'set KUBECONFIG, or KUBE_AUTH=in-cluster or KUBE_AUTH=eks',
};

export interface EksKubeConfigOptions {
  mode: 'eks';
  clusterName: string;
  /** The cluster's API server endpoint, https://... as DescribeCluster returns it. */
  endpoint: string;
  /** Base64 of the cluster CA's PEM, as DescribeCluster's certificateAuthority.data returns it. */
  caData: string;
  /** The region whose STS endpoint signs the token. */
  region: string;
  /** Default: the AWS SDK's Node.js provider chain. */
  credentials?: AwsCredentialsProvider;
  /** Epoch milliseconds, for token renewal; injectable for tests. */
  now?: () => number;
}

/**
 * Picks the auth mode from the environment (Lambda configuration): KUBE_AUTH=eks with EKS_CLUSTER_NAME,
 * EKS_ENDPOINT, EKS_CA_DATA and AWS_REGION (set by Lambda itself); KUBE_AUTH=in-cluster; otherwise a
 * kubeconfig from KUBECONFIG, with KUBE_CONTEXT.
 */
export function kubeConfigOptionsFromEnv(env: Env = process.env): KubeConfigOptions {
  const mode = env.KUBE_AUTH?.trim() || 'kubeconfig';
  switch (mode) {
    case 'eks': {
      const vars = requireVars(env, 'KUBE_AUTH=eks', ['EKS_CLUSTER_NAME', 'EKS_ENDPOINT', 'EKS_CA_DATA', 'AWS_REGION']);
      return {
        mode: 'eks',
        clusterName: vars.EKS_CLUSTER_NAME,
        endpoint: vars.EKS_ENDPOINT,
        caData: vars.EKS_CA_DATA,
        region: vars.AWS_REGION,
      };
    }
    case 'in-cluster':
      return { mode: 'in-cluster' };
    case 'kubeconfig':
      return { mode: 'kubeconfig', path: env.KUBECONFIG || undefined, context: env.KUBE_CONTEXT || undefined };
    default:
      throw new ConfigError(`invalid configuration: KUBE_AUTH must be eks, in-cluster or kubeconfig, got "${mode}"`);
  }
}

/** All of `names` from `env`, or one error naming every one that is missing or empty. */
function requireVars<const N extends string>(env: Env, what: string, names: readonly N[]): Record<N, string> {
  const missing = names.filter((name) => !env[name]?.trim());
  if (missing.length > 0) throw new ConfigError(`invalid configuration: ${what} needs ${missing.join(', ')} (missing or empty)`);
  return Object.fromEntries(names.map((name) => [name, env[name]?.trim()])) as Record<N, string>;
}
