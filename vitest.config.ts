import { defineConfig } from 'vitest/config';

/** The tests that need tools beyond Node (Go, a JDK and Maven, Python, osls) or write build output. */
const PACKAGING = ['test/unit/packaging/**/*.test.ts', 'test/unit/controlplane-build.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          // Pure logic: Node and node_modules only, nothing written to the repository, seconds.
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          exclude: PACKAGING,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          // What ships: builds the bundles (dist/) and packages the stack with osls (.serverless/), then
          // checks them with cfn-lint (Python), AWS's Event Ruler (a JDK and Maven) and Go-built tools.
          name: 'packaging',
          include: PACKAGING,
          // After the unit tests, which fail fast.
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // After the unit and packaging tests, which fail faster.
          sequence: { groupOrder: 2 },
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
