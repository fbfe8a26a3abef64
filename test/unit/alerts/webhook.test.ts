import { describe, expect, it } from 'vitest';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { BearerVerifier } from '../../../src/alerts/token.js';
import { DEFAULT_NODE_ALERTS } from '../../../src/alerts/triggers.js';
import { handleAlertmanagerWebhook, MAX_BODY_BYTES, type WebhookDeps, type WebhookLog } from '../../../src/alerts/webhook.js';
import type { Outcome } from '../../../src/domain/outcome.js';
import type { RelocationTrigger } from '../../../src/domain/trigger.js';
import { fixtureText, httpEvent } from './fixtures.js';

const TOKEN = 'b4e1f0c2d9a87e6f5a4b3c2d1e0f9a8b';
const auth = { authorization: `Bearer ${TOKEN}` };

/** The webhook with an in-memory token and a relocator stand-in that records the triggers it got. */
function webhook(o: { relocate?: (t: RelocationTrigger) => Promise<Outcome[]>; tokenSource?: () => Promise<string> } = {}) {
  const triggers: RelocationTrigger[] = [];
  const logged: string[] = [];
  const log = Object.fromEntries(
    (['info', 'warn', 'error'] as const).map((level) => [level, (...args: unknown[]) => logged.push(JSON.stringify(args))]),
  ) as unknown as WebhookLog;
  const deps: WebhookDeps = {
    verifier: new BearerVerifier(o.tokenSource ?? (async () => TOKEN)),
    alertNames: DEFAULT_NODE_ALERTS,
    log,
    relocate: async (t) => {
      triggers.push(t);
      return o.relocate ? o.relocate(t) : [relocated(t)];
    },
  };
  return { call: (e: APIGatewayProxyEventV2) => handleAlertmanagerWebhook(e, deps), triggers, logged };
}

function relocated(t: RelocationTrigger): Outcome {
  const node = t.target.kind === 'node' ? t.target.node.name : '';
  return {
    kind: 'relocated',
    reason: 'NotReady',
    message: `ci/affinity-assistant-0 moved from ${node} to ip-10-0-99-1`,
    assistant: { namespace: 'ci', pod: 'affinity-assistant-3c9f0e1a2b-0' },
    fromNode: node,
    toNode: 'ip-10-0-99-1',
    triggerId: t.id,
    triggerSource: t.source,
  };
}

const bodyOf = (r: { body?: string }) => JSON.parse(r.body ?? 'null') as Record<string, unknown>;

describe('the Alertmanager webhook', () => {
  it('relocates the assistants of the node a firing KubeNodeNotReady names, and says what it did', async () => {
    const w = webhook();
    const r = await w.call(httpEvent({ headers: auth, body: fixtureText('kube-node-not-ready.json') }));
    expect(r.statusCode).toBe(200);
    expect(r.headers?.['content-type']).toBe('application/json');
    expect(bodyOf(r)).toEqual({
      accepted: 1,
      ignored: [],
      outcomes: [expect.objectContaining({ kind: 'relocated', fromNode: 'ip-10-0-12-34.eu-west-1.compute.internal', triggerSource: 'alert', triggerId: '4f7c2a8e9b1d3c05' })],
    });
    expect(w.triggers.map((t) => t.target)).toEqual([{ kind: 'node', node: { name: 'ip-10-0-12-34.eu-west-1.compute.internal' } }]);
  });

  it('answers a group of alerts with the nodes it looked at and why it left the others alone', async () => {
    const w = webhook();
    const r = await w.call(httpEvent({ headers: auth, body: fixtureText('mixed-group.json') }));
    expect(r.statusCode).toBe(200);
    const body = bodyOf(r) as { accepted: number; ignored: { alert: string; fingerprint: string; reason: string }[]; outcomes: Outcome[] };
    expect(body.accepted).toBe(2);
    expect(body.outcomes.map((o) => o.fromNode).sort()).toEqual(['ip-10-0-40-2.eu-west-1.compute.internal', 'ip-10-0-51-77.eu-west-1.compute.internal']);
    expect(body.ignored.map((i) => i.alert)).toEqual(['NodeNotReady', 'KubeletDown', 'KubeNodeNotReady', 'KubePodCrashLooping', 'KubeNodeNotReady']);
    expect(body.ignored.every((i) => i.reason.length > 0)).toBe(true);
  });

  it('does nothing for a resolved alert, with a 200 so that Alertmanager does not retry', async () => {
    const w = webhook();
    const r = await w.call(httpEvent({ headers: auth, body: fixtureText('kube-node-not-ready-resolved.json') }));
    expect(r.statusCode).toBe(200);
    expect(bodyOf(r)).toMatchObject({ accepted: 0, outcomes: [] });
    expect(w.triggers).toEqual([]);
  });

  it('reads a body API Gateway base64-encoded', async () => {
    const w = webhook();
    const body = Buffer.from(fixtureText('kube-node-not-ready.json')).toString('base64');
    const r = await w.call(httpEvent({ headers: auth, body, isBase64Encoded: true }));
    expect(r.statusCode).toBe(200);
    expect(bodyOf(r)).toMatchObject({ accepted: 1 });
  });

  describe('authentication', () => {
    it('asks for a bearer token when there is none, before reading anything', async () => {
      const w = webhook();
      const r = await w.call(httpEvent({ body: 'x'.repeat(MAX_BODY_BYTES + 1) }));
      expect(r.statusCode).toBe(401);
      expect(r.headers?.['www-authenticate']).toBe('Bearer realm="affinity-relocator"');
      expect(w.triggers).toEqual([]);
    });

    it.each([[`Bearer ${TOKEN.slice(0, -1)}x`], [`Bearer ${TOKEN}${TOKEN}`], [`Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`]])(
      'refuses %s',
      async (authorization) => {
        const w = webhook();
        const r = await w.call(httpEvent({ headers: { authorization }, body: fixtureText('kube-node-not-ready.json') }));
        expect(r.statusCode).toBe(401);
        expect(r.headers?.['www-authenticate']).toMatch(/^Bearer realm="affinity-relocator"/);
        expect(w.triggers).toEqual([]);
      },
    );

    it('accepts the header whatever the case of its name (a caller other than API Gateway)', async () => {
      const w = webhook();
      const e = httpEvent({ body: fixtureText('kube-node-not-ready.json') });
      e.headers = { Authorization: `Bearer ${TOKEN}` };
      expect((await w.call(e)).statusCode).toBe(200);
    });

    it('answers 503, for Alertmanager to retry, when the token cannot be read', async () => {
      const w = webhook({ tokenSource: async () => Promise.reject(new Error('ParameterNotFound')) });
      const r = await w.call(httpEvent({ headers: auth, body: fixtureText('kube-node-not-ready.json') }));
      expect(r.statusCode).toBe(503);
      expect(w.triggers).toEqual([]);
    });

    it('never writes the token or the header to the logs or the answer', async () => {
      const w = webhook();
      const answers = [
        await w.call(httpEvent({ headers: auth, body: fixtureText('kube-node-not-ready.json') })),
        await w.call(httpEvent({ headers: { authorization: `Bearer ${TOKEN}x` }, body: '{}' })),
        await w.call(httpEvent({ headers: auth, body: '{"version":"4"}' })),
      ];
      const everything = [...w.logged, ...answers.map((a) => JSON.stringify(a))].join('\n');
      expect(w.logged.length).toBeGreaterThan(0);
      expect(everything).not.toContain(TOKEN);
      expect(everything.toLowerCase()).not.toContain('bearer b4e1');
    });
  });

  describe('what it refuses', () => {
    it('refuses a body over 64 KiB with 413, before parsing it', async () => {
      const w = webhook();
      const huge = `{"version":"4","padding":"${'x'.repeat(MAX_BODY_BYTES)}"}`;
      const r = await w.call(httpEvent({ headers: auth, body: huge }));
      expect(r.statusCode).toBe(413);
      expect(bodyOf(r).error).toMatch(/over the 65536-byte \(64 KiB\) limit/);
    });

    it('measures a base64 body by its decoded size', async () => {
      const w = webhook();
      const justUnder = Buffer.alloc(MAX_BODY_BYTES, ' ').toString('base64'); // 87 KiB of base64, 64 KiB decoded
      expect((await w.call(httpEvent({ headers: auth, body: justUnder, isBase64Encoded: true }))).statusCode).toBe(400);
      const over = Buffer.alloc(MAX_BODY_BYTES + 1, ' ').toString('base64');
      expect((await w.call(httpEvent({ headers: auth, body: over, isBase64Encoded: true }))).statusCode).toBe(413);
    });

    it.each([
      ['a GitHub webhook', 'foreign/github-push.json'],
      ['a Grafana webhook', 'foreign/grafana-alerting.json'],
      ['a version 3 payload', 'foreign/version-3.json'],
    ])('refuses %s with 400 naming the version', async (_what, file) => {
      const w = webhook();
      const r = await w.call(httpEvent({ headers: auth, body: fixtureText(file) }));
      expect(r.statusCode).toBe(400);
      expect(bodyOf(r)).toMatchObject({ error: expect.stringContaining('version: must be "4"'), issues: [{ path: 'version' }] });
      expect(w.triggers).toEqual([]);
    });

    it('refuses a payload with a bad field with 400 naming that field', async () => {
      const w = webhook();
      const p = JSON.parse(fixtureText('kube-node-not-ready.json')) as { alerts: Record<string, unknown>[] };
      delete p.alerts[0]!.fingerprint;
      const r = await w.call(httpEvent({ headers: auth, body: JSON.stringify(p) }));
      expect(r.statusCode).toBe(400);
      expect(bodyOf(r)).toMatchObject({ issues: [{ path: 'alerts[0].fingerprint' }] });
    });

    it.each([[''], ['not json'], ['{"version":']])('refuses the body %j with 400', async (body) => {
      const r = await webhook().call(httpEvent({ headers: auth, body }));
      expect(r.statusCode).toBe(400);
    });

    it('refuses other methods', async () => {
      const r = await webhook().call(httpEvent({ headers: auth, method: 'GET' }));
      expect(r.statusCode).toBe(405);
      expect(r.headers?.allow).toBe('POST');
    });
  });

  it('answers 500 when a node could not be looked at, so that Alertmanager retries, and still reports the others', async () => {
    const w = webhook({
      relocate: async (t) => {
        if (t.target.kind === 'node' && t.target.node.name.startsWith('ip-10-0-40-2')) throw new Error('GET /api/v1/nodes: connect ECONNREFUSED');
        return [relocated(t)];
      },
    });
    const r = await w.call(httpEvent({ headers: auth, body: fixtureText('mixed-group.json') }));
    expect(r.statusCode).toBe(500);
    expect(bodyOf(r)).toMatchObject({
      error: expect.stringContaining('ip-10-0-40-2.eu-west-1.compute.internal: GET /api/v1/nodes: connect ECONNREFUSED'),
      accepted: 2,
      outcomes: [expect.objectContaining({ fromNode: 'ip-10-0-51-77.eu-west-1.compute.internal' })],
    });
  });
});
