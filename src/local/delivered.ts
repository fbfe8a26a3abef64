/**
 * The event EventBridge hands a rule's target for one PutEvents entry: the envelope every delivery has
 * (version, id, detail-type, source, account, time, region, resources) around the parsed detail. Local
 * mode's bus delivers with it, and tests that replay entries build their deliveries with it.
 */
import { randomUUID } from 'node:crypto';

export interface DeliveryOptions {
  id?: string;
  time?: Date | string;
  account?: string;
  region?: string;
  resources?: string[];
}

export function delivered(entry: { Source: string; DetailType: string; Detail: string }, o: DeliveryOptions = {}) {
  return {
    version: '0',
    id: o.id ?? randomUUID(),
    'detail-type': entry.DetailType,
    source: entry.Source,
    account: o.account ?? '000000000000',
    time: typeof o.time === 'string' ? o.time : (o.time ?? new Date()).toISOString(),
    region: o.region ?? 'local',
    resources: o.resources ?? [],
    detail: JSON.parse(entry.Detail) as unknown,
  };
}
