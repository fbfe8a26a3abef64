/**
 * The kinds of AWS notice the relocator consumes, and what one AWS event comes to: a trigger per EC2
 * instance it announces going away, or none and why (an instance entering `running` announces nothing).
 */
import type { RelocationTrigger, TriggerSource } from '../../domain/trigger.js';

/** One name per notice: the keys of AWS_EVENT_ACTIONS, and (with `aws-`) the trigger sources. */
export const AWS_NOTICES = [
  'spot-interruption',
  'rebalance-recommendation',
  'instance-state-change',
  'asg-terminate',
  'health-scheduled-change',
] as const;
export type AwsNotice = (typeof AWS_NOTICES)[number];

export function triggerSourceOf(notice: AwsNotice): TriggerSource {
  return `aws-${notice}`;
}

/** The notice behind a trigger source, if it is an AWS one. */
export function noticeOf(source: TriggerSource): AwsNotice | undefined {
  return AWS_NOTICES.find((n) => triggerSourceOf(n) === source);
}

/** A well-formed event that announces nothing to act on, and why (for the logs). */
export interface NoTrigger {
  ignored: string;
}

export interface AwsEventReading {
  /** Which of our notices it is; absent for an `unknown` one. */
  notice?: AwsNotice;
  /** One per instance announced as going away; empty when `ignored` says why. */
  triggers: RelocationTrigger[];
  ignored?: string;
  /** A detail-type of one of our AWS sources that we do not read (see AWS_SOURCES): counted, not acted on. */
  unknown?: { source: string; detailType: string };
}
