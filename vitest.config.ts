import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // After the unit tests, which fail fast.
          sequence: { groupOrder: 1 },
          // Builds the control plane once (cached) and checks, after all files, that no process of the
          // run survived.
          globalSetup: ['test/cluster/global-setup.ts'],
          // Each file starts its own control plane (~0.5 GB); two at a time fit a 2-core machine.
          maxWorkers: 2,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
