/** Field schemas shared by the details: Kubernetes names and references, and the fields every detail carries. */
import * as z from './zod.js';
import { SCHEMA_VERSION } from './contract.js';

// The API server's own rules (k8s.io/apimachinery/pkg/util/validation): a name it would refuse can only be a
// typo or a forgery, so it is rejected here, where the message can name the field.
const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';

/** Node, pod, StatefulSet and PipelineRun names. */
export const dns1123Subdomain = z
  .string()
  .check(
    z.maxLength(253),
    z.regex(new RegExp(`^${LABEL}(\\.${LABEL})*$`), 'must be a DNS-1123 subdomain (lowercase alphanumerics, "-", ".")'),
  );

/** Namespace names. */
export const dns1123Label = z
  .string()
  .check(z.maxLength(63), z.regex(new RegExp(`^${LABEL}$`), 'must be a DNS-1123 label (lowercase alphanumerics and "-")'));

// uid and resourceVersion are opaque to clients by the API conventions (UUIDs and etcd revisions today):
// we only compare them for equality, so we only bound them.
export const uid = z.string().check(z.minLength(1), z.maxLength(128));
export const resourceVersion = z.string().check(z.minLength(1), z.maxLength(64));

/** A non-empty string of bounded length (free text from a person or an alert). */
export const text = (max: number) => z.string().check(z.minLength(1), z.maxLength(max));

/** Machine-readable reason codes such as `Cordoned` or `NotReady`. */
export const reasonCode = z.string().check(z.regex(/^[A-Z][A-Za-z0-9]{0,63}$/, 'must be a PascalCase code such as "Cordoned"'));

/** ISO 8601 with a zone (`Z` or an offset), as Date.prototype.toISOString and Kubernetes write it. */
export const isoDateTime = z.iso.datetime({ offset: true });

/** The fields every detail of ours starts with. */
export const detailBase = {
  schemaVersion: z.literal(SCHEMA_VERSION, {
    error: `unsupported schemaVersion (this version reads ${SCHEMA_VERSION})`,
  }),
  /** Several clusters may share a bus; the relocator ignores triggers for another cluster. */
  cluster: text(256),
  /** When the producer observed the change; latency is measured from here. */
  observedAt: isoDateTime,
};
