/**
 * The Lambda entry points reject every malformed event of the corpus with an error that names the bad
 * field, before any configuration is read or any cluster is contacted (no KUBE_AUTH or kubeconfig is
 * set here: reaching that far would fail differently).
 */
import { describe, expect, it } from 'vitest';
import { handler as onNodeEvent } from '../../../functions/on-node-event.js';
import { handler as onPodEvent } from '../../../functions/on-pod-event.js';
import { handler as sweep } from '../../../functions/sweep.js';
import { InvalidEventError, isNonRetryable } from '../../../src/events/errors.js';
import { fixtureFiles, fixtureJson, sampleEvent } from '../events/fixtures.js';

const cases = fixtureJson('malformed/cases.json') as Record<string, { path: string; message: string }>;

describe('Lambda entry points on malformed input', () => {
  it.each(fixtureFiles('malformed').filter((f) => f !== 'cases.json'))('on-node-event rejects %s naming the field', async (file) => {
    const err = await onNodeEvent(fixtureJson(`malformed/${file}`)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidEventError);
    expect(isNonRetryable(err)).toBe(true);
    const c = cases[file]!;
    expect((err as InvalidEventError).issues.map((i) => i.path)).toContain(c.path);
    expect((err as Error).message).toContain(c.message);
  });

  it('rejects a huge detail by its size, without echoing it', async () => {
    const event = sampleEvent('valid/node-schedulability-changed.json');
    const huge = { ...event, detail: { ...(event.detail as object), padding: 'x'.repeat(300 * 1024) } };
    const err = (await onPodEvent(huge).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(InvalidEventError);
    expect(err.message).toMatch(/over the 262144-byte \(256 KiB\) limit/);
    expect(err.message.length).toBeLessThan(1_000);
  });

  it('the sweep rejects anything but a scheduled event', async () => {
    const err = (await sweep(sampleEvent('valid/node-schedulability-changed.json')).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(InvalidEventError);
  });
});
