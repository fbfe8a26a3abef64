/**
 * AssistantPlacements (affinity-relocator.io/v1alpha1, infra/kubernetes/steering) as the API returns them,
 * read back into placement hints through a schema: an object that does not parse (another version's
 * shape) is left out, as nothing should be relied on that was not understood.
 */
import { type PlacementHint, PLACEMENT_GROUP, PLACEMENT_PLURAL, PLACEMENT_VERSION } from '../domain/placement-hint.js';
import * as z from '../events/zod.js';
import { segment as seg } from './http.js';

/** Every namespace's placements. */
export const PLACEMENTS_PATH = `/apis/${PLACEMENT_GROUP}/${PLACEMENT_VERSION}/${PLACEMENT_PLURAL}`;

/** One namespace's placements (where a placement is created). */
export function placementsPath(namespace: string): string {
  return `/apis/${PLACEMENT_GROUP}/${PLACEMENT_VERSION}/namespaces/${seg(namespace)}/${PLACEMENT_PLURAL}`;
}

const PlacementSchema = z.object({
  metadata: z.object({ namespace: z.string() }),
  spec: z.object({
    pod: z.string(),
    statefulSetUid: z.string(),
    node: z.string(),
    hostname: z.string(),
    heldPod: z.optional(z.object({ name: z.string(), uid: z.string() })),
    expiresAt: z.string(),
  }),
});

/** The items that parse as AssistantPlacements, as hints. */
export function placementHintsOf(items: unknown[]): PlacementHint[] {
  return items.flatMap((item) => {
    const r = PlacementSchema.safeParse(item);
    if (!r.success) return [];
    const { metadata, spec } = r.data;
    return [{ namespace: metadata.namespace, ...spec }];
  });
}

/**
 * Whether a 404 from creating in `namespace` says the namespace is missing (an error) rather than the
 * AssistantPlacement API (steering not installed): the apiserver names the namespace in the Status details.
 */
export function isMissingNamespace(body: unknown): boolean {
  const details = (body as { details?: { kind?: unknown } } | null)?.details;
  return details?.kind === 'namespaces';
}
