/**
 * Builds the Go programs the tests run, once per machine, and caches them outside the repository keyed by
 * everything that affects the result: the control plane (test/cluster/controlplane, a Go module that links
 * kube-apiserver, kube-scheduler, kube-controller-manager and an embedded etcd from k8s.io/kubernetes) and
 * the chart tools (test/cluster/helm: Helm and kustomize's engine, see helm.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KUBERNETES_VERSION = 'v1.36.3';
export const MODULE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'controlplane');

export interface BuildOptions {
  /** Go command to use; default `go` from PATH. */
  goBinary?: string;
  /** Cache root; default $AFFINITY_RELOCATOR_CACHE or ~/.cache/affinity-relocator. */
  cacheDir?: string;
  /** Progress lines go here; default stderr. */
  log?: (line: string) => void;
}

export class ControlPlaneBuildError extends Error {
  override name = 'ControlPlaneBuildError';
}

/** One Go module of test/cluster built into one cache directory. */
export interface GoBuild {
  /** Names the cache directory and the progress lines: `controlplane`, `helm`. */
  name: string;
  /** The version of what is built (the module it links): part of the cache key and of the directory name. */
  version: string;
  moduleDir: string;
  /** `go build` package arguments; each main package becomes one executable named after its last path element. */
  packages: string[];
  /** The executables the build must leave in the directory (the cache is complete when they all exist). */
  executables: string[];
  ldflags: string[];
  /** Thrown on failure, so each caller keeps its own error type. */
  error: (message: string) => Error;
}

export function defaultCacheDir(): string {
  return process.env.AFFINITY_RELOCATOR_CACHE ?? join(homedir(), '.cache', 'affinity-relocator');
}

/** Version line of the Go toolchain, or a clear error when there is none. */
export function goVersion(goBinary = 'go', error: (message: string) => Error = (m) => new ControlPlaneBuildError(m)): string {
  const r = spawnSync(goBinary, ['env', 'GOVERSION'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || `exit code ${String(r.status)}`).trim();
    throw error(
      `Go toolchain not usable (${goBinary}: ${why}). The test control plane and the chart tools are built from Go modules: ` +
        'install Go >= 1.26 (https://go.dev/doc/install; Debian: golang-go) and put `go` on PATH.',
    );
  }
  return r.stdout.trim();
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(go|mod|sum)$/.test(e.name) ? [p] : [];
  });
}

/** Cache key of a module: the version built, the Go version, OS/arch and the bytes of every build input. */
export function moduleBuildKey(version: string, goVer: string, moduleDir: string): string {
  const h = createHash('sha256');
  h.update(`${version}\n${goVer}\n${process.platform}/${process.arch}\n`);
  for (const f of sourceFiles(moduleDir).map((p) => relative(moduleDir, p)).sort()) {
    h.update(`${f}\n`);
    h.update(readFileSync(join(moduleDir, f)));
  }
  return h.digest('hex').slice(0, 16);
}

/** The cache directory of a build for the current inputs (it may not exist yet). */
export function goBuildDir(build: GoBuild, opts: BuildOptions = {}): string {
  const key = moduleBuildKey(build.version, goVersion(opts.goBinary, build.error), build.moduleDir);
  return join(opts.cacheDir ?? defaultCacheDir(), `${build.name}-${build.version}-${key}`);
}

/**
 * Returns the cache directory holding the build's executables, building them first when the cache has
 * none for the current inputs. A cold build compiles hundreds to thousands of packages (minutes on 2
 * cores); progress is printed every 15 s so CI logs never look hung.
 */
export async function ensureGoBuild(build: GoBuild, opts: BuildOptions = {}): Promise<string> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const goBinary = opts.goBinary ?? 'go';
  const goVer = goVersion(goBinary, build.error);
  const target = goBuildDir(build, { ...opts, goBinary });
  if (build.executables.every((e) => existsSync(join(target, e)))) return target;

  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  log(`${build.name}: building ${build.version} with ${goVer} into ${target} (cold build: minutes)`);
  const started = Date.now();
  let packages = 0;
  let lastLines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    // -v prints one line per compiled package: counted for progress, kept for the error message.
    const child = spawn(goBinary, ['build', '-v', '-trimpath', '-ldflags', build.ldflags.join(' '), '-o', `${tmp}/`, ...build.packages], {
      cwd: build.moduleDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=readonly`.trim() },
    });
    const onData = (chunk: Buffer): void => {
      const lines = chunk.toString('utf8').split('\n').filter(Boolean);
      packages += lines.length;
      lastLines = [...lastLines, ...lines].slice(-30);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setInterval(() => {
      log(`${build.name}: still building, ${packages} packages so far, ${Math.round((Date.now() - started) / 1000)} s`);
    }, 15_000);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(build.error(`go build could not start: ${e.message}`));
    });
    child.on('close', (code) => {
      clearInterval(timer);
      if (code === 0) resolve();
      else reject(build.error(`go build of ${build.name} failed (exit ${String(code)}) in ${build.moduleDir}; last output:\n${lastLines.join('\n')}`));
    });
  }).catch((e: unknown) => {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  });
  const missing = build.executables.filter((e) => !existsSync(join(tmp, e)));
  if (missing.length > 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw build.error(`go build of ${build.name} left no ${missing.join(', ')} in ${tmp}`);
  }
  try {
    renameSync(tmp, target); // atomic: a concurrent or interrupted build never leaves half a build
  } catch (e) {
    // Another process finished the same build first (or an older layout left the directory): keep its result.
    rmSync(tmp, { recursive: true, force: true });
    if (!build.executables.every((x) => existsSync(join(target, x)))) throw e;
  }
  log(`${build.name}: built ${packages} packages in ${Math.round((Date.now() - started) / 1000)} s -> ${target}`);
  return target;
}

const CONTROL_PLANE: GoBuild = {
  name: 'controlplane',
  version: KUBERNETES_VERSION,
  moduleDir: MODULE_DIR,
  packages: ['.'],
  executables: ['controlplane'],
  ldflags: [
    '-s',
    '-w',
    `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
    `-X k8s.io/component-base/version.gitMajor=${KUBERNETES_VERSION.split('.')[0]!.slice(1)}`,
    `-X k8s.io/component-base/version.gitMinor=${KUBERNETES_VERSION.split('.')[1]!}`,
    '-X k8s.io/component-base/version.gitTreeState=clean',
  ],
  error: (m) => new ControlPlaneBuildError(m),
};

/** Cache key of the control plane for a Go version. */
export function buildKey(goVer: string): string {
  return moduleBuildKey(KUBERNETES_VERSION, goVer, MODULE_DIR);
}

/** Path of the cached binary for the current build inputs (it may not exist yet). */
export function binaryPath(opts: BuildOptions = {}): string {
  return join(goBuildDir(CONTROL_PLANE, opts), 'controlplane');
}

/** Returns the path of the control-plane binary, building it first when the cache has none for the current inputs. */
export async function ensureControlPlaneBinary(opts: BuildOptions = {}): Promise<string> {
  return join(await ensureGoBuild(CONTROL_PLANE, opts), 'controlplane');
}
