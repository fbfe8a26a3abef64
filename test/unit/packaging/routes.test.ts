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
import { ASSISTANT_POD_CHANGED, SOURCE, TASKRUN_POD_UNSCHEDULABLE } from '../../../src/events/contract.js';
import { ROUTES, routeOf } from '../../../src/local/bus.js';
import { matchingRules } from '../../event-ruler/harness.js';
import { readServerlessSettings } from '../../support/aws-path/serverless-config.js';

const settings = readServerlessSettings({ stage: 'test', region: 'eu-west-1', params: { clusterName: 'test', eksEndpoint: 'https://eks.invalid', eksCaData: 'none' } });
const busRules = settings.rules.filter((r) => r.bus === settings.busName);

describe('the routes of local mode and of serverless.yml', () => {
  it('reads the relocator bus rules of serverless.yml, each with a function target', () => {
    expect(busRules.length).toBeGreaterThanOrEqual(3);
    for (const r of busRules) expect(Object.keys(settings.functions)).toContain(r.target);
  });

  it('send each detail-type to the same function, and take the same values of the detail', async () => {
    // Per detail-type, an event each route takes (the first required value of each field), and one per
    // value it does not (a pod's deletion).
    const cases: { label: string; detailType: string; detail: Record<string, string> }[] = Object.entries(ROUTES).flatMap(([detailType, route]) => {
      const taken = Object.fromEntries(Object.entries(route.detail ?? {}).map(([f, values]) => [f, values[0]!]));
      const refused = Object.keys(route.detail ?? {}).map((f) => ({ label: `${detailType}, ${f} outside the rule`, detailType, detail: { ...taken, [f]: 'deleted' } }));
      return [{ label: detailType, detailType, detail: taken }, ...refused];
    });
    expect(cases.map((c) => c.label)).toContain(`${ASSISTANT_POD_CHANGED}, change outside the rule`);
    expect(cases.map((c) => c.label)).toContain(TASKRUN_POD_UNSCHEDULABLE);
    const events = cases.map((c) => ({ version: '0', id: '1', source: SOURCE, 'detail-type': c.detailType, account: '1', time: '2024-01-01T00:00:00Z', region: 'eu-west-1', resources: [], detail: c.detail }));
    const matches = await matchingRules(Object.fromEntries(busRules.map((r) => [r.name, r.pattern])), events);
    const aws = matches.map((names) => names.map((n) => busRules.find((r) => r.name === n)!.target));
    const local = cases.map((c) => {
      const fn = routeOf(c.detailType, c.detail);
      return fn ? [fn] : [];
    });
    expect(Object.fromEntries(cases.map((c, i) => [c.label, aws[i]]))).toEqual(Object.fromEntries(cases.map((c, i) => [c.label, local[i]])));
    // And each route takes something.
    for (const c of cases.filter((x) => x.label === x.detailType)) expect(routeOf(c.detailType, c.detail), c.label).toBe(ROUTES[c.detailType]!.fn);
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
