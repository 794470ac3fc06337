import { describe, expect, it } from "vitest";
import {
  DEFAULT_TIMING,
  FAST_TIMING,
  decodeStepMs,
  designedKnee,
  expectedCapacity,
  expectedLatencies,
  expectedLevel,
  resolveTiming,
} from "../../fixtures/sglang-simulator";
import { expectedRateCapacity, expectedRateLevel, saturationRate } from "../../fixtures/sglang-simulator/capacity";
import { prefillMs, serverPromptTokens } from "../../fixtures/sglang-simulator/timing";

const SMALL = { inputTokens: 64, outputTokens: 24, numPrompts: 48 };

describe("decode knee", () => {
  it("adds the steeper slope only past decodeKneeBatch, and nothing by default", () => {
    const model = resolveTiming({ ...FAST_TIMING, decodeKneeBatch: 6, decodePerRunningBeyondKneeMs: 10 });
    expect(decodeStepMs(model, 6)).toBeCloseTo(8 + 0.05 * 6, 9);
    expect(decodeStepMs(model, 8)).toBeCloseTo(8 + 0.05 * 8 + 2 * 10, 9);
    expect(decodeStepMs(DEFAULT_TIMING, 500)).toBeCloseTo(20 + 0.125 * 500, 9);
  });
  it("the scheduler steps at the knee's cost (replayed TPOT = step)", () => {
    const model = resolveTiming({ ...FAST_TIMING, decodeKneeBatch: 4, decodePerRunningBeyondKneeMs: 5 });
    const e = expectedLatencies(model, { inputTokens: 64, outputTokens: 20, concurrency: 6, numPrompts: 6 });
    expect(e.tpotMs).toBeCloseTo(decodeStepMs(model, 6), 6);
    expect(e.p99ItlMs).toBeCloseTo(decodeStepMs(model, 6), 6);
  });
  it("validates the new fields", () => {
    expect(() => resolveTiming({ decodeKneeBatch: 0 })).toThrow(/decodeKneeBatch must be an integer >= 1, got 0/);
    expect(() => resolveTiming({ decodePerRunningBeyondKneeMs: -1 })).toThrow(/decodePerRunningBeyondKneeMs .*-1/);
  });
  it("keeps the seed calibration: p99 figures at the seed workload equal the means (lock-step waves)", () => {
    const e = expectedLatencies(DEFAULT_TIMING, { inputTokens: 8192, outputTokens: 1024, concurrency: 32, numPrompts: 512 });
    expect(e.p99TtftMs).toBeCloseTo(1825, 0);
    expect(e.p99TpotMs).toBeCloseTo(24, 6);
    expect(e.p99ItlMs).toBeCloseTo(24, 6);
  });
});

describe("expected capacity", () => {
  it("an admission knee: the replay and the closed form agree on maxRunningRequests", () => {
    const model = resolveTiming({ ...FAST_TIMING, maxRunningRequests: 12 });
    const slo = { ttftP99Ms: 120, itlP99Ms: 50 };
    const replay = expectedCapacity(model, slo, SMALL, 32);
    expect(replay.maxConcurrency).toBe(12);
    expect(replay.firstMissing).toBe(13);
    expect(replay.levels.at(-1)?.misses).toEqual(["ttftP99Ms"]);
    // below the knee TTFT is the prefill alone; past it a queued request waits a whole generation
    expect(replay.levels[11].p99TtftMs).toBeCloseTo(20 + 0.01 * 72, 6);
    expect(replay.levels[12].p99TtftMs).toBeGreaterThan(150);
    expect(designedKnee(model, slo, SMALL, 32)).toBe(12);
  });
  it("a decode knee: ITL binds before admission does", () => {
    const model = resolveTiming({ ...FAST_TIMING, maxRunningRequests: 32, decodeKneeBatch: 6, decodePerRunningBeyondKneeMs: 20 });
    const slo = { ttftP99Ms: 500, itlP99Ms: 20 };
    expect(expectedCapacity(model, slo, SMALL, 40).maxConcurrency).toBe(6);
    expect(designedKnee(model, slo, SMALL, 40)).toBe(6);
    expect(expectedLevel(model, slo, SMALL, 7).misses).toEqual(["itlP99Ms"]);
  });
  it("TPOT and E2EL SLOs, and no level meeting them", () => {
    const model = resolveTiming({ ...FAST_TIMING, maxRunningRequests: 64 });
    const slo = { ttftP99Ms: 1000, tpotP99Ms: 8 + 0.05 * 20, e2elP99Ms: 10_000 };
    expect(expectedCapacity(model, slo, SMALL, 40).maxConcurrency).toBe(20);
    expect(designedKnee(model, slo, SMALL, 40)).toBe(20);
    expect(expectedCapacity(model, { ttftP99Ms: 5 }, SMALL, 8)).toMatchObject({ maxConcurrency: 0, firstMissing: 1 });
    expect(designedKnee(model, { ttftP99Ms: 5 }, SMALL, 8)).toBe(0);
    expect(expectedCapacity(model, { e2elP99Ms: 1e9 }, SMALL, 5)).toMatchObject({ maxConcurrency: 5, firstMissing: undefined });
  });
  it("rejects a closed form it cannot give", () => {
    expect(() => designedKnee(resolveTiming({ ...FAST_TIMING, maxRunningRequests: 4 }), { itlP99Ms: 50 }, SMALL, 10)).toThrow(/TTFT SLO/);
    expect(() => expectedCapacity(FAST_TIMING, {}, SMALL, 0)).toThrow(/upTo/);
  });
});

describe("the rate a rate sweep should find (open loop, the runner's arrivals)", () => {
  const model = resolveTiming({ ...DEFAULT_TIMING, maxRunningRequests: 8 });
  const workload = { inputTokens: 512, outputTokens: 64, numPrompts: 64 };
  const prefill = prefillMs(model, serverPromptTokens(model, workload.inputTokens));

  it("well below saturation a request is admitted at once: p99 TTFT = prefill; far above, it queues", () => {
    const mu = saturationRate(model, workload);
    const low = expectedRateLevel(model, {}, workload, mu / 8);
    const high = expectedRateLevel(model, {}, workload, mu * 4);
    expect(low.p99TtftMs).toBeCloseTo(prefill, 6);
    expect(high.p99TtftMs).toBeGreaterThan(prefill + 1000);
  });

  it("finds the highest rate below the first miss, between a quarter of and the saturation rate for a TTFT SLO above prefill", () => {
    const mu = saturationRate(model, workload);
    const rates = [0.25, 0.5, 0.75, 1, 1.5, 2].map((f) => Number((f * mu).toFixed(3)));
    const answer = expectedRateCapacity(model, { ttftP99Ms: prefill + 600 }, workload, rates);
    expect(answer.maxRate).toBeGreaterThanOrEqual(rates[0]);
    expect(answer.maxRate).toBeLessThanOrEqual(rates[3]);
    expect(answer.firstMissing).toBe(rates[rates.indexOf(answer.maxRate) + 1]);
    // Monotone in the replayed levels up to the miss: p99 TTFT never falls as the rate rises.
    const ttfts = answer.levels.map((l) => l.p99TtftMs);
    expect([...ttfts].sort((a, b) => a - b)).toEqual(ttfts);
  });

  it("the same seed gives the same schedule, so the same answer; the rates must be finite and positive", () => {
    const slo = { ttftP99Ms: prefill + 600 };
    const rates = [1, 2, 4, 8, 16];
    expect(expectedRateCapacity(model, slo, workload, rates)).toEqual(expectedRateCapacity(model, slo, workload, [...rates].reverse()));
    expect(() => expectedRateCapacity(model, slo, workload, [1, Infinity])).toThrow(/finite numbers > 0/);
  });
});
