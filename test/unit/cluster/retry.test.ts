import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { httpStatusOf, isRetryableError, withRetry } from '../../../src/cluster/retry.js';

const apiError = (code: number, headers: Record<string, string> = {}) =>
  new ApiException(code, 'from the API server', { kind: 'Status', code }, headers);
const networkError = (code: string) => Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code });

/** A call that fails with `errors` in turn, then returns 'ok'; and the waits withRetry made. */
function flaky(...errors: unknown[]) {
  let calls = 0;
  const waits: number[] = [];
  return {
    fn: async () => {
      const error = errors[calls++];
      if (error !== undefined) throw error;
      return 'ok';
    },
    calls: () => calls,
    waits,
    sleep: async (ms: number) => {
      waits.push(ms);
    },
  };
}

describe('withRetry', () => {
  it('retries a server error with exponentially growing, jittered waits', async () => {
    const call = flaky(apiError(503), apiError(500), apiError(502));

    const result = await withRetry(call.fn, { baseMs: 100, sleep: call.sleep, random: () => 0.5 });

    expect(result).toBe('ok');
    expect(call.waits).toEqual([50, 100, 200]);
  });

  it('gives up after the last retry with the last error', async () => {
    const last = apiError(504);
    const call = flaky(apiError(503), apiError(503), last);

    await expect(withRetry(call.fn, { retries: 2, sleep: call.sleep })).rejects.toBe(last);
    expect(call.calls()).toBe(3);
  });

  it.each([400, 401, 403, 404, 409, 410, 422])('takes HTTP %i as final', async (code) => {
    const call = flaky(apiError(code));

    await expect(withRetry(call.fn, { sleep: call.sleep })).rejects.toMatchObject({ code });
    expect(call.calls()).toBe(1);
  });

  it('never waits longer than maxMs', async () => {
    const call = flaky(...Array.from({ length: 8 }, () => apiError(503)));

    await withRetry(call.fn, { retries: 8, baseMs: 100, maxMs: 1_000, sleep: call.sleep, random: () => 0.999 });

    expect(Math.max(...call.waits)).toBeLessThanOrEqual(1_000);
    expect(call.waits.at(-1)).toBeCloseTo(999);
  });

  it('waits at least as long as the Retry-After of a 429', async () => {
    const call = flaky(apiError(429, { 'retry-after': '2' }));

    await withRetry(call.fn, { sleep: call.sleep, random: () => 0.5 });

    expect(call.waits).toEqual([2_000]);
  });

  it('gives up at once when Retry-After asks for more than maxMs', async () => {
    const call = flaky(apiError(429, { 'Retry-After': '30' }));

    await expect(withRetry(call.fn, { maxMs: 5_000, sleep: call.sleep })).rejects.toMatchObject({ code: 429 });
    expect(call.waits).toEqual([]);
  });

  it('falls back to its own backoff when Retry-After is not a number of seconds', async () => {
    const call = flaky(apiError(503, { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }));

    await withRetry(call.fn, { baseMs: 100, sleep: call.sleep, random: () => 0.5 });

    expect(call.waits).toEqual([50]);
  });

  it('lets the caller decide what is retryable', async () => {
    const call = flaky(apiError(409));

    await withRetry(call.fn, { isRetryable: (e) => httpStatusOf(e) === 409, sleep: call.sleep });

    expect(call.calls()).toBe(2);
  });
});

describe('isRetryableError', () => {
  it.each([429, 500, 502, 503, 504])('retries HTTP %i', (code) => {
    expect(isRetryableError(apiError(code))).toBe(true);
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE'])('retries a connection failing with %s', (code) => {
    expect(isRetryableError(networkError(code))).toBe(true);
  });

  it('retries a socket hang up', () => {
    expect(isRetryableError(new Error('request to https://10.0.0.1/api failed, reason: socket hang up'))).toBe(true);
  });

  it('finds the network error inside a fetch failure', () => {
    expect(isRetryableError(new TypeError('fetch failed', { cause: networkError('ECONNRESET') }))).toBe(true);
  });

  it('retries a Watch that ended with a server error', () => {
    expect(isRetryableError(Object.assign(new Error('Service Unavailable'), { statusCode: 503 }))).toBe(true);
  });

  it('does not retry programming errors or other failures', () => {
    expect(isRetryableError(new TypeError("Cannot read properties of undefined (reading 'metadata')"))).toBe(false);
    expect(isRetryableError(networkError('ENOTFOUND'))).toBe(false);
    expect(isRetryableError('a string')).toBe(false);
    expect(isRetryableError(undefined)).toBe(false);
  });
});

describe('httpStatusOf', () => {
  it('reads the status of the API clients and of Watch', () => {
    expect(httpStatusOf(apiError(404))).toBe(404);
    expect(httpStatusOf(Object.assign(new Error('Gone'), { statusCode: 410 }))).toBe(410);
  });

  it('has no status for a network error, whose code is a string', () => {
    expect(httpStatusOf(networkError('ECONNRESET'))).toBeUndefined();
    expect(httpStatusOf(null)).toBeUndefined();
  });
});
