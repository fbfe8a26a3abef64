/** The result-event sink: every outcome as an event on the bus, for alert rules and dashboards. */
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { toResultEntry } from '../events/results.js';
import type { OutcomeSink } from './ports.js';

export function resultEventSink(client: EventBridgeClient, eventBusName: string, cluster: string): OutcomeSink {
  return async (outcome) => {
    const entry = { ...toResultEntry(outcome, cluster, new Date()), EventBusName: eventBusName };
    const r = await client.send(new PutEventsCommand({ Entries: [entry] }));
    if (r.FailedEntryCount) {
      const failed = r.Entries?.find((e) => e.ErrorCode);
      throw new Error(`PutEvents refused the result event: ${failed?.ErrorCode ?? 'unknown'} ${failed?.ErrorMessage ?? ''}`.trim());
    }
  };
}
