import { describe, expect, it } from "vitest";
import { nativeBenchArgs, renderNativeBenchCommand } from "../../../components/benchmark/nativeCommand";
import { resolveWorkload } from "../../../components/benchmark/workload";

const SEED = { baseUrl: "http://127.0.0.1:8000/", servedModelName: "qwen", model: "Qwen/Qwen3.5-397B-A17B" };

describe("renderNativeBenchCommand", () => {
  it("renders the native CLI for the seed workload, under timeout when available", () => {
    const cli =
      "npx tsx scripts/bench.ts --base-url http://127.0.0.1:8000 --endpoint /v1/chat/completions --model Qwen/Qwen3.5-397B-A17B" +
      " --tokenizer Qwen/Qwen3.5-397B-A17B --served-model-name qwen --random-input-len 8192 --random-output-len 1024 --num-prompts 512 --max-concurrency 32" +
      " --temperature 0 --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 50,90,99 --total-timeout 3600 --json";
    expect(renderNativeBenchCommand(SEED)).toBe(
      `if command -v timeout >/dev/null 2>&1; then\n  exec timeout --kill-after=30 3720 ${cli}\nfi\nexec ${cli}\n`,
    );
  });

  it("only uses flags the native CLI accepts", async () => {
    const { parseBenchArgs } = await import("../../../scripts/bench");
    const args = nativeBenchArgs({ ...SEED, workload: resolveWorkload({ ignoreEos: false }), timeoutSeconds: 600 });
    const plan = parseBenchArgs(args, {});
    if (plan === "help") throw new Error("parsed as --help");
    expect(plan.jsonOnly).toBe(true);
    expect(plan.run).toMatchObject({
      baseUrl: "http://127.0.0.1:8000",
      endpoint: "/v1/chat/completions",
      servedModelName: "qwen",
      modelId: "Qwen/Qwen3.5-397B-A17B",
      inputLen: 8192,
      outputLen: 1024,
      numPrompts: 512,
      maxConcurrency: 32,
      temperature: 0,
      ignoreEos: false,
      percentileMetrics: ["ttft", "tpot", "itl", "e2el"],
      metricPercentiles: [50, 90, 99],
      totalTimeoutMs: 600_000,
    });
    const seedPlan = parseBenchArgs(nativeBenchArgs(SEED), {});
    expect(seedPlan !== "help" && seedPlan.run.ignoreEos).toBe(true);
  });

  it("never carries the API key", () => {
    expect(renderNativeBenchCommand(SEED)).not.toMatch(/api.?key|Bearer/i);
  });

  it("follows the workload", () => {
    const args = nativeBenchArgs({ ...SEED, workload: resolveWorkload({ inputLen: 64, outputLen: 8, numPrompts: 4, maxConcurrency: 2, ignoreEos: false }) });
    expect(args.join(" ")).toContain("--random-input-len 64 --random-output-len 8 --num-prompts 4 --max-concurrency 2 --temperature 0 --no-ignore-eos --percentile-metrics");
    expect(args).not.toContain("--total-timeout");
  });

  it("rejects a bad URL or timeout, naming the setting", () => {
    expect(() => nativeBenchArgs({ ...SEED, baseUrl: "127.0.0.1:8000" })).toThrow(/baseUrl/);
    expect(() => nativeBenchArgs({ ...SEED, baseUrl: "ftp://x" })).toThrow(/http or https/);
    expect(() => renderNativeBenchCommand({ ...SEED, timeoutSeconds: 1.5 })).toThrow(/timeoutSeconds/);
  });
});
