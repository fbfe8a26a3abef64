/**
 * What the AWS-shaped path takes from serverless.yml, read from the file itself (not from a table of our
 * own): each function's bundle, timeout, memory, reserved concurrency, async retry settings and environment,
 * and each EventBridge rule's bus, pattern and target function. Osls variables are resolved the way osls
 * resolves them for one stage (`${param:…}` from `params`, `${sls:stage}`, `${opt:…, default}`,
 * `${self:provider.region}`); `{ Ref: RelocatorEventBus }` is the bus's name. Anything else that a value we
 * use depends on is an error naming it, so a new kind of variable cannot slip through unresolved.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import { repoRoot } from '../../../scripts/build.js';

export const SERVERLESS_YML = path.join(repoRoot, 'serverless.yml');

export interface FunctionSettings {
  name: string;
  /** The bundle (dist/functions/<name>.mjs) and its export, from `handler`. */
  bundle: string;
  exportName: string;
  timeoutS: number;
  memoryMb: number;
  /** Infinity when the function reserves none. */
  reservedConcurrency: number;
  maximumRetryAttempts: number;
  maximumEventAgeS: number;
  /** provider.environment with the function's own on top, resolved. */
  environment: Record<string, string>;
}

export interface RuleSettings {
  /** The rule's name, e.g. affinity-relocator-<stage>-node-schedulability. */
  name: string;
  /** 'default' or the relocator bus's name. */
  bus: string;
  pattern: Record<string, unknown>;
  target: string;
}

export interface ScheduleSettings {
  name: string;
  /** From `rate(<n> minute(s)|hour(s)|day(s))`. */
  everyMs: number;
  target: string;
}

export interface ServerlessSettings {
  stage: string;
  region: string;
  busName: string;
  functions: Record<string, FunctionSettings>;
  /** Rules with an event pattern. */
  rules: RuleSettings[];
  /** Scheduled rules (on the default bus). */
  schedules: ScheduleSettings[];
}

const RATE_UNIT_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

type Yaml = Record<string, unknown>;

export function readServerlessSettings(o: { stage: string; region: string; params: Record<string, string>; file?: string }): ServerlessSettings {
  const doc = loadYaml<Yaml>(readFileSync(o.file ?? SERVERLESS_YML, 'utf8'));
  const params: Record<string, unknown> = { ...(get(doc, 'params', 'default') as Yaml), ...(get(doc, 'params', o.stage) as Yaml | undefined), ...o.params };
  const busName = () => resolve(get(doc, 'resources', 'Resources', 'RelocatorEventBus', 'Properties', 'Name'), 'RelocatorEventBus.Name');
  const resolve = (value: unknown, where: string): string => {
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (value !== null && typeof value === 'object' && Object.keys(value).length === 1 && (value as Yaml).Ref === 'RelocatorEventBus') return busName();
    if (typeof value !== 'string') throw new Error(`serverless.yml: ${where}: cannot resolve ${JSON.stringify(value)}`);
    return value.replace(/\$\{([^}]+)\}/g, (_, expr: string) => {
      const [ref, fallback] = expr.split(/,\s*/) as [string, string | undefined];
      const [kind, key] = ref.split(':') as [string, string | undefined];
      if (kind === 'param' && key !== undefined && key in params) return resolve(params[key], `param ${key}`);
      if (kind === 'sls' && key === 'stage') return o.stage;
      if (kind === 'opt' && key === 'stage') return o.stage;
      if (kind === 'opt' && key === 'region') return o.region;
      if (kind === 'self' && key === 'provider.region') return o.region;
      if (fallback !== undefined) return fallback.replace(/^'|'$/g, '');
      throw new Error(`serverless.yml: ${where}: cannot resolve \${${expr}}`);
    });
  };
  const provider = get(doc, 'provider') as Yaml;
  const providerEnv = (provider.environment ?? {}) as Yaml;
  const functions: Record<string, FunctionSettings> = {};
  const rules: RuleSettings[] = [];
  const schedules: ScheduleSettings[] = [];
  for (const [name, f] of Object.entries(get(doc, 'functions') as Record<string, Yaml>)) {
    const handler = resolve(f.handler, `${name}.handler`);
    const m = /^(.+)\.([A-Za-z_$][\w$]*)$/.exec(handler);
    if (!m) throw new Error(`serverless.yml: ${name}.handler: expected <file>.<export>, got ${handler}`);
    const environment = Object.fromEntries(
      Object.entries({ ...providerEnv, ...((f.environment ?? {}) as Yaml) }).map(([k, v]) => [k, resolve(v, `${name} environment ${k}`)]),
    );
    const num = (v: unknown, what: string) => {
      const n = Number(resolve(v, `${name}.${what}`));
      if (!Number.isFinite(n)) throw new Error(`serverless.yml: ${name}.${what} is not a number`);
      return n;
    };
    functions[name] = {
      name,
      bundle: path.join(repoRoot, `${m[1]}.mjs`),
      exportName: m[2]!,
      timeoutS: num(f.timeout ?? provider.timeout ?? 6, 'timeout'),
      memoryMb: num(f.memorySize ?? provider.memorySize ?? 1024, 'memorySize'),
      reservedConcurrency: f.reservedConcurrency === undefined ? Infinity : num(f.reservedConcurrency, 'reservedConcurrency'),
      // Lambda's defaults for asynchronous invocation.
      maximumRetryAttempts: f.maximumRetryAttempts === undefined ? 2 : num(f.maximumRetryAttempts, 'maximumRetryAttempts'),
      maximumEventAgeS: f.maximumEventAge === undefined ? 21_600 : num(f.maximumEventAge, 'maximumEventAge'),
      environment,
    };
    for (const e of (f.events ?? []) as Yaml[]) {
      const eb = e.eventBridge as Yaml | undefined;
      if (eb?.schedule !== undefined) {
        const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(resolve(eb.schedule, `${name} schedule`));
        if (!rate) throw new Error(`serverless.yml: ${name}: only rate(...) schedules are understood, got ${String(eb.schedule)}`);
        schedules.push({ name: resolve(eb.name, `${name} rule name`), everyMs: Number(rate[1]) * RATE_UNIT_MS[rate[2]!]!, target: name });
      }
      if (!eb?.pattern) continue;
      rules.push({
        name: resolve(eb.name, `${name} rule name`),
        bus: eb.eventBus === undefined ? 'default' : resolve(eb.eventBus, `${name} rule eventBus`),
        pattern: eb.pattern as Record<string, unknown>,
        target: name,
      });
    }
  }
  return { stage: o.stage, region: o.region, busName: busName(), functions, rules, schedules };
}

function get(doc: unknown, ...keys: string[]): unknown {
  let v = doc;
  for (const k of keys) v = (v as Yaml | undefined)?.[k];
  return v;
}
