import { describe, expect, it } from 'vitest';
import { handler } from '../../../functions/alertmanager.js';
import { alertSettingsFromEnv } from '../../../src/alerts/runtime.js';
import { DEFAULT_NODE_ALERTS } from '../../../src/alerts/triggers.js';
import { httpEvent } from './fixtures.js';

describe('the webhook settings', () => {
  it('needs the SSM parameter of the token, and defaults the rest', () => {
    expect(alertSettingsFromEnv({ ALERTMANAGER_TOKEN_PARAMETER: '/affinity-relocator/dev/alertmanager-token' })).toEqual({
      tokenParameter: '/affinity-relocator/dev/alertmanager-token',
      alertNames: DEFAULT_NODE_ALERTS,
      dedupeWindowMs: 30 * 60_000,
    });
  });

  it('reads a list of alert names and a notification window', () => {
    const s = alertSettingsFromEnv({ ALERTMANAGER_TOKEN_PARAMETER: 'p', ALERTMANAGER_ALERTS: ' KubeNodeNotReady, MyNodeDown ,', NOTIFY_DEDUPE_WINDOW_MINUTES: '15' });
    expect(s).toMatchObject({ alertNames: ['KubeNodeNotReady', 'MyNodeDown'], dedupeWindowMs: 15 * 60_000 });
  });

  it.each([
    [{}, /ALERTMANAGER_TOKEN_PARAMETER: /],
    [{ ALERTMANAGER_TOKEN_PARAMETER: '' }, /ALERTMANAGER_TOKEN_PARAMETER: /],
    [{ ALERTMANAGER_TOKEN_PARAMETER: 'p', ALERTMANAGER_ALERTS: ' , ' }, /ALERTMANAGER_ALERTS: names no alert/],
    [{ ALERTMANAGER_TOKEN_PARAMETER: 'p', NOTIFY_DEDUPE_WINDOW_MINUTES: '90' }, /NOTIFY_DEDUPE_WINDOW_MINUTES: at most 60/],
  ])('refuses %j naming the variable', (env, message) => {
    expect(() => alertSettingsFromEnv(env)).toThrow(message);
  });
});

describe('the alertmanager Lambda', () => {
  it('answers 500 without touching SSM or the cluster when it is not configured', async () => {
    const saved = process.env.ALERTMANAGER_TOKEN_PARAMETER;
    delete process.env.ALERTMANAGER_TOKEN_PARAMETER;
    try {
      const r = await handler(httpEvent({ headers: { authorization: 'Bearer b4e1f0c2d9a87e6f5a4b3c2d1e0f9a8b' }, body: '{}' }));
      expect(r.statusCode).toBe(500);
      expect(JSON.parse(r.body ?? '')).toEqual({ error: 'the webhook is misconfigured' });
    } finally {
      if (saved !== undefined) process.env.ALERTMANAGER_TOKEN_PARAMETER = saved;
    }
  });
});
