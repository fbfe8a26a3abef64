/**
 * Local mode: the forwarder's watcher feeds an in-process bus that calls the Lambdas' handlers, against
 * one kubeconfig context. The whole system of DESIGN.md section 1 without AWS.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { RelocatorConfig } from '../domain/config.js';
import type { Outcome } from '../domain/outcome.js';
import { ClusterWatcher } from '../forwarder/watcher.js';
import { LocalBus } from '../local/bus.js';
import { onTriggerEvent } from '../relocator/handlers.js';
import type { OutcomeSink } from '../relocator/ports.js';
import { createRelocator } from '../relocator/runtime.js';

export interface LocalModeOptions {
  kc: KubeConfig;
  config: RelocatorConfig;
  cluster: string;
  onOutcome?: (o: Outcome) => void;
  onEvent?: (detailType: string, detail: unknown) => void;
  onError?: (e: unknown) => void;
  sinks?: OutcomeSink[];
}

export interface LocalMode {
  bus: LocalBus;
  stop(): Promise<void>;
}

export async function startLocalMode(o: LocalModeOptions): Promise<LocalMode> {
  const { relocator } = createRelocator({ kc: o.kc, config: o.config, sinks: o.sinks });
  const deps = { relocator, cluster: o.cluster };
  const handler = (event: unknown) => {
    const e = event as { 'detail-type': string; detail: unknown };
    o.onEvent?.(e['detail-type'], e.detail);
    return onTriggerEvent(event, deps);
  };
  const bus = new LocalBus({
    handlers: { 'on-node-event': handler, 'on-pod-event': handler },
    onOutcomes: (outcomes) => outcomes.forEach((x) => o.onOutcome?.(x)),
    onError: (e) => o.onError?.(e),
  });
  const watcher = new ClusterWatcher({
    kc: o.kc,
    cluster: o.cluster,
    config: o.config,
    assistantSelector: o.config.assistantSelector,
    publisher: bus,
    onError: o.onError,
  });
  await watcher.start();
  return {
    bus,
    async stop() {
      await watcher.stop();
      await bus.drain();
    },
  };
}
