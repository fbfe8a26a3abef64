/** What the relocation benches share: timing the relocator's deletes, and waiting for the assistant to move. */
import { KubernetesCluster } from '../src/cluster/api.js';
import type { Clients } from '../src/local-cluster/fixtures/clients.js';

/** Records when the relocator last issued a delete (KubernetesCluster.deletePod), without changing what it does. */
export function timeDeletes(): { readonly lastAt: number; reset(): void; restore(): void } {
  const deletePod = KubernetesCluster.prototype.deletePod;
  let lastAt = 0;
  KubernetesCluster.prototype.deletePod = function (...args) {
    lastAt = performance.now();
    return deletePod.apply(this, args);
  };
  return {
    get lastAt() {
      return lastAt;
    },
    reset: () => void (lastAt = 0),
    restore: () => void (KubernetesCluster.prototype.deletePod = deletePod),
  };
}

/** How a wait for a move ended: moved to the expected node, bound elsewhere, or nothing within the timeout. */
export type MoveResult =
  | { kind: 'moved'; uid: string; boundAt: number }
  | { kind: 'elsewhere'; uid: string; node: string; boundAt: number }
  | { kind: 'timeout'; waitedMs: number };

/**
 * Polls (every 5 ms) until the pod is replaced by one bound to a node, or `timeoutMs` (30 s) has passed
 * since `since`; never throws for either (a read that fails is retried until the deadline).
 */
export async function tryWaitForMove(admin: Clients, ns: string, name: string, o: { oldUid: string; to: string; since: number; timeoutMs?: number }): Promise<MoveResult> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  for (;;) {
    const p = await admin.core.readNamespacedPod({ namespace: ns, name }).catch(() => undefined);
    if (p && p.metadata?.uid !== o.oldUid && p.spec?.nodeName) {
      const boundAt = performance.now();
      if (p.spec.nodeName !== o.to) return { kind: 'elsewhere', uid: p.metadata!.uid!, node: p.spec.nodeName, boundAt };
      return { kind: 'moved', uid: p.metadata!.uid!, boundAt };
    }
    if (performance.now() - o.since > timeoutMs) return { kind: 'timeout', waitedMs: performance.now() - o.since };
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Polls (every 5 ms) until the pod is replaced by one bound to `to`; returns the new uid and when it was
 * seen bound. Throws on a replacement bound elsewhere, or after 30 s.
 */
export async function waitForMove(admin: Clients, ns: string, name: string, o: { oldUid: string; to: string; since: number; run: number }): Promise<{ uid: string; boundAt: number }> {
  const r = await tryWaitForMove(admin, ns, name, o);
  if (r.kind === 'elsewhere') throw new Error(`run ${o.run}: the replacement was bound to ${r.node}, not ${o.to}`);
  if (r.kind === 'timeout') throw new Error(`run ${o.run}: the assistant did not move to ${o.to} within 30 s`);
  return r;
}
