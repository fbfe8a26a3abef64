/**
 * The control-plane harness itself: clear errors instead of hangs, and no process left behind, whether
 * a test fails or the test process dies.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/local-cluster/controlplane.js';
import { eventually } from '../../src/local-cluster/fixtures/clients.js';
import { findMarkedProcesses } from '../../src/local-cluster/orphans.js';
import { ComponentStartError, RUN_MARKER_ENV } from '../../src/local-cluster/process.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function occupyPort(): Promise<number> {
  // Holds the port; any connection (a readiness probe) is dropped so close() never waits on it.
  const srv = createServer((socket) => socket.destroy());
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  if (typeof addr !== 'object' || !addr) throw new Error('no address');
  return addr.port;
}

async function startError(options: Parameters<typeof ControlPlane.start>[0]): Promise<ComponentStartError> {
  const err = await ControlPlane.start(options).then(
    async (cp) => {
      await cp.stop();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ComponentStartError);
  return err as ComponentStartError;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('control-plane harness', () => {
  it('names etcd and shows its last log lines when the etcd port is taken', async () => {
    const port = await occupyPort();
    const e = await startError({ ports: { etcd: port } });
    expect(e.component).toBe('etcd');
    expect(e.message).toMatch(/^etcd failed to start/);
    expect(e.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}.*address already in use`));
  });

  it('names kube-apiserver when its port is taken', async () => {
    const port = await occupyPort();
    const e = await startError({ ports: { apiserver: port } });
    expect(e.component).toBe('kube-apiserver');
    expect(e.message).toMatch(/address already in use/);
  });

  it('names the component and its complaint when a component rejects its flags', async () => {
    const e = await startError({ controllerManagerArgs: ['--no-such-flag=1'] });
    expect(e.component).toBe('kube-controller-manager');
    expect(e.message).toMatch(/exited before it was ready/);
    expect(e.message).toMatch(/unknown flag: --no-such-flag/);
  });

  it('stops every component after a test file whose tests fail', async () => {
    const runId = randomUUID();
    const r = await run(
      process.execPath,
      ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/cluster/selftest/vitest.config.ts'],
      { ...process.env, [RUN_MARKER_ENV]: runId, CI: 'true', NO_COLOR: '1' },
    );
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/deliberate failure inside a test/);
    expect(r.output).toMatch(/2 failed/);
    expect(findMarkedProcesses(runId)).toEqual([]);
  });

  it('takes the components down when the process that started them is killed', async () => {
    const runId = randomUUID();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/cluster/selftest/start-and-hang.ts'], {
      env: { ...process.env, [RUN_MARKER_ENV]: runId },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pids = await new Promise<number[]>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /READY ([\d ]+)\n/.exec(out);
        if (m) resolve(m[1]!.trim().split(' ').map(Number));
      });
      child.on('exit', (code) => reject(new Error(`start-and-hang exited early with ${String(code)}`)));
    });
    expect(pids).toHaveLength(4);
    expect(findMarkedProcesses(runId).map((p) => p.pid).sort()).toEqual([...pids].sort());
    child.kill('SIGKILL');
    await eventually('the orphaned components to die', async () => findMarkedProcesses(runId), (l) => l.length === 0, {
      timeoutMs: 10_000,
    });
  });
});
