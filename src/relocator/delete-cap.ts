/**
 * The cluster-wide cap on assistant deletes per minute (like descheduler's maxNoOfPodsToEvictTotal or
 * Karpenter's disruption budgets): a bound on the damage of a runaway loop or a flood of bad triggers.
 *
 * The count is the deletion records of every invocation in the last minute (src/cluster/deletion-events.ts),
 * read at most once a second and shared by the triggers this relocator handles; the deletes taken here
 * since that read are added. Invocations running at the same time see each other's deletes within a
 * second, so a burst can pass the cap by what they delete in that second (a few per reserved concurrency
 * slot); it never lets a loop run on.
 */
import type { ClusterPort } from './ports.js';

const WINDOW_MS = 60_000;
const REREAD_MS = 1_000;

export class DeleteCap {
  private counted = 0;
  private readAt = -Infinity;
  /** When each delete taken here since the last read was taken. */
  private taken: number[] = [];
  private reading: Promise<void> | undefined;

  constructor(
    private readonly cluster: Pick<ClusterPort, 'recentRelocations'>,
    private readonly max: number,
    private readonly now: () => Date,
  ) {}

  /** Takes one delete from the minute's budget: false when the cap is reached. */
  async take(): Promise<boolean> {
    if (this.now().getTime() - this.readAt >= REREAD_MS) await (this.reading ??= this.read().finally(() => (this.reading = undefined)));
    if (this.counted + this.taken.length >= this.max) return false;
    this.taken.push(this.now().getTime());
    return true;
  }

  /** For the blocked outcome's message. */
  state(): { max: number; counted: number } {
    return { max: this.max, counted: this.counted + this.taken.length };
  }

  private async read(): Promise<void> {
    const sentAt = this.now().getTime();
    const history = await this.cluster.recentRelocations(new Date(sentAt - WINDOW_MS));
    this.counted = history.deleteTimes.length;
    // A delete taken before the list was sent has its record in it (the record goes out with the delete).
    this.taken = this.taken.filter((at) => at >= sentAt);
    this.readAt = sentAt;
  }
}
