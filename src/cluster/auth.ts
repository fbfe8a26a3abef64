/**
 * Builds the client-node KubeConfig for the way we reach the cluster: a kubeconfig file (CLI, local mode),
 * the pod's service account (forwarder), or an IAM identity turned into an EKS token (Lambdas).
 */
import { delimiter } from 'node:path';
import { KubeConfig, type User } from '@kubernetes/client-node';
import { ENV_SETTING_NAMES, type EksKubeConfigOptions, type KubeConfigOptions, type KubeconfigSettingNames } from './auth-options.js';
import { eksTokenSource } from './eks-access.js';

export { type EksKubeConfigOptions, type KubeConfigOptions, type KubeconfigSettingNames, kubeConfigOptionsFromEnv } from './auth-options.js';

export async function createKubeConfig(options: KubeConfigOptions): Promise<KubeConfig> {
  const mode = options.mode;
  switch (mode) {
    case 'kubeconfig':
      return fromKubeconfigFiles(options.path, options.context, options.settings ?? ENV_SETTING_NAMES);
    case 'in-cluster':
      return fromServiceAccount();
    case 'eks':
      return forEks(options);
    default:
      throw new Error(`unknown Kubernetes auth mode "${mode satisfies never}"`);
  }
}

function fromKubeconfigFiles(path: string | undefined, context: string | undefined, settings: KubeconfigSettingNames): KubeConfig {
  const [first, ...rest] = path?.split(delimiter).filter(Boolean) ?? [];
  const kc = first ? loadFiles(first, rest) : loadDefault(settings);
  const available = kc.getContexts().map((c) => c.name).join(', ') || 'none';
  if (context) {
    if (!kc.getContextObject(context)) {
      throw new Error(`kubeconfig has no context "${context}"; available: ${available}`);
    }
    kc.setCurrentContext(context);
  } else if (!kc.getContextObject(kc.getCurrentContext())) {
    throw new Error(`kubeconfig has no current context; name one (${settings.context}); available: ${available}`);
  }
  return kc;
}

/** Merges like kubectl: every file's entries, and the current-context of the first file that sets one. */
function loadFiles(first: string, rest: string[]): KubeConfig {
  const kc = loadFile(first);
  for (const file of rest) {
    const next = loadFile(file);
    kc.mergeConfig(next, true);
    if (!kc.getCurrentContext()) kc.setCurrentContext(next.getCurrentContext());
  }
  return kc;
}

function loadFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (cause) {
    throw new Error(`could not load kubeconfig ${file}: ${(cause as Error).message}`, { cause });
  }
  return kc;
}

// What loadFromDefault settles for when it finds no kubeconfig and no service account.
const NO_CONFIG_FALLBACK = { context: 'loaded-context', server: 'http://localhost:8080' };

function loadDefault(settings: KubeconfigSettingNames): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  // client-node would refuse that plain-http fallback at the first request, with a message about TLS.
  if (
    kc.getCurrentContext() === NO_CONFIG_FALLBACK.context &&
    kc.getCurrentCluster()?.server === NO_CONFIG_FALLBACK.server
  ) {
    throw new Error(
      `no kubeconfig found: KUBECONFIG is unset, ~/.kube/config does not exist and this is not a pod; ${settings.kubeconfig}`,
    );
  }
  return kc;
}

function fromServiceAccount(): KubeConfig {
  // Kubernetes sets both in every pod; without them loadFromCluster builds https://undefined:undefined.
  const missing = ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT'].filter((name) => !process.env[name]);
  if (missing.length > 0) {
    throw new Error(`in-cluster auth needs ${missing.join(', ')}, which Kubernetes sets in every pod`);
  }
  const kc = new KubeConfig();
  // The service account token is a file that the kubelet rotates; client-node re-reads it every minute.
  kc.loadFromCluster();
  return kc;
}

/** Names the user whose token comes from our EKS token source rather than from the kubeconfig. */
const EKS_AUTH_PROVIDER = 'affinity-relocator/eks-iam';

type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];

async function forEks(options: EksKubeConfigOptions): Promise<KubeConfig> {
  const tokens = await eksTokenSource(options);
  const { clusterName, endpoint, caData } = options;
  const kc = new KubeConfig();
  // client-node asks the authenticator for every request (generated API clients through
  // applySecurityAuthentication, Watch/Log/Exec through applyToFetchOptions/applyToHTTPSOptions; both end
  // in applyAuthorizationHeader), whereas a static `token` on the user would never change.
  kc.addAuthenticator(bearerTokenAuthenticator(EKS_AUTH_PROVIDER, tokens));
  const user = `${clusterName}-iam`;
  kc.loadFromOptions({
    clusters: [{ name: clusterName, server: endpoint, caData, skipTLSVerify: false }],
    users: [{ name: user, authProvider: { name: EKS_AUTH_PROVIDER } } satisfies User],
    contexts: [{ name: clusterName, cluster: clusterName, user }],
    currentContext: clusterName,
  });
  return kc;
}

function bearerTokenAuthenticator(provider: string, tokens: { getToken(): Promise<string> }): Authenticator {
  return {
    isAuthProvider: (user) => user.authProvider?.name === provider,
    async applyAuthentication(_user, opts) {
      const token = await tokens.getToken();
      // client-node has created the headers object before it calls an authenticator.
      (opts.headers as Record<string, string>).Authorization = `Bearer ${token}`;
    },
  };
}
