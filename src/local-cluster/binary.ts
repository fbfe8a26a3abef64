/**
 * Builds the Go programs the test cluster runs once per machine and caches them outside the repository,
 * keyed by everything that affects the result: the control plane (src/local-cluster/controlplane, a Go module
 * that links kube-apiserver, kube-scheduler, kube-controller-manager and an embedded etcd from
 * k8s.io/kubernetes) and the Tekton Pipelines controller (tekton-binary.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
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

/** One Go program to build from a module directory of this repository. */
export interface GoProgram {
  /** Names it in progress lines and errors ("control plane", "Tekton v1.15.0 controller"). */
  label: string;
  /** The module directory (its *.go, go.mod and go.sum are the build inputs). */
  moduleDir: string;
  /** What `go build` builds there: "." or an import path the module requires. */
  pkg: string;
  /** Version of what is built; part of the cache directory's name and of the key. */
  version: string;
  /** Cache directory name prefix and binary name. */
  name: string;
  ldflags?: string[];
}

export class GoBuildError extends Error {
  override name = 'GoBuildError';
}

export function defaultCacheDir(): string {
  return process.env.AFFINITY_RELOCATOR_CACHE ?? join(homedir(), '.cache', 'affinity-relocator');
}

/** Version line of the Go toolchain, or a clear error when there is none. */
export function goVersion(goBinary = 'go'): string {
  const r = spawnSync(goBinary, ['env', 'GOVERSION'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || `exit code ${String(r.status)}`).trim();
    throw new GoBuildError(
      `Go toolchain not usable (${goBinary}: ${why}). The test cluster (control plane, Tekton) is built from Go modules: ` +
        'install Go >= 1.26 (https://go.dev/doc/install; Debian: golang-go) and put `go` on PATH.',
    );
  }
  return r.stdout.trim();
}

/** Cache key: the program's version, Go version, OS/arch and the bytes of every build input. */
export function buildKey(goVer: string, moduleDir = MODULE_DIR, version = KUBERNETES_VERSION): string {
  const h = createHash('sha256');
  h.update(`${version}\n${goVer}\n${process.platform}/${process.arch}\n`);
  for (const f of readdirSync(moduleDir).filter((n) => /\.(go|mod|sum)$/.test(n)).sort()) {
    h.update(`${f}\n`);
    h.update(readFileSync(join(moduleDir, f)));
  }
  return h.digest('hex').slice(0, 16);
}

function cachedPath(p: GoProgram, goVer: string, cacheDir: string): string {
  return join(cacheDir, `${p.name}-${p.version}-${buildKey(goVer, p.moduleDir, p.version)}`, p.name);
}

/**
 * Returns the path of a program's binary, building it first when the cache has none for the current
 * inputs. A cold build compiles thousands of packages (minutes on 2 cores); progress is printed every
 * 15 s so CI logs never look hung.
 */
export async function ensureGoProgram(p: GoProgram, opts: BuildOptions = {}): Promise<string> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const goBinary = opts.goBinary ?? 'go';
  const goVer = goVersion(goBinary);
  const target = cachedPath(p, goVer, opts.cacheDir ?? defaultCacheDir());
  if (existsSync(target)) return target;

  const outDir = dirname(target);
  mkdirSync(outDir, { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  const ldflags = ['-s', '-w', ...(p.ldflags ?? [])].join(' ');
  log(`${p.label}: building ${p.version} with ${goVer} into ${outDir} (cold build: minutes)`);
  const started = Date.now();
  let packages = 0;
  let lastLines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    // -v prints one line per compiled package: counted for progress, kept for the error message.
    const child = spawn(goBinary, ['build', '-v', '-trimpath', '-ldflags', ldflags, '-o', tmp, p.pkg], {
      cwd: p.moduleDir,
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
      log(`${p.label}: still building, ${packages} packages so far, ${Math.round((Date.now() - started) / 1000)} s`);
    }, 15_000);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(new GoBuildError(`go build of the ${p.label} could not start: ${e.message}`));
    });
    child.on('close', (code) => {
      clearInterval(timer);
      if (code === 0) resolve();
      else
        reject(
          new GoBuildError(
            `go build of the ${p.label} failed (exit ${String(code)}) in ${p.moduleDir}; last output:\n${lastLines.join('\n')}`,
          ),
        );
    });
  }).catch((e: unknown) => {
    rmSync(tmp, { force: true });
    throw e;
  });
  renameSync(tmp, target); // atomic: a concurrent or interrupted build never leaves a half binary
  log(`${p.label}: built ${packages} packages in ${Math.round((Date.now() - started) / 1000)} s -> ${target}`);
  return target;
}

/**
 * Where the go command keeps the source of `modulePath` as `moduleDir`'s go.mod requires it (downloaded
 * first if needed): the files a release ships besides its code (manifests, charts).
 */
export function moduleSourceDir(moduleDir: string, modulePath: string, goBinary = 'go'): string {
  const dir = (): string =>
    spawnSync(goBinary, ['list', '-mod=readonly', '-m', '-f', '{{.Dir}}', modulePath], { cwd: moduleDir, encoding: 'utf8' }).stdout?.trim() ?? '';
  if (!dir()) {
    const r = spawnSync(goBinary, ['mod', 'download', modulePath], { cwd: moduleDir, encoding: 'utf8' });
    if (r.status !== 0) throw new GoBuildError(`go mod download ${modulePath} failed in ${moduleDir}: ${r.stderr || r.error?.message}`);
  }
  const found = dir();
  if (!found) throw new GoBuildError(`${modulePath} is not in the Go module cache after go mod download (in ${moduleDir})`);
  return found;
}

const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
export const CONTROL_PLANE: GoProgram = {
  label: 'control plane',
  moduleDir: MODULE_DIR,
  pkg: '.',
  version: KUBERNETES_VERSION,
  name: 'controlplane',
  ldflags: [
    `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
    `-X k8s.io/component-base/version.gitMajor=${major!}`,
    `-X k8s.io/component-base/version.gitMinor=${minor!}`,
    '-X k8s.io/component-base/version.gitTreeState=clean',
  ],
};

/** The control-plane binary, built first when the cache has none (~3,000 packages, several minutes). */
export function ensureControlPlaneBinary(opts: BuildOptions = {}): Promise<string> {
  return ensureGoProgram(CONTROL_PLANE, opts);
}
