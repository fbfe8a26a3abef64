/**
 * One control-plane component as a child process: its output goes to a log file and a ring buffer of
 * recent lines (for error messages), and it is killed when the test process exits, whatever the reason.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

/** Environment variable that marks every process a test run starts, for the orphan check. */
export const RUN_MARKER_ENV = 'AFFINITY_RELOCATOR_TEST_RUN';

export class ComponentStartError extends Error {
  override name = 'ComponentStartError';
  constructor(
    readonly component: string,
    what: string,
    readonly lastLines: string[],
    readonly logFile: string,
  ) {
    super(
      `${component} failed to start: ${what}\n` +
        `last log lines of ${component} (full log: ${logFile}):\n${lastLines.map((l) => `  | ${l}`).join('\n')}`,
    );
  }
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous on purpose: 'exit' listeners cannot await. SIGKILL is the only safe choice here.
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ComponentProcess {
  private readonly child: ChildProcess;
  private readonly log: WriteStream;
  private readonly recent: string[] = [];
  private partial = '';
  private readonly lineWatchers = new Set<(line: string) => void>();
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  private exitStatus: ExitStatus | undefined;

  constructor(
    readonly name: string,
    binary: string,
    args: string[],
    readonly logFile: string,
    env: NodeJS.ProcessEnv = {},
  ) {
    installExitHook();
    this.log = createWriteStream(logFile, { flags: 'a' });
    this.child = spawn(binary, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CONTROLPLANE_DIE_WITH_PARENT: '1', ...env },
    });
    live.add(this.child);
    this.child.stdout!.on('data', (c: Buffer) => this.onOutput(c));
    this.child.stderr!.on('data', (c: Buffer) => this.onOutput(c));
    this.exited = new Promise<ExitStatus>((resolve) => {
      this.child.on('error', (e) => {
        this.onOutput(Buffer.from(`spawn error: ${e.message}\n`));
        this.exitStatus = { code: -1, signal: null };
        live.delete(this.child);
        resolve(this.exitStatus);
      });
      this.child.on('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        live.delete(this.child);
        resolve(this.exitStatus);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  lastLines(n = 25): string[] {
    const tail = this.partial ? [...this.recent, this.partial] : this.recent;
    return tail.slice(-n);
  }

  /** A ComponentStartError for this component, with its last log lines. */
  startError(what: string): ComponentStartError {
    return new ComponentStartError(this.name, what, this.lastLines(), this.logFile);
  }

  /**
   * Resolves with the first line printed from now on that matches `pattern`; fails after `timeoutMs`
   * (with `what` and the last log lines) or when the process exits first.
   */
  waitForLine(pattern: RegExp, what: string, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.lineWatchers.delete(watch);
      };
      const watch = (line: string): void => {
        if (!pattern.test(line)) return;
        done();
        resolve(line);
      };
      const fail = (why: string): void => {
        done();
        const tail = this.lastLines().map((l) => `  | ${l}`).join('\n');
        reject(new Error(`${this.name}: ${why}\nlast log lines of ${this.name} (full log: ${this.logFile}):\n${tail}`));
      };
      const timer = setTimeout(() => fail(`no log line showing ${what} within ${timeoutMs} ms`), timeoutMs);
      this.lineWatchers.add(watch);
      void this.exited.then(() => {
        if (this.lineWatchers.has(watch)) fail(`exited before a log line showed ${what}`);
      });
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 5_000): Promise<ExitStatus> {
    if (this.exitStatus) return this.exitStatus;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const status = await this.exited;
    clearTimeout(timer);
    await new Promise<void>((r) => this.log.end(r));
    return status;
  }

  /** Immediate SIGKILL (simulates a crash). */
  async kill(): Promise<ExitStatus> {
    if (!this.exitStatus) this.child.kill('SIGKILL');
    return this.exited;
  }

  private onOutput(chunk: Buffer): void {
    this.log.write(chunk);
    const lines = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = lines.pop() ?? '';
    const complete = lines.filter((l) => l.length > 0);
    this.recent.push(...complete);
    for (const line of complete) for (const watch of this.lineWatchers) watch(line);
    if (this.recent.length > 200) this.recent.splice(0, this.recent.length - 200);
  }
}

/**
 * Polls `probe` until it returns true. Fails fast with the component's last log lines when the process
 * exits first, and fails (never hangs) after `timeoutMs`.
 */
export async function waitUntilReady(
  proc: ComponentProcess,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProbeError = '';
  for (;;) {
    if (!proc.running) {
      const s = await proc.exited;
      throw proc.startError(`exited before it was ready (code ${String(s.code)}, signal ${String(s.signal)})`);
    }
    try {
      if (await probe()) return;
    } catch (e) {
      lastProbeError = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > deadline) {
      throw proc.startError(
        `not ready after ${timeoutMs} ms${lastProbeError ? ` (last probe error: ${lastProbeError})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
