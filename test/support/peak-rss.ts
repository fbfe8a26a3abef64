/**
 * The peak resident set of this process's own memory, in KiB: VmHWM of /proc/self/status. Not
 * getrusage's maxRSS, which Linux carries over an exec from the forked parent's memory (a child forked by a
 * 300 MB bench reports at least 300 MB whatever it does). Falls back to maxRSS where there is no /proc.
 */
import { readFileSync } from 'node:fs';

export function peakRssKb(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // no procfs (macOS): below
  }
  return process.resourceUsage().maxRSS;
}
