/**
 * The nodes as one trigger sees them: the list of every node, read again once it is older than a
 * second (the assistants of a large node are worked through over several seconds), and single nodes
 * read right before acting (one read serves concurrent assistants of the same node for 100 ms, the
 * freshness DESIGN.md §3 asks of a decision).
 */
import type { V1Node } from '@kubernetes/client-node';
import type { ClusterPort } from './ports.js';

interface Timed<T> {
  at: number;
  value: Promise<T>;
}

export class NodeView {
  private list: Timed<V1Node[]> | undefined;
  private readonly single = new Map<string, Timed<V1Node | undefined>>();

  constructor(
    private readonly cluster: Pick<ClusterPort, 'listNodes' | 'getNode'>,
    private readonly o: { listMaxAgeMs?: number; nodeMaxAgeMs?: number; now?: () => number } = {},
  ) {}

  all(): Promise<V1Node[]> {
    const now = this.clock();
    if (!this.list || now - this.list.at > (this.o.listMaxAgeMs ?? 1_000)) {
      const value = this.cluster.listNodes();
      this.list = { at: now, value };
      value.catch(() => (this.list = undefined));
    }
    return this.list.value;
  }

  fresh(name: string): Promise<V1Node | undefined> {
    const now = this.clock();
    const hit = this.single.get(name);
    if (hit && now - hit.at <= (this.o.nodeMaxAgeMs ?? 100)) return hit.value;
    const value = this.cluster.getNode(name);
    this.single.set(name, { at: now, value });
    value.catch(() => this.single.delete(name));
    return value;
  }

  private clock(): number {
    return (this.o.now ?? (() => performance.now()))();
  }
}
