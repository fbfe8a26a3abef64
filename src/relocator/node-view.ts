/**
 * The nodes as one trigger sees them: the list of every node, read again once it is older than a
 * second (the assistants of a large node are worked through over several seconds), and single nodes
 * read right before acting (one read serves concurrent assistants of the same node for 100 ms, the
 * freshness DESIGN.md §3 asks of a decision).
 */
import type { V1Node } from '@kubernetes/client-node';
import type { ClusterPort } from './ports.js';
import { ReadCache } from './read-cache.js';

export class NodeView {
  private readonly list: ReadCache<'all', V1Node[]>;
  private readonly single: ReadCache<string, V1Node | undefined>;

  constructor(
    private readonly cluster: Pick<ClusterPort, 'listNodes' | 'getNode'>,
    o: { listMaxAgeMs?: number; nodeMaxAgeMs?: number; now?: () => number } = {},
  ) {
    this.list = new ReadCache(o.listMaxAgeMs ?? 1_000, o.now);
    this.single = new ReadCache(o.nodeMaxAgeMs ?? 100, o.now);
  }

  all(): Promise<V1Node[]> {
    return this.list.get('all', () => this.cluster.listNodes());
  }

  fresh(name: string): Promise<V1Node | undefined> {
    return this.single.get(name, () => this.cluster.getNode(name));
  }
}
