import { describe, expect, it } from "vitest";
import {
  computeMetrics,
  mean,
  median,
  peakPerSecond,
  percentile,
  percentileLabel,
  populationStd,
  latencySummary,
  type RequestTiming,
} from "../../../../components/benchmark/runner/stats";

describe("statistics (numpy semantics)", () => {
  it("mean, median, population std and interpolated percentiles match hand-computed values", () => {
    const xs = [4, 1, 3, 2];
    expect(mean(xs)).toBe(2.5);
    expect(median(xs)).toBe(2.5);
    expect(populationStd(xs)).toBeCloseTo(Math.sqrt(1.25), 12);
    expect(percentile(xs, 99)).toBeCloseTo(3.97, 12); // rank 2.97 between 3 and 4
    expect(percentile(xs, 25)).toBeCloseTo(1.75, 12); // rank 0.75
    expect(percentile(xs, 100)).toBe(4);
    expect(percentile([10, 2, 33], 50)).toBe(10); // numeric, not string, order
    expect(percentile([7], 99)).toBe(7);
  });

  it("reports 0 for every statistic of an empty list", () => {
    expect(mean([])).toBe(0);
    expect(median([])).toBe(0);
    expect(populationStd([])).toBe(0);
    expect(percentile([], 99)).toBe(0);
    expect(latencySummary([], [50, 99])).toEqual({ mean: 0, median: 0, std: 0, percentiles: [[50, 0], [99, 0]] });
  });

  it("spells percentile labels like vllm", () => {
    expect(percentileLabel(99)).toBe("99");
    expect(percentileLabel(99.9)).toBe("99.9");
  });
});

describe("computeMetrics", () => {
  const a: RequestTiming = { success: true, promptLen: 100, outputTokens: 4, ttftMs: 50, itlMs: [10, 20, 30], latencyMs: 110, startMs: 0 };
  const b: RequestTiming = { success: true, promptLen: 200, outputTokens: 1, ttftMs: 80, itlMs: [], latencyMs: 80, startMs: 5 };
  const failed: RequestTiming = { success: false, promptLen: 300, outputTokens: 0, ttftMs: 0, itlMs: [], latencyMs: 0, startMs: 1 };

  it("counts only successful requests and derives throughputs from the duration", () => {
    const m = computeMetrics([a, b, failed], 1000, [99]);
    expect(m.completed).toBe(2);
    expect(m.failed).toBe(1);
    expect(m.durationS).toBe(1);
    expect(m.totalInputTokens).toBe(300);
    expect(m.totalOutputTokens).toBe(5);
    expect(m.requestThroughput).toBe(2);
    expect(m.outputThroughput).toBe(5);
    expect(m.totalTokenThroughput).toBe(305);
    expect(m.requestGoodput).toBeUndefined();
  });

  it("takes TPOT only from requests with more than one output token, and pools ITL", () => {
    const m = computeMetrics([a, b, failed], 1000, [99]);
    expect(m.tpot.mean).toBe(20); // (110 - 50) / (4 - 1)
    expect(m.itl.mean).toBe(20);
    expect(m.itl.median).toBe(20);
    expect(m.itl.std).toBeCloseTo(Math.sqrt(200 / 3), 12);
    expect(m.ttft.mean).toBe(65);
    expect(m.ttft.percentiles).toEqual([[99, expect.closeTo(79.7, 10)]]);
    expect(m.e2el.mean).toBe(95);
  });

  it("computes goodput with vllm's rule (TPOT 0 for single-token outputs)", () => {
    expect(computeMetrics([a, b], 1000, [99], { ttft: 60 }).requestGoodput).toBe(1);
    expect(computeMetrics([a, b], 1000, [99], { tpot: 10 }).requestGoodput).toBe(1);
    expect(computeMetrics([a, b], 2000, [99], { e2el: 200 }).requestGoodput).toBe(1);
  });

  it("finds the peak 1-second bucket of token events and of active requests", () => {
    expect(peakPerSecond([a, b])).toEqual({ maxTokensPerS: 5, maxConcurrent: 2 });
    const late: RequestTiming = { ...a, startMs: 1500 };
    expect(peakPerSecond([a, late])).toEqual({ maxTokensPerS: 4, maxConcurrent: 1 });
    expect(peakPerSecond([])).toEqual({ maxTokensPerS: 0, maxConcurrent: 0 });
  });

  it("is all zeros when nothing succeeded", () => {
    const m = computeMetrics([failed], 500, [99]);
    expect(m.completed).toBe(0);
    expect(m.outputThroughput).toBe(0);
    expect(m.ttft.mean).toBe(0);
    expect(m.maxOutputTokensPerS).toBe(0);
  });
});
