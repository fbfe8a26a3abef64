/**
 * Runs EventBridge event patterns against events with Event Ruler, AWS's own implementation of EventBridge's
 * matching (Maven Central: software.amazon.event.ruler:event-ruler), through the small Java program next to
 * this file. Like src/local-cluster/binary.ts does for the control plane, the program is built once per machine,
 * outside the repository, keyed by everything that affects the build: the first build downloads Event Ruler
 * and Maven's plugins (~10 MB into ~/.m2, ~10 s), later ones find the cache and only start a JVM (~0.5 s).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HARNESS_DIR = dirname(fileURLToPath(import.meta.url));
const POM = join(HARNESS_DIR, 'pom.xml');
const MAIN_CLASS = 'affinityrelocator.EventRulerHarness';

/** The Event Ruler version the pom asks for (so that a report can say which engine decided). */
export const EVENT_RULER_VERSION =
  /<artifactId>event-ruler<\/artifactId>\s*<version>([^<]+)<\/version>/.exec(readFileSync(POM, 'utf8'))?.[1] ?? 'unknown';

export interface HarnessOptions {
  /** Cache root; default $AFFINITY_RELOCATOR_CACHE or ~/.cache/affinity-relocator. */
  cacheDir?: string;
  /** Progress lines go here; default stderr. */
  log?: (line: string) => void;
  javaBinary?: string;
  mvnBinary?: string;
}

export class EventRulerHarnessError extends Error {
  override name = 'EventRulerHarnessError';
}

function defaultCacheDir(): string {
  return process.env.AFFINITY_RELOCATOR_CACHE ?? join(homedir(), '.cache', 'affinity-relocator');
}

/** First line of `<tool> -version`, or a clear error saying what to install. */
function toolVersion(binary: string, args: string[], what: string): string {
  const r = spawnSync(binary, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || `exit code ${String(r.status)}`).trim();
    throw new EventRulerHarnessError(`${binary} is not usable (${why}). The event-pattern tests run AWS's Event Ruler on the JVM: ${what}`);
  }
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '';
}

function javaVersion(javaBinary: string): string {
  return toolVersion(javaBinary, ['-version'], 'install a JDK >= 17 (Debian: openjdk-17-jdk-headless) and put `java` on PATH.');
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? listFiles(p) : [p];
  });
}

/** Cache key: the Java version and the bytes of the pom and of every source file. */
function buildKey(javaVer: string): string {
  const h = createHash('sha256');
  h.update(`${javaVer}\n`);
  for (const f of [POM, ...listFiles(join(HARNESS_DIR, 'src'))].sort()) {
    h.update(`${relative(HARNESS_DIR, f)}\n`);
    h.update(readFileSync(f));
  }
  return h.digest('hex').slice(0, 16);
}

/** Builds the harness unless the cache has it; returns the directory holding `classes/` and `lib/`. */
export async function ensureEventRulerHarness(opts: HarnessOptions = {}): Promise<string> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const javaBinary = opts.javaBinary ?? 'java';
  const mvnBinary = opts.mvnBinary ?? 'mvn';
  const target = join(opts.cacheDir ?? defaultCacheDir(), `event-ruler-${EVENT_RULER_VERSION}-${buildKey(javaVersion(javaBinary))}`);
  if (existsSync(join(target, 'classes', ...MAIN_CLASS.split('.')) + '.class')) return target;

  const mvnLine = toolVersion(mvnBinary, ['-B', '-v'], 'install Maven >= 3.6.3 (Debian: maven) and put `mvn` on PATH.');
  const mvnVer = mvnLine.slice(Math.max(0, mvnLine.indexOf('Apache Maven'))); // past Maven's colour codes
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  log(`event-ruler: building the harness (Event Ruler ${EVENT_RULER_VERSION}, ${mvnVer}) into ${target}`);
  log('event-ruler: the first build on a machine downloads Event Ruler and Maven plugins from Maven Central');
  const started = Date.now();
  let lastLines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      mvnBinary,
      ['-B', '-ntp', '-f', POM, `-Dharness.buildDirectory=${tmp}`, 'compile', 'dependency:copy-dependencies'],
      { cwd: HARNESS_DIR, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const onData = (chunk: Buffer): void => {
      lastLines = [...lastLines, ...chunk.toString('utf8').split('\n').filter(Boolean)].slice(-40);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setInterval(() => log(`event-ruler: still building, ${Math.round((Date.now() - started) / 1000)} s`), 15_000);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(new EventRulerHarnessError(`mvn could not start: ${e.message}`));
    });
    child.on('close', (code) => {
      clearInterval(timer);
      if (code === 0) resolve();
      else reject(new EventRulerHarnessError(`mvn failed (exit ${String(code)}) building ${POM}; last output:\n${lastLines.join('\n')}`));
    });
  }).catch((e: unknown) => {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  });
  for (const leftover of ['generated-sources', 'maven-status']) rmSync(join(tmp, leftover), { recursive: true, force: true });
  try {
    renameSync(tmp, target); // atomic: a concurrent or interrupted build never leaves half a harness
  } catch (e) {
    // Another process finished the same build first: keep its result.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(target)) throw e;
  }
  log(`event-ruler: built in ${Math.round((Date.now() - started) / 1000)} s`);
  return target;
}

/**
 * For each event, the names (sorted) of the patterns that match it, as Event Ruler decides. A pattern that
 * Event Ruler rejects (as EventBridge would reject the rule) fails with a message naming it.
 */
export async function matchingRules(patterns: Record<string, unknown>, events: unknown[], opts: HarnessOptions = {}): Promise<string[][]> {
  const dir = await ensureEventRulerHarness(opts);
  const classpath = [join(dir, 'classes'), join(dir, 'lib', '*')].join(delimiter);
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    // A short-lived JVM: skip the optimising compiler, which would only cost start-up time.
    const child = spawn(opts.javaBinary ?? 'java', ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-cp', classpath, MAIN_CLASS], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('error', (e) => reject(new EventRulerHarnessError(`java could not start: ${e.message}`)));
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    child.stdin.end(JSON.stringify({ patterns, events }));
  });
  if (code !== 0) throw new EventRulerHarnessError(`the event-ruler harness failed (exit ${String(code)}): ${stderr.trim()}`);
  const { matches } = JSON.parse(stdout) as { matches: string[][] };
  if (matches.length !== events.length) throw new EventRulerHarnessError(`asked about ${events.length} events, got ${matches.length} answers`);
  return matches;
}

/**
 * One long-lived Event Ruler for events that arrive one at a time (the AWS-shaped path's bus): the patterns
 * are loaded once, then each `match` is one line to the JVM and one line back (`--stream`), in order.
 */
export class EventRulerStream {
  private readonly waiting: { resolve: (names: string[]) => void; reject: (e: Error) => void }[] = [];
  private buffer = '';
  private failure: Error | undefined;

  private constructor(private readonly child: ReturnType<typeof spawn>) {}

  static async start(patterns: Record<string, unknown>, opts: HarnessOptions = {}): Promise<EventRulerStream> {
    const dir = await ensureEventRulerHarness(opts);
    const classpath = [join(dir, 'classes'), join(dir, 'lib', '*')].join(delimiter);
    const child = spawn(opts.javaBinary ?? 'java', ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Xmx64m', '-cp', classpath, MAIN_CLASS, '--stream'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const s = new EventRulerStream(child);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.stdout!.on('data', (c: Buffer) => s.onData(c.toString('utf8')));
    child.on('error', (e) => s.fail(new EventRulerHarnessError(`java could not start: ${e.message}`)));
    child.on('close', (code) => s.fail(new EventRulerHarnessError(`the event-ruler stream ended (exit ${String(code)}): ${stderr.trim()}`)));
    child.stdin!.write(`${JSON.stringify({ patterns })}\n`);
    return s;
  }

  /** The names (sorted) of the patterns that match `event`. */
  match(event: unknown): Promise<string[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin!.write(`${JSON.stringify(event)}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const closed = new Promise((r) => this.child.once('close', r));
    this.child.stdin!.end();
    await closed;
  }

  private onData(text: string): void {
    this.buffer += text;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      this.waiting.shift()?.resolve(JSON.parse(line) as string[]);
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }
}
