/**
 * Local mode's bus routes by a table (src/local/bus.ts ROUTES); the AWS-shaped path routes by serverless.yml's
 * rules themselves (test/support/aws-path/serverless-config.ts). The two must agree: every detail-type of
 * the table reaches, by Event Ruler's decision on the rules of the relocator bus, exactly the function the
 * table names, and no rule on that bus sends our source's events anywhere the table does not.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SOURCE } from '../../../src/events/contract.js';
import { ROUTES } from '../../../src/local/bus.js';
import { matchingRules } from '../../event-ruler/harness.js';
import { readServerlessSettings } from '../../support/aws-path/serverless-config.js';

const settings = readServerlessSettings({ stage: 'test', region: 'eu-west-1', params: { clusterName: 'test', eksEndpoint: 'https://eks.invalid', eksCaData: 'none' } });
const busRules = settings.rules.filter((r) => r.bus === settings.busName);

describe('the routes of local mode and of serverless.yml', () => {
  it('reads the relocator bus rules of serverless.yml, each with a function target', () => {
    expect(busRules.length).toBeGreaterThanOrEqual(3);
    for (const r of busRules) expect(Object.keys(settings.functions)).toContain(r.target);
  });

  it('send each detail-type to the same function', async () => {
    const types = Object.keys(ROUTES);
    const events = types.map((t) => ({ version: '0', id: '1', source: SOURCE, 'detail-type': t, account: '1', time: '2024-01-01T00:00:00Z', region: 'eu-west-1', resources: [], detail: {} }));
    const matches = await matchingRules(Object.fromEntries(busRules.map((r) => [r.name, r.pattern])), events);
    const targets = matches.map((names) => names.map((n) => busRules.find((r) => r.name === n)!.target));
    expect(Object.fromEntries(types.map((t, i) => [t, targets[i]]))).toEqual(Object.fromEntries(types.map((t) => [t, [ROUTES[t]]])));
  });
});

describe('reading serverless.yml for the AWS-shaped path', () => {
  it('takes each function\'s limits and environment from the file, with the stage\'s params resolved', () => {
    const f = settings.functions['on-node-event']!;
    expect(f.reservedConcurrency).toBeGreaterThan(0);
    expect(f.timeoutS).toBeGreaterThan(0);
    expect(f.environment.KUBE_AUTH).toBe('eks');
    expect(f.environment.EVENT_BUS_NAME).toBe(settings.busName);
    expect(f.environment.EKS_ENDPOINT).toBe('https://eks.invalid');
    expect(settings.schedules.map((x) => x.target)).toContain('sweep');
  });

  it('refuses a variable it cannot resolve, naming it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sls-'));
    try {
      const file = path.join(dir, 'serverless.yml');
      writeFileSync(file, 'provider:\n  environment:\n    X: ${ssm:/secret}\nfunctions:\n  f:\n    handler: dist/functions/f.handler\nresources:\n  Resources:\n    RelocatorEventBus:\n      Properties:\n        Name: bus\n');
      expect(() => readServerlessSettings({ stage: 'test', region: 'eu-west-1', params: {}, file })).toThrow('f environment X: cannot resolve ${ssm:/secret}');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
