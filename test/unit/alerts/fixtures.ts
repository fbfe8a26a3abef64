import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

const DIR = fileURLToPath(new URL('../../fixtures/alertmanager/', import.meta.url));

/** A file of test/fixtures/alertmanager/, e.g. `foreign/github-push.json`, as text. */
export function fixtureText(path: string): string {
  return readFileSync(DIR + path, 'utf8');
}

export function fixturePayload(path: string): Record<string, unknown> & { alerts: Record<string, unknown>[] } {
  return JSON.parse(fixtureText(path)) as Record<string, unknown> & { alerts: Record<string, unknown>[] };
}

/** What API Gateway's HTTP API (payload format 2.0) hands the function for a POST /alertmanager. */
export function httpEvent(o: { body?: string; headers?: Record<string, string>; isBase64Encoded?: boolean; method?: string } = {}): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /alertmanager',
    rawPath: '/alertmanager',
    rawQueryString: '',
    headers: { 'content-type': 'application/json', 'user-agent': 'Alertmanager/0.28.1', host: 'abc123.execute-api.eu-west-1.amazonaws.com', ...o.headers },
    requestContext: {
      accountId: '111122223333',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method: o.method ?? 'POST', path: '/alertmanager', protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'Alertmanager/0.28.1' },
      requestId: 'req-1',
      routeKey: 'POST /alertmanager',
      stage: '$default',
      time: '14/Mar/2025:09:26:53 +0000',
      timeEpoch: 1741944413000,
    },
    body: o.body,
    isBase64Encoded: o.isBase64Encoded ?? false,
  };
}
