/**
 * Comparison of runs: deltas per figure, marked beyond run-to-run noise (measured from the capacity search's repeats,
 * else the stated default); the run history kept in state (provider methods called directly); the Markdown section.
 */
import { describe, expect, it } from "vitest";
import type { CapacitySummary, CapacitySummaryPoint } from "../../../components/benchmark/capacity";
import { comparableFromStackOutput, comparableRun, compareRuns, DEFAULT_NOISE, renderComparisonMarkdown } from "../../../components/benchmark/comparison";
import { BenchmarkHistoryProvider, historyAfterUpdate } from "../../../components/benchmark/history";
import { parseBenchmarkResult, summarize, type BenchmarkSummary } from "../../../components/benchmark/results";
import { seedResult } from "../../fixtures/benchmark/results";

const seed = (over: Record<string, unknown> = {}): BenchmarkSummary => summarize(parseBenchmarkResult({ ...seedResult(), ...over }));

function point(concurrency: number, over: Partial<CapacitySummaryPoint> = {}): CapacitySummaryPoint {
  return {
    order: 0, concurrency, requestRate: "inf", burstiness: 1, meetsSlo: true, misses: [], repeats: 3, completed: 64, failed: 0, durationS: 10, inputTokens: 1, outputTokens: 1,
    requestsPerS: 6, outputTokPerS: 1000, totalTokPerS: 9000, goodput: 5, ttftMeanMs: 100, ttftP99Ms: 200, itlMeanMs: 20, itlP99Ms: 30, tpotMeanMs: 20, tpotP99Ms: 25,
    e2elMeanMs: null, e2elP99Ms: null, outputTokPerSPerUser: 50, outputTokPerSPerGpu: 125, totalTokPerSPerGpu: 1125, ci95: {}, wallS: 10, ...over,
  };
}

function capacity(max: number, points: CapacitySummaryPoint[]): CapacitySummary {
  const at = points.find((p) => p.concurrency === max);
  return {
    axis: "concurrency", slo: { ttft_p99_ms: 3000 }, maxConcurrency: max, maxRequestRate: null, resolved: true, stop: "resolved", firstMissing: max + 1, nonMonotone: false,
    atMax: at ? { outputTokPerS: at.outputTokPerS, totalTokPerS: at.totalTokPerS, outputTokPerSPerUser: at.outputTokPerSPerUser, outputTokPerSPerGpu: at.outputTokPerSPerGpu, totalTokPerSPerGpu: at.totalTokPerSPerGpu, goodput: at.goodput } : null,
    points, elapsedS: 100,
  };
}

describe("compareRuns", () => {
  it("marks a delta beyond the default noise (5% throughput → √2·5% ≈ 7.1% combined) and leaves a smaller one within noise", () => {
    const before = comparableRun("before", seed());
    const slower = comparableRun("after", seed({ output_throughput: 1232.5 * 0.9, p99_ttft_ms: 5008 * 1.05 }));
    const c = compareRuns(slower, before);
    const out = c.deltas.find((d) => d.key === "outputThroughput");
    expect(out).toMatchObject({ verdict: "worse", exceedsNoise: true, noiseSource: "default" });
    expect(out?.noise).toBeCloseTo(Math.sqrt(2) * DEFAULT_NOISE.outputThroughput, 12);
    expect(out?.relative).toBeCloseTo(-0.1, 3);
    // p99 TTFT up 5%: within the p99 default (10% each → 14.1%)
    expect(c.deltas.find((d) => d.key === "ttftP99Ms")).toMatchObject({ verdict: "within noise", exceedsNoise: false });
    expect(c.regressions).toEqual(["output throughput"]);
    // Lower latency is better: a 30% faster p99 TTFT is "better", not a regression.
    const faster = compareRuns(comparableRun("after", seed({ p99_ttft_ms: 5008 * 0.7 })), before);
    expect(faster.deltas.find((d) => d.key === "ttftP99Ms")?.verdict).toBe("better");
    expect(faster.regressions).toEqual([]);
  });

  it("uses the noise the search measured: tight repeats mark a 3% drop, wide ones hide a 10% drop", () => {
    const fixed = seed();
    const tight = capacity(32, [point(32, { ci95: { outputThroughput: [990, 1010] } })]);
    const wide = capacity(32, [point(32, { ci95: { outputThroughput: [800, 1200] } })]);
    const runBefore = (c: CapacitySummary) => comparableRun("b", fixed, c);
    const runAfter = (c: CapacitySummary, factor: number) => comparableRun("a", seed({ output_throughput: 1232.5 * factor }), c);
    // the fixed run is at concurrency 32 (the seed's), where the search measured the interval: 1% half-width
    expect(runBefore(tight).noise.outputThroughput).toBeCloseTo(0.01, 12);
    const t = compareRuns(runAfter(tight, 0.97), runBefore(tight)).deltas.find((d) => d.key === "outputThroughput");
    expect(t).toMatchObject({ verdict: "worse", noiseSource: "measured" });
    expect(t?.noise).toBeCloseTo(Math.sqrt(2) * 0.01, 12);
    const w = compareRuns(runAfter(wide, 0.9), runBefore(wide)).deltas.find((d) => d.key === "outputThroughput");
    expect(w).toMatchObject({ verdict: "within noise", noiseSource: "measured" });
  });

  it("compares the capacity answer and the figures at it; only figures both runs have", () => {
    const before = comparableRun("b", seed(), capacity(64, [point(64)]));
    const after = comparableRun("a", seed(), capacity(48, [point(48, { outputTokPerS: 800 })]));
    const c = compareRuns(after, before);
    expect(c.deltas.find((d) => d.key === "capacity.maxConcurrency")).toMatchObject({ before: 64, after: 48, verdict: "worse" });
    expect(c.deltas.find((d) => d.key === "capacity.outputTokPerS")).toMatchObject({ before: 1000, after: 800, verdict: "worse" });
    const noCapacity = compareRuns(comparableRun("a", seed()), before);
    expect(noCapacity.deltas.some((d) => d.key.startsWith("capacity."))).toBe(false);
  });

  it("reads another stack's benchmark output, or says why not", () => {
    expect(comparableFromStackOutput("org/p/prod", undefined)).toEqual({ problem: expect.stringContaining("stack org/p/prod has no benchmark.metrics output") });
    expect(comparableFromStackOutput("prod", { metrics: { completed: 3 } })).toHaveProperty("problem");
    const found = comparableFromStackOutput("prod", JSON.parse(JSON.stringify({ metrics: seed(), capacity: capacity(64, [point(64)]) })));
    expect("run" in found && found.run.figures["capacity.maxConcurrency"]).toBe(64);
  });

  it("renders a table per comparison with regressions in bold and the noise rule stated", () => {
    const c = compareRuns(comparableRun("now", seed({ output_throughput: 1000 })), comparableRun("dev, 2026-11-28", seed()));
    const md = renderComparisonMarkdown({ previous: c, reference: null, notes: ["No reference comparison: x."] });
    expect(md).toContain("### Against this stack's previous run: dev, 2026-11-28");
    expect(md).toContain("**Worse beyond noise: output throughput.**");
    expect(md).toMatch(/\| output throughput \(tok\/s\) \| 1233 \| 1000 \| -233 \| -18\.9% \| 7\.1 \(default\) \| \*\*worse\*\* \|/);
    expect(md).toContain("- No reference comparison: x.");
    expect(md).toContain("10% for p99 latencies");
  });
});

describe("BenchmarkHistory (provider methods)", () => {
  const provider = new BenchmarkHistoryProvider();

  it("creates with no previous run; an update moves the recorded run to previous; an unchanged run changes nothing", async () => {
    const created = await provider.create({ current: "run-1" });
    expect(created.outs).toEqual({ current: "run-1", previous: "" });
    expect((await provider.diff("id", created.outs, { current: "run-1" })).changes).toBe(false);
    expect((await provider.diff("id", created.outs, { current: "run-2" })).changes).toBe(true);
    const second = (await provider.update("id", created.outs, { current: "run-2" })).outs;
    expect(second).toEqual({ current: "run-2", previous: "run-1" });
    const third = (await provider.update("id", second, { current: "run-3" })).outs;
    expect(third).toEqual({ current: "run-3", previous: "run-2" });
    expect(historyAfterUpdate(third, { current: "run-3" })).toEqual(third);
  });

  it("refuses a current that is not a string", async () => {
    const r = await provider.check({ current: "" }, { current: 3 as unknown as string });
    expect(r.failures).toEqual([{ property: "current", reason: expect.stringContaining("JSON string") }]);
  });
});
