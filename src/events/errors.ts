import type * as z from './zod.js';

export interface EventIssue {
  /** Where in the event, e.g. `detail.node.name` or `detail.reasons[0].code`; '' for the event itself. */
  path: string;
  message: string;
}

// The message goes to logs and dead-letter queues: it names fields and at most short values, never the payload.
const MAX_LISTED_ISSUES = 10;
const MAX_ISSUE_CHARS = 200;

/**
 * The event can never be handled, however often it is retried: a Lambda wrapper should send it to the
 * dead-letter queue (or drop it) instead of throwing it back to EventBridge.
 */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';

  /** `subject` says what was invalid, e.g. `"Node Schedulability Changed" event`. */
  constructor(
    subject: string,
    readonly issues: EventIssue[],
  ) {
    super(`invalid ${subject}: ${render(issues)}`);
  }
}

export function isNonRetryable(e: unknown): e is InvalidEventError {
  return e instanceof InvalidEventError;
}

/** Parses `value`, or throws an InvalidEventError naming every bad field. */
export function parseOrThrow<S extends z.ZodMiniType>(schema: S, value: unknown, subject: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new InvalidEventError(subject, issuesOf(result.error));
}

/** A short, safe rendering of a value the sender got wrong: strings up to 40 characters, otherwise the type. */
export function shortValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v !== 'string') return `type ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`;
  const s = JSON.stringify(v);
  return s.length <= 40 ? s : `${s.slice(0, 38)}…"`;
}

function issuesOf(error: z.core.$ZodError): EventIssue[] {
  // zod reports unknown keys once per object; one issue per key names each typo's path.
  return error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ path: pathOf([...i.path, k]), message: 'unknown field (check its spelling)' }))
      : [{ path: pathOf(i.path), message: i.message }],
  );
}

function pathOf(path: PropertyKey[]): string {
  return path.map((k, n) => (typeof k === 'number' ? `[${k}]` : n === 0 ? String(k) : `.${String(k)}`)).join('');
}

function render(issues: EventIssue[]): string {
  const listed = issues.slice(0, MAX_LISTED_ISSUES).map(({ path, message }) => {
    const line = path === '' ? message : `${path}: ${message}`;
    return line.length <= MAX_ISSUE_CHARS ? line : `${line.slice(0, MAX_ISSUE_CHARS - 1)}…`;
  });
  const more = issues.length - listed.length;
  return listed.join('; ') + (more > 0 ? `; and ${more} more` : '');
}
