/** The event contract: what the Lambdas accept and what the forwarder, the CLI and the relocator emit. */
export * from './contract.js';
export { EventBridgeEnvelopeSchema, type EventBridgeEnvelope } from './envelope.js';
export { InvalidEventError, isNonRetryable, type EventIssue } from './errors.js';
export * from './node-schedulability-changed.js';
export * from './assistant-pod-changed.js';
export * from './relocation-requested.js';
export * from './taskrun-pod-unschedulable.js';
export * from './scheduled-event.js';
export * from './inbound.js';
export * from './results.js';
export { parseTriggerEvent, parseScheduledEvent } from './parse.js';
