/**
 * Retries of Kubernetes API calls that failed for a reason that may pass: overload, a restarting API server,
 * a dropped connection. Answers about the request itself (404, 409, 403, 422...) are final.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Backoff } from './backoff.js';

export interface RetryOptions {
  /** Attempts after the first. Default 3. */
  retries?: number;
  /** Backoff before the first retry is drawn from [0, baseMs), then doubles each attempt. Default 200. */
  baseMs?: number;
  /** Cap on any single wait, and the longest Retry-After honoured. Default 5000. */
  maxMs?: number;
  isRetryable?: (error: unknown) => boolean;
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1); injectable for tests. */
  random?: () => number;
}

const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504]);
const RETRYABLE_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE']);
/** How far down an error's `cause` chain to look for a network error code. */
const MAX_CAUSE_DEPTH = 5;

/**
 * The HTTP status of a failed Kubernetes call: the generated clients throw `ApiException` with a numeric
 * `code`, `Watch` an Error with `statusCode`. Network errors also have a `code`, but a string ('ECONNRESET').
 */
export function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'number') return code;
  if (typeof statusCode === 'number') return statusCode;
  return undefined;
}

/** A connection-level failure. node-fetch (client-node's transport) sets `code`; undici nests it in `cause`. */
function isNetworkError(error: unknown): boolean {
  let current = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && typeof current === 'object' && current !== null; depth++) {
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && RETRYABLE_NETWORK_CODES.has(code)) return true;
    if (typeof message === 'string' && message.includes('socket hang up')) return true;
    current = cause;
  }
  return false;
}

export function isRetryableError(error: unknown): boolean {
  const status = httpStatusOf(error);
  return status === undefined ? isNetworkError(error) : RETRYABLE_STATUSES.has(status);
}

/** Retry-After in milliseconds when the error carries it in seconds (as the API server sends it). */
function retryAfterMsOf(error: unknown): number | undefined {
  const headers = (error as { headers?: unknown } | null)?.headers;
  if (typeof headers !== 'object' || headers === null) return undefined;
  // node-fetch lower-cases header names; other transports may not.
  const entry = Object.entries(headers).find(([name]) => name.toLowerCase() === 'retry-after');
  const text = typeof entry?.[1] === 'string' ? entry[1].trim() : '';
  return /^\d+$/.test(text) ? Number(text) * 1000 : undefined;
}

/**
 * Calls `fn` until it succeeds, fails for a reason that is not retryable, or runs out of retries; then
 * rethrows the last error unchanged. Waits are exponential with full jitter, so callers that failed
 * together do not retry together; a Retry-After from the server is the minimum wait. A Retry-After
 * longer than `maxMs` ends the retries at once: waiting less would spend an attempt on a known refusal,
 * waiting more would blow the caller's time budget (a Lambda's timeout).
 *
 * Only wrap calls that are safe to repeat: after ECONNRESET the server may have acted on the request.
 */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const {
    retries = 3,
    baseMs = 200,
    maxMs = 5_000,
    isRetryable = isRetryableError,
    sleep = (ms: number) => delay(ms),
    random = Math.random,
  } = options;
  const backoff = new Backoff({ baseMs, maxMs, random });
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= retries || !isRetryable(error)) throw error;
      const serverWait = retryAfterMsOf(error);
      if (serverWait !== undefined && serverWait > maxMs) throw error;
      await sleep(Math.max(serverWait ?? 0, backoff.next()));
    }
  }
}
