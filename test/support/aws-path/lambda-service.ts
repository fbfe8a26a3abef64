/**
 * Lambda's asynchronous invocation, as EventBridge uses it, for the built bundles: each event goes into the
 * function's queue and is run in an execution environment (./lambda-environment.ts), at most the function's
 * reserved concurrency at a time. What Lambda documents for async invocation is kept:
 *   - an event that finds every allowed environment busy is throttled and returned to the queue, retried
 *     after an interval that grows from 1 s to at most 5 min (with jitter here), until maximumEventAge; it is
 *     never dropped before that;
 *   - a failed invocation (an error, or the function's timeout) is retried maximumRetryAttempts times, one
 *     minute and then two minutes later; after that, or past maximumEventAge, the event goes to the
 *     dead-letter list (the on-failure destination);
 *   - environments are reused while warm; a new one is a cold start (init measured); one that timed out, or
 *     whose peak RSS went over the function's memory (checked after each invocation), is gone.
 * Every invocation is recorded (function, request id, times, cold start, result or error, peak RSS).
 */
import { randomUUID } from 'node:crypto';
import type { FunctionSettings } from './serverless-config.js';
import { type InvocationResult, LambdaEnvironment } from './lambda-environment.js';

export interface Invocation {
  fn: string;
  requestId: string;
  /** The event's id (EventBridge's) and the attempt (1 = first). */
  eventId: string;
  attempt: number;
  /** performance.now() */
  startedAt: number;
  endedAt: number;
  cold: boolean;
  initMs?: number;
  /** A cold start's resident set after Init (the bundle imported), before the invocation. */
  initRssKb?: number;
  result: InvocationResult;
}

export interface LogLine {
  fn: string;
  at: number;
  line: string;
  /** The line as JSON, when it is (Powertools logs are). */
  json?: Record<string, unknown>;
}

export interface LambdaServiceOptions {
  functions: Record<string, FunctionSettings>;
  /** Lambda's own variables and the function's role credentials (its configured environment comes from FunctionSettings). */
  baseEnv: (fn: string) => Record<string, string>;
  account: string;
  region: string;
  /** Defaults: Lambda's 60 s and 120 s. Tests may shorten them. */
  errorRetryDelaysMs?: [number, number];
  /** Throttle retry: first interval (1 s) and cap (5 min). */
  throttleBackoffMs?: { first: number; max: number };
  /** Keep log lines (default true). */
  keepLogs?: boolean;
}

interface Queued {
  fn: string;
  eventId: string;
  event: unknown;
  attempts: number;
  throttles: number;
  queuedAt: number;
  readyAt: number;
}

interface Pool {
  settings: FunctionSettings;
  idle: LambdaEnvironment[];
  busy: number;
  all: Set<LambdaEnvironment>;
}

export class LambdaService {
  readonly invocations: Invocation[] = [];
  readonly logs: LogLine[] = [];
  /** Events given up on (retries or event age exhausted), as the on-failure destination would receive them. */
  readonly deadLetters: { fn: string; eventId: string; event: unknown; reason: string }[] = [];
  /** Throttles per function (each time a ready event found no free concurrency). */
  readonly throttles: Record<string, number> = {};
  /** Peak RSS (KB) seen per function, over all its environments. */
  readonly peakRssKb: Record<string, number> = {};

  private readonly pools = new Map<string, Pool>();
  private readonly queue: Queued[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly o: LambdaServiceOptions) {
    for (const [name, settings] of Object.entries(o.functions)) {
      this.pools.set(name, { settings, idle: [], busy: 0, all: new Set() });
      this.throttles[name] = 0;
    }
  }

  /** An asynchronous invocation (InvocationType Event): accepted at once, run when concurrency allows. */
  invokeAsync(fn: string, event: unknown, eventId: string = randomUUID()): void {
    if (!this.pools.has(fn)) throw new Error(`no function ${fn} (known: ${[...this.pools.keys()].join(', ')})`);
    const now = performance.now();
    this.queue.push({ fn, eventId, event, attempts: 0, throttles: 0, queuedAt: now, readyAt: now });
    this.dispatch();
  }

  /** Events waiting (queued or backing off) plus invocations running. */
  get outstanding(): number {
    return this.queue.length + this.running;
  }

  /** Resolves when nothing is queued or running, or after `timeoutMs` (then false). */
  async drain(timeoutMs = Infinity): Promise<boolean> {
    if (this.outstanding === 0) return true;
    return new Promise((resolve) => {
      const t = Number.isFinite(timeoutMs) ? setTimeout(() => resolve(false), timeoutMs) : undefined;
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all([...this.pools.values()].flatMap((p) => [...p.all].map((e) => e.stop())));
  }

  private dispatch(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const now = performance.now();
    for (let i = 0; i < this.queue.length; ) {
      const q = this.queue[i]!;
      if (q.readyAt > now) {
        i++;
        continue;
      }
      const pool = this.pools.get(q.fn)!;
      const s = pool.settings;
      if (now - q.queuedAt > s.maximumEventAgeS * 1000) {
        this.queue.splice(i, 1);
        this.deadLetters.push({ fn: q.fn, eventId: q.eventId, event: q.event, reason: 'maximumEventAge exceeded' });
        continue;
      }
      if (pool.busy >= s.reservedConcurrency) {
        this.throttles[q.fn]!++;
        q.throttles++;
        const { first, max } = this.o.throttleBackoffMs ?? { first: 1_000, max: 300_000 };
        const interval = Math.min(max, first * 2 ** (q.throttles - 1));
        q.readyAt = now + interval * (0.5 + Math.random() / 2);
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      pool.busy++;
      this.running++;
      void this.run(pool, q).finally(() => {
        pool.busy--;
        this.running--;
        this.dispatch();
      });
    }
    if (this.queue.length > 0) {
      const soonest = Math.min(...this.queue.map((q) => q.readyAt));
      this.timer = setTimeout(() => this.dispatch(), Math.max(0, soonest - performance.now()));
    } else if (this.running === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async run(pool: Pool, q: Queued): Promise<void> {
    const s = pool.settings;
    q.attempts++;
    const requestId = randomUUID();
    const startedAt = performance.now();
    let env = pool.idle.pop();
    let initMs: number | undefined;
    let initRssKb: number | undefined;
    let result: InvocationResult;
    try {
      if (!env) {
        env = await this.createEnvironment(s);
        pool.all.add(env);
        initMs = env.initMs;
        initRssKb = env.initRssKb;
      }
      const functionName = `affinity-relocator-${s.name}`;
      result = await env.invoke(
        q.event,
        {
          awsRequestId: requestId,
          functionName,
          functionVersion: '$LATEST',
          invokedFunctionArn: `arn:aws:lambda:${this.o.region}:${this.o.account}:function:${functionName}`,
          memoryLimitInMB: String(s.memoryMb),
          logGroupName: `/aws/lambda/${functionName}`,
          logStreamName: `environment-${env.id}`,
        },
        s.timeoutS * 1000,
      );
    } catch (e) {
      result = { ok: false, error: { name: 'Runtime.InitError', message: e instanceof Error ? e.message : String(e) }, timedOut: false, durationMs: 0, maxRssKb: 0, heapUsedBytes: 0 };
    }
    this.peakRssKb[s.name] = Math.max(this.peakRssKb[s.name] ?? 0, result.maxRssKb);
    if (result.maxRssKb > s.memoryMb * 1024 && env?.alive) {
      // Lambda kills an environment that goes over its memory during the invocation; seen here afterwards.
      await env.stop();
      result = { ...result, ok: false, error: { name: 'Runtime.OutOfMemory', message: `Max Memory Used ${Math.round(result.maxRssKb / 1024)} MB > ${s.memoryMb} MB` } };
    }
    this.invocations.push({ fn: s.name, requestId, eventId: q.eventId, attempt: q.attempts, startedAt, endedAt: performance.now(), cold: initMs !== undefined, initMs, initRssKb, result });
    if (env?.alive) pool.idle.push(env);
    else if (env) pool.all.delete(env);
    if (result.ok) return;
    if (q.attempts > s.maximumRetryAttempts) {
      this.deadLetters.push({ fn: q.fn, eventId: q.eventId, event: q.event, reason: `${result.error?.name}: ${result.error?.message}` });
      return;
    }
    const [first, second] = this.o.errorRetryDelaysMs ?? [60_000, 120_000];
    q.readyAt = performance.now() + (q.attempts === 1 ? first : second);
    this.queue.push(q);
  }

  private createEnvironment(s: FunctionSettings): Promise<LambdaEnvironment> {
    const functionName = `affinity-relocator-${s.name}`;
    return LambdaEnvironment.create({
      bundle: s.bundle,
      exportName: s.exportName,
      env: {
        ...this.o.baseEnv(s.name),
        ...s.environment,
        AWS_LAMBDA_FUNCTION_NAME: functionName,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(s.memoryMb),
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${functionName}`,
        AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      },
      onLine: (line) => {
        if (this.o.keepLogs === false) return;
        let json: Record<string, unknown> | undefined;
        try {
          const parsed: unknown = JSON.parse(line);
          if (parsed && typeof parsed === 'object') json = parsed as Record<string, unknown>;
        } catch {
          // not JSON: kept as text
        }
        this.logs.push({ fn: s.name, at: performance.now(), line, json });
      },
    });
  }
}
