/**
 * Just enough of CloudFormation to read our template in tests: find resources, evaluate a condition, and
 * resolve the few intrinsic functions our policies and templates use, with the pseudo parameters of a
 * made-up account.
 */
import type { Resource, Template } from './packaged.js';

export const ACCOUNT = '111122223333';
export const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
};

export const asArray = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

export function resourcesOf(template: Template, type: string): [string, Resource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

export function resource(template: Template, logicalId: string): Resource {
  const r = template.Resources[logicalId];
  if (!r) throw new Error(`the template has no resource ${logicalId}`);
  return r;
}

export interface Evaluation {
  /** Values of the template's own Parameters (stack parameters); default: their Default. */
  parameters?: Record<string, string>;
  /** Conditions forced to a value, e.g. to read the other branch of an Fn::If. */
  conditions?: Record<string, boolean>;
}

export function condition(template: Template, name: string, e: Evaluation = {}): boolean {
  if (e.conditions && name in e.conditions) return e.conditions[name]!;
  const body = template.Conditions?.[name];
  if (body === undefined) throw new Error(`the template has no condition ${name}`);
  return evalCondition(template, body, e);
}

function evalCondition(template: Template, x: unknown, e: Evaluation): boolean {
  const o = x as Record<string, unknown>;
  if ('Condition' in o) return condition(template, o.Condition as string, e);
  if ('Fn::Not' in o) return !evalCondition(template, (o['Fn::Not'] as unknown[])[0], e);
  if ('Fn::And' in o) return (o['Fn::And'] as unknown[]).every((c) => evalCondition(template, c, e));
  if ('Fn::Or' in o) return (o['Fn::Or'] as unknown[]).some((c) => evalCondition(template, c, e));
  if ('Fn::Equals' in o) {
    const [a, b] = (o['Fn::Equals'] as unknown[]).map((v) => resolve(template, v, e));
    return a === b;
  }
  throw new Error(`unsupported condition ${JSON.stringify(x)}`);
}

/** What `resolve` makes of `Fn::GetAtt [id, attr]`: a placeholder that survives joining and splitting. */
export const getAtt = (logicalId: string, attribute = 'Arn') => `{${logicalId}.${attribute}}`;

/**
 * Resolves Ref (parameters and pseudo parameters; a resource's Ref stays `{Ref}`), Fn::If, Fn::Sub,
 * Fn::Join and Fn::Split, dropping AWS::NoValue. Fn::GetAtt becomes the placeholder `getAtt` returns.
 */
export function resolve(template: Template, x: unknown, e: Evaluation = {}): unknown {
  if (Array.isArray(x)) return x.map((v) => resolve(template, v, e)).filter((v) => v !== NO_VALUE);
  if (x === null || typeof x !== 'object') return x;
  const o = x as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0] === 'Ref') {
    const name = o.Ref as string;
    if (name === 'AWS::NoValue') return NO_VALUE;
    if (name in PSEUDO) return PSEUDO[name];
    const param = template.Parameters?.[name];
    if (param) return e.parameters?.[name] ?? param.Default ?? '';
    return o;
  }
  if (keys.length === 1 && keys[0] === 'Fn::GetAtt') {
    const [id, attribute] = o['Fn::GetAtt'] as [string, string];
    return getAtt(id, attribute);
  }
  if (keys.length === 1 && keys[0] === 'Fn::If') {
    const [cond, yes, no] = o['Fn::If'] as [string, unknown, unknown];
    return resolve(template, condition(template, cond, e) ? yes : no, e);
  }
  if (keys.length === 1 && keys[0] === 'Fn::Sub') {
    const arg = o['Fn::Sub'];
    const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
    const values = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, resolve(template, v, e)]));
    return text.replace(/\$\{([^}]+)\}/g, (whole, name: string) => {
      const ref = name in values ? values[name] : name in PSEUDO ? PSEUDO[name] : resolve(template, { Ref: name }, e);
      // A resource's Ref (its name or id) is only known once deployed: a placeholder.
      const v = typeof ref === 'object' && ref !== null && 'Ref' in ref ? `{${name}}` : ref;
      if (typeof v !== 'string') throw new Error(`cannot substitute ${whole}: ${JSON.stringify(v)}`);
      return v;
    });
  }
  if (keys.length === 1 && keys[0] === 'Fn::Join') {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return (resolve(template, parts, e) as unknown[]).map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(sep);
  }
  if (keys.length === 1 && keys[0] === 'Fn::Split') {
    const [sep, text] = o['Fn::Split'] as [string, unknown];
    return (resolve(template, text, e) as string).split(sep);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const r = resolve(template, v, e);
    if (r !== NO_VALUE) out[k] = r;
  }
  return out;
}

const NO_VALUE = Symbol('AWS::NoValue');
