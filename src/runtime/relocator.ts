/** Wires a Relocator to a live cluster: the composition shared by the Lambdas, local mode and the CLI. */
import { KubernetesCluster } from '../cluster/api.js';
import type { KubeAccess } from '../cluster/http.js';
import type { RelocatorConfig } from '../domain/config.js';
import type { OutcomeSink } from '../relocator/ports.js';
import { Relocator, type RelocatorDeps } from '../relocator/relocator.js';
import { kubeEventSink } from '../relocator/sinks.js';

export interface RuntimeOptions {
  kc: KubeAccess;
  /** Default: clusterFor(kc, config). */
  cluster?: KubernetesCluster;
  config: RelocatorConfig;
  /** Sinks besides the Kubernetes Event on the StatefulSet (logs, metrics, result events). */
  sinks?: OutcomeSink[];
  /** Where what is no assistant's outcome is logged (see RelocatorDeps.log). */
  log?: RelocatorDeps['log'];
  /** Record each outcome as a Kubernetes Event on the StatefulSet (default true; `plan` changes nothing). */
  recordEvents?: boolean;
  /** See RelocatorDeps.remainingMs. */
  remainingMs?: RelocatorDeps['remainingMs'];
}

/** The cluster adapter for `config` (its assistant selector), when the caller needs it before the relocator. */
export function clusterFor(kc: KubeAccess, config: RelocatorConfig): KubernetesCluster {
  return new KubernetesCluster(kc, { assistantSelector: config.assistantSelector });
}

export function createRelocator(o: RuntimeOptions): { relocator: Relocator; cluster: KubernetesCluster } {
  const cluster = o.cluster ?? clusterFor(o.kc, o.config);
  const relocator = new Relocator({ cluster, config: o.config, sinks: [...(o.recordEvents === false ? [] : [kubeEventSink(cluster)]), ...(o.sinks ?? [])], log: o.log, remainingMs: o.remainingMs });
  return { relocator, cluster };
}
