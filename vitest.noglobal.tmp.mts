import { defineConfig } from "vitest/config";
export default defineConfig({ test: { root: "/work/main", pool: "forks", include: ["test/integration/**/*.test.ts"], testTimeout: 900_000, hookTimeout: 900_000 } });
