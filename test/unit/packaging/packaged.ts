/**
 * `npm run package` once for all the packaging tests: its output (CloudFormation template, service state,
 * zips) is kept in the system's temporary directory, keyed by a hash of everything that shapes it
 * (serverless.yml, the parameters below, the build script, the lock file, functions/ and src/). Test files
 * running in parallel workers share one packaging through a lock; a later run with the same inputs reuses
 * it. `npm run package` itself writes .serverless/ and dist/functions/ in the repository, so two must never
 * run at once anyway.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { repoRoot } from '../../../scripts/build.js';

const run = promisify(execFile);

export const STAGE = 'prod';
export const REGION = 'eu-west-1';

/**
 * Every optional feature switched on, so that the template holds all of it. The two secrets are obviously
 * fake; the tests check that they appear nowhere in the template.
 */
export const PARAMS = {
  clusterName: 'prod-cluster',
  eksEndpoint: 'https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com',
  eksCaData: 'LS0tLS1CRUdJTg==',
  createAccessEntry: 'true',
  oidcProvider: 'oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE',
  createPodIdentityAssociation: 'true',
  busPublisherArns: 'arn:aws:iam::111122223333:role/on-call',
  notifyRelocated: 'true',
  slackWebhookUrl: 'https://hooks.slack.com/services/T0000/B0000/fake-slack-secret-for-tests',
  pagerDutyRoutingKey: 'fake-pagerduty-secret-for-tests',
  alertmanagerTokenParameter: '/affinity-relocator/prod/alertmanager-token',
  subnetIds: 'subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb',
  securityGroupIds: 'sg-0cccccccccccccccc',
} as const;

/** Only what a stage other than dev must be given: every optional feature at its default (off). */
export const DEFAULT_PARAMS = { clusterName: PARAMS.clusterName, eksEndpoint: PARAMS.eksEndpoint, eksCaData: PARAMS.eksCaData } as const;

export type Params = Readonly<Record<string, string>>;

export type Resource = { Type: string; Condition?: string; DependsOn?: string | string[]; Properties: Record<string, unknown> };
export type Template = {
  Resources: Record<string, Resource>;
  Outputs: Record<string, { Value: unknown }>;
  Conditions?: Record<string, unknown>;
  Parameters?: Record<string, { Type: string; NoEcho?: boolean; Default?: string }>;
};
export type ServiceState = {
  service: {
    functions: Record<string, { package: { artifact: string } }>;
    provider: { stackParameters?: { ParameterKey: string; ParameterValue: string }[] };
  };
};

export interface Packaged {
  /** Where `osls package --package` put the template, the state and the zips. */
  dir: string;
  template: Template;
  state: ServiceState;
  /** The zip of one function. */
  artifact(functionName: string): string;
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p) : [p];
  });
}

function inputsKey(params: Params): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ STAGE, REGION, params }));
  const files = [
    ...['serverless.yml', 'package.json', 'package-lock.json', 'scripts/build.ts'].map((f) => path.join(repoRoot, f)),
    ...listFiles(path.join(repoRoot, 'functions')),
    ...listFiles(path.join(repoRoot, 'src')),
  ].sort();
  for (const f of files) {
    h.update(`${path.relative(repoRoot, f)}\n`);
    h.update(readFileSync(f));
  }
  return h.digest('hex').slice(0, 16);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A directory as a lock between processes; a lock whose holder died is taken over. */
async function withLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pidFile = path.join(lockDir, 'pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : NaN;
      const stale = Number.isInteger(pid) && pid > 0 ? !isAlive(pid) : Date.now() - statSync(lockDir, { throwIfNoEntry: false })!.mtimeMs > 30_000;
      if (stale) {
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${lockDir} (held by pid ${pid})`);
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

async function runPackage(outDir: string, params: Params): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env, CI: '1' };
  // Offline and without credentials, as on a developer's machine or CI.
  for (const name of Object.keys(env)) if (/^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|PROFILE)$/.test(name)) delete env[name];
  const args = Object.entries(params).flatMap(([k, v]) => ['--param', `${k}=${v}`]);
  await run('npm', ['run', 'package', '--', '--stage', STAGE, '--region', REGION, '--package', outDir, ...args], {
    cwd: repoRoot,
    env,
    timeout: 540_000,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((e: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`npm run package failed:\n${e.stdout ?? ''}\n${e.stderr ?? e.message}`);
  });
}

const memo = new Map<string, Promise<Packaged>>();

/**
 * The packaged service for the current inputs, packaging it first if no test run did yet. `params`: the
 * deploy parameters, by default every optional feature switched on (PARAMS).
 */
export function packaged(params: Params = PARAMS): Promise<Packaged> {
  const key = inputsKey(params);
  let p = memo.get(key);
  if (!p) memo.set(key, (p = packageFor(key, params)));
  return p;
}

async function packageFor(key: string, params: Params): Promise<Packaged> {
  // One root per checkout: other clones on the machine keep their own packages.
  const root = path.join(os.tmpdir(), `affinity-relocator-package-${createHash('sha256').update(repoRoot).digest('hex').slice(0, 8)}`);
  const dir = path.join(root, key);
  const done = path.join(dir, '.complete');
  if (!existsSync(done)) {
    mkdirSync(root, { recursive: true });
    // One lock for every parameter set: each packaging writes .serverless/ and dist/ in the repository.
    await withLock(path.join(root, 'package.lock'), async () => {
      if (existsSync(done)) return;
      // Earlier inputs' packages are of no further use.
      const current = [PARAMS, DEFAULT_PARAMS, params].map(inputsKey);
      for (const old of readdirSync(root)) if (!old.endsWith('.lock') && !current.includes(old)) rmSync(path.join(root, old), { recursive: true, force: true });
      await runPackage(dir, params);
      writeFileSync(done, new Date().toISOString());
    });
  }
  const template = JSON.parse(readFileSync(path.join(dir, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
  const state = JSON.parse(readFileSync(path.join(dir, 'serverless-state.json'), 'utf8')) as ServiceState;
  return {
    dir,
    template,
    state,
    artifact: (name) => {
      const artifact = state.service.functions[name]?.package.artifact;
      if (!artifact) throw new Error(`${name} has no artifact`);
      // The state names the zip where osls first wrote it (.serverless/); --package moved it here.
      return path.join(dir, path.basename(artifact));
    },
  };
}
