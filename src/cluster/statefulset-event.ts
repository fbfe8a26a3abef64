/** The core/v1 Event we record on an assistant's StatefulSet (outcomes, loop-guard and notification marks). */
import type { KubeEvent } from '../domain/k8s.js';

export interface StatefulSetEventFields {
  name: string;
  namespace: string;
  statefulSet: { name?: string; uid?: string; resourceVersion?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** Source and reporting component: how our Events are told apart from everyone else's. */
  component: string;
  annotations?: Record<string, string>;
  now?: Date;
}

export function statefulSetEvent(f: StatefulSetEventFields): KubeEvent {
  const now = f.now ?? new Date();
  return {
    metadata: { name: f.name, namespace: f.namespace, ...(f.annotations ? { annotations: f.annotations } : {}) },
    involvedObject: { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: f.namespace, ...f.statefulSet },
    type: f.type,
    reason: f.reason,
    // The API caps an Event message at 1 KiB.
    message: f.message.length > 1024 ? `${f.message.slice(0, 1021)}...` : f.message,
    source: { component: f.component },
    reportingComponent: f.component,
    reportingInstance: f.component,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}
