/**
 * A watch's ERROR event. The API server ends a watch it cannot continue with one last event of type ERROR
 * whose object is a meta/v1 Status, e.g.
 *
 *   {"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
 *    "message":"too old resource version: 1 (2275)","reason":"Expired","code":410}}
 *
 * 410 (Expired / Gone) means the resourceVersion left the etcd window: relist. Anything else (500 from a
 * storage or decoding failure, 429 from a throttled server...) is a failed watch like a dropped connection:
 * reported and restarted with backoff. The error carries the Status's code as `statusCode`, as client-node's
 * Watch does for an HTTP error, so httpStatusOf() reads both alike.
 */
import * as z from '../events/zod.js';

const StatusSchema = z.object({
  kind: z.optional(z.string()),
  code: z.optional(z.number()),
  reason: z.optional(z.string()),
  message: z.optional(z.string()),
});

/** A Status message is the server's text: keep a log line bounded. */
const MAX_MESSAGE = 300;

export class WatchStatusError extends Error {
  override readonly name = 'WatchStatusError';

  constructor(
    readonly path: string,
    /** The Status's code; undefined when the event's object was not a Status. */
    readonly statusCode: number | undefined,
    readonly reason: string | undefined,
    detail: string,
  ) {
    super(`watch of ${path} ended with an ERROR event: ${statusCode ?? 'no code'}${reason ? ` ${reason}` : ''}: ${detail}`);
  }
}

/** The error an ERROR event's object stands for; never throws, whatever the object. */
export function watchStatusError(path: string, object: unknown): WatchStatusError {
  const parsed = StatusSchema.safeParse(object);
  if (!parsed.success || (parsed.data.kind !== undefined && parsed.data.kind !== 'Status')) {
    return new WatchStatusError(path, undefined, undefined, `not a Status: ${truncate(JSON.stringify(object) ?? String(object))}`);
  }
  const { code, reason, message } = parsed.data;
  return new WatchStatusError(path, code, reason, truncate(message ?? '(no message)'));
}

function truncate(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}
