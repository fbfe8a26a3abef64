/**
 * What to do with each kind of AWS notice, like aws-node-termination-handler v2's per-event actions. Set with
 * AWS_EVENT_ACTIONS, e.g. `spot-interruption=relocate,rebalance-recommendation=notify-only`; a notice not
 * named keeps its default. Actions:
 *   relocate     move the assistants off the announced node now, before anything cordons it;
 *   notify-only  decide as `relocate` would, delete nothing, and report each would-be move as a skip with
 *                reason `notify-only` (a result event, so that on-call hears of it);
 *   ignore       nothing at all: no outcome, no look at the cluster.
 */
import type { Outcome } from '../domain/outcome.js';
import type { RelocationTrigger } from '../domain/trigger.js';
import { parseAwsEvent } from '../events/aws/index.js';
import { AWS_NOTICES, type AwsNotice, noticeOf } from '../events/aws/notice.js';
import { ConfigError } from '../config/env.js';
import type { HandlerDeps } from './handlers.js';

export const AWS_EVENT_ACTION_NAMES = ['relocate', 'notify-only', 'ignore'] as const;
export type AwsEventAction = (typeof AWS_EVENT_ACTION_NAMES)[number];
export type AwsEventActions = Readonly<Record<AwsNotice, AwsEventAction>>;

export const DEFAULT_AWS_EVENT_ACTIONS: AwsEventActions = {
  'spot-interruption': 'relocate',
  // Noisy: EC2 recommends rebalancing whenever a Spot Instance's risk rises, and most such instances run on.
  'rebalance-recommendation': 'ignore',
  'instance-state-change': 'relocate',
  'asg-terminate': 'relocate',
  'health-scheduled-change': 'relocate',
};

/** Parses AWS_EVENT_ACTIONS (unset or empty: the defaults); throws a ConfigError naming every bad entry. */
export function parseAwsEventActions(setting: string | undefined): AwsEventActions {
  const actions: Record<AwsNotice, AwsEventAction> = { ...DEFAULT_AWS_EVENT_ACTIONS };
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const entry of (setting ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const [name = '', action, ...extra] = entry.split('=').map((x) => x.trim());
    if (action === undefined || extra.length > 0) {
      problems.push(`"${entry}" is not notice=action`);
    } else if (!isNotice(name)) {
      problems.push(`"${entry}": unknown notice "${name}" (known: ${AWS_NOTICES.join(', ')})`);
    } else if (!isAction(action)) {
      problems.push(`"${entry}": unknown action "${action}" (known: ${AWS_EVENT_ACTION_NAMES.join(', ')})`);
    } else if (seen.has(name)) {
      problems.push(`"${entry}": ${name} is set twice`);
    } else {
      seen.add(name);
      actions[name] = action;
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration: AWS_EVENT_ACTIONS: ${problems.join('; ')}`);
  return actions;
}

export function awsEventActionsFromEnv(env: NodeJS.ProcessEnv = process.env): AwsEventActions {
  return parseAwsEventActions(env.AWS_EVENT_ACTIONS);
}

/** The action for a trigger; triggers that come from no AWS notice are relocated as usual. */
export function actionFor(trigger: RelocationTrigger, actions: AwsEventActions): AwsEventAction {
  const notice = noticeOf(trigger.source);
  return notice ? actions[notice] : 'relocate';
}

/** One trigger of an AWS notice, as its action says. */
export async function relocateOnAwsNotice(trigger: RelocationTrigger, d: HandlerDeps, actions: AwsEventActions): Promise<Outcome[]> {
  const action = actionFor(trigger, actions);
  if (action === 'ignore') return [];
  // AWS notices name no cluster (they are per account): the relocator looks for the instance among this
  // cluster's nodes and answers 'other-cluster' when it is not one of them.
  return d.relocator.handle(trigger, { notifyOnly: action === 'notify-only' });
}

/** What the on-aws-event Lambda does with one event, in one call (local runs and tests). */
export async function onAwsEvent(raw: unknown, d: HandlerDeps, actions: AwsEventActions): Promise<Outcome[]> {
  const triggers = parseAwsEvent(raw);
  return (await Promise.all(triggers.map((t) => relocateOnAwsNotice(t, d, actions)))).flat();
}

function isNotice(name: string): name is AwsNotice {
  return (AWS_NOTICES as readonly string[]).includes(name);
}

function isAction(action: string): action is AwsEventAction {
  return (AWS_EVENT_ACTION_NAMES as readonly string[]).includes(action);
}
