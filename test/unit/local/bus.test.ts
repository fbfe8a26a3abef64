/** Local mode's bus: the sweep's schedule delivered as AWS's "Scheduled Event", one sweep at a time, coalesced. */
import { describe, expect, it } from 'vitest';
import type { Outcome } from '../../../src/domain/outcome.js';
import { parseScheduledEvent } from '../../../src/events/parse.js';
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
