/**
 * AWS_EVENT_ACTIONS: what to do with each kind of AWS notice, validated once with errors that name the bad
 * entry; and what each action does with a trigger (the relocator itself runs on the real control plane in
 * test/integration/aws-notices.test.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import type { Outcome } from '../../../src/domain/outcome.js';
import type { RelocationTrigger } from '../../../src/domain/trigger.js';
import {
  awsEventActionsFromEnv,
  DEFAULT_AWS_EVENT_ACTIONS,
  onAwsEvent,
  parseAwsEventActions,
  relocateOnAwsNotice,
} from '../../../src/relocator/aws-actions.js';
import { ConfigError } from '../../../src/config/env.js';
import type { HandlerDeps } from '../../../src/relocator/handlers.js';
import type { HandleOptions, Relocator } from '../../../src/relocator/relocator.js';
import { sampleEvent } from '../events/fixtures.js';

const ALL_RELOCATE = {
  'spot-interruption': 'relocate',
  'rebalance-recommendation': 'relocate',
  'instance-state-change': 'relocate',
  'asg-terminate': 'relocate',
  'health-scheduled-change': 'relocate',
} as const;

function configError(setting: string): ConfigError {
  try {
    parseAwsEventActions(setting);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`expected ${setting} to be refused`);
}

describe('AWS_EVENT_ACTIONS', () => {
  it('relocates on every notice but the noisy rebalance recommendation by default', () => {
    expect(DEFAULT_AWS_EVENT_ACTIONS).toEqual({ ...ALL_RELOCATE, 'rebalance-recommendation': 'ignore' });
    expect(parseAwsEventActions(undefined)).toEqual(DEFAULT_AWS_EVENT_ACTIONS);
    expect(parseAwsEventActions('')).toEqual(DEFAULT_AWS_EVENT_ACTIONS);
    expect(awsEventActionsFromEnv({})).toEqual(DEFAULT_AWS_EVENT_ACTIONS);
  });

  it('reads a full setting', () => {
    const setting =
      'spot-interruption=relocate,rebalance-recommendation=ignore,instance-state-change=relocate,asg-terminate=relocate,health-scheduled-change=relocate';
    expect(awsEventActionsFromEnv({ AWS_EVENT_ACTIONS: setting })).toEqual(DEFAULT_AWS_EVENT_ACTIONS);
  });

  it('keeps the default of every notice the setting does not name, and tolerates spaces', () => {
    expect(parseAwsEventActions(' rebalance-recommendation = notify-only , health-scheduled-change=ignore, ')).toEqual({
      ...DEFAULT_AWS_EVENT_ACTIONS,
      'rebalance-recommendation': 'notify-only',
      'health-scheduled-change': 'ignore',
    });
  });

  it.each([
    ['spot=relocate', '"spot=relocate": unknown notice "spot" (known: spot-interruption, rebalance-recommendation, instance-state-change, asg-terminate, health-scheduled-change)'],
    ['spot-interruption=drain', '"spot-interruption=drain": unknown action "drain" (known: relocate, notify-only, ignore)'],
    ['spot-interruption=', '"spot-interruption=": unknown action "" (known: relocate, notify-only, ignore)'],
    ['spot-interruption', '"spot-interruption" is not notice=action'],
    ['spot-interruption=relocate=now', '"spot-interruption=relocate=now" is not notice=action'],
    ['asg-terminate=ignore,asg-terminate=relocate', '"asg-terminate=relocate": asg-terminate is set twice'],
  ])('refuses %s, naming the entry', (setting, problem) => {
    expect(configError(setting).message).toBe(`invalid configuration: AWS_EVENT_ACTIONS: ${problem}`);
  });

  it('names every bad entry at once', () => {
    const message = configError('spot=relocate,asg-terminate=relocate,health-scheduled-change=maybe').message;
    expect(message).toContain('"spot=relocate": unknown notice');
    expect(message).toContain('"health-scheduled-change=maybe": unknown action');
    expect(message).not.toContain('asg-terminate=relocate');
  });
});

describe('the action on a trigger of an AWS notice', () => {
  const trigger = (source: RelocationTrigger['source']): RelocationTrigger => ({
    id: 'evt-1',
    source,
    target: { kind: 'instance', instanceId: 'i-1234567890abcdef0' },
    observedAt: '2025-03-14T09:26:53Z',
  });

  /** Deps whose relocator records how it was asked to handle each trigger. */
  function recording() {
    const calls: { trigger: RelocationTrigger; options: HandleOptions | undefined }[] = [];
    const handle = vi.fn(async (t: RelocationTrigger, options?: HandleOptions): Promise<Outcome[]> => {
      calls.push({ trigger: t, options });
      return [];
    });
    const deps: HandlerDeps = { relocator: { handle } as unknown as Relocator, cluster: 'test' };
    return { deps, calls };
  }

  it('relocates', async () => {
    const { deps, calls } = recording();
    await relocateOnAwsNotice(trigger('aws-spot-interruption'), deps, DEFAULT_AWS_EVENT_ACTIONS);
    expect(calls).toEqual([{ trigger: trigger('aws-spot-interruption'), options: { notifyOnly: false } }]);
  });

  it('in notify-only, asks the relocator to decide and report without deleting', async () => {
    const { deps, calls } = recording();
    await relocateOnAwsNotice(trigger('aws-asg-terminate'), deps, { ...DEFAULT_AWS_EVENT_ACTIONS, 'asg-terminate': 'notify-only' });
    expect(calls.map((c) => c.options)).toEqual([{ notifyOnly: true }]);
  });

  it('ignores without even looking at the cluster', async () => {
    const { deps, calls } = recording();
    expect(await relocateOnAwsNotice(trigger('aws-rebalance-recommendation'), deps, DEFAULT_AWS_EVENT_ACTIONS)).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('relocates for a trigger that comes from no AWS notice', async () => {
    const { deps, calls } = recording();
    const ignoreAll = Object.fromEntries(Object.keys(ALL_RELOCATE).map((k) => [k, 'ignore'])) as unknown as typeof DEFAULT_AWS_EVENT_ACTIONS;
    await relocateOnAwsNotice(trigger('manual'), deps, ignoreAll);
    expect(calls.map((c) => c.options)).toEqual([{ notifyOnly: false }]);
  });

  it('handles each instance of an AWS Health event, and nothing for an instance entering running', async () => {
    const { deps, calls } = recording();
    const health = sampleEvent('aws/health-scheduled-change.json') as { detail: Record<string, unknown> };
    const entities = ['i-0000000000000000a', 'i-0000000000000000b', 'i-0000000000000000c'].map((entityValue) => ({ entityValue }));
    await onAwsEvent({ ...health, detail: { ...health.detail, affectedEntities: entities } }, deps, DEFAULT_AWS_EVENT_ACTIONS);
    expect(calls.map((c) => c.trigger.target)).toEqual(entities.map((e) => ({ kind: 'instance', instanceId: e.entityValue })));

    const running = sampleEvent('aws/instance-state-change.json') as { detail: Record<string, unknown> };
    expect(await onAwsEvent({ ...running, detail: { ...running.detail, state: 'running' } }, deps, DEFAULT_AWS_EVENT_ACTIONS)).toEqual([]);
    expect(calls).toHaveLength(3);
  });
});
