/**
 * A Lambda execution environment as a child process running ./lambda-runner.ts on one built bundle: created
 * on demand (a cold start, whose init time it reports), then reused for one invocation at a time. A function
 * that runs into its timeout is ended as Lambda ends it: the process is killed and the invocation fails with
 * "Task timed out"; the next invocation needs a new environment.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface InvocationResult {
  ok: boolean;
  value?: unknown;
  error?: { name: string; message: string };
  timedOut: boolean;
  durationMs: number;
  /**
   * CPU time the environment spent on the invocation (user + system): what the code costs, whatever the
   * shared machine left it; Lambda gives a 256 MB function about 0.15 vCPU (1 vCPU per 1,769 MB).
   */
  cpuMs?: number;
  /** Peak resident set of the environment so far (its VmHWM: see ../peak-rss.ts). */
  maxRssKb: number;
  heapUsedBytes: number;
}

export interface InvocationContext {
  awsRequestId: string;
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  logGroupName: string;
  logStreamName: string;
}

let runner: Promise<string> | undefined;

/** The runner, bundled once per process into a temporary directory. */
function runnerPath(): Promise<string> {
  runner ??= (async () => {
    const outfile = join(mkdtempSync(join(tmpdir(), 'aws-path-runner-')), 'lambda-runner.mjs');
    await build({
      entryPoints: [fileURLToPath(new URL('./lambda-runner.ts', import.meta.url))],
      outfile,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      logLevel: 'warning',
    });
    return outfile;
  })();
  return runner;
}

let next = 0;
/** Profiles named so far (AWS_PATH_CPU_PROF_DIR): environments start concurrently. */
let profiled = 0;

export class LambdaEnvironment {
  readonly id = ++next;
  private pending: { id: number; resolve: (r: InvocationResult) => void } | undefined;
  private dead: string | undefined;
  private lastMaxRssKb = 0;

  private constructor(
    private readonly child: ChildProcess,
    readonly initMs: number,
    /** Resident set right after the bundle was imported: what the function weighs before its first event. */
    readonly initRssKb: number,
  ) {
    child.on('message', (m: { type: string; id: number } & Omit<InvocationResult, 'timedOut'>) => {
      if (m.type !== 'result' || m.id !== this.pending?.id) return;
      const { resolve } = this.pending;
      this.pending = undefined;
      this.lastMaxRssKb = m.maxRssKb;
      resolve({ ok: m.ok, value: m.value, error: m.error, timedOut: false, durationMs: m.durationMs, cpuMs: m.cpuMs, maxRssKb: m.maxRssKb, heapUsedBytes: m.heapUsedBytes });
    });
    child.on('exit', (code, signal) => {
      this.dead ??= `the environment exited (${signal ?? `code ${String(code)}`})`;
      const p = this.pending;
      this.pending = undefined;
      p?.resolve({ ok: false, error: { name: 'Runtime.ExitError', message: this.dead }, timedOut: false, durationMs: 0, maxRssKb: this.lastMaxRssKb, heapUsedBytes: 0 });
    });
  }

  /** Starts the process and imports the bundle (Lambda's Init phase). `onLine`: each line it writes (its logs). */
  static async create(o: { bundle: string; exportName: string; env: Record<string, string>; onLine: (line: string, stream: 'stdout' | 'stderr') => void }): Promise<LambdaEnvironment> {
    // Not the parent's loader flags (tsx's, vitest's), but the heap limits Lambda's Node.js bootstrap
    // derives from the function's memory (/var/runtime/bootstrap: a tenth for the new space, half of it a
    // semi-space, the rest old space), so that V8 collects as it would there rather than growing towards
    // this machine's memory.
    // AWS_PATH_CPU_PROF_DIR (the bench's or test's environment): a V8 CPU profile per environment, written
    // when it stops, to find where the functions' CPU time goes.
    const profile = process.env.AWS_PATH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.AWS_PATH_CPU_PROF_DIR}`, `--cpu-prof-name=${o.env.AWS_LAMBDA_FUNCTION_NAME ?? 'function'}-${process.pid}-${++profiled}.cpuprofile`] : [];
    const child = fork(await runnerPath(), [o.bundle, o.exportName], { env: o.env, execArgv: [...lambdaHeapFlags(o.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE), ...profile], stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'advanced' });
    for (const stream of ['stdout', 'stderr'] as const) {
      let buffer = '';
      child[stream]!.on('data', (c: Buffer) => {
        buffer += c.toString('utf8');
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const l of lines) if (l.trim()) o.onLine(l, stream);
      });
    }
    const init = await new Promise<{ initMs: number; initRssKb: number }>((resolve, reject) => {
      child.once('message', (m: { type: string; initMs: number; initRssKb: number }) => resolve(m));
      child.once('exit', (code) => reject(new Error(`${o.bundle}: the environment exited during init (code ${String(code)})`)));
    });
    return new LambdaEnvironment(child, init.initMs, init.initRssKb);
  }

  get alive(): boolean {
    return this.dead === undefined;
  }

  /** One invocation; never rejects (a failure is a result, as Lambda reports it). */
  invoke(event: unknown, context: InvocationContext, timeoutMs: number): Promise<InvocationResult> {
    if (this.dead || this.pending) throw new Error(`environment ${this.id} is ${this.dead ?? 'busy'}`);
    const id = ++next;
    const started = performance.now();
    return new Promise<InvocationResult>((resolve) => {
      const timer = setTimeout(() => {
        this.dead = 'timed out';
        this.pending = undefined;
        this.child.kill('SIGKILL');
        resolve({ ok: false, error: { name: 'Sandbox.Timedout', message: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds` }, timedOut: true, durationMs: performance.now() - started, maxRssKb: this.lastMaxRssKb, heapUsedBytes: 0 });
      }, timeoutMs);
      this.pending = {
        id,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      this.child.send({ type: 'invoke', id, event, context: { ...context, deadlineMs: Date.now() + timeoutMs } });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.dead ??= 'stopped';
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** The V8 heap flags of Lambda's Node.js bootstrap for a function of `memoryMb`. */
export function lambdaHeapFlags(memoryMb: string | undefined): string[] {
  const memory = Number(memoryMb);
  if (!Number.isInteger(memory) || memory <= 0) return [];
  const newSpace = Math.floor(memory / 10);
  return [`--max-semi-space-size=${Math.floor(newSpace / 2)}`, `--max-old-space-size=${memory - newSpace}`];
}
