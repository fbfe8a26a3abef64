/** Outcome sinks: a Kubernetes Event on the StatefulSet, a structured log line, a metric. */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Outcome } from '../domain/outcome.js';
import type { ClusterPort, OutcomeSink } from './ports.js';

/**
 * Event reason and type per outcome; routine skips (healthy, stale...) record nothing, to stay quiet. A
 * delete and its settlement (started, relocated, stuck) have their Events written by the relocator
 * itself: the deletion record and the settlement claim (src/cluster/deletion-events.ts).
 */
export function kubeEventFor(o: Outcome): { type: 'Normal' | 'Warning'; reason: string } | undefined {
  switch (o.kind) {
    case 'started':
    case 'relocated':
    case 'stuck':
      return undefined;
    case 'blocked':
      return { type: 'Warning', reason: 'AssistantRelocationBlocked' };
    case 'failed':
      return { type: 'Warning', reason: 'AssistantRelocationFailed' };
    case 'skipped':
      return o.reason === 'dry-run' ? { type: 'Normal', reason: 'AssistantRelocationDryRun' } : undefined;
  }
}

export function kubeEventSink(cluster: ClusterPort): OutcomeSink {
  return async (o, { statefulSet }) => {
    const ev = kubeEventFor(o);
    if (!ev || !statefulSet) return;
    await cluster.recordEvent(statefulSet, { ...ev, message: o.message });
  };
}

export function logSink(logger: Logger): OutcomeSink {
  return async (o) => {
    const level = o.kind === 'failed' ? 'error' : o.kind === 'blocked' || o.kind === 'stuck' ? 'warn' : 'info';
    logger[level](o.message, { outcome: o });
  };
}

/** EMF metrics with one low-cardinality dimension (the outcome kind); never per node or pod. */
export function metricsSink(metrics: Metrics): OutcomeSink {
  return async (o) => {
    const m = metrics.singleMetric();
    m.addDimension('Outcome', o.kind);
    m.addMetric('AssistantOutcomes', MetricUnit.Count, 1);
    if (o.deleteLatencyMs !== undefined) m.addMetric('TriggerToDeleteLatency', MetricUnit.Milliseconds, o.deleteLatencyMs);
    if (o.boundLatencyMs !== undefined) m.addMetric('TriggerToBoundLatency', MetricUnit.Milliseconds, o.boundLatencyMs);
  };
}
