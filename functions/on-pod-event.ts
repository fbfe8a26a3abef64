/** EventBridge rule: "Assistant Pod Changed" -> check the node the assistant pod is on now. */
import { onTriggerEvent } from '../src/relocator/handlers.js';
import { invoke } from '../src/relocator/lambda-runtime.js';

export const handler = (event: unknown) => invoke(event, onTriggerEvent);
