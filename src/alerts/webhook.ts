/**
 * The Alertmanager webhook over API Gateway's HTTP API (payload format 2.0): authenticate, bound, parse,
 * map firing node alerts to triggers, relocate, answer. Checks go from the cheapest and least revealing to
 * the most expensive: a caller without the token learns nothing else (401), an oversized body is refused
 * before it is decoded or parsed (413), a malformed one is refused with the fields it got wrong (400).
 *
 * Status codes are for Alertmanager, which retries 5xx and 429 and gives up on other 4xx: a payload we
 * cannot read will never become readable (400), while a failure to read the token or to reach the
 * cluster may pass (503, 500).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Outcome } from '../domain/outcome.js';
import type { RelocationTrigger } from '../domain/trigger.js';
import { InvalidEventError } from '../events/errors.js';
import { parseAlertmanagerPayload } from './payload.js';
import { bearerTokenOf, TokenUnavailableError } from './token.js';
import { type IgnoredAlert, triggersFromAlerts } from './triggers.js';

/** Alertmanager's payloads are a few KiB per alert; 64 KiB is a large group, not an attack. */
export const MAX_BODY_BYTES = 64 * 1024;

export type WebhookLog = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface WebhookDeps {
  /** Whether a presented bearer token is the shared one (see token.ts's BearerVerifier). */
  verifier: { verify(presented: string): Promise<boolean> };
  /** Alert names acted on. */
  alertNames: readonly string[];
  /** Runs one trigger through the relocator (`handle(trigger, deps)` of src/relocator/handlers.ts). */
  relocate: (trigger: RelocationTrigger) => Promise<Outcome[]>;
  log?: WebhookLog;
}

export interface WebhookResponse {
  /** Triggers run: one per node named by a firing node alert. */
  accepted: number;
  ignored: IgnoredAlert[];
  outcomes: Outcome[];
}

const REALM = 'Bearer realm="affinity-relocator"';

export async function handleAlertmanagerWebhook(event: APIGatewayProxyEventV2, d: WebhookDeps): Promise<APIGatewayProxyStructuredResultV2> {
  const method = event.requestContext?.http?.method;
  if (method !== undefined && method !== 'POST') {
    return json(405, { error: `method ${method} is not allowed: Alertmanager POSTs its notifications` }, { allow: 'POST' });
  }

  const presented = bearerTokenOf(headerOf(event, 'authorization'));
  if (presented === undefined) {
    return json(401, { error: 'missing bearer token: send "Authorization: Bearer <token>"' }, { 'www-authenticate': REALM });
  }
  try {
    if (!(await d.verifier.verify(presented))) {
      d.log?.warn('refused a webhook call with a wrong token', { sourceIp: event.requestContext?.http?.sourceIp });
      return json(401, { error: 'invalid bearer token' }, { 'www-authenticate': `${REALM}, error="invalid_token"` });
    }
  } catch (e) {
    if (!(e instanceof TokenUnavailableError)) throw e;
    d.log?.error('cannot check webhook tokens', { error: e.message });
    return json(503, { error: 'the webhook cannot check tokens right now' });
  }

  const body = event.body ?? '';
  // Buffer.byteLength of base64 is the decoded size, computed without decoding.
  const bytes = Buffer.byteLength(body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (bytes > MAX_BODY_BYTES) {
    return json(413, { error: `the body is ${bytes} bytes, over the ${MAX_BODY_BYTES}-byte (64 KiB) limit` });
  }
  const text = event.isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
  if (text.trim() === '') return json(400, { error: 'invalid Alertmanager webhook payload: the body is empty', issues: [{ path: '', message: 'empty body' }] });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return json(400, { error: 'invalid Alertmanager webhook payload: the body is not JSON', issues: [{ path: '', message: 'not JSON' }] });
  }

  let triggers: ReturnType<typeof triggersFromAlerts>;
  try {
    const payload = parseAlertmanagerPayload(raw);
    triggers = triggersFromAlerts(payload, { alertNames: d.alertNames });
    d.log?.info('alertmanager notification', {
      receiver: payload.receiver,
      groupKey: payload.groupKey,
      status: payload.status,
      alerts: payload.alerts.length,
      truncatedAlerts: payload.truncatedAlerts ?? 0,
      nodes: triggers.triggers.map((t) => ({ node: t.node, alert: t.alert, fingerprint: t.trigger.id })),
      ignored: triggers.ignored,
    });
  } catch (e) {
    if (!(e instanceof InvalidEventError)) throw e;
    d.log?.warn('refused a malformed webhook payload', { error: e.message, issues: e.issues });
    return json(400, { error: e.message, issues: e.issues });
  }

  // Nodes side by side: the answer must come within API Gateway's 30 s.
  const results = await Promise.allSettled(triggers.triggers.map((t) => d.relocate(t.trigger)));
  const outcomes = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
  const response: WebhookResponse = { accepted: triggers.triggers.length, ignored: triggers.ignored, outcomes };
  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [{ node: triggers.triggers[i]!.node, error: messageOf(r.reason) }] : []));
  if (failures.length > 0) {
    // Alertmanager retries a 5xx: replaying a trigger is safe, the relocator re-reads everything.
    d.log?.error('relocation failed for some nodes', { failures });
    return json(500, { error: `could not look at ${failures.map((f) => f.node).join(', ')}: ${failures[0]!.error}`, ...response });
  }
  return json(200, response);
}

/** HTTP API 2.0 lower-cases header names; other callers (tests, a proxy) may not. */
function headerOf(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const headers = event.headers ?? {};
  return headers[name] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
}

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

function messageOf(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.length > 300 ? `${m.slice(0, 297)}...` : m;
}
