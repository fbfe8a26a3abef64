/**
 * Run by harness.test.ts in a child vitest: a test file that starts a control plane and then fails
 * (an assertion, and an exception thrown from a test). Its afterAll must still stop everything.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ControlPlane } from '../../../src/local-cluster/controlplane.js';

let cp: ControlPlane;
beforeAll(async () => {
  cp = await ControlPlane.start();
});
afterAll(async () => {
  await cp?.stop();
});

it('fails on purpose with an assertion', () => {
  expect(cp.server).toBe('not the server');
});

it('fails on purpose with an exception', () => {
  throw new Error('deliberate failure inside a test');
});
