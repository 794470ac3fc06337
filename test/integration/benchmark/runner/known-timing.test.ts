/**
 * The runner against a server whose schedule is known exactly (test/fixtures/known-timing-sse):
 * timing semantics, framing variants, what goes on the wire, and every failure mode ending as
 * a failed request rather than an exception, within the timeouts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { runBenchmark, type BenchmarkRunOptions } from "../../../../components/benchmark/runner";
import type { SampleRequest } from "../../../../components/benchmark/runner/dataset";
import { percentile } from "../../../../components/benchmark/runner/stats";
import { startKnownTimingServer, type KnownTimingServer, type KnownTimingServerOptions } from "../../../fixtures/known-timing-sse/server";

const servers: KnownTimingServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(opts: KnownTimingServerOptions): Promise<KnownTimingServer> {
  const s = await startKnownTimingServer(opts);
  servers.push(s);
  return s;
}

function prompts(n: number, outputLen: number): SampleRequest[] {
  return Array.from({ length: n }, (_, index) => ({ index, prompt: `prompt ${index}`, promptLen: 2, expectedOutputLen: outputLen, tokenMismatch: 0 }));
}

const base = (s: KnownTimingServer, extra: Partial<BenchmarkRunOptions> = {}): BenchmarkRunOptions => ({
  baseUrl: s.baseUrl,
  servedModelName: "qwen",
  requestIdPrefix: "t-",
  requestTimeoutMs: 20_000,
  totalTimeoutMs: 60_000,
  percentileMetrics: ["ttft", "tpot", "itl", "e2el"],
  metricPercentiles: [50, 99],
  ...extra,
});

/** |measured − expected| ≤ max(abs, rel·expected): loose enough for a shared 2-core machine. */
function near(measured: number, expected: number, rel = 0.25, abs = 4): void {
  expect(Math.abs(measured - expected), `measured ${measured.toFixed(2)} vs expected ${expected}`).toBeLessThanOrEqual(Math.max(abs, rel * expected));
}

describe("runner timing against a known schedule", () => {
  it("measures TTFT, ITL, TPOT and E2EL as scheduled; counts from usage; builds prompts with the tokenizer", async () => {
    const s = await server({ firstEventDelayMs: 40, intervalMs: 12, usagePromptTokens: 77 });
    const r = await runBenchmark(base(s, { inputLen: 32, outputLen: 15, numPrompts: 8, maxConcurrency: 4 }));
    expect(r.metrics.completed).toBe(8);
    expect(r.metrics.failed).toBe(0);
    expect(r.metrics.totalOutputTokens).toBe(8 * 15);
    // input counted on the client from the prompts built (32 tokens each, as vllm 0.18.0); the server's usage.prompt_tokens beside it
    expect(r.metrics.totalInputTokens).toBe(r.requests.reduce((sum, q) => sum + q.promptLen, 0));
    expect(r.requests.every((q) => q.promptLen === 32)).toBe(true);
    expect(r.metrics.totalInputTokensServer).toBe(8 * 77);
    // Against the server's own record of when it wrote each event (same process, same clock):
    // an event can never be stamped before it was sent, and is stamped within a few ms of it.
    const deliveries: number[] = [];
    const itlErrors: number[] = [];
    for (const q of r.requests) {
      const sent = s.sendTimes.get(q.requestId) ?? [];
      expect(sent).toHaveLength(15);
      let arrival = q.startEpochMs + q.ttftMs;
      deliveries.push(arrival - sent[0]);
      q.itlMs.forEach((gap, k) => {
        arrival += gap;
        deliveries.push(arrival - sent[k + 1]);
        itlErrors.push(Math.abs(gap - (sent[k + 1] - sent[k])));
      });
    }
    expect(Math.min(...deliveries)).toBeGreaterThanOrEqual(-0.01);
    expect(percentile(deliveries, 50)).toBeLessThan(3);
    expect(percentile(itlErrors, 50)).toBeLessThan(2);
    // And against the schedule itself, loosely: a loaded machine only adds delay, but the server's
    // 40 ms timer counts from libuv's cached loop time, which can lag the request's arrival by up
    // to a millisecond, so the first write may come that much early (the exact check is above).
    expect(Math.min(...r.requests.map((q) => q.ttftMs))).toBeGreaterThanOrEqual(39);
    near(r.metrics.ttft.median, 40, 0.25, 60);
    near(r.metrics.itl.median, 12, 0.25, 4);
    near(r.metrics.tpot.mean, 12, 0.25, 4);
    expect(r.requests.every((q) => q.itlMs.length === 14 && q.tokenEvents === 15)).toBe(true);
    // the prompts the server got are the dataset's: 32 tokens each by the bundled tokenizer
    expect(r.datasetSeconds).toBeGreaterThan(0);
    expect(r.json.num_prompts).toBe(8);
    expect(r.json.max_concurrency).toBe(4);
  });

  it("never runs more than max-concurrency requests at once, and starts them in order", async () => {
    const s = await server({ firstEventDelayMs: 5, intervalMs: 5 });
    const r = await runBenchmark(base(s, { dataset: prompts(12, 10), maxConcurrency: 3 }));
    expect(r.metrics.completed).toBe(12);
    const spans = r.requests.map((q) => [q.startMs, q.startMs + q.latencyMs] as const);
    for (const [start] of spans) expect(spans.filter(([a, b]) => a <= start && start < b).length).toBeLessThanOrEqual(3);
    expect(s.received.map((q) => q.requestId).slice(0, 3).sort()).toEqual(["t-0", "t-1", "t-2"]);
  });

  it("gives every message of one read that read's arrival time (ITL 0 inside a read)", async () => {
    const s = await server({ firstEventDelayMs: 10, intervalMs: 8, messagesPerWrite: 5 });
    const r = await runBenchmark(base(s, { dataset: prompts(4, 20), maxConcurrency: 4 }));
    expect(r.metrics.completed).toBe(4);
    for (const q of r.requests) {
      expect(q.tokenEvents).toBe(20);
      const zeros = q.itlMs.filter((g) => g < 0.5).length;
      expect(zeros).toBeGreaterThanOrEqual(16); // 4 of every 5 messages share a read
    }
  });

  it("ignores SSE comments and accepts CRLF framing", async () => {
    const s = await server({ firstEventDelayMs: 5, intervalMs: 4, comments: true, crlf: true });
    const r = await runBenchmark(base(s, { dataset: prompts(3, 12), maxConcurrency: 3 }));
    expect(r.metrics.completed).toBe(3);
    expect(r.requests.map((q) => q.tokenEvents)).toEqual([12, 12, 12]);
    expect(r.metrics.totalOutputTokens).toBe(36);
  });

  it("sends vllm's body and headers, with the API key only in Authorization", async () => {
    const s = await server({ firstEventDelayMs: 1, intervalMs: 1, apiKey: "sk-secret" });
    const r = await runBenchmark(base(s, { dataset: prompts(2, 3), maxConcurrency: 1, apiKey: "sk-secret", temperature: 0 }));
    expect(r.metrics.completed).toBe(2);
    const first = s.received.find((q) => q.requestId === "t-0");
    expect(first?.body).toEqual({
      model: "qwen",
      messages: [{ role: "user", content: [{ type: "text", text: "prompt 0" }] }],
      max_completion_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
      ignore_eos: true,
      temperature: 0,
    });
    expect(first?.headers["content-type"]).toBe("application/json");
    expect(first?.headers.authorization).toBe("Bearer sk-secret");
    expect(JSON.stringify(r)).not.toContain("sk-secret");
    const denied = await runBenchmark(base(s, { dataset: prompts(1, 3), maxConcurrency: 1 }));
    expect(denied.requests[0].error).toMatch(/HTTP 401/);
  });
});

describe("runner failures are failed requests, never crashes", () => {
  it("counts 500s, dropped streams, stalls, in-stream errors and malformed JSON as failed and excludes them", async () => {
    const s = await server({
      firstEventDelayMs: 5,
      intervalMs: 5,
      fault: (i) =>
        ({ 1: { kind: "status", status: 500 }, 3: { kind: "drop", afterEvents: 3 }, 5: { kind: "stall", afterEvents: 2 }, 7: { kind: "error-message", afterEvents: 2 }, 9: { kind: "malformed", afterEvents: 1 } } as const)[i],
    });
    const t0 = Date.now();
    const r = await runBenchmark(base(s, { dataset: prompts(12, 10), maxConcurrency: 4, requestTimeoutMs: 1500 }));
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.metrics.completed).toBe(7);
    expect(r.metrics.failed).toBe(5);
    const errorOf = (i: number) => r.requests[i].error;
    expect(errorOf(1)).toMatch(/HTTP 500/);
    expect(errorOf(3)).toMatch(/aborted|closed before|ECONNRESET/);
    expect(errorOf(5)).toMatch(/timed out after 1500 ms/);
    expect(errorOf(7)).toMatch(/server error in stream/);
    expect(errorOf(9)).toMatch(/malformed JSON/);
    expect(r.metrics.totalOutputTokens).toBe(7 * 10);
    expect(r.metrics.ttft.percentiles.length).toBe(2);
    expect(r.json.failed).toBe(5);
  });

  it("survives a server that dies mid-run and still reports what completed", async () => {
    const s = await server({ firstEventDelayMs: 5, intervalMs: 10 });
    setTimeout(() => s.kill(), 700);
    const t0 = Date.now();
    const r = await runBenchmark(base(s, { dataset: prompts(24, 30), maxConcurrency: 4, requestTimeoutMs: 5000 }));
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(r.metrics.completed + r.metrics.failed).toBe(24);
    expect(r.metrics.completed).toBeGreaterThanOrEqual(4);
    expect(r.metrics.failed).toBeGreaterThanOrEqual(4);
    expect(r.requests.filter((q) => !q.success).every((q) => q.error.length > 0)).toBe(true);
  });

  it("fails every request on connection refused without throwing", async () => {
    const s = await server({ firstEventDelayMs: 1, intervalMs: 1 });
    const deadUrl = s.baseUrl;
    await s.close();
    const r = await runBenchmark({ ...base(s, { dataset: prompts(5, 3), maxConcurrency: 2 }), baseUrl: deadUrl });
    expect(r.metrics.completed).toBe(0);
    expect(r.metrics.failed).toBe(5);
    expect(r.requests[0].error).toMatch(/ECONNREFUSED/);
    expect(r.json.mean_ttft_ms).toBe(0);
  });

  it("ends at the overall timeout: in-flight requests fail, unsent ones fail unsent", async () => {
    const s = await server({ firstEventDelayMs: 5, intervalMs: 5, fault: () => ({ kind: "stall", afterEvents: 1 }) });
    const t0 = Date.now();
    const r = await runBenchmark(base(s, { dataset: prompts(10, 5), maxConcurrency: 2, requestTimeoutMs: 60_000, totalTimeoutMs: 800 }));
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(3_000);
    expect(r.metrics.failed).toBe(10);
    expect(r.requests.filter((q) => q.error.startsWith("not sent")).length).toBe(8);
    expect(r.requests[0].error).toMatch(/total timeout of 800 ms/);
  });

  it("stops when the caller aborts", async () => {
    const s = await server({ firstEventDelayMs: 5, intervalMs: 50 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const r = await runBenchmark(base(s, { dataset: prompts(6, 100), maxConcurrency: 2, signal: controller.signal }));
    expect(r.metrics.failed).toBe(6);
    expect(r.requests[0].error).toMatch(/aborted by the caller/);
  });
});
