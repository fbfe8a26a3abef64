/** The Lambdas' outcome sinks, through Powertools: a structured log line and an EMF metric per outcome. */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { OutcomeSink } from '../relocator/ports.js';

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

/**
 * An AWS event type we do not read (readAwsEvent's `unknown`): counted per source and detail-type, both
 * from AWS's own short list, so that a dashboard shows what AWS added without anyone being paged.
 */
export function countUnknownAwsEvent(metrics: Metrics, e: { source: string; detailType: string }): void {
  const m = metrics.singleMetric();
  m.addDimension('Source', e.source);
  m.addDimension('DetailType', e.detailType);
  m.addMetric('UnknownAwsEvents', MetricUnit.Count, 1);
}
