/**
 * The on-aws-event Lambda decides from the event alone what it needs: a malformed notice is rejected, naming
 * the field, and a notice that announces nothing returns at once, both before any configuration is read or
 * any cluster contacted (no KUBE_AUTH or kubeconfig is set here: reaching that far would fail differently).
 */
import { describe, expect, it } from 'vitest';
import { handler } from '../../../../functions/on-aws-event.js';
import { InvalidEventError } from '../../../../src/events/errors.js';
import { sampleEvent } from '../fixtures.js';

const stateChange = (state: unknown) => {
  const event = sampleEvent('aws/instance-state-change.json') as { detail: object };
  return { ...event, detail: { ...event.detail, state } };
};

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

  it('returns no outcome, touching nothing, for an instance entering running', async () => {
    await expect(handler(stateChange('running'))).resolves.toEqual({ outcomes: [] });
  });
});
