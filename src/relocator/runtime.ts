/** Wires a Relocator to a live cluster: the composition shared by the Lambdas and the CLI. */
import { KubernetesCluster } from '../cluster/api.js';
import type { KubeAccess } from '../cluster/http.js';
import type { RelocatorConfig } from '../domain/config.js';
import type { OutcomeSink } from './ports.js';
import { Relocator, type RelocatorDeps } from './relocator.js';
import { kubeEventSink } from './sinks.js';

export interface RuntimeOptions {
  kc: KubeAccess;
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

export function createRelocator(o: RuntimeOptions): { relocator: Relocator; cluster: KubernetesCluster } {
  const cluster = new KubernetesCluster(o.kc, { assistantSelector: o.config.assistantSelector });
  const relocator = new Relocator({ cluster, config: o.config, sinks: [...(o.recordEvents === false ? [] : [kubeEventSink(cluster)]), ...(o.sinks ?? [])], log: o.log, remainingMs: o.remainingMs });
  return { relocator, cluster };
}
