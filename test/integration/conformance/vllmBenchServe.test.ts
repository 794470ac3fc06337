/**
 * Conformance: every `vllm bench serve` command line the project renders for the remote runner (the fixed run from
 * the Benchmark's resolved settings, the capacity search's warm-up and measured runs with --goodput, a finite
 * request rate with burstiness, the shared-prefix coding workload) is read by vllm 0.18.0's own parser and pre-flight code, and what vllm parsed and
 * would send is compared with the typed inputs the project meant. Stubbed modules are listed by
 * scripts/conformance/vllm_bench_check.py (and checked below). If the environment cannot be built the suite fails.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { resolveBenchmarkSettings, type BenchmarkArgs } from "../../../components/benchmark/benchmark";
import type { CapacitySlo, LoadLevel } from "../../../components/benchmark/capacity";
import { levelSeeds } from "../../../components/benchmark/capacityNative";
import { remoteLevelScripts, remotePromptsAtLevel, type RemoteMeasureOptions } from "../../../components/benchmark/capacityRemote";
import { DEFAULT_VLLM_IMAGE, renderRemoteBenchCommand, vllmBenchServeArgs } from "../../../components/benchmark/remoteRunner";
import { resolveWorkload, vllmBackendForEndpoint, type BenchmarkWorkload } from "../../../components/benchmark/workload";
import { argvFromRenderedScript, checkVllmArgv, vllmEnv, vllmProblems, type VllmCheckResult, type VllmEnv } from "../../fixtures/conformance/vllm";
import { translateVllmArgs } from "../../fixtures/stand-in-images/vllm-cli";

/** What the project meant by one rendered command line. */
interface Meant {
  readonly label: string;
  readonly argv: readonly string[];
  readonly port: number;
  readonly model: string;
  readonly tokenizer?: string;
  readonly servedModelName: string;
  readonly workload: BenchmarkWorkload;
  readonly resultFilename?: string;
  readonly seed?: number;
  readonly level?: LoadLevel;
  readonly goodput?: Readonly<Record<string, number>>;
}

/** The fixed remote run's script exactly as the Benchmark component renders it from its resolved settings. */
function fixedRun(label: string, args: Omit<BenchmarkArgs, "connection" | "serverReady" | "hourlyPriceUsd" | "serverSpecHash">, apiKey?: string): Meant {
  const s = resolveBenchmarkSettings({ connection: { kind: "local" }, serverReady: "", hourlyPriceUsd: 1, serverSpecHash: "x", runner: "remote", ...args });
  const model = String(args.modelPath);
  const servedModelName = String(args.servedModelName);
  const script = renderRemoteBenchCommand({
    image: s.vllmImage,
    port: s.port,
    model,
    ...(s.tokenizer === undefined ? {} : { tokenizer: s.tokenizer }),
    servedModelName,
    workload: s.workload,
    hfCacheDir: s.hfCacheDir,
    resultDir: "~/results",
    timeoutSeconds: s.timeoutSeconds,
    apiKeyFromStdin: apiKey !== undefined,
    docker: s.docker,
  });
  return { label, argv: argvFromRenderedScript(script, s.vllmImage, apiKey), port: s.port, model, ...(s.tokenizer === undefined ? {} : { tokenizer: s.tokenizer }), servedModelName, workload: s.workload };
}

const SLO: CapacitySlo = { ttftP99Ms: 3000, itlP99Ms: 40, tpotP99Ms: 50, e2elP99Ms: 90_000 };
const CAPACITY: Omit<RemoteMeasureOptions, "exec"> = {
  settings: { image: DEFAULT_VLLM_IMAGE, port: 8000, model: "Qwen/Qwen3.5-397B-A17B", servedModelName: "qwen", resultDir: "~/results" },
  workload: resolveWorkload({ inputLen: 256, outputLen: 32, numPrompts: 64, maxConcurrency: 1, percentileMetrics: ["ttft", "tpot"], metricPercentiles: [50] }),
  seed: 3,
  slo: SLO,
  promptsPerConcurrency: 4,
  levelTimeoutSeconds: 600,
  apiKey: "sk-conformance",
};

/** Both runs of the n-th capacity level, with what each means (workload as remoteLevelScripts builds it). */
function capacityLevel(level: LoadLevel, n: number, capacity: Omit<RemoteMeasureOptions, "exec"> = CAPACITY): Meant[] {
  const scripts = remoteLevelScripts(capacity, level, n, 600);
  const seeds = levelSeeds(capacity.seed ?? 0, n);
  const base = { port: 8000, model: capacity.settings.model, servedModelName: capacity.settings.servedModelName };
  const measuredWorkload = resolveWorkload({
    ...capacity.workload,
    numPrompts: remotePromptsAtLevel(capacity, level),
    maxConcurrency: level.concurrency,
    percentileMetrics: ["ttft", "tpot", "itl", "e2el"],
    metricPercentiles: [50, 90, 99],
  });
  const out: Meant[] = [
    {
      label: `capacity level ${n} (concurrency ${level.concurrency}, rate ${level.requestRate}) measured`,
      argv: argvFromRenderedScript(scripts.measured, DEFAULT_VLLM_IMAGE, capacity.apiKey),
      ...base,
      workload: measuredWorkload,
      seed: seeds.measured,
      level,
      goodput: { ttft: 3000, tpot: 50, e2el: 90_000 },
    },
  ];
  if (scripts.warmup !== undefined) {
    out.push({
      label: `capacity level ${n} warm-up`,
      argv: argvFromRenderedScript(scripts.warmup, DEFAULT_VLLM_IMAGE, capacity.apiKey),
      ...base,
      // Random prompts of the measured length: a shared-prefix warm-up would need a request per prefix.
      workload: resolveWorkload({ ...capacity.workload, prefixRepetition: undefined, numPrompts: level.concurrency, maxConcurrency: level.concurrency }),
      seed: seeds.warmup,
    });
  }
  return out;
}

const MODEL = "Qwen/Qwen3.5-397B-A17B";
const CASES: Meant[] = [
  fixedRun("fixed run, seed workload", { servedModelName: "qwen", modelPath: MODEL }),
  fixedRun(
    "fixed run, small workload, own tokenizer, API key, temperature 0.7",
    { servedModelName: "qwen", modelPath: MODEL, tokenizer: "Qwen/Qwen3-0.6B", workload: { inputLen: 512, outputLen: 64, numPrompts: 32, maxConcurrency: 8, temperature: 0.7, metricPercentiles: [50, 99.9] } },
    "sk-conformance",
  ),
  fixedRun("fixed run, /v1/completions", { servedModelName: "qwen", modelPath: MODEL, port: 30000, workload: { endpoint: "/v1/completions", inputLen: 128, outputLen: 16, numPrompts: 8, maxConcurrency: 4 } }),
  ...capacityLevel({ concurrency: 8, requestRate: Infinity, burstiness: 1 }, 0),
  ...capacityLevel({ concurrency: 16, requestRate: 4.5, burstiness: 0.5 }, 2),
  // Issue 23: the coding-prefix workload (vllm's prefix_repetition dataset), its fixed run and a rate-search level.
  fixedRun("fixed run, coding-prefix (shared prefixes)", { servedModelName: "qwen", modelPath: MODEL, workload: { prefixRepetition: { prefixLen: 7680, suffixLen: 512, numPrefixes: 8 }, numPrompts: 512, maxConcurrency: 32 } }),
  ...capacityLevel({ concurrency: 64, requestRate: 6, burstiness: 1 }, 1, {
    ...CAPACITY,
    workload: resolveWorkload({ ...CAPACITY.workload, prefixRepetition: { prefixLen: 192, suffixLen: 64, numPrefixes: 4 } }),
    promptsPerConcurrency: undefined,
  }),
];

/** vllm's parsed namespace and first request, as the typed inputs say they should be. */
function expectMeaning(m: Meant, r: VllmCheckResult): void {
  const w = m.workload;
  const backend = vllmBackendForEndpoint(w.endpoint);
  expect(r.parsed, m.label).toMatchObject({
    backend,
    base_url: `http://127.0.0.1:${m.port}`,
    endpoint: w.endpoint,
    model: m.model,
    tokenizer: m.tokenizer ?? null,
    served_model_name: m.servedModelName,
    ...(w.prefixRepetition === undefined
      ? { dataset_name: "random", random_input_len: w.inputLen, random_output_len: w.outputLen }
      : {
          dataset_name: "prefix_repetition",
          prefix_repetition_prefix_len: w.prefixRepetition.prefixLen,
          prefix_repetition_suffix_len: w.prefixRepetition.suffixLen,
          prefix_repetition_num_prefixes: w.prefixRepetition.numPrefixes,
          prefix_repetition_output_len: w.outputLen,
        }),
    num_prompts: w.numPrompts,
    max_concurrency: w.maxConcurrency,
    temperature: w.temperature,
    ignore_eos: true,
    percentile_metrics: w.percentileMetrics.join(","),
    metric_percentiles: w.metricPercentiles.join(","),
    save_result: true,
    result_dir: "/results",
    seed: m.seed ?? 0,
    // Non-finite floats come back as "inf" (JSON has no Infinity).
    request_rate: m.level === undefined || !Number.isFinite(m.level.requestRate) ? "inf" : m.level.requestRate,
    burstiness: m.level?.burstiness ?? 1,
    goodput: m.goodput === undefined ? null : Object.entries(m.goodput).map(([k, v]) => `${k}:${v}`),
  });
  // vllm's parsed percentiles are the ones meant (it splits on "," and reads floats).
  expect(String(r.parsed?.metric_percentiles).split(",").map(Number), m.label).toEqual([...w.metricPercentiles]);
  expect(r.effective, m.label).toEqual({ ignore_eos: w.ignoreEos, backend });
  expect(r.request?.url, m.label).toBe(`http://127.0.0.1:${m.port}${w.endpoint}`);
  const tokensKey = backend === "openai-chat" ? "max_completion_tokens" : "max_tokens";
  expect(r.request?.body, m.label).toMatchObject({ model: m.servedModelName, [tokensKey]: w.outputLen, ignore_eos: w.ignoreEos, temperature: w.temperature, stream: true });
}

let env: VllmEnv;
beforeAll(() => {
  env = vllmEnv();
});

describe("vllm bench serve conformance (vllm 0.18.0's parser and pre-flight)", () => {
  it("every rendered command line is accepted, warning-free, and means what the project meant", () => {
    const report = checkVllmArgv(env, CASES.map((c) => c.argv));
    expect(report.version).toBe("0.18.0");
    expect(vllmProblems(report, CASES.map((c) => c.label))).toEqual([]);
    CASES.forEach((c, i) => expectMeaning(c, report.results[i]));
    // What the suite stubs is said, and none of it is code the checks above ran.
    expect(report.stubbed).toEqual(["torch", "transformers", "vllm.tokenizers", "vllm.lora.utils", "vllm.multimodal", "huggingface_hub", "PIL", "zmq"]);
  });

  it("refuses what vllm refuses, naming the component and version: an unknown flag, a rejected choice, the old backend/endpoint pair, a bad --goodput", () => {
    const good = vllmBenchServeArgs({ port: 8000, model: MODEL, servedModelName: "qwen", workload: resolveWorkload({ inputLen: 64, outputLen: 8, numPrompts: 2, maxConcurrency: 1 }), resultFilename: "r.json" });
    const swap = (flag: string, value: string) => good.map((a, i) => (good[i - 1] === flag ? value : a));
    const cases: Record<string, string[]> = {
      "unknown flag": [...good, "--max-concurency", "4"],
      "rejected choice": swap("--dataset-name", "randomized"),
      "openai-chat to /v1/completions (the old rendering)": swap("--endpoint", "/v1/completions"),
      "bad goodput": [...good, "--goodput", "itl:40"],
    };
    const labels = Object.keys(cases);
    const report = checkVllmArgv(env, Object.values(cases));
    const problems = vllmProblems(report, labels);
    expect(problems).toContainEqual(expect.stringMatching(/^vllm 0\.18\.0 bench serve: "unknown flag": refused at parse: .*unrecognized arguments: --max-concurency 4/));
    expect(problems).toContainEqual(expect.stringMatching(/^vllm 0\.18\.0 bench serve: "rejected choice": refused at parse: .*invalid choice: 'randomized'/));
    expect(problems).toContainEqual(expect.stringMatching(/^vllm 0\.18\.0 bench serve: "openai-chat to \/v1\/completions \(the old rendering\)": refused at preflight: ValueError: OpenAI Chat Completions API URL must end with/));
    expect(problems).toContainEqual(expect.stringMatching(/^vllm 0\.18\.0 bench serve: "bad goodput": refused at preflight: ValueError: Invalid metric name found, itl/));
  });

  it("vllm sends ignore_eos with the random dataset even unasked, as the vllm stand-in now does", () => {
    const good = vllmBenchServeArgs({ port: 8000, model: MODEL, servedModelName: "qwen", workload: resolveWorkload({ inputLen: 64, outputLen: 8, numPrompts: 2, maxConcurrency: 1 }), resultFilename: "r.json" });
    const unasked = good.filter((a) => a !== "--ignore-eos");
    const [r] = checkVllmArgv(env, [unasked]).results;
    expect(r.parsed?.ignore_eos).toBe(false);
    expect(r.effective?.ignore_eos).toBe(true);
    expect(r.request?.body.ignore_eos).toBe(true);
    expect(translateVllmArgs(unasked)).not.toContain("--no-ignore-eos");
  });
});
