/**
 * The deployment plan: replicas, $/h, $/1M tokens and headroom from a measured capacity curve. The curve is a
 * search's own output over a ground-truth model with a known knee and a known per-request cost (tokens per request
 * fixed, throughput linear in concurrency up to the knee), so every figure can be computed by hand.
 */
import { describe, expect, it } from "vitest";
import { searchCapacity, summarizeCapacity, type CapacitySummary, type PointMetrics } from "../../../components/benchmark/capacity";
import { deploymentPlan, formatDeploymentPlan, interpolate } from "../../../components/benchmark/deploymentPlan";

const KNEE = 12;
const IN = 512;
const OUT = 64;
/** Per user: 1 request/s of IN in and OUT out while under the knee; p99 TTFT jumps past the SLO above it. */
function groundTruth(c: number): PointMetrics {
  const rps = Math.min(c, KNEE);
  return {
    completed: 10 * c, failed: 0, durationS: 10, totalInputTokens: 10 * c * IN, totalOutputTokens: 10 * c * OUT,
    requestThroughput: rps, outputThroughput: rps * OUT, totalTokenThroughput: rps * (IN + OUT), requestGoodput: rps,
    ttftMeanMs: 50, ttftP99Ms: c > KNEE ? 5000 : 100, tpotMeanMs: 20, tpotP99Ms: 25, itlMeanMs: 20, itlP99Ms: 30, e2elMeanMs: 1000, e2elP99Ms: 1500,
  };
}

let cached: CapacitySummary | undefined;
async function curve(): Promise<CapacitySummary> {
  cached ??= summarizeCapacity(await searchCapacity({ slo: { ttftP99Ms: 1000 }, range: { low: 1, high: 64 }, measure: async (l) => groundTruth(l.concurrency) }));
  return cached;
}

const PRICE = 39.92;

describe("deploymentPlan", () => {
  it("the search finds the known knee", async () => {
    expect((await curve()).maxConcurrency).toBe(KNEE);
  });

  it("a target of 3× the knee: 3 replicas, $ = price × replicas ÷ throughput, no headroom", async () => {
    const p = deploymentPlan({ capacity: await curve(), target: { users: 3 * KNEE }, replicaHourlyPriceUsd: PRICE });
    expect(p).toMatchObject({ replicas: 3, scalingEfficiency: 1, scalingEfficiencySource: "assumed", perReplicaCapacity: KNEE, fleetCapacity: 3 * KNEE, perReplicaLoad: KNEE });
    expect(p.headroom).toBeCloseTo(0, 12);
    const fleetOut = 3 * KNEE * OUT;
    const fleetTotal = 3 * KNEE * (IN + OUT);
    expect(p.outputTokPerS).toBeCloseTo(fleetOut, 9);
    expect(p.totalTokPerS).toBeCloseTo(fleetTotal, 9);
    expect(p.hourlyCostUsd).toBeCloseTo(PRICE * 3, 12);
    expect(p.costPerMillionOutputTokens).toBeCloseTo((PRICE * 3 * 1e6) / (fleetOut * 3600), 9);
    expect(p.costPerMillionTotalTokens).toBeCloseTo((PRICE * 3 * 1e6) / (fleetTotal * 3600), 9);
    expect(p.notes.join("\n")).toMatch(/Scaling efficiency assumed 1[^]*Headroom 0%[^]*4 replicas give 33%/);
  });

  it("with a measured efficiency below 1 the same target needs 4 replicas, and the $ figures follow", async () => {
    const e = 0.9;
    const p = deploymentPlan({ capacity: await curve(), target: { users: 3 * KNEE }, replicaHourlyPriceUsd: PRICE, scalingEfficiency: e });
    expect(p).toMatchObject({ replicas: 4, scalingEfficiency: e, scalingEfficiencySource: "measured" });
    expect(p.fleetCapacity).toBeCloseTo(4 * e * KNEE, 9);
    expect(p.headroom).toBeCloseTo((4 * e * KNEE) / (3 * KNEE) - 1, 9);
    // Each replica carries 36 / 3.6 = 10 users in one-replica terms; the fleet serves 4 × 0.9 × 10 users' tokens.
    expect(p.perReplicaLoad).toBeCloseTo(10, 9);
    const fleetOut = 4 * e * 10 * OUT;
    expect(p.outputTokPerS).toBeCloseTo(fleetOut, 9);
    expect(p.hourlyCostUsd).toBeCloseTo(PRICE * 4, 12);
    expect(p.costPerMillionOutputTokens).toBeCloseTo((PRICE * 4 * 1e6) / (fleetOut * 3600), 9);
  });

  it("a rate target: replicas from the request throughput at the knee, tokens from tokens per request", async () => {
    const p = deploymentPlan({ capacity: await curve(), target: { requestsPerS: 30 }, replicaHourlyPriceUsd: PRICE });
    expect(p).toMatchObject({ unit: "req/s", perReplicaCapacity: KNEE, replicas: 3 });
    expect(p.outputTokPerS).toBeCloseTo(30 * OUT, 9);
    expect(p.costPerMillionOutputTokens).toBeCloseTo((PRICE * 3 * 1e6) / (30 * OUT * 3600), 9);
    expect(p.notes.join("\n")).toMatch(/closed loop[^]*--request-rate-range/);
  });

  it("a target below one replica's capacity: one replica, its headroom", async () => {
    const p = deploymentPlan({ capacity: await curve(), target: { users: 6 }, replicaHourlyPriceUsd: 0 });
    expect(p.replicas).toBe(1);
    expect(p.headroom).toBeCloseTo(1, 12);
    expect(p.outputTokPerS).toBeCloseTo(6 * OUT, 9);
    expect(p.costPerMillionOutputTokens).toBe(0);
    expect(p.notes.join("\n")).toMatch(/No price per replica-hour/);
  });

  it("refuses what it cannot answer, naming the fix", async () => {
    const c = await curve();
    expect(() => deploymentPlan({ capacity: { ...c, slo: null }, target: { users: 10 }, replicaHourlyPriceUsd: 1 })).toThrow(/needs a capacity search under SLOs.*Fix: /);
    expect(() => deploymentPlan({ capacity: { ...c, maxConcurrency: null }, target: { users: 10 }, replicaHourlyPriceUsd: 1 })).toThrow(/no level met the SLOs.*Fix: relax/);
    expect(() => deploymentPlan({ capacity: c, target: { users: 0 }, replicaHourlyPriceUsd: 1 })).toThrow(/--target-users must be a number > 0, got 0/);
    expect(() => deploymentPlan({ capacity: c, target: { users: 10 }, replicaHourlyPriceUsd: -1 })).toThrow(/price per replica-hour/);
    expect(() => deploymentPlan({ capacity: c, target: { users: 10 }, replicaHourlyPriceUsd: 1, scalingEfficiency: 0 })).toThrow(/scaling efficiency must be a number > 0/);
    expect(() => deploymentPlan({ capacity: { ...c, axis: "requestRate" }, target: { users: 10 }, replicaHourlyPriceUsd: 1 })).toThrow(/needs a concurrency search/);
  });

  it("a bound (range top still met) is said", async () => {
    const p = deploymentPlan({ capacity: { ...(await curve()), stop: "range-high-met", resolved: false }, target: { users: 24 }, replicaHourlyPriceUsd: 1 });
    expect(p.notes.join("\n")).toMatch(/lower bound \(the top of the searched range still met the SLOs\)/);
  });

  it("formats a readable block", async () => {
    const text = formatDeploymentPlan(deploymentPlan({ capacity: await curve(), target: { users: 36 }, replicaHourlyPriceUsd: PRICE }));
    expect(text).toMatch(/^deployment plan for 36 concurrent users under ttft_p99_ms ≤ 1000:\n {2}one replica holds 12 concurrent users; scaling efficiency 1 \(assumed\)\n {2}replicas: 3 /);
    expect(text).toContain("cost: $119.76/h ($39.92 × 3)");
  });

  it("interpolates through 0 and between levels", () => {
    expect(interpolate([{ x: 2, y: 20 }, { x: 4, y: 30 }], 1)).toBe(10);
    expect(interpolate([{ x: 4, y: 30 }, { x: 2, y: 20 }], 3)).toBe(25);
    expect(interpolate([{ x: 2, y: 20 }], 5)).toBe(20);
  });
});
