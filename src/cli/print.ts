/** Human-readable lines for the CLI: a timeline relative to the start of the command. */
import type { Outcome } from '../domain/outcome.js';

const t0 = Date.now();

export function line(text: string): void {
  process.stdout.write(`[+${((Date.now() - t0) / 1000).toFixed(3)}s] ${text}\n`);
}

export function describeOutcome(o: Outcome): string {
  const who = o.assistant.pod ? `${o.assistant.namespace}/${o.assistant.pod}` : '(no assistant)';
  const latency =
    o.kind === 'relocated'
      ? ` (trigger→delete ${o.deleteLatencyMs ?? '?'} ms, trigger→bound ${o.boundLatencyMs ?? '?'} ms)`
      : o.kind === 'started'
        ? ` (trigger→delete ${o.deleteLatencyMs ?? '?'} ms)`
        : '';
  return `${o.kind.toUpperCase()} ${who} [${o.reason}]: ${o.message}${latency}`;
}
