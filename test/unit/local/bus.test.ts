/** Local mode's bus: the sweep's schedule delivered as AWS's "Scheduled Event", one sweep at a time, coalesced. */
import { describe, expect, it } from 'vitest';
import type { Outcome } from '../../../src/domain/outcome.js';
import { parseScheduledEvent } from '../../../src/events/parse.js';
import { NODE_SCHEDULABILITY_CHANGED } from '../../../src/events/contract.js';
import { toPutEventsEntry } from '../../../src/events/inbound.js';
import { nodeSchedulabilityChangedDetail } from '../../../src/events/node-schedulability-changed.js';
import { LocalBus, SWEEP_RULE_ARN } from '../../../src/local/bus.js';

/** A sweep handler that records each event and finishes only when the test says so. */
function gatedSweep() {
  const events: unknown[] = [];
  const gates: (() => void)[] = [];
  let running = 0;
  let maxRunning = 0;
  const handler = async (event: unknown): Promise<Outcome[]> => {
    events.push(event);
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise<void>((resolve) => gates.push(resolve));
    running--;
    return [];
  };
  return { handler, events, finish: () => gates.shift()?.(), get maxRunning() { return maxRunning; } };
}

const none = async (): Promise<Outcome[]> => [];
const tick = () => new Promise((r) => setImmediate(r));

describe('LocalBus sweep', () => {
  it('delivers a Scheduled Event from aws.events that the sweep function parses into a sweep of every assistant', async () => {
    const sweep = gatedSweep();
    const bus = new LocalBus({ handlers: { 'on-node-event': none, 'on-pod-event': none, sweep: sweep.handler } });
    bus.sweep(new Date('2026-11-25T12:05:00.000Z'));
    await tick();
    sweep.finish();
    await bus.drain();
    expect(sweep.events).toHaveLength(1);
    const e = sweep.events[0] as { source: string; 'detail-type': string; resources: string[]; detail: unknown };
    expect(e).toMatchObject({ source: 'aws.events', 'detail-type': 'Scheduled Event', resources: [SWEEP_RULE_ARN], detail: {} });
    expect(parseScheduledEvent(e)).toMatchObject({ source: 'sweep', target: { kind: 'all' }, observedAt: '2026-11-25T12:05:00.000Z' });
  });

  it('runs one sweep at a time: ticks while one runs become one more sweep after it', async () => {
    const sweep = gatedSweep();
    const bus = new LocalBus({ handlers: { 'on-node-event': none, 'on-pod-event': none, sweep: sweep.handler } });
    bus.sweep();
    await tick();
    for (let i = 0; i < 5; i++) bus.sweep();
    await tick();
    expect(sweep.events).toHaveLength(1);
    sweep.finish();
    await tick();
    expect(sweep.events).toHaveLength(2);
    sweep.finish();
    await bus.drain();
    expect(sweep.events).toHaveLength(2);
    expect(sweep.maxRunning).toBe(1);
  });

  it('drops a waiting tick on cancelPendingSweep, and lets the running sweep finish', async () => {
    const sweep = gatedSweep();
    const outcomes: Outcome[][] = [];
    const bus = new LocalBus({ handlers: { 'on-node-event': none, 'on-pod-event': none, sweep: sweep.handler }, onOutcomes: (o) => outcomes.push(o) });
    bus.sweep();
    await tick();
    bus.sweep();
    bus.cancelPendingSweep();
    sweep.finish();
    await bus.drain();
    expect(sweep.events).toHaveLength(1);
    expect(outcomes).toEqual([[]]);
  });

  it('calls the handler even when nobody listens to outcomes', async () => {
    const sweep = gatedSweep();
    const bus = new LocalBus({ handlers: { 'on-node-event': none, 'on-pod-event': none, sweep: sweep.handler } });
    bus.sweep();
    await tick();
    expect(sweep.events).toHaveLength(1);
    sweep.finish();
    await bus.drain();
  });

  it('refuses a tick without a sweep handler', () => {
    const bus = new LocalBus({ handlers: { 'on-node-event': none, 'on-pod-event': none } });
    expect(() => bus.sweep()).toThrow('this bus has no sweep handler');
  });
});

describe('LocalBus capacity', () => {
  it('runs a wave of capacity events (nodes schedulable) one evaluation at a time, the newest once after it', async () => {
    const node = gatedSweep(); // any gated handler will do
    const bus = new LocalBus({ handlers: { 'on-node-event': node.handler, 'on-pod-event': none } });
    const entry = (name: string, schedulable: boolean) =>
      toPutEventsEntry(
        NODE_SCHEDULABILITY_CHANGED,
        nodeSchedulabilityChangedDetail({
          cluster: 'test',
          observedAt: '2026-11-25T12:00:00.000Z',
          node: { name, uid: `uid-${name}`, resourceVersion: '1' },
          schedulable,
          reasons: schedulable ? [] : [{ code: 'Cordoned', message: 'cordoned' }],
        }),
      );
    await bus.publish(Array.from({ length: 50 }, (_, i) => entry(`w${i}`, true)));
    // A node going bad is about that node: not held behind the capacity evaluation.
    await bus.publish([entry('bad', false)]);
    await tick();
    expect(node.maxRunning).toBe(2);
    for (let i = 0; i < 3; i++) {
      node.finish();
      node.finish();
      await tick();
    }
    await bus.drain();
    const names = node.events.map((e) => (e as { detail: { node: { name: string } } }).detail.node.name);
    expect(names.sort()).toEqual(['bad', 'w0', 'w49'].sort());
  });
});
