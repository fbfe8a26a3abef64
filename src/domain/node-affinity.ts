/** Node selector semantics (k8s.io/component-helpers/scheduling/corev1/nodeaffinity), as pure functions. */
import type { Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm } from './k8s.js';

function requirementMatches(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || values.length !== 1) return false;
      const [a, b] = [Number.parseInt(value, 10), Number.parseInt(values[0]!, 10)];
      if (Number.isNaN(a) || Number.isNaN(b)) return false;
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** A term matches when all its expressions and fields match; a term with neither matches nothing. */
export function termMatches(term: NodeSelectorTerm, node: Node): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata?.labels ?? {};
  return (
    exprs.every((r) => requirementMatches(r, labels[r.key])) &&
    // metadata.name is the only field the scheduler supports in matchFields.
    fields.every((r) => r.key === 'metadata.name' && requirementMatches(r, node.metadata?.name))
  );
}

/** Terms are ORed. A selector with no terms matches nothing. */
export function nodeSelectorMatches(selector: NodeSelector | undefined, node: Node): boolean {
  if (!selector) return true;
  return selector.nodeSelectorTerms.some((t) => termMatches(t, node));
}

/** A pod's plain `nodeSelector` map. */
export function labelsMatch(required: Record<string, string> | undefined, node: Node): boolean {
  const labels = node.metadata?.labels ?? {};
  return Object.entries(required ?? {}).every(([k, v]) => labels[k] === v);
}
