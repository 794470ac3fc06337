/**
 * The stack's request-rate search (issue 23, item 4): `benchmarkCapacity.dimension: rate` through the settings, the
 * re-run key, the CLI's command line (read back by the CLI's own parser) and the plan; a concurrency search's text
 * unchanged.
 */
import { describe, expect, it } from "vitest";
import { summarizeCapacity, type CapacityResult } from "../../../components/benchmark/capacity";
import { capacityKey, capacityPlanForStack, nativeCapacityArgs, validateCapacitySettings, type CapacitySettings } from "../../../components/benchmark/capacityCommand";
import { capacityAnswerMarkdown } from "../../../components/benchmark/capacityReport";
import { resolveWorkload } from "../../../components/benchmark/workload";
import { parseCapacityArgs } from "../../../scripts/bench-capacity";

const WORKLOAD = resolveWorkload({ inputLen: 64, outputLen: 8, numPrompts: 48, maxConcurrency: 4 });
const RATE: CapacitySettings = { dimension: "rate", rateRange: { low: 0.5, high: 8 }, burstiness: 0.5, slo: { ttftP99Ms: 300 }, resolution: 0.25, gpus: 1 };
const args = (capacity: CapacitySettings) =>
  nativeCapacityArgs({ baseUrl: "http://127.0.0.1:18000", servedModelName: "qwen", model: "m", tokenizer: "bundled", workload: WORKLOAD, capacity, levelTimeoutSeconds: 60 });

describe("rate search settings", () => {
  it("refuses what a rate or concurrency search cannot use, naming the setting, the value and the fix", () => {
    expect(() => validateCapacitySettings({ dimension: "rate", slo: undefined })).toThrow(/benchmarkCapacity\.rateRange is not set, but the search turns the rate\. Fix: e\.g\. rateRange: "0\.5:16"/);
    expect(() => validateCapacitySettings({ concurrencyRange: { low: 1, high: 8 }, burstiness: 2, slo: undefined })).toThrow(/benchmarkCapacity\.burstiness \(2\) applies to a rate search only\. Fix:/);
    expect(() => validateCapacitySettings({ ...RATE, burstiness: 0 })).toThrow(/benchmarkCapacity\.burstiness must be a number > 0, got 0\. Fix:/);
    expect(() => validateCapacitySettings({ ...RATE, rateRange: { low: 4, high: 1 } })).toThrow(/benchmarkCapacity\.rateRange: requestRate range 4:1 is not LOW:HIGH/);
    expect(() => validateCapacitySettings({ ...RATE, dimension: "tokens" as never })).toThrow(/dimension must be concurrency or rate, got "tokens"/);
    // A rate's resolution is in req/s, not a whole number.
    expect(validateCapacitySettings(RATE).resolution).toBe(0.25);
    expect(() => validateCapacitySettings({ concurrencyRange: { low: 1, high: 8 }, resolution: 0.5, slo: undefined })).toThrow(/resolution must be a whole number/);
  });

  it("a concurrency search keeps the re-run key stacks recorded before rate searches (no re-run); a rate search's names every knob", () => {
    expect(capacityKey({ concurrencyRange: { low: 1, high: 8 }, slo: { ttftP99Ms: 100, itlP99Ms: 40 }, promptsPerConcurrency: 4, maxDurationS: 600, gpus: 2 })).toBe(
      '{"concurrencyRange":"1:8","slo":{"ttft":100,"itl":40},"promptsPerConcurrency":4,"repeats":1,"resolution":1,"warmupRequests":null,"maxDurationS":600,"gpus":2}',
    );
    const key = JSON.parse(capacityKey(RATE)) as Record<string, unknown>;
    expect(key).toMatchObject({ concurrencyRange: null, dimension: "rate", rateRange: "0.5:8", burstiness: 0.5, maxConcurrency: null, resolution: 0.25 });
    expect(capacityKey({ ...RATE, burstiness: 1 })).not.toBe(capacityKey(RATE));
  });

  it("the command line asks the CLI for a rate search, and the CLI's own parser reads it back as one", () => {
    const argv = args(RATE);
    expect(argv.join(" ")).toContain("--request-rate-range 0.5:8 --burstiness 0.5 --slo ttft_p99_ms=300 --resolution 0.25");
    expect(argv).not.toContain("--concurrency-range");
    // No client cap unless asked: the workload's fixed-run concurrency would throttle the arrivals.
    expect(argv).not.toContain("--max-concurrency");
    // Warm-up: the fixed run's concurrency, not the CLI's one wave at the level (every prompt at once without a cap).
    expect(argv.join(" ")).toContain("--warmup-requests 4");
    expect(args({ ...RATE, warmupRequests: 0 }).join(" ")).toContain("--warmup-requests 0");
    const cli = parseCapacityArgs(argv, {});
    if (cli === "help") throw new Error("unexpected help");
    expect(cli.axis).toBe("requestRate");
    expect(cli.range).toEqual({ low: 0.5, high: 8 });
    expect(cli.resolution).toBe(0.25);
    expect(cli.fixed).toEqual({ concurrency: 48, burstiness: 0.5 });
    expect(cli.warmupRequests).toBe(4);

    const capped = parseCapacityArgs(args({ ...RATE, maxConcurrency: 16 }), {});
    if (capped === "help") throw new Error("unexpected help");
    expect(capped.fixed).toEqual({ concurrency: 16, burstiness: 0.5 });
  });

  it("a concurrency search's command line is unchanged", () => {
    const argv = args({ concurrencyRange: { low: 2, high: 16 }, slo: { ttftP99Ms: 300 } });
    expect(argv.join(" ")).toContain("--concurrency-range 2:16 --slo ttft_p99_ms=300");
    expect(argv).not.toContain("--request-rate-range");
    expect(argv).not.toContain("--burstiness");
    expect(argv).not.toContain("--warmup-requests");
  });

  it("the stack's plan previews rate levels at the client cap", () => {
    const plan = capacityPlanForStack(RATE, WORKLOAD, 2);
    expect(plan.axis).toBe("requestRate");
    expect(plan.bracketLevels.map((l) => l.x)).toEqual([0.5, 1, 2, 4, 8]);
  });
});

describe("the rate answer in words", () => {
  const point = (rate: number, meets: boolean) => ({
    level: { concurrency: 48, requestRate: rate, burstiness: 1 },
    order: 0,
    repeats: [],
    mean: { completed: 48, failed: 0, durationS: 10, totalInputTokens: 1, totalOutputTokens: 1, requestThroughput: rate, outputThroughput: 1, totalTokenThroughput: 1, requestGoodput: undefined, ttftMeanMs: 1, ttftP99Ms: 1, tpotMeanMs: 1, tpotP99Ms: 1, itlMeanMs: 1, itlP99Ms: 1, e2elMeanMs: undefined, e2elP99Ms: undefined },
    ci95: {},
    meetsSlo: meets,
    misses: meets ? [] : ["ttft_p99_ms 900 > 300"],
    outputTokPerSPerUser: 1,
    outputTokPerSPerGpu: 1,
    totalTokPerSPerGpu: 1,
    wallS: 1,
  });

  it("says the arrival process, the client slots and the resolution", () => {
    const r: CapacityResult = { axis: "requestRate", slo: { ttftP99Ms: 300 }, max: 4.5, firstMissing: 5, atMax: point(4.5, true), stop: "resolved", nonMonotone: false, points: [point(4.5, true), point(5, false)], elapsedS: 1, resolution: 0.5 };
    const s = summarizeCapacity(r);
    expect(s.maxRequestRate).toBe(4.5);
    expect(s.maxConcurrency).toBeNull();
    expect(capacityAnswerMarkdown(s)).toBe("**4.5** requests/s (Poisson arrivals, at most 48 in flight; resolution 0.5 req/s)");
  });
});
