/**
 * EventBridge rules: "Assistant Pod Changed" -> check the node the assistant pod is on now; "TaskRun Pod
 * Unschedulable" -> free the TaskRun pod its assistant's node holds Pending, if moving the assistant can.
 */
import type { Context } from 'aws-lambda';
import { parseTriggerEvent } from '../src/events/parse.js';
import { invoke } from '../src/lambda/runtime.js';

export const handler = (event: unknown, context?: Context) => invoke(event, parseTriggerEvent, { context });
