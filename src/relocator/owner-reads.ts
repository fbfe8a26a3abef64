/**
 * The ownership and volume reads of one trigger's assistants, batched: what every assistant on a bad node
 * needs (its StatefulSet, that StatefulSet's PipelineRun, its claims and their volumes) is asked for per
 * collection and namespace at once, so that the cluster adapter can answer 50 assistants of a drained
 * node with a list rather than 200 GETs (ClusterPort.getStatefulSets & co. decide). The names are known
 * up front from the pods (StatefulSets, claims) or from the first batch (PipelineRuns, volumes).
 *
 * Nothing is older than a GET would be: the batches start when the first assistant asks, and a name that
 * a batch did not hold, or a batch that failed, is read on its own.
 */
import { claimNamesOf, controllerOf, type PipelineRunLike } from '../domain/assistant.js';
import type { PersistentVolume, PersistentVolumeClaim, Pod, StatefulSet } from '../domain/k8s.js';
import type { ClusterPort } from './ports.js';

type Batch<T> = Promise<Map<string, T | undefined> | undefined>;

export class OwnerReads {
  private readonly setNames = new Map<string, Set<string>>();
  private readonly claimNames = new Map<string, Set<string>>();
  private readonly sets = new Map<string, Batch<StatefulSet>>();
  private readonly runs = new Map<string, Batch<PipelineRunLike>>();
  private readonly claims = new Map<string, Batch<PersistentVolumeClaim>>();
  private volumes?: Batch<PersistentVolume>;

  /** `pods`: the assistants of the trigger that will be read (those on nodes that look bad). */
  constructor(
    private readonly cluster: ClusterPort,
    pods: Pod[],
  ) {
    for (const pod of pods) {
      const ns = pod.metadata?.namespace;
      if (!ns) continue;
      const owner = controllerOf(pod.metadata?.ownerReferences);
      if (owner?.kind === 'StatefulSet') add(this.setNames, ns, owner.name);
      for (const claim of claimNamesOf(pod)) add(this.claimNames, ns, claim);
    }
  }

  statefulSet(ns: string, name: string): Promise<StatefulSet | undefined> {
    return this.from(this.setBatch(ns, name), name, () => this.cluster.getStatefulSet(ns, name));
  }

  pipelineRun(ns: string, name: string, apiVersion: string): Promise<PipelineRunLike | undefined> {
    const key = `${ns} ${apiVersion}`;
    let batch = this.runs.get(key);
    if (!batch) {
      batch = (async () => {
        const sets = (await this.setBatch(ns, undefined)) ?? new Map<string, StatefulSet | undefined>();
        const names = new Set([name]);
        for (const sts of sets.values()) {
          const ref = controllerOf(sts?.metadata?.ownerReferences);
          if (ref?.kind === 'PipelineRun' && ref.apiVersion === apiVersion) names.add(ref.name);
        }
        return this.cluster.getPipelineRuns(ns, [...names], apiVersion);
      })().catch(() => undefined);
      this.runs.set(key, batch);
    }
    return this.from(batch, name, () => this.cluster.getPipelineRun(ns, name, apiVersion));
  }

  claim(ns: string, name: string): Promise<PersistentVolumeClaim | undefined> {
    return this.from(this.claimBatch(ns, name), name, () => this.cluster.getPersistentVolumeClaim(ns, name));
  }

  /** Volumes are cluster-wide: one batch for the volumes of every claim of the trigger. */
  volume(name: string): Promise<PersistentVolume | undefined> {
    this.volumes ??= (async () => {
      const names = new Set([name]);
      const batches = await Promise.all([...this.claimNames.keys()].map((ns) => this.claimBatch(ns, undefined)));
      for (const claims of batches) for (const pvc of claims?.values() ?? []) if (pvc?.spec?.volumeName) names.add(pvc.spec.volumeName);
      return this.cluster.getPersistentVolumes([...names]);
    })().catch(() => undefined);
    return this.from(this.volumes, name, () => this.cluster.getPersistentVolume(name));
  }

  private claimBatch(ns: string, name: string | undefined): Batch<PersistentVolumeClaim> {
    return batchOf(this.claims, this.claimNames, ns, name, (names) => this.cluster.getPersistentVolumeClaims(ns, names));
  }

  private setBatch(ns: string, name: string | undefined): Batch<StatefulSet> {
    return batchOf(this.sets, this.setNames, ns, name, (names) => this.cluster.getStatefulSets(ns, names));
  }

  /** The batch's answer for `name`, or a read of its own when the batch failed or did not ask for it. */
  private async from<T>(batch: Batch<T>, name: string, one: () => Promise<T | undefined>): Promise<T | undefined> {
    const found = await batch;
    return found?.has(name) ? found.get(name) : one();
  }
}

function add(m: Map<string, Set<string>>, key: string, value: string): void {
  let s = m.get(key);
  if (!s) m.set(key, (s = new Set()));
  s.add(value);
}

/** The namespace's batch, started on first use for the names known up front and `name`. */
function batchOf<T>(
  batches: Map<string, Batch<T>>,
  known: Map<string, Set<string>>,
  ns: string,
  name: string | undefined,
  read: (names: string[]) => Promise<Map<string, T | undefined>>,
): Batch<T> {
  let batch = batches.get(ns);
  if (!batch) {
    const names = new Set([...(known.get(ns) ?? []), ...(name ? [name] : [])]);
    batch = read([...names]).catch(() => undefined);
    batches.set(ns, batch);
  }
  return batch;
}
