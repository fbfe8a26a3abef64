/**
 * A placement hint: "the replacement of assistant pod <ns>/<pod> (StatefulSet uid U) goes to node N".
 * Deleting an assistant lets kube-scheduler put its replacement wherever it scores best, which need not be
 * where the TaskRun pod it holds Pending can follow. So before such a delete the relocator writes an
 * AssistantPlacement (infra/kubernetes/steering: the CRD, and the MutatingAdmissionPolicy that adds N's
 * kubernetes.io/hostname to the replacement's nodeSelector when the StatefulSet controller creates it).
 * The scheduler still places the pod; nobody binds it by hand.
 *
 * One placement per assistant pod, named after it. CEL has no clock: the policy ignores a placement past
 * `expiresAt` only by the time the apiserver's field manager writes into the new pod's managedFields (to
 * the second; an implementation detail, so the check passes where that time is missing). Expiry is
 * therefore the relocator's to keep: it deletes a placement once the replacement is bound, and the sweep
 * deletes those past `expiresAt`. Pure: the types, the object written, expiry.
 */
import type { Node, Pod } from './k8s.js';
import { HOSTNAME_TOPOLOGY } from './held-pod.js';

export const PLACEMENT_GROUP = 'affinity-relocator.io';
export const PLACEMENT_VERSION = 'v1alpha1';
export const PLACEMENT_KIND = 'AssistantPlacement';
export const PLACEMENT_PLURAL = 'assistantplacements';
/** What the policy writes on a pod it steered: the node it was steered to. */
export const STEERED_TO_ANNOTATION = 'affinity-relocator.io/steered-to';

export interface PlacementHint {
  /** The assistant pod's namespace, where the placement lives. */
  namespace: string;
  /** The assistant pod's name (its replacement has the same name); also the placement's name. */
  pod: string;
  /** uid of the StatefulSet that controls the pod: a same-named pod of a later StatefulSet is not steered. */
  statefulSetUid: string;
  /** The node the replacement is to go to. */
  node: string;
  /** That node's kubernetes.io/hostname label, which the replacement's nodeSelector gets. */
  hostname: string;
  /** The TaskRun pod the move is to free (for people reading the placement). */
  heldPod?: { name: string; uid: string };
  /** RFC 3339. */
  expiresAt: string;
}

/** The AssistantPlacement object of a hint, as written to the apiserver. */
export interface PlacementObject {
  apiVersion: `${typeof PLACEMENT_GROUP}/${typeof PLACEMENT_VERSION}`;
  kind: typeof PLACEMENT_KIND;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: { pod: string; statefulSetUid: string; node: string; hostname: string; heldPod?: { name: string; uid: string }; expiresAt: string };
}

/** The node's kubernetes.io/hostname label (what a nodeSelector can name), or undefined without one. */
export function hostnameOf(node: Node): string | undefined {
  return node.metadata?.labels?.[HOSTNAME_TOPOLOGY] || undefined;
}

/**
 * The hint that steers the replacement of `assistant` to `node`, valid for `ttlMs` from `now`; the
 * StatefulSet is the one controlling the assistant (its controller reference), as it will control the
 * replacement. Throws, naming what is missing, for an assistant without name, namespace or StatefulSet
 * controller, or a node without name or kubernetes.io/hostname label (no nodeSelector could name it).
 */
export function placementHint(o: { assistant: Pod; node: Node; heldPod?: Pod; now: Date; ttlMs: number }): PlacementHint {
  const { namespace, name: pod } = o.assistant.metadata ?? {};
  if (!namespace || !pod) throw new Error('placement hint: the assistant pod has no name or namespace');
  const statefulSetUid = (o.assistant.metadata?.ownerReferences ?? []).find((r) => r.controller && r.kind === 'StatefulSet')?.uid;
  if (!statefulSetUid) throw new Error(`placement hint for ${namespace}/${pod}: the pod has no StatefulSet controller to recreate it`);
  const node = o.node.metadata?.name;
  if (!node) throw new Error(`placement hint for ${namespace}/${pod}: the node has no name`);
  const hostname = hostnameOf(o.node);
  if (!hostname) throw new Error(`placement hint for ${namespace}/${pod}: node ${node} has no ${HOSTNAME_TOPOLOGY} label to select it by`);
  if (!(o.ttlMs > 0)) throw new Error(`placement hint for ${namespace}/${pod}: ttlMs must be positive, got ${o.ttlMs}`);
  const held = o.heldPod?.metadata;
  return {
    namespace,
    pod,
    statefulSetUid,
    node,
    hostname,
    ...(held?.name && held.uid ? { heldPod: { name: held.name, uid: held.uid } } : {}),
    expiresAt: new Date(o.now.getTime() + o.ttlMs).toISOString(),
  };
}

/** The AssistantPlacement to write for a hint: named after the pod, in its namespace. */
export function placementObject(h: PlacementHint): PlacementObject {
  return {
    apiVersion: `${PLACEMENT_GROUP}/${PLACEMENT_VERSION}`,
    kind: PLACEMENT_KIND,
    metadata: { name: h.pod, namespace: h.namespace, labels: { 'app.kubernetes.io/managed-by': 'affinity-relocator' } },
    spec: {
      pod: h.pod,
      statefulSetUid: h.statefulSetUid,
      node: h.node,
      hostname: h.hostname,
      ...(h.heldPod ? { heldPod: { ...h.heldPod } } : {}),
      expiresAt: h.expiresAt,
    },
  };
}

/** Whether the hint is past its `expiresAt` at `now` (an unreadable time counts as expired: nothing keeps it). */
export function expired(hint: Pick<PlacementHint, 'expiresAt'>, now: Date): boolean {
  const at = Date.parse(hint.expiresAt);
  return Number.isNaN(at) || at <= now.getTime();
}

/** The node the admission policy steered a pod to (its annotation), or undefined for a pod not steered. */
export function steeredTo(pod: Pod): string | undefined {
  return pod.metadata?.annotations?.[STEERED_TO_ANNOTATION] || undefined;
}

/**
 * The pod as its replacement will be: what the admission policy added when it steered the pod (the hostname
 * in its nodeSelector) is not in the StatefulSet's template, so the next replacement is free of it. Every
 * decision about moving an assistant judges this, not the pinned pod: a steered assistant would otherwise
 * look as if no other node could ever take it. Pods not steered are returned as they are.
 */
export function asReplacement(pod: Pod): Pod {
  if (!steeredTo(pod) || pod.spec?.nodeSelector?.[HOSTNAME_TOPOLOGY] === undefined) return pod;
  const { [HOSTNAME_TOPOLOGY]: _pin, ...nodeSelector } = pod.spec.nodeSelector;
  return { ...pod, spec: { ...pod.spec, nodeSelector } };
}

