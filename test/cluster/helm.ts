/**
 * Helm and kustomize for the chart tests, built from their Go modules (test/cluster/helm: Helm's own
 * `cmd/helm`, and a 30-line main over kustomize's engine, krusty, as `kubectl kustomize` runs it) and
 * cached like the control plane (binary.ts), keyed by the Helm version the module requires.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { type BuildOptions, defaultCacheDir, ensureGoBuild, type GoBuild } from './binary.js';

export const HELM_MODULE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'helm');

/** The Helm version test/cluster/helm/go.mod requires. */
export const HELM_VERSION = /^\s*helm\.sh\/helm\/v4 (v\S+)/m.exec(readFileSync(join(HELM_MODULE_DIR, 'go.mod'), 'utf8'))?.[1] ?? 'unknown';

export class HelmBuildError extends Error {
  override name = 'HelmBuildError';
}

const CHART_TOOLS: GoBuild = {
  name: 'helm',
  version: HELM_VERSION,
  moduleDir: HELM_MODULE_DIR,
  packages: ['helm.sh/helm/v4/cmd/helm', './kustomize'],
  executables: ['helm', 'kustomize'],
  // `helm version` reports the release, not Helm's development default ("v4.3").
  ldflags: ['-s', '-w', `-X helm.sh/helm/v4/internal/version.version=${HELM_VERSION}`, '-X helm.sh/helm/v4/internal/version.gitTreeState=clean'],
  error: (m) => new HelmBuildError(m),
};

export interface ChartTools {
  helm: string;
  kustomize: string;
}

/** Paths of the helm and kustomize executables, built first when the cache has none for the current inputs. */
export async function ensureChartTools(opts: BuildOptions = {}): Promise<ChartTools> {
  const dir = await ensureGoBuild(CHART_TOOLS, opts);
  return { helm: join(dir, 'helm'), kustomize: join(dir, 'kustomize') };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one of the tools; a tool that cannot start is an error, a non-zero exit is a result. */
export async function runTool(binary: string, args: string[]): Promise<RunResult> {
  // Helm's own configuration, cache and data directories: nothing read from or written to ~/.config/helm.
  const helmHome = join(defaultCacheDir(), 'helm-home');
  const env = {
    PATH: process.env.PATH ?? '',
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_DATA_HOME: join(helmHome, 'data'),
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

/** `helm template RELEASE CHART --namespace NS --set-string/--set ...`: the objects the chart renders. */
export async function helmTemplate(
  tools: ChartTools,
  chartDir: string,
  o: { release?: string; namespace: string; set?: Record<string, string | number | boolean> },
): Promise<KubernetesObject[]> {
  const sets = Object.entries(o.set ?? {}).flatMap(([k, v]) => (typeof v === 'string' ? ['--set-string', `${k}=${v}`] : ['--set', `${k}=${String(v)}`]));
  return rendered(tools.helm, ['template', o.release ?? 'affinity-relocator', chartDir, '--namespace', o.namespace, ...sets]);
}

/** `kubectl kustomize DIR`: the objects a kustomization renders. */
export async function kustomizeBuild(tools: ChartTools, dir: string): Promise<KubernetesObject[]> {
  return rendered(tools.kustomize, [dir]);
}
