/**
 * `benchmark.plan` (issue 23, item 3): the deployment plan the stack makes after its capacity search, from
 * `benchmarkPlan` and what it measured: one replica's own search; behind a router, one worker's search with the
 * measured scaling efficiency, else the routed search ÷ replicas. The curve is a known-knee ground truth (as in
 * deploymentPlan.test.ts), so every figure is checked by hand. Also: the config key, and the provenance the stack
 * fills in.
 */
import { describe, expect, it } from "vitest";
import { searchCapacity, summarizeCapacity, type CapacitySummary, type PointMetrics } from "../../../components/benchmark/capacity";
import { withServerProvenance, type CapacityProvenance } from "../../../components/benchmark/provenance";
import { perReplicaSummary, stackDeploymentPlan, type StackPlan } from "../../../components/benchmark/stackPlan";
import { parseStackConfig, type RawConfig } from "../../../components/config";
import { configProblems } from "../../fixtures/configProblems";

const KNEE = 12;
const IN = 512;
const OUT = 64;
const PRICE = 39.92;

/** `knee` users at 1 request/s each; p99 TTFT past the SLO above the knee. */
function groundTruth(c: number, knee: number): PointMetrics {
  const rps = Math.min(c, knee);
  return {
    completed: 10 * c, failed: 0, durationS: 10, totalInputTokens: 10 * c * IN, totalOutputTokens: 10 * c * OUT,
    requestThroughput: rps, outputThroughput: rps * OUT, totalTokenThroughput: rps * (IN + OUT), requestGoodput: rps,
    ttftMeanMs: 50, ttftP99Ms: c > knee ? 5000 : 100, tpotMeanMs: 20, tpotP99Ms: 25, itlMeanMs: 20, itlP99Ms: 30, e2elMeanMs: 1000, e2elP99Ms: 1500,
  };
}
const curve = async (knee: number): Promise<CapacitySummary> =>
  summarizeCapacity(await searchCapacity({ slo: { ttftP99Ms: 1000 }, range: { low: 1, high: 64 }, measure: async (l) => groundTruth(l.concurrency, knee) }));

function planned(p: StackPlan): Exclude<StackPlan, { problem: string }> {
  if ("problem" in p) throw new Error(`no plan: ${p.problem}`);
  return p;
}

describe("stackDeploymentPlan", () => {
  it("one replica, 3× its knee: 3 replicas at the live price, $ = price × replicas ÷ throughput", async () => {
    const p = planned(stackDeploymentPlan(await curve(KNEE), { target: { users: 3 * KNEE } }, PRICE));
    expect(p).toMatchObject({ replicas: 3, replicaHourlyPriceUsd: PRICE, scalingEfficiencySource: "assumed" });
    expect(p.basis).toBe("this replica's capacity search; price per replica-hour: one replica's machine at its live price");
    expect(p.hourlyCostUsd).toBeCloseTo(3 * PRICE, 12);
    expect(p.costPerMillionOutputTokens).toBeCloseTo((3 * PRICE * 1e6) / (3 * KNEE * OUT * 3600), 9);
  });

  it("a configured price wins over the live one", async () => {
    const p = planned(stackDeploymentPlan(await curve(KNEE), { target: { users: 3 * KNEE }, replicaPriceUsd: 10 }, PRICE));
    expect(p.hourlyCostUsd).toBeCloseTo(30, 12);
    expect(p.basis).toContain("benchmarkPlan.replicaPriceUsd");
  });

  it("behind a router with one worker measured alone: that worker's curve and the measured efficiency (0.9: 4 replicas)", async () => {
    const routedCurve = await curve(2 * KNEE);
    const p = planned(stackDeploymentPlan(routedCurve, { target: { users: 3 * KNEE } }, PRICE, { replicas: 2, scalingEfficiency: 0.9, singleCapacity: await curve(KNEE) }));
    expect(p).toMatchObject({ replicas: 4, scalingEfficiency: 0.9, scalingEfficiencySource: "measured", perReplicaCapacity: KNEE });
    expect(p.hourlyCostUsd).toBeCloseTo(4 * PRICE, 12);
    expect(p.basis).toContain("one worker's capacity search, with the scaling efficiency measured through the router (2 replicas)");
  });

  it("behind a router without a single-worker run: the routed curve ÷ replicas, said so", async () => {
    // Two replicas hold 22 users together (routing losses included): one replica's share is 11.
    const p = planned(stackDeploymentPlan(await curve(22), { target: { users: 33 } }, PRICE, { replicas: 2, scalingEfficiency: undefined, singleCapacity: undefined }));
    expect(p.perReplicaCapacity).toBe(11);
    expect(p.replicas).toBe(3);
    // The fleet's throughput at the target: 33 users at 1 request/s each.
    expect(p.outputTokPerS).toBeCloseTo(33 * OUT, 9);
    expect(p.notes[0]).toMatch(/^One replica's capacity = the routed search's ÷ 2 replicas/);
    expect(p.notes.join("\n")).not.toMatch(/Scaling efficiency assumed 1/);
  });

  it("no level met the SLOs, or no search: a problem naming why, not a failed update", async () => {
    const none = summarizeCapacity(await searchCapacity({ slo: { ttftP99Ms: 1 }, range: { low: 1, high: 4 }, measure: async (l) => groundTruth(l.concurrency, KNEE) }));
    expect(stackDeploymentPlan(none, { target: { users: 10 } }, PRICE)).toEqual({ problem: expect.stringMatching(/^no level met the SLOs/) });
    expect(stackDeploymentPlan(undefined, { target: { users: 10 } }, PRICE)).toEqual({ problem: expect.stringMatching(/no capacity search ran\. Fix: set benchmarkCapacity/) });
  });

  it("perReplicaSummary divides loads and throughputs, keeps latencies and token ratios", async () => {
    const c = await curve(24);
    const one = perReplicaSummary(c, 2);
    expect(one.maxConcurrency).toBe(12);
    expect(one.points.map((p) => p.concurrency)).toEqual(c.points.map((p) => p.concurrency / 2));
    expect(one.points.map((p) => p.ttftP99Ms)).toEqual(c.points.map((p) => p.ttftP99Ms));
    expect(one.points.map((p) => p.outputTokens / p.completed)).toEqual(c.points.map((p) => p.outputTokens / p.completed));
    expect(() => perReplicaSummary(c, 0)).toThrow(/replicas must be a whole number/);
  });
});

describe("benchmarkPlan in the config", () => {
  const local: RawConfig = { hostMode: "local", benchmarkRunner: "native", benchmarkCapacity: '{"concurrencyRange": "1:64"}', benchmarkSlo: '{"ttft_p99_ms": 1000}' };

  it("off by default; reads one target and an optional price", () => {
    expect(parseStackConfig(local, { stack: "t" }).benchmark.plan).toBeUndefined();
    expect(parseStackConfig({ ...local, benchmarkPlan: '{"targetUsers": 100}' }, { stack: "t" }).benchmark.plan).toEqual({ target: { users: 100 } });
    expect(parseStackConfig({ ...local, benchmarkPlan: '{"targetRate": "20", "replicaPriceUsd": 39.92}' }, { stack: "t" }).benchmark.plan).toEqual({ target: { requestsPerS: 20 }, replicaPriceUsd: 39.92 });
    expect(configProblems({ ...local, benchmarkPlan: '{"targetUsers": 100}' })).toEqual([]);
  });

  it.each([
    [{ benchmarkPlan: '{"targetUsers": 100, "targetRate": 5}' }, "benchmarkPlan: = {\"targetUsers\":100,\"targetRate\":5} needs exactly one of targetUsers and targetRate"],
    [{ benchmarkPlan: '{"replicaPriceUsd": 5}' }, "benchmarkPlan: = {\"replicaPriceUsd\":5} needs exactly one of targetUsers and targetRate"],
    [{ benchmarkPlan: '{"targetUsers": 0}' }, "benchmarkPlan.targetUsers: = 0 must be a number of concurrent users > 0"],
    [{ benchmarkPlan: '{"targetUsers": 10, "replicaPriceUsd": -1}' }, "benchmarkPlan.replicaPriceUsd: = -1 must be a number of dollars per replica-hour >= 0"],
    [{ benchmarkPlan: '{"users": 10}' }, "benchmarkPlan.users: = 10 is not a known setting"],
    [{ benchmarkPlan: '{"targetUsers": 10}', benchmarkCapacity: "{}", benchmarkSlo: "{}" }, "benchmarkPlan: is set, but a plan needs the capacity under SLOs, and benchmarkCapacity is not set"],
    [{ benchmarkPlan: '{"targetUsers": 10}', benchmarkSlo: "{}" }, "benchmarkPlan: is set, but a plan needs the capacity under SLOs, and benchmarkSlo is not set"],
    [{ benchmarkPlan: '{"targetUsers": 10}', benchmarkCapacity: '{"dimension": "rate", "rateRange": "1:8"}' }, "benchmarkPlan: .targetUsers needs a concurrency search"],
  ])("refuses %j naming the key, the value and the fix", (extra, message) => {
    const found = configProblems({ ...local, ...extra });
    expect(found.some((p) => p.startsWith(message) && p.includes("Fix:")), found.join("\n")).toBe(true);
  });
});

describe("withServerProvenance", () => {
  const recorded: CapacityProvenance = {
    workload: { dataset: "random", inputLen: 1, outputLen: 1, rangeRatio: 0, numPrompts: 1, promptsPerConcurrency: null, ignoreEos: true, seed: 0 },
    model: "m", servedModelName: "q", tokenizer: "t", tokenizerFallback: null, imageDigest: null, serverFlagsHash: null, router: null,
    runner: { name: "native", version: "x" }, gpus: 8, date: "2026-01-01T00:00:00.000Z",
  };
  const facts = { imageDigest: "repo@sha256:" + "a".repeat(64), serverFlagsHash: "b".repeat(64), router: { policy: "cache_aware", replicas: 2 } };

  it("fills what the CLI could not see; what it was told wins; an unknown provenance stays unknown", () => {
    expect(withServerProvenance(recorded, facts)).toEqual({ ...recorded, ...facts });
    expect(withServerProvenance({ ...recorded, imageDigest: "told" }, facts)?.imageDigest).toBe("told");
    expect(withServerProvenance(null, facts)).toBeNull();
    expect(withServerProvenance(recorded, undefined)).toBe(recorded);
  });
});
