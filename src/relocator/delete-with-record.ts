/**
 * The delete of an assistant and its deletion record, as both paths (the cause's, the rescue's) send them.
 * They go out together: the replacement takes the StatefulSet controller, the scheduler and an event's trip
 * to be seen, far longer than the record's write. A record lost to an error leaves the move unconfirmed
 * (reported by nobody) and the loop guard one count more lenient; it never blocks the delete.
 */
import type { DeletionRecord } from '../domain/deletion-record.js';
import type { StatefulSet } from '../domain/k8s.js';
import type { Outcome } from '../domain/outcome.js';
import type { ClusterPort, DeleteResult } from './ports.js';

export async function deleteWithRecord(
  cluster: Pick<ClusterPort, 'deletePod' | 'recordDeletion'>,
  o: { namespace: string; name: string; uid: string; force: boolean; record: DeletionRecord | undefined; statefulSet: StatefulSet | undefined; message: string },
  log?: (level: 'warn', message: string) => void,
): Promise<DeleteResult> {
  const [result] = await Promise.all([
    cluster.deletePod(o.namespace, o.name, { uid: o.uid, force: o.force, dryRun: false }),
    o.record && o.statefulSet
      ? cluster.recordDeletion(o.statefulSet, o.record, o.message).catch((e: unknown) => log?.('warn', `could not record the delete of ${o.namespace}/${o.name}: ${e instanceof Error ? e.message : String(e)}`))
      : undefined,
  ]);
  return result;
}

/** A delete the apiserver refused as stale (404: gone; 409: the uid precondition), as the outcome says it; undefined when it was deleted. */
export function staleDelete(result: DeleteResult, namespace: string, name: string): Pick<Outcome, 'kind' | 'reason' | 'message'> | undefined {
  if (result === 'not-found') return { kind: 'skipped', reason: 'gone', message: `${namespace}/${name} disappeared before it could be deleted` };
  if (result === 'conflict') return { kind: 'skipped', reason: 'stale', message: `${namespace}/${name} was replaced before the delete (uid precondition failed)` };
  return undefined;
}
