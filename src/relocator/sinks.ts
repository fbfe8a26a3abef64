/** The outcome sink every deployment has: a Kubernetes Event on the StatefulSet (`kubectl describe`). */
import type { Outcome } from '../domain/outcome.js';
import type { ClusterPort, OutcomeSink } from './ports.js';

/**
 * Event reason and type per outcome; routine skips (healthy, stale...) record nothing, to stay quiet. A
 * delete and its settlement (started, relocated, stuck) have their Events written by the relocator
 * itself: the deletion record and the settlement claim (src/cluster/deletion-events.ts).
 */
export function kubeEventFor(o: Outcome): { type: 'Normal' | 'Warning'; reason: string } | undefined {
  switch (o.kind) {
    case 'started':
    case 'relocated':
    case 'stuck':
      return undefined;
    case 'blocked':
      return { type: 'Warning', reason: 'AssistantRelocationBlocked' };
    case 'failed':
      return { type: 'Warning', reason: 'AssistantRelocationFailed' };
    case 'skipped':
      return o.reason === 'dry-run' ? { type: 'Normal', reason: 'AssistantRelocationDryRun' } : undefined;
  }
}

export function kubeEventSink(cluster: ClusterPort): OutcomeSink {
  return async (o, { statefulSet }) => {
    const ev = kubeEventFor(o);
    if (!ev || !statefulSet) return;
    await cluster.recordEvent(statefulSet, { ...ev, message: o.message });
  };
}
