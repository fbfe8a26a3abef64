/**
 * AWS's CloudFormation linter (cfn-lint, from PyPI) for the packaging tests: installed by the test run
 * itself into a virtual environment under ~/.cache/affinity-relocator, keyed by the cfn-lint version and
 * the Python that runs it, like the Go-built tools (src/local-cluster/binary.ts). The first run on a machine
 * downloads cfn-lint and its dependencies (~40 MB) with pip; later runs find the environment.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { defaultCacheDir } from '../../src/local-cluster/binary.js';

export const CFN_LINT_VERSION = '1.58.0';

export class CfnLintInstallError extends Error {
  override name = 'CfnLintInstallError';
}

export interface CfnLintOptions {
  /** Python 3 to build the environment with; default `python3` from PATH. */
  python?: string;
  /** Cache root; default $AFFINITY_RELOCATOR_CACHE or ~/.cache/affinity-relocator. */
  cacheDir?: string;
  /** Progress lines go here; default stderr. */
  log?: (line: string) => void;
}

/** `Python 3.x.y` of a Python that can make virtual environments with pip, or a clear error saying what to install. */
export function pythonVersion(python = 'python3'): string {
  const r = spawnSync(python, ['-c', 'import sys, venv, ensurepip; print(sys.version.split()[0])'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || `exit code ${String(r.status)}`).trim().split('\n').pop();
    throw new CfnLintInstallError(
      `${python} cannot make a virtual environment (${why}). The packaging tests lint the CloudFormation template with ` +
        'cfn-lint from PyPI, installed into a venv: install Python >= 3.9 with venv and ensurepip (Debian: python3 python3-venv) ' +
        'and put `python3` on PATH.',
    );
  }
  return r.stdout.trim();
}

/** The venv's directory for the current cfn-lint version and Python (it may not exist yet). */
export function cfnLintDir(opts: CfnLintOptions = {}): string {
  const key = createHash('sha256')
    .update(`${CFN_LINT_VERSION}\n${pythonVersion(opts.python)}\n${process.platform}/${process.arch}\n`)
    .digest('hex')
    .slice(0, 16);
  return join(opts.cacheDir ?? defaultCacheDir(), `cfn-lint-${CFN_LINT_VERSION}-${key}`);
}

/**
 * The venv's Python. cfn-lint runs as `python -c <its entry point>`: the venv is built in a temporary
 * directory and moved, and its entry scripts name the temporary path; its Python finds the venv wherever it is.
 */
const venvPython = (dir: string) => join(dir, 'bin', 'python');

async function run(cmd: string, args: string[], what: string, log: (l: string) => void): Promise<void> {
  const started = Date.now();
  let lastLines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1' } });
    const onData = (chunk: Buffer): void => {
      lastLines = [...lastLines, ...chunk.toString('utf8').split('\n').filter(Boolean)].slice(-30);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setInterval(() => log(`cfn-lint: still ${what}, ${Math.round((Date.now() - started) / 1000)} s`), 15_000);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(new CfnLintInstallError(`${cmd} could not start: ${e.message}`));
    });
    child.on('close', (code) => {
      clearInterval(timer);
      if (code === 0) resolve();
      else reject(new CfnLintInstallError(`${what} failed (exit ${String(code)}): ${cmd} ${args.join(' ')}; last output:\n${lastLines.join('\n')}`));
    });
  });
}

/** The venv's Python with cfn-lint installed, installing it first when the cache has none for the current inputs. */
export async function ensureCfnLint(opts: CfnLintOptions = {}): Promise<string> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const python = opts.python ?? 'python3';
  const target = cfnLintDir({ ...opts, python });
  if (existsSync(venvPython(target))) return venvPython(target);

  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  log(`cfn-lint: installing cfn-lint ${CFN_LINT_VERSION} from PyPI into ${target}`);
  const started = Date.now();
  try {
    await run(python, ['-m', 'venv', tmp], 'creating the venv', log);
    await run(venvPython(tmp), ['-m', 'pip', 'install', '--quiet', `cfn-lint==${CFN_LINT_VERSION}`], `pip install cfn-lint==${CFN_LINT_VERSION}`, log);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  try {
    renameSync(tmp, target); // atomic: a concurrent or interrupted install never leaves half an environment
  } catch (e) {
    // Another process finished the same install first: keep its result.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(venvPython(target))) throw e;
  }
  log(`cfn-lint: installed in ${Math.round((Date.now() - started) / 1000)} s`);
  return venvPython(target);
}

/** cfn-lint's console script (it has no `python -m` entry). */
const CFN_LINT_MAIN = 'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())';

/** One finding of cfn-lint (its JSON output). */
export interface CfnLintMatch {
  Level: 'Error' | 'Warning' | 'Informational';
  Message: string;
  Rule: { Id: string; ShortDescription: string };
  Location: { Path?: (string | number)[] | null; Start: { LineNumber: number } };
}

/** Lints a template; the findings, or an error when cfn-lint itself failed (not for findings). */
export async function cfnLint(templatePath: string, opts: CfnLintOptions = {}): Promise<CfnLintMatch[]> {
  const python = await ensureCfnLint(opts);
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(python, ['-c', CFN_LINT_MAIN, '--format', 'json', '--', templatePath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
  });
  // Exit codes are a bit mask of the levels found (2 errors, 4 warnings, 8 informational); 1 is a failure of cfn-lint itself.
  if (code === null || code === 1 || code > 14 || !stdout.trim().startsWith('[')) {
    throw new Error(`cfn-lint failed (exit ${String(code)}) on ${templatePath}:\n${stderr}${stdout}`);
  }
  return JSON.parse(stdout) as CfnLintMatch[];
}
