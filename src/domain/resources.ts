/**
 * The scheduler's NodeResourcesFit filter, as pure functions: a pod's effective request computed the way
 * k8s.io/component-helpers/resource.PodRequests computes it (containers summed; each init container on
 * top of the sidecars started before it, the largest of those; pod-level cpu/memory requests instead of
 * the containers'; pod overhead added), and the node's free room = allocatable minus the requests of its
 * non-terminal pods (pkg/scheduler/framework/plugins/noderesources/fit.go fitsRequest).
 * Not covered: in-place resize (a resized pod's status resources; the spec is used), DRA-backed
 * extended resources, the scheduler's ignoredResources settings.
 */
import type { Container, Node, Pod } from './k8s.js';
import { milliValue, parseQuantity, wholeValue } from './quantity.js';

/** Resource name -> amount in the scheduler's unit: milli-cpu for cpu, whole units for the rest. */
export type Resources = Map<string, bigint>;

type NanoList = Map<string, bigint>;

const POD_LEVEL = new Set(['cpu', 'memory']);
const isPodLevel = (name: string) => POD_LEVEL.has(name) || name.startsWith('hugepages-');

/** Names the scheduler tracks: cpu, memory, ephemeral-storage, and its scalar resources. */
function tracked(name: string): boolean {
  return (
    name === 'cpu' ||
    name === 'memory' ||
    name === 'ephemeral-storage' ||
    name.includes('/') || // extended resources (example.com/gpu) and kubernetes.io/ prefixed native ones
    name.startsWith('hugepages-') ||
    name.startsWith('attachable-volumes-')
  );
}

function toNano(list: Record<string, string> | undefined): NanoList {
  const out: NanoList = new Map();
  for (const [k, v] of Object.entries(list ?? {})) out.set(k, parseQuantity(v));
  return out;
}

function add(into: NanoList, from: NanoList): void {
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0n) + v);
}

function max(into: NanoList, from: NanoList): void {
  for (const [k, v] of from) if (v > (into.get(k) ?? 0n)) into.set(k, v);
}

const requestsOf = (c: Container) => toNano(c.resources?.requests as Record<string, string> | undefined);

/** The pod's request in the scheduler's units (PodRequests, then MilliValue/Value). */
export function podRequests(pod: Pod): Resources {
  const spec = pod.spec;
  const reqs: NanoList = new Map();
  for (const c of spec?.containers ?? []) add(reqs, requestsOf(c));
  const sidecars: NanoList = new Map();
  const inits: NanoList = new Map();
  for (const c of spec?.initContainers ?? []) {
    let r = requestsOf(c);
    if (c.restartPolicy === 'Always') {
      // A sidecar runs alongside the app containers and every later init container.
      add(reqs, r);
      add(sidecars, r);
      r = new Map(sidecars);
    } else {
      const withSidecars: NanoList = new Map(r);
      add(withSidecars, sidecars);
      r = withSidecars;
    }
    max(inits, r);
  }
  max(reqs, inits);
  const podLevel = toNano(spec?.resources?.requests as Record<string, string> | undefined);
  if ([...podLevel.keys()].some(isPodLevel)) {
    for (const [k, v] of podLevel) if (isPodLevel(k)) reqs.set(k, v);
  }
  add(reqs, toNano(spec?.overhead as Record<string, string> | undefined));
  return inSchedulerUnits(reqs);
}

function inSchedulerUnits(list: NanoList): Resources {
  const out: Resources = new Map();
  for (const [k, v] of list) {
    if (!tracked(k)) continue;
    out.set(k, k === 'cpu' ? milliValue(v) : wholeValue(v));
  }
  return out;
}

/** Allocatable of the node in the scheduler's units, and how many pods it admits. */
export function nodeAllocatable(node: Node): { resources: Resources; pods: bigint } {
  const nano = toNano(node.status?.allocatable as Record<string, string> | undefined);
  const pods = nano.get('pods');
  return { resources: inSchedulerUnits(nano), pods: pods === undefined ? 0n : wholeValue(pods) };
}

/** Sum of the requests of the pods (the scheduler's NodeInfo.Requested). */
export function requestedBy(pods: Pod[]): Resources {
  const sum: Resources = new Map();
  for (const p of pods) for (const [k, v] of podRequests(p)) sum.set(k, (sum.get(k) ?? 0n) + v);
  return sum;
}

/**
 * Why the node has no room for a pod requesting `request`, in the scheduler's words ("Too many pods",
 * "Insufficient cpu"), or [] when it has. `pods` are the node's non-terminal pods (terminating ones count:
 * the scheduler keeps them until they are gone).
 */
export function insufficientResources(request: Resources, node: Node, pods: Pod[]): string[] {
  const { resources: allocatable, pods: allowedPods } = nodeAllocatable(node);
  const out: string[] = [];
  if (BigInt(pods.length) + 1n > allowedPods) out.push('Too many pods');
  const used = requestedBy(pods);
  for (const [name, amount] of request) {
    if (amount <= 0n) continue;
    if (amount > (allocatable.get(name) ?? 0n) - (used.get(name) ?? 0n)) out.push(`Insufficient ${name}`);
  }
  return out;
}

/** "cpu 50m, memory 104857600" for messages. */
export function describeResources(r: Resources): string {
  return [...r].map(([k, v]) => `${k} ${k === 'cpu' ? `${v}m` : String(v)}`).join(', ') || 'nothing';
}
