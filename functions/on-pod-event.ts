/** EventBridge rule: "Assistant Pod Changed" -> check the node the assistant pod is on now. */
import { parseTriggerEvent } from '../src/events/parse.js';
import { invoke } from '../src/relocator/lambda-runtime.js';

export const handler = (event: unknown) => invoke(event, parseTriggerEvent);
