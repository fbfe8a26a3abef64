/** Schedule (every 5 min): every assistant in the cluster, the safety net behind the events. */
import type { Context } from 'aws-lambda';
import { parseScheduledEvent } from '../src/events/parse.js';
import { invoke } from '../src/lambda/runtime.js';

export const handler = (event: unknown, context?: Context) => invoke(event, parseScheduledEvent, { context });
