import { describe, expect, it } from 'vitest';
import { parseAlertmanagerPayload } from '../../../src/alerts/payload.js';
import { DEFAULT_NODE_ALERTS, nodeOf, triggersFromAlerts } from '../../../src/alerts/triggers.js';
import { fixturePayload } from './fixtures.js';

const payload = (file: string) => parseAlertmanagerPayload(fixturePayload(file));
const defaults = { alertNames: DEFAULT_NODE_ALERTS };

describe('triggers from node alerts', () => {
  it('looks at the node a firing KubeNodeNotReady names, from the time the alert started', () => {
    const { triggers, ignored } = triggersFromAlerts(payload('kube-node-not-ready.json'), defaults);
    expect(ignored).toEqual([]);
    expect(triggers.map((t) => t.trigger)).toStrictEqual([
      {
        id: '4f7c2a8e9b1d3c05',
        source: 'alert',
        target: { kind: 'node', node: { name: 'ip-10-0-12-34.eu-west-1.compute.internal' } },
        observedAt: '2025-03-14T09:10:41.139Z',
      },
    ]);
  });

  it('is a hint only: it never claims the node is going away, the live node decides', () => {
    const { triggers } = triggersFromAlerts(payload('kube-node-not-ready.json'), defaults);
    expect(triggers[0]?.trigger.disruption).toBeUndefined();
  });

  it('does nothing for a resolved alert, and says so', () => {
    const { triggers, ignored } = triggersFromAlerts(payload('kube-node-not-ready-resolved.json'), defaults);
    expect(triggers).toEqual([]);
    expect(ignored).toEqual([{ alert: 'KubeNodeNotReady', fingerprint: '4f7c2a8e9b1d3c05', reason: expect.stringMatching(/^resolved/) }]);
  });

  it('sorts a mixed group into nodes to look at and alerts left alone, each with its reason', () => {
    const { triggers, ignored } = triggersFromAlerts(payload('mixed-group.json'), defaults);
    expect(triggers.map((t) => [t.alert, t.node])).toEqual([
      ['KubeNodeUnreachable', 'ip-10-0-40-2.eu-west-1.compute.internal'],
      ['NodeNotReady', 'ip-10-0-51-77.eu-west-1.compute.internal'],
    ]);
    expect(Object.fromEntries(ignored.map((i) => [i.fingerprint, `${i.alert}: ${i.reason}`]))).toEqual({
      c3d4e5f60718293a: expect.stringMatching(/^NodeNotReady: instance "10.0.60.5:9100" is an IP address/),
      d4e5f60718293a4b: 'KubeletDown: has neither a node nor an instance label',
      e5f60718293a4b5c: expect.stringMatching(/^KubeNodeNotReady: resolved/),
      f60718293a4b5c6d: expect.stringMatching(/^KubePodCrashLooping: alertname "KubePodCrashLooping" is not one of the node alerts/),
      '0718293a4b5c6d7e': 'KubeNodeNotReady: node ip-10-0-40-2.eu-west-1.compute.internal is already looked at for alert KubeNodeUnreachable (a1b2c3d4e5f60718)',
    });
  });

  it('acts on the configured alert names only', () => {
    const { triggers, ignored } = triggersFromAlerts(payload('mixed-group.json'), { alertNames: ['KubePodCrashLooping'] });
    expect(triggers).toEqual([]);
    expect(ignored.find((i) => i.alert === 'KubePodCrashLooping')?.reason).toBe('has neither a node nor an instance label');
  });
});

describe('the node an alert names', () => {
  it.each([
    [{ node: 'ip-10-0-1-2.ec2.internal', instance: '10.0.31.7:8080' }, 'ip-10-0-1-2.ec2.internal'],
    [{ instance: 'ip-10-0-1-2.ec2.internal:10250' }, 'ip-10-0-1-2.ec2.internal'],
    [{ instance: 'worker-7' }, 'worker-7'],
    [{ instance: 'Worker-7.Example.Internal:9100' }, 'worker-7.example.internal'],
  ])('%j -> %s', (labels, name) => {
    expect(nodeOf({ labels })).toEqual({ ok: true, name });
  });

  it.each([
    [{ instance: '10.0.1.2:9100' }, /IP address/],
    [{ instance: '10.0.1.2' }, /IP address/],
    [{ instance: '[fd00::1]:9100' }, /IP address/],
    [{ instance: 'fd00::1' }, /IP address/],
    [{ instance: 'https://server.example.org' }, /^instance "https:\/\/server.example.org" gives "https:\/\/server.example.org", which is not a valid node name$/],
    [{ node: 'Not_A_Node' }, /^label node gives "Not_A_Node", which is not a valid node name$/],
    [{ node: '' , instance: '' }, /neither a node nor an instance label/],
    [{}, /neither a node nor an instance label/],
  ])('cannot map %j', (labels, reason) => {
    const r = nodeOf({ labels });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });
});
