/** Reads and validates the relocator's settings from environment variables, once, at start-up. */
import { DEFAULT_CONFIG, PENDING_TASKRUNS_MODES, type RelocatorConfig } from '../domain/config.js';
import * as z from '../events/zod.js';
import { boolean, type Env, list, parseEnv } from './env.js';

const seconds = z.pipe(
  z.coerce.number().check(z.int(), z.gte(0), z.lte(86_400)),
  z.transform((s) => s * 1000),
);
const selector = z.pipe(
  z.pipe(
    z.pipe(
      z.string(),
      z.transform((s) => s.split(',').map((kv) => kv.trim()).filter(Boolean)),
    ),
    z.array(z.string().check(z.regex(/^[^=\s]+=[^=\s]*$/, 'expected key=value pairs separated by commas'))).check(z.minLength(1)),
  ),
  z.transform((pairs) => Object.fromEntries(pairs.map((p) => p.split('=') as [string, string]))),
);

/** An enum whose error names the allowed values (zod's default message lists them too, but less plainly). */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: () => `expected one of ${values.join(', ')}` });

const RelocatorEnv = z.object({
  ASSISTANT_SELECTOR: z.optional(selector),
  TAINT_INCLUDE: z.optional(list),
  TAINT_EXCLUDE: z.optional(list),
  NOT_READY_GRACE_SECONDS: z.optional(seconds),
  LOOP_GUARD_MAX: z.optional(z.coerce.number().check(z.int(), z.gte(1), z.lte(100))),
  // The count is kept in Kubernetes Events, which the apiserver drops after --event-ttl (1 h by default,
  // and on EKS): a longer window would silently count fewer relocations than happened.
  LOOP_GUARD_WINDOW_MINUTES: z.optional(
    z.pipe(
      z.coerce.number().check(
        z.int(),
        z.gte(1),
        z.lte(60, { error: 'at most 60: the loop guard counts Kubernetes Events, which expire after an hour (the apiserver\'s default --event-ttl)' }),
      ),
      z.transform((m) => m * 60_000),
    ),
  ),
  CONFIRM_TIMEOUT_SECONDS: z.optional(seconds),
  WHEN_NO_NODE_FITS: z.optional(oneOf(['auto', 'delete', 'block'])),
  CLUSTER_AUTOSCALER: z.optional(oneOf(['auto', 'present', 'absent'])),
  CAPACITY_TIMEOUT_SECONDS: z.optional(seconds),
  PENDING_TASKRUNS: z.optional(oneOf(PENDING_TASKRUNS_MODES)),
  PENDING_GRACE_SECONDS: z.optional(seconds),
  MAX_DELETES_PER_MINUTE: z.optional(z.coerce.number().check(z.int(), z.gte(1), z.lte(100_000))),
  DRY_RUN: z.optional(boolean),
  INTERRUPTION_TAINT: z.optional(boolean),
  INTERRUPTION_TAINT_TTL_MINUTES: z.optional(
    z.pipe(
      z.coerce.number().check(z.int(), z.gte(1), z.lte(43_200)),
      z.transform((m) => m * 60_000),
    ),
  ),
});

export function configFromEnv(env: Env = process.env, overrides: Partial<RelocatorConfig> = {}): RelocatorConfig {
  const e = parseEnv(RelocatorEnv, env);
  return {
    ...DEFAULT_CONFIG,
    ...(e.ASSISTANT_SELECTOR && { assistantSelector: e.ASSISTANT_SELECTOR }),
    ...(e.TAINT_INCLUDE && { taintInclude: e.TAINT_INCLUDE }),
    ...(e.TAINT_EXCLUDE && { taintExclude: e.TAINT_EXCLUDE }),
    ...(e.NOT_READY_GRACE_SECONDS !== undefined && { notReadyGraceMs: e.NOT_READY_GRACE_SECONDS }),
    ...(e.LOOP_GUARD_MAX !== undefined && { loopGuardMax: e.LOOP_GUARD_MAX }),
    ...(e.LOOP_GUARD_WINDOW_MINUTES !== undefined && { loopGuardWindowMs: e.LOOP_GUARD_WINDOW_MINUTES }),
    ...(e.CONFIRM_TIMEOUT_SECONDS !== undefined && { confirmTimeoutMs: e.CONFIRM_TIMEOUT_SECONDS }),
    ...(e.WHEN_NO_NODE_FITS && { whenNoNodeFits: e.WHEN_NO_NODE_FITS }),
    ...(e.CLUSTER_AUTOSCALER && { clusterAutoscaler: e.CLUSTER_AUTOSCALER }),
    ...(e.CAPACITY_TIMEOUT_SECONDS !== undefined && { capacityTimeoutMs: e.CAPACITY_TIMEOUT_SECONDS }),
    ...(e.PENDING_TASKRUNS && { pendingTaskRuns: e.PENDING_TASKRUNS }),
    ...(e.PENDING_GRACE_SECONDS !== undefined && { pendingGraceMs: e.PENDING_GRACE_SECONDS }),
    ...(e.MAX_DELETES_PER_MINUTE !== undefined && { maxDeletesPerMinute: e.MAX_DELETES_PER_MINUTE }),
    ...(e.DRY_RUN !== undefined && { dryRun: e.DRY_RUN }),
    ...(e.INTERRUPTION_TAINT !== undefined && { interruptionTaint: e.INTERRUPTION_TAINT }),
    ...(e.INTERRUPTION_TAINT_TTL_MINUTES !== undefined && { interruptionTaintTtlMs: e.INTERRUPTION_TAINT_TTL_MINUTES }),
    ...overrides,
  };
}

/** AWS's sweep schedule (serverless.yml: every 5 minutes), which local mode keeps by default. */
export const DEFAULT_SWEEP_INTERVAL_MS = 300_000;

const SweepEnv = z.object({
  SWEEP_INTERVAL_SECONDS: z.optional(
    z.pipe(
      z.string().check(z.trim(), z.regex(/^\d+$/, 'expected a whole number of seconds')),
      z.pipe(z.transform(Number), z.number().check(z.lte(86_400, 'at most 86400 (one day)'))),
    ),
  ),
});

/**
 * SWEEP_INTERVAL_SECONDS, local mode's periodic sweep (every assistant looked at again, as the AWS schedule
 * does), in ms: unset or empty 300 s, 0 off; a ConfigError naming the variable and the value otherwise.
 */
export function sweepIntervalFromEnv(env: Env = process.env): number {
  const raw = env.SWEEP_INTERVAL_SECONDS;
  const present = raw === undefined || raw.trim() === '' ? {} : { SWEEP_INTERVAL_SECONDS: raw };
  const seconds = parseEnv(SweepEnv, present, { hints: { SWEEP_INTERVAL_SECONDS: '0 turns the sweep off' } }).SWEEP_INTERVAL_SECONDS;
  return seconds === undefined ? DEFAULT_SWEEP_INTERVAL_MS : seconds * 1000;
}
