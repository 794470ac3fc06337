import { describe, expect, it } from "vitest";
import {
  bisectionSteps,
  bracketLevels,
  confidenceInterval95,
  estimateLevelSeconds,
  formatCapacityTable,
  goodputSloFor,
  judge,
  parseSloItems,
  planCapacitySearch,
  pointMetricsFromResult,
  resolveSearchSettings,
  searchCapacity,
  sloSearchStop,
  wouldPassTimeCap,
  SEED_SPEED_ESTIMATE,
  summarizeCapacity,
  validateSlo,
  type CapacityPoint,
  type LoadLevel,
  type PointMetrics,
} from "../../../components/benchmark/capacity";
import { parseBenchmarkResult } from "../../../components/benchmark/resultParser";
import { expectedCapacity, expectedLatencies, FAST_TIMING, DEFAULT_TIMING, resolveTiming, type TimingModel } from "../../fixtures/sglang-simulator";

const W = { inputTokens: 64, outputTokens: 24, numPrompts: 48 };

/** A fake `measure`: the simulator's virtual-time replay of the level, in the runner's units. */
function replayMeasure(model: TimingModel, calls: LoadLevel[]) {
  return async (level: LoadLevel): Promise<PointMetrics> => {
    calls.push(level);
    const e = expectedLatencies(model, { ...W, concurrency: level.concurrency });
    return {
      completed: W.numPrompts,
      failed: 0,
      durationS: e.durationS,
      totalInputTokens: W.numPrompts * W.inputTokens,
      totalOutputTokens: W.numPrompts * W.outputTokens,
      requestThroughput: e.requestsPerS,
      outputThroughput: e.outputTokPerS,
      totalTokenThroughput: e.totalTokPerS,
      requestGoodput: undefined,
      ttftMeanMs: e.ttftMs,
      ttftP99Ms: e.p99TtftMs,
      tpotMeanMs: e.tpotMs,
      tpotP99Ms: e.p99TpotMs,
      itlMeanMs: e.itlMs,
      itlP99Ms: e.p99ItlMs,
      e2elMeanMs: e.e2elMs,
      e2elP99Ms: e.p99E2elMs,
    };
  };
}

function metrics(over: Partial<PointMetrics> = {}): PointMetrics {
  return {
    completed: 10, failed: 0, durationS: 10, totalInputTokens: 1000, totalOutputTokens: 100, requestThroughput: 1, outputThroughput: 100, totalTokenThroughput: 1000, requestGoodput: 1,
    ttftMeanMs: 50, ttftP99Ms: 80, tpotMeanMs: 20, tpotP99Ms: 22, itlMeanMs: 20, itlP99Ms: 30, e2elMeanMs: 500, e2elP99Ms: 600, ...over,
  };
}

describe("SLO parsing and goodput", () => {
  it("reads NAME=MS items and refuses anything else naming the item", () => {
    expect(parseSloItems(["ttft_p99_ms=3000", "itl_p99_ms=50"])).toEqual({ ttftP99Ms: 3000, itlP99Ms: 50 });
    expect(() => parseSloItems(["ttft=3000"])).toThrow(/--slo "ttft=3000" is not NAME=MS .*ttft_p99_ms/);
    expect(() => parseSloItems(["ttft_p99_ms=-1"])).toThrow(/MS > 0/);
    expect(() => parseSloItems([])).toThrow(/sets no limit/);
    expect(() => validateSlo({ ttftP99Ms: Number.NaN })).toThrow(/slo\.ttftP99Ms must be a number of milliseconds > 0, got null/);
  });
  it("goodput uses vllm's per-request keys (ttft, tpot, e2el), never ITL", () => {
    expect(goodputSloFor({ ttftP99Ms: 3000, itlP99Ms: 50 })).toEqual({ ttft: 3000 });
    expect(goodputSloFor({ ttftP99Ms: 3000, tpotP99Ms: 30, e2elP99Ms: 60000 })).toEqual({ ttft: 3000, tpot: 30, e2el: 60000 });
    expect(goodputSloFor({ itlP99Ms: 50 })).toBeUndefined();
  });
  it("reads the figures from a parsed vllm result", () => {
    const m = parseBenchmarkResult({
      completed: 8, failed: 0, duration: 2, total_input_tokens: 800, total_output_tokens: 80, request_throughput: 4, request_goodput: 3,
      output_throughput: 40, total_token_throughput: 440, mean_ttft_ms: 10, median_ttft_ms: 9, p99_ttft_ms: 15, mean_tpot_ms: 5, median_tpot_ms: 5,
      p99_tpot_ms: 6, mean_itl_ms: 5, median_itl_ms: 5, p99_itl_ms: 7, mean_e2el_ms: 60, median_e2el_ms: 60, p99_e2el_ms: 70,
    });
    expect(pointMetricsFromResult(m)).toMatchObject({ requestGoodput: 3, ttftP99Ms: 15, tpotMeanMs: 5, itlP99Ms: 7, e2elP99Ms: 70, outputThroughput: 40 });
  });
});

describe("confidence intervals", () => {
  it("mean ± t(0.975, n-1) s/sqrt(n); none from one value", () => {
    const ci = confidenceInterval95([1, 2, 3]);
    // t(0.975, 2) = 4.302653; s = 1
    expect(ci?.low).toBeCloseTo(2 - 4.302653 / Math.sqrt(3), 5);
    expect(ci?.high).toBeCloseTo(2 + 4.302653 / Math.sqrt(3), 5);
    expect(confidenceInterval95([5])).toBeUndefined();
    expect(confidenceInterval95([4, 4, 4])).toEqual({ low: 4, high: 4 });
  });
});

describe("SLO search against the simulator's replay (a known knee)", () => {
  it("admission knee at 12: brackets 1..16, bisects 12, 14, 13; every level measured once and returned", async () => {
    const model = resolveTiming({ ...FAST_TIMING, maxRunningRequests: 12 });
    const slo = { ttftP99Ms: 120, itlP99Ms: 50 };
    const calls: LoadLevel[] = [];
    const r = await searchCapacity({ slo, range: { low: 1, high: 64 }, measure: replayMeasure(model, calls) });
    expect(r.max).toBe(expectedCapacity(model, slo, W, 64).maxConcurrency);
    expect(r.max).toBe(12);
    expect(r.firstMissing).toBe(13);
    expect(r.stop).toBe("resolved");
    expect(calls.map((l) => l.concurrency)).toEqual([1, 2, 4, 8, 16, 12, 14, 13]);
    expect(r.points.map((p) => p.level.concurrency)).toEqual([1, 2, 4, 8, 16, 12, 14, 13]);
    expect(r.points.map((p) => p.order)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(r.points.find((p) => p.level.concurrency === 16)?.misses[0]).toMatch(/^ttft_p99_ms \d+(\.\d)? > 120$/);
    expect(r.atMax?.level).toEqual({ concurrency: 12, requestRate: Infinity, burstiness: 1 });
    expect(r.atMax?.outputTokPerSPerUser).toBeCloseTo(1000 / (8 + 0.05 * 12), 6);
    expect(r.atMax?.outputTokPerSPerGpu).toBeCloseTo((r.atMax?.mean.outputThroughput ?? 0) / 8, 9);
    expect(r.nonMonotone).toBe(false);
  });

  it("decode knee: ITL binds at 6 within a range starting at 3", async () => {
    const model = resolveTiming({ ...FAST_TIMING, maxRunningRequests: 64, decodeKneeBatch: 6, decodePerRunningBeyondKneeMs: 20 });
    const slo = { ttftP99Ms: 1000, itlP99Ms: 20 };
    const calls: LoadLevel[] = [];
    const r = await searchCapacity({ slo, range: { low: 3, high: 40 }, measure: replayMeasure(model, calls), gpus: 2 });
    expect(r.max).toBe(expectedCapacity(model, slo, W, 40).maxConcurrency);
    expect(r.max).toBe(6);
    expect(calls.map((l) => l.concurrency)).toEqual([3, 6, 12, 9, 7]);
    expect(r.atMax?.totalTokPerSPerGpu).toBeCloseTo((r.atMax?.mean.totalTokenThroughput ?? 0) / 2, 9);
  });

  it("a coarser resolution stops bisecting earlier", async () => {
    const model = resolveTiming({ ...FAST_TIMING, maxRunningRequests: 12 });
    const calls: LoadLevel[] = [];
    const r = await searchCapacity({ slo: { ttftP99Ms: 120 }, range: { low: 1, high: 64 }, resolution: 4, measure: replayMeasure(model, calls) });
    expect(calls.map((l) => l.concurrency)).toEqual([1, 2, 4, 8, 16, 12]);
    expect(r.max).toBe(12);
    expect(r.firstMissing).toBe(16);
  });

  it("the ends of the range: top met, bottom missed", async () => {
    const model = resolveTiming({ ...FAST_TIMING, maxRunningRequests: 12 });
    const high = await searchCapacity({ slo: { ttftP99Ms: 120 }, range: { low: 2, high: 10 }, measure: replayMeasure(model, []) });
    expect(high).toMatchObject({ stop: "range-high-met", max: 10, firstMissing: undefined });
    expect(high.points.map((p) => p.level.concurrency)).toEqual([2, 4, 8, 10]);
    const low = await searchCapacity({ slo: { ttftP99Ms: 120 }, range: { low: 16, high: 64 }, measure: replayMeasure(model, []) });
    expect(low).toMatchObject({ stop: "range-low-missed", max: undefined, firstMissing: 16 });
    expect(low.points).toHaveLength(1);
  });
});

describe("search bookkeeping", () => {
  const verdictAt = (passUpTo: number, except: number[] = []) => async (level: LoadLevel) =>
    metrics({ ttftP99Ms: level.concurrency <= passUpTo && !except.includes(level.concurrency) ? 50 : 500 });

  it("repeats: mean verdict and a 95% interval per figure", async () => {
    let n = 0;
    const r = await searchCapacity({
      slo: { ttftP99Ms: 100 },
      range: { low: 4, high: 4 },
      repeats: 3,
      measure: async () => metrics({ ttftP99Ms: [60, 90, 120][n++ % 3], outputThroughput: [90, 100, 110][(n - 1) % 3] }),
    });
    const p = r.points[0];
    expect(p.repeats).toHaveLength(3);
    expect(p.mean.ttftP99Ms).toBe(90);
    expect(p.meetsSlo).toBe(true);
    expect(p.ci95.outputThroughput?.low).toBeCloseTo(100 - 4.302653 * 10 / Math.sqrt(3), 4);
    expect(p.ci95.ttftP99Ms?.high).toBeGreaterThan(120);
  });

  it("failed requests make a level miss", async () => {
    const r = await searchCapacity({ slo: { ttftP99Ms: 100 }, range: { low: 1, high: 8 }, measure: async (l) => metrics({ failed: l.concurrency >= 4 ? 1 : 0 }) });
    expect(r.max).toBe(3);
    expect(r.points.find((p) => p.level.concurrency === 4)?.misses).toEqual(["1 failed request(s)"]);
  });

  it("reuses known points and never measures a level twice", async () => {
    const first = await searchCapacity({ slo: { ttftP99Ms: 100 }, range: { low: 1, high: 16 }, resolution: 4, measure: verdictAt(10) });
    expect(first.points.map((p) => p.level.concurrency)).toEqual([1, 2, 4, 8, 16, 12]);
    const calls: number[] = [];
    const second = await searchCapacity({
      slo: { ttftP99Ms: 100 },
      range: { low: 1, high: 16 },
      known: first.points,
      measure: async (l) => {
        calls.push(l.concurrency);
        return verdictAt(10)(l);
      },
    });
    expect(calls).toEqual([10, 11]);
    expect(second.max).toBe(10);
    expect(second.points).toHaveLength(8);
  });

  it("non-monotone verdicts: the answer stays below the lowest miss", async () => {
    const points = [
      { c: 4, ok: true },
      { c: 8, ok: false },
      { c: 12, ok: true },
    ].map((x, i) => ({ level: { concurrency: x.c, requestRate: Infinity, burstiness: 1 }, order: i, meetsSlo: x.ok }) as unknown as CapacityPoint);
    expect(judge(points, "concurrency")).toEqual({ max: 4, firstMissing: 8, nonMonotone: true });
  });

  it("the time cap: a level that would overrun is not started, and the answer is a lower bound", async () => {
    let clock = 0;
    const r = await searchCapacity({
      slo: { ttftP99Ms: 100 },
      range: { low: 1, high: 64 },
      maxDurationS: 35,
      estimateLevelS: () => 10,
      now: () => clock,
      measure: async (l) => {
        clock += 10;
        return verdictAt(40)(l);
      },
    });
    expect(r.stop).toBe("time-cap");
    expect(r.points.map((p) => p.level.concurrency)).toEqual([1, 2, 4]);
    expect(r.max).toBe(4);
    expect(r.elapsedS).toBe(30);
  });

  it("the time cap learns from measured levels: twice as slow as estimated stops sooner", async () => {
    let clock = 0;
    const r = await searchCapacity({
      slo: { ttftP99Ms: 100 },
      range: { low: 1, high: 64 },
      maxDurationS: 50,
      estimateLevelS: () => 10,
      now: () => clock,
      measure: async (l, info) => {
        expect(info.remainingS).toBe(50 - clock);
        clock += 20;
        return verdictAt(40)(l);
      },
    });
    expect(r.points).toHaveLength(2);
  });

  it("an abort drops the level in flight and reports the levels before it", async () => {
    const controller = new AbortController();
    const r = await searchCapacity({
      slo: { ttftP99Ms: 100 },
      range: { low: 1, high: 64 },
      signal: controller.signal,
      measure: async (l) => {
        if (l.concurrency === 8) controller.abort();
        return verdictAt(40)(l);
      },
    });
    expect(r.stop).toBe("interrupted");
    expect(r.points.map((p) => p.level.concurrency)).toEqual([1, 2, 4]);
    expect(r.max).toBe(4);
    expect(formatCapacityTable(summarizeCapacity(r)).split("\n").at(-1)).toBe("capacity.maxConcurrency: 4 (interrupted: a bound from the levels measured before the interruption)");
  });

  it("a request-rate search bisects continuously at a fixed concurrency cap", async () => {
    const levels: LoadLevel[] = [];
    const r = await searchCapacity({
      axis: "requestRate",
      slo: { ttftP99Ms: 100 },
      range: { low: 1, high: 16 },
      resolution: 0.5,
      fixed: { concurrency: 64, burstiness: 0.5 },
      measure: async (l) => {
        levels.push(l);
        return metrics({ ttftP99Ms: l.requestRate <= 5.3 ? 50 : 500 });
      },
    });
    expect(levels.map((l) => l.requestRate)).toEqual([1, 2, 4, 8, 6, 5, 5.5]);
    expect(levels.every((l) => l.concurrency === 64 && l.burstiness === 0.5)).toBe(true);
    expect(r.max).toBe(5);
  });

  it("without SLOs it sweeps (the bracket levels or a given list) and judges nothing", async () => {
    const r = await searchCapacity({ range: { low: 1, high: 8 }, measure: async () => metrics() });
    expect(r.points.map((p) => p.level.concurrency)).toEqual([1, 2, 4, 8]);
    expect(r).toMatchObject({ stop: "sweep-only", max: undefined });
    const list = await searchCapacity({ axis: "requestRate", range: { low: 1, high: 8 }, sweep: [1, 3, 8], measure: async () => metrics() });
    expect(list.points.map((p) => p.level.requestRate)).toEqual([1, 3, 8]);
  });

  it("refuses bad ranges and options naming the fix", async () => {
    const measure = async () => metrics();
    await expect(searchCapacity({ range: { low: 0, high: 4 }, measure })).rejects.toThrow(/concurrency range 0:4 .*--concurrency-range 1:256/);
    await expect(searchCapacity({ range: { low: 1.5, high: 4 }, measure })).rejects.toThrow(/whole numbers/);
    await expect(searchCapacity({ range: { low: 8, high: 4 }, measure })).rejects.toThrow(/LOW ≤ HIGH/);
    await expect(searchCapacity({ range: { low: 1, high: 4 }, repeats: 0, measure })).rejects.toThrow(/repeats/);
    await expect(searchCapacity({ range: { low: 1, high: 4 }, maxDurationS: 10, measure })).rejects.toThrow(/estimateLevelS/);
  });
});

describe("search steps", () => {
  const measure = (): Promise<PointMetrics> => Promise.reject(new Error("not measured"));

  it("defaults the resolution to 1 for concurrency and low/8 for a rate, and refuses a cap without an estimate", () => {
    expect(resolveSearchSettings({ range: { low: 4, high: 64 }, measure })).toMatchObject({ axis: "concurrency", resolution: 1, repeats: 1, gpus: 8, cap: undefined });
    expect(resolveSearchSettings({ axis: "requestRate", range: { low: 2, high: 16 }, measure }).resolution).toBe(0.25);
    expect(() => resolveSearchSettings({ range: { low: 1, high: 8 }, maxDurationS: 60, measure })).toThrow(/maxDurationS needs .* estimateLevelS/);
    expect(() => resolveSearchSettings({ range: { low: 1, high: 8 }, repeats: 0, measure })).toThrow(/repeats must be a whole number ≥ 1, got 0/);
  });

  it("scales a level's estimate by how measured levels ran against theirs", () => {
    // Nothing measured yet: the raw estimate (50 s after 30 s elapsed) fits a 100 s cap.
    expect(wouldPassTimeCap(30, 50, 0, 0, 100)).toBe(false);
    // Levels ran twice as long as estimated: the same level now needs 100 s and passes the cap.
    expect(wouldPassTimeCap(30, 50, 40, 20, 100)).toBe(true);
  });

  it("says why the SLO search ended, an abort or the cap first", () => {
    expect(sloSearchStop(true, true, 8, 16)).toBe("interrupted");
    expect(sloSearchStop(false, true, 8, undefined)).toBe("time-cap");
    expect(sloSearchStop(false, false, undefined, 1)).toBe("range-low-missed");
    expect(sloSearchStop(false, false, 256, undefined)).toBe("range-high-met");
    expect(sloSearchStop(false, false, 12, 13)).toBe("resolved");
  });
});

describe("plan", () => {
  it("bracket levels and bisection steps", () => {
    expect(bracketLevels("concurrency", 1, 256)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256]);
    expect(bracketLevels("concurrency", 3, 20)).toEqual([3, 6, 12, 20]);
    expect(bisectionSteps("concurrency", 128, 1)).toBe(7);
    expect(bisectionSteps("concurrency", 8, 4)).toBe(1);
    expect(bisectionSteps("requestRate", 8, 0.5)).toBe(4);
  });

  it("the level estimate matches the simulator's replay of the seed workload", () => {
    const seed = { inputLen: 8192, outputLen: 1024, numPrompts: 512, warmupRequests: 0 };
    const level = { concurrency: 32, requestRate: Infinity, burstiness: 1 };
    const replay = expectedLatencies(DEFAULT_TIMING, { inputTokens: 8192, outputTokens: 1024, concurrency: 32, numPrompts: 512 });
    expect(Math.abs(estimateLevelSeconds(level, seed) - replay.durationS) / replay.durationS).toBeLessThan(0.02);
    expect(estimateLevelSeconds(level, { ...seed, warmupRequests: 32 })).toBeCloseTo(estimateLevelSeconds(level, seed) * (17 / 16), 6);
    // a request rate below capacity stretches the run to numPrompts / rate
    expect(estimateLevelSeconds({ ...level, requestRate: 0.5 }, seed)).toBeGreaterThan(1024);
    expect(SEED_SPEED_ESTIMATE.maxRunning).toBe(DEFAULT_TIMING.maxRunningRequests);
  });

  it("worst case: every bracket level plus the widest bisection, priced", () => {
    const plan = planCapacitySearch({
      range: { low: 1, high: 256 },
      workload: { inputLen: 8192, outputLen: 1024, numPrompts: 512, warmupRequests: 32 },
      hourlyPriceUsd: 40,
      maxDurationS: 3600,
    });
    expect(plan.bracketLevels.map((l) => l.x)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256]);
    expect(plan.maxBisectionLevels).toBe(7);
    expect(plan.maxLevels).toBe(16);
    const bracketS = plan.bracketLevels.reduce((a, l) => a + l.estimatedS, 0);
    expect(plan.worstCaseS).toBeCloseTo(bracketS + 7 * plan.bracketLevels[8].estimatedS, 6);
    expect(plan.worstCaseCostUsd).toBeCloseTo((plan.worstCaseS / 3600) * 40, 9);
    expect(plan.fitsCap).toBe(false);
    const noSlo = planCapacitySearch({ range: { low: 1, high: 4 }, workload: { inputLen: 10, outputLen: 10, numPrompts: 4, warmupRequests: 0 }, withSlo: false });
    expect(noSlo.maxBisectionLevels).toBe(0);
    expect(noSlo.fitsCap).toBe(true);
  });
});
