/**
 * The real Tekton Pipelines controller on the test control plane, built from its Go module
 * (src/local-cluster/tekton/<version>/go.mod pins the release; the build is cached like the control plane's).
 *
 *   const tekton = await TektonController.start(cp);       // v1.15.0, the release's feature flags
 *   await tekton.setCoschedule('isolate-pipelinerun');     // a restart with the flag set
 *   ...
 *   await tekton.stop();                                   // before cp.stop()
 *
 * The kubelet stand-in runs TaskRun pods (kubelets.ts): a test says when each completes.
 *
 * What a cluster install would add and these tests leave out, on purpose:
 *   - the webhook: the CRDs from the module's config/ are installed with conversion strategy None
 *     (every object here is written as tekton.dev/v1), and nothing validates or defaults on admission
 *     (the reconcilers set defaults themselves);
 *   - images: nothing pulls them, so the image flags are placeholders, and steps must give an explicit
 *     `command` (without one the controller asks the registry for the image's entrypoint);
 *   - RBAC: the controller runs with the admin identity, and -disable-ha (no leader election);
 *   - metrics: their export is off in config-observability (no port to collide between parallel files).
 * One port cannot be moved: knative's health probes in v1.x always listen on :8080, so one v1.x
 * controller runs per machine at a time (the tests that need it share one file; a start waits, bounded,
 * for the port).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, type V1ConfigMap, type V1CustomResourceDefinition, type V1Deployment } from '@kubernetes/client-node';
import { type BuildOptions, ensureGoProgram, type GoProgram, GoBuildError, moduleSourceDir } from './binary.js';
import { type ControlPlane, freePort, httpOk } from './controlplane.js';
import { type Clients, clientsFor, mergePatch } from './fixtures/clients.js';
import { createIgnoringConflict, installCrds } from './fixtures/crds.js';
import type { CoscheduleMode } from './fixtures/tekton.js';
import { ComponentProcess, waitUntilReady } from './process.js';

export const TEKTON_VERSIONS = ['v1.15.0', 'v0.48.0'] as const;
export type TektonVersion = (typeof TEKTON_VERSIONS)[number];
export const TEKTON_MODULE = 'github.com/tektoncd/pipeline';
/** Where Tekton's controller keeps its configuration (SYSTEM_NAMESPACE). */
export const TEKTON_NAMESPACE = 'tekton-pipelines';

const HERE = dirname(fileURLToPath(import.meta.url));

export function tektonProgram(version: TektonVersion): GoProgram {
  return {
    label: `Tekton ${version} controller`,
    moduleDir: join(HERE, 'tekton', version),
    pkg: `${TEKTON_MODULE}/cmd/controller`,
    version,
    name: 'tekton-controller',
  };
}

/** The controller binary of a Tekton release, built first when the cache has none (minutes). */
export function ensureTektonController(version: TektonVersion = 'v1.15.0', opts: BuildOptions = {}): Promise<string> {
  return ensureGoProgram(tektonProgram(version), opts);
}

/** The release's source in the Go module cache (downloaded first if needed): its config/ is the install. */
export function tektonSourceDir(version: TektonVersion, goBinary = 'go'): string {
  const found = moduleSourceDir(tektonProgram(version).moduleDir, TEKTON_MODULE, goBinary);
  if (!existsSync(join(found, 'config'))) throw new GoBuildError(`no config/ in ${found} (${TEKTON_MODULE} ${version})`);
  return found;
}

const yamlObjects = (file: string) => loadAllYaml(readFileSync(file, 'utf8')).filter(Boolean) as { kind?: string }[];

/** The release's CRDs, with conversion strategy None: no conversion webhook runs here. */
export function tektonCrds(version: TektonVersion): V1CustomResourceDefinition[] {
  const config = join(tektonSourceDir(version), 'config');
  // v1.x keeps them in config/300-crds/, v0.x in config/300-*.yaml.
  const files = [
    ...readdirSync(config).filter((f) => /^300-.*\.yaml$/.test(f)).map((f) => join(config, f)),
    ...(existsSync(join(config, '300-crds')) ? readdirSync(join(config, '300-crds')).filter((f) => f.endsWith('.yaml')).map((f) => join(config, '300-crds', f)) : []),
  ];
  return files
    .flatMap((f) => yamlObjects(f))
    .filter((o): o is V1CustomResourceDefinition => o.kind === 'CustomResourceDefinition')
    .map((crd) => ({ ...crd, spec: { ...crd.spec, conversion: { strategy: 'None' } } }));
}

/** The release's ConfigMaps (config/config-*.yaml) as shipped, but for metrics (and tracing) export off. */
export function tektonConfigMaps(version: TektonVersion): V1ConfigMap[] {
  const dir = join(tektonSourceDir(version), 'config');
  return readdirSync(dir)
    .filter((f) => /^config-.*\.yaml$/.test(f))
    .flatMap((f) => yamlObjects(join(dir, f)))
    .filter((o): o is V1ConfigMap => o.kind === 'ConfigMap')
    .map((cm) => {
      const name = cm.metadata?.name;
      if (name === 'config-observability') {
        // v1.x reads metrics-protocol/tracing-protocol; v0.x (OpenCensus) reads metrics.backend-destination.
        return { ...cm, data: { ...cm.data, 'metrics-protocol': 'none', 'tracing-protocol': 'none', 'metrics.backend-destination': 'none' } };
      }
      return cm;
    });
}

/** Installs the CRDs and ConfigMaps of a release (idempotent) and waits until the CRDs are served. */
export async function installTekton(c: Clients, version: TektonVersion): Promise<void> {
  await installCrds(c, tektonCrds(version));
  await createIgnoringConflict(() => c.core.createNamespace({ body: { metadata: { name: TEKTON_NAMESPACE } } }));
  for (const cm of tektonConfigMaps(version)) {
    await createIgnoringConflict(() => c.core.createNamespacedConfigMap({ namespace: TEKTON_NAMESPACE, body: { ...cm, metadata: { ...cm.metadata, namespace: TEKTON_NAMESPACE } } }));
  }
}

/**
 * The controller's environment as the release's Deployment (config/controller.yaml) sets it:
 * SYSTEM_NAMESPACE (from the pod's namespace there), the CONFIG_* ConfigMap names, METRICS_DOMAIN. Left
 * out: the certificate paths, which name files mounted in its container.
 */
export function controllerEnv(version: TektonVersion): Record<string, string> {
  const deployment = yamlObjects(join(tektonSourceDir(version), 'config', 'controller.yaml')).find((o) => o.kind === 'Deployment') as V1Deployment | undefined;
  const container = deployment?.spec?.template.spec?.containers.find((c) => c.name === 'tekton-pipelines-controller');
  if (!container) throw new Error(`no tekton-pipelines-controller container in Tekton ${version}'s config/controller.yaml`);
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = TEKTON_NAMESPACE;
    else if (e.value !== undefined && !e.name.startsWith('SSL_CERT_')) env[e.name] = e.value;
  }
  if (env.SYSTEM_NAMESPACE !== TEKTON_NAMESPACE) throw new Error(`Tekton ${version}'s controller.yaml sets no SYSTEM_NAMESPACE from the pod's namespace`);
  return env;
}

/** Placeholder image references (nothing pulls images here); the release's names, for realism. */
function imageFlags(version: TektonVersion): string[] {
  const image = (cmd: string) => `ghcr.io/tektoncd/pipeline/${cmd}:${version}`;
  return [
    `-entrypoint-image=${image('entrypoint')}`,
    `-nop-image=${image('nop')}`,
    `-sidecarlogresults-image=${image('sidecarlogresults')}`,
    `-workingdirinit-image=${image('workingdirinit')}`,
    `-shell-image=${image('busybox')}`,
    `-shell-image-win=${image('powershell')}`,
  ];
}

/** The kernel SIGKILLs the controller when the test process dies (util-linux setpriv), where it can. */
export function dieWithParent(binary: string, args: string[]): [string, string[]] {
  return existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, args];
}

export interface TektonOptions {
  version?: TektonVersion;
  /** Binary to run; default: build or find the cached one. */
  binary?: string;
  /** The feature flag `coschedule` (v0.x has no such flag: its assistant is always per workspace). */
  coschedule?: CoscheduleMode;
  readyTimeoutMs?: number;
}

/**
 * knative's sharedmain in v1.x serves health probes on :8080, a port no flag or variable moves: one such
 * controller per machine. Taken, it would make the controller exit a moment after it started; say so.
 */
const V1_HEALTH_PORT = 8080;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, () => srv.close(() => resolve(true)));
  });
}

/** Waits (a test of another checkout may be running one) until `port` is free, or fails saying why. */
async function waitForPort(port: number, timeoutMs: number, version: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let said = false;
  while (!(await portFree(port))) {
    if (Date.now() > deadline) {
      throw new Error(`port ${port} is still in use after ${timeoutMs} ms: Tekton ${version}'s controller serves its health probes there (knative sharedmain, not configurable); stop what holds it (another Tekton controller?)`);
    }
    if (!said) process.stderr.write(`Tekton ${version} controller: port ${port} is in use, waiting for it to be free\n`);
    said = true;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

export class TektonController {
  private proc: ComponentProcess | undefined;

  private constructor(
    readonly version: TektonVersion,
    private readonly cp: ControlPlane,
    private readonly admin: Clients,
    private readonly binary: string,
  ) {}

  static async start(cp: ControlPlane, o: TektonOptions = {}): Promise<TektonController> {
    const version = o.version ?? 'v1.15.0';
    const binary = o.binary ?? (await ensureTektonController(version));
    const admin = clientsFor(cp.kubeConfig('admin'));
    await installTekton(admin, version);
    const t = new TektonController(version, cp, admin, binary);
    await t.run(o);
    return t;
  }

  /** The running controller's process (its log, to kill it). */
  get process(): ComponentProcess {
    if (!this.proc) throw new Error(`Tekton ${this.version} controller is not running`);
    return this.proc;
  }

  /**
   * Restarts the controller with the feature flag `coschedule` set: the next PipelineRun is reconciled in
   * that mode. (The controller also reloads the flag while running, but nothing it prints at its usual
   * log level says when; a restart, ~3 s, leaves no doubt.)
   */
  async setCoschedule(mode: CoscheduleMode, o: Omit<TektonOptions, 'coschedule' | 'version' | 'binary'> = {}): Promise<void> {
    await this.stop();
    await this.run({ ...o, coschedule: mode });
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
    this.proc = undefined;
  }

  private async run(o: TektonOptions): Promise<void> {
    const { version } = this;
    if (o.coschedule) await this.writeCoschedule(o.coschedule);
    const v1 = version.startsWith('v1.');
    const timeout = o.readyTimeoutMs ?? 90_000;
    if (v1) await waitForPort(V1_HEALTH_PORT, timeout, version);
    const [cmd, args] = dieWithParent(this.binary, [`-kubeconfig=${this.cp.kubeconfigPath}`, '-disable-ha', ...imageFlags(version)]);
    // Tekton's own probe server and the profiling server default to fixed ports too, but these move.
    const env = { ...controllerEnv(version), PROBES_PORT: String(await freePort()), PROFILING_PORT: String(await freePort()) };
    const proc = new ComponentProcess(`tekton-controller-${version}`, cmd, args, join(this.cp.workDir, `tekton-controller-${version}.log`), env);
    this.proc = proc;
    try {
      // knative's sharedmain prints this once the informers have synced, just before the reconcilers run;
      // v1.x then starts its health probes.
      const ready = v1 ? /Probes server listening on port/ : /Starting controllers/;
      await proc.waitForLine(ready, 'that its controllers started', timeout);
      if (v1) await waitUntilReady(proc, () => httpOk(`http://127.0.0.1:${V1_HEALTH_PORT}/health`), timeout);
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  private async writeCoschedule(mode: CoscheduleMode): Promise<void> {
    if (this.version.startsWith('v0.')) {
      if (mode === 'workspaces') return;
      throw new Error(`Tekton ${this.version} has no coschedule modes: its affinity assistant is always per workspace`);
    }
    await this.admin.core.patchNamespacedConfigMap({ namespace: TEKTON_NAMESPACE, name: 'feature-flags', body: { data: { coschedule: mode } } }, mergePatch);
  }
}
