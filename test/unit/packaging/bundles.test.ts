/**
 * Every Lambda entry point builds into one self-contained ES module that Node can load on its own: the
 * bundles are built into a temporary directory with no node_modules above it and imported by a fresh
 * `node`, with the environment serverless.yml gives the functions.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltFunction, buildFunctions, findEntryPoints } from '../../../scripts/build.js';

const run = promisify(execFile);

/** The target for one bundle. */
const MAX_BUNDLE_BYTES = 2 * 1024 * 1024;

// What a function's container has at import time (serverless.yml `provider.environment`, with the dev
// stage's placeholders, plus the variables Lambda itself sets).
const lambdaEnvironment = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  AWS_REGION: 'eu-west-1',
  AWS_DEFAULT_REGION: 'eu-west-1',
  AWS_LAMBDA_FUNCTION_NAME: 'affinity-relocator-test',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
  KUBE_AUTH: 'eks',
  EKS_CLUSTER_NAME: 'test',
  EKS_ENDPOINT: 'https://eks-endpoint.invalid',
  EKS_CA_DATA: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64'),
  CLUSTER_NAME: 'test',
  DRY_RUN: 'true',
  EVENT_BUS_NAME: 'affinity-relocator-test',
  POWERTOOLS_SERVICE_NAME: 'affinity-relocator',
  POWERTOOLS_METRICS_NAMESPACE: 'AffinityRelocator',
  // The webhook's own (serverless.yml gives it to the alertmanager function only; harmless to the others).
  ALERTMANAGER_TOKEN_PARAMETER: '/affinity-relocator/test/alertmanager-token',
};

const IMPORT = `
const mod = await import(process.argv[1]);
process.stdout.write(JSON.stringify({ handler: typeof mod.handler }));
`;

const entryPoints = await findEntryPoints();
describe('the Lambda bundles', () => {
  it('finds the entry points in functions/', () => {
    expect(entryPoints.length).toBeGreaterThanOrEqual(3);
  });

  let outDir: string;
  let built: BuiltFunction[];

  beforeAll(async () => {
    outDir = await mkdtemp(path.join(os.tmpdir(), 'relocator-bundles-'));
    built = await buildFunctions({ outDir, log: false });
  }, 240_000);

  afterAll(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('bundles every functions/*.ts into <name>.mjs with a source map and a metafile', () => {
    expect(built.map((b) => b.name).sort()).toEqual(entryPoints.map((e) => path.basename(e, '.ts')).sort());
    for (const b of built) {
      expect(path.basename(b.bundle)).toBe(`${b.name}.mjs`);
      expect(b.bytes).toBeGreaterThan(0);
      expect(b.mapBytes).toBeGreaterThan(0);
    }
  });

  it.each(entryPoints.map((e) => path.basename(e, '.ts')))('%s loads in a fresh node process and exports a handler', async (name) => {
    const bundle = built.find((b) => b.name === name)!.bundle;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', IMPORT, pathToFileURL(bundle).href], {
      cwd: outDir,
      env: lambdaEnvironment,
      timeout: 60_000,
    }).catch((e: { stderr?: string; message: string }) => {
      throw new Error(`importing ${name}.mjs failed:\n${e.stderr || e.message}`);
    });
    expect(JSON.parse(stdout)).toEqual({ handler: 'function' });
  });

  it('keeps every bundle within 2 MiB', () => {
    for (const b of built) {
      const largest = Object.entries(b.byPackage)
        .sort((x, y) => y[1] - x[1])
        .slice(0, 5)
        .map(([pkg, bytes]) => `${pkg} ${bytes}`)
        .join(', ');
      expect(b.bytes, `${b.name}.mjs is ${b.bytes} bytes; largest: ${largest} (see ${b.name}.meta.json)`).toBeLessThanOrEqual(MAX_BUNDLE_BYTES);
    }
  });

  it('bundles the AWS SDK instead of relying on the runtime’s copy', async () => {
    for (const b of built) {
      const meta = JSON.parse(await readFile(b.metafile, 'utf8')) as { outputs: Record<string, { imports: { path: string; external?: boolean }[] }> };
      const externals = Object.values(meta.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
      // Only Node built-ins may stay outside the bundle.
      expect(externals.filter((p) => !isBuiltin(p)), b.name).toEqual([]);
    }
  });

  it("leaves client-node's KubeConfig and what it drags along (kubeconfig parsing, proxies, OIDC) out of every bundle", () => {
    // The functions reach EKS through src/cluster/eks-access.ts; client-node is used for its types only.
    const unwanted = ['@kubernetes/client-node', 'js-yaml', 'socks', 'ip-address', 'jsonpath-plus', 'node-fetch', 'openid-client'];
    for (const b of built) expect(Object.keys(b.byPackage).filter((pkg) => unwanted.includes(pkg)), b.name).toEqual([]);
  });
});
