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
 * Tolerances: the model's fidelity (means within 25–30% or a few ms: per-request work the
 * virtual-time model leaves out), widened by the scheduling delay measured in the same run — the
 * stalls of this process (the runner) and of the simulator's (GET /sim/stalls) over each
 * request's span, plus an HTTP round trip — so a loaded machine widens them by exactly what it
 * cost, and an idle one keeps them tight.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as http from "node:http";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runBenchmark, type BenchmarkResult } from "../../../../components/benchmark/runner";
import { loadTokenizer, speedUpBpeMerges, type LoadedTokenizer } from "../../../../components/benchmark/runner/tokenizer";
import { expectedLatencies, FAST_TIMING, percentile, simulateWorkload, startSimulator, type RunningSimulator, type SimulatorFaults } from "../../../fixtures/sglang-simulator";
import { stalledMs, StallRecorder, type Stall } from "../../../fixtures/schedulingDelay";
import { freePort } from "../../../fixtures/net";

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

/** |measured − expected| ≤ the model's fidelity (max(abs, rel·expected)) + what this run's scheduling delay allows. */
function near(label: string, measured: number, expected: number, allowanceMs: number, rel = 0.25, abs = 3): void {
  const fidelity = Math.max(abs, rel * expected);
  expect(Math.abs(measured - expected), `${label}: measured ${measured.toFixed(2)} vs expected ${expected.toFixed(2)} (fidelity ${fidelity.toFixed(2)} + scheduling delay ${allowanceMs.toFixed(2)})`).toBeLessThanOrEqual(fidelity + allowanceMs);
}

/** Fastest of three GET /health round trips: this run's HTTP overhead (what stalls add is counted separately). */
async function roundTripMs(baseUrl: string): Promise<number> {
  let fastest = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await getText(`${baseUrl}/health`);
    fastest = Math.min(fastest, performance.now() - t0);
  }
  return fastest;
}

/** GET on a connection of its own (a pooled keep-alive socket may be closing after a long run). */
function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 30_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`GET ${url} got no answer`)));
  });
}

/**
 * The most any latency of `run` can be off by because of scheduling: for each request, the stalls
 * of both processes over its span plus an HTTP round trip and 1 ms of timer granularity; the worst
 * request bounds means and medians alike. `span` picks the end of the span (first token or last).
 */
function schedulingAllowanceMs(run: BenchmarkResult, stalls: readonly Stall[], rttMs: number, span: "ttft" | "e2el"): number {
  let worst = 0;
  for (const q of run.requests) {
    const end = q.startEpochMs + (span === "ttft" ? q.ttftMs : q.latencyMs);
    worst = Math.max(worst, stalledMs(stalls, q.startEpochMs, end));
  }
  return worst + rttMs + 1;
}

const INPUT = 64;
const SIM_TEMPLATE_TOKENS = FAST_TIMING.chatTemplateTokens;
const OUTPUT = 32;

const SIM_CLI = path.join(__dirname, "../../../fixtures/sglang-simulator/cli.ts");


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
  const child = spawn(process.execPath, ["--import", "tsx", SIM_CLI, "--port", String(port), "--served-model-name", "qwen", "--api-key", "sim-key", "--sim-tokenizer", "estimate", "--sim-record-stalls", "true", ...flags], {
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
    const rtt = await roundTripMs(proc.baseUrl);
    const runner = new StallRecorder();
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
    const server = (JSON.parse(await getText(`${proc.baseUrl}/sim/stalls`)) as { stalls: Stall[] }).stalls;
    const stalls = [...(await runner.stop()).stalls, ...server];
    const ttftAllowance = schedulingAllowanceMs(r, stalls, rtt, "ttft");
    const e2elAllowance = schedulingAllowanceMs(r, stalls, rtt, "e2el");
    // First and last token can each be early or late by up to that: per-token metrics share it out.
    const perTokenAllowance = (2 * e2elAllowance) / (OUTPUT - 1);
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
    // (A timer counts from libuv's cached loop time, so it can fire early by a stall in its loop iteration.)
    expect(Math.min(...r.requests.map((q) => q.ttftMs))).toBeGreaterThanOrEqual(Math.floor(expected.prefillMs) - 1 - ttftAllowance);
    const expectedTtfts = simulateWorkload({ ...FAST_TIMING }, { inputTokens: INPUT, outputTokens: OUTPUT, concurrency, numPrompts }).map((t) => t.ttftMs);
    near("median TTFT", r.metrics.ttft.median, percentile(expectedTtfts, 50), ttftAllowance, 0.3, 10);
    near("ITL", r.metrics.itl.mean, expected.itlMs, perTokenAllowance);
    near("TPOT", r.metrics.tpot.mean, expected.tpotMs, perTokenAllowance);
    near("E2EL", r.metrics.e2el.mean, expected.e2elMs, e2elAllowance, 0.25, 10);
    // Throughput = tokens / duration, and the duration may be off by every stall of the run (both
    // processes) plus a round trip: the model's throughput must lie within fidelity of the range
    // that leaves.
    const durationMs = r.metrics.durationS * 1000;
    const starts = r.requests.map((q) => q.startEpochMs);
    const runAllowance = stalledMs(stalls, Math.min(...starts), Math.max(...r.requests.map((q) => q.startEpochMs + q.latencyMs))) + rtt + 1;
    const fastest = durationMs > runAllowance ? r.metrics.totalOutputTokens / ((durationMs - runAllowance) / 1000) : Infinity;
    const slowest = r.metrics.totalOutputTokens / ((durationMs + runAllowance) / 1000);
    const fidelity = 0.3 * expected.outputTokPerS;
    const context = `output tok/s ${r.metrics.outputThroughput.toFixed(0)} (${slowest.toFixed(0)}..${fastest.toFixed(0)}) vs model ${expected.outputTokPerS.toFixed(0)} ± ${fidelity.toFixed(0)}; scheduling allowance ${runAllowance.toFixed(0)} ms over ${durationMs.toFixed(0)} ms`;
    expect(slowest, context).toBeLessThanOrEqual(expected.outputTokPerS + fidelity);
    expect(fastest, context).toBeGreaterThanOrEqual(expected.outputTokPerS - fidelity);
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
    const r = await runBenchmark({ baseUrl: sim.baseUrl, servedModelName: "qwen", loadedTokenizer: tokenizer, apiKey: "sim-key", inputLen: INPUT, outputLen: OUTPUT, numPrompts: 30, maxConcurrency: 4, requestTimeoutMs: 10_000, totalTimeoutMs: 30_000 });
    // Ended by the dead server (cut streams, refused connections), not by waiting out a timeout.
    expect(r.requests.filter((q) => /total timeout|timed out/.test(q.error))).toEqual([]);
    expect(r.metrics.completed + r.metrics.failed).toBe(30);
    expect(r.metrics.completed).toBeLessThanOrEqual(10);
    expect(r.metrics.failed).toBeGreaterThanOrEqual(20);
  });

  it("fails stalled streams at the per-request timeout", async () => {
    const sim = await simulator({ stallStreamEvery: 3 });
    // The timeout is ~20x a healthy request (32 steps of 8 ms), so only the stalled ones reach it on a busy machine.
    const r = await runBenchmark({ baseUrl: sim.baseUrl, servedModelName: "qwen", loadedTokenizer: tokenizer, apiKey: "sim-key", inputLen: INPUT, outputLen: OUTPUT, numPrompts: 6, maxConcurrency: 6, requestTimeoutMs: 5_000, totalTimeoutMs: 30_000 });
    expect(r.metrics.failed).toBe(2);
    expect(r.requests.filter((q) => /timed out after 5000 ms/.test(q.error))).toHaveLength(2);
  });
});
