/** Schedule (every 5 min): every assistant in the cluster, the safety net behind the events. */
import { parseScheduledEvent } from '../src/events/parse.js';
import { invoke } from '../src/relocator/lambda-runtime.js';

export const handler = (event: unknown) => invoke(event, parseScheduledEvent);
