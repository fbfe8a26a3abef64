/**
 * Local mode: the forwarder's watcher feeds an in-process bus that calls the Lambdas' handlers, against
 * one kubeconfig context, and a timer plays the sweep's schedule (every SWEEP_INTERVAL_SECONDS, 300 by
 * default as in AWS). The whole system of DESIGN.md section 1 without AWS.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { withUserAgent } from '../cluster/labelled.js';
import type { RelocatorConfig } from '../domain/config.js';
import type { Outcome } from '../domain/outcome.js';
import { ClusterWatcher } from '../forwarder/watcher.js';
import { LocalBus } from '../local/bus.js';
import { sweepIntervalFromEnv } from '../config/relocator.js';
import { onScheduledEvent, onTriggerEvent } from '../relocator/handlers.js';
import type { OutcomeSink } from '../relocator/ports.js';
import { createRelocator } from '../runtime/relocator.js';

export interface LocalModeOptions {
  kc: KubeConfig;
  config: RelocatorConfig;
  cluster: string;
  onOutcome?: (o: Outcome) => void;
  onEvent?: (detailType: string, detail: unknown) => void;
  onError?: (e: unknown) => void;
  sinks?: OutcomeSink[];
  /** How often the sweep looks at every assistant; 0 = never. Default: SWEEP_INTERVAL_SECONDS (300 s). */
  sweepIntervalMs?: number;
}

export interface LocalMode {
  bus: LocalBus;
  stop(): Promise<void>;
}

export async function startLocalMode(o: LocalModeOptions): Promise<LocalMode> {
  // Read first: a bad setting stops local mode before it watches or acts on anything.
  const sweepIntervalMs = o.sweepIntervalMs ?? sweepIntervalFromEnv(process.env);
  if (!Number.isInteger(sweepIntervalMs) || sweepIntervalMs < 0) throw new RangeError(`sweepIntervalMs must be a whole number >= 0, got ${sweepIntervalMs}`);
  let settlementCheck: NodeJS.Timeout | undefined;
  let stopped = false;
  // Each outcome is shown when it is reported, not when its trigger is done: a node's 50 assistants'
  // relocations arrive one by one, as their replacements are bound.
  const stream: OutcomeSink = async (outcome) => {
    o.onOutcome?.(outcome);
    // A replacement that is never bound sends no event: a sweep once the confirmation timeout has passed
    // reports it stuck (AWS's schedule does it within 5 minutes; here it need not wait that long).
    if (outcome.kind === 'started' && !settlementCheck) {
      settlementCheck = setTimeout(() => {
        settlementCheck = undefined;
        if (!stopped) bus.sweep();
      }, o.config.confirmTimeoutMs + 1_000);
      settlementCheck.unref();
    }
  };
  const kc = withUserAgent(o.kc, 'local');
  const { relocator } = createRelocator({ kc, config: o.config, sinks: [stream, ...(o.sinks ?? [])] });
  const deps = { relocator, cluster: o.cluster };
  const handler = (fn: typeof onTriggerEvent) => (event: unknown) => {
    const e = event as { 'detail-type': string; detail: unknown };
    o.onEvent?.(e['detail-type'], e.detail);
    return fn(event, deps);
  };
  const bus = new LocalBus({
    handlers: { 'on-node-event': handler(onTriggerEvent), 'on-pod-event': handler(onTriggerEvent), sweep: handler(onScheduledEvent) },
    // Reported outcomes were shown as they came; what is returned unreported is a trigger for another cluster.
    onOutcomes: (outcomes) => outcomes.filter((x) => x.reason === 'other-cluster').forEach((x) => o.onOutcome?.(x)),
    onError: (e) => o.onError?.(e),
  });
  const watcher = new ClusterWatcher({
    kc,
    cluster: o.cluster,
    config: o.config,
    assistantSelector: o.config.assistantSelector,
    publisher: bus,
    onError: o.onError,
  });
  let sweeps: NodeJS.Timeout | undefined;
  try {
    await watcher.start();
  } catch (e) {
    await watcher.stop();
    throw e;
  }
  // The first tick one interval after the start, as a new EventBridge schedule's: the initial list has
  // just published every bad node that hosts an assistant.
  if (sweepIntervalMs > 0) {
    sweeps = setInterval(() => bus.sweep(), sweepIntervalMs);
    sweeps.unref();
  }
  return {
    bus,
    async stop() {
      if (stopped) return bus.drain();
      stopped = true;
      clearInterval(sweeps);
      clearTimeout(settlementCheck);
      bus.cancelPendingSweep();
      await watcher.stop();
      await bus.drain();
    },
  };
}
