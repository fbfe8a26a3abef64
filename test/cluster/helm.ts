/**
 * Helm and kustomize for the chart tests, built from their Go modules and cached like the control plane
 * (binary.ts), each keyed by its version: test/cluster/helm requires Helm and builds its own `cmd/helm`;
 * test/cluster/kustomize is a 30-line main over kustomize's engine (krusty), as `kubectl kustomize` runs it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { type BuildOptions, defaultCacheDir, ensureGoProgram, type GoProgram } from '../../src/local-cluster/binary.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The version of `module` that the go.mod in `dir` requires. */
function required(dir: string, module: string): string {
  const version = new RegExp(`^\\s*${module.replaceAll('.', '\\.')} (v\\S+)`, 'm').exec(readFileSync(join(dir, 'go.mod'), 'utf8'))?.[1];
  if (!version) throw new Error(`${dir}/go.mod requires no ${module}`);
  return version;
}

export const HELM_VERSION = required(join(here, 'helm'), 'helm.sh/helm/v4');

export const HELM: GoProgram = {
  label: 'Helm',
  moduleDir: join(here, 'helm'),
  pkg: 'helm.sh/helm/v4/cmd/helm',
  version: HELM_VERSION,
  name: 'helm',
  // `helm version` reports the release, not Helm's development default ("v4.3").
  ldflags: [`-X helm.sh/helm/v4/internal/version.version=${HELM_VERSION}`, '-X helm.sh/helm/v4/internal/version.gitTreeState=clean'],
};

export const KUSTOMIZE: GoProgram = {
  label: 'kustomize',
  moduleDir: join(here, 'kustomize'),
  pkg: '.',
  version: required(join(here, 'kustomize'), 'sigs.k8s.io/kustomize/api'),
  name: 'kustomize',
};

export interface ChartTools {
  helm: string;
  kustomize: string;
}

/** Paths of the helm and kustomize executables, built first when the cache has none for the current inputs. */
export async function ensureChartTools(opts: BuildOptions = {}): Promise<ChartTools> {
  return { helm: await ensureGoProgram(HELM, opts), kustomize: await ensureGoProgram(KUSTOMIZE, opts) };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one of the tools; a tool that cannot start is an error, a non-zero exit is a result. */
export async function runTool(binary: string, args: string[]): Promise<RunResult> {
  // Helm's own configuration, cache and data directories: nothing read from or written to ~/.config/helm or ~/.kube.
  const helmHome = join(defaultCacheDir(), 'helm-home');
  const env = {
    PATH: process.env.PATH ?? '',
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_DATA_HOME: join(helmHome, 'data'),
    // client-go's discovery cache (default $HOME/.kube/cache; the tools get no HOME).
    KUBECACHEDIR: join(helmHome, 'kube-cache'),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The objects of a multi-document YAML stream, without empty documents. */
export function objectsOf(yamlText: string): KubernetesObject[] {
  return (yaml.loadAll(yamlText) as (KubernetesObject | null)[]).filter((o): o is KubernetesObject => o !== null && o !== undefined);
}

async function rendered(binary: string, args: string[]): Promise<KubernetesObject[]> {
  const r = await runTool(binary, args);
  if (r.code !== 0) throw new Error(`${basename(binary)} ${args.join(' ')} failed (exit ${String(r.code)}):\n${r.stderr}`);
  return objectsOf(r.stdout);
}

/**
 * `helm template RELEASE CHART --namespace NS --set-string/--set ... --api-versions ...`: the objects the
 * chart renders. `apiVersions`: what the cluster is to be taken to serve besides Helm's defaults (group/version
 * or group/version/Kind), as `helm install` would learn from a cluster.
 */
export async function helmTemplate(
  tools: ChartTools,
  chartDir: string,
  o: { release?: string; namespace: string; set?: Record<string, string | number | boolean>; apiVersions?: string[] },
): Promise<KubernetesObject[]> {
  const sets = Object.entries(o.set ?? {}).flatMap(([k, v]) => (typeof v === 'string' ? ['--set-string', `${k}=${v}`] : ['--set', `${k}=${String(v)}`]));
  const apis = (o.apiVersions ?? []).flatMap((v) => ['--api-versions', v]);
  return rendered(tools.helm, ['template', o.release ?? 'affinity-relocator', chartDir, '--namespace', o.namespace, ...sets, ...apis]);
}

/** `kubectl kustomize DIR`: the objects a kustomization renders. */
export async function kustomizeBuild(tools: ChartTools, dir: string): Promise<KubernetesObject[]> {
  return rendered(tools.kustomize, [dir]);
}
