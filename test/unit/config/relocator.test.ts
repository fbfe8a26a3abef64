/** The relocator's settings from the environment: defaults, every variable, and a clear error for bad ones. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../src/domain/config.js';
import { ConfigError } from '../../../src/config/env.js';
import { configFromEnv, DEFAULT_SWEEP_INTERVAL_MS, sweepIntervalFromEnv } from '../../../src/config/relocator.js';

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
        MAX_DELETES_PER_MINUTE: '120',
        DRY_RUN: 'false',
        INTERRUPTION_TAINT: '0',
        INTERRUPTION_TAINT_TTL_MINUTES: '120',
        WHEN_NO_NODE_FITS: 'block',
        CLUSTER_AUTOSCALER: 'present',
        CAPACITY_TIMEOUT_SECONDS: '1200',
        PENDING_TASKRUNS: 'report',
        PENDING_GRACE_SECONDS: '45',
      }),
    ).toEqual({
      assistantSelector: { 'app.kubernetes.io/component': 'affinity-assistant', team: 'ci' },
      taintInclude: ['example.com/drain', 'karpenter.sh/*'],
      taintExclude: ['karpenter.sh/disruption'],
      notReadyGraceMs: 90_000,
      loopGuardMax: 5,
      loopGuardWindowMs: 600_000,
      confirmTimeoutMs: 30_000,
      maxDeletesPerMinute: 120,
      dryRun: false,
      interruptionTaint: false,
      interruptionTaintTtlMs: 7_200_000,
      whenNoNodeFits: 'block',
      clusterAutoscaler: 'present',
      capacityTimeoutMs: 1_200_000,
      pendingTaskRuns: 'report',
      pendingGraceMs: 45_000,
    });
  });

  it('refuses a PENDING_TASKRUNS it does not know, naming the values allowed', () => {
    expect(() => configFromEnv({ PENDING_TASKRUNS: 'fix' })).toThrow(/^invalid configuration: PENDING_TASKRUNS: expected one of rescue, report, off \(got "fix"\)$/);
    expect(configFromEnv({}).pendingTaskRuns).toBe('rescue');
    expect(configFromEnv({}).pendingGraceMs).toBe(20_000);
  });

  it('refuses a WHEN_NO_NODE_FITS or CLUSTER_AUTOSCALER it does not know, naming the variable and the values allowed', () => {
    expect(() => configFromEnv({ WHEN_NO_NODE_FITS: 'grow' })).toThrow(/^invalid configuration: WHEN_NO_NODE_FITS: expected one of auto, delete, block \(got "grow"\)$/);
    expect(() => configFromEnv({ CLUSTER_AUTOSCALER: 'yes' })).toThrow(/^invalid configuration: CLUSTER_AUTOSCALER: expected one of auto, present, absent \(got "yes"\)$/);
    expect(configFromEnv({}).whenNoNodeFits).toBe('auto');
  });

  it.each([
    ['DRY_RUN', 'yes'],
    ['INTERRUPTION_TAINT', 'on'],
    ['INTERRUPTION_TAINT_TTL_MINUTES', '0'],
    ['INTERRUPTION_TAINT_TTL_MINUTES', '2h'],
    ['NOT_READY_GRACE_SECONDS', '-1'],
    ['LOOP_GUARD_MAX', '1000'],
    ['CONFIRM_TIMEOUT_SECONDS', '86401'],
    ['CAPACITY_TIMEOUT_SECONDS', '15m'],
    ['MAX_DELETES_PER_MINUTE', '0'],
    ['ASSISTANT_SELECTOR', 'no-equals-sign'],
  ])('refuses %s=%s with a ConfigError naming the variable', (name, value) => {
    const attempt = () => configFromEnv({ [name]: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(new RegExp(`^invalid configuration: ${name}`));
  });

  it('refuses a loop-guard window longer than the Events it counts live, and says why', () => {
    expect(() => configFromEnv({ LOOP_GUARD_WINDOW_MINUTES: '61' })).toThrow(/LOOP_GUARD_WINDOW_MINUTES: at most 60: the loop guard counts Kubernetes Events, which expire after an hour/);
    expect(configFromEnv({ LOOP_GUARD_WINDOW_MINUTES: '60' }).loopGuardWindowMs).toBe(3_600_000);
  });

  it('names every bad variable at once, with the value it had', () => {
    expect(() => configFromEnv({ DRY_RUN: 'maybe', LOOP_GUARD_MAX: '0' })).toThrow(
      'invalid configuration: LOOP_GUARD_MAX: Too small: expected number to be >=1 (got "0"); DRY_RUN: Invalid option: expected one of "0"|"1"|"true"|"false" (got "maybe")',
    );
  });
});

describe('sweepIntervalFromEnv (local mode\'s sweep)', () => {
  it('is AWS\'s 5 minutes when unset or empty, the value in ms otherwise, and 0 (off) for 0', () => {
    expect(DEFAULT_SWEEP_INTERVAL_MS).toBe(300_000);
    expect(sweepIntervalFromEnv({})).toBe(300_000);
    expect(sweepIntervalFromEnv({ SWEEP_INTERVAL_SECONDS: '' })).toBe(300_000);
    expect(sweepIntervalFromEnv({ SWEEP_INTERVAL_SECONDS: '30' })).toBe(30_000);
    expect(sweepIntervalFromEnv({ SWEEP_INTERVAL_SECONDS: ' 2 ' })).toBe(2_000);
    expect(sweepIntervalFromEnv({ SWEEP_INTERVAL_SECONDS: '86400' })).toBe(86_400_000);
    expect(sweepIntervalFromEnv({ SWEEP_INTERVAL_SECONDS: '0' })).toBe(0);
  });

  it.each(['-1', '1.5', '5m', 'abc', '1e3', '0x10', 'Infinity', '86401'])('refuses SWEEP_INTERVAL_SECONDS=%s with a ConfigError naming the variable and the value', (value) => {
    const attempt = () => sweepIntervalFromEnv({ SWEEP_INTERVAL_SECONDS: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(new RegExp(`^invalid configuration: SWEEP_INTERVAL_SECONDS: .*\\(got "${value}"; 0 turns the sweep off\\)$`));
  });

  it('says why', () => {
    expect(() => sweepIntervalFromEnv({ SWEEP_INTERVAL_SECONDS: '5m' })).toThrow('invalid configuration: SWEEP_INTERVAL_SECONDS: expected a whole number of seconds (got "5m"; 0 turns the sweep off)');
    expect(() => sweepIntervalFromEnv({ SWEEP_INTERVAL_SECONDS: '90000' })).toThrow('invalid configuration: SWEEP_INTERVAL_SECONDS: at most 86400 (one day) (got "90000"; 0 turns the sweep off)');
  });

  it('is not one of the relocator\'s settings: configFromEnv ignores it', () => {
    expect(configFromEnv({ SWEEP_INTERVAL_SECONDS: 'whatever' })).toEqual(DEFAULT_CONFIG);
  });
});
