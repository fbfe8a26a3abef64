/**
 * What every Lambda shares, created once per container (cold start) and reused: configuration (validated
 * once), the Kubernetes client (EKS token from the function's IAM role), the relocator with its sinks,
 * the Powertools logger and metrics. Handlers only parse, call and return.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { kubeConfigOptionsFromEnv } from '../cluster/auth-options.js';
import { createEksAccess } from '../cluster/eks-access.js';
import type { KubeAccess } from '../cluster/http.js';
import type { Outcome } from '../domain/outcome.js';
import type { RelocationTrigger } from '../domain/trigger.js';
import { isNonRetryable } from '../events/errors.js';
import { ConfigError, type Env } from '../config/env.js';
import { configFromEnv } from '../config/relocator.js';
import { handle, type HandlerDeps } from '../relocator/handlers.js';
import { notificationGate, notifyWindowFromEnv } from '../relocator/notifications.js';
import type { NotificationLedger, OutcomeSink } from '../relocator/ports.js';
import { resultEventSink } from './result-events.js';
import { clusterFor, createRelocator } from '../runtime/relocator.js';
import { logSink, metricsSink } from './sinks.js';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'affinity-relocator' });
export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'AffinityRelocator', serviceName: 'affinity-relocator' });

let deps: Promise<HandlerDeps> | undefined;
/** The Lambda context of the invocation in progress (one at a time per container). */
let invocation: Context | undefined;

/**
 * Every function's sinks: logs, metrics and, with a bus, result events, of which the first per StatefulSet
 * and outcome kind in the window are notifications (src/relocator/notifications.ts).
 */
export function lambdaSinks(o: {
  /** Where notification claims are kept: the cluster adapter. */
  ledger: NotificationLedger;
  cluster: string;
  eventBusName?: string;
  notifyWindowMs: number;
  /** Default: an EventBridge client with the function's credentials. */
  bus?: Pick<EventBridgeClient, 'send'>;
  /** The notification window's clock; injectable for tests. */
  now?: () => Date;
}): OutcomeSink[] {
  const sinks = [logSink(logger), metricsSink(metrics)];
  if (o.eventBusName) {
    const gate = notificationGate(o.ledger, {
      windowMs: o.notifyWindowMs,
      now: o.now,
      onClaimError: (e, outcome) => logger.warn('could not check for a repeated notification; notifying', { error: (e as Error).message, outcome }),
      onSuppressed: (outcome) => logger.info('repeat of a recent notification: published with notify=false', { outcome }),
    });
    sinks.push(resultEventSink(o.bus ?? new EventBridgeClient({}), o.eventBusName, o.cluster, gate));
  }
  return sinks;
}

/** The Lambdas reach their cluster as EKS tells (KUBE_AUTH=eks, which serverless.yml sets), nothing else. */
export async function lambdaClusterAccess(env: Env): Promise<KubeAccess> {
  const options = kubeConfigOptionsFromEnv(env);
  if (options.mode !== 'eks') throw new ConfigError(`invalid configuration: KUBE_AUTH: the functions reach the cluster with KUBE_AUTH=eks, not ${options.mode}`);
  return createEksAccess(options);
}

/**
 * The relocator of every function (the webhook's too: `notifyWindowMs` from its own settings), created at
 * the first invocation that needs it.
 */
export async function createDeps(env: Env, o: { notifyWindowMs?: number } = {}): Promise<HandlerDeps> {
  const config = configFromEnv(env);
  const notifyWindowMs = o.notifyWindowMs ?? notifyWindowFromEnv(env);
  const clusterName = env.CLUSTER_NAME || env.EKS_CLUSTER_NAME || 'default';
  const kc = await lambdaClusterAccess(env);
  const cluster = clusterFor(kc, config);
  const sinks = lambdaSinks({ ledger: cluster, cluster: clusterName, eventBusName: env.EVENT_BUS_NAME, notifyWindowMs });
  const { relocator } = createRelocator({
    kc,
    cluster,
    config,
    sinks,
    log: (level, message, fields) => logger[level](message, fields ?? {}),
    // The current invocation's, read before each assistant: never run into the function's timeout.
    remainingMs: () => invocation?.getRemainingTimeInMillis(),
  });
  logger.info('relocator ready', { cluster: clusterName, dryRun: config.dryRun, auth: env.KUBE_AUTH ?? 'kubeconfig' });
  return { relocator, cluster: clusterName };
}

/**
 * Runs one invocation: parse first (a malformed event is rejected before any I/O or configuration is
 * touched), then relocate. The rejection is logged with the fields it got wrong and rethrown: after
 * the function's bounded retries (2) it lands in the dead-letter queue and never reaches the cluster.
 * An event may come to several triggers (an AWS Health event names several instances), handled side by
 * side, or to none (then nothing else is touched); `run` replaces the plain `handle` of each trigger.
 */
export async function invoke(
  event: unknown,
  parse: (raw: unknown) => RelocationTrigger | RelocationTrigger[],
  o: {
    run?: (trigger: RelocationTrigger, deps: HandlerDeps) => Promise<Outcome[]>;
    /** The Lambda context: every log line of the invocation then carries its request id and cold-start flag. */
    context?: Context;
  } = {},
): Promise<{ outcomes: Outcome[] }> {
  const run = o.run ?? handle;
  if (o.context) logger.addContext(o.context);
  invocation = o.context;
  try {
    const parsed = parse(event);
    const triggers = Array.isArray(parsed) ? parsed : [parsed];
    if (triggers.length === 0) return { outcomes: [] };
    deps ??= createDeps(process.env).catch((e: unknown) => {
      deps = undefined; // a bad configuration is retried on the next invocation, not cached forever
      throw e;
    });
    const d = await deps;
    return { outcomes: (await Promise.all(triggers.map((t) => run(t, d)))).flat() };
  } catch (e) {
    if (isNonRetryable(e)) logger.error('rejected a malformed event', { issues: e.issues, error: e.message });
    else logger.error('invocation failed', e as Error);
    throw e;
  } finally {
    metrics.publishStoredMetrics();
  }
}
