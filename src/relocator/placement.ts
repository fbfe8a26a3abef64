/**
 * Stage 2 of feasibility for one trigger (see src/domain/feasibility.ts): among the nodes that pass the
 * node filters, find one with room and whose pods' affinity allows the replacement, reading one node's
 * pods at a time (a field-selected list) and stopping at the first that fits; and, when the node being left
 * would pass the node filters (the pod tolerates its cordon or taint), whether it would take the
 * replacement straight back. Never lists every pod of the cluster: only the pods of the nodes probed, the
 * pods that the assistant's own inter-pod terms select (a label-selected list, as the scheduler's prefilter
 * counts them), and the pods of its namespace (whose anti-affinity may reach across a zone).
 *
 * Replacements decided within the trigger are booked on the node found for them, so that a node with
 * room for one is not promised to ten assistants of a drained node.
 */
import type { Node, Pod } from '../domain/k8s.js';
import { type Feasibility, roomRejection, summarize } from '../domain/feasibility.js';
import { type PairFeasibility, type PairPlacement, type PairRejection, pairRoomRejection, replacementOn, replacementUid } from '../domain/pair-feasibility.js';
import type { Placement } from '../domain/plan.js';
import {
  labelSelectorQuery,
  type Labels,
  needsNamespaceLabels,
  type PlacedPod,
  requiredAffinityTerms,
  requiredAntiAffinityTerms,
} from '../domain/pod-affinity.js';
import { podRequests } from '../domain/resources.js';
import type { ClusterPort } from './ports.js';
import { ReadCache } from './read-cache.js';

export interface PlacementOptions {
  /** Candidates probed at most per assistant; beyond, the assistant is reported blocked and says so. */
  maxProbes?: number;
  /** How long one read of a node's pods (or of a selector's pods) serves the trigger. */
  maxAgeMs?: number;
  now?: () => number;
}

export class PlacementFinder {
  private readonly podsOnNode: ReadCache<string, Pod[]>;
  private readonly podsBySelector: ReadCache<string, Pod[]>;
  private readonly podsInNamespace: ReadCache<string, Pod[]>;
  /** Namespaces' labels change rarely: one read serves the whole trigger. */
  private readonly namespaces = new ReadCache<'all', Map<string, Labels>>(Number.POSITIVE_INFINITY);
  /** Replacements decided in this trigger, by the node they were judged to fit. */
  private readonly booked = new Map<string, Pod[]>();
  private readonly maxProbes: number;

  constructor(
    private readonly cluster: ClusterPort,
    o: PlacementOptions = {},
  ) {
    this.maxProbes = o.maxProbes ?? 50;
    const maxAgeMs = o.maxAgeMs ?? 1_000;
    this.podsOnNode = new ReadCache(maxAgeMs, o.now);
    this.podsBySelector = new ReadCache(maxAgeMs, o.now);
    this.podsInNamespace = new ReadCache(maxAgeMs, o.now);
  }

  /**
   * A node among `candidates` (stage 1's survivors, in that order) that can take `pod`'s replacement,
   * booked for it at once: the check and the booking run with no await between them, so assistants of
   * the trigger decided concurrently never count on the same room. `release` undoes the booking when
   * the delete does not happen after all.
   */
  async find(pod: Pod, candidates: Node[], allNodes: Node[], stage1: Feasibility, badNode?: Node): Promise<Placement> {
    const request = podRequests(pod);
    const uid = pod.metadata?.uid;
    const byName = new Map(allNodes.map((n) => [nm(n), n]));
    const [fetchedTermPods, fetchedAntiPods] = await Promise.all([this.termPods(pod, byName), this.antiAffinityPods(pod, byName)]);
    const ownTerms = [...requiredAffinityTerms(pod), ...requiredAntiAffinityTerms(pod)];
    /**
     * Stage 2 on one node; the old pod never counts (the replacement comes only once it is gone). With
     * `book`, a node that fits is booked in the same synchronous stretch as the check: an `await` between
     * them would let a sibling decided concurrently count on the same room.
     */
    const probe = async (node: Node, book: boolean): Promise<string | undefined> => {
      const read = (await this.podsOnNode.get(nm(node), () => this.cluster.listPodsOnNode(nm(node)))).filter((p) => p.metadata?.uid !== uid);
      const needsNs = ownTerms.some(needsNamespaceLabels) || [...read, ...fetchedAntiPods.map((p) => p.pod)].some((p) => requiredAntiAffinityTerms(p).some(needsNamespaceLabels));
      const nsLabels = needsNs ? await this.namespaceLabels() : new Map<string, Labels>();
      // From here to the booking: no await.
      const booked = [...this.booked].flatMap(([n, pods]) => pods.map((p) => ({ pod: p, node: byName.get(n) })));
      const why = roomRejection({
        pod,
        request,
        node,
        nodePods: [...read, ...(this.booked.get(nm(node)) ?? [])],
        termPods: [...fetchedTermPods, ...booked],
        antiAffinityPods: [...fetchedAntiPods, ...booked.filter((b) => requiredAntiAffinityTerms(b.pod).length > 0)],
        nsLabels: (ns) => nsLabels.get(ns),
      });
      if (why === undefined && book) this.book(pod, nm(node));
      return why;
    };

    if (badNode && (await probe(badNode, false)) === undefined) {
      return { node: undefined, backOnBadNode: true, summary: `${nm(badNode)} itself would take the replacement back` };
    }
    const rejections = new Map(stage1.rejections);
    // Nodes already chosen for a sibling first: their pods are read already.
    const ordered = [...candidates].sort((a, b) => Number(this.booked.has(nm(b))) - Number(this.booked.has(nm(a))));
    const probed = ordered.slice(0, this.maxProbes);
    for (const [i, node] of probed.entries()) {
      const why = await probe(node, true);
      if (why === undefined) {
        return {
          node: nm(node),
          backOnBadNode: false,
          summary: `${nm(node)} can take it (${candidates.length}/${allNodes.length} nodes pass the node filters; ${i + 1} probed for room and pod affinity)`,
        };
      }
      rejections.set(why, (rejections.get(why) ?? 0) + 1);
    }
    const unprobed = candidates.length - probed.length;
    if (unprobed > 0) rejections.set(`not probed (at most ${this.maxProbes} per assistant)`, unprobed);
    return { node: undefined, backOnBadNode: false, summary: summarize(0, allNodes.length, rejections) };
  }

  /**
   * Where `assistant`'s replacement and then `held` (the TaskRun pod the assistant holds Pending) can go
   * together (src/domain/pair-feasibility.ts): `candidates` are the nodes where the replacement passes its
   * node filters (stage1.replacementNodes), `stage1` says where the held pod passes its own. Probes every
   * candidate (at most maxProbes; with `firstFit`, stops at the first node that takes both), because the
   * steering that relies on a taint on the node left is safe only when every node that takes the replacement
   * alone also takes the pair: `aloneOnly` names those that do not, `allProbed` says whether the list is
   * complete. The first node that takes both is booked for both pods in the same synchronous stretch as its
   * check; `releasePair` gives the room back. `leftNode`, when its node filters would let the replacement
   * back: whether it would take the replacement (`backOnBadNode`).
   */
  async findPair(
    assistant: Pod,
    held: Pod,
    candidates: Node[],
    allNodes: Node[],
    stage1: PairFeasibility,
    leftNode?: Node,
    o: { firstFit?: boolean } = {},
  ): Promise<PairPlacement> {
    const byName = new Map(allNodes.map((n) => [nm(n), n]));
    const [assistantTermPods, heldTermPods, assistantAnti, heldAnti] = await Promise.all([
      this.termPods(assistant, byName),
      this.termPods(held, byName),
      this.antiAffinityPods(assistant, byName),
      this.antiAffinityPods(held, byName),
    ]);
    const antiAffinityPods = uniqueByUid([...assistantAnti, ...heldAnti]);
    const ownTerms = [assistant, held].flatMap((p) => [...requiredAffinityTerms(p), ...requiredAntiAffinityTerms(p)]);
    /** Stage 2 for the pair on one node; `pairNodeRejection`: the pair fails stage 1 there whatever the pods. */
    const probe = async (node: Node, book: boolean, pairNodeRejection?: PairRejection) => {
      const read = await this.podsOnNode.get(nm(node), () => this.cluster.listPodsOnNode(nm(node)));
      const needsNs = ownTerms.some(needsNamespaceLabels) || [...read, ...antiAffinityPods.map((p) => p.pod)].some((p) => requiredAntiAffinityTerms(p).some(needsNamespaceLabels));
      const nsLabels = needsNs ? await this.namespaceLabels() : new Map<string, Labels>();
      // From here to the booking: no await.
      const booked = [...this.booked].flatMap(([n, pods]) => pods.map((p) => ({ pod: p, node: byName.get(n) })));
      const verdict = pairRoomRejection({
        assistant,
        held,
        node,
        ...(pairNodeRejection !== undefined ? { pairNodeRejection } : {}),
        nodePods: [...read, ...(this.booked.get(nm(node)) ?? [])],
        assistantTermPods: [...assistantTermPods, ...booked],
        heldTermPods: [...heldTermPods, ...booked],
        antiAffinityPods: [...antiAffinityPods, ...booked.filter((b) => requiredAntiAffinityTerms(b.pod).length > 0)],
        nsLabels: (ns) => nsLabels.get(ns),
      });
      if (verdict.pair === undefined && book) this.bookPair(assistant, held, nm(node));
      return verdict;
    };

    // The node being left: the replacement alone (the held pod is not asked, hence a placeholder reason).
    const backOnBadNode = leftNode ? (await probe(leftNode, false, NOT_ASKED)).replacement === undefined : undefined;
    const inBoth = new Set(stage1.nodes);
    // Nodes where both pass their node filters first, those already chosen for a sibling (pods read) first of all.
    const rank = (n: Node) => (inBoth.has(nm(n)) ? 0 : 2) + (this.booked.has(nm(n)) ? 0 : 1);
    const probed = [...candidates].sort((a, b) => rank(a) - rank(b)).slice(0, this.maxProbes);
    const rejections = new Map(stage1.rejections);
    const pairNodes: string[] = [];
    const aloneOnly: string[] = [];
    let count = 0;
    for (const node of probed) {
      count++;
      const verdict = await probe(node, pairNodes.length === 0, stage1.pairRejections.get(nm(node)));
      if (verdict.pair === undefined) {
        pairNodes.push(nm(node));
        if (o.firstFit) break;
        continue;
      }
      if (verdict.replacement === undefined) aloneOnly.push(nm(node));
      // A node where the pair failed stage 1 is counted in stage 1's rejections already.
      if (inBoth.has(nm(node))) rejections.set(verdict.pair.reason, (rejections.get(verdict.pair.reason) ?? 0) + 1);
    }
    const allProbed = count === candidates.length;
    const back = backOnBadNode === undefined ? {} : { backOnBadNode };
    const heldName = `${held.metadata?.namespace}/${held.metadata?.name}`;
    if (pairNodes.length > 0) {
      const alone = aloneOnly.length > 0 ? `; ${aloneOnly.length} would take the replacement alone: ${aloneOnly.join(', ')}` : '';
      return {
        node: pairNodes[0],
        ...back,
        pairNodes,
        aloneOnly,
        allProbed,
        summary: `${pairNodes[0]} can take the replacement and ${heldName} together (${stage1.nodes.length}/${allNodes.length} nodes pass both pods' node filters; ${count} probed for room and pod affinity${alone})`,
      };
    }
    const unprobed = candidates.filter((n) => !probed.includes(n) && inBoth.has(nm(n))).length;
    if (unprobed > 0) rejections.set(`not probed (at most ${this.maxProbes} per assistant)`, unprobed);
    return { node: undefined, ...back, pairNodes, aloneOnly, allProbed, summary: summarize(0, allNodes.length, rejections) };
  }

  /** Gives back the room booked by findPair for `assistant`'s replacement and `held` (the delete did not happen). */
  releasePair(assistant: Pod, held: Pod, node: string): void {
    this.unbook(node, new Set([replacementUid(assistant), held.metadata?.uid ?? '']));
  }

  /**
   * Starts the reads `find` will make for `pod` that do not depend on its decision (its namespace's pods,
   * the pods its own terms select, and those of the node it will most likely probe first), so that they
   * overlap the ownership reads. Errors surface in `find`.
   */
  prefetch(pod: Pod, allNodes: Node[], likelyNode?: string): void {
    if (likelyNode) void this.podsOnNode.get(likelyNode, () => this.cluster.listPodsOnNode(likelyNode)).catch(() => undefined);
    const byName = new Map(allNodes.map((n) => [nm(n), n]));
    void this.termPods(pod, byName).catch(() => undefined);
    void this.antiAffinityPods(pod, byName).catch(() => undefined);
  }

  /** Gives back the room booked for `pod`'s replacement (its delete did not happen). */
  release(pod: Pod, node: string): void {
    this.unbook(node, new Set([replacementUid(pod)]));
  }

  private unbook(node: string, uids: Set<string>): void {
    const left = (this.booked.get(node) ?? []).filter((p) => !uids.has(p.metadata?.uid ?? ''));
    if (left.length > 0) this.booked.set(node, left);
    else this.booked.delete(node);
  }

  private book(pod: Pod, node: string): void {
    this.booked.set(node, [...(this.booked.get(node) ?? []), replacementOn(pod, node)]);
  }

  /** The replacement and the held pod, both headed to `node`. */
  private bookPair(assistant: Pod, held: Pod, node: string): void {
    const heldThere: Pod = { ...held, spec: { ...held.spec!, nodeName: node } };
    this.booked.set(node, [...(this.booked.get(node) ?? []), replacementOn(assistant, node), heldThere]);
  }

  /** Pods selected by the pod's own required terms, each with its node; the pod itself excluded. */
  private async termPods(pod: Pod, byName: Map<string, Node>): Promise<PlacedPod[]> {
    const terms = [...requiredAffinityTerms(pod), ...requiredAntiAffinityTerms(pod)];
    if (terms.length === 0) return [];
    const queries = [...new Set(terms.flatMap((t) => (t.labelSelector ? [labelSelectorQuery(t.labelSelector)] : [])))];
    const lists = await Promise.all(queries.map((q) => this.podsBySelector.get(q, () => this.cluster.listPods(q))));
    const seen = new Set<string>();
    const placed: PlacedPod[] = [];
    for (const p of lists.flat()) {
      const uid = p.metadata?.uid ?? '';
      // The StatefulSet creates the replacement only once the old pod is gone: it never counts.
      if (uid === pod.metadata?.uid || seen.has(uid) || !p.spec?.nodeName) continue;
      seen.add(uid);
      placed.push({ pod: p, node: byName.get(p.spec.nodeName) });
    }
    return placed;
  }

  /**
   * Pods of the assistant's namespace with required anti-affinity, wherever they run, with their node: a
   * term's namespaces default to its own pod's, so these are the pods whose zone-wide (or wider)
   * anti-affinity can keep the replacement out of a node they are not on. (A pod of another namespace
   * that names this one in its term is not seen: that would take every pod of the cluster.)
   */
  private async antiAffinityPods(pod: Pod, byName: Map<string, Node>): Promise<PlacedPod[]> {
    const ns = pod.metadata?.namespace ?? '';
    const pods = await this.podsInNamespace.get(ns, () => this.cluster.listPodsInNamespace(ns));
    return pods
      .filter((p) => p.metadata?.uid !== pod.metadata?.uid && p.spec?.nodeName && requiredAntiAffinityTerms(p).length > 0)
      .map((p) => ({ pod: p, node: byName.get(p.spec!.nodeName!) }));
  }

  private namespaceLabels(): Promise<Map<string, Labels>> {
    return this.namespaces.get('all', async () => new Map((await this.cluster.listNamespaces()).map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}])));
  }

}

const nm = (n: Node): string => n.metadata?.name ?? '';
/** The node being left is probed for the replacement alone. */
const NOT_ASKED: PairRejection = { pod: 'held', reason: 'not asked' };

function uniqueByUid(placed: PlacedPod[]): PlacedPod[] {
  const seen = new Set<string>();
  return placed.filter((p) => {
    const uid = p.pod.metadata?.uid ?? '';
    if (seen.has(uid)) return false;
    seen.add(uid);
    return true;
  });
}
