/** EventBridge rule: "Node Schedulability Changed" and "Relocation Requested" -> relocate that node's assistants. */
import { parseTriggerEvent } from '../src/events/parse.js';
import { invoke } from '../src/relocator/lambda-runtime.js';

export const handler = (event: unknown) => invoke(event, parseTriggerEvent);
