import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  extractResultObject,
  parseBenchmarkOutput,
  parseBenchmarkResult,
  sanitizePythonJson,
  summarize,
  toNumber,
} from "../../../components/benchmark/results";

const fixture = fs.readFileSync(path.join(__dirname, "../../fixtures/benchmark/vllm-seed-result.json"), "utf8");

describe("parseBenchmarkOutput on the vllm --save-result fixture", () => {
  const m = parseBenchmarkOutput(fixture);

  it("reads counts, duration and token totals", () => {
    expect(m.completed).toBe(512);
    expect(m.failed).toBe(0);
    expect(m.durationS).toBeCloseTo(425.3742, 4);
    expect(m.totalInputTokens).toBe(4_194_304);
    expect(m.totalOutputTokens).toBe(524_288);
  });

  it("reads throughputs", () => {
    expect(m.outputThroughput).toBeCloseTo(1232.53, 2);
    expect(m.totalTokenThroughput).toBeCloseTo(11092.8, 1);
    expect(m.requestThroughput).toBeCloseTo(1.2036, 4);
  });

  it("reads every latency statistic in ms, including p90 and std", () => {
    expect(m.ttft).toEqual({ mean: 1825.41, median: 1493.87, p90: 3120.52, p99: 5008.13, std: 902.66, percentiles: { "50": 1493.87, "90": 3120.52, "99": 5008.13 } });
    expect(m.tpot.mean).toBe(24.02);
    expect(m.tpot.p99).toBe(26.04);
    expect(m.itl.mean).toBe(24.01);
    expect(m.itl.p99).toBe(47.12);
    expect(m.e2el?.mean).toBe(26398.7);
    expect(m.e2el?.p90).toBe(27902.3);
  });

  it("reads the traffic settings, with request_rate 'inf' kept as \"inf\"", () => {
    expect(m.requestRate).toBe("inf");
    expect(m.maxConcurrency).toBe(32);
    expect(m.numPrompts).toBe(512);
    expect(m.modelId).toBe("Qwen/Qwen3.5-397B-A17B");
    expect(m.backend).toBe("openai-chat");
    expect(m.requestGoodput).toBeUndefined(); // null in the file
    expect(m.maxOutputTokensPerS).toBe(1376);
    expect(m.missingKeys).toEqual([]);
  });

  it("keeps the whole object as raw", () => {
    expect(m.raw).toEqual(JSON.parse(fixture));
  });

  it("is self-consistent: throughput = tokens / duration", () => {
    expect(m.outputThroughput).toBeCloseTo(m.totalOutputTokens / m.durationS, 6);
    expect(m.totalTokenThroughput).toBeCloseTo((m.totalInputTokens + m.totalOutputTokens) / m.durationS, 6);
  });
});

describe("tolerance", () => {
  const minimal = { completed: 10, duration: 5 };

  it("accepts a result with only completed and duration, listing what is missing", () => {
    const m = parseBenchmarkResult(minimal);
    expect(m.completed).toBe(10);
    expect(m.outputThroughput).toBe(0);
    expect(m.ttft).toEqual({ mean: 0, median: 0, p99: 0, percentiles: {} });
    expect(m.e2el).toBeUndefined();
    expect(m.missingKeys).toEqual(
      expect.arrayContaining(["failed", "output_throughput", "total_token_throughput", "mean_ttft_ms", "p99_ttft_ms", "p99_itl_ms"]),
    );
    // e2el is optional in vllm (not in the default --percentile-metrics): not reported missing.
    expect(m.missingKeys.some((k) => k.includes("e2el"))).toBe(false);
  });

  it("ignores extra keys (rtfx, detailed arrays, metadata) but keeps them in raw", () => {
    const m = parseBenchmarkResult({
      ...JSON.parse(fixture),
      rtfx: 0,
      ttfts: [1.1, 2.2],
      itls: [[0.02, 0.03]],
      errors: ["", ""],
      server_args: { tp: 8 },
      some_future_key: "x",
    });
    expect(m.outputThroughput).toBeCloseTo(1232.53, 2);
    expect(m.raw["some_future_key"]).toBe("x");
  });

  it("reads numbers given as strings and p99.9 keys", () => {
    const m = parseBenchmarkResult({
      completed: "512",
      duration: "425.5",
      failed: "0",
      output_throughput: "1232.0",
      request_rate: "12.5",
      mean_itl_ms: "24",
      median_itl_ms: 22,
      p99_itl_ms: "47",
      "p99.9_itl_ms": "88.25",
      "p99.99_itl_ms": 120,
    });
    expect(m.completed).toBe(512);
    expect(m.durationS).toBe(425.5);
    expect(m.outputThroughput).toBe(1232);
    expect(m.requestRate).toBe(12.5);
    expect(m.itl.percentiles).toEqual({ "99": 47, "99.9": 88.25, "99.99": 120 });
    expect(m.itl.p90).toBeUndefined();
  });

  it("falls back to p50 when median is absent", () => {
    const m = parseBenchmarkResult({ ...minimal, mean_ttft_ms: 10, p50_ttft_ms: 9, p99_ttft_ms: 30 });
    expect(m.ttft.median).toBe(9);
    expect(m.missingKeys).toContain("median_ttft_ms");
  });

  it("accepts Python's bare NaN / Infinity tokens", () => {
    const text = '{"completed": 3, "duration": 2.0, "mean_ttft_ms": 5, "std_ttft_ms": NaN, "request_rate": Infinity, "label": "NaN Infinity inside a string", "max_output_tokens_per_s": -Infinity}';
    const m = parseBenchmarkOutput(text);
    expect(m.ttft.mean).toBe(5);
    expect(Number.isNaN(m.ttft.std)).toBe(true);
    expect(m.requestRate).toBe("inf");
    expect(m.raw["label"]).toBe("NaN Infinity inside a string");
    expect(m.maxOutputTokensPerS).toBe(-Infinity);
    // summarize makes the value safe for Pulumi state (no non-finite numbers survive)
    const safe = summarize(m);
    expect(JSON.stringify(safe)).not.toMatch(/Infinity|NaN/);
    expect(safe.ttft.std).toBeNull();
    expect("raw" in safe).toBe(false);
  });

  it("finds the JSON after log lines on stdout", () => {
    const m = parseBenchmarkOutput(`Starting benchmark...\nprogress 100%\n${fixture}`);
    expect(m.completed).toBe(512);
  });

  it("rejects empty output, non-JSON and objects without completed/duration, naming the fix", () => {
    expect(() => parseBenchmarkOutput("   \n")).toThrow(/empty.*stderr/);
    expect(() => parseBenchmarkOutput("Traceback (most recent call last): boom")).toThrow(/not a JSON object.*--save-result/);
    expect(() => parseBenchmarkOutput("[1,2,3]")).toThrow(/not a JSON object/);
    expect(() => parseBenchmarkResult({ output_throughput: 1 })).toThrow(/"completed".*keys seen: output_throughput/);
  });
});

describe("helpers", () => {
  it("toNumber", () => {
    expect(toNumber(3)).toBe(3);
    expect(toNumber("inf")).toBe(Infinity);
    expect(toNumber("-inf")).toBe(-Infinity);
    expect(Number.isNaN(toNumber("NaN"))).toBe(true);
    expect(toNumber("1e3")).toBe(1000);
    expect(toNumber("abc")).toBeUndefined();
    expect(toNumber(null)).toBeUndefined();
    expect(toNumber("")).toBeUndefined();
  });

  it("sanitizePythonJson leaves strings (with escaped quotes) alone", () => {
    const s = '{"a": NaN, "b": "say \\"NaN\\" Infinity", "c": [Infinity, -Infinity]}';
    expect(JSON.parse(sanitizePythonJson(s))).toEqual({ a: "NaN", b: 'say "NaN" Infinity', c: ["Infinity", "-Infinity"] });
  });

  it("extractResultObject prefers the whole text", () => {
    expect(extractResultObject('{"completed":1}')).toEqual({ completed: 1 });
  });
});
