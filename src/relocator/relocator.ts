/**
 * The use case of DESIGN.md section 3: trigger -> read live state -> plan -> act -> confirm -> report.
 * Knows nothing of Lambda or EventBridge. Idempotent: replaying any trigger is safe, because every
 * decision is taken on freshly read objects and every delete carries the uid it was decided for.
 */
import type { Node, PersistentVolume, Pod, StatefulSet, Toleration } from '../domain/k8s.js';
import { claimNamesOf, controllerOf, type PipelineRunLike } from '../domain/assistant.js';
import type { RelocatorConfig } from '../domain/config.js';
import {
  interruptionTaint,
  interruptionTaintExpired,
  interruptionTaintOf,
  interruptionTaintedAt,
  taintsWithInterruption,
  taintsWithoutInterruption,
} from '../domain/interruption-taint.js';
import {
  type DeletionRecord,
  capacityWait,
  deletionRecord,
  heldPodView,
  judgeRescue,
  isOverdue,
  judgeReplacement,
  replacementView,
  type ReplacementView,
  settledOutcome,
  settlementOf,
  statefulSetOfPodName,
} from '../domain/deletion-record.js';
import type { AssistantRef, Outcome } from '../domain/outcome.js';
import { findFeasibleNodes } from '../domain/feasibility.js';
import { heldLongEnough, heldTaskRunPod } from '../domain/held-pod.js';
import { asReplacement, expired } from '../domain/placement-hint.js';
import type { GrowthInput } from '../domain/growth.js';
import { type Decision, type Observation, planRelocation } from '../domain/plan.js';
import { assessNode, describeTaint, type NodeVerdict } from '../domain/schedulability.js';
import type { ObservedPodRef, RelocationTrigger } from '../domain/trigger.js';
import { CAP_WINDOW_MS, DeleteCap } from './delete-cap.js';
import { ReadCache } from './read-cache.js';
import { RecentDeletes } from './recent-deletes.js';
import { NodeView } from './node-view.js';
import { OwnerReads } from './owner-reads.js';
import { GrowthView } from './growth-view.js';
import { PlacementFinder } from './placement.js';
import { isSteeringTaint, Rescuer } from './rescue.js';
import { deleteWithRecord, staleDelete } from './delete-with-record.js';
import type { ClusterPort, OutcomeSink, RelocationHistory } from './ports.js';

export interface RelocatorDeps {
  cluster: ClusterPort;
  config: RelocatorConfig;
  sinks: OutcomeSink[];
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** Assistants handled at once for one trigger. */
  concurrency?: number;
  /** Candidate nodes probed for room at most per assistant (default 50). */
  maxPlacementProbes?: number;
  /**
   * Time left to the invocation, read before each assistant is taken (a Lambda's
   * getRemainingTimeInMillis): with less than one relocation may take, the rest are left for the next
   * sweep or the retry instead of being cut off by the timeout. Undefined: no limit.
   */
  remainingMs?: () => number | undefined;
  /** What is not an assistant's outcome (the sweep lifting an interruption taint) is logged here. */
  log?: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;
}

/** Kept free of the invocation's time: one more assistant's reads, delete and reports, and the return. */
const DEADLINE_MARGIN_MS = 10_000;

/** The sweep settles the deletion records of the last hour (the apiserver's Event TTL keeps no more). */
const SETTLEMENT_HORIZON_MS = 60 * 60_000;

/** The Event on the StatefulSet of an assistant whose replacement waits for a new node. */
export const WAITING_FOR_CAPACITY_EVENT_REASON = 'AssistantWaitingForCapacity';

/** The Event that says, once per held pod and reason, why its assistant was not moved. */
export const HELD_POD_EVENT_REASON = 'HeldTaskRunPod';

/** Beyond this many unschedulable nodes, one list of every assistant is cheaper than a list per node. */
const STRANDED_PER_NODE_LISTS = 20;

/** Per trigger: the node taint in flight or done, so that assistants of one node taint it once. */
type NodeMarks = Map<string, Promise<string | undefined>>;

/** What the assistants of one trigger share. */
interface TriggerContext {
  marks: NodeMarks;
  nodes: NodeView;
  placements: PlacementFinder;
  /** Set once the trigger's candidates are known. */
  owners?: OwnerReads;
  growth: GrowthView;
  /**
   * The sweep's: what the settlement of overdue deletes reads of each assistant, by `namespace/name`
   * (most of them on schedulable nodes, whose whole pods the sweep does not keep).
   */
  settlementViews?: Map<string, SettlementView>;
}

/**
 * Whether an assistant needs nothing: bound to a node that is schedulable (`nodeSchedulable`, the caller's
 * verdict) and not being deleted. The sweep keeps no whole pod of these, and relocateOne reports them healthy.
 */
function restsOnSchedulableNode(pod: Pod, nodeSchedulable: boolean): boolean {
  return !!pod.spec?.nodeName && nodeSchedulable && !pod.metadata?.deletionTimestamp;
}

/** What the settlement of a delete reads of the pod there now. */
interface SettlementView {
  replacement: ReplacementView | undefined;
  tolerations: Toleration[] | undefined;
}

export interface HandleOptions {
  /** Decide as usual, but delete nothing: each would-be delete becomes a 'notify-only' skip. */
  notifyOnly?: boolean;
}

interface Candidate {
  pod: Pod | undefined;
  expected?: Partial<ObservedPodRef>;
  ref: AssistantRef;
}

export class Relocator {
  private readonly now: () => Date;
  private readonly sleep: (ms: number) => Promise<void>;
  // Shared by every trigger this relocator handles (a Lambda container's invocations, one after another).
  private readonly recent: RecentDeletes;
  private readonly cap: DeleteCap;
  /**
   * Nodes as the handler of a bind sees them: a read up to a second old serves the binds seen before it
   * was sent (a rotation's replacements land on a few nodes). A node that turns bad after that read sends
   * an event of its own, which finds the assistant bound there.
   */
  private readonly boundNodes: ReadCache<string, Node | undefined>;
  private readonly rescuer: Rescuer;

  constructor(private readonly d: RelocatorDeps) {
    this.now = d.now ?? (() => new Date());
    this.sleep = d.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.recent = new RecentDeletes(d.cluster, Math.max(d.config.loopGuardWindowMs, CAP_WINDOW_MS), this.now);
    this.cap = new DeleteCap(this.recent, d.config.maxDeletesPerMinute, this.now);
    this.boundNodes = new ReadCache(1_000, () => this.now().getTime());
    this.rescuer = new Rescuer({
      cluster: d.cluster,
      config: d.config,
      now: this.now,
      cap: this.cap,
      log: d.log,
      recentRelocations: async (uid) => {
        const since = this.now().getTime() - d.config.loopGuardWindowMs;
        return (await this.recent.get()).history.deletes.filter((x) => x.statefulSetUid === uid && x.at.getTime() >= since).length;
      },
    });
  }

  /** Handles one trigger; returns one outcome per assistant looked at (none when there is none). */
  async handle(trigger: RelocationTrigger, options: HandleOptions = {}): Promise<Outcome[]> {
    const ctx: TriggerContext = {
      marks: new Map(),
      nodes: new NodeView(this.d.cluster),
      placements: new PlacementFinder(this.d.cluster, { maxProbes: this.d.maxPlacementProbes }),
      growth: new GrowthView(this.d.cluster, this.d.config),
    };
    const t = trigger.target;
    if (t.kind === 'pending-pod') return t.released ? this.settleReleased(t) : this.rescueHeld(trigger, t, options, ctx);
    // A pod reported deleted needs nothing: its replacement, if any, has events of its own.
    if (t.kind === 'pod' && t.change === 'deleted') return [];
    // A pod reported bound may be the replacement of a delete of ours: settle that first. Only when its
    // node is bad does the rest of the relocation (the node list, the ownership reads) follow.
    if (t.kind === 'pod' && t.change && t.pod.nodeName && t.pod.uid) {
      const settled = await this.settleFromPodEvent(trigger, { ...t.pod, nodeName: t.pod.nodeName, uid: t.pod.uid });
      if (settled.nodeHealthy) return settled.outcomes;
      return [...settled.outcomes, ...(await this.relocateAll(trigger, options, ctx))];
    }
    return this.relocateAll(trigger, options, ctx);
  }

  /**
   * A held pod is looked at again and again while it waits (the forwarder's backoff, every sweep, every
   * capacity event): an outcome that leaves it waiting (blocked, or what PENDING_TASKRUNS=report would do)
   * is reported once per pod and reason, claimed by an Event of that name on the StatefulSet.
   */
  private async firstOfItsState(outcome: Outcome, sts: StatefulSet | undefined, heldUid: string | undefined): Promise<boolean> {
    const waiting = outcome.kind === 'blocked' || (outcome.kind === 'skipped' && outcome.reason === 'notify-only');
    if (!waiting || !sts?.metadata?.name || !heldUid) return true;
    const name = `${sts.metadata.name}.${heldUid}.${outcome.kind}-${outcome.reason}`.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
    return this.d.cluster.recordEventOnce(sts, { name, type: outcome.kind === 'blocked' ? 'Warning' : 'Normal', reason: HELD_POD_EVENT_REASON, message: outcome.message });
  }

  /**
   * A held pod was bound (or is gone): the rescue that waited for it, if any, is settled now rather than
   * when its confirmation timeout runs out. Reads the StatefulSet's records, the replacement and its node.
   */
  private async settleReleased(t: { pod: ObservedPodRef; assistant?: string }): Promise<Outcome[]> {
    if (!t.assistant) return [];
    const history = await this.d.cluster.relocationHistory({ namespace: t.pod.namespace, name: t.assistant });
    const record = history.records.find((r) => r.heldPod && r.heldPod.uid === t.pod.uid);
    if (!record || history.settled.get(record.id)?.has('relocated')) return [];
    const pod = await this.d.cluster.getPod(record.namespace, record.pod);
    const nodeName = pod?.metadata?.uid !== record.oldPodUid ? pod?.spec?.nodeName : undefined;
    const now = this.now();
    const verdict = nodeName ? this.replacementVerdict(record, await this.d.cluster.getNode(nodeName), now, pod?.spec?.tolerations) : undefined;
    const outcome = await this.settle(record, history, replacementView(pod), verdict, now);
    return outcome ? [outcome] : [];
  }

  /** A TaskRun pod held Pending by its assistant's node (./rescue.ts); nothing at all with PENDING_TASKRUNS=off. */
  private async rescueHeld(trigger: RelocationTrigger, t: { pod: ObservedPodRef; assistant?: string }, options: HandleOptions, ctx: TriggerContext): Promise<Outcome[]> {
    if (this.d.config.pendingTaskRuns === 'off') return [];
    let sts: StatefulSet | undefined;
    try {
      const relocate = (pod: Pod) => this.relocateOne(trigger, { pod, ref: refOf(pod), expected: { uid: pod.metadata?.uid, nodeName: pod.spec?.nodeName } }, options, ctx);
      const r = await this.rescuer.rescue(trigger, t, ctx, { ...options, relocate });
      sts = r.statefulSet;
      if (!r.reported && (await this.firstOfItsState(r.outcome, sts, t.pod.uid))) await this.report(r.outcome, sts);
      return [r.outcome];
    } catch (e) {
      const outcome: Outcome = {
        assistant: { namespace: t.pod.namespace, pod: t.assistant ? `${t.assistant}-0` : t.pod.name },
        triggerId: trigger.id,
        triggerSource: trigger.source,
        heldPod: t.pod.name,
        kind: 'failed',
        reason: 'error',
        message: `could not look at ${t.pod.namespace}/${t.pod.name}'s assistant: ${e instanceof Error ? e.message : String(e)}`,
      };
      await this.report(outcome, sts);
      return [outcome];
    }
  }

  private async relocateAll(trigger: RelocationTrigger, options: HandleOptions, ctx: TriggerContext): Promise<Outcome[]> {
    const nodesRead = ctx.nodes.all();
    // The sweep and capacity events rescue held pods too: their list goes out with the others. A node's
    // trigger needs it only to order two assistants or more, so only then, once they are known.
    const wide = trigger.target.kind === 'all' || trigger.target.kind === 'stranded';
    const [nodes, candidates, heldWide] = await Promise.all([nodesRead, this.candidates(trigger, nodesRead, ctx), wide ? this.heldPods() : []]);
    // Not the sinks' business (like a trigger for another cluster sharing the bus): no assistant of ours.
    if (!Array.isArray(candidates)) return [candidates];
    const held = wide ? heldWide : candidates.length > 1 ? await this.heldPods() : [];
    // Those somebody waits on first: in a node-group rotation, an assistant with a held TaskRun pod is the
    // one whose run is stopped right now.
    const waitedOn = new Set(held.map((h) => `${h.pod.metadata?.namespace}/${h.assistant}-0`));
    const first = (c: Candidate) => Number(waitedOn.has(`${c.ref.namespace}/${c.ref.pod}`));
    candidates.sort((a, b) => first(b) - first(a));
    // The sweep and capacity events also look at held pods whose assistant rests on a healthy node (an
    // assistant on a bad node is among the candidates: the cause's path takes it).
    const rescues = wide ? held.filter((h) => !candidates.some((c) => `${c.ref.namespace}/${c.ref.pod}` === `${h.pod.metadata?.namespace}/${h.assistant}-0`)) : [];
    // The assistants that will be read (their nodes look bad) have their owners and volumes read together.
    const now = this.now();
    const byName = new Map(nodes.map((n) => [n.metadata?.name, n]));
    const looksBad = (p: Pod | undefined): p is Pod => !!p?.spec?.nodeName && !assessNode(byName.get(p.spec.nodeName), { now, config: this.d.config, disruption: trigger.disruption }).schedulable;
    ctx.owners = new OwnerReads(this.d.cluster, candidates.map((c) => c.pod).filter(looksBad));
    // The sweep (every assistant) is also when our expired interruption taints are lifted.
    const sweep = trigger.target.kind === 'all';
    const lifting = sweep ? Promise.all([this.liftExpiredInterruptionTaints(nodes), this.dropExpiredPlacements()]) : undefined;
    // The sweep also settles deletes whose replacement nobody confirmed in time (stuck), or whose pod
    // event was lost (relocated, late).
    const overdue = sweep ? this.settleOverdue(trigger, ctx.settlementViews ?? new Map(), nodes) : [];
    const outcomes: Outcome[] = [];
    const queue = [...candidates];
    const workers = Array.from({ length: Math.min(this.d.concurrency ?? 4, queue.length) }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const left = this.timeLeftShort();
        outcomes.push(left === undefined ? await this.relocateOne(trigger, c, options, ctx) : await this.leaveForLater(trigger, c, left));
      }
    });
    const rescuing = rescues.map((h) => {
      const m = h.pod.metadata ?? {};
      return this.rescueHeld(trigger, { pod: { namespace: m.namespace ?? '', name: m.name ?? '', uid: m.uid }, assistant: h.assistant }, options, ctx);
    });
    const [settled, ...rest] = await Promise.all([overdue, ...rescuing, ...workers, lifting]);
    outcomes.push(...rest.slice(0, rescuing.length).flat().filter((o): o is Outcome => !!o));
    // A sweep's assistants on schedulable nodes were not reported, and are not returned either: 10,000 of
    // them would be megabytes of a Lambda's response (6 MB at most) for nothing.
    const quiet = (o: Outcome) => (sweep || trigger.target.kind === 'stranded') && o.kind === 'skipped' && (o.reason === 'healthy' || o.reason === 'not-ready-grace');
    return [...settled, ...outcomes.filter((o) => !quiet(o))];
  }

  /**
   * TaskRun pods held Pending past the grace (src/domain/held-pod.ts), for the triggers that look at many
   * assistants; one label- and field-selected list. A list that fails only loses the order and the extra
   * rescues: the relocation itself goes on.
   */
  private async heldPods(): Promise<{ pod: Pod; assistant: string }[]> {
    if (this.d.config.pendingTaskRuns === 'off') return [];
    const now = this.now();
    try {
      return (await this.d.cluster.listPendingTaskRunPods()).flatMap((pod) => {
        const c = heldTaskRunPod(pod, this.d.config.assistantSelector);
        return c.held && heldLongEnough(c.pod, now, this.d.config.pendingGraceMs) ? [{ pod, assistant: c.pod.assistant }] : [];
      });
    } catch (e) {
      this.d.log?.('warn', `could not list the Pending TaskRun pods: ${e instanceof Error ? e.message : String(e)}`);
      return [];
    }
  }

  /** The time left when it is too short for one more relocation. */
  private timeLeftShort(): number | undefined {
    const left = this.d.remainingMs?.();
    return left !== undefined && left < DEADLINE_MARGIN_MS ? left : undefined;
  }

  /** An assistant not looked at because the invocation is about to time out: said so, nothing done. */
  private async leaveForLater(trigger: RelocationTrigger, c: Candidate, leftMs: number): Promise<Outcome> {
    const outcome: Outcome = {
      assistant: c.ref,
      triggerId: trigger.id,
      triggerSource: trigger.source,
      fromNode: c.pod?.spec?.nodeName,
      kind: 'skipped',
      reason: 'deadline',
      message: `${c.ref.namespace}/${c.ref.pod} was not looked at: ${Math.round(leftMs / 1000)} s were left of this invocation, less than the ${DEADLINE_MARGIN_MS / 1000} s kept for one more; the next sweep takes it`,
    };
    await this.report(outcome, undefined);
    return outcome;
  }

  /** Lifts our interruption taint from every node where it has outlived its TTL; never throws. */
  private async liftExpiredInterruptionTaints(nodes: Node[]): Promise<void> {
    const now = this.now();
    // A steering taint (issue 20's rescue without admission steering) is done with once its replacement is
    // bound, so it lives no longer than the confirmation timeout; an AWS notice's lives its TTL.
    const ttl = (n: Node) => (isSteeringTaint(interruptionTaintOf(n)) ? this.d.config.confirmTimeoutMs : this.d.config.interruptionTaintTtlMs);
    const expired = nodes.filter((n) => interruptionTaintExpired(n, now, ttl(n)));
    await Promise.all(
      expired.map(async (n) => {
        const name = n.metadata?.name ?? '';
        const taint = interruptionTaintOf(n)!;
        try {
          const result = await this.d.cluster.updateNodeTaints(name, taintsWithoutInterruption);
          if (result === 'updated') {
            this.d.log?.('info', `lifted the interruption taint of node ${name}: ${describeTaint(taint)} is older than ${ttl(n) / 60_000} min`, {
              node: name,
              taintedAt: interruptionTaintedAt(taint)?.toISOString(),
            });
          }
        } catch (e) {
          this.d.log?.('warn', `could not lift the interruption taint of node ${name}: ${e instanceof Error ? e.message : String(e)}`, { node: name });
        }
      }),
    );
  }

  /**
   * Taints the announced node (once per trigger, whatever the number of its assistants) so that the
   * scheduler sends the replacements elsewhere. Returns what went wrong, for the outcome's message: a
   * node that cannot be tainted does not keep the assistants on a node about to vanish.
   */
  private markAnnounced(marks: NodeMarks, node: string, trigger: RelocationTrigger): Promise<string | undefined> {
    let mark = marks.get(node);
    if (!mark) {
      const taint = interruptionTaint(trigger.source, this.now());
      mark = this.d.cluster.updateNodeTaints(node, (taints) => taintsWithInterruption(taints, taint)).then(
        () => undefined,
        (e: unknown) => `could not taint ${node} ${describeTaint(taint)}, so the scheduler may bind the replacement back to it: ${e instanceof Error ? e.message : String(e)}`,
      );
      marks.set(node, mark);
    }
    return mark;
  }

  /** What the trigger points at, read live; an outcome instead when it points at no node of this cluster. */
  private async candidates(trigger: RelocationTrigger, nodesRead: Promise<Node[]>, ctx: TriggerContext): Promise<Candidate[] | Outcome> {
    const t = trigger.target;
    // Each assistant is judged as its replacement will be (without a steering pin of ours).
    const fromPods = (pods: Pod[], expected?: Partial<ObservedPodRef>): Candidate[] =>
      pods.map((pod) => ({ pod: asReplacement(pod), expected, ref: refOf(pod) }));
    switch (t.kind) {
      case 'all': {
        // An assistant on a node that is schedulable now needs nothing and is not reported (relocateOne's
        // first check, with the same node list): of those only what the settlement reads is kept, page by
        // page. 10,000 whole pods would be most of a 256 MB function.
        const now = this.now();
        const schedulable = new Set((await nodesRead).filter((n) => assessNode(n, { now, config: this.d.config }).schedulable).map((n) => n.metadata?.name));
        const listed = await this.d.cluster.listAssistantPods({
          map: (pod) => {
            const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
            const view: SettlementView = { replacement: replacementView(pod), tolerations: pod.spec?.tolerations };
            return { key, view, pod: restsOnSchedulableNode(pod, schedulable.has(pod.spec?.nodeName)) ? undefined : pod };
          },
        });
        ctx.settlementViews = new Map(listed.map((l) => [l.key, l.view]));
        return fromPods(listed.flatMap((l) => (l.pod ? [l.pod] : [])));
      }
      case 'stranded': {
        // Only the assistants of nodes that are unschedulable now: those are the ones that may have been
        // blocked, and a capacity event must not cost a look at every assistant of the cluster.
        const now = this.now();
        const bad = (await nodesRead).filter((n) => !assessNode(n, { now, config: this.d.config }).schedulable).map((n) => n.metadata?.name ?? '');
        if (bad.length === 0) return [];
        if (bad.length > STRANDED_PER_NODE_LISTS) {
          const set = new Set(bad);
          return fromPods(await this.d.cluster.listAssistantPods({ map: (p) => (set.has(p.spec?.nodeName ?? '') ? p : undefined) }));
        }
        const lists = await Promise.all(bad.map(async (name) => fromPods(await this.d.cluster.listAssistantPods({ nodeName: name }), { nodeName: name })));
        return lists.flat();
      }
      case 'node':
        return fromPods(await this.d.cluster.listAssistantPods({ nodeName: t.node.name }), { nodeName: t.node.name });
      case 'instance': {
        const node = (await nodesRead).find((n) => instanceIdOf(n) === t.instanceId);
        if (!node?.metadata?.name) {
          // AWS notices are per account, and several clusters may share one.
          return {
            kind: 'skipped',
            reason: 'other-cluster',
            message: `no node of this cluster runs on EC2 instance ${t.instanceId}`,
            assistant: { namespace: '', pod: '' },
            triggerId: trigger.id,
            triggerSource: trigger.source,
          };
        }
        const name = node.metadata.name;
        return fromPods(await this.d.cluster.listAssistantPods({ nodeName: name }), { nodeName: name });
      }
      case 'pending-pod':
        return []; // handle() takes these to rescueHeld
      case 'pod': {
        const read = await this.d.cluster.getPod(t.pod.namespace, t.pod.name);
        const pod = read && asReplacement(read);
        return [{ pod, expected: t.pod, ref: pod ? refOf(pod) : { namespace: t.pod.namespace, pod: t.pod.name, podUid: t.pod.uid } }];
      }
    }
  }

  private async relocateOne(trigger: RelocationTrigger, c: Candidate, options: HandleOptions, ctx: TriggerContext): Promise<Outcome> {
    const base = { assistant: c.ref, triggerId: trigger.id, triggerSource: trigger.source, fromNode: c.pod?.spec?.nodeName };
    let sts: StatefulSet | undefined;
    try {
      const nodes = await ctx.nodes.all();
      // Latency is the product: for an assistant whose node looks bad, the reads that placement and the
      // delete will need start now, alongside the ownership reads.
      const listed = nodes.find((n) => n.metadata?.name === c.pod?.spec?.nodeName);
      const seen = assessNode(listed, { now: this.now(), config: this.d.config, disruption: trigger.disruption });
      // On a node that is schedulable (the node list is at most a second old), nothing would be done
      // whoever owns the pod: no ownership reads. That is the bulk of a sweep, which reports none of it.
      if (c.pod && restsOnSchedulableNode(c.pod, seen.schedulable) && (!c.expected?.uid || c.expected.uid === c.pod.metadata?.uid)) {
        const outcome: Outcome = seen.notReadyUntil
          ? { ...base, kind: 'skipped', reason: 'not-ready-grace', message: `node ${base.fromNode} is not Ready, but within the grace until ${seen.notReadyUntil.toISOString()}` }
          : { ...base, kind: 'skipped', reason: 'healthy', message: `node ${base.fromNode} is healthy for ${c.ref.namespace}/${c.ref.pod}` };
        if (trigger.target.kind !== 'all' && trigger.target.kind !== 'stranded') await this.report(outcome, undefined);
        return outcome;
      }
      if (c.pod && base.fromNode && !seen.schedulable) {
        // Stage 1 without the volumes (not read yet) names the node that will most likely be probed first.
        const likely = findFeasibleNodes({ pod: c.pod, nodes, volumes: [], excluded: new Set([base.fromNode]), now: this.now(), config: this.d.config }).nodes[0];
        ctx.placements.prefetch(c.pod, nodes, likely);
        void ctx.nodes.fresh(base.fromNode).catch(() => undefined);
      }
      const obs = { ...(await this.observe(c, nodes, ctx.owners ?? new OwnerReads(this.d.cluster, []))), expected: c.expected, disruption: trigger.disruption, now: this.now() };
      sts = obs.statefulSet;
      base.assistant = { ...c.ref, statefulSetUid: sts?.metadata?.uid, pipelineRun: controllerOf(sts?.metadata?.ownerReferences)?.name };
      let decision = planRelocation(obs, this.d.config);
      if (decision.action === 'find-placement') {
        const names = new Set(decision.candidates);
        const candidates = obs.nodes.filter((n) => names.has(n.metadata?.name ?? ''));
        const placement = await ctx.placements.find(c.pod!, candidates, obs.nodes, decision.feasibility, decision.badNode);
        decision = planRelocation({ ...obs, placement }, this.d.config);
        if (decision.action === 'find-growth') decision = planRelocation({ ...obs, placement, growth: await ctx.growth.judge(growthInput(obs, this.d.config)) }, this.d.config);
      } else if (decision.action === 'find-growth') {
        decision = planRelocation({ ...obs, growth: await ctx.growth.judge(growthInput(obs, this.d.config)) }, this.d.config);
      }
      const outcome = await this.act(trigger, c, decision, sts, base, options, ctx);
      await this.report(outcome, sts);
      return outcome;
    } catch (e) {
      const outcome: Outcome = {
        ...base,
        kind: 'failed',
        reason: 'error',
        message: `could not relocate ${c.ref.namespace}/${c.ref.pod}: ${e instanceof Error ? e.message : String(e)}`,
      };
      await this.report(outcome, sts);
      return outcome;
    }
  }

  /** Reads what the decision needs; independent reads run in parallel (latency is the product). */
  private async observe(c: Candidate, nodes: Node[], owners: OwnerReads) {
    const pod = c.pod;
    const ns = pod?.metadata?.namespace ?? c.ref.namespace;
    const owner = controllerOf(pod?.metadata?.ownerReferences);
    const ownedBySet = owner?.kind === 'StatefulSet';
    const since = new Date(this.now().getTime() - this.d.config.loopGuardWindowMs);
    const [chain, volumes, recentRelocations] = await Promise.all([
      (async () => {
        const statefulSet = ownedBySet ? await owners.statefulSet(ns, owner.name) : undefined;
        const prRef = controllerOf(statefulSet?.metadata?.ownerReferences);
        // The owner's group is checked before it is read: an owner of another group is no PipelineRun of
        // Tekton's (and the relocator may not read it), which makes the pod no assistant, not a failure.
        const pipelineRun: PipelineRunLike | undefined =
          prRef && isTektonPipelineRun(prRef) ? await owners.pipelineRun(ns, prRef.name, prRef.apiVersion) : undefined;
        return { statefulSet, pipelineRun };
      })(),
      Promise.all(
        (pod ? claimNamesOf(pod) : []).map(async (claim) => {
          const pvc = await owners.claim(ns, claim);
          return pvc?.spec?.volumeName ? owners.volume(pvc.spec.volumeName) : undefined;
        }),
      ).then((pvs) => pvs.filter((pv): pv is PersistentVolume => pv !== undefined)),
      // The loop guard counts this StatefulSet's deletes (by uid, which the pod's owner reference gives)
      // in the cluster's recent records, one shared list rather than a request per assistant.
      ownedBySet ? this.recent.get().then(({ history }) => history.deletes.filter((x) => x.statefulSetUid === owner.uid && x.at >= since).length) : Promise.resolve(0),
    ]);
    const node = nodes.find((n) => n.metadata?.name === pod?.spec?.nodeName);
    return { pod, node, ...chain, nodes, volumes, recentRelocations };
  }

  private async act(
    trigger: RelocationTrigger,
    c: Candidate,
    decision: Decision,
    sts: StatefulSet | undefined,
    base: Pick<Outcome, 'assistant' | 'triggerId' | 'triggerSource' | 'fromNode'>,
    options: HandleOptions,
    ctx: TriggerContext,
  ): Promise<Outcome> {
    const reasonsOf = (d: Decision) => ('reasons' in d && d.reasons ? { nodeReasons: d.reasons.map((r) => r.code) } : {});
    if (decision.action === 'find-placement' || decision.action === 'find-growth') throw new Error(`internal: ${decision.action} was asked for twice`);
    if (decision.action === 'none') {
      return {
        ...base,
        kind: decision.outcome,
        reason: decision.reason,
        message: decision.message,
        ...reasonsOf(decision),
        ...(decision.reason === 'dry-run' ? { dryRun: true } : {}),
      };
    }
    if (options.notifyOnly) {
      return { ...base, kind: 'skipped', reason: 'notify-only', message: `notify-only: would ${decision.message}`, ...reasonsOf(decision) };
    }
    const pod = c.pod!;
    const ns = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    // Only an announcement from outside needs the node marked: a cordoned, tainted or NotReady node already
    // keeps the scheduler away.
    const announcedNode = trigger.disruption && this.d.config.interruptionTaint ? base.fromNode : undefined;
    // The decision may rest on a view that is a moment old: the node is read again right before the delete
    // (one read serves every assistant of the node for 100 ms), and a node that is healthy by now (an
    // uncordon, a lifted taint) keeps its assistants.
    const fresh = await ctx.nodes.fresh(base.fromNode!);
    const now = assessNode(fresh, { now: this.now(), config: this.d.config, disruption: trigger.disruption });
    if (now.schedulable) {
      ctx.placements.release(pod, decision.targets[0]!);
      return { ...base, kind: 'skipped', reason: 'healthy', message: `node ${base.fromNode} became schedulable for ${ns}/${name} before the delete: left in place` };
    }
    if (this.d.config.dryRun) {
      // Server-side dry run: admission, RBAC and the uid precondition are checked, nothing is deleted.
      const result = await this.d.cluster.deletePod(ns, name, { uid: decision.podUid, force: decision.force, dryRun: true });
      const verdict = result === 'deleted' ? 'the apiserver accepted it in dry-run' : `the apiserver answered ${result}`;
      const taintFirst = announcedNode ? `taint ${announcedNode} ${describeTaint(interruptionTaint(trigger.source, this.now()))}, then ` : '';
      return { ...base, kind: 'skipped', reason: 'dry-run', message: `dry-run: would ${taintFirst}${decision.message} (${verdict})`, ...reasonsOf(decision), dryRun: true };
    }
    // The cluster-wide cap, after every other check: only a delete that would happen spends the budget.
    if (!(await this.cap.take())) {
      ctx.placements.release(pod, decision.targets[0]!);
      const { max, counted } = this.cap.state();
      return {
        ...base,
        kind: 'blocked',
        reason: 'rate-limit',
        message: `${ns}/${name} was not deleted: ${counted} assistant deletes in the last minute reach the cluster-wide cap of ${max} per minute (MAX_DELETES_PER_MINUTE); the next sweep or capacity event looks again`,
        ...reasonsOf(decision),
      };
    }
    const taintProblem = announcedNode ? await this.markAnnounced(ctx.marks, announcedNode, trigger) : undefined;
    const andTaint = taintProblem ? `; ${taintProblem}` : '';
    const deletedAt = this.now();
    const record: DeletionRecord | undefined = sts?.metadata?.name
      ? deletionRecord(
          {
            statefulSet: { name: sts.metadata.name, uid: sts.metadata.uid },
            pipelineRun: base.assistant.pipelineRun,
            namespace: ns,
            pod: name,
            oldPodUid: decision.podUid,
            fromNode: base.fromNode!,
            reasonCodes: decision.reasons.map((r) => r.code),
            reasons: decision.reasons.map((r) => r.message).join('; '),
            forced: decision.force,
            expectedGrowth: decision.growth,
          },
          trigger,
          deletedAt,
        )
      : undefined;
    const result = await deleteWithRecord(this.d.cluster, { namespace: ns, name, uid: decision.podUid, force: decision.force, record, statefulSet: sts, message: decision.message }, this.d.log);
    const deleteLatencyMs = deletedAt.getTime() - new Date(trigger.observedAt).getTime();
    const stale = staleDelete(result, ns, name);
    if (stale) return { ...base, ...stale, ...reasonsOf(decision) };
    return {
      ...base,
      ...reasonsOf(decision),
      kind: 'started',
      reason: decision.reasons[0]?.code ?? 'deleted',
      message: `${ns}/${name} deleted from ${base.fromNode} (${decision.reasons.map((r) => r.message).join('; ')}); its StatefulSet recreates it, ${decision.targets[0] ? `${decision.targets[0]} can take it` : `no node can take it now: ${decision.growth ?? 'nobody'} is expected to add one`}${andTaint}`,
      deleteLatencyMs,
      forced: decision.force,
    };
  }

  /**
   * A pod event says a pod was bound: when it is the replacement of a delete of ours, judge it and report
   * the settlement (once, whoever else sees the same bind). Reads the pod's node and the StatefulSet's
   * Events, nothing else; the pod itself only when its node looks bad (its tolerations decide).
   */
  private async settleFromPodEvent(
    trigger: RelocationTrigger,
    pod: ObservedPodRef & { nodeName: string; uid: string },
  ): Promise<{ outcomes: Outcome[]; nodeHealthy: boolean }> {
    const statefulSet = statefulSetOfPodName(pod.name);
    const [node, history] = await Promise.all([
      this.boundNodes.get(pod.nodeName, () => this.d.cluster.getNode(pod.nodeName), Date.parse(trigger.observedAt)),
      statefulSet ? this.historyAtBind(pod.namespace, statefulSet, trigger.observedAt) : undefined,
    ]);
    const now = this.now();
    const record = history?.records.find((r) => r.namespace === pod.namespace && r.pod === pod.name);
    let verdict = this.replacementVerdict(record, node, now);
    if (!verdict.schedulable) {
      const live = await this.d.cluster.getPod(pod.namespace, pod.name);
      if (live?.metadata?.uid === pod.uid) verdict = this.replacementVerdict(record, node, now, live.spec?.tolerations);
    }
    const view: ReplacementView = { uid: pod.uid, nodeName: pod.nodeName, boundAt: new Date(trigger.observedAt).toISOString() };
    const outcome = record && history ? await this.settle(record, history, view, verdict, now) : undefined;
    return { outcomes: outcome ? [outcome] : [], nodeHealthy: verdict.schedulable };
  }

  /**
   * The deletion records a bind is judged against. A record is written with its delete, before any
   * replacement exists: so the cluster's recent records, read after the bind was seen, hold it if there is
   * one, and a view this container already has (its deletes') serves when it is that recent. Otherwise
   * the StatefulSet's own Events (a few) are read: never the cluster's whole list for a bind, which in a
   * rotation is thousands of records that every pod-event container would re-read each second.
   */
  private async historyAtBind(namespace: string, statefulSet: string, boundAt: string): Promise<RelocationHistory> {
    const view = await this.recent.latest();
    if (view && view.sentAt >= Date.parse(boundAt)) return view.history;
    return this.d.cluster.relocationHistory({ namespace, name: statefulSet });
  }

  /**
   * The sweep's part of confirmation: the newest record of each assistant of the last hour that is still
   * unconfirmed past the timeout is judged against the pod there now (stuck, or relocated when its bind
   * event was lost). A stuck record is reported stuck once; it may still be relocated later.
   */
  private async settleOverdue(trigger: RelocationTrigger, views: Map<string, SettlementView>, nodes: Node[]): Promise<Outcome[]> {
    const now = this.now();
    let history: RelocationHistory;
    try {
      history = await this.d.cluster.recentRelocations(new Date(now.getTime() - SETTLEMENT_HORIZON_MS), { claims: true });
    } catch (e) {
      this.d.log?.('warn', `could not read the deletion records to confirm: ${e instanceof Error ? e.message : String(e)}`, { trigger: trigger.id });
      return [];
    }
    const newest = new Map<string, DeletionRecord>();
    for (const r of history.records) if (!newest.has(`${r.namespace}/${r.pod}`)) newest.set(`${r.namespace}/${r.pod}`, r);
    const nodeByName = new Map(nodes.map((n) => [n.metadata?.name, n]));
    const outcomes = await Promise.all(
      [...newest.entries()]
        .filter(([, r]) => !history.settled.get(r.id)?.has('relocated') && isOverdue(r, now, this.d.config.confirmTimeoutMs))
        .map(async ([key, record]) => {
          const pod = views.get(key);
          const nodeName = pod?.replacement?.nodeName;
          const verdict = nodeName ? this.replacementVerdict(record, nodeByName.get(nodeName), now, pod?.tolerations) : undefined;
          try {
            return await this.settle(record, history, pod?.replacement, verdict, now);
          } catch (e) {
            this.d.log?.('warn', `could not confirm the delete of ${key}: ${e instanceof Error ? e.message : String(e)}`, { record: record.id });
            return undefined;
          }
        }),
    );
    return outcomes.filter((o): o is Outcome => !!o);
  }

  /**
   * The replacement's node as the settlement judges it: with the disruption that made us leave it when it
   * is that node (an announced node is bad although nothing on the node object says so yet).
   */
  private replacementVerdict(record: DeletionRecord | undefined, node: Node | undefined, now: Date, tolerations?: Toleration[]): NodeVerdict {
    const disruption = record?.disruption && node?.metadata?.name === record.fromNode ? record.disruption : undefined;
    return assessNode(node, { now, config: this.d.config, tolerations, disruption });
  }

  /**
   * Judges a record against its pod, claims the settlement the judgement calls for unless it is claimed
   * already, and reports it. The outcome when this caller reported it; undefined otherwise.
   */
  private async settle(record: DeletionRecord, history: RelocationHistory, pod: ReplacementView | undefined, verdict: NodeVerdict | undefined, now: Date): Promise<Outcome | undefined> {
    const settled = history.settled.get(record.id);
    if (settled?.has('relocated')) return undefined;
    const overdue = isOverdue(record, now, this.d.config.confirmTimeoutMs);
    let judgement = judgeReplacement(record, pod, verdict, overdue, this.d.config.confirmTimeoutMs, capacityWait(record, now, this.d.config.capacityTimeoutMs));
    const replaced = !!pod?.nodeName && pod.uid !== record.oldPodUid;
    // Our steering taint on the node left has done its job once the replacement is bound anywhere.
    if (replaced && record.steeredTo?.by === 'taint') await this.liftSteeringTaint(record.fromNode);
    // And its placement: a later recreation of the pod must go wherever the scheduler likes.
    if (replaced && record.steeredTo?.by === 'admission') await this.dropPlacement(record.namespace, record.pod);
    if (record.heldPod && (judgement.kind === 'relocated' || judgement.kind === 'bound-back')) {
      // A rescue is done when the pod it was to free is bound too.
      judgement = judgeRescue(record, judgement, heldPodView(await this.d.cluster.getPod(record.namespace, record.heldPod.name)), overdue, this.d.config.confirmTimeoutMs);
    }
    if (judgement.kind === 'waiting-for-capacity') {
      // Not a settlement (nothing claimed): each sweep that finds it still waiting says so, on the
      // StatefulSet too (`kubectl describe`), as its deletion record and claims are.
      const outcome = settledOutcome(record, judgement, now);
      const sts = { metadata: { namespace: record.namespace, name: record.statefulSet, uid: record.statefulSetUid } };
      await Promise.all([
        this.report(outcome, undefined),
        this.d.cluster.recordEvent(sts, { type: 'Normal', reason: WAITING_FOR_CAPACITY_EVENT_REASON, message: outcome.message }).catch((e: unknown) =>
          this.d.log?.('warn', `could not record that ${record.namespace}/${record.pod} waits for capacity: ${e instanceof Error ? e.message : String(e)}`),
        ),
      ]);
      return outcome;
    }
    const kind = settlementOf(judgement);
    if (!kind || judgement.kind === 'wait' || settled?.has(kind)) return undefined;
    const outcome = settledOutcome(record, judgement, now);
    if (!(await this.d.cluster.claimSettlement(record, kind, { type: kind === 'stuck' ? 'Warning' : 'Normal', message: outcome.message }))) return undefined;
    await this.report(outcome, undefined);
    return outcome;
  }

  /** Deletes the AssistantPlacement of a pod; never throws (the sweep deletes it once expired). */
  private async dropPlacement(namespace: string, pod: string): Promise<void> {
    await this.d.cluster.deletePlacementHint(namespace, pod).catch((e: unknown) => this.d.log?.('warn', `could not delete the placement of ${namespace}/${pod} (the sweep deletes it once expired): ${e instanceof Error ? e.message : String(e)}`));
  }

  /** The sweep's: placements past their expiry, whose replacement nobody settled (the policy ignores them already). */
  private async dropExpiredPlacements(): Promise<void> {
    try {
      const now = this.now();
      await Promise.all((await this.d.cluster.listPlacementHints()).filter((h) => expired(h, now)).map((h) => this.dropPlacement(h.namespace, h.pod)));
    } catch (e) {
      this.d.log?.('warn', `could not list the placements: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Lifts our steering taint (not an AWS notice's) from a node; never throws. */
  private async liftSteeringTaint(node: string): Promise<void> {
    try {
      await this.d.cluster.updateNodeTaints(node, (taints) => (isSteeringTaint(interruptionTaintOf({ spec: { taints } })) ? taintsWithoutInterruption(taints) : undefined));
    } catch (e) {
      this.d.log?.('warn', `could not lift the steering taint of node ${node} (the sweep lifts it later): ${e instanceof Error ? e.message : String(e)}`, { node });
    }
  }

  /**
   * Waits for the replacement of a `started` outcome and settles it (for the CLI's `relocate`, which may
   * wait; never in a Lambda): the settled outcome, also when someone else reported it first.
   */
  async awaitSettlement(started: Outcome, o: { pollMs?: number } = {}): Promise<Outcome> {
    const { namespace, pod, podUid, statefulSetUid } = started.assistant;
    if (started.kind !== 'started' || !podUid || !statefulSetUid) return started;
    const deadline = this.now().getTime() + this.d.config.confirmTimeoutMs;
    let live: Pod | undefined;
    for (;;) {
      live = await this.d.cluster.getPod(namespace, pod);
      if ((live?.metadata?.uid !== podUid && live?.spec?.nodeName) || this.now().getTime() >= deadline) break;
      await this.sleep(o.pollMs ?? 250);
    }
    const history = await this.d.cluster.relocationHistory({ namespace, uid: statefulSetUid });
    const record = history.records.find((r) => r.oldPodUid === podUid);
    if (!record) return { ...started, kind: 'failed', reason: 'no-record', message: `${namespace}/${pod} was deleted, but its deletion record is not there to confirm it` };
    const now = this.now();
    const nodeName = live?.spec?.nodeName;
    const verdict = nodeName ? this.replacementVerdict(record, await this.d.cluster.getNode(nodeName), now, live?.spec?.tolerations) : undefined;
    const view = replacementView(live);
    const mine = await this.settle(record, history, view, verdict, now);
    if (mine) return mine;
    const judgement = judgeReplacement(record, view, verdict, true, this.d.config.confirmTimeoutMs, capacityWait(record, now, this.d.config.capacityTimeoutMs));
    return judgement.kind === 'wait' ? started : settledOutcome(record, judgement, now);
  }

  private async report(outcome: Outcome, statefulSet: StatefulSet | undefined): Promise<void> {
    // One sink failing (e.g. the bus is unreachable) must not hide the outcome from the others.
    await Promise.allSettled(this.d.sinks.map((s) => s(outcome, { statefulSet })));
  }
}

/** What the growth decision needs of an observation. */
function growthInput(obs: Observation, config: RelocatorConfig): Omit<GrowthInput, 'nodePools' | 'clusterAutoscaler'> {
  return { pod: obs.pod!, volumes: obs.volumes, badNode: obs.pod?.spec?.nodeName ?? '', nodes: obs.nodes, now: obs.now, config };
}

function refOf(pod: Pod): AssistantRef {
  const owner = controllerOf(pod.metadata?.ownerReferences);
  return {
    namespace: pod.metadata?.namespace ?? '',
    pod: pod.metadata?.name ?? '',
    podUid: pod.metadata?.uid,
    statefulSet: owner?.kind === 'StatefulSet' ? owner.name : undefined,
  };
}

/** A tekton.dev PipelineRun (any version), the only owner that makes a StatefulSet an affinity assistant. */
function isTektonPipelineRun(ref: { kind: string; apiVersion: string }): boolean {
  return ref.kind === 'PipelineRun' && ref.apiVersion.startsWith('tekton.dev/');
}

/** EC2 instance id from spec.providerID (aws:///us-east-1a/i-0123...). */
export function instanceIdOf(node: Node): string | undefined {
  const m = /^aws:\/\/\/[^/]*\/(i-[0-9a-f]+)$/.exec(node.spec?.providerID ?? '');
  return m?.[1];
}
