/**
 * `--request-rate` in the native runner: each request waits for its scheduled arrival (vllm's gamma process)
 * before taking a slot. Only lower bounds on time are asserted (a loaded machine delays, it never hurries).
 */
import { afterEach, describe, expect, it } from "vitest";
import { runBenchmark } from "../../../../components/benchmark/runner";
import { arrivalOffsetsMs } from "../../../../components/benchmark/runner/arrivals";
import type { SampleRequest } from "../../../../components/benchmark/runner/dataset";
import { startKnownTimingServer, type KnownTimingServer } from "../../../fixtures/known-timing-sse/server";

const servers: KnownTimingServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function prompts(n: number): SampleRequest[] {
  return Array.from({ length: n }, (_, index) => ({ index, prompt: `prompt ${index}`, promptLen: 2, expectedOutputLen: 3, tokenMismatch: 0 }));
}

describe("request rate", () => {
  it("starts request i no earlier than its arrival; the run lasts at least N / rate; the result records the rate", async () => {
    const s = await startKnownTimingServer({ firstEventDelayMs: 5, intervalMs: 2 });
    servers.push(s);
    const n = 24;
    const rate = 40;
    const r = await runBenchmark({
      baseUrl: s.baseUrl,
      servedModelName: "qwen",
      dataset: prompts(n),
      maxConcurrency: n,
      requestRate: rate,
      burstiness: 0.5,
      seed: 11,
      requestTimeoutMs: 20_000,
      totalTimeoutMs: 60_000,
    });
    expect(r.metrics.completed).toBe(n);
    const arrivals = arrivalOffsetsMs(n, rate, 0.5, 11);
    // startedAt (a Date, whole ms) is taken just before the run's clock starts; setTimeout rounds to 1 ms, and
    // Date and performance.timeOrigin may disagree by a few ms: 5 ms of slack, far below the gaps (25 ms mean).
    const runStartEpoch = r.startedAt.getTime();
    for (const q of r.requests) expect(q.startEpochMs - runStartEpoch).toBeGreaterThanOrEqual(arrivals[q.index] - 5);
    const starts = [...r.requests].sort((a, b) => a.index - b.index).map((q) => q.startMs);
    expect(starts.every((t, i) => i === 0 || t >= starts[i - 1] - 1)).toBe(true);
    expect(r.metrics.durationS * 1000).toBeGreaterThanOrEqual((n / rate) * 1000 - 1);
    expect(r.json.request_rate).toBe(40);
    expect(r.json.burstiness).toBe(0.5);
  });

  it("an abort during a long wait for arrivals ends the run at once", async () => {
    const s = await startKnownTimingServer({ firstEventDelayMs: 5, intervalMs: 2 });
    servers.push(s);
    const controller = new AbortController();
    const started = performance.now();
    const run = runBenchmark({ baseUrl: s.baseUrl, servedModelName: "qwen", dataset: prompts(4), maxConcurrency: 4, requestRate: 0.01, burstiness: Infinity, signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    const r = await run;
    // the first arrival was 100 s away: ending well before it proves the sleep was cut
    expect(performance.now() - started).toBeLessThan(50_000);
    expect(r.metrics.completed).toBe(0);
    expect(r.requests.every((q) => /not sent/.test(q.error))).toBe(true);
  });
});
