/** EventBridge rule: "Node Schedulability Changed" and "Relocation Requested" -> relocate that node's assistants. */
import type { Context } from 'aws-lambda';
import { parseTriggerEvent } from '../src/events/parse.js';
import { invoke } from '../src/lambda/runtime.js';

export const handler = (event: unknown, context?: Context) => invoke(event, parseTriggerEvent, { context });
