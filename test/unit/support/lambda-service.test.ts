/**
 * The AWS-shaped path's Lambda service keeps the rules of Lambda's asynchronous invocation that the rotation
 * bench depends on, with small handler bundles of our own: never more environments at once than the
 * reserved concurrency, a throttled event retried later rather than dropped, a failed one retried
 * maximumRetryAttempts times and then dead-lettered, a function past its timeout killed (and its next
 * invocation a cold start), and a context whose remaining time counts down from the timeout.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LambdaService } from '../../support/aws-path/lambda-service.js';
import type { FunctionSettings } from '../../support/aws-path/serverless-config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lambda-service-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A handler bundle: `body` is the handler's code, with `event` and `context` in scope. */
function fn(name: string, body: string, o: Partial<FunctionSettings> = {}): FunctionSettings {
  const bundle = path.join(dir, `${name}.mjs`);
  writeFileSync(bundle, `export const handler = async (event, context) => { ${body} };\n`);
  return { name, bundle, exportName: 'handler', timeoutS: 5, memoryMb: 128, reservedConcurrency: 1, maximumRetryAttempts: 2, maximumEventAgeS: 900, environment: {}, ...o };
}

function service(functions: FunctionSettings[]) {
  return new LambdaService({
    functions: Object.fromEntries(functions.map((f) => [f.name, f])),
    baseEnv: () => ({ PATH: process.env.PATH ?? '' }),
    account: '123456789012',
    region: 'eu-west-1',
    errorRetryDelaysMs: [50, 100],
    throttleBackoffMs: { first: 20, max: 200 },
  });
}

describe('the Lambda service of the AWS-shaped path', () => {
  it('runs every event within the reserved concurrency, retrying throttled ones instead of dropping them', async () => {
    const s = service([fn('slow', 'await new Promise((r) => setTimeout(r, 150)); return { remaining: context.getRemainingTimeInMillis(), id: event.i };', { reservedConcurrency: 2 })]);
    try {
      for (let i = 0; i < 6; i++) s.invokeAsync('slow', { i });
      expect(await s.drain(60_000)).toBe(true);
      const runs = s.invocations;
      expect(runs.map((r) => (r.result.value as { id: number }).id).sort()).toEqual([0, 1, 2, 3, 4, 5]);
      // The most running at one moment (some run starts then).
      const overlapping = Math.max(...runs.map((r) => runs.filter((o) => o.startedAt <= r.startedAt && r.startedAt < o.endedAt).length));
      expect(overlapping).toBeLessThanOrEqual(2);
      expect(s.throttles.slow).toBeGreaterThan(0);
      expect(runs.filter((r) => r.cold)).toHaveLength(2);
      for (const r of runs) expect((r.result.value as { remaining: number }).remaining).toBeGreaterThan(4_000);
      expect(s.deadLetters).toEqual([]);
    } finally {
      await s.stop();
    }
  }, 60_000);

  it('retries a failing event twice, then dead-letters it; a timed-out or over-memory invocation is killed', async () => {
    const s = service([
      fn('failing', "throw new Error('boom');"),
      fn('hanging', 'await new Promise(() => {});', { timeoutS: 1, maximumRetryAttempts: 0 }),
      fn('greedy', 'globalThis.kept = Buffer.alloc(200 * 2 ** 20).fill(1); return {};', { maximumRetryAttempts: 0 }),
    ]);
    try {
      s.invokeAsync('failing', {});
      s.invokeAsync('hanging', {});
      s.invokeAsync('greedy', {});
      expect(await s.drain(60_000)).toBe(true);
      expect(s.invocations.filter((i) => i.fn === 'failing').map((i) => [i.attempt, i.result.error?.message])).toEqual([
        [1, 'boom'],
        [2, 'boom'],
        [3, 'boom'],
      ]);
      const hung = s.invocations.find((i) => i.fn === 'hanging')!;
      expect(hung.result.timedOut).toBe(true);
      expect(hung.result.error?.message).toMatch(/Task timed out after 1.00 seconds/);
      expect(s.invocations.find((i) => i.fn === 'greedy')!.result.error?.name).toBe('Runtime.OutOfMemory');
      expect(s.peakRssKb.greedy).toBeGreaterThan(200 * 1024);
      expect(s.deadLetters.map((d) => d.fn).sort()).toEqual(['failing', 'greedy', 'hanging']);
      // The killed environment is gone: the next invocation starts cold.
      s.invokeAsync('hanging', {});
      await s.drain(60_000);
      expect(s.invocations.filter((i) => i.fn === 'hanging').map((i) => i.cold)).toEqual([true, true]);
    } finally {
      await s.stop();
    }
  }, 60_000);
});
