import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  checkThresholds,
  compareToBaseline,
  formatThresholdFailure,
  SEED_BASELINE,
  validateBaseline,
  validateThresholds,
} from "../../../components/benchmark/baseline";
import { type BenchmarkMetrics, parseBenchmarkOutput, parseBenchmarkResult } from "../../../components/benchmark/resultParser";
import { SEED_WORKLOAD } from "../../../components/benchmark/workload";
import { emptyRunResult } from "../../fixtures/benchmark/results";

const seedRun = parseBenchmarkOutput(fs.readFileSync(path.join(__dirname, "../../fixtures/benchmark/vllm-seed-result.json"), "utf8"));

function run(over: Record<string, unknown>): BenchmarkMetrics {
  return parseBenchmarkResult({ ...seedRun.raw, ...over });
}

describe("SEED_BASELINE", () => {
  it("describes the seed workload: its token totals are the seed's prompts times its lengths, and both throughputs imply one duration", () => {
    expect(SEED_BASELINE.totalInputTokens).toBe(SEED_WORKLOAD.numPrompts * SEED_WORKLOAD.inputLen);
    expect(SEED_BASELINE.totalOutputTokens).toBe(SEED_WORKLOAD.numPrompts * SEED_WORKLOAD.outputLen);
    const fromOutput = SEED_BASELINE.totalOutputTokens / SEED_BASELINE.outputThroughput;
    const fromTotal = (SEED_BASELINE.totalInputTokens + SEED_BASELINE.totalOutputTokens) / SEED_BASELINE.totalTokenThroughput;
    expect(Math.abs(fromOutput - fromTotal) / fromOutput).toBeLessThan(0.005);
  });

  it("is a valid baseline that no caller can change under the others", () => {
    expect(validateBaseline(SEED_BASELINE)).toEqual(SEED_BASELINE);
    expect(() => {
      (SEED_BASELINE as { outputThroughput: number }).outputThroughput = 1;
    }).toThrow(TypeError);
    expect(compareToBaseline(seedRun).outputThroughput).toBeCloseTo(1, 2);
  });
});

describe("compareToBaseline", () => {
  it("gives ~1.0 for the seed-like fixture", () => {
    const r = compareToBaseline(seedRun);
    for (const [key, value] of Object.entries(r)) {
      expect(value, key).not.toBeNull();
      expect(Math.abs((value as number) - 1), key).toBeLessThan(0.01);
    }
  });

  it("divides measured by baseline and yields null for a zero baseline", () => {
    const r = compareToBaseline(run({ output_throughput: 616, p99_ttft_ms: 10016 }), { ...SEED_BASELINE, itlP99Ms: 0 });
    expect(r.outputThroughput).toBeCloseTo(0.5, 10);
    expect(r.ttftP99).toBeCloseTo(10016 / 5008, 10);
    expect(r.itlP99).toBeNull();
  });
});

describe("checkThresholds", () => {
  const all = { minOutputThroughput: 1200, minTotalTokenThroughput: 11000, minOutputThroughputRatio: 0.95, maxTtftP99Ms: 6000, maxTpotP99Ms: 30, maxFailedRequests: 0 };

  it("passes the seed-like run against generous limits", () => {
    expect(checkThresholds(seedRun, all)).toEqual([]);
    expect(checkThresholds(seedRun, {})).toEqual([]);
  });

  it("lists EVERY miss with the measured value and the limit", () => {
    const bad = run({ output_throughput: 900.4, total_token_throughput: 8100, p99_ttft_ms: 7200.5, p99_tpot_ms: 41.2, failed: 3 });
    const misses = checkThresholds(bad, all);
    expect(misses).toEqual([
      "output throughput 900.4 tok/s is below the minimum 1,200 tok/s",
      "total token throughput 8,100 tok/s is below the minimum 11,000 tok/s",
      "output throughput 900.4 tok/s is 73.1% of the baseline 1,232 tok/s, below the minimum 95%",
      "p99 TTFT 7,200.5 ms is above the maximum 6,000 ms",
      "p99 TPOT 41.2 ms is above the maximum 30 ms",
      "failed requests 3 of 515 is above the maximum 0",
    ]);
  });

  it("treats a limit exactly met as a pass", () => {
    expect(checkThresholds(run({ output_throughput: 1200, p99_ttft_ms: 6000, failed: 0 }), { minOutputThroughput: 1200, maxTtftP99Ms: 6000, maxFailedRequests: 0 })).toEqual([]);
  });

  it("fails latency maxima on a run where nothing completed (its latencies are 0 by convention)", () => {
    const empty = parseBenchmarkResult(emptyRunResult(512));
    expect(checkThresholds(empty, { maxTtftP99Ms: 6000, maxTpotP99Ms: 30, maxFailedRequests: 0 })).toEqual([
      "p99 TTFT was not measured: no request completed (limit 6,000 ms)",
      "p99 TPOT was not measured: no request completed (limit 30 ms)",
      "failed requests 512 of 512 is above the maximum 0",
    ]);
  });

  it("formats the failure with one line per miss", () => {
    expect(formatThresholdFailure(["a", "b"])).toBe("benchmark missed 2 thresholds:\n  - a\n  - b");
    expect(formatThresholdFailure(["a"])).toBe("benchmark missed 1 threshold:\n  - a");
  });
});

describe("validation", () => {
  it("rejects unknown thresholds and bad values, naming the setting", () => {
    expect(() => validateThresholds({ minOutputTput: 1 } as never)).toThrow(/unknown benchmark threshold "minOutputTput".*minOutputThroughput/);
    expect(() => validateThresholds({ maxTtftP99Ms: -1 })).toThrow(/maxTtftP99Ms.*-1/);
    expect(() => validateThresholds({ minOutputThroughput: Number.NaN })).toThrow(/minOutputThroughput/);
    expect(() => validateThresholds({ maxFailedRequests: 0.5 })).toThrow(/maxFailedRequests.*whole/);
    expect(validateThresholds(undefined)).toEqual({});
  });

  it("rejects a baseline with a negative or missing figure", () => {
    expect(() => validateBaseline({ ...SEED_BASELINE, ttftP99Ms: -5 })).toThrow(/baseline.ttftP99Ms/);
    expect(() => validateBaseline({ ...SEED_BASELINE, itlMeanMs: undefined as unknown as number })).toThrow(/baseline.itlMeanMs/);
    expect(validateBaseline(SEED_BASELINE)).toBe(SEED_BASELINE);
  });
});
