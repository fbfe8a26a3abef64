/** Finds processes that carry a test run's marker in their environment (Linux /proc). */
import { readdirSync, readFileSync } from 'node:fs';
import { RUN_MARKER_ENV } from './process.js';

export interface MarkedProcess {
  pid: number;
  cmdline: string;
}

export function findMarkedProcesses(runId: string, { exclude = [process.pid] }: { exclude?: number[] } = {}): MarkedProcess[] {
  const marker = `${RUN_MARKER_ENV}=${runId}`;
  const found: MarkedProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || exclude.includes(pid)) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (!env.includes(marker)) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      // Only our control-plane components count: vitest's own workers inherit the marker too.
      if (/controlplane (etcd|apiserver|scheduler|controller-manager)/.test(cmdline)) found.push({ pid, cmdline });
    } catch {
      // the process ended while we looked, or is not ours to read
    }
  }
  return found;
}
