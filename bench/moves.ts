/** What the relocation benches share: timing the relocator's deletes, and waiting for the assistant to move. */
import { KubernetesCluster } from '../src/cluster/api.js';
import type { Clients } from '../test/cluster/fixtures/clients.js';

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

/**
 * Polls (every 5 ms) until the pod is replaced by one bound to `to`; returns the new uid and when it was
 * seen bound. Throws on a replacement bound elsewhere, or after 30 s.
 */
export async function waitForMove(admin: Clients, ns: string, name: string, o: { oldUid: string; to: string; since: number; run: number }): Promise<{ uid: string; boundAt: number }> {
  for (;;) {
    const p = await admin.core.readNamespacedPod({ namespace: ns, name }).catch(() => undefined);
    if (p && p.metadata?.uid !== o.oldUid && p.spec?.nodeName) {
      if (p.spec.nodeName !== o.to) throw new Error(`run ${o.run}: the replacement was bound to ${p.spec.nodeName}, not ${o.to}`);
      return { uid: p.metadata!.uid!, boundAt: performance.now() };
    }
    if (performance.now() - o.since > 30_000) throw new Error(`run ${o.run}: the assistant did not move to ${o.to} within 30 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
