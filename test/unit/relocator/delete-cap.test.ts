import { describe, expect, it } from 'vitest';
import { DeleteCap } from '../../../src/relocator/delete-cap.js';
import type { RelocationHistory } from '../../../src/relocator/ports.js';

/** The cluster's deletion records as recentRelocations answers them: the times of deletes, by anyone. */
function cluster(times: number[]) {
  const asked: Date[] = [];
  return {
    asked,
    port: {
      async recentRelocations(since: Date): Promise<RelocationHistory> {
        asked.push(since);
        return { records: [], settled: new Map(), deleteTimes: times.filter((t) => t >= since.getTime()).map((t) => new Date(t)) };
      },
    },
  };
}

describe('DeleteCap', () => {
  it('lets N deletes through per minute, counting the deletes of other invocations', async () => {
    let now = 100_000;
    const times = [now - 30_000, now - 70_000]; // one within the minute, one older
    const c = cluster(times);
    const cap = new DeleteCap(c.port, 3, () => new Date(now));
    expect(await cap.take()).toBe(true);
    expect(await cap.take()).toBe(true);
    times.push(now, now); // their records reach the cluster
    expect(await cap.take()).toBe(false); // 1 elsewhere + 2 here
    expect(cap.state()).toEqual({ max: 3, counted: 3 });
    expect(c.asked[0]!.getTime()).toBe(now - 60_000);
    expect(c.asked).toHaveLength(1); // read once a second, not per delete
    now += 1_000;
    expect(await cap.take()).toBe(false);
    expect(c.asked).toHaveLength(2);
  });

  it('forgets its own deletes once a read includes them, and frees the budget as the minute passes', async () => {
    let now = 0;
    const times: number[] = [];
    const c = cluster(times);
    const cap = new DeleteCap(c.port, 2, () => new Date(now));
    expect(await cap.take()).toBe(true);
    times.push(now); // its record reached the cluster
    now = 500;
    expect(await cap.take()).toBe(true);
    times.push(now);
    expect(await cap.take()).toBe(false);
    now = 60_200; // the first delete is more than a minute old, the second is not
    expect(await cap.take()).toBe(true);
    expect(cap.state().counted).toBe(2);
  });
});
