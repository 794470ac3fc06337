import { describe, expect, it } from "vitest";
import { resolveBenchmarkSettings, type BenchmarkArgs } from "../../../components/benchmark/benchmark";
import { resolveWorkload, runnerWorkloadProblems, SEED_WORKLOAD, vllmBackendForEndpoint, workloadKey, type BenchmarkWorkload } from "../../../components/benchmark/workload";
import { resolveRunOptions } from "../../../components/benchmark/runner/runner";
import { SEED_BASELINE } from "../../../components/benchmark/baseline";
import { configProblems } from "../../fixtures/configProblems";

describe("workload", () => {
  it("fills every unset field from the seed workload and keeps the ones given", () => {
    expect(resolveWorkload()).toEqual(SEED_WORKLOAD);
    expect(resolveWorkload({})).toEqual(SEED_WORKLOAD);
    expect(resolveWorkload({ numPrompts: 64, maxConcurrency: 8 })).toEqual({ ...SEED_WORKLOAD, numPrompts: 64, maxConcurrency: 8 });
  });

  it("the seed workload is the one the seed baseline measured, so a default run compares at ratio ~1", () => {
    expect(SEED_WORKLOAD.numPrompts * SEED_WORKLOAD.inputLen).toBe(SEED_BASELINE.totalInputTokens);
    expect(SEED_WORKLOAD.numPrompts * SEED_WORKLOAD.outputLen).toBe(SEED_BASELINE.totalOutputTokens);
    // Every figure the ratios and thresholds read (p99 of ttft/tpot/itl) is asked of the runner by default.
    expect(SEED_WORKLOAD.metricPercentiles).toContain(99);
    expect(SEED_WORKLOAD.percentileMetrics).toEqual(expect.arrayContaining(["ttft", "tpot", "itl"]));
  });

  it("rejects bad values, naming the field and the fix", () => {
    expect(() => resolveWorkload({ numPrompts: 0 })).toThrow(/workload numPrompts.*got 0.*seed uses 512/);
    expect(() => resolveWorkload({ maxConcurrency: 2.5 })).toThrow(/maxConcurrency/);
    expect(() => resolveWorkload({ endpoint: "v1/chat" })).toThrow(/endpoint.*\/v1\/chat\/completions/);
    expect(() => resolveWorkload({ temperature: -1 })).toThrow(/temperature/);
    expect(() => resolveWorkload({ percentileMetrics: ["ttft", "foo" as never] })).toThrow(/percentileMetrics/);
    expect(() => resolveWorkload({ metricPercentiles: [100] })).toThrow(/metricPercentiles/);
  });

  it("workloadKey is stable and changes with every field", () => {
    const key = workloadKey(SEED_WORKLOAD);
    expect(workloadKey(resolveWorkload({}))).toBe(key);
    // key order in the partial does not matter
    expect(workloadKey(resolveWorkload({ maxConcurrency: 32, inputLen: 8192 }))).toBe(key);
    const variants: Partial<typeof SEED_WORKLOAD>[] = [
      { inputLen: 4096 }, { outputLen: 512 }, { numPrompts: 64 }, { maxConcurrency: 8 }, { endpoint: "/v1/completions" },
      { temperature: 0.7 }, { ignoreEos: false }, { percentileMetrics: ["ttft"] }, { metricPercentiles: [99] },
    ];
    const keys = new Set(variants.map((v) => workloadKey(resolveWorkload(v))));
    expect(keys.size).toBe(variants.length);
    expect(keys.has(key)).toBe(false);
  });
});

describe("what each runner can carry out (vllm 0.18.0's bench serve is the remote runner)", () => {
  const settings = (runner: "remote" | "native", w: Partial<BenchmarkWorkload>) => () =>
    resolveBenchmarkSettings({ connection: { kind: "local" }, serverReady: "", runner, baseUrl: "http://127.0.0.1:8000", servedModelName: "qwen", modelPath: "Qwen/Qwen3", workload: w } as BenchmarkArgs);

  it("picks vllm's backend from the endpoint: chat/completions → openai-chat, completions → openai, else none", () => {
    expect(vllmBackendForEndpoint("/v1/chat/completions")).toBe("openai-chat");
    expect(vllmBackendForEndpoint("/v1/completions")).toBe("openai");
    expect(vllmBackendForEndpoint("/v1/embeddings")).toBeUndefined();
  });

  it("remote: any chat/completions or completions path, ignore_eos only (vllm forces it for the random dataset)", () => {
    expect(runnerWorkloadProblems({ endpoint: "/v1/completions", ignoreEos: true }, "remote")).toEqual([]);
    expect(runnerWorkloadProblems({ endpoint: "/v1/chat/completions", ignoreEos: false }, "remote").map((p) => p.setting)).toEqual(["ignoreEos"]);
    expect(runnerWorkloadProblems({ endpoint: "/v1/embeddings", ignoreEos: true }, "remote").map((p) => p.setting)).toEqual(["endpoint"]);
  });

  it("native: chat completions only, either ignore_eos", () => {
    expect(runnerWorkloadProblems({ endpoint: "/v1/chat/completions", ignoreEos: false }, "native")).toEqual([]);
    expect(runnerWorkloadProblems({ endpoint: "/v1/completions", ignoreEos: true }, "native").map((p) => p.setting)).toEqual(["endpoint"]);
  });

  it("the Benchmark's settings refuse them before anything is created, naming the setting, value and fix", () => {
    expect(settings("remote", { ignoreEos: false })).toThrow(/workload\.ignoreEos = false cannot be run by the remote runner: .*Fix: leave ignoreEos true, or use the native runner/);
    expect(settings("native", { endpoint: "/v1/completions" })).toThrow(/workload\.endpoint = "\/v1\/completions" cannot be run by the native runner: .*Fix: \/v1\/chat\/completions, or the remote runner/);
    expect(settings("native", { ignoreEos: false })).not.toThrow();
    expect(settings("remote", { endpoint: "/v1/completions" })).not.toThrow();
  });

  it("stack config: benchmarkEndpoint the runner cannot use is a config error (not a failed run after the deploy)", () => {
    const local = { hostMode: "local" } as const;
    expect(configProblems({ ...local, benchmarkRunner: "native", benchmarkEndpoint: "/v1/completions" })).toEqual([
      expect.stringMatching(/^benchmarkEndpoint: = "\/v1\/completions" cannot be run by the native runner: the native runner sends chat requests only.*Fix: pulumi config set hgx-inference:benchmarkEndpoint \/v1\/chat\/completions, or pulumi config set hgx-inference:benchmarkRunner remote/),
    ]);
    const ssh = { hostMode: "existing", sshHost: "203.0.113.7", sshPrivateKey: "k", sshHostKeyTrust: "tofu" } as const;
    expect(configProblems({ ...ssh, benchmarkEndpoint: "/v1/embeddings" }).filter((p) => p.startsWith("benchmarkEndpoint"))).toEqual([
      expect.stringMatching(/^benchmarkEndpoint: = "\/v1\/embeddings" cannot be run by the remote runner: vllm bench serve 0\.18\.0 .*Fix: pulumi config set hgx-inference:benchmarkEndpoint \/v1\/chat\/completions \(or \/v1\/completions\)/),
    ]);
    expect(configProblems({ ...ssh, benchmarkEndpoint: "/v1/completions" }).filter((p) => p.startsWith("benchmarkEndpoint"))).toEqual([]);
  });
});

describe("the native runner's own guard", () => {
  it("refuses a non-chat endpoint before sending anything, naming it and the fix", () => {
    const opts = { baseUrl: "http://127.0.0.1:8000", servedModelName: "qwen" };
    expect(() => resolveRunOptions({ ...opts, endpoint: "/v1/completions" }, "t")).toThrow(/endpoint "\/v1\/completions" is not a chat completions path.*Fix: pass --endpoint \/v1\/chat\/completions/);
    expect(resolveRunOptions({ ...opts, endpoint: "/v1/chat/completions" }, "t").endpoint).toBe("/v1/chat/completions");
  });
});
