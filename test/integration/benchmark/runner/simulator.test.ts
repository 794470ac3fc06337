/**
 * The runner against the SGLang simulator (test/fixtures/sglang-simulator) with its fast timing
 * model: what the runner measures must agree with what the simulator's own model predicts
 * (`expectedLatencies`, a virtual-time replay of the same workload), at concurrency 1, 32 and
 * 256; injected faults end as failed requests.
 *
 * For the timing comparison the simulator runs as its own process (its CLI, as in the `local`
 * stack), so its request handling does not queue behind the runner on one event loop.
 * It counts prompt tokens with its cheap estimate there: tokenizing gibberish with the real
 * Qwen3 tokenizer costs the server ~1.5 ms per request, which a burst of 256 requests turns
 * into ~0.35 s of TTFT the virtual-time model does not know about.
 * Tolerances: means within 25–30% (or a few ms) — generous because the machine has 2 cores
 * that other test suites load at the same time.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runBenchmark } from "../../../../components/benchmark/runner";
import { loadTokenizer, speedUpBpeMerges, type LoadedTokenizer } from "../../../../components/benchmark/runner/tokenizer";
import { expectedLatencies, FAST_TIMING, percentile, simulateWorkload, startSimulator, type RunningSimulator, type SimulatorFaults } from "../../../fixtures/sglang-simulator";

let tokenizer: LoadedTokenizer;
const sims: RunningSimulator[] = [];
beforeAll(() => {
  tokenizer = loadTokenizer();
  speedUpBpeMerges(tokenizer.tokenizer);
});
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function simulator(faults?: SimulatorFaults): Promise<RunningSimulator> {
  const sim = await startSimulator({ servedModelName: "qwen", timing: FAST_TIMING, apiKey: "sim-key", faults });
  sims.push(sim);
  await sim.whenHealthy;
  return sim;
}

function near(label: string, measured: number, expected: number, rel = 0.25, abs = 3): void {
  expect(Math.abs(measured - expected), `${label}: measured ${measured.toFixed(2)} vs expected ${expected.toFixed(2)}`).toBeLessThanOrEqual(Math.max(abs, rel * expected));
}

const INPUT = 64;
const SIM_TEMPLATE_TOKENS = FAST_TIMING.chatTemplateTokens;
const OUTPUT = 32;

const SIM_CLI = path.join(__dirname, "../../../fixtures/sglang-simulator/cli.ts");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/health", agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}

/** The simulator's CLI in a child process with FAST_TIMING; resolves once /health is 200 (≤ 60 s). */
async function simulatorProcess(): Promise<{ child: ChildProcess; baseUrl: string }> {
  const port = await freePort();
  const flags = Object.entries(FAST_TIMING).flatMap(([k, v]) => [`--sim-${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v)]);
  const child = spawn(process.execPath, ["--import", "tsx", SIM_CLI, "--port", String(port), "--served-model-name", "qwen", "--api-key", "sim-key", "--sim-tokenizer", "estimate", ...flags], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let attempt = 0; attempt < 240; attempt++) {
    if (child.exitCode !== null) throw new Error(`simulator exited with ${child.exitCode}`);
    if (await healthy(port)) return { child, baseUrl: `http://127.0.0.1:${port}` };
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill("SIGKILL");
  throw new Error("simulator process not healthy within 60 s");
}

describe("runner vs the SGLang simulator's timing model", () => {
  let proc: { child: ChildProcess; baseUrl: string };
  beforeAll(async () => {
    proc = await simulatorProcess();
    // Warm the server (JIT, its tokenizer's caches) with other prompts, as a real run's warm-up would.
    await runBenchmark({ baseUrl: proc.baseUrl, servedModelName: "qwen", loadedTokenizer: tokenizer, apiKey: "sim-key", inputLen: INPUT, outputLen: 4, numPrompts: 128, maxConcurrency: 64, seed: 999, totalTimeoutMs: 60_000 });
  });
  afterAll(() => {
    proc?.child.kill("SIGTERM");
  });

  it.each([
    [1, 6],
    [32, 160],
    [256, 512],
  ])("concurrency %i (%i prompts): TTFT, ITL, TPOT, E2EL and throughput match the timing model", async (concurrency, numPrompts) => {
    const r = await runBenchmark({
      baseUrl: proc.baseUrl,
      servedModelName: "qwen",
      loadedTokenizer: tokenizer,
      apiKey: "sim-key",
      inputLen: INPUT,
      outputLen: OUTPUT,
      numPrompts,
      maxConcurrency: concurrency,
      requestTimeoutMs: 60_000,
      totalTimeoutMs: 120_000,
      percentileMetrics: ["ttft", "tpot", "itl", "e2el"],
    });
    const expected = expectedLatencies({ ...FAST_TIMING }, { inputTokens: INPUT, outputTokens: OUTPUT, concurrency, numPrompts });
    expect(r.metrics.failed, r.requests.find((q) => !q.success)?.error).toBe(0);
    expect(r.metrics.completed).toBe(numPrompts);
    expect(r.metrics.totalOutputTokens).toBe(numPrompts * OUTPUT);
    // input tokens counted on the client (vllm 0.18.0); usage.prompt_tokens (the server's estimate + template) kept beside them
    expect(r.requests.every((q) => (q.serverPromptTokens ?? 0) > SIM_TEMPLATE_TOKENS)).toBe(true);
    expect(r.metrics.totalInputTokens).toBe(r.requests.reduce((sum, q) => sum + q.promptLen, 0));
    expect(r.metrics.totalInputTokensServer).toBe(r.requests.reduce((sum, q) => sum + (q.serverPromptTokens ?? 0), 0));
    // TTFT: never below the model's prefill. Compared as a median: the first wave also pays for
    // `concurrency` new connections and request parses at once (tens of ms on this loaded 2-core
    // box, unknown to the virtual-time model); several waves keep that out of the median.
    // (Node timers run on whole milliseconds: a 20.7 ms prefill is a 20 ms timer.)
    expect(Math.min(...r.requests.map((q) => q.ttftMs))).toBeGreaterThanOrEqual(Math.floor(expected.prefillMs) - 1);
    const expectedTtfts = simulateWorkload({ ...FAST_TIMING }, { inputTokens: INPUT, outputTokens: OUTPUT, concurrency, numPrompts }).map((t) => t.ttftMs);
    near("median TTFT", r.metrics.ttft.median, percentile(expectedTtfts, 50), 0.3, 10);
    near("ITL", r.metrics.itl.mean, expected.itlMs);
    near("TPOT", r.metrics.tpot.mean, expected.tpotMs);
    near("E2EL", r.metrics.e2el.mean, expected.e2elMs, 0.25, 10);
    near("output tok/s", r.metrics.outputThroughput, expected.outputTokPerS, 0.3, 0);
  });
});

describe("runner vs simulator faults", () => {
  it("counts HTTP 500s and dropped streams as failed and excludes them from the statistics", async () => {
    const sim = await simulator({ errorEvery: 5, dropStreamEvery: 7 });
    const r = await runBenchmark({ baseUrl: sim.baseUrl, servedModelName: "qwen", loadedTokenizer: tokenizer, apiKey: "sim-key", inputLen: INPUT, outputLen: OUTPUT, numPrompts: 35, maxConcurrency: 8, requestTimeoutMs: 30_000, totalTimeoutMs: 60_000 });
    const http500 = r.requests.filter((q) => /HTTP 500/.test(q.error)).length;
    expect(http500).toBe(7); // requests 5, 10, ..., 35 in arrival order
    expect(r.metrics.failed).toBe(11); // plus 7, 14, 21, 28 cut mid-stream
    expect(r.metrics.completed).toBe(24);
    expect(r.metrics.totalOutputTokens).toBe(24 * OUTPUT);
    // the client's 64 prompt tokens per completed request; in process the simulator counts with the
    // real Qwen3 tokenizer: the same 64 + its 8 template tokens
    expect(r.metrics.totalInputTokens).toBe(24 * INPUT);
    expect(r.metrics.totalInputTokensServer).toBe(24 * (INPUT + FAST_TIMING.chatTemplateTokens));
  });

  it("ends within its timeout when the server dies mid-run", async () => {
    const sim = await simulator({ exitAfterRequests: 10 });
    const t0 = Date.now();
    const r = await runBenchmark({ baseUrl: sim.baseUrl, servedModelName: "qwen", loadedTokenizer: tokenizer, apiKey: "sim-key", inputLen: INPUT, outputLen: OUTPUT, numPrompts: 30, maxConcurrency: 4, requestTimeoutMs: 10_000, totalTimeoutMs: 30_000 });
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(r.metrics.completed + r.metrics.failed).toBe(30);
    expect(r.metrics.completed).toBeLessThanOrEqual(10);
    expect(r.metrics.failed).toBeGreaterThanOrEqual(20);
  });

  it("fails stalled streams at the per-request timeout", async () => {
    const sim = await simulator({ stallStreamEvery: 3 });
    const r = await runBenchmark({ baseUrl: sim.baseUrl, servedModelName: "qwen", loadedTokenizer: tokenizer, apiKey: "sim-key", inputLen: INPUT, outputLen: OUTPUT, numPrompts: 6, maxConcurrency: 6, requestTimeoutMs: 2_000, totalTimeoutMs: 20_000 });
    expect(r.metrics.failed).toBe(2);
    expect(r.requests.filter((q) => /timed out after 2000 ms/.test(q.error))).toHaveLength(2);
  });
});
