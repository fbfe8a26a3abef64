import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { delivered } from '../../../src/local/delivered.js';

const DIR = fileURLToPath(new URL('../../fixtures/events/', import.meta.url));

/** A file of test/fixtures/events/, e.g. `malformed/cases.json`. */
export function fixtureJson(path: string): unknown {
  return JSON.parse(readFileSync(DIR + path, 'utf8'));
}

/** A sample event, e.g. `valid/node-schedulability-changed.json`. */
export function sampleEvent(path: string): Record<string, unknown> {
  return fixtureJson(path) as Record<string, unknown>;
}

export function fixtureFiles(dir: string): string[] {
  return readdirSync(DIR + dir).filter((f) => f.endsWith('.json'));
}

/** What EventBridge delivers to a Lambda for a PutEvents entry. */
export function asDelivered(entry: { Source: string; DetailType: string; Detail: string }, id = 'delivered-1') {
  return delivered(entry, { id, account: '111122223333', time: '2025-03-14T09:26:53Z', region: 'eu-west-1' });
}
