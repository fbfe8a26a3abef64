/**
 * The on-aws-event Lambda decides from the event alone what it needs: a malformed notice is rejected, naming
 * the field, and a notice that announces nothing returns at once, both before any configuration is read or
 * any cluster contacted (no KUBE_AUTH or kubeconfig is set here: reaching that far would fail differently).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { handler } from '../../../../functions/on-aws-event.js';
import { InvalidEventError } from '../../../../src/events/errors.js';
import { sampleEvent } from '../fixtures.js';

const stateChange = (state: unknown) => {
  const event = sampleEvent('aws/instance-state-change.json') as { detail: object };
  return { ...event, detail: { ...event.detail, state } };
};

afterEach(() => vi.restoreAllMocks());

describe('the on-aws-event entry point', () => {
  it('rejects a malformed notice, naming the field', async () => {
    const err = (await handler(stateChange(42)).catch((e: unknown) => e)) as InvalidEventError;
    expect(err).toBeInstanceOf(InvalidEventError);
    expect(err.issues.map((i) => i.path)).toEqual(['detail.state']);
  });

  it('rejects an event that is no AWS notice of ours, naming detail-type', async () => {
    const err = (await handler(sampleEvent('valid/scheduled-event.json')).catch((e: unknown) => e)) as InvalidEventError;
    expect(err).toBeInstanceOf(InvalidEventError);
    expect(err.issues.map((i) => i.path)).toEqual(['detail-type']);
  });

  it('counts an AWS event type it does not read and returns no outcome: nothing to retry, no dead-letter queue, no page', async () => {
    const event = { ...sampleEvent('aws/asg-terminate.json') as object, 'detail-type': 'EC2 Instance Launch Successful', detail: { StatusCode: 'InProgress' } };
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => written.push(String(chunk)) > 0);
    await expect(handler(event)).resolves.toEqual({ outcomes: [] });
    // Powertools writes each metric as an EMF line: the dimensions and the count, as CloudWatch reads them.
    const emf = written.flatMap((w) => w.split('\n')).filter((l) => l.includes('"UnknownAwsEvents"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(emf).toEqual([
      expect.objectContaining({ Source: 'aws.autoscaling', DetailType: 'EC2 Instance Launch Successful', UnknownAwsEvents: 1 }),
    ]);
  });

  it('returns no outcome, touching nothing, for an instance entering running', async () => {
    await expect(handler(stateChange('running'))).resolves.toEqual({ outcomes: [] });
  });
});
