/**
 * The shared-prefix coding workload (issue 23, item 5): vllm's `prefix_repetition` dataset as a stack workload, in
 * both runners' command lines (each read back by its own parser here; vllm's in the conformance suite), in the
 * capacity search's levels and warm-ups, in the config slice and in the provenance; the random workload's texts
 * unchanged.
 */
import { describe, expect, it } from "vitest";
import { parseStackConfig, type RawConfig } from "../../../components/config";
import { benchmarkArgsFor } from "../../../components/stack";
import { nativeMeasure, sharedPrefixPrompts, warmupDataset } from "../../../components/benchmark/capacityNative";
import type { BenchmarkResult, BenchmarkRunOptions } from "../../../components/benchmark/runner/runner";
import { remoteLevelScripts, remotePromptsAtLevel } from "../../../components/benchmark/capacityRemote";
import { nativeBenchArgs } from "../../../components/benchmark/nativeCommand";
import { datasetLabel, workloadIdentity, workloadProvenanceOf } from "../../../components/benchmark/provenance";
import { vllmBenchServeArgs } from "../../../components/benchmark/remoteRunner";
import { datasetArgs, resolveWorkload, workloadKey } from "../../../components/benchmark/workload";
import { parseBenchArgs } from "../../../scripts/bench";
import { configProblems } from "../../fixtures/configProblems";
import { translateVllmArgs } from "../../fixtures/stand-in-images/vllm-cli";

const PREFIX = { prefixLen: 7680, suffixLen: 512, numPrefixes: 8 };
const CODING_PREFIX = resolveWorkload({ prefixRepetition: PREFIX });

describe("the workload", () => {
  it("prompts are prefix + suffix tokens; the prompt count must split evenly over the prefixes", () => {
    expect(CODING_PREFIX).toMatchObject({ inputLen: 8192, outputLen: 1024, numPrompts: 512, prefixRepetition: PREFIX });
    expect(() => resolveWorkload({ prefixRepetition: PREFIX, numPrompts: 100 })).toThrow(
      /numPrompts \(100\) must be a multiple of prefixRepetition\.numPrefixes \(8\): vllm sends numPrompts ÷ numPrefixes requests per prefix and drops the rest\. Fix: numPrompts 96\./,
    );
    expect(() => resolveWorkload({ prefixRepetition: { ...PREFIX, suffixLen: 0 } })).toThrow(/prefixRepetition\.suffixLen must be a whole number between 1 and 1000000, got 0\. Fix:/);
  });

  it("the random workload keeps its re-run key (no re-run for existing stacks); the shared one has its own", () => {
    expect(workloadKey(resolveWorkload({}))).toBe(
      '{"inputLen":8192,"outputLen":1024,"numPrompts":512,"maxConcurrency":32,"endpoint":"/v1/chat/completions","temperature":0,"ignoreEos":true,"percentileMetrics":["ttft","tpot","itl","e2el"],"metricPercentiles":[50,90,99]}',
    );
    expect(JSON.parse(workloadKey(CODING_PREFIX))).toMatchObject({ inputLen: 8192, prefixRepetition: [7680, 512, 8] });
    expect(workloadKey(resolveWorkload({ prefixRepetition: { ...PREFIX, numPrefixes: 16 } }))).not.toBe(workloadKey(CODING_PREFIX));
  });

  it("provenance names the dataset with its sizes, so other sizes are another workload to a comparison", () => {
    expect(workloadProvenanceOf(resolveWorkload({})).dataset).toBe("random");
    const shared = workloadProvenanceOf(CODING_PREFIX);
    expect(shared.dataset).toBe(datasetLabel(PREFIX));
    expect(shared.dataset).toBe("prefix_repetition (8 shared prefixes of 7680 tokens + 512 own)");
    expect(workloadIdentity(shared)).not.toBe(workloadIdentity(workloadProvenanceOf(resolveWorkload({ prefixRepetition: { ...PREFIX, prefixLen: 7168, suffixLen: 1024 } }))));
    expect(workloadIdentity(shared)).not.toBe(workloadIdentity(workloadProvenanceOf(resolveWorkload({}))));
  });
});

describe("both runners' command lines", () => {
  it("the remote runner renders vllm's prefix_repetition flags in place of the random ones", () => {
    const argv = vllmBenchServeArgs({ port: 8000, model: "m", servedModelName: "qwen", workload: CODING_PREFIX, resultFilename: "r.json" });
    expect(argv.join(" ")).toContain(
      "--dataset-name prefix_repetition --prefix-repetition-prefix-len 7680 --prefix-repetition-suffix-len 512 --prefix-repetition-num-prefixes 8 --prefix-repetition-output-len 1024 --num-prompts 512",
    );
    expect(argv.some((a) => a.startsWith("--random-"))).toBe(false);
    // The vllm stand-in (the rig's remote runner) hands the same dataset to the native runner it runs.
    const standIn = parseBenchArgs(translateVllmArgs(argv), {});
    if (standIn === "help") throw new Error("unexpected help");
    expect(standIn.run.datasetSpec).toEqual({ name: "prefix_repetition", ...PREFIX });
    expect(standIn.run.outputLen).toBe(1024);
    // The random workload's argv is the one it always was.
    expect(datasetArgs(resolveWorkload({}))).toEqual(["--dataset-name", "random", "--random-input-len", "8192", "--random-output-len", "1024"]);
  });

  it("the native CLI reads its command line back as the same dataset, lengths and count", () => {
    const argv = nativeBenchArgs({ baseUrl: "http://127.0.0.1:8000", servedModelName: "qwen", model: "m", tokenizer: "bundled", workload: CODING_PREFIX });
    const cli = parseBenchArgs(argv, {});
    if (cli === "help") throw new Error("unexpected help");
    expect(cli.run.datasetSpec).toEqual({ name: "prefix_repetition", ...PREFIX });
    expect(cli.run.outputLen).toBe(1024);
    expect(cli.run.numPrompts).toBe(512);
    // The random workload's native command line is unchanged (no --dataset-name: the CLI's default).
    expect(nativeBenchArgs({ baseUrl: "http://127.0.0.1:8000", servedModelName: "qwen", model: "m", workload: resolveWorkload({}) })).not.toContain("--dataset-name");
  });
});

describe("the capacity search with shared prefixes", () => {
  const options = { settings: { image: "vllm/vllm-openai:v0.18.0", port: 8000, model: "m", servedModelName: "qwen", resultDir: "/r" }, workload: CODING_PREFIX, levelTimeoutSeconds: 60 };

  it("a level's prompts round down to a multiple of the prefixes, at least one each", () => {
    const level = (concurrency: number) => ({ concurrency, requestRate: Infinity, burstiness: 1 });
    expect(remotePromptsAtLevel({ ...options, promptsPerConcurrency: 3 }, level(5))).toBe(8);
    expect(remotePromptsAtLevel({ ...options, promptsPerConcurrency: 3 }, level(20))).toBe(56);
    expect(remotePromptsAtLevel({ ...options, promptsPerConcurrency: 3 }, level(1))).toBe(8);
    expect(remotePromptsAtLevel({ ...options, workload: resolveWorkload({}), promptsPerConcurrency: 3 }, level(5))).toBe(15);
  });

  it("warm-ups send random prompts of the same length (a shared-prefix one would need a request per prefix); measured runs the shared ones", () => {
    const scripts = remoteLevelScripts(options, { concurrency: 4, requestRate: Infinity, burstiness: 1 }, 0, 60);
    expect(scripts.warmup).toContain("--dataset-name random --random-input-len 8192 --random-output-len 1024 --num-prompts 4");
    expect(scripts.measured).toContain("--dataset-name prefix_repetition");
    expect(warmupDataset({ datasetSpec: { name: "prefix_repetition", ...PREFIX } })).toEqual({ datasetSpec: { name: "random" }, inputLen: 8192 });
    expect(warmupDataset({ datasetSpec: { name: "random" }, inputLen: 64 })).toEqual({});
  });

  it("the native runner: warm-up random at the shared prompts' length, measured runs shared and rounded to the prefixes", async () => {
    const calls: BenchmarkRunOptions[] = [];
    const fakeRun = async (o: BenchmarkRunOptions) => {
      calls.push(o);
      const json = {
        completed: o.numPrompts, failed: 0, duration: 1, total_input_tokens: 1, total_output_tokens: 1, request_throughput: 1, request_goodput: null,
        output_throughput: 10, total_token_throughput: 20, mean_ttft_ms: 1, median_ttft_ms: 1, p99_ttft_ms: 2, mean_tpot_ms: 3, median_tpot_ms: 3, p99_tpot_ms: 4,
        mean_itl_ms: 3, median_itl_ms: 3, p99_itl_ms: 5, mean_e2el_ms: 9, median_e2el_ms: 9, p99_e2el_ms: 10,
      };
      return { json } as unknown as BenchmarkResult;
    };
    const spec = { name: "prefix_repetition" as const, prefixLen: 448, suffixLen: 64, numPrefixes: 4 };
    const measure = nativeMeasure({ run: { baseUrl: "http://x", servedModelName: "q", numPrompts: 64, datasetSpec: spec }, promptsPerConcurrency: 3, runBenchmark: fakeRun });
    await measure({ concurrency: 3, requestRate: Infinity, burstiness: 1 }, { remainingS: Infinity });
    expect(calls[0]).toMatchObject({ numPrompts: 3, datasetSpec: { name: "random" }, inputLen: 512 });
    // 3 × 3 = 9 prompts: 8, two per prefix.
    expect(calls[1]).toMatchObject({ numPrompts: 8, datasetSpec: spec });
    await measure({ concurrency: 1, requestRate: Infinity, burstiness: 1 }, { remainingS: Infinity });
    // 3 prompts would leave a prefix without a request (vllm refuses that): one each.
    expect(calls[3]).toMatchObject({ numPrompts: 4, datasetSpec: spec });
    expect(sharedPrefixPrompts(9, undefined)).toBe(9);
  });
});

describe("benchmarkWorkload coding-prefix in the config", () => {
  const local: RawConfig = { hostMode: "local", benchmarkRunner: "native" };
  const facts = { host: { connection: { kind: "local" as const }, hourlyPriceUsd: 0 }, server: { endpoint: "http://127.0.0.1:18000", servedModelName: "qwen", specHash: "h" } };

  it("the preset's sizes reach the Benchmark's workload; benchmarkPrefixRepetition resizes them", () => {
    const preset = parseStackConfig({ ...local, benchmarkWorkload: "coding-prefix" }, { stack: "t" });
    expect(preset.benchmark).toMatchObject({ inputLen: 8192, outputLen: 1024, numPrompts: 512, concurrency: 32, prefixRepetition: PREFIX });
    expect(benchmarkArgsFor(preset, facts).workload).toMatchObject({ inputLen: 8192, prefixRepetition: PREFIX });

    const small = parseStackConfig(
      { ...local, benchmarkWorkload: "coding-prefix", benchmarkPrefixRepetition: JSON.stringify({ prefixLen: 448, suffixLen: "64", numPrefixes: 4 }), benchmarkNumPrompts: "64", benchmarkConcurrency: "8", benchmarkOutputLen: "32" },
      { stack: "t" },
    );
    expect(small.benchmark).toMatchObject({ inputLen: 512, outputLen: 32, numPrompts: 64, prefixRepetition: { prefixLen: 448, suffixLen: 64, numPrefixes: 4 } });
    expect(configProblems({ ...local, benchmarkWorkload: "coding-prefix", benchmarkPrefixRepetition: '{"prefixLen": 448}', benchmarkNumPrompts: "64", benchmarkConcurrency: "8" })).toEqual([]);
    // Other presets stay random.
    expect(parseStackConfig(local, { stack: "t" }).benchmark.prefixRepetition).toBeUndefined();
  });

  it.each([
    [{ benchmarkWorkload: "coding-prefix", benchmarkNumPrompts: "100" }, "benchmarkNumPrompts: = 100 is not a multiple of benchmarkPrefixRepetition.numPrefixes = 8"],
    [{ benchmarkWorkload: "coding-prefix", benchmarkInputLen: "4096" }, "benchmarkInputLen: = 4096 conflicts with the coding-prefix workload, whose prompts are prefixLen + suffixLen = 8192 tokens"],
    [{ benchmarkWorkload: "coding-prefix", benchmarkPrefixRepetition: '{"numPrefixes": 0}' }, "benchmarkPrefixRepetition.numPrefixes: = 0 must be a whole number between 1 and 1000000"],
    [{ benchmarkWorkload: "coding-prefix", benchmarkPrefixRepetition: '{"prefix": 1}' }, "benchmarkPrefixRepetition.prefix: = 1 is not a known size"],
    [{ benchmarkPrefixRepetition: '{"prefixLen": 1024}' }, "benchmarkPrefixRepetition: = {\"prefixLen\":1024} applies to benchmarkWorkload coding-prefix only"],
  ])("refuses %j naming the key, the value and the fix", (extra, message) => {
    const found = configProblems({ ...local, ...extra });
    expect(found.some((p) => p.startsWith(message) && p.includes("Fix:")), found.join("\n")).toBe(true);
  });
});
