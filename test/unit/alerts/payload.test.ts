import { describe, expect, it } from 'vitest';
import { parseAlertmanagerPayload } from '../../../src/alerts/payload.js';
import { InvalidEventError } from '../../../src/events/errors.js';
import { fixturePayload } from './fixtures.js';

function rejection(raw: unknown): InvalidEventError {
  try {
    parseAlertmanagerPayload(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidEventError);
    return e as InvalidEventError;
  }
  throw new Error('expected the payload to be rejected');
}

describe('the Alertmanager webhook payload (version 4)', () => {
  it('reads what kube-prometheus sends for KubeNodeNotReady', () => {
    const p = parseAlertmanagerPayload(fixturePayload('kube-node-not-ready.json'));
    expect(p).toMatchObject({ version: '4', status: 'firing', receiver: 'affinity-relocator', truncatedAlerts: 0 });
    expect(p.alerts[0]).toMatchObject({
      status: 'firing',
      fingerprint: '4f7c2a8e9b1d3c05',
      startsAt: '2025-03-14T09:10:41.139Z',
      endsAt: '0001-01-01T00:00:00Z',
      labels: expect.objectContaining({ alertname: 'KubeNodeNotReady', node: 'ip-10-0-12-34.eu-west-1.compute.internal' }),
    });
  });

  it('accepts Go timestamps with nanoseconds and an offset', () => {
    const p = parseAlertmanagerPayload(fixturePayload('mixed-group.json'));
    expect(p.alerts[0]?.startsAt).toBe('2025-03-14T09:12:03.512948061+01:00');
  });

  it('accepts an Alertmanager older than truncatedAlerts, and keys a newer one may add', () => {
    const { truncatedAlerts: _, ...older } = fixturePayload('kube-node-not-ready.json');
    expect(parseAlertmanagerPayload(older).truncatedAlerts).toBeUndefined();
    expect(() => parseAlertmanagerPayload({ ...older, somethingNew: true })).not.toThrow();
  });

  it.each([
    ['a GitHub push webhook', 'foreign/github-push.json', 'nothing'],
    ['a Grafana webhook', 'foreign/grafana-alerting.json', '"1"'],
    ['a version 3 payload', 'foreign/version-3.json', '"3"'],
  ])('refuses %s by its version alone', (_what, file, got) => {
    const err = rejection(fixturePayload(file));
    expect(err.issues).toEqual([{ path: 'version', message: `must be "4" (Alertmanager's webhook payload version 4), got ${got}` }]);
    expect(err.message).toMatch(/^invalid Alertmanager webhook payload: version: must be "4"/);
  });

  it('names the field of an alert it cannot read', () => {
    const p = fixturePayload('kube-node-not-ready.json');
    p.alerts[0] = { ...p.alerts[0], startsAt: 'yesterday', status: 'pending' };
    const err = rejection(p);
    expect(err.issues.map((i) => i.path).sort()).toEqual(['alerts[0].startsAt', 'alerts[0].status']);
  });

  it('names a label whose value is not a string', () => {
    const p = fixturePayload('kube-node-not-ready.json');
    p.alerts[0] = { ...p.alerts[0], labels: { alertname: 'KubeNodeNotReady', node: 7 } };
    expect(rejection(p).issues.map((i) => i.path)).toEqual(['alerts[0].labels.node']);
  });

  it.each([[null], [[]], ['text'], [42]])('refuses %j as a whole', (raw) => {
    expect(rejection(raw).issues).toEqual([{ path: '', message: expect.stringMatching(/^must be a JSON object/) }]);
  });
});
