/**
 * The idle decision (components/ops/idle.ts) against the simulator's /metrics: the names it reads are the ones the
 * simulator exports like SGLang, a finished request moves the counter, a request in flight shows in the gauge.
 */
import { afterEach, describe, expect, it } from "vitest";
import { decideIdle, sampleFromScrapes, type ActivityRecord } from "../../../components/ops/idle";
import { FAST_TIMING, startSimulator, type RunningSimulator } from "../../fixtures/sglang-simulator";
import { chatBody, streamRequest } from "../../fixtures/sglang-simulator/sse-client";

const sims: RunningSimulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function scrape(sim: RunningSimulator, atMs: number) {
  const text = await (await fetch(`${sim.baseUrl}/metrics`)).text();
  return sampleFromScrapes([{ source: "server", text }], atMs);
}

describe("idle signals from the simulator", () => {
  it("a finished request moves sglang:num_requests_total and keeps the stack; silence after it is idle time", async () => {
    const sim = await startSimulator({ servedModelName: "qwen", enableMetrics: true, timing: FAST_TIMING, tokenizer: "estimate" });
    sims.push(sim);
    await sim.whenHealthy;
    const first = await scrape(sim, 1_000);
    expect(first.counters["server:sglang:num_requests_total"]).toBe(0);
    const record: ActivityRecord = { stack: "local", lastSample: first, lastActivityAtMs: 1_000, lastActivityReason: "first reading" };
    await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody("hello", 3));
    const second = await scrape(sim, 2_000);
    const busy = decideIdle({ stack: "local", nowMs: 2_000, idleAfterMs: 60_000, protectedReason: undefined, sample: second, previous: record });
    expect(busy.reason).toBe("activity: server:sglang:num_requests_total 0 -> 1");
    const quiet = decideIdle({ stack: "local", nowMs: 70_000, idleAfterMs: 60_000, protectedReason: undefined, sample: await scrape(sim, 70_000), previous: busy.record });
    expect(quiet.verdict).toBe("teardown");
  });

  it("a request in flight shows in sglang:num_running_reqs and wins over any silence", async () => {
    const sim = await startSimulator({ servedModelName: "qwen", enableMetrics: true, timing: { ...FAST_TIMING, decodeBaseMs: 50 }, tokenizer: "estimate" });
    sims.push(sim);
    await sim.whenHealthy;
    const before = await scrape(sim, 0);
    // 400 tokens x 50 ms: the request is still decoding while the loop below reads the gauge.
    const stream = streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody("a long answer please", 400)).catch(() => undefined);
    let sample = before;
    for (let i = 0; i < 200 && (sample.inFlight["server:sglang:num_running_reqs"] ?? 0) === 0; i += 1) {
      await new Promise((r) => setTimeout(r, 10));
      sample = await scrape(sim, 10 * 60_000);
    }
    const d = decideIdle({
      stack: "local",
      nowMs: 10 * 60_000,
      idleAfterMs: 60_000,
      protectedReason: undefined,
      sample,
      previous: { stack: "local", lastSample: before, lastActivityAtMs: 0, lastActivityReason: "first reading" },
    });
    expect(d.reason).toBe("activity: server:sglang:num_running_reqs = 1 in flight");
    await sim.close();
    await stream;
  });
});
