/**
 * Issue 20's use case: a TaskRun pod held Pending by its assistant's node. Reads the pod, its assistant and
 * what the decision needs (src/domain/rescue.ts decides), finds a node for the pair, steers the
 * replacement there, and deletes the assistant with a uid precondition, leaving a deletion record that
 * names the held pod: the settlement (relocator.ts) judges that pod too. An assistant whose node is bad is
 * the cause's business, and goes down that path instead.
 */
import type { Node, PersistentVolume, Pod, StatefulSet, Taint } from '../domain/k8s.js';
import { claimNamesOf, controllerOf, type PipelineRunLike } from '../domain/assistant.js';
import type { RelocatorConfig } from '../domain/config.js';
import { type DeletionRecord, deletionRecord, RESCUE_REASON } from '../domain/deletion-record.js';
import { findPairFeasibleNodes } from '../domain/pair-feasibility.js';
import { assistantInstanceOf, INSTANCE_LABEL } from '../domain/held-pod.js';
import { interruptionTaint, taintsWithInterruption } from '../domain/interruption-taint.js';
import { asReplacement, hostnameOf, placementHint } from '../domain/placement-hint.js';
import type { AssistantRef, Outcome } from '../domain/outcome.js';
import { type PairPlacement, planRescue, type RescueDecision, usesWorkspace } from '../domain/rescue.js';
import type { ObservedPodRef, RelocationTrigger } from '../domain/trigger.js';
import type { DeleteCap } from './delete-cap.js';
import type { NodeView } from './node-view.js';
import { OwnerReads } from './owner-reads.js';
import type { GrowthView } from './growth-view.js';
import type { PlacementFinder } from './placement.js';
import type { ClusterPort } from './ports.js';
import { deleteWithRecord, staleDelete } from './delete-with-record.js';

/** The trigger source of the steering taint's value (`pending-taskrun.<time>`): the sweep lifts it after the confirmation timeout. */
export const STEERING_TAINT_SOURCE = RESCUE_REASON;

/** Whether a taint of ours (src/domain/interruption-taint.ts) is the rescue's steering taint, not an AWS notice's. */
export function isSteeringTaint(t: Taint | undefined): boolean {
  return !!t?.value?.startsWith(`${STEERING_TAINT_SOURCE}.`);
}

/** What the rescue needs of the relocator it runs in. */
export interface RescueDeps {
  cluster: ClusterPort;
  config: RelocatorConfig;
  now: () => Date;
  cap: DeleteCap;
  /** Deletes of this StatefulSet (by uid) within the loop-guard window. */
  recentRelocations: (statefulSetUid: string) => Promise<number>;
  log?: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;
}

export interface RescueOptions {
  /** Decide, delete nothing (PENDING_TASKRUNS=report, notify-only AWS actions). */
  notifyOnly?: boolean;
  /** The cause's path for an assistant whose node is bad (it reports its outcome itself). */
  relocate: (pod: Pod) => Promise<Outcome>;
}

type Base = Pick<Outcome, 'assistant' | 'triggerId' | 'triggerSource' | 'fromNode' | 'heldPod'>;

export class Rescuer {
  constructor(private readonly d: RescueDeps) {}

  /** One held pod named by a trigger: the outcome of its assistant (or of the pod, when it has none). */
  async rescue(trigger: RelocationTrigger, target: { pod: ObservedPodRef; assistant?: string }, { nodes, placements, growth: growthView }: { nodes: NodeView; placements: PlacementFinder; growth: GrowthView }, o: RescueOptions): Promise<{ outcome: Outcome; statefulSet?: StatefulSet; reported?: true }> {
    const { namespace: ns, name } = target.pod;
    const [held, allNodes] = await Promise.all([this.d.cluster.getPod(ns, name), nodes.all()]);
    const instance = (held && assistantInstanceOf(held, this.d.config.assistantSelector)) ?? target.assistant;
    const base: Base = { assistant: { namespace: ns, pod: instance ? `${instance}-0` : name }, triggerId: trigger.id, triggerSource: trigger.source, heldPod: name };
    if (!instance) {
      return { outcome: { ...base, kind: 'skipped', reason: 'not-held', message: `${ns}/${name} is not tied to an affinity assistant${held ? '' : ' (it no longer exists)'}` } };
    }
    // Tekton's assistant is a one-replica StatefulSet named after the instance label.
    const found = await this.d.cluster.getPod(ns, `${instance}-0`);
    // Judged as its replacement will be (without a steering pin of ours from an earlier rescue).
    const assistant = found?.metadata?.labels?.[INSTANCE_LABEL] === instance ? asReplacement(found) : undefined;
    base.assistant = refOf(assistant) ?? base.assistant;
    base.fromNode = assistant?.spec?.nodeName;
    const node = allNodes.find((n) => n.metadata?.name === base.fromNode);
    const obs = await this.observe(held, assistant, instance, node);
    base.assistant = { ...base.assistant, statefulSetUid: obs.statefulSet?.metadata?.uid, pipelineRun: controllerOf(obs.statefulSet?.metadata?.ownerReferences)?.name };
    const observation = { ...obs, held, expectedHeldUid: target.pod.uid, assistant, assistantName: instance, node, now: this.d.now() };
    let decision = planRescue(observation, this.d.config);
    // The cause's path reports its own outcome.
    if (decision.action === 'cause') return { outcome: await o.relocate(assistant!), statefulSet: obs.statefulSet, reported: true };
    if (decision.action === 'find-pair-placement') {
      const placement = await this.pairPlacement(assistant!, held!, allNodes, obs.assistantVolumes, obs.heldVolumes, placements);
      decision = planRescue({ ...observation, placement }, this.d.config);
      if (decision.action === 'find-growth') {
        const growth = await growthView.judgePair({ assistant: assistant!, held: held!, assistantVolumes: obs.assistantVolumes, heldVolumes: obs.heldVolumes, badNode: base.fromNode ?? '', nodes: allNodes, now: this.d.now(), config: this.d.config });
        decision = planRescue({ ...observation, placement, growth }, this.d.config);
      }
    }
    const outcome = await this.act(decision, { assistant, held, sts: obs.statefulSet, nodes: allNodes }, base, trigger, o);
    // The room booked for the pair goes back when nothing was deleted (other rescues of the trigger may use it).
    if (decision.action === 'delete' && decision.target && outcome.kind !== 'started') placements.releasePair(assistant!, held!, decision.target);
    return { outcome, statefulSet: obs.statefulSet };
  }

  /** Owners, volumes and claims of both pods, the pods of the run on the assistant's node, the loop guard's count. */
  private async observe(held: Pod | undefined, assistant: Pod | undefined, instance: string, node: Node | undefined) {
    const owners = new OwnerReads(this.d.cluster, assistant ? [assistant] : []);
    const ns = assistant?.metadata?.namespace ?? held?.metadata?.namespace ?? '';
    const owner = controllerOf(assistant?.metadata?.ownerReferences);
    const volumesOf = async (pod: Pod | undefined) => {
      const claims = await Promise.all((pod ? claimNamesOf(pod) : []).map(async (c) => ({ name: c, pvc: await owners.claim(ns, c) })));
      const unbound = claims.filter((c) => !c.pvc?.spec?.volumeName || c.pvc.status?.phase !== 'Bound').map((c) => c.name);
      const pvs = await Promise.all(claims.flatMap((c) => (c.pvc?.spec?.volumeName ? [owners.volume(c.pvc.spec.volumeName)] : [])));
      return { unbound, volumes: pvs.filter((pv): pv is PersistentVolume => !!pv) };
    };
    const [chain, a, h, onNode, recentRelocations] = await Promise.all([
      (async () => {
        const statefulSet = owner?.kind === 'StatefulSet' ? await owners.statefulSet(ns, owner.name) : undefined;
        const prRef = controllerOf(statefulSet?.metadata?.ownerReferences);
        const pipelineRun: PipelineRunLike | undefined =
          prRef?.kind === 'PipelineRun' && prRef.apiVersion.startsWith('tekton.dev/') ? await owners.pipelineRun(ns, prRef.name, prRef.apiVersion) : undefined;
        return { statefulSet, pipelineRun };
      })(),
      volumesOf(assistant),
      volumesOf(held),
      node?.metadata?.name ? this.d.cluster.listPodsOnNode(node.metadata.name) : Promise.resolve([]),
      owner?.kind === 'StatefulSet' ? this.d.recentRelocations(owner.uid) : Promise.resolve(0),
    ]);
    const selector = this.d.config.assistantSelector;
    const workspaceUsers = onNode.filter((p) => p.metadata?.uid !== held?.metadata?.uid && usesWorkspace(p, instance, (x) => assistantInstanceOf(x, selector)));
    return { ...chain, assistantVolumes: a.volumes, heldVolumes: h.volumes, unboundClaims: h.unbound, workspaceUsers, recentRelocations };
  }

  /**
   * A node other than the assistant's that takes its replacement and then the held pod, as the scheduler
   * judges the two one after the other (src/domain/pair-feasibility.ts); every candidate is probed, since
   * whether the replacement could go where the pod cannot follow decides whether a taint is steering enough.
   */
  private async pairPlacement(assistant: Pod, held: Pod, nodes: Node[], assistantVolumes: PersistentVolume[], heldVolumes: PersistentVolume[], placements: PlacementFinder): Promise<PairPlacement> {
    const stage1 = findPairFeasibleNodes({ assistant, held, nodes, assistantVolumes, heldVolumes, excluded: new Set([assistant.spec?.nodeName ?? '']), now: this.d.now(), config: this.d.config });
    const names = new Set(stage1.replacementNodes);
    const p = await placements.findPair(assistant, held, nodes.filter((n) => names.has(n.metadata?.name ?? '')), nodes, stage1);
    return { node: p.node, summary: p.summary, aloneOnly: p.aloneOnly, complete: p.allProbed };
  }

  private async act(
    decision: RescueDecision,
    { assistant, held: heldPod, sts, nodes }: { assistant: Pod | undefined; held: Pod | undefined; sts: StatefulSet | undefined; nodes: Node[] },
    base: Base,
    trigger: RelocationTrigger,
    o: RescueOptions,
  ): Promise<Outcome> {
    if (decision.action === 'cause' || decision.action === 'find-pair-placement' || decision.action === 'find-growth') throw new Error(`internal: ${decision.action} was asked for twice`);
    if (decision.action === 'none') return { ...base, kind: decision.outcome, reason: decision.reason, message: decision.message };
    const pod = assistant!;
    const held = decision.held;
    const ns = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const from = base.fromNode!;
    const report = this.d.config.pendingTaskRuns === 'report' || o.notifyOnly;
    if (report) return { ...base, kind: 'skipped', reason: 'notify-only', message: `${this.d.config.pendingTaskRuns === 'report' ? 'PENDING_TASKRUNS=report' : 'notify-only'}: would ${decision.message}` };
    if (this.d.config.dryRun) {
      const result = await this.d.cluster.deletePod(ns, name, { uid: decision.podUid, force: false, dryRun: true });
      return { ...base, kind: 'skipped', reason: 'dry-run', dryRun: true, message: `dry-run: would steer the replacement to ${decision.target ?? `a node from ${decision.growth}`} and ${decision.message} (${result === 'deleted' ? 'the apiserver accepted it in dry-run' : `the apiserver answered ${result}`})` };
    }
    if (!(await this.d.cap.take())) {
      const { max, counted } = this.d.cap.state();
      return { ...base, kind: 'blocked', reason: 'rate-limit', message: `${ns}/${name} was not deleted: ${counted} assistant deletes in the last minute reach the cluster-wide cap of ${max} per minute (MAX_DELETES_PER_MINUTE)` };
    }
    const steering = await steerReplacement(this.d, { assistant: pod, heldPod, decision, nodes, from });
    if (typeof steering !== 'string') return { ...base, ...steering };
    const deletedAt = this.d.now();
    const record: DeletionRecord | undefined = sts?.metadata?.name
      ? deletionRecord(
          {
            statefulSet: { name: sts.metadata.name, uid: sts.metadata.uid },
            pipelineRun: base.assistant.pipelineRun,
            namespace: ns,
            pod: name,
            oldPodUid: decision.podUid,
            fromNode: from,
            reasonCodes: [],
            reasons: `${ns}/${base.heldPod} was Unschedulable beside it since ${held.since.toISOString()}`,
            forced: false,
            expectedGrowth: decision.growth,
            heldPod: { name: base.heldPod!, uid: decision.heldUid, since: held.since.toISOString() },
            steeredTo: { node: decision.target ?? '', by: steering },
          },
          trigger,
          deletedAt,
        )
      : undefined;
    const result = await deleteWithRecord(this.d.cluster, { namespace: ns, name, uid: decision.podUid, force: false, record, statefulSet: sts, message: decision.message }, this.d.log);
    const stale = staleDelete(result, ns, name);
    if (stale) return { ...base, ...stale };
    return {
      ...base,
      kind: 'started',
      reason: RESCUE_REASON,
      message: `${ns}/${name} deleted from ${from} to free ${ns}/${base.heldPod}; its StatefulSet recreates it, ${decision.target ? `steered to ${decision.target}` : `kept off ${from} while ${decision.growth} adds a node for both`} (${steering === 'admission' ? 'an AssistantPlacement read at admission' : `our taint on ${from}`})`,
      deleteLatencyMs: deletedAt.getTime() - new Date(trigger.observedAt).getTime(),
      forced: false,
    };
  }
}

/**
 * Steers the replacement to `target`: an AssistantPlacement the admission policy reads when the StatefulSet
 * recreates the pod (the way that always works), or, on a cluster without that API, our NoSchedule taint on
 * the node left, which is enough only when every node that takes the replacement takes the held pod too.
 * How it was steered, or the outcome that says why nothing was deleted.
 */
async function steerReplacement(
  d: RescueDeps,
  o: { assistant: Pod; heldPod: Pod | undefined; decision: Extract<RescueDecision, { action: 'delete' }>; nodes: Node[]; from: string },
): Promise<'admission' | 'taint' | Pick<Outcome, 'kind' | 'reason' | 'message'>> {
  // A node still to come cannot be named: only the taint on the node left steers toward it.
  const node = o.decision.target ? o.nodes.find((n) => n.metadata?.name === o.decision.target) : undefined;
  if (node && hostnameOf(node)) {
    const hint = placementHint({ assistant: o.assistant, node, heldPod: o.heldPod, now: d.now(), ttlMs: d.config.confirmTimeoutMs });
    if ((await d.cluster.writePlacementHint(hint)) === 'written') return 'admission';
  }
  if (!o.decision.taintFallbackSafe) {
    return {
      kind: 'blocked',
      reason: 'cannot-steer',
      message: `${o.decision.message}, but other nodes would take the replacement and not the held pod, and this cluster cannot steer it to ${o.decision.target ?? 'a new node'} (no AssistantPlacement API: README "Freeing a held TaskRun pod")`,
    };
  }
  const taint = interruptionTaint(STEERING_TAINT_SOURCE, d.now());
  try {
    await d.cluster.updateNodeTaints(o.from, (t) => taintsWithInterruption(t, taint));
    return 'taint';
  } catch (e) {
    return { kind: 'failed', reason: 'error', message: `could not taint ${o.from} to keep the replacement off it, so nothing was deleted: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function refOf(pod: Pod | undefined): AssistantRef | undefined {
  if (!pod) return undefined;
  const owner = controllerOf(pod.metadata?.ownerReferences);
  return { namespace: pod.metadata?.namespace ?? '', pod: pod.metadata?.name ?? '', podUid: pod.metadata?.uid, statefulSet: owner?.kind === 'StatefulSet' ? owner.name : undefined };
}

