/**
 * Prometheus Alertmanager's webhook payload, version 4 (alertmanager notify/webhook: `Message` = template.Data
 * + version, groupKey, truncatedAlerts), as it POSTs it to a `webhook_configs` receiver. Trimmed sample (the
 * full one is test/fixtures/alertmanager/kube-node-not-ready.json):
 *
 *   {
 *     "version": "4",
 *     "groupKey": "{}/{severity=~\"warning|critical\"}:{alertname=\"KubeNodeNotReady\"}",
 *     "truncatedAlerts": 0,
 *     "status": "firing",
 *     "receiver": "affinity-relocator",
 *     "groupLabels": { "alertname": "KubeNodeNotReady" },
 *     "commonLabels": { "alertname": "KubeNodeNotReady", "severity": "warning" },
 *     "commonAnnotations": { "summary": "Node is not ready." },
 *     "externalURL": "http://alertmanager.monitoring:9093",
 *     "alerts": [{
 *       "status": "firing",
 *       "labels": { "alertname": "KubeNodeNotReady", "node": "ip-10-0-12-34.eu-west-1.compute.internal", ... },
 *       "annotations": { "summary": "Node is not ready.", "description": "ip-10-0-12-34... has been unready ..." },
 *       "startsAt": "2025-03-14T09:10:41.139Z",
 *       "endsAt": "0001-01-01T00:00:00Z",
 *       "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=...",
 *       "fingerprint": "4f7c2a8e9b1d3c05"
 *     }]
 *   }
 *
 * Alertmanager owns this shape, so unknown keys are dropped rather than refused (as with the EventBridge
 * envelope); what we read is checked. `version` is checked first and alone, so that a foreign payload (a
 * GitHub or Grafana webhook, an older Alertmanager) is refused with one issue naming `version`, not a list
 * of every field it lacks.
 */
import * as z from '../events/zod.js';
import { InvalidEventError, parseOrThrow, shortValue } from '../events/errors.js';
import { isoDateTime } from '../events/fields.js';

export const ALERTMANAGER_WEBHOOK_VERSION = '4';
const SUBJECT = 'Alertmanager webhook payload';

/** Label and annotation maps: Prometheus label values are strings (possibly empty). */
const stringMap = z.record(z.string(), z.string());
const status = z.enum(['firing', 'resolved']);

export const AlertSchema = z.object({
  status,
  labels: stringMap,
  annotations: stringMap,
  /** When the alert started firing (RFC 3339 with nanoseconds and an offset, as Go writes it). */
  startsAt: isoDateTime,
  /** "0001-01-01T00:00:00Z" (Go's zero time) while firing with no known end. */
  endsAt: isoDateTime,
  generatorURL: z.string(),
  /** Alertmanager's hash of the labels (16 hex digits): the same alert keeps it across notifications. */
  fingerprint: z.string().check(z.minLength(1), z.maxLength(64)),
});
export type Alert = z.infer<typeof AlertSchema>;

const VersionSchema = z.object({
  version: z.literal(ALERTMANAGER_WEBHOOK_VERSION, {
    error: (i) => `must be "${ALERTMANAGER_WEBHOOK_VERSION}" (Alertmanager's webhook payload version 4), got ${shortValue(i.input)}`,
  }),
});

export const AlertmanagerPayloadSchema = z.extend(VersionSchema, {
  groupKey: z.string(),
  /** Alerts left out because of the receiver's `max_alerts` (absent before Alertmanager 0.21). */
  truncatedAlerts: z.optional(z.number().check(z.int(), z.gte(0))),
  status,
  receiver: z.string(),
  groupLabels: stringMap,
  commonLabels: stringMap,
  commonAnnotations: stringMap,
  externalURL: z.string(),
  alerts: z.array(AlertSchema),
});
export type AlertmanagerPayload = z.infer<typeof AlertmanagerPayloadSchema>;

/** The payload, or an InvalidEventError naming the bad fields (`version` alone when that is wrong). */
export function parseAlertmanagerPayload(raw: unknown): AlertmanagerPayload {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidEventError(SUBJECT, [{ path: '', message: `must be a JSON object, got ${shortValue(raw)}` }]);
  }
  parseOrThrow(VersionSchema, raw, SUBJECT);
  return parseOrThrow(AlertmanagerPayloadSchema, raw, SUBJECT);
}
