import { defineConfig } from "vitest/config";

// Two layers, both run by `npm test` (unit first, then integration):
// - unit: pure functions, providers against in-process emulators, components under Pulumi mocks, and
//   the rig's own tests (test/rig: the Lambda emulator, the SGLang simulator, the stand-ins);
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
        // Hooks load tokenizers and Pulumi programs: vitest's default 10 s hook limit is too tight for
        // a loaded CI machine (load 5-10 beside two busy loops), so hooks get the same room as tests.
        // test/rig holds the tests of the rig itself (emulator, simulator, stand-ins), beside the product's.
        test: { name: "unit", include: ["test/unit/**/*.test.ts", "test/rig/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000 },
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
