/**
 * The use case of DESIGN.md section 3: trigger -> read live state -> plan -> act -> confirm -> report.
 * Knows nothing of Lambda or EventBridge. Idempotent: replaying any trigger is safe, because every
 * decision is taken on freshly read objects and every delete carries the uid it was decided for.
 */
import type { V1Node, V1PersistentVolume, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
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
import type { AssistantRef, Outcome } from '../domain/outcome.js';
import { findFeasibleNodes } from '../domain/feasibility.js';
import { type Decision, planRelocation } from '../domain/plan.js';
import { assessNode, describeTaint } from '../domain/schedulability.js';
import type { ExternalDisruption, ObservedPodRef, RelocationTrigger } from '../domain/trigger.js';
import { NodeView } from './node-view.js';
import { PlacementFinder } from './placement.js';
import type { ClusterPort, OutcomeSink } from './ports.js';

/** Event reason recorded on the StatefulSet right before each delete; the loop guard counts these. */
export const DELETE_EVENT_REASON = 'AssistantDeleting';

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

/** Kept free of the invocation's time beyond the confirmation's wait: the delete, the reports, the return. */
const DEADLINE_MARGIN_MS = 10_000;

/** Beyond this many unschedulable nodes, one list of every assistant is cheaper than a list per node. */
const STRANDED_PER_NODE_LISTS = 20;

/** Per trigger: the node taint in flight or done, so that assistants of one node taint it once. */
type NodeMarks = Map<string, Promise<string | undefined>>;

/** What the assistants of one trigger share. */
interface TriggerContext {
  marks: NodeMarks;
  nodes: NodeView;
  placements: PlacementFinder;
}

export interface HandleOptions {
  /** Decide as usual, but delete nothing: each would-be delete becomes a 'notify-only' skip. */
  notifyOnly?: boolean;
}

interface Candidate {
  pod: V1Pod | undefined;
  expected?: Partial<ObservedPodRef>;
  ref: AssistantRef;
}

export class Relocator {
  private readonly now: () => Date;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly d: RelocatorDeps) {
    this.now = d.now ?? (() => new Date());
    this.sleep = d.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Handles one trigger; returns one outcome per assistant looked at (none when there is none). */
  async handle(trigger: RelocationTrigger, options: HandleOptions = {}): Promise<Outcome[]> {
    const ctx: TriggerContext = {
      marks: new Map(),
      nodes: new NodeView(this.d.cluster),
      placements: new PlacementFinder(this.d.cluster, { maxProbes: this.d.maxPlacementProbes }),
    };
    const nodesRead = ctx.nodes.all();
    const [nodes, candidates] = await Promise.all([nodesRead, this.candidates(trigger, nodesRead)]);
    // Not the sinks' business (like a trigger for another cluster sharing the bus): no assistant of ours.
    if (!Array.isArray(candidates)) return [candidates];
    // The sweep (every assistant) is also when our expired interruption taints are lifted.
    const lifting = trigger.target.kind === 'all' ? this.liftExpiredInterruptionTaints(nodes) : undefined;
    const outcomes: Outcome[] = [];
    const queue = [...candidates];
    const workers = Array.from({ length: Math.min(this.d.concurrency ?? 4, queue.length) }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const left = this.timeLeftShort();
        outcomes.push(left === undefined ? await this.relocateOne(trigger, c, options, ctx) : await this.leaveForLater(trigger, c, left));
      }
    });
    await Promise.all([...workers, lifting]);
    return outcomes;
  }

  /** The time left when it is too short for one more relocation (delete, then up to the confirmation's wait). */
  private timeLeftShort(): number | undefined {
    const left = this.d.remainingMs?.();
    return left !== undefined && left < this.d.config.confirmTimeoutMs + DEADLINE_MARGIN_MS ? left : undefined;
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
      message: `${c.ref.namespace}/${c.ref.pod} was not looked at: ${Math.round(leftMs / 1000)} s were left of this invocation, less than one relocation may take (up to ${this.d.config.confirmTimeoutMs / 1000} s of confirmation); the next sweep takes it`,
    };
    await this.report(outcome, undefined);
    return outcome;
  }

  /** Lifts our interruption taint from every node where it has outlived its TTL; never throws. */
  private async liftExpiredInterruptionTaints(nodes: V1Node[]): Promise<void> {
    const now = this.now();
    const expired = nodes.filter((n) => interruptionTaintExpired(n, now, this.d.config.interruptionTaintTtlMs));
    await Promise.all(
      expired.map(async (n) => {
        const name = n.metadata?.name ?? '';
        const taint = interruptionTaintOf(n)!;
        try {
          const result = await this.d.cluster.updateNodeTaints(name, taintsWithoutInterruption);
          if (result === 'updated') {
            this.d.log?.('info', `lifted the interruption taint of node ${name}: ${describeTaint(taint)} is older than ${this.d.config.interruptionTaintTtlMs / 60_000} min`, {
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
  private async candidates(trigger: RelocationTrigger, nodesRead: Promise<V1Node[]>): Promise<Candidate[] | Outcome> {
    const t = trigger.target;
    const fromPods = (pods: V1Pod[], expected?: Partial<ObservedPodRef>): Candidate[] =>
      pods.map((pod) => ({ pod, expected, ref: refOf(pod) }));
    switch (t.kind) {
      case 'all':
        return fromPods(await this.d.cluster.listAssistantPods());
      case 'stranded': {
        // Only the assistants of nodes that are unschedulable now: those are the ones that may have been
        // blocked, and a capacity event must not cost a look at every assistant of the cluster.
        const now = this.now();
        const bad = (await nodesRead).filter((n) => !assessNode(n, { now, config: this.d.config }).schedulable).map((n) => n.metadata?.name ?? '');
        if (bad.length === 0) return [];
        if (bad.length > STRANDED_PER_NODE_LISTS) {
          const set = new Set(bad);
          return fromPods((await this.d.cluster.listAssistantPods()).filter((p) => set.has(p.spec?.nodeName ?? '')));
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
      case 'pod': {
        const pod = await this.d.cluster.getPod(t.pod.namespace, t.pod.name);
        return [{ pod, expected: t.pod, ref: pod ? refOf(pod) : { namespace: t.pod.namespace, pod: t.pod.name, podUid: t.pod.uid } }];
      }
    }
  }

  private async relocateOne(trigger: RelocationTrigger, c: Candidate, options: HandleOptions, ctx: TriggerContext): Promise<Outcome> {
    const base = { assistant: c.ref, triggerId: trigger.id, triggerSource: trigger.source, fromNode: c.pod?.spec?.nodeName };
    let sts: V1StatefulSet | undefined;
    try {
      const nodes = await ctx.nodes.all();
      // Latency is the product: for an assistant whose node looks bad, the reads that placement and the
      // delete will need start now, alongside the ownership reads (a healthy node's assistants, the bulk
      // of a sweep, cost nothing more).
      const listed = nodes.find((n) => n.metadata?.name === c.pod?.spec?.nodeName);
      if (c.pod && base.fromNode && !assessNode(listed, { now: this.now(), config: this.d.config, disruption: trigger.disruption }).schedulable) {
        // Stage 1 without the volumes (not read yet) names the node that will most likely be probed first.
        const likely = findFeasibleNodes({ pod: c.pod, nodes, volumes: [], excluded: new Set([base.fromNode]), now: this.now(), config: this.d.config }).nodes[0];
        ctx.placements.prefetch(c.pod, nodes, likely);
        void ctx.nodes.fresh(base.fromNode).catch(() => undefined);
      }
      const obs = { ...(await this.observe(c, nodes)), expected: c.expected, disruption: trigger.disruption, now: this.now() };
      sts = obs.statefulSet;
      base.assistant = { ...c.ref, statefulSetUid: sts?.metadata?.uid, pipelineRun: controllerOf(sts?.metadata?.ownerReferences)?.name };
      let decision = planRelocation(obs, this.d.config);
      if (decision.action === 'find-placement') {
        const names = new Set(decision.candidates);
        const candidates = obs.nodes.filter((n) => names.has(n.metadata?.name ?? ''));
        const placement = await ctx.placements.find(c.pod!, candidates, obs.nodes, decision.feasibility, decision.badNode);
        decision = planRelocation({ ...obs, placement }, this.d.config);
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
  private async observe(c: Candidate, nodes: V1Node[]) {
    const pod = c.pod;
    const ns = pod?.metadata?.namespace ?? c.ref.namespace;
    const owner = controllerOf(pod?.metadata?.ownerReferences);
    const ownedBySet = owner?.kind === 'StatefulSet';
    const since = new Date(this.now().getTime() - this.d.config.loopGuardWindowMs);
    const [chain, volumes, recentRelocations] = await Promise.all([
      (async () => {
        const statefulSet = ownedBySet ? await this.d.cluster.getStatefulSet(ns, owner.name) : undefined;
        const prRef = controllerOf(statefulSet?.metadata?.ownerReferences);
        // The owner's group is checked before it is read: an owner of another group is no PipelineRun of
        // Tekton's (and the relocator may not read it), which makes the pod no assistant, not a failure.
        const pipelineRun: PipelineRunLike | undefined =
          prRef && isTektonPipelineRun(prRef) ? await this.d.cluster.getPipelineRun(ns, prRef.name, prRef.apiVersion) : undefined;
        return { statefulSet, pipelineRun };
      })(),
      Promise.all(
        (pod ? claimNamesOf(pod) : []).map(async (claim) => {
          const pvc = await this.d.cluster.getPersistentVolumeClaim(ns, claim);
          return pvc?.spec?.volumeName ? this.d.cluster.getPersistentVolume(pvc.spec.volumeName) : undefined;
        }),
      ).then((pvs) => pvs.filter((pv): pv is V1PersistentVolume => pv !== undefined)),
      // Events are keyed by the StatefulSet's uid, which the pod's owner reference already gives.
      ownedBySet ? this.d.cluster.countEvents({ metadata: { namespace: ns, uid: owner.uid } }, [DELETE_EVENT_REASON], since) : Promise.resolve(0),
    ]);
    const node = nodes.find((n) => n.metadata?.name === pod?.spec?.nodeName);
    return { pod, node, ...chain, nodes, volumes, recentRelocations };
  }

  private async act(
    trigger: RelocationTrigger,
    c: Candidate,
    decision: Decision,
    sts: V1StatefulSet | undefined,
    base: Pick<Outcome, 'assistant' | 'triggerId' | 'triggerSource' | 'fromNode'>,
    options: HandleOptions,
    ctx: TriggerContext,
  ): Promise<Outcome> {
    const reasonsOf = (d: Decision) => ('reasons' in d && d.reasons ? { nodeReasons: d.reasons.map((r) => r.code) } : {});
    if (decision.action === 'find-placement') throw new Error('internal: a placement was asked for twice');
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
    const taintProblem = announcedNode ? await this.markAnnounced(ctx.marks, announcedNode, trigger) : undefined;
    const andTaint = taintProblem ? `; ${taintProblem}` : '';
    // The loop guard's record and the delete go out together: waiting for the Event first would add a
    // round trip to every relocation, and a lost record only makes the guard one count more lenient.
    const [result] = await Promise.all([
      this.d.cluster.deletePod(ns, name, { uid: decision.podUid, force: decision.force, dryRun: false }),
      sts ? this.d.cluster.recordEvent(sts, { type: 'Normal', reason: DELETE_EVENT_REASON, message: decision.message }) : undefined,
    ]);
    const deleteLatencyMs = this.now().getTime() - new Date(trigger.observedAt).getTime();
    if (result === 'not-found') {
      return { ...base, kind: 'skipped', reason: 'gone', message: `${ns}/${name} disappeared before it could be deleted`, ...reasonsOf(decision) };
    }
    if (result === 'conflict') {
      return { ...base, kind: 'skipped', reason: 'stale', message: `${ns}/${name} was replaced before the delete (uid precondition failed)`, ...reasonsOf(decision) };
    }
    // A node announced as going away may still look healthy to the scheduler, which can bind the replacement
    // right back to it: that is no relocation.
    const announced = trigger.disruption && base.fromNode ? { node: base.fromNode, disruption: trigger.disruption } : undefined;
    const done = await this.confirm(ns, name, decision.podUid, base.fromNode!, announced);
    const common = { ...base, ...reasonsOf(decision), deleteLatencyMs, forced: decision.force };
    if (done.kind === 'bound') {
      return {
        ...common,
        kind: 'relocated',
        reason: decision.reasons[0]?.code ?? 'relocated',
        message: `${ns}/${name} moved from ${base.fromNode} to ${done.node} (${decision.reasons.map((r) => r.message).join('; ')})${andTaint}`,
        toNode: done.node,
        newPodUid: done.uid,
        boundLatencyMs: this.now().getTime() - new Date(trigger.observedAt).getTime(),
      };
    }
    if (done.kind === 'bound-back') {
      // A node schedulable again (a cordon undone while the delete was on its way) is as good as any: the
      // assistant is fine where it is, and nobody needs paging.
      return done.healthy
        ? { ...common, kind: 'skipped', reason: 'bound-back', message: `${ns}/${name} was deleted from ${done.node}, and its replacement was bound back to it: the node is schedulable again${andTaint}` }
        : { ...common, kind: 'stuck', reason: 'bound-back', message: `${ns}/${name} was deleted from ${done.node} but its replacement was bound back to it, and it is still unschedulable${andTaint}` };
    }
    return { ...common, kind: 'stuck', reason: done.reason, message: `${ns}/${name} was deleted from ${base.fromNode} but ${done.message}${andTaint}` };
  }

  /** Waits for the StatefulSet's replacement (same name, new uid) to be bound to a healthy node. */
  private async confirm(
    ns: string,
    name: string,
    oldUid: string,
    fromNode: string,
    announced?: { node: string; disruption: ExternalDisruption },
  ): Promise<{ kind: 'bound'; node: string; uid: string } | { kind: 'bound-back'; node: string; healthy: boolean } | { kind: 'stuck'; reason: string; message: string }> {
    const deadline = this.now().getTime() + this.d.config.confirmTimeoutMs;
    let last: V1Pod | undefined;
    for (let attempt = 0; ; attempt++) {
      last = await this.d.cluster.getPod(ns, name);
      const uid = last?.metadata?.uid;
      const node = last?.spec?.nodeName;
      if (last && uid !== oldUid && node) {
        const disruption = node === announced?.node ? announced.disruption : undefined;
        const verdict = assessNode(await this.d.cluster.getNode(node), { now: this.now(), config: this.d.config, disruption });
        // Back where it was: no relocation, whatever the node is now. The next trigger about that pod or
        // node decides again.
        if (node === fromNode) return { kind: 'bound-back', node, healthy: verdict.schedulable };
        if (verdict.schedulable) return { kind: 'bound', node, uid: uid! };
        return { kind: 'stuck', reason: 'bound-to-bad-node', message: `its replacement was bound to ${node}, which is unschedulable too (${verdict.reasons.map((r) => r.message).join('; ')})` };
      }
      if (this.now().getTime() >= deadline) break;
      // Fast at first (the scheduler usually binds within a second), then gentle on the apiserver.
      await this.sleep(attempt < 50 ? 100 : 1_000);
    }
    if (last?.metadata?.uid === oldUid) {
      return { kind: 'stuck', reason: 'old-pod-terminating', message: `the old pod is still terminating after ${this.d.config.confirmTimeoutMs} ms` };
    }
    if (!last) {
      return { kind: 'stuck', reason: 'not-recreated', message: `the StatefulSet has not recreated it after ${this.d.config.confirmTimeoutMs} ms` };
    }
    const scheduled = (last.status?.conditions ?? []).find((x) => x.type === 'PodScheduled');
    return {
      kind: 'stuck',
      reason: 'pending',
      message: `its replacement is still Pending after ${this.d.config.confirmTimeoutMs} ms${scheduled?.message ? `: ${scheduled.message}` : ''}`,
    };
  }

  private async report(outcome: Outcome, statefulSet: V1StatefulSet | undefined): Promise<void> {
    // One sink failing (e.g. the bus is unreachable) must not hide the outcome from the others.
    await Promise.allSettled(this.d.sinks.map((s) => s(outcome, { statefulSet })));
  }
}

function refOf(pod: V1Pod): AssistantRef {
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
export function instanceIdOf(node: V1Node): string | undefined {
  const m = /^aws:\/\/\/[^/]*\/(i-[0-9a-f]+)$/.exec(node.spec?.providerID ?? '');
  return m?.[1];
}
