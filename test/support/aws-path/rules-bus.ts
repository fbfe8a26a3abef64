/**
 * The bus of the AWS-shaped path: the loopback EventBridge endpoint (../eventbridge-server.ts) accepts
 * PutEvents as the service does; each accepted entry is wrapped in the envelope a target receives, matched
 * against the rules of its bus by Event Ruler (AWS's own matching engine, one long-lived JVM, see
 * ../../event-ruler/harness.ts) and handed to each matching rule's function as an asynchronous invocation.
 * Delivery is at least once, as EventBridge's: `duplicateFraction` of the deliveries are made twice (the
 * same event id), so the path shows what a duplicate costs.
 */
import { delivered } from '../../../src/local/delivered.js';
import { EventRulerStream } from '../../event-ruler/harness.js';
import { type AcceptedEntry, FakeEventBridge } from '../eventbridge-server.js';
import type { RuleSettings } from './serverless-config.js';

/** Hands an event to a rule's target function (Lambda's asynchronous invoke). */
export type Deliver = (fn: string, event: unknown, eventId: string) => void;

export interface Delivery {
  eventId: string;
  detailType: string;
  rules: string[];
  /** performance.now() when the bus accepted the entry. */
  at: number;
  duplicated: boolean;
}

export class RulesBus {
  readonly deliveries: Delivery[] = [];
  /** Entries that matched no rule (e.g. result events, whose rules target SNS and API destinations). */
  unmatched = 0;
  routingErrors: string[] = [];
  private inFlight = 0;

  private constructor(
    readonly endpoint: FakeEventBridge,
    private readonly ruler: EventRulerStream,
    private readonly rules: RuleSettings[],
    private readonly o: { deliver: Deliver; account: string; region: string; duplicateFraction: number; random: () => number },
  ) {
    endpoint.onAccepted = (entry) => void this.route(entry);
  }

  static async start(o: { rules: RuleSettings[]; deliver: Deliver; account: string; region: string; duplicateFraction?: number; random?: () => number }): Promise<RulesBus> {
    // Rule names are unique per bus in AWS; here they are keys of one Machine, so they are prefixed by the bus.
    const patterns = Object.fromEntries(o.rules.map((r) => [`${r.bus}/${r.name}`, r.pattern]));
    const ruler = await EventRulerStream.start(patterns);
    const endpoint = await FakeEventBridge.start();
    return new RulesBus(endpoint, ruler, o.rules, { ...o, duplicateFraction: o.duplicateFraction ?? 0, random: o.random ?? Math.random });
  }

  get url(): string {
    return this.endpoint.url;
  }

  /** Entries accepted but not yet handed to Lambda (matching in progress). */
  get routing(): number {
    return this.inFlight;
  }

  async stop(): Promise<void> {
    this.endpoint.onAccepted = undefined;
    await this.endpoint.close();
    await this.ruler.stop();
  }

  private async route(entry: AcceptedEntry): Promise<void> {
    this.inFlight++;
    const at = performance.now();
    try {
      // A bus is named by name or ARN; no name is the default bus.
      const bus = entry.EventBusName?.replace(/^arn:[^:]+:events:[^:]*:\d*:event-bus\//, '') ?? 'default';
      const event = delivered(
        { Source: entry.Source!, DetailType: entry.DetailType!, Detail: entry.Detail! },
        { id: entry.EventId, time: entry.Time === undefined ? undefined : new Date(entry.Time * 1000), account: this.o.account, region: this.o.region, resources: entry.Resources },
      );
      const matched = (await this.ruler.match(event)).filter((key) => key.startsWith(`${bus}/`));
      if (matched.length === 0) this.unmatched++;
      for (const key of matched) {
        const rule = this.rules.find((r) => `${r.bus}/${r.name}` === key)!;
        const duplicated = this.o.random() < this.o.duplicateFraction;
        this.deliveries.push({ eventId: event.id, detailType: event['detail-type'], rules: [rule.name], at, duplicated });
        this.o.deliver(rule.target, event, event.id);
        if (duplicated) this.o.deliver(rule.target, event, event.id);
      }
    } catch (e) {
      this.routingErrors.push(e instanceof Error ? e.message : String(e));
    } finally {
      this.inFlight--;
    }
  }
}
