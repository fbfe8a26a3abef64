/**
 * An ERROR event other than 410 from a real API server, decoded as the slim informer decodes it
 * (src/forwarder/watch-status.ts). A watch-list request (sendInitialEvents) for a resourceVersion the server
 * has not reached is one: after waiting ~3 s for it, the watch cache gives up and ends the stream with an
 * ERROR event. What the informer then does (report, back off, watch again) is in
 * test/unit/forwarder/watch-status.test.ts.
 */
import { Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpStatusOf } from '../../src/cluster/retry.js';
import { watchStatusError } from '../../src/forwarder/watch-status.js';
import { ControlPlane } from '../../src/local-cluster/controlplane.js';

let cp: ControlPlane;

beforeAll(async () => {
  cp = await ControlPlane.start({ kubelets: false });
});

afterAll(async () => {
  await cp?.stop();
});

/** The first ERROR event's object of a watch. */
function firstErrorEvent(path: string, query: Record<string, string | boolean>): Promise<{ object: unknown }> {
  return new Promise((resolve, reject) => {
    let object: unknown;
    new Watch(cp.kubeConfig('admin'))
      .watch(
        path,
        query,
        (phase, obj) => {
          if (phase === 'ERROR') object ??= obj;
        },
        (ended: unknown) => (object === undefined ? reject(new Error(`the watch ended without an ERROR event: ${String(ended)}`)) : resolve({ object })),
      )
      .catch(reject);
  });
}

describe('an ERROR event from the API server', () => {
  it('is decoded with the code, reason and message of its Status (504 Timeout: the resourceVersion is too large)', async () => {
    const { object } = await firstErrorEvent('/api/v1/nodes', {
      sendInitialEvents: true,
      resourceVersionMatch: 'NotOlderThan',
      resourceVersion: '999999999',
      allowWatchBookmarks: true,
    });

    // The Status test/unit/forwarder/watch-status.test.ts scripts (TOO_LARGE_RV) is this one.
    expect(object).toMatchObject({ kind: 'Status', code: 504, reason: 'Timeout' });
    const e = watchStatusError('/api/v1/nodes', object);
    expect(e).toMatchObject({ statusCode: 504, reason: 'Timeout' });
    expect(httpStatusOf(e)).toBe(504);
    expect(e.message).toMatch(/^watch of \/api\/v1\/nodes ended with an ERROR event: 504 Timeout: Timeout: Too large resource version: 999999999, current: \d+$/);
  });
});
