/**
 * The scheduler's InterPodAffinity filter for required terms, as pure functions
 * (pkg/scheduler/framework/plugins/interpodaffinity/filtering.go and framework.AffinityTerm):
 *   - the incoming pod's affinity: every term must find a matching pod in the node's topology domain,
 *     unless no pod anywhere matches and the pod matches its own terms (the first of a series);
 *   - the incoming pod's anti-affinity: no matching pod in the node's domain of any term;
 *   - existing pods' anti-affinity: no pod whose required anti-affinity term matches the incoming pod
 *     may sit in the same domain.
 * A term's namespaces default to its pod's namespace; a namespaceSelector adds the namespaces whose
 * labels it matches (an empty selector: every namespace).
 */
import type { LabelSelector, LabelSelectorRequirement, Node, Pod, PodAffinityTerm } from './k8s.js';

export type Labels = Record<string, string>;

/** Labels of namespaces by name (only those a namespaceSelector needs). */
export type NamespaceLabels = (namespace: string) => Labels | undefined;

function requirementMatches(r: LabelSelectorRequirement, labels: Labels): boolean {
  const has = Object.hasOwn(labels, r.key);
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return has && values.includes(labels[r.key]!);
    case 'NotIn':
      return !has || !values.includes(labels[r.key]!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    default:
      return false;
  }
}

/** metav1.LabelSelectorAsSelector: undefined (nil) matches nothing, {} matches everything. */
export function labelSelectorMatches(selector: LabelSelector | undefined | null, labels: Labels | undefined): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  return (
    Object.entries(selector.matchLabels ?? {}).every(([k, v]) => l[k] === v) &&
    (selector.matchExpressions ?? []).every((r) => requirementMatches(r, l))
  );
}

/** The selector as a list call's `labelSelector` (the apiserver then sends only matching pods). */
export function labelSelectorQuery(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const r of selector.matchExpressions ?? []) {
    const values = (r.values ?? []).join(',');
    if (r.operator === 'In') parts.push(`${r.key} in (${values})`);
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin (${values})`);
    else if (r.operator === 'Exists') parts.push(r.key);
    else if (r.operator === 'DoesNotExist') parts.push(`!${r.key}`);
  }
  return parts.join(',');
}

export function requiredAffinityTerms(pod: Pod): PodAffinityTerm[] {
  return pod.spec?.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
}

export function requiredAntiAffinityTerms(pod: Pod): PodAffinityTerm[] {
  return pod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
}

/** Does `term`, written in a pod of namespace `ownerNamespace`, select `pod`? */
export function termMatchesPod(term: PodAffinityTerm, ownerNamespace: string, pod: Pod, nsLabels: NamespaceLabels): boolean {
  const ns = pod.metadata?.namespace ?? '';
  const namespaces = term.namespaces ?? [];
  const inNamespaces =
    (namespaces.length === 0 && !term.namespaceSelector ? ns === ownerNamespace : namespaces.includes(ns)) ||
    (!!term.namespaceSelector && labelSelectorMatches(term.namespaceSelector, nsLabels(ns)));
  return inNamespaces && labelSelectorMatches(term.labelSelector, pod.metadata?.labels);
}

/** Whether a term needs namespace labels to be evaluated (a non-empty namespaceSelector). */
export function needsNamespaceLabels(term: PodAffinityTerm): boolean {
  const s = term.namespaceSelector;
  return !!s && (Object.keys(s.matchLabels ?? {}).length > 0 || (s.matchExpressions ?? []).length > 0);
}

/** A pod and the node it is on (or headed to). */
export interface PlacedPod {
  pod: Pod;
  node: Node | undefined;
}

export interface InterPodInput {
  pod: Pod;
  node: Node;
  /**
   * Every pod of the cluster that one of the pod's own required (anti-)affinity terms selects, with its
   * node: these decide the pod's own terms in every topology domain.
   */
  termPods: PlacedPod[];
  /** The node's own pods: their required anti-affinity is checked against the incoming pod. */
  nodePods: Pod[];
  /**
   * Pods elsewhere with required anti-affinity that may select the incoming pod, with their node: a term
   * with a wider topology key (a zone) keeps the pod out of every node of that domain.
   */
  antiAffinityPods?: PlacedPod[];
  nsLabels: NamespaceLabels;
}

/** The scheduler's reason why the pod cannot go to the node, or undefined when the filter passes. */
export function interPodRejection(i: InterPodInput): string | undefined {
  const ns = i.pod.metadata?.namespace ?? '';
  const nodeLabels = i.node.metadata?.labels ?? {};
  const sameDomain = (key: string, other: Node | undefined) =>
    Object.hasOwn(nodeLabels, key) && other?.metadata?.labels?.[key] === nodeLabels[key];

  // Existing pods' anti-affinity against the incoming pod (checked first by the scheduler too).
  const existing: PlacedPod[] = [...i.nodePods.map((pod) => ({ pod, node: i.node })), ...(i.antiAffinityPods ?? [])];
  for (const e of existing) {
    const existingNs = e.pod.metadata?.namespace ?? '';
    for (const term of requiredAntiAffinityTerms(e.pod)) {
      if (sameDomain(term.topologyKey, e.node) && termMatchesPod(term, existingNs, i.pod, i.nsLabels)) {
        return "didn't satisfy existing pods anti-affinity rules";
      }
    }
  }

  const affinity = requiredAffinityTerms(i.pod);
  if (affinity.length > 0) {
    if (affinity.some((t) => !Object.hasOwn(nodeLabels, t.topologyKey))) return "didn't match pod affinity rules";
    // A pod counts for the affinity only when it matches every term (appendWithAffinityTerms).
    const matching = i.termPods.filter((p) => affinity.every((t) => termMatchesPod(t, ns, p.pod, i.nsLabels)));
    const satisfied = affinity.every((t) => matching.some((p) => sameDomain(t.topologyKey, p.node)));
    if (!satisfied) {
      const anyCounted = matching.some((p) => affinity.some((t) => Object.hasOwn(p.node?.metadata?.labels ?? {}, t.topologyKey)));
      const selfMatch = affinity.every((t) => termMatchesPod(t, ns, i.pod, i.nsLabels));
      if (anyCounted || !selfMatch) return "didn't match pod affinity rules";
    }
  }

  for (const term of requiredAntiAffinityTerms(i.pod)) {
    if (!Object.hasOwn(nodeLabels, term.topologyKey)) continue;
    if (i.termPods.some((p) => sameDomain(term.topologyKey, p.node) && termMatchesPod(term, ns, p.pod, i.nsLabels))) {
      return "didn't match pod anti-affinity rules";
    }
  }
  return undefined;
}
