/**
 * The Helm chart's values are documented: every value of values.yaml has a row in the chart's README with
 * its default, and values.schema.json describes exactly those values (so a misspelt one is refused).
 * Rendering and installing the chart is test/integration/helm-chart.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../scripts/build.js';

const chart = path.join(repoRoot, 'infra', 'helm', 'affinity-relocator');
const values = yaml.load(readFileSync(path.join(chart, 'values.yaml'), 'utf8')) as Record<string, unknown>;
const schema = JSON.parse(readFileSync(path.join(chart, 'values.schema.json'), 'utf8')) as Schema;
const readme = readFileSync(path.join(chart, 'README.md'), 'utf8');

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The README's values table: value path -> its default cell. */
const rows = new Map(
  [...readme.matchAll(/^\| `([\w.]+)` \| (.+?) \| .+ \|$/gm)].map((m) => [m[1]!, m[2]!] as const),
);

/** Every value's path down to a documented row (a row may stand for a whole map, e.g. forwarder.resources). */
function leaves(v: Record<string, unknown>, prefix = ''): [string, unknown][] {
  return Object.entries(v).flatMap(([k, x]) => {
    const p = prefix + k;
    return isMap(x) && Object.keys(x).length > 0 && !rows.has(p) ? leaves(x, `${p}.`) : [[p, x] as [string, unknown]];
  });
}

/** The schema's paths where it stops describing (a free-form map, or a scalar). */
function schemaLeaves(s: Schema, prefix = ''): string[] {
  if (!s.properties) return [prefix.slice(0, -1)];
  return Object.entries(s.properties).flatMap(([k, x]) => schemaLeaves(x, `${prefix}${k}.`));
}

describe('the Helm chart values', () => {
  it('each have a row in the README with their default', () => {
    const documented = leaves(values);
    expect(documented.map(([p]) => p).sort()).toEqual([...rows.keys()].sort());
    for (const [p, v] of documented) {
      const cell = rows.get(p)!;
      if (typeof v === 'string') expect(cell, p).toContain(v === '' ? "`''`" : `\`${v}\``);
      else if (typeof v === 'number' || typeof v === 'boolean') expect(cell, p).toContain(`\`${String(v)}\``);
      else if (Array.isArray(v) && v.length === 0) expect(cell, p).toContain('`[]`');
      else if (isMap(v) && Object.keys(v).length === 0) expect(cell, p).toContain('`{}`');
      else for (const scalar of JSON.stringify(v).match(/"[^"]+"(?=[,}])/g) ?? []) expect(cell, p).toContain(scalar.slice(1, -1));
    }
  });

  it('are exactly what the schema describes, and the schema refuses any other', () => {
    const described = schemaLeaves(schema);
    expect(described.sort()).toEqual(leaves(values).map(([p]) => p).sort());
    const closed = (s: Schema, p: string): void => {
      if (!s.properties) return;
      expect(s.additionalProperties, `${p || 'the values'} must refuse unknown keys`).toBe(false);
      for (const [k, x] of Object.entries(s.properties)) closed(x, p ? `${p}.${k}` : k);
    };
    closed(schema, '');
  });
});
