import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { benchmarkHeadline, evaluateBenchmark, findRepoRoot } from "../../../components/benchmark/benchmark";
import { SEED_BASELINE } from "../../../components/benchmark/baseline";

const fixture = fs.readFileSync(path.join(__dirname, "../../fixtures/benchmark/vllm-seed-result.json"), "utf8");

describe("Benchmark helpers", () => {
  it("findRepoRoot finds the checkout from source or from a compiled bin/ directory", () => {
    const root = path.resolve(__dirname, "../../..");
    expect(findRepoRoot(path.join(root, "components", "benchmark"))).toBe(root);
    expect(findRepoRoot(path.join(root, "bin", "components", "benchmark"))).toBe(root);
    expect(() => findRepoRoot("/")).toThrow(/repoDir/);
  });

  it("evaluateBenchmark derives ratios, cost and misses from stdout", () => {
    const e = evaluateBenchmark(fixture, 39.92, { baseline: SEED_BASELINE, thresholds: { maxTtftP99Ms: 5000 } });
    expect(e.metrics.completed).toBe(512);
    expect(e.ratios.ttftP99).toBeCloseTo(5008.13 / 5008, 6);
    expect(e.cost.costPerMillionOutputTokens).toBeCloseTo(9.0, 1);
    expect(e.thresholdMisses).toEqual(["p99 TTFT 5,008.1 ms is above the maximum 5,000 ms"]);
    expect(() => evaluateBenchmark(fixture, -1, { baseline: SEED_BASELINE, thresholds: {} })).toThrow(/hourlyPriceUsd/);
  });

  it("benchmarkHeadline summarizes a run on one line", () => {
    const e = evaluateBenchmark(fixture, 39.92, { baseline: SEED_BASELINE, thresholds: {} });
    expect(benchmarkHeadline(e)).toBe(
      "benchmark: 512 ok / 0 failed in 425.4 s; output 1233 tok/s (1.00x baseline), total 11093 tok/s; " +
        "TTFT mean/p99 1825/5008 ms; TPOT 24.0/26.0 ms; $9.00 per 1M output tokens",
    );
  });
});
