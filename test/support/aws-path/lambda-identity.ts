/**
 * The Lambda role's identity on the AWS-shaped path: per function, the session credentials Lambda would put
 * in its environment (fake: nothing here talks to AWS), the assumed-role ARN STS would answer for them (the
 * role osls creates, `<service>-<stage>-<region>-lambdaRole`, session named after the function), and the EKS
 * access entry's group `affinity-relocator` (serverless.yml RelocatorAccessEntry). The loopback authenticator
 * (../../cluster/eks-authenticator.ts) is started with them, and the control plane is given the options that
 * wire it in and audit these users' requests.
 */
import { EksAuthenticator, type EksPrincipal } from '../../cluster/eks-authenticator.js';
import type { ControlPlaneOptions } from '../../../src/local-cluster/controlplane.js';

export const ACCOUNT = '123456789012';
/** The access entry's KubernetesGroups (serverless.yml RelocatorAccessEntry). */
export const LAMBDA_GROUPS = ['affinity-relocator'];

export interface LambdaIdentity {
  /** EKS_CLUSTER_NAME: the x-k8s-aws-id the tokens must be signed for. */
  clusterId: string;
  authenticator: EksAuthenticator;
  principals: Record<string, EksPrincipal>;
  /** The Kubernetes usernames of the functions (as the apiserver's audit log shows them). */
  usernames: string[];
  /** Merge into ControlPlane.start's options (or Scenario.start's). */
  controlPlaneOptions: Pick<ControlPlaneOptions, 'tokenWebhook' | 'audit'>;
}

export async function startLambdaIdentity(o: { clusterId: string; stage: string; region: string; functions: string[] }): Promise<LambdaIdentity> {
  const role = `affinity-relocator-${o.stage}-${o.region}-lambdaRole`;
  const principals = Object.fromEntries(
    o.functions.map((fn, i): [string, EksPrincipal] => [
      fn,
      {
        accessKeyId: `ASIAAWSPATH${String(i).padStart(9, '0')}`,
        secretAccessKey: `aws-path-secret-${i}-${fn}`,
        sessionToken: `aws-path-session-${i}`,
        assumedRoleArn: `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/affinity-relocator-${o.stage}-${fn}`,
        groups: LAMBDA_GROUPS,
      },
    ]),
  );
  const authenticator = await EksAuthenticator.start({ clusterId: o.clusterId, principals: Object.values(principals) });
  const usernames = Object.values(principals).map((p) => p.assumedRoleArn);
  return { clusterId: o.clusterId, authenticator, principals, usernames, controlPlaneOptions: { tokenWebhook: { url: authenticator.url }, audit: { users: usernames } } };
}
