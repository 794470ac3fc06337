/**
 * The vllm stand-in's command line: what the product renders (vllmBenchServeArgs) is translated into the native
 * runner's arguments with the same meaning, and every other command line is refused naming what is wrong.
 */
import { describe, expect, it } from "vitest";
import { vllmBenchServeArgs } from "../../../components/benchmark/remoteRunner";
import { resolveWorkload, SEED_WORKLOAD } from "../../../components/benchmark/workload";
import { parseBenchArgs, type BenchCliPlan } from "../../../scripts/bench";
import { translateVllmArgs, VLLM_BENCH_SERVE_DEFAULTS, VllmStandInUsageError } from "../../fixtures/stand-in-images/vllm-cli";

function benchPlan(vllmArgv: readonly string[]): BenchCliPlan {
  const plan = parseBenchArgs(translateVllmArgs(vllmArgv), {});
  if (plan === "help") throw new Error("unexpected help");
  return plan;
}

const rendered = (over: Partial<Parameters<typeof vllmBenchServeArgs>[0]> = {}) =>
  vllmBenchServeArgs({ port: 8000, model: "Qwen/Qwen3.5-397B-A17B", servedModelName: "qwen", workload: SEED_WORKLOAD, resultFilename: "r.json", ...over });

/** The minimal command line vllm accepts for this backend. */
const MINIMAL = ["bench", "serve", "--backend", "openai-chat", "--model", "m/x", "--base-url", "http://127.0.0.1:1", "--endpoint", "/v1/chat/completions"];

describe("vllm stand-in: the product's rendered command line", () => {
  it("runs the seed workload with the same values, saving to /results/<file>", () => {
    const p = benchPlan(rendered());
    expect(p.run).toMatchObject({
      baseUrl: "http://127.0.0.1:8000", endpoint: "/v1/chat/completions", modelId: "Qwen/Qwen3.5-397B-A17B", servedModelName: "qwen",
      inputLen: 8192, outputLen: 1024, numPrompts: 512, maxConcurrency: 32, temperature: 0, ignoreEos: true,
      percentileMetrics: ["ttft", "tpot", "itl", "e2el"], metricPercentiles: [50, 90, 99],
    });
    expect(p).toMatchObject({ saveResult: true, resultDir: "/results", resultFilename: "r.json", modelForTokenizer: "Qwen/Qwen3.5-397B-A17B" });
  });

  it("follows the workload (a small one)", () => {
    const small = resolveWorkload({ numPrompts: 8, maxConcurrency: 4, inputLen: 64, outputLen: 16, temperature: 0.5 });
    expect(benchPlan(rendered({ workload: small })).run).toMatchObject({ numPrompts: 8, maxConcurrency: 4, inputLen: 64, outputLen: 16, ignoreEos: true, temperature: 0.5 });
  });
});

describe("vllm stand-in: vllm's own meaning where the runner's defaults differ", () => {
  it("uses vllm's workload defaults, all requests at once without --max-concurrency, and ignore_eos even unasked (vllm 0.18.0 sets it for the random dataset)", () => {
    const p = benchPlan(MINIMAL);
    expect(p.run).toMatchObject({
      numPrompts: Number(VLLM_BENCH_SERVE_DEFAULTS["num-prompts"]), maxConcurrency: 1000,
      inputLen: Number(VLLM_BENCH_SERVE_DEFAULTS["random-input-len"]), outputLen: 128, ignoreEos: true,
    });
    expect(p.saveResult).toBe(false);
    expect(benchPlan([...MINIMAL, "--num-prompts", "5"]).run.maxConcurrency).toBe(5);
  });

  it("writes a result file only with --save-result, and --disable-tqdm hides the progress bar", () => {
    expect(benchPlan([...MINIMAL, "--result-filename", "f.json"]).saveResult).toBe(false);
    expect(benchPlan([...MINIMAL, "--save-result", "--result-filename", "f.json"])).toMatchObject({ saveResult: true, resultFilename: "f.json" });
    expect(benchPlan([...MINIMAL, "--disable-tqdm"]).progress).toBe(false);
    expect(benchPlan([...MINIMAL, "--dataset-name", "random", "--request-rate", "inf", "--seed", "7"]).run.seed).toBe(7);
  });
});

describe("vllm stand-in: open-loop arrivals as vllm schedules them", () => {
  it("passes --request-rate and --burstiness to the runner's gamma arrivals; inf (vllm's default) sends all at once", () => {
    expect(benchPlan([...MINIMAL, "--request-rate", "4", "--burstiness", "0.5"]).run).toMatchObject({ requestRate: 4, burstiness: 0.5 });
    expect(benchPlan([...MINIMAL, "--request-rate", "inf"]).run.requestRate).toBe(Infinity);
    // Left out: the runner's defaults, which are vllm's (all at once; burstiness 1).
    expect(benchPlan(MINIMAL).run).toMatchObject({ requestRate: undefined, burstiness: undefined });
  });
  it("refuses a rate or burstiness the runner refuses, naming the flag", () => {
    expect(() => benchPlan([...MINIMAL, "--request-rate", "0"])).toThrow(/request-rate/);
    expect(() => benchPlan([...MINIMAL, "--burstiness", "-1"])).toThrow(/burstiness/);
  });
});

describe("vllm stand-in: vllm's prefix_repetition dataset", () => {
  it("passes --dataset-name prefix_repetition and its four flags to the runner, which generates it the same way", () => {
    const p = benchPlan([...MINIMAL, "--dataset-name", "prefix_repetition", "--prefix-repetition-prefix-len", "4000", "--prefix-repetition-suffix-len", "100", "--prefix-repetition-num-prefixes", "4", "--prefix-repetition-output-len", "64"]);
    expect(p.run).toMatchObject({ datasetSpec: { name: "prefix_repetition", prefixLen: 4000, suffixLen: 100, numPrefixes: 4 }, outputLen: 64 });
  });
});

describe("vllm stand-in: --goodput as vllm takes it (one or more KEY:MS words)", () => {
  it("passes every SLO word to the runner's goodput, wherever the flag stands", () => {
    expect(benchPlan([...MINIMAL, "--goodput", "ttft:3000", "tpot:50", "--num-prompts", "4"]).run).toMatchObject({ goodput: { ttft: 3000, tpot: 50 }, numPrompts: 4 });
    expect(benchPlan(rendered({ extraBenchArgs: ["--seed", "9", "--goodput", "e2el:9000"] })).run).toMatchObject({ goodput: { e2el: 9000 }, seed: 9 });
    expect(benchPlan(MINIMAL).run.goodput).toBeUndefined();
  });
  it("refuses a bare --goodput and a word that is not KEY:MS", () => {
    expect(() => translateVllmArgs([...MINIMAL, "--goodput"])).toThrow(/--goodput: expected at least one argument/);
    expect(() => translateVllmArgs([...MINIMAL, "--goodput", "itl:50"])).toThrow(/invalid --goodput "itl:50"/);
  });
});

describe("vllm stand-in: refusals", () => {
  const refused: Array<[string, string[], RegExp]> = [
    ["the server subcommand (the real image's entrypoint)", ["serve", "Qwen/x"], /answers only `vllm bench serve/],
    ["another bench subcommand", ["bench", "throughput"], /answers only `vllm bench serve/],
    ["another backend", [...MINIMAL, "--backend", "vllm"], /--backend "vllm" is not reproduced.*Fix: --backend openai-chat/],
    ["no backend (vllm's default is not reproduced)", MINIMAL.filter((a, i) => a !== "--backend" && MINIMAL[i - 1] !== "--backend"), /--backend is required/],
    ["another dataset", [...MINIMAL, "--dataset-name", "sharegpt"], /--dataset-name "sharegpt" is not reproduced.*Fix: --dataset-name random or prefix_repetition/],
    ["a flag the runner does not reproduce", [...MINIMAL, "--ramp-up-strategy", "linear"], /Unknown option '--ramp-up-strategy'.*--base-url/],
    ["an API key flag", [...MINIMAL, "--api-key", "sk-1"], /Unknown option '--api-key'/],
    ["the completions endpoint", [...MINIMAL, "--endpoint", "/v1/completions"], /must end with 'chat\/completions'/],
    ["vllm's default endpoint", MINIMAL.slice(0, -2), /must end with 'chat\/completions', got --endpoint "\/v1\/completions"/],
    ["no --model", MINIMAL.filter((a, i) => a !== "--model" && MINIMAL[i - 1] !== "--model"), /--model is required/],
    ["a positional argument", [...MINIMAL, "extra"], /Unexpected argument 'extra'/],
  ];
  it.each(refused)("%s", (_what, argv, message) => {
    expect(() => translateVllmArgs(argv)).toThrow(VllmStandInUsageError);
    expect(() => translateVllmArgs(argv)).toThrow(message);
  });
});
