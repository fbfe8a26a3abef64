/**
 * The result-event sink: every outcome as an event on the bus, for alert rules and dashboards. The gate
 * says whether it is a notification (`detail.notify`, what the alert rules match).
 */
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { toResultEntry } from '../events/results.js';
import { type NotificationGate, notifyAll } from '../relocator/notifications.js';
import type { OutcomeSink } from '../relocator/ports.js';

export function resultEventSink(
  client: Pick<EventBridgeClient, 'send'>,
  eventBusName: string,
  cluster: string,
  gate: NotificationGate = notifyAll,
): OutcomeSink {
  return async (outcome, context) => {
    const notify = await gate(outcome, context);
    const entry = { ...toResultEntry(outcome, cluster, new Date(), notify), EventBusName: eventBusName };
    const r = await client.send(new PutEventsCommand({ Entries: [entry] }));
    if (r.FailedEntryCount) {
      const failed = r.Entries?.find((e) => e.ErrorCode);
      throw new Error(`PutEvents refused the result event: ${failed?.ErrorCode ?? 'unknown'} ${failed?.ErrorMessage ?? ''}`.trim());
    }
  };
}
