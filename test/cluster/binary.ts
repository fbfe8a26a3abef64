/**
 * Builds the control-plane binary (test/cluster/controlplane, a Go module that links kube-apiserver,
 * kube-scheduler, kube-controller-manager and an embedded etcd from k8s.io/kubernetes) once per
 * machine and caches it outside the repository, keyed by everything that affects the result.
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

export class ControlPlaneBuildError extends Error {
  override name = 'ControlPlaneBuildError';
}

export function defaultCacheDir(): string {
  return process.env.AFFINITY_RELOCATOR_CACHE ?? join(homedir(), '.cache', 'affinity-relocator');
}

/** Version line of the Go toolchain, or a clear error when there is none. */
export function goVersion(goBinary = 'go'): string {
  const r = spawnSync(goBinary, ['env', 'GOVERSION'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || `exit code ${String(r.status)}`).trim();
    throw new ControlPlaneBuildError(
      `Go toolchain not usable (${goBinary}: ${why}). The test control plane is built from Go modules: ` +
        'install Go >= 1.26 (https://go.dev/doc/install; Debian: golang-go) and put `go` on PATH.',
    );
  }
  return r.stdout.trim();
}

/** Cache key: Kubernetes version, Go version, OS/arch and the bytes of every build input. */
export function buildKey(goVer: string): string {
  const h = createHash('sha256');
  h.update(`${KUBERNETES_VERSION}\n${goVer}\n${process.platform}/${process.arch}\n`);
  for (const f of readdirSync(MODULE_DIR).filter((n) => /\.(go|mod|sum)$/.test(n)).sort()) {
    h.update(`${f}\n`);
    h.update(readFileSync(join(MODULE_DIR, f)));
  }
  return h.digest('hex').slice(0, 16);
}

/** Path of the cached binary for the current build inputs (it may not exist yet). */
export function binaryPath(opts: BuildOptions = {}): string {
  const key = buildKey(goVersion(opts.goBinary));
  return join(opts.cacheDir ?? defaultCacheDir(), `controlplane-${KUBERNETES_VERSION}-${key}`, 'controlplane');
}

/**
 * Returns the path of the control-plane binary, building it first when the cache has none for the
 * current inputs. A cold build compiles ~3,000 packages (several minutes on 2 cores); progress is
 * printed every 15 s so CI logs never look hung.
 */
export async function ensureControlPlaneBinary(opts: BuildOptions = {}): Promise<string> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const goBinary = opts.goBinary ?? 'go';
  const goVer = goVersion(goBinary);
  const target = binaryPath({ ...opts, goBinary });
  if (existsSync(target)) return target;

  const outDir = dirname(target);
  mkdirSync(outDir, { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  const ldflags = [
    '-s',
    '-w',
    `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
    `-X k8s.io/component-base/version.gitMajor=${KUBERNETES_VERSION.split('.')[0]!.slice(1)}`,
    `-X k8s.io/component-base/version.gitMinor=${KUBERNETES_VERSION.split('.')[1]!}`,
    '-X k8s.io/component-base/version.gitTreeState=clean',
  ].join(' ');
  log(`control plane: building Kubernetes ${KUBERNETES_VERSION} with ${goVer} into ${outDir} (cold build: minutes)`);
  const started = Date.now();
  let packages = 0;
  let lastLines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    // -v prints one line per compiled package: counted for progress, kept for the error message.
    const child = spawn(goBinary, ['build', '-v', '-trimpath', '-ldflags', ldflags, '-o', tmp, '.'], {
      cwd: MODULE_DIR,
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
      log(`control plane: still building, ${packages} packages so far, ${Math.round((Date.now() - started) / 1000)} s`);
    }, 15_000);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(new ControlPlaneBuildError(`go build could not start: ${e.message}`));
    });
    child.on('close', (code) => {
      clearInterval(timer);
      if (code === 0) resolve();
      else
        reject(
          new ControlPlaneBuildError(
            `go build of the control plane failed (exit ${String(code)}) in ${MODULE_DIR}; last output:\n${lastLines.join('\n')}`,
          ),
        );
    });
  }).catch((e: unknown) => {
    rmSync(tmp, { force: true });
    throw e;
  });
  renameSync(tmp, target); // atomic: a concurrent or interrupted build never leaves a half binary
  log(`control plane: built ${packages} packages in ${Math.round((Date.now() - started) / 1000)} s -> ${target}`);
  return target;
}
