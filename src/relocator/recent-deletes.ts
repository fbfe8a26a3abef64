/**
 * The cluster's deletion records of the last while, read with one list (every namespace, paginated) at
 * most once a second and shared by every trigger a relocator handles (a Lambda container's invocations
 * follow one another): what the cluster-wide cap and the per-StatefulSet loop guard count, without a
 * request per assistant. A second's lag is nothing to either: both bound what happens over minutes.
 */
import type { ClusterPort, RelocationHistory } from './ports.js';
import { ReadCache } from './read-cache.js';

export interface RecentView {
  history: RelocationHistory;
  /** When the list was sent (epoch ms): deletes taken here since are not in it. */
  sentAt: number;
}

export class RecentDeletes {
  private readonly cache: ReadCache<'recent', RecentView>;

  constructor(
    private readonly cluster: Pick<ClusterPort, 'recentRelocations'>,
    /** How far back the view reaches (the longest window counted from it). */
    private readonly horizonMs: number,
    private readonly now: () => Date,
  ) {
    this.cache = new ReadCache(1_000, () => this.now().getTime());
  }

  /** The view this relocator read last (or is reading), however old; never a new read. */
  async latest(): Promise<RecentView | undefined> {
    return this.cache.peek('recent')?.value.catch(() => undefined);
  }

  get(): Promise<RecentView> {
    return this.cache.get('recent', async () => {
      const sentAt = this.now().getTime();
      return { history: await this.cluster.recentRelocations(new Date(sentAt - this.horizonMs)), sentAt };
    });
  }
}
