/**
 * The cluster-wide cap on assistant deletes per minute (like descheduler's maxNoOfPodsToEvictTotal or
 * Karpenter's disruption budgets): a bound on the damage of a runaway loop or a flood of bad triggers.
 *
 * The count is the deletion records of every invocation in the last minute (./recent-deletes.ts, read at
 * most once a second), plus the deletes taken here since that read. Invocations running at the same time
 * see each other's deletes within a second, so a burst can pass the cap by what they delete in that
 * second (a few per reserved concurrency slot); it never lets a loop run on.
 */
import type { RecentDeletes } from './recent-deletes.js';

export const CAP_WINDOW_MS = 60_000;

export class DeleteCap {
  private counted = 0;
  /** When each delete taken here was taken. */
  private taken: number[] = [];

  constructor(
    private readonly recent: Pick<RecentDeletes, 'get'>,
    private readonly max: number,
    private readonly now: () => Date,
  ) {}

  /** Takes one delete from the minute's budget: false when the cap is reached. */
  async take(): Promise<boolean> {
    const { history, sentAt } = await this.recent.get();
    const since = this.now().getTime() - CAP_WINDOW_MS;
    this.counted = history.deletes.filter((d) => d.at.getTime() >= since).length;
    // A delete taken before the list was sent has its record in it (the record goes out with the delete).
    this.taken = this.taken.filter((at) => at >= sentAt);
    if (this.counted + this.taken.length >= this.max) return false;
    this.taken.push(this.now().getTime());
    return true;
  }

  /** For the blocked outcome's message. */
  state(): { max: number; counted: number } {
    return { max: this.max, counted: this.counted + this.taken.length };
  }
}
