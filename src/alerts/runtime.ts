/**
 * The webhook Lambda's composition, created once per container and reused: its settings (validated once),
 * the token verifier (SSM, cached), and the relocator with the same sinks as the other functions, the
 * result events going through the notification dedupe. Nothing is read or created at import: the first
 * request does it, and a failed creation is retried by the next request rather than cached.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import * as z from '../events/zod.js';
import { type Env, list, parseEnv } from '../config/env.js';
import { createDeps, logger, metrics } from '../lambda/runtime.js';
import { handle, type HandlerDeps } from '../relocator/handlers.js';
import { notifyWindowFromEnv } from '../relocator/notifications.js';
import { BearerVerifier, ssmTokenSource } from './token.js';
import { DEFAULT_NODE_ALERTS } from './triggers.js';
import { handleAlertmanagerWebhook } from './webhook.js';

export interface AlertSettings {
  /** Name of the SSM SecureString parameter holding the bearer token. */
  tokenParameter: string;
  alertNames: string[];
  dedupeWindowMs: number;
}

const AlertEnv = z.object({
  ALERTMANAGER_TOKEN_PARAMETER: z.string({ error: 'required: the name of the SSM parameter holding the webhook token' }),
  ALERTMANAGER_ALERTS: z.optional(
    z.pipe(list, z.array(z.string()).check(z.minLength(1, 'names no alert'))),
  ),
});

export function alertSettingsFromEnv(env: Env = process.env): AlertSettings {
  const e = parseEnv(AlertEnv, env);
  return {
    tokenParameter: e.ALERTMANAGER_TOKEN_PARAMETER,
    alertNames: e.ALERTMANAGER_ALERTS ?? DEFAULT_NODE_ALERTS,
    dedupeWindowMs: notifyWindowFromEnv(env),
  };
}

let settings: AlertSettings | undefined;
let verifier: BearerVerifier | undefined;
let deps: Promise<HandlerDeps> | undefined;

/** One HTTP request of the webhook Lambda. */
export async function alertmanagerWebhook(event: APIGatewayProxyEventV2, context?: Context): Promise<APIGatewayProxyStructuredResultV2> {
  // Every log line of the request carries its request id and cold-start flag.
  if (context) logger.addContext(context);
  try {
    try {
      settings ??= alertSettingsFromEnv(process.env);
    } catch (e) {
      logger.error('the webhook is misconfigured', { error: (e as Error).message });
      return { statusCode: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'the webhook is misconfigured' }) };
    }
    const s = settings;
    verifier ??= new BearerVerifier(ssmTokenSource(s.tokenParameter));
    return await handleAlertmanagerWebhook(event, {
      verifier,
      alertNames: s.alertNames,
      log: logger,
      relocate: async (trigger) => {
        deps ??= createDeps(process.env, { notifyWindowMs: s.dedupeWindowMs }).catch((e: unknown) => {
          deps = undefined; // a bad configuration is retried on the next request, not cached forever
          throw e;
        });
        return handle(trigger, await deps);
      },
    });
  } catch (e) {
    logger.error('webhook invocation failed', e as Error);
    return { statusCode: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'internal error' }) };
  } finally {
    metrics.publishStoredMetrics();
  }
}
