/**
 * The CLI's answers to a user's mistakes, as a user meets them (the CLI in a process of its own): one line
 * that says what was wrong and a non-zero exit, 2 with the usage text for a usage error, 1 for what is not
 * there; and the demo in dry-run, which shows the delete it would make and ends cleanly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, Scenario } from './support.js';

const USAGE = /^usage: affinity-relocator /m;

/** The message lines of stderr (the usage text left out). */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('affinity-relocator: '));

describe('the CLI without a cluster', () => {
  it('refuses a mistyped option with exit 2, the usage text, and the option it probably meant', async () => {
    const out = await runCli(['plan', '--nod', 'worker1']);
    expect(out.code).toBe(2);
    expect(errorLines(out.stderr)).toEqual(['affinity-relocator: unknown option --nod (did you mean --node?)']);
    expect(out.stderr).toMatch(USAGE);
  });

  it('refuses an option the command does not read, and a plan with no target, with exit 2 and the usage text', async () => {
    const misplaced = await runCli(['status', '--node', 'worker1']);
    expect(misplaced.code).toBe(2);
    expect(errorLines(misplaced.stderr)).toEqual(['affinity-relocator: --node does not apply to "status"']);
    expect(misplaced.stderr).toMatch(USAGE);

    const untargeted = await runCli(['plan']);
    expect(untargeted.code).toBe(2);
    expect(errorLines(untargeted.stderr)).toEqual(['affinity-relocator: give exactly one of --node NAME or --pod NAMESPACE/NAME']);
    expect(untargeted.stderr).toMatch(USAGE);
  });

  it('does not run the demo when --context names a cluster and no kubeconfig is found: exit 1 naming the flag', async () => {
    const out = await runCli(['--context', 'nope']);
    expect(out.code).toBe(1);
    const [message, ...more] = errorLines(out.stderr);
    expect(more).toEqual([]);
    // With a ~/.kube/config on the machine, the answer is that it has no such context; without, that there is none.
    expect(message).toMatch(/^affinity-relocator: (--context nope: no kubeconfig found .*--kubeconfig FILE|kubeconfig has no context "nope")/);
    expect(out.stdout).not.toContain('demo');
    expect(out.stdout).not.toContain('control plane');
  });

  it('names its own flags, not environment variables it never reads, when no kubeconfig is found', async () => {
    const out = await runCli(['status']);
    expect(out.code).toBe(1);
    if (errorLines(out.stderr)[0]?.includes('no kubeconfig found')) expect(out.stderr).toContain('give --kubeconfig FILE or set KUBECONFIG');
    expect(out.stderr).not.toContain('KUBE_AUTH');
    expect(out.stderr).not.toContain('KUBE_CONTEXT');
  });
});

describe('the CLI against a cluster', () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await Scenario.start();
  });
  afterAll(async () => {
    await s?.stop();
  });
  const on = () => ['--kubeconfig', s.cp.kubeconfigPath, '--context', 'relocator'];

  it('says a node that does not exist is not found, with exit 1', async () => {
    const out = await runCli(['plan', '--node', 'does-not-exist', ...on()]);
    expect(out.code).toBe(1);
    expect(errorLines(out.stderr)).toEqual(['affinity-relocator: node "does-not-exist" not found in context relocator']);
    expect(out.stdout).toBe('');
  });

  it('says a pod that does not exist is not found, with exit 1, and deletes nothing', async () => {
    const out = await runCli(['relocate', '--pod', 'default/missing', ...on()]);
    expect(out.code).toBe(1);
    expect(errorLines(out.stderr)).toEqual(['affinity-relocator: pod "default/missing" not found in context relocator']);
    expect(out.stdout).toBe('');
  });

  it('names the contexts there are when --context names none of them, with exit 1', async () => {
    const out = await runCli(['status', '--kubeconfig', s.cp.kubeconfigPath, '--context', 'nope']);
    expect(out.code).toBe(1);
    expect(errorLines(out.stderr)).toEqual([expect.stringMatching(/^affinity-relocator: kubeconfig has no context "nope"; available: .*relocator/)]);
  });
});

describe('the demo in dry-run', () => {
  it('shows the delete it would make, deletes nothing, and exits 0 without errors', async () => {
    const out = await runCli(['demo', '--dry-run']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/SKIPPED demo\/affinity-assistant-\w+-0 \[dry-run\]: dry-run: would delete demo\/affinity-assistant-\w+-0 .* from kind-multinode-worker1/);
    expect(out.stdout).toMatch(/dry-run: nothing was deleted; affinity-assistant-\w+-0 stays on kind-multinode-worker1/);
    expect(out.stdout).not.toMatch(/error|TaskRun pod/i);
    expect(out.stderr).toBe('');
  });
});
