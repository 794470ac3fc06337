import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { defaultResultFilename, formatSummaryTable, formatVllmDate, toVllmResultJson, type ResultSource } from "../../../../components/benchmark/runner/vllmResultJson";
import { computeMetrics, type PercentileMetric } from "../../../../components/benchmark/runner/stats";

const FIXED_KEYS = [
  "date", "backend", "endpoint_type", "label", "model_id", "tokenizer_id", "num_prompts", "request_rate", "burstiness",
  "max_concurrency", "duration", "completed", "failed", "total_input_tokens", "total_input_tokens_server", "total_output_tokens", "request_throughput",
  "request_goodput", "output_throughput", "total_token_throughput", "max_output_tokens_per_s", "max_concurrent_requests",
];

function source(percentileMetrics: PercentileMetric[], metricPercentiles: number[]): ResultSource {
  const requests = [
    { success: true, promptLen: 8192, outputTokens: 3, ttftMs: 1800, itlMs: [24, 26], latencyMs: 1850, startMs: 0, generatedText: "abc", error: "" },
    { success: false, promptLen: 8192, outputTokens: 0, ttftMs: 0, itlMs: [], latencyMs: 0, startMs: 0, generatedText: "", error: "HTTP 500" },
  ];
  return {
    metrics: computeMetrics(requests, 2000, metricPercentiles),
    requests,
    options: { label: "openai-chat", modelId: "Qwen/Qwen3.5-397B-A17B", tokenizerId: "tok", numPrompts: 2, maxConcurrency: 32, percentileMetrics, metricPercentiles },
    startedAt: new Date(2026, 2, 1, 14, 22, 33),
  };
}

describe("vllm result JSON", () => {
  it("has vllm's fixed keys in order, then mean/median/std/p<P> per selected metric", () => {
    const json = toVllmResultJson(source(["ttft", "tpot", "itl"], [99]));
    expect(Object.keys(json)).toEqual([
      ...FIXED_KEYS,
      "mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p99_ttft_ms",
      "mean_tpot_ms", "median_tpot_ms", "std_tpot_ms", "p99_tpot_ms",
      "mean_itl_ms", "median_itl_ms", "std_itl_ms", "p99_itl_ms",
    ]);
    expect(json).toMatchObject({ date: "20260301-142233", backend: "openai-chat", endpoint_type: "openai-chat", request_rate: "inf", burstiness: 1, request_goodput: null, completed: 1, failed: 1, duration: 2, total_input_tokens: 8192, total_output_tokens: 3 });
    expect(json.mean_ttft_ms).toBe(1800);
    expect(json.mean_tpot_ms).toBe(25);
    expect(json.mean_itl_ms).toBe(25);
  });

  it("spells fractional percentiles like vllm and includes e2el only when asked", () => {
    const json = toVllmResultJson(source(["itl", "e2el"], [50, 99.9]));
    expect(json).toHaveProperty("p99.9_itl_ms");
    expect(json).toHaveProperty("p50_e2el_ms");
    expect(json).not.toHaveProperty("mean_ttft_ms");
  });

  it("adds the --save-detailed arrays (ttfts and itls in seconds, as vllm writes them)", () => {
    const json = toVllmResultJson(source(["ttft"], [99]), { detailed: true });
    expect(json.input_lens).toEqual([8192, 8192]);
    expect(json.output_lens).toEqual([3, 0]);
    expect(json.ttfts).toEqual([1.8, 0]);
    expect(json.itls).toEqual([[0.024, 0.026], []]);
    expect(json.errors).toEqual(["", "HTTP 500"]);
    expect(json.generated_texts).toEqual(["abc", ""]);
  });

  it("carries every numeric key the vllm seed result has (the other side's parser reads them)", () => {
    const seed = JSON.parse(fs.readFileSync(path.join(__dirname, "../../../fixtures/benchmark/vllm-seed-result.json"), "utf8")) as Record<string, unknown>;
    const json = toVllmResultJson(source(["ttft", "tpot", "itl", "e2el"], [50, 90, 99]));
    // plus the server's prompt-token count, a key of our own that vllm's result does not have
    expect(Object.keys(json).filter((k) => k !== "total_input_tokens_server").sort()).toEqual(Object.keys(seed).sort());
  });

  it("counts input tokens on the client and keeps the server's count beside it (null unless every completed request reported one)", () => {
    const ok = { success: true, outputTokens: 3, ttftMs: 10, itlMs: [1, 1], latencyMs: 12, startMs: 0, generatedText: "", error: "" };
    const withUsage = [{ ...ok, promptLen: 8192, serverPromptTokens: 8201 }, { ...ok, promptLen: 8190, serverPromptTokens: 8199 }];
    const src = (requests: typeof withUsage) => ({ ...source(["ttft"], [99]), metrics: computeMetrics(requests, 1000, [99]), requests });
    const json = toVllmResultJson(src(withUsage));
    expect(json.total_input_tokens).toBe(8192 + 8190);
    expect(json.total_input_tokens_server).toBe(8201 + 8199);
    expect(formatSummaryTable(json, ["ttft"], [99])).toMatch(/Total input tokens \(server's count\):\s+16400\n/);
    const partial = toVllmResultJson(src([withUsage[0], { ...ok, promptLen: 8190 } as (typeof withUsage)[number]]));
    expect(partial.total_input_tokens).toBe(8192 + 8190);
    expect(partial.total_input_tokens_server).toBeNull();
  });

  it("records a tokenizer fallback, and writes no such key otherwise", () => {
    const base = source(["ttft"], [99]);
    expect(toVllmResultJson(base)).not.toHaveProperty("tokenizer_fallback");
    const json = toVllmResultJson({ ...base, options: { ...base.options, tokenizerFallback: "m is not in the local Hugging Face cache" } });
    expect(json.tokenizer_fallback).toBe("m is not in the local Hugging Face cache");
  });

  it("names the file like vllm and prints a summary table", () => {
    const json = toVllmResultJson(source(["ttft", "tpot", "itl"], [99]));
    expect(defaultResultFilename(json)).toBe("openai-chat-infqps-concurrency32-Qwen3.5-397B-A17B-20260301-142233.json");
    const table = formatSummaryTable(json, ["ttft", "tpot", "itl"], [99]);
    expect(table).toMatch(/Successful requests:\s+1\n/);
    expect(table).toMatch(/Failed requests:\s+1\n/);
    expect(table).toMatch(/P99 ITL \(ms\):\s+25\.\d\d/);
    expect(formatVllmDate(new Date(2026, 0, 2, 3, 4, 5))).toBe("20260102-030405");
  });
});
