import { defineConfig } from 'vitest/config';

// Only for harness.test.ts: runs the deliberately failing fixture in a child vitest process.
export default defineConfig({
  test: { include: ['test/cluster/selftest/*.fixture.ts'], hookTimeout: 180_000 },
});
