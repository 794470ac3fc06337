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
import { FAST_TIMING, startSimulator, type RunningSimulator } from "../../fixtures/sglang-simulator";
import { installLocalCommandMocks, type LocalCommandMocks, settle } from "./localCommandMocks";

const API_KEY = "sk-it-native-7d3e19";
const WORKLOAD = { inputLen: 256, outputLen: 16, numPrompts: 8, maxConcurrency: 4 };
const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-bench-native-"));

let sim: RunningSimulator;
let mocks: LocalCommandMocks;
let mod: typeof BenchmarkModule;
let bench: BenchmarkModule.Benchmark;

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
  bench = new mod.Benchmark("bench", {
    connection: { kind: "local" },
    serverReady: "ready",
    baseUrl: sim.baseUrl,
    servedModelName: "qwen",
    modelPath: "Qwen/Qwen3-0.6B",
    tokenizer: "bundled",
    apiKey: API_KEY,
    serverSpecHash: "spec-it",
    hourlyPriceUsd: 1.5,
    workload: WORKLOAD,
    timeoutSeconds: 180,
    thresholds: { maxFailedRequests: 0, minOutputThroughput: 1 },
    reportDir: path.join(work, "reports"),
  });
  await settle(bench.passed);
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
    expect(m.tpot.mean, ctx).toBeGreaterThan(FAST_TIMING.decodeBaseMs * 0.5);
    expect(m.e2el?.mean ?? 0, ctx).toBeGreaterThan(m.ttft.mean);
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
