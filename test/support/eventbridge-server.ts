/**
 * A loopback EventBridge for tests: answers PutEvents the way the service does over the awsJson1_1 protocol
 * that @aws-sdk/client-eventbridge speaks (POST /, `X-Amz-Target: AWSEvents.PutEvents`,
 * `Content-Type: application/x-amz-json-1.1`; errors as `{"__type": code, "message": ...}`, which the SDK
 * turns into exceptions named after `__type`). The real SDK client is the other end in tests, so anything
 * unfaithful here shows up as an SDK error.
 *
 * It records every request and every accepted entry in order, and injects the failures a publisher must
 * survive: whole-call throttling, per-entry failures (a partial failure), an outage, added latency, and
 * answers lost after the entries were accepted (the case that makes delivery at-least-once, not exactly-once).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** One request entry as the SDK serialises it (Time as epoch seconds). */
export interface WireEntry {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  EventBusName?: string;
  Resources?: string[];
  Time?: number;
}

export interface AcceptedEntry extends WireEntry {
  EventId: string;
}

export interface RecordedCall {
  /** performance.now() when the request arrived. */
  at: number;
  entries: WireEntry[];
  /** The HTTP status answered. */
  status: number;
  /** Per-entry error codes answered (a partial failure), in request order; undefined for accepted ones. */
  errorCodes: (string | undefined)[];
}

export interface EntryFailure {
  /** e.g. ThrottlingException, InternalFailure (retryable), MalformedDetail, InvalidArgument (not). */
  code: string;
  message?: string;
  /** Which entries fail; default: all. */
  match?: (entry: WireEntry) => boolean;
  /** How many matching entries fail before the rule is spent; default: every one, forever. */
  count?: number;
}

/** `refuse`: nothing listens (ECONNREFUSED). `unavailable`: HTTP 503 with an empty body, as a load balancer answers. */
export type OutageMode = 'refuse' | 'unavailable';

const TARGET = 'AWSEvents.PutEvents';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
/** PutEvents limits: 10 entries per call; total entry size under 256 KiB (see entrySize in the publisher). */
const MAX_ENTRIES = 10;
const MAX_TOTAL_BYTES = 256 * 1024;

export class FakeEventBridge {
  /** Every accepted entry, in the order the service accepted them. */
  readonly accepted: AcceptedEntry[] = [];
  /** Every PutEvents request that reached the server, including refused ones. */
  readonly calls: RecordedCall[] = [];
  /** Added before every answer. */
  latencyMs = 0;
  /** Called with each entry as it is accepted (what a bus hands its rules); see test/support/aws-path/. */
  onAccepted: ((entry: AcceptedEntry) => void) | undefined;

  private throttledCalls = 0;
  private lostResponses = 0;
  private readonly entryFailures: EntryFailure[] = [];
  private outageMode: OutageMode | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<FakeEventBridge> {
    const server = createServer();
    await listen(server, 0);
    const fake = new FakeEventBridge(server, (server.address() as AddressInfo).port);
    server.on('request', (req, res) => void fake.handle(req, res));
    return fake;
  }

  /** The endpoint for the SDK (`endpoint` option or AWS_ENDPOINT_URL_EVENTBRIDGE). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The next `n` calls are refused as a whole with HTTP 400 ThrottlingException. */
  throttleNextCalls(n: number): void {
    this.throttledCalls = n;
  }

  /** The next `n` calls are carried out (their entries accepted) but the connection drops before the answer. */
  loseNextResponses(n: number): void {
    this.lostResponses = n;
  }

  /** Entries matching the rule are answered with `code` in an otherwise successful response. */
  failEntries(rule: EntryFailure): void {
    this.entryFailures.push({ ...rule });
  }

  /** Starts an outage; resolves once new connections see it. */
  async outage(mode: OutageMode): Promise<void> {
    this.outageMode = mode;
    if (mode === 'refuse') {
      // Keep-alive sockets would still reach the handler: cut them, then stop listening on the port.
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeAllConnections();
      await closed;
    }
  }

  /** Ends the outage: listens again on the same port. */
  async restore(): Promise<void> {
    const mode = this.outageMode;
    this.outageMode = undefined;
    if (mode === 'refuse') await listen(this.server, this.port);
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = performance.now();
    const body = await readBody(req);
    if (this.latencyMs > 0) await delay(this.latencyMs);
    if (this.outageMode === 'unavailable') {
      this.record(at, parseEntries(body), 503);
      res.writeHead(503, { 'content-length': 0 }).end();
      return;
    }
    const problem = checkRequest(req, body);
    if (problem) {
      this.record(at, parseEntries(body), problem.status);
      return reply(res, problem.status, { __type: problem.code, message: problem.message });
    }
    const entries = parseEntries(body) ?? [];
    if (this.throttledCalls > 0) {
      this.throttledCalls--;
      this.record(at, entries, 400);
      return reply(res, 400, { __type: 'ThrottlingException', message: 'Rate exceeded' });
    }
    const results = entries.map((entry) => this.answer(entry));
    this.calls.push({ at, entries, status: 200, errorCodes: results.map((r) => r.ErrorCode) });
    if (this.lostResponses > 0) {
      this.lostResponses--;
      req.socket.destroy();
      return;
    }
    reply(res, 200, { FailedEntryCount: results.filter((r) => r.ErrorCode).length, Entries: results });
  }

  private answer(entry: WireEntry): { EventId?: string; ErrorCode?: string; ErrorMessage?: string } {
    const rule = this.entryFailures.find((r) => (r.count === undefined || r.count > 0) && (r.match?.(entry) ?? true));
    if (rule) {
      if (rule.count !== undefined) rule.count--;
      return { ErrorCode: rule.code, ErrorMessage: rule.message ?? `injected ${rule.code}` };
    }
    const invalid = entryProblem(entry);
    if (invalid) return invalid;
    const accepted = { ...entry, EventId: randomUUID() };
    this.accepted.push(accepted);
    this.onAccepted?.(accepted);
    return { EventId: accepted.EventId };
  }

  private record(at: number, entries: WireEntry[] | undefined, status: number): void {
    this.calls.push({ at, entries: entries ?? [], status, errorCodes: [] });
  }
}

/** What the service says about a request as a whole (HTTP 400), before looking at entries. */
function checkRequest(req: IncomingMessage, body: string): { status: number; code: string; message: string } | undefined {
  if (req.method !== 'POST' || req.headers['x-amz-target'] !== TARGET) {
    return { status: 400, code: 'UnknownOperationException', message: `unexpected ${req.method} ${String(req.headers['x-amz-target'])}` };
  }
  if (req.headers['content-type'] !== CONTENT_TYPE) {
    return { status: 400, code: 'SerializationException', message: `unexpected content-type ${String(req.headers['content-type'])}` };
  }
  if (!req.headers.authorization?.startsWith('AWS4-HMAC-SHA256 ')) {
    return { status: 400, code: 'MissingAuthenticationTokenException', message: 'request is not signed' };
  }
  const entries = parseEntries(body);
  if (!entries || entries.length === 0 || entries.length > MAX_ENTRIES) {
    return { status: 400, code: 'ValidationException', message: `Entries must hold 1 to ${MAX_ENTRIES} entries` };
  }
  const total = entries.reduce((sum, e) => sum + wireEntrySize(e), 0);
  if (total >= MAX_TOTAL_BYTES) {
    return { status: 400, code: 'ValidationException', message: `Total size of the entries in the request is over the limit (${total} bytes)` };
  }
  return undefined;
}

/** The per-entry verdicts the service gives for content, as ErrorCode/ErrorMessage. */
function entryProblem(entry: WireEntry): { ErrorCode: string; ErrorMessage: string } | undefined {
  if (!entry.Source || !entry.DetailType) return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter(s) Source, DetailType must be specified.' };
  if (entry.Detail === undefined) return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter Detail must be specified.' };
  try {
    const detail: unknown = JSON.parse(entry.Detail);
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) throw new Error('not an object');
  } catch {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  return undefined;
}

/** https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html */
function wireEntrySize(e: WireEntry): number {
  const bytes = (s: string | undefined) => Buffer.byteLength(s ?? '', 'utf8');
  return (e.Time !== undefined ? 14 : 0) + bytes(e.Source) + bytes(e.DetailType) + bytes(e.Detail) + (e.Resources ?? []).reduce((n, r) => n + bytes(r), 0);
}

function parseEntries(body: string): WireEntry[] | undefined {
  try {
    const parsed = JSON.parse(body) as { Entries?: unknown };
    return Array.isArray(parsed.Entries) ? (parsed.Entries as WireEntry[]) : undefined;
  } catch {
    return undefined;
  }
}

function reply(res: ServerResponse, status: number, payload: unknown): void {
  const body = JSON.stringify(payload);
  res
    .writeHead(status, {
      'content-type': CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      'x-amzn-requestid': randomUUID(),
    })
    .end(body);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
