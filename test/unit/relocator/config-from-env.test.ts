/** The relocator's settings from the environment: defaults, every variable, and a clear error for bad ones. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../src/domain/config.js';
import { ConfigError, configFromEnv } from '../../../src/relocator/config-from-env.js';

describe('configFromEnv', () => {
  it('gives the defaults for an empty environment, and treats empty strings as unset (serverless.yml renders absent parameters so)', () => {
    expect(configFromEnv({})).toEqual(DEFAULT_CONFIG);
    expect(configFromEnv({ DRY_RUN: '', INTERRUPTION_TAINT: '', INTERRUPTION_TAINT_TTL_MINUTES: '', TAINT_INCLUDE: '' })).toEqual(DEFAULT_CONFIG);
  });

  it('reads every variable, in its unit', () => {
    expect(
      configFromEnv({
        ASSISTANT_SELECTOR: 'app.kubernetes.io/component=affinity-assistant, team=ci',
        TAINT_INCLUDE: 'example.com/drain, karpenter.sh/*',
        TAINT_EXCLUDE: 'karpenter.sh/disruption',
        NOT_READY_GRACE_SECONDS: '90',
        LOOP_GUARD_MAX: '5',
        LOOP_GUARD_WINDOW_MINUTES: '10',
        CONFIRM_TIMEOUT_SECONDS: '30',
        DRY_RUN: 'false',
        INTERRUPTION_TAINT: '0',
        INTERRUPTION_TAINT_TTL_MINUTES: '120',
      }),
    ).toEqual({
      assistantSelector: { 'app.kubernetes.io/component': 'affinity-assistant', team: 'ci' },
      taintInclude: ['example.com/drain', 'karpenter.sh/*'],
      taintExclude: ['karpenter.sh/disruption'],
      notReadyGraceMs: 90_000,
      loopGuardMax: 5,
      loopGuardWindowMs: 600_000,
      confirmTimeoutMs: 30_000,
      dryRun: false,
      interruptionTaint: false,
      interruptionTaintTtlMs: 7_200_000,
    });
  });

  it.each([
    ['DRY_RUN', 'yes'],
    ['INTERRUPTION_TAINT', 'on'],
    ['INTERRUPTION_TAINT_TTL_MINUTES', '0'],
    ['INTERRUPTION_TAINT_TTL_MINUTES', '2h'],
    ['NOT_READY_GRACE_SECONDS', '-1'],
    ['LOOP_GUARD_MAX', '1000'],
    ['CONFIRM_TIMEOUT_SECONDS', '86401'],
    ['ASSISTANT_SELECTOR', 'no-equals-sign'],
  ])('refuses %s=%s with a ConfigError naming the variable', (name, value) => {
    const attempt = () => configFromEnv({ [name]: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(new RegExp(`^invalid configuration: ${name}`));
  });

  it('names every bad variable at once', () => {
    expect(() => configFromEnv({ DRY_RUN: 'maybe', LOOP_GUARD_MAX: '0' })).toThrow(
      'invalid configuration: LOOP_GUARD_MAX: Too small: expected number to be >=1; DRY_RUN: Invalid option: expected one of "0"|"1"|"true"|"false"',
    );
  });
});
