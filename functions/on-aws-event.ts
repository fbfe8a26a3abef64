/**
 * EventBridge rules on the default bus: AWS's own notices that an EC2 instance is going away (Spot
 * interruption, rebalance recommendation, state change, ASG terminate lifecycle action, AWS Health scheduled
 * change) -> relocate the assistants off that instance's node before anything cordons it, as AWS_EVENT_ACTIONS says.
 */
import type { Context } from 'aws-lambda';
import type { RelocationTrigger } from '../src/domain/trigger.js';
import { readAwsEvent } from '../src/events/aws/index.js';
import type { HandlerDeps } from '../src/relocator/handlers.js';
import { actionFor, type AwsEventActions, awsEventActionsFromEnv, relocateOnAwsNotice } from '../src/relocator/aws-actions.js';
import { invoke, logger, metrics } from '../src/lambda/runtime.js';
import { countUnknownAwsEvent } from '../src/lambda/sinks.js';

let actions: AwsEventActions | undefined;

/**
 * parseAwsEvent, saying why when a notice announces nothing (e.g. an instance entering `running`), and
 * counting an AWS event type we do not read: a no-op, not an error to retry into the dead-letter queue.
 */
function parse(raw: unknown): RelocationTrigger[] {
  const { notice, triggers, ignored, unknown } = readAwsEvent(raw);
  if (unknown) countUnknownAwsEvent(metrics, unknown);
  if (ignored) logger.info(`nothing to relocate: ${ignored}`, { notice, unknown });
  return triggers;
}

async function run(trigger: RelocationTrigger, deps: HandlerDeps) {
  actions ??= awsEventActionsFromEnv(process.env); // validated once, at the first notice
  if (actionFor(trigger, actions) === 'ignore') logger.info(`${trigger.source} is set to ignore in AWS_EVENT_ACTIONS`, { trigger });
  const outcomes = await relocateOnAwsNotice(trigger, deps, actions);
  // Not an assistant's outcome, so no sink logs it: an instance of another cluster sharing the account.
  for (const o of outcomes) if (o.reason === 'other-cluster') logger.info(o.message, { trigger });
  return outcomes;
}

export const handler = (event: unknown, context?: Context) => invoke(event, parse, { run, context });
