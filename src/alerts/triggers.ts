/**
 * From firing node alerts to RelocationTriggers. An alert is a hint, never a verdict: the trigger only says
 * "look at node X now", and the relocator decides from the live node (cordon, taints, Ready past its grace)
 * as for any other trigger. Hence no `disruption` on these triggers: that field makes the relocator treat
 * the node as going away whatever its live state, which is right for an AWS notice of an instance's end and
 * wrong for "Prometheus saw the kubelet unready a while ago" (the node may be Ready again by now).
 */
import { isIP } from 'node:net';
import type { RelocationTrigger } from '../domain/trigger.js';
import { dns1123Subdomain } from '../events/fields.js';
import type { Alert, AlertmanagerPayload } from './payload.js';

/** Alert names that mean "this node may be unusable": kube-prometheus' own, and a common custom one. */
export const DEFAULT_NODE_ALERTS = ['KubeNodeNotReady', 'KubeNodeUnreachable', 'KubeletDown', 'NodeNotReady'];

export interface IgnoredAlert {
  /** The alert's name ('' when it has none). */
  alert: string;
  fingerprint: string;
  reason: string;
}

export interface AlertTrigger {
  trigger: RelocationTrigger;
  /** The alert it came from, for logs. */
  alert: string;
  node: string;
}

export interface AlertTriggers {
  /** One per node named by a firing node alert (the first alert naming it). */
  triggers: AlertTrigger[];
  ignored: IgnoredAlert[];
}

export function triggersFromAlerts(payload: AlertmanagerPayload, o: { alertNames: readonly string[] }): AlertTriggers {
  const triggers: AlertTrigger[] = [];
  const ignored: IgnoredAlert[] = [];
  const byNode = new Map<string, AlertTrigger>();
  for (const alert of payload.alerts) {
    const name = alert.labels.alertname ?? '';
    const ignore = (reason: string) => ignored.push({ alert: name, fingerprint: alert.fingerprint, reason });
    if (alert.status !== 'firing') {
      ignore('resolved: nothing to do (the relocator acts on the live node, and a recovered node needs nothing)');
      continue;
    }
    if (!o.alertNames.includes(name)) {
      ignore(`alertname ${JSON.stringify(name)} is not one of the node alerts this endpoint acts on (${o.alertNames.join(', ')})`);
      continue;
    }
    const node = nodeOf(alert);
    if (!node.ok) {
      ignore(node.reason);
      continue;
    }
    const earlier = byNode.get(node.name);
    if (earlier) {
      ignore(`node ${node.name} is already looked at for alert ${earlier.alert} (${earlier.trigger.id})`);
      continue;
    }
    const t: AlertTrigger = {
      alert: name,
      node: node.name,
      trigger: { id: alert.fingerprint, source: 'alert', target: { kind: 'node', node: { name: node.name } }, observedAt: alert.startsAt },
    };
    byNode.set(node.name, t);
    triggers.push(t);
  }
  return { triggers, ignored };
}

type NodeName = { ok: true; name: string } | { ok: false; reason: string };

/**
 * The node an alert is about: label `node` (kube-state-metrics' node alerts), else `instance` without its
 * port (node-exporter and kubelet targets scraped by host name). An IP address cannot be mapped to a node
 * name here: such alerts are skipped, and the forwarder and the sweep still see the node itself.
 */
export function nodeOf(alert: Pick<Alert, 'labels'>): NodeName {
  const { node, instance } = alert.labels;
  if (node !== undefined && node !== '') return checked(node, 'label node');
  if (instance === undefined || instance === '') return { ok: false, reason: 'has neither a node nor an instance label' };
  const host = hostOf(instance);
  if (isIP(host)) return { ok: false, reason: `instance ${JSON.stringify(instance)} is an IP address, which cannot be mapped to a node name; add a node label to the alert` };
  return checked(host.toLowerCase(), `instance ${JSON.stringify(instance)}`);
}

/** `host:port` -> host; `[v6]:port` and `[v6]` -> v6; a bare IPv6 address stays whole. */
function hostOf(instance: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d+)?$/.exec(instance);
  if (bracketed) return bracketed[1]!;
  if (isIP(instance)) return instance;
  return instance.replace(/:\d+$/, '');
}

function checked(name: string, from: string): NodeName {
  if (dns1123Subdomain.safeParse(name).success) return { ok: true, name };
  const shown = name.length <= 64 ? JSON.stringify(name) : `${JSON.stringify(name.slice(0, 61))}...`;
  return { ok: false, reason: `${from} gives ${shown}, which is not a valid node name` };
}
