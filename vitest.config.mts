import { defineConfig } from "vitest/config";

// Two layers, both run by `npm test` (unit first, then integration):
// - unit: pure functions, providers against in-process emulators, components under Pulumi mocks;
// - integration: real processes — Docker engine, sshd on loopback, the Pulumi engine. Its files
//   run one at a time (`npm run test:integration`): several assert latencies against a known
//   timing model, which two heavy files side by side on a 2-core machine would distort.
// Pulumi's runtime state is process-global, so every file runs in its own forked process.
export default defineConfig({
  test: {
    pool: "forks",
    isolate: true,
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000 },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/globalSetup.ts"],
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
