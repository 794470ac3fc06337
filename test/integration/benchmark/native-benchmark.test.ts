/**
 * The Benchmark component's native runner for real: the exact command line it stores
 * (`npx tsx scripts/bench.ts … --json`, key in the environment) runs against the in-process
 * SGLang simulator with a tiny workload, and the component's outputs come from that run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as BenchmarkModule from "../../../components/benchmark/benchmark";
import { BUNDLED_TOKENIZER_ID } from "../../../components/benchmark/runner/tokenizer";
import { FAST_TIMING, decodeStepMs, expectedLatencies, startSimulator, type RunningSimulator } from "../../fixtures/sglang-simulator";
import { watchSchedulingDelay, type SchedulingDelay } from "../../fixtures/schedulingDelay";
import { installLocalCommandMocks, type LocalCommandMocks, settle } from "./localCommandMocks";
import { localBenchmarkArgs } from "../../fixtures/benchmark/componentArgs";

const API_KEY = "sk-it-native-7d3e19";
const WORKLOAD = { inputLen: 256, outputLen: 16, numPrompts: 8, maxConcurrency: 4 };
const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-bench-native-"));

let sim: RunningSimulator;
let mocks: LocalCommandMocks;
let mod: typeof BenchmarkModule;
let bench: BenchmarkModule.Benchmark;
/** This process's stalls while the benchmark ran (the simulator's timers run here). */
let runDelay: SchedulingDelay;

beforeAll(async () => {
  sim = await startSimulator({ servedModelName: "qwen", timing: FAST_TIMING, apiKey: API_KEY });
  await sim.whenHealthy;
  mocks = await installLocalCommandMocks({
    stack: "local",
    // an empty HF cache: the model's tokenizer is not there, so the stack chooses the bundled one explicitly
    baseEnv: { ...process.env, HF_HOME: path.join(work, "hf"), OPENAI_API_KEY: "" },
    timeoutMs: 240_000,
  });
  mod = await import("../../../components/benchmark/benchmark");
  bench = new mod.Benchmark("bench", localBenchmarkArgs({
    baseUrl: sim.baseUrl,
    tokenizer: "bundled",
    apiKey: API_KEY,
    serverSpecHash: "spec-it",
    hourlyPriceUsd: 1.5,
    workload: WORKLOAD,
    timeoutSeconds: 180,
    thresholds: { maxFailedRequests: 0, minOutputThroughput: 1 },
    reportDir: path.join(work, "reports"),
  }));
  const watch = watchSchedulingDelay();
  await settle(bench.passed);
  runDelay = await watch.stop();
}, 300_000);

afterAll(async () => {
  await sim?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe("native runner through the Benchmark component", () => {
  it("ran the stored command once, key from the environment only", () => {
    expect(mocks.executed).toHaveLength(1);
    const run = mocks.executed[0];
    expect(run.exitCode).toBe(0);
    expect(run.create).toContain("npx tsx scripts/bench.ts --base-url " + sim.baseUrl);
    expect(run.create).not.toContain(API_KEY);
    expect(run.environment.OPENAI_API_KEY).toBe(API_KEY);
    expect(run.secretInputs.some((k) => k === "environment" || k === "environment.OPENAI_API_KEY")).toBe(true);
    expect(fs.existsSync(path.join(String(run.dir), "scripts", "bench.ts"))).toBe(true);
    // stdout is the JSON alone; the CLI's chatter went to stderr
    expect(run.stdout.trim().startsWith("{")).toBe(true);
    expect(run.stderr).toContain("bench:");
    expect(run.stderr).not.toContain(API_KEY);
  });

  it("measured the simulator: every request completed with the asked token counts", async () => {
    const m = await settle(bench.metrics);
    // on failure, show the whole result and the runner's stderr
    const ctx = `${JSON.stringify(m)}\nstderr:\n${mocks.executed[0]?.stderr ?? ""}`;
    expect(m.completed, ctx).toBe(8);
    expect(m.failed, ctx).toBe(0);
    expect(m.totalOutputTokens, ctx).toBe(8 * 16);
    // counted on the client like vllm 0.18.0: the dataset's 256-token prompts; the server's count
    // (its chat template's tokens added) is kept beside it
    expect(m.totalInputTokens, ctx).toBe(8 * 256);
    expect(m.totalInputTokensServer, ctx).toBe(8 * (256 + FAST_TIMING.chatTemplateTokens));
    expect(m.outputThroughput, ctx).toBeGreaterThan(0);
    expect(m.ttft.mean, ctx).toBeGreaterThan(0);
    expect(m.ttft.p90, ctx).toBeDefined();
    // vllm's TPOT: (E2EL - TTFT) / (output tokens - 1) per request; all have 16 tokens, so the means obey it too.
    const e2el = m.e2el?.mean ?? NaN;
    expect(m.tpot.mean * (WORKLOAD.outputLen - 1), ctx).toBeCloseTo(e2el - m.ttft.mean, 6);
    // Against the simulator's model, on a run whose timing this process shared: nothing arrives
    // before the model says (but a timer can fire early by a stall inside its loop iteration), and
    // nothing later than the model plus the stalls seen while the benchmark ran. On a loaded
    // machine a late first token followed by a catch-up burst pulls TPOT below the step, which
    // is why TPOT is bounded through E2EL and TTFT rather than on its own.
    const model = expectedLatencies(FAST_TIMING, { inputTokens: WORKLOAD.inputLen, outputTokens: WORKLOAD.outputLen, concurrency: WORKLOAD.maxConcurrency, numPrompts: WORKLOAD.numPrompts });
    const early = runDelay.totalMs + 1;
    const late = runDelay.totalMs + 1;
    const timing = `${ctx}\nmodel ttft ${model.ttftMs.toFixed(1)} e2el ${model.e2elMs.toFixed(1)} ms; stalls ${runDelay.totalMs.toFixed(1)} ms in ${runDelay.windowMs.toFixed(0)} ms`;
    expect(m.ttft.mean, timing).toBeGreaterThanOrEqual(FAST_TIMING.prefillBaseMs - early); // the warm-up cached prompt 0: prefill base only
    expect(m.ttft.mean, timing).toBeLessThanOrEqual(model.ttftMs + late);
    expect(e2el, timing).toBeGreaterThanOrEqual(FAST_TIMING.prefillBaseMs + (WORKLOAD.outputLen - 1) * decodeStepMs(FAST_TIMING, 1) - early);
    expect(e2el, timing).toBeLessThanOrEqual(model.e2elMs + late);
    expect(m.maxConcurrency, ctx).toBe(4);
    expect(m.notes, ctx).toEqual([]);
    expect(await settle(bench.tokenizer)).toBe(BUNDLED_TOKENIZER_ID);
    expect(await settle(bench.notes)).toEqual([]);
  });

  it("derives cost, ratios and passes its thresholds", async () => {
    const m = await settle(bench.metrics);
    expect(await settle(bench.costPerMillionOutputTokens)).toBeCloseTo((1.5 * 1e6) / (m.outputThroughput * 3600), 9);
    expect((await settle(bench.ratios)).outputThroughput).toBeCloseTo(m.outputThroughput / 1232, 9);
    expect(await settle(bench.thresholdMisses)).toEqual([]);
    expect(await settle(bench.passed)).toBe(true);
  });

  it("wrote the report for the pipeline", async () => {
    const md = fs.readFileSync(await settle(bench.reportPath), "utf8");
    expect(md).toContain("# Benchmark: local");
    expect(md).toContain("| completed | 8 | |");
    expect(fs.readFileSync(await settle(bench.reportSvgPath), "utf8")).toContain("</svg>");
  });

  it("the simulator saw only authorized requests", async () => {
    const stats = await sim.stats();
    expect(stats.requestsCompleted).toBeGreaterThanOrEqual(8);
    expect(stats.unauthorized).toBe(0);
  });
});
