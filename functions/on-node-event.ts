/** EventBridge rule: "Node Schedulability Changed" and "Relocation Requested" -> relocate that node's assistants. */
import { onTriggerEvent } from '../src/relocator/handlers.js';
import { invoke } from '../src/relocator/lambda-runtime.js';

export const handler = (event: unknown) => invoke(event, onTriggerEvent);
