/**
 * The one way settings are read from environment variables (Lambdas, forwarder, local mode, CLI): a zod
 * object of the variables a component reads, parsed once at start-up. Empty strings mean unset
 * (serverless.yml and Helm render absent parameters as ""), and one error names every variable that is
 * wrong and the value it had, so a misconfigured deployment says what to fix instead of crash-looping.
 */
import * as z from '../events/zod.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Values too long to be useful in an error are cut; values of secret-like names are never shown. */
function shown(name: string, value: string | undefined): string {
  if (value === undefined) return 'unset';
  if (/TOKEN|SECRET|PASSWORD|KEY$/.test(name) && !/PARAMETER$/.test(name)) return 'a value';
  const v = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return JSON.stringify(v);
}

/**
 * The variables `schema` names, parsed; a ConfigError naming each bad variable, why, and what it was.
 * `what` says whose configuration it is ("forwarder" reads "invalid forwarder configuration: ...").
 */
export function parseEnv<S extends z.ZodMiniObject>(schema: S, env: Env, o: { what?: string; hints?: Record<string, string> } = {}): z.output<S> {
  const present = Object.fromEntries(Object.entries(env).filter(([k, v]) => k in schema.shape && v !== undefined && v !== ''));
  const r = schema.safeParse(present);
  if (r.success) return r.data;
  const why = r.error.issues.map((i) => {
    const name = String(i.path[0] ?? '');
    const hint = o.hints?.[name];
    return `${i.path.join('.')}: ${i.message} (got ${shown(name, present[name])}${hint ? `; ${hint}` : ''})`;
  });
  throw new ConfigError(`invalid ${o.what ? `${o.what} ` : ''}configuration: ${why.join('; ')}`);
}

export const boolean = z.pipe(
  z.enum(['true', 'false', '1', '0']),
  z.transform((s) => s === 'true' || s === '1'),
);

/** Comma-separated names; blanks dropped. */
export const list = z.pipe(
  z.string(),
  z.transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)),
);

/** A required, non-blank value; `what` says what it is, for the error. */
export const required = (what: string) => z.string({ error: `required: ${what}` }).check(z.trim(), z.minLength(1, `required: ${what}`));
