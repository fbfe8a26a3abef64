/** Reads and validates the relocator's settings from environment variables, once, at start-up. */
import { z } from 'zod';
import { DEFAULT_CONFIG, type RelocatorConfig } from '../domain/config.js';

const list = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));
const seconds = z.coerce.number().int().min(0).max(86_400).transform((s) => s * 1000);
const bool = z.enum(['true', 'false', '1', '0']).transform((s) => s === 'true' || s === '1');
const selector = z
  .string()
  .transform((s) => s.split(',').map((kv) => kv.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^[^=\s]+=[^=\s]*$/, 'expected key=value pairs separated by commas')).min(1))
  .transform((pairs) => Object.fromEntries(pairs.map((p) => p.split('=') as [string, string])));

const Env = z.object({
  ASSISTANT_SELECTOR: selector.optional(),
  TAINT_INCLUDE: list.optional(),
  TAINT_EXCLUDE: list.optional(),
  NOT_READY_GRACE_SECONDS: seconds.optional(),
  LOOP_GUARD_MAX: z.coerce.number().int().min(1).max(100).optional(),
  LOOP_GUARD_WINDOW_MINUTES: z.coerce.number().int().min(1).max(1440).transform((m) => m * 60_000).optional(),
  CONFIRM_TIMEOUT_SECONDS: seconds.optional(),
  DRY_RUN: bool.optional(),
  INTERRUPTION_TAINT: bool.optional(),
  INTERRUPTION_TAINT_TTL_MINUTES: z.coerce.number().int().min(1).max(43_200).transform((m) => m * 60_000).optional(),
});

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<RelocatorConfig> = {}): RelocatorConfig {
  // Empty strings mean "unset" (serverless.yml renders absent parameters as "").
  const present = Object.fromEntries(Object.entries(env).filter(([k, v]) => k in Env.shape && v !== undefined && v !== ''));
  const r = Env.safeParse(present);
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${why}`);
  }
  const e = r.data;
  return {
    ...DEFAULT_CONFIG,
    ...(e.ASSISTANT_SELECTOR && { assistantSelector: e.ASSISTANT_SELECTOR }),
    ...(e.TAINT_INCLUDE && { taintInclude: e.TAINT_INCLUDE }),
    ...(e.TAINT_EXCLUDE && { taintExclude: e.TAINT_EXCLUDE }),
    ...(e.NOT_READY_GRACE_SECONDS !== undefined && { notReadyGraceMs: e.NOT_READY_GRACE_SECONDS }),
    ...(e.LOOP_GUARD_MAX !== undefined && { loopGuardMax: e.LOOP_GUARD_MAX }),
    ...(e.LOOP_GUARD_WINDOW_MINUTES !== undefined && { loopGuardWindowMs: e.LOOP_GUARD_WINDOW_MINUTES }),
    ...(e.CONFIRM_TIMEOUT_SECONDS !== undefined && { confirmTimeoutMs: e.CONFIRM_TIMEOUT_SECONDS }),
    ...(e.DRY_RUN !== undefined && { dryRun: e.DRY_RUN }),
    ...(e.INTERRUPTION_TAINT !== undefined && { interruptionTaint: e.INTERRUPTION_TAINT }),
    ...(e.INTERRUPTION_TAINT_TTL_MINUTES !== undefined && { interruptionTaintTtlMs: e.INTERRUPTION_TAINT_TTL_MINUTES }),
    ...overrides,
  };
}
