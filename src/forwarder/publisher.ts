/** Where the forwarder's events go: EventBridge in AWS, the in-process bus in local mode. */
import type { PutEventsEntry } from '../events/contract.js';

export interface Publisher {
  /** Accepts entries for delivery; resolves once they are accepted (delivered or safely queued). */
  publish(entries: PutEventsEntry[]): Promise<void>;
}
