/**
 * The nodes as one trigger sees them: the list of every node, read again once it is older than a
 * second (the assistants of a large node are worked through over several seconds), and single nodes
 * read right before acting (one read serves concurrent assistants of the same node for 100 ms, the
 * freshness DESIGN.md §3 asks of a decision).
 */
import type { Node } from '../domain/k8s.js';
import type { ClusterPort } from './ports.js';
import { ReadCache } from './read-cache.js';

export class NodeView {
  private readonly list: ReadCache<'all', Node[]>;
  private readonly single: ReadCache<string, Node | undefined>;

  constructor(
    private readonly cluster: Pick<ClusterPort, 'listNodes' | 'getNode'>,
    o: { listMaxAgeMs?: number; nodeMaxAgeMs?: number; now?: () => number } = {},
  ) {
    this.list = new ReadCache(o.listMaxAgeMs ?? 1_000, o.now);
    this.single = new ReadCache(o.nodeMaxAgeMs ?? 100, o.now);
  }

  all(): Promise<Node[]> {
    return this.list.get('all', () => this.cluster.listNodes());
  }

  fresh(name: string): Promise<Node | undefined> {
    return this.single.get(name, () => this.cluster.getNode(name));
  }
}
