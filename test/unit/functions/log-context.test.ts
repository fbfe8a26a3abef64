/**
 * Every log line of a Lambda invocation carries its request id and the cold-start flag (Powertools'
 * logger.addContext), so one relocation can be followed across lines and functions. Shown on the line an
 * entry point writes when it rejects a malformed event (no cluster is needed for that).
 */
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { handler as alertmanager } from '../../../functions/alertmanager.js';
import { handler as onNodeEvent } from '../../../functions/on-node-event.js';
import { handler as sweep } from '../../../functions/sweep.js';

function lambdaContext(requestId: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'affinity-relocator-prod-onNodeEvent',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:affinity-relocator-prod-onNodeEvent',
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/affinity-relocator-prod-onNodeEvent',
    logStreamName: '2026/11/26/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** The JSON log lines written (stdout and stderr) while `fn` runs. */
async function logLines(fn: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const written: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  };
  // Powertools writes errors to stderr and the rest to stdout.
  const spies = [vi.spyOn(process.stdout, 'write').mockImplementation(capture), vi.spyOn(process.stderr, 'write').mockImplementation(capture)];
  try {
    await fn().catch(() => undefined);
  } finally {
    for (const s of spies) s.mockRestore();
  }
  return written.flatMap((w) => w.split('\n')).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

afterEach(() => vi.restoreAllMocks());

describe('log lines of an invocation', () => {
  it('carry the request id, the function and the cold-start flag', async () => {
    const first = await logLines(() => onNodeEvent({ not: 'an event' }, lambdaContext('req-1')));
    const rejected = first.find((l) => l.message === 'rejected a malformed event');
    expect(rejected).toMatchObject({ function_request_id: 'req-1', function_name: 'affinity-relocator-prod-onNodeEvent', cold_start: expect.any(Boolean) });

    // The next invocation of the same container has its own request id and is no cold start.
    const second = await logLines(() => sweep({ not: 'an event' }, lambdaContext('req-2')));
    expect(second.find((l) => l.message === 'rejected a malformed event')).toMatchObject({ function_request_id: 'req-2', cold_start: false });
  });

  it("carry the request id in the webhook too (here: its refusal to run without its settings)", async () => {
    delete process.env.ALERTMANAGER_TOKEN_PARAMETER;
    const lines = await logLines(() => alertmanager({ headers: {}, body: '{}' } as never, lambdaContext('req-3')));
    expect(lines.find((l) => l.message === 'the webhook is misconfigured')).toMatchObject({ function_request_id: 'req-3' });
  });
});
