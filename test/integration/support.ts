/**
 * A scenario on the real control plane: the PipelineRun CRD, the shipped RBAC, local mode running as the
 * relocator identity, and helpers to build Tekton-shaped assistants on their own pool of nodes (a
 * nodeSelector from the PipelineRun's podTemplate keeps each test on its own nodes).
 */
import { spawn } from 'node:child_process';
import type { V1Pod } from '@kubernetes/client-node';
import { startLocalMode, type LocalMode } from '../../src/cli/local-mode.js';
import { DEFAULT_CONFIG, type RelocatorConfig } from '../../src/domain/config.js';
import type { Outcome } from '../../src/domain/outcome.js';
import { KubernetesCluster } from '../../src/cluster/api.js';
import { ControlPlane, type ControlPlaneOptions } from '../../src/local-cluster/controlplane.js';
import { TektonController, type TektonOptions } from '../../src/local-cluster/tekton.js';
import { type Clients, clientsFor, eventually } from '../../src/local-cluster/fixtures/clients.js';
import { createNode, type NodeOptions } from '../../src/local-cluster/fixtures/nodes.js';
import { createNamespace, waitForBoundPod } from '../../src/local-cluster/fixtures/pods.js';
import { applyRelocatorRbac } from '../../src/local-cluster/fixtures/rbac.js';
import {
  type AssistantPodTemplate,
  affinityAssistantName,
  createAssistant,
  createPipelineRun,
  installPipelineRunCrd,
  type PipelineRun,
  pvcNameFromWorkspaceBinding,
} from '../../src/local-cluster/fixtures/tekton.js';
import { type Placement, provisionVolume } from '../../src/local-cluster/fixtures/volumes.js';
import { delivered } from '../../src/local/delivered.js';
import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { type ResultDetail, ResultDetailSchema } from '../../src/events/results.js';

const UNSCHEDULABLE_TAINT_KEY = 'node.kubernetes.io/unschedulable';

export const TEST_CONFIG: RelocatorConfig = { ...DEFAULT_CONFIG, confirmTimeoutMs: 20_000, notReadyGraceMs: 2_000 };

/**
 * A stand-in for the EventBridge client of the result-event sink (no bus runs here): it accepts every
 * PutEvents and keeps each entry's detail, validated against the result contract, in `published`.
 */
export function recordingBus(): { bus: Pick<EventBridgeClient, 'send'>; published: ResultDetail[] } {
  const published: ResultDetail[] = [];
  const bus = {
    send: async (command: PutEventsCommand) => {
      for (const e of command.input.Entries ?? []) published.push(ResultDetailSchema.parse(JSON.parse(e.Detail!)));
      return { FailedEntryCount: 0, Entries: [] };
    },
  } as unknown as EventBridgeClient;
  return { bus, published };
}

/** One of our events (schemaVersion 1, cluster `test`, observed now) as a rule's target receives it. */
export function ownEvent(detailType: string, detail: object, id?: string) {
  const fields = { schemaVersion: 1, cluster: 'test', observedAt: new Date().toISOString(), ...detail };
  return delivered({ Source: 'affinity-relocator', DetailType: detailType, Detail: JSON.stringify(fields) }, { id });
}

export class Scenario {
  readonly outcomes: Outcome[] = [];
  readonly errors: unknown[] = [];
  private local: LocalMode | undefined;
  private tektonController: TektonController | undefined;
  private constructor(
    readonly cp: ControlPlane,
    readonly admin: Clients,
    readonly relocator: Clients,
  ) {}

  /**
   * `tekton`: the real Tekton controller runs (its own CRDs); else the fixtures play its part. The rest are
   * the control plane's options (e.g. the AWS-shaped path's token webhook and audit log).
   */
  static async start(o: ControlPlaneOptions & { tekton?: TektonOptions } = {}): Promise<Scenario> {
    const { tekton, ...options } = o;
    const cp = await ControlPlane.start(options);
    try {
      const admin = clientsFor(cp.kubeConfig('admin'));
      const s = new Scenario(cp, admin, clientsFor(cp.kubeConfig('relocator')));
      if (tekton) s.tektonController = await TektonController.start(cp, tekton);
      else await installPipelineRunCrd(admin);
      await applyRelocatorRbac(admin);
      return s;
    } catch (e) {
      await cp.stop();
      throw e;
    }
  }

  /** The real Tekton controller (`Scenario.start({ tekton })`). */
  get tekton(): TektonController {
    if (!this.tektonController) throw new Error('this scenario runs without the Tekton controller: Scenario.start({ tekton: {} })');
    return this.tektonController;
  }

  /** `sweepIntervalMs`: local mode's sweep; off unless a test asks for it (the tests are about the events). */
  async startLocalMode(config: RelocatorConfig = TEST_CONFIG, o: { sweepIntervalMs?: number } = {}): Promise<LocalMode> {
    this.local = await startLocalMode({
      kc: this.cp.kubeConfig('relocator'),
      config,
      cluster: 'test',
      sweepIntervalMs: o.sweepIntervalMs ?? 0,
      onOutcome: (o) => this.outcomes.push(o),
      onError: (e) => this.errors.push(e),
    });
    return this.local;
  }

  async stopLocalMode(): Promise<void> {
    await this.local?.stop();
    this.local = undefined;
  }

  async stop(): Promise<void> {
    await this.stopLocalMode();
    await this.tektonController?.stop();
    await this.cp.stop();
  }

  /** Nodes of one pool: `<pool>-1..n`, labelled pool=<pool>, Ready. */
  async pool(pool: string, count: number, o: NodeOptions = {}): Promise<string[]> {
    const names = Array.from({ length: count }, (_, i) => `${pool}-${i + 1}`);
    for (const n of names) await createNode(this.admin, n, { ...o, labels: { pool, ...o.labels } });
    return names;
  }

  /**
   * A running PipelineRun with one per-workspace assistant pinned to the pool, bound on `startOn` (the
   * other pool nodes are cordoned meanwhile, then uncordoned).
   */
  async assistant(
    pool: string,
    o: { startOn: string; others: string[]; placement?: Placement; podTemplate?: AssistantPodTemplate; pipelineRun?: string },
  ): Promise<{ pr: PipelineRun; sts: string; pod: V1Pod; claim: string; ns: string }> {
    const ns = pool;
    await createNamespace(this.admin, ns).catch(() => undefined);
    const pr = await createPipelineRun(this.admin, ns, o.pipelineRun ?? `pr-${pool}`);
    const claim = pvcNameFromWorkspaceBinding(undefined, 'source', pr.metadata.uid);
    await provisionVolume(this.admin, ns, claim, o.placement ?? { kind: 'anywhere' });
    const { setUnschedulable } = await import('../../src/local-cluster/fixtures/nodes.js');
    for (const n of o.others) await setUnschedulable(this.admin, n, true);
    // The node lifecycle controller's taint shows that the cordon has reached the controllers' caches;
    // without it the scheduler may still place the assistant on a node it has not seen cordoned.
    for (const n of o.others) await eventually(`${n} to carry the cordon's taint`, () => this.admin.core.readNode({ name: n }), (x) => (x.spec?.taints ?? []).some((t) => t.key === UNSCHEDULABLE_TAINT_KEY));
    await createAssistant(this.admin, pr, {
      mode: 'workspaces',
      workspaceName: 'source',
      claimNames: [claim],
      podTemplate: { ...o.podTemplate, nodeSelector: { pool, ...o.podTemplate?.nodeSelector } },
    });
    const sts = affinityAssistantName('source', pr.metadata.name);
    const pod = await waitForBoundPod(this.admin, ns, `${sts}-0`);
    if (pod.spec?.nodeName !== o.startOn) throw new Error(`assistant started on ${pod.spec?.nodeName}, expected ${o.startOn}`);
    for (const n of o.others) await setUnschedulable(this.admin, n, false);
    // The node lifecycle controller lifts the cordon's taint a moment after the uncordon: until then the
    // other nodes cannot take a replacement, and a test that cordons startOn at once would find none.
    for (const n of o.others) await eventually(`${n} to lose the cordon's taint`, () => this.admin.core.readNode({ name: n }), (x) => !(x.spec?.taints ?? []).some((t) => t.key === UNSCHEDULABLE_TAINT_KEY));
    return { pr, sts, pod, claim, ns };
  }

  async waitForOutcome(what: string, match: (o: Outcome) => boolean, timeoutMs = 30_000): Promise<Outcome> {
    const found = await eventually(what, async () => this.outcomes.find(match), (o) => o !== undefined, { timeoutMs });
    return found!;
  }

  /** The relocator's real cluster adapter, recording the name of every method called on it. */
  recordingCluster(): { cluster: KubernetesCluster; calls: string[] } {
    const live = new KubernetesCluster(this.cp.kubeConfig('relocator'), { assistantSelector: TEST_CONFIG.assistantSelector });
    const calls: string[] = [];
    const cluster = new Proxy(live, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          calls.push(String(prop));
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    return { cluster, calls };
  }

  /** Names of Events the relocator recorded on a StatefulSet. */
  async eventReasons(ns: string, sts: string): Promise<string[]> {
    const list = await this.admin.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${sts}` });
    return list.items.filter((e) => e.source?.component === 'affinity-relocator').map((e) => e.reason ?? '');
  }
}

export { waitForBoundPod };

/**
 * The CLI as a user runs it (`npm start -- ...args`), in a process of its own, with no $KUBECONFIG unless
 * `env` sets one. Resolves with its exit code and output.
 */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env: { ...process.env, KUBECONFIG: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
