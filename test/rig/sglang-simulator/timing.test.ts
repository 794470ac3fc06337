import { describe, expect, it } from "vitest";
import {
  DEFAULT_TIMING,
  FAST_TIMING,
  decodeStepMs,
  expectedLatencies,
  percentile,
  prefillMs,
  resolveTiming,
  serverPromptTokens,
  simulateWorkload,
} from "../../fixtures/sglang-simulator";
import { Scheduler, VirtualClock } from "../../fixtures/sglang-simulator/engine";

const SEED = { inputTokens: 8192, outputTokens: 1024, concurrency: 32, numPrompts: 512 };

describe("default timing reproduces the seed run", () => {
  const e = expectedLatencies(DEFAULT_TIMING, SEED);
  it("TTFT, TPOT and ITL match the seed's means", () => {
    expect(e.ttftMs).toBeCloseTo(1825, 0);
    expect(e.tpotMs).toBeGreaterThan(23.5);
    expect(e.tpotMs).toBeLessThan(24.5);
    expect(e.itlMs).toBeGreaterThan(23.5);
    expect(e.itlMs).toBeLessThan(24.5);
  });
  it("throughput and duration are within 2% of the seed", () => {
    expect(Math.abs(e.outputTokPerS - 1232) / 1232).toBeLessThan(0.02);
    expect(Math.abs(e.totalTokPerS - 11092) / 11092).toBeLessThan(0.02);
    expect(Math.abs(e.durationS - 425.5) / 425.5).toBeLessThan(0.02);
    expect(e.maxRunning).toBe(32);
    expect(e.queueMs).toBe(0);
  });
  it("reports the server-side prompt length with the chat template", () => {
    expect(e.serverPromptTokens).toBe(8192 + DEFAULT_TIMING.chatTemplateTokens);
  });
});

describe("pure timing functions", () => {
  it("prefill is linear in uncached tokens and decode in batch size", () => {
    expect(prefillMs(DEFAULT_TIMING, 0)).toBe(185);
    expect(prefillMs(DEFAULT_TIMING, 1000)).toBeCloseTo(385, 6);
    expect(decodeStepMs(DEFAULT_TIMING, 32)).toBe(24);
    expect(decodeStepMs(DEFAULT_TIMING, 0)).toBe(20);
    expect(serverPromptTokens(DEFAULT_TIMING, 100, 3)).toBe(100 + 8 + 10);
  });
  it("resolveTiming validates and names the field, the value and the fix", () => {
    expect(() => resolveTiming({ decodeBaseMs: -1 })).toThrow(/timing\.decodeBaseMs .*-1.*decodeBaseMs: 20/);
    expect(() => resolveTiming({ maxRunningRequests: 0 })).toThrow(/maxRunningRequests must be an integer >= 1, got 0/);
    expect(() => resolveTiming({ tokensPerChunk: 1.5 })).toThrow(/tokensPerChunk/);
    expect(() => resolveTiming({ loadMs: 100, refuseConnectionsMs: 200 })).toThrow(/refuseConnectionsMs \(200\) must not exceed timing\.loadMs \(100\)/);
    expect(resolveTiming({ decodeBaseMs: 3 }).decodeBaseMs).toBe(3);
    expect(resolveTiming({ decodeBaseMs: undefined }).decodeBaseMs).toBe(20);
  });
  it("percentile interpolates linearly at rank (n-1)p/100", () => {
    expect(percentile([], 99)).toBe(0);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10, 0], 99)).toBeCloseTo(9.9, 9);
  });
});

describe("replayed workloads", () => {
  it("a single request: TTFT = prefill, TPOT = one-request step, ITL events bracketed by zero gaps", () => {
    const model = resolveTiming({ prefillBaseMs: 10, prefillPerTokenMs: 0.5, decodeBaseMs: 4, decodePerRunningMs: 1 });
    const [t] = simulateWorkload(model, { inputTokens: 92, outputTokens: 5, concurrency: 1, numPrompts: 1 });
    expect(t.promptTokens).toBe(100);
    expect(t.ttftMs).toBe(10 + 0.5 * 100);
    expect(t.itlsMs).toEqual([0, 5, 5, 5, 5, 0]);
    expect(t.tpotMs).toBe(5);
    expect(t.e2elMs).toBe(60 + 4 * 5);
    expect(t.outputTokens).toBe(5);
  });
  it("requests beyond maxRunningRequests queue FIFO and wait a whole generation", () => {
    const model = resolveTiming({ ...FAST_TIMING, maxRunningRequests: 4 });
    const traces = simulateWorkload(model, { inputTokens: 100, outputTokens: 10, concurrency: 8, numPrompts: 8 });
    const queued = traces.filter((t) => t.queueMs > 0);
    expect(queued).toHaveLength(4);
    const first = traces.filter((t) => t.queueMs === 0);
    for (const q of queued) expect(q.queueMs).toBeCloseTo(first[0].e2elMs, 6);
    const e = expectedLatencies(model, { inputTokens: 100, outputTokens: 10, concurrency: 8, numPrompts: 8 });
    expect(e.maxRunning).toBe(4);
    expect(e.ttftMs).toBeGreaterThan(e.prefillMs);
  });
  it("a bigger batch makes every step slower", () => {
    const at1 = expectedLatencies(FAST_TIMING, { inputTokens: 64, outputTokens: 50, concurrency: 1, numPrompts: 2 });
    const at32 = expectedLatencies(FAST_TIMING, { inputTokens: 64, outputTokens: 50, concurrency: 32, numPrompts: 64 });
    expect(at1.tpotMs).toBeCloseTo(decodeStepMs(FAST_TIMING, 1), 6);
    expect(at32.tpotMs).toBeCloseTo(decodeStepMs(FAST_TIMING, 32), 6);
    expect(at32.outputTokPerS).toBeGreaterThan(at1.outputTokPerS * 10);
  });
  it("several tokens per chunk (speculative decoding) make ITL exceed TPOT", () => {
    const model = resolveTiming({ ...FAST_TIMING, tokensPerChunk: 3 });
    const e = expectedLatencies(model, { inputTokens: 64, outputTokens: 61, concurrency: 1, numPrompts: 1 });
    // 60 tokens after the first in 20 steps of 3.
    expect(e.tpotMs).toBeCloseTo((20 * decodeStepMs(model, 1)) / 60, 6);
    expect(e.itlMs).toBeGreaterThan(e.tpotMs * 2);
  });
  it("rejects malformed workloads", () => {
    expect(() => expectedLatencies(FAST_TIMING, { inputTokens: 1, outputTokens: 1, concurrency: 0, numPrompts: 1 })).toThrow(/workload\.concurrency/);
  });
});

describe("scheduler", () => {
  it("cancelling a running request admits the next queued one at once", () => {
    const clock = new VirtualClock();
    const model = resolveTiming({ ...FAST_TIMING, maxRunningRequests: 1 });
    const scheduler = new Scheduler(model, clock);
    const admitted: number[] = [];
    const gen = (i: number) => ({
      promptTokens: 10, cachedTokens: 0, maxNewTokens: 100, arrivalMs: 0,
      onAdmitted: () => admitted.push(i), onTokens: () => undefined, onFinished: () => undefined,
    });
    const a = scheduler.submit(gen(1));
    scheduler.submit(gen(2));
    expect(scheduler.counters()).toMatchObject({ running: 1, queued: 1 });
    a.cancel();
    expect(admitted).toEqual([1, 2]);
    expect(scheduler.counters()).toMatchObject({ running: 1, queued: 0 });
    clock.runUntilIdle(100_000);
    expect(scheduler.counters()).toMatchObject({ running: 0, generatedTokens: 100 });
  });
});
