/** HTTP API, POST /alertmanager: Alertmanager's webhook -> relocate the assistants of the nodes its firing node alerts name. */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { alertmanagerWebhook } from '../src/alerts/runtime.js';

export const handler = (event: APIGatewayProxyEventV2, context?: Context) => alertmanagerWebhook(event, context);
