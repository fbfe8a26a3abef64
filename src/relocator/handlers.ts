/**
 * What each Lambda does between parsing and returning, shared by the functions/ entry points and the
 * local bus so that both run exactly the same code.
 */
import type { Outcome } from '../domain/outcome.js';
import type { RelocationTrigger } from '../domain/trigger.js';
import { parseScheduledEvent, parseTriggerEvent } from '../events/parse.js';
import type { Relocator } from './relocator.js';

export interface HandlerDeps {
  relocator: Relocator;
  /** This deployment's cluster name: triggers for another cluster sharing the bus are ignored. */
  cluster: string;
}

/** "Node Schedulability Changed", "Assistant Pod Changed" and "Relocation Requested" events. */
export async function onTriggerEvent(raw: unknown, d: HandlerDeps): Promise<Outcome[]> {
  return handle(parseTriggerEvent(raw), d);
}

/** The sweep's schedule: every assistant in the cluster. */
export async function onScheduledEvent(raw: unknown, d: HandlerDeps): Promise<Outcome[]> {
  return handle(parseScheduledEvent(raw), d);
}

export async function handle(trigger: RelocationTrigger, d: HandlerDeps): Promise<Outcome[]> {
  if (trigger.cluster && trigger.cluster !== d.cluster) {
    return [
      {
        kind: 'skipped',
        reason: 'other-cluster',
        message: `the trigger is for cluster ${trigger.cluster}, this is ${d.cluster}`,
        assistant: { namespace: '', pod: '' },
        triggerId: trigger.id,
        triggerSource: trigger.source,
      },
    ];
  }
  return d.relocator.handle(trigger);
}
