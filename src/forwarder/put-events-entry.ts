/** What PutEvents counts of an entry, and which Kubernetes object an entry is about. */
import { randomUUID } from 'node:crypto';
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { PutEventsEntry } from '../events/contract.js';

/**
 * An entry's size as EventBridge counts it against the request limit (the sum over a request must stay under
 * MAX_EVENT_BYTES): UTF-8 bytes of Source, DetailType, Detail and each Resource, plus 14 when Time is set.
 * EventBusName is not counted. https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
 */
export function entrySize(entry: PutEventsRequestEntry): number {
  const bytes = (s: string | undefined) => (s === undefined ? 0 : Buffer.byteLength(s, 'utf8'));
  let size = entry.Time !== undefined ? 14 : 0;
  size += bytes(entry.Source) + bytes(entry.DetailType) + bytes(entry.Detail);
  for (const resource of entry.Resources ?? []) size += bytes(resource);
  return size;
}

/**
 * The object an entry reports on, the unit of coalescing: `node/<name>` or `pod/<namespace>/<name>`, read from
 * the detail the way LocalBus does. A pod recreated under the same name (a StatefulSet's) is the same key: the
 * Lambdas read live state, so the newest event about the name is the one worth delivering. An entry about no
 * object (a Relocation Requested) gets a key of its own and is never coalesced.
 */
export function objectKey(entry: PutEventsEntry): string {
  const d = parseDetail(entry.Detail);
  if (d?.node?.name) return `node/${d.node.name}`;
  if (d?.pod?.name) return `pod/${d.pod.namespace ?? ''}/${d.pod.name}`;
  return `entry/${randomUUID()}`;
}

function parseDetail(detail: string): { node?: { name?: string }; pod?: { namespace?: string; name?: string } } | undefined {
  try {
    const parsed: unknown = JSON.parse(detail);
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}
