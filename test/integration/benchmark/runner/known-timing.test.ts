/**
 * The runner against a server whose schedule is known exactly (test/fixtures/known-timing-sse):
 * timing semantics (judged against the write times the server logged in its own process, with
 * tolerances from the round trip and both processes' stalls measured in the same run), framing
 * variants, what goes on the wire, and every failure mode ending as a failed request rather than an
 * exception, within the timeouts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { runBenchmark, type BenchmarkRunOptions } from "../../../../components/benchmark/runner";
import type { SampleRequest } from "../../../../components/benchmark/runner/dataset";
import { startKnownTimingProcess, type KnownTimingProcess } from "../../../fixtures/known-timing-sse/process";
import { startKnownTimingServer, type KnownTimingServer, type KnownTimingServerOptions } from "../../../fixtures/known-timing-sse/server";
import { stalledMs, StallRecorder } from "../../../fixtures/schedulingDelay";

const servers: Array<KnownTimingServer | KnownTimingProcess> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** The server in a process of its own: for tests that judge timing against what it logged. */
async function serverProcess(opts: KnownTimingServerOptions): Promise<KnownTimingProcess> {
  const p = await startKnownTimingProcess(opts);
  servers.push(p);
  return p;
}

async function server(opts: KnownTimingServerOptions): Promise<KnownTimingServer> {
  const s = await startKnownTimingServer(opts);
  servers.push(s);
  return s;
}

function prompts(n: number, outputLen: number): SampleRequest[] {
  return Array.from({ length: n }, (_, index) => ({ index, prompt: `prompt ${index}`, promptLen: 2, expectedOutputLen: outputLen, tokenMismatch: 0 }));
}

const base = (s: { readonly baseUrl: string }, extra: Partial<BenchmarkRunOptions> = {}): BenchmarkRunOptions => ({
  baseUrl: s.baseUrl,
  servedModelName: "qwen",
  requestIdPrefix: "t-",
  requestTimeoutMs: 20_000,
  totalTimeoutMs: 60_000,
  percentileMetrics: ["ttft", "tpot", "itl", "e2el"],
  metricPercentiles: [50, 99],
  ...extra,
});

describe("runner timing against a known schedule", () => {
  it("measures TTFT, ITL, TPOT and E2EL as the server wrote them; counts from usage; builds prompts with the tokenizer", async () => {
    // The server runs in a process of its own and logs when it wrote each event; the client's figures are
    // judged against that log, never against a schedule kept by timers on the client's own event loop.
    const p = await serverProcess({ firstEventDelayMs: 40, intervalMs: 12, usagePromptTokens: 77 });
    const clock = await p.clockOffset();
    const client = new StallRecorder();
    const r = await runBenchmark(base(p, { inputLen: 32, outputLen: 15, numPrompts: 8, maxConcurrency: 4 }));
    const clientStalls = (await client.stop()).stalls;
    const [sentByRequest, serverStalls] = await Promise.all([p.timings(), p.stalls()]);
    expect(r.metrics.completed).toBe(8);
    expect(r.metrics.failed).toBe(0);
    expect(r.metrics.totalOutputTokens).toBe(8 * 15);
    // input counted on the client from the prompts built (32 tokens each, as vllm 0.18.0); the server's usage.prompt_tokens beside it
    expect(r.metrics.totalInputTokens).toBe(r.requests.reduce((sum, q) => sum + q.promptLen, 0));
    expect(r.requests.every((q) => q.promptLen === 32)).toBe(true);
    expect(r.metrics.totalInputTokensServer).toBe(8 * 77);
    expect(r.requests.every((q) => q.itlMs.length === 14 && q.tokenEvents === 15)).toBe(true);

    // An event written at `sent` (the server's log, moved to this process's clock) reaches the client at `at`:
    // never before it (but for the clock offset's uncertainty), and at most a round trip after it plus the time
    // either process was not running in between (both measured in this run) and 1 ms of each sampler's jitter.
    const late = (sent: number, at: number) =>
      clock.rttMs + clock.uncertaintyMs + stalledMs(clientStalls, sent, at) + stalledMs(serverStalls, sent + clock.offsetMs, at + clock.offsetMs) + 2;
    const early = clock.uncertaintyMs + 0.01;
    for (const q of r.requests) {
      const sent = (sentByRequest[q.requestId] ?? []).map((t) => t - clock.offsetMs);
      expect(sent, q.requestId).toHaveLength(15);
      let arrival = q.startEpochMs + q.ttftMs;
      const at = [arrival, ...q.itlMs.map((gap) => (arrival += gap))];
      const within = (label: string, measured: number, truth: number, below: number, above: number) => {
        expect(measured - truth, `${q.requestId} ${label}: measured ${measured.toFixed(3)} vs written ${truth.toFixed(3)}`).toBeGreaterThanOrEqual(-below);
        expect(measured - truth, `${q.requestId} ${label}: measured ${measured.toFixed(3)} vs written ${truth.toFixed(3)}`).toBeLessThanOrEqual(above);
      };
      const last = 14;
      within("TTFT", q.ttftMs, sent[0] - q.startEpochMs, early, late(sent[0], at[0]));
      for (let k = 1; k <= last; k++) within(`ITL ${k}`, q.itlMs[k - 1], sent[k] - sent[k - 1], late(sent[k - 1], at[k - 1]) + early, late(sent[k], at[k]) + early);
      within("TPOT", (q.latencyMs - q.ttftMs) / last, (sent[last] - sent[0]) / last, (late(sent[0], at[0]) + early) / last, (late(sent[last], at[last]) + early) / last);
      within("E2EL", q.latencyMs, sent[last] - q.startEpochMs, early, late(sent[last], at[last]));
    }
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
    const r = await runBenchmark(base(s, { dataset: prompts(12, 10), maxConcurrency: 4, requestTimeoutMs: 1500 }));
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
    // Dies once 4 streams were sent whole (a stream takes ~300 ms; 24 at 4 at once take ~1.8 s), so
    // some requests completed and many did not, however slow the machine.
    const whole = () => [...s.sendTimes.values()].filter((t) => t.length === 30).length;
    const killer = (async () => {
      for (let i = 0; i < 100_000 && whole() < 4; i++) await new Promise((r) => setTimeout(r, 1));
      s.kill();
    })();
    const r = await runBenchmark(base(s, { dataset: prompts(24, 30), maxConcurrency: 4, requestTimeoutMs: 5000 }));
    await killer;
    expect(r.metrics.completed + r.metrics.failed).toBe(24);
    expect(r.metrics.completed).toBeGreaterThanOrEqual(4);
    expect(r.metrics.failed).toBeGreaterThanOrEqual(4);
    expect(r.requests.filter((q) => !q.success).every((q) => q.error.length > 0)).toBe(true);
    // Ended by the death (cut streams, refused connections), not by waiting out a timeout.
    expect(r.requests.filter((q) => /timed out|total timeout/.test(q.error))).toEqual([]);
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
    const t0 = performance.now();
    const r = await runBenchmark(base(s, { dataset: prompts(10, 5), maxConcurrency: 2, requestTimeoutMs: 60_000, totalTimeoutMs: 800 }));
    const elapsed = performance.now() - t0;
    // Ended by the overall timeout: not before it, and before any per-request timeout could fire.
    expect(elapsed).toBeGreaterThanOrEqual(800 - 1);
    expect(elapsed).toBeLessThan(60_000);
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
