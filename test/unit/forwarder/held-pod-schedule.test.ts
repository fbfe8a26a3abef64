import { describe, expect, it } from 'vitest';
import { HELD_POD_TIMINGS, HeldPodSchedule } from '../../../src/forwarder/held-pod-schedule.js';

const GRACE = 20_000;
const T0 = Date.parse('2026-12-07T10:00:00Z');
const s = (seconds: number) => T0 + seconds * 1000;

/** Drives a schedule the way the watcher does: wakes when it says, publishes what it gives; returns when each key was published. */
function run(schedule: HeldPodSchedule, from: number, until: number): Map<string, number[]> {
  const published = new Map<string, number[]>();
  let now = from;
  for (let wakes = 0; wakes < 100_000; wakes++) {
    for (const key of schedule.take(now)) published.set(key, [...(published.get(key) ?? []), (now - T0) / 1000]);
    const next = schedule.nextWakeAt(now);
    if (next === undefined || next > until) return published;
    expect(next).toBeGreaterThanOrEqual(now);
    now = next;
  }
  throw new Error('the schedule never settles');
}

describe('the schedule of "TaskRun Pod Unschedulable"', () => {
  it('publishes a held pod once its grace has passed since it was marked Unschedulable, then after 15 s, 30 s and every 60 s', () => {
    const schedule = new HeldPodSchedule(GRACE);
    expect(schedule.observe('ci/p', 'u1', s(0))).toBe(s(20));
    expect(schedule.take(s(19.9))).toEqual([]);
    expect(schedule.nextWakeAt(s(5))).toBe(s(20));
    expect(run(schedule, s(5), s(300)).get('ci/p')).toEqual([20, 35, 65, 125, 185, 245]);
  });

  it('counts the grace from when the scheduler marked the pod, so a pod held long before a start is due at once', () => {
    const schedule = new HeldPodSchedule(GRACE);
    expect(schedule.observe('ci/p', 'u1', s(-600))).toBe(s(-580));
    expect(schedule.take(s(0))).toEqual(['ci/p']);
  });

  it('keeps the schedule through updates that leave uid and since alone (the scheduler rewrites its message on each retry)', () => {
    const schedule = new HeldPodSchedule(GRACE);
    schedule.observe('ci/p', 'u1', s(0));
    expect(schedule.take(s(20))).toEqual(['ci/p']);
    expect(schedule.observe('ci/p', 'u1', s(0))).toBeUndefined();
    expect(schedule.take(s(30))).toEqual([]);
    expect(schedule.take(s(35))).toEqual(['ci/p']);
  });

  it('starts over for a new pod under the same name, and for a pod marked Unschedulable anew', () => {
    const schedule = new HeldPodSchedule(GRACE);
    schedule.observe('ci/p', 'u1', s(0));
    schedule.take(s(20));
    expect(schedule.observe('ci/p', 'u2', s(25))).toBe(s(45));
    expect(schedule.take(s(40))).toEqual([]);
    expect(schedule.take(s(45))).toEqual(['ci/p']);
    expect(schedule.observe('ci/p', 'u2', s(50))).toBe(s(70));
  });

  it('stops when the pod is no longer held, or is gone (bound, ended or deleted)', () => {
    const schedule = new HeldPodSchedule(GRACE);
    schedule.observe('ci/a', 'ua', s(0));
    schedule.observe('ci/b', 'ub', s(0));
    expect(schedule.take(s(20))).toEqual(['ci/a', 'ci/b']);
    expect(schedule.observe('ci/a', 'ua', undefined)).toBeUndefined(); // e.g. a node nominated for it
    schedule.forget('ci/b');
    expect(schedule.size).toBe(0);
    expect(schedule.nextWakeAt(s(20))).toBeUndefined();
    expect(schedule.take(s(3600))).toEqual([]);
  });

  it('says, when a pod leaves, what was published of it (its release is news) and nothing for one never published', () => {
    const schedule = new HeldPodSchedule(GRACE);
    schedule.observe('ci/a', 'ua', s(0), 'affinity-assistant-a');
    schedule.observe('ci/b', 'ub', s(10), 'affinity-assistant-b');
    expect(schedule.take(s(20))).toEqual(['ci/a']);
    expect(schedule.forget('ci/a')).toEqual({ uid: 'ua', sinceMs: s(0), assistant: 'affinity-assistant-a' });
    expect(schedule.forget('ci/b')).toBeUndefined(); // still within its grace: nobody acted on it
    expect(schedule.forget('ci/a')).toBeUndefined();
  });

  it('publishes nothing for a pod that is not held, however long it waits', () => {
    const schedule = new HeldPodSchedule(GRACE);
    expect(schedule.observe('ci/p', 'u1', undefined)).toBeUndefined();
    expect(schedule.nextWakeAt(s(0))).toBeUndefined();
    expect(schedule.take(s(3600))).toEqual([]);
  });

  it('after a start that finds 10,000 pods held past their grace, publishes them all, oldest first, in batches of 10 at 5 a second', () => {
    const schedule = new HeldPodSchedule(GRACE);
    const keys = Array.from({ length: 10_000 }, (_, i) => `ci/p-${String(i).padStart(5, '0')}`);
    // Held for 10,000 s down to 1 s before the start: the first is the one held longest.
    keys.forEach((key, i) => schedule.observe(key, `u${i}`, s(-10_000 + i)));
    const batches: { at: number; count: number }[] = [];
    let now = s(0);
    const firstSeen = new Map<string, number>();
    while (firstSeen.size < keys.length) {
      const taken = schedule.take(now);
      batches.push({ at: (now - T0) / 1000, count: taken.length });
      for (const key of taken) if (!firstSeen.has(key)) firstSeen.set(key, now);
      now = schedule.nextWakeAt(now)!;
    }
    // Never more than a PutEvents call's worth at once, nor more than 5 a second over any stretch.
    expect(Math.max(...batches.map((b) => b.count))).toBe(HELD_POD_TIMINGS.burst);
    const last = batches.at(-1)!.at;
    const total = batches.reduce((n, b) => n + b.count, 0);
    expect(total).toBeLessThanOrEqual(HELD_POD_TIMINGS.burst + last * HELD_POD_TIMINGS.perSecond);
    expect(batches.filter((b) => b.count > 0 && b.count < HELD_POD_TIMINGS.burst).length).toBeLessThanOrEqual(1);
    // Oldest due first: the pods are first published in the order they were held.
    const order = [...firstSeen.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([k]) => k);
    expect(order).toEqual(keys);
    // Every pod once, within the time the budget needs for them (10,000 at 5/s: 2,000 s, and the first
    // batches' repeats, due before the pods held for less than the grace at the start).
    expect(last).toBeGreaterThanOrEqual(1_998);
    expect(last).toBeLessThanOrEqual(2_010);
  });

  it('spaces a few held pods by their own schedule, and many by the budget, round-robin', () => {
    const few = new HeldPodSchedule(GRACE);
    for (let i = 0; i < 5; i++) few.observe(`ci/p${i}`, `u${i}`, s(0));
    const fewRuns = run(few, s(0), s(200));
    for (let i = 0; i < 5; i++) expect(fewRuns.get(`ci/p${i}`)).toEqual([20, 35, 65, 125, 185]);

    const many = new HeldPodSchedule(GRACE);
    for (let i = 0; i < 1_000; i++) many.observe(`ci/p${String(i).padStart(4, '0')}`, `u${i}`, s(0));
    const manyRuns = run(many, s(0), s(2_000));
    const counts = [...manyRuns.values()].map((t) => t.length);
    // 5 a second over 1,980 s is 9,900 events (+10 of the first burst): each of the 1,000 pods had its turn ~10 times.
    expect(counts.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(10 + 1_980 * 5);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(9);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it('takes shorter timings for tests', () => {
    const schedule = new HeldPodSchedule(2_000, { firstRepeatMs: 2_000, maxRepeatMs: 4_000 });
    schedule.observe('ci/p', 'u1', s(0));
    expect(run(schedule, s(0), s(15)).get('ci/p')).toEqual([2, 4, 8, 12]);
  });
});
