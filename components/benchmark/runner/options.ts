/**
 * The native runner's options: what a caller may set, the defaults, and the resolved record the
 * result carries. Apart from the runner so the result module can name the resolved options
 * without importing the runner (which imports the result).
 */
import { randomBytes } from "node:crypto";
import { validateArrivalOptions } from "./arrivals";
import { prefixRepetitionCount, type DatasetSpec, type SampleRequest } from "./dataset";
import type { GoodputSlo, PercentileMetric } from "./stats";
import type { LoadedTokenizer } from "./tokenizer";
import { PERCENTILE_METRICS, SEED_WORKLOAD } from "../workload";

export interface BenchmarkRunOptions {
  /** Server root, e.g. `http://127.0.0.1:8000` (vllm `--base-url`). */
  readonly baseUrl: string;
  /** Path appended to `baseUrl` (`--endpoint`). @default "/v1/chat/completions" */
  readonly endpoint?: string;
  /** Sent as the request's `model` (`--served-model-name`). */
  readonly servedModelName: string;
  /** Recorded as `model_id` (`--model`, e.g. `Qwen/Qwen3.5-397B-A17B`). @default servedModelName */
  readonly modelId?: string;
  /**
   * Tokenizer for the random prompts: a directory with `tokenizer.json`, the file itself, or an
   * `Org/Name` id present in the local Hugging Face cache. @default the bundled Qwen3 tokenizer
   */
  readonly tokenizer?: string;
  /** Prompt tokens per request (`--random-input-len`). @default 8192 */
  readonly inputLen?: number;
  /** Completion tokens per request, `max_completion_tokens` (`--random-output-len`). @default 1024 */
  readonly outputLen?: number;
  /** Requests in the run (`--num-prompts`). @default 512 */
  readonly numPrompts?: number;
  /** Requests in flight at most; also the connection pool size (`--max-concurrency`). @default 32 */
  readonly maxConcurrency?: number;
  /** Length spread in [0, 1) (`--random-range-ratio`). @default 0 */
  readonly rangeRatio?: number;
  /** Dataset seed (`--seed`). @default 0 */
  readonly seed?: number;
  /** Pinned sampling temperature; `null` sends none. @default 0 */
  readonly temperature?: number | null;
  /** Send `ignore_eos` so every request yields its full output length. @default true */
  readonly ignoreEos?: boolean;
  /** Bearer token (the CLI reads it from OPENAI_API_KEY). Never logged, never in the result. */
  readonly apiKey?: string;
  /** One request may take at most this long, from `st` to the end of its stream. @default 1_800_000 (30 minutes) */
  readonly requestTimeoutMs?: number;
  /** The whole run (dispatch to last end) may take at most this long. @default 10_800_000 (3 hours) */
  readonly totalTimeoutMs?: number;
  /** Metrics to report statistics for (`--percentile-metrics`). @default ["ttft", "tpot", "itl"] */
  readonly percentileMetrics?: readonly PercentileMetric[];
  /** Percentiles to report (`--metric-percentiles`). @default [99] */
  readonly metricPercentiles?: readonly number[];
  /** Recorded as `label`. @default "openai-chat" (vllm's endpoint type) */
  readonly label?: string;
  /** Request ids are `<prefix><index>`. @default "bench-<8 random hex>-" */
  readonly requestIdPrefix?: string;
  /** SLOs in ms for `request_goodput` (`--goodput`). @default none (goodput reported as null) */
  readonly goodput?: GoodputSlo;
  /**
   * Requests per second (`--request-rate`): arrivals follow vllm's gamma process (see arrivals.ts), each then waits
   * for a concurrency slot. @default Infinity (all requests at t = 0, the seed's setting)
   */
  readonly requestRate?: number;
  /** Gamma shape of the inter-arrival gaps (`--burstiness`): 1 = Poisson. Ignored at rate Infinity. @default 1 */
  readonly burstiness?: number;
  /**
   * The prompts to generate (`--dataset-name`): vllm's `random` dataset, or `prefix_repetition` — `numPrefixes`
   * shared contexts of `prefixLen` tokens, each request one of them plus `suffixLen` tokens of its own (then
   * `inputLen` is ignored and `numPrompts` rounds down to a multiple of `numPrefixes`, as vllm 0.18 does).
   * @default { name: "random" }
   */
  readonly datasetSpec?: DatasetSpec;
  /** Prompts to send instead of generating the random dataset (tests, replays). @default generated */
  readonly dataset?: readonly SampleRequest[];
  /** An already loaded tokenizer (skips loading `tokenizer`). @default loaded from `tokenizer` */
  readonly loadedTokenizer?: LoadedTokenizer;
  /**
   * Why the prompts were built with a tokenizer other than the model's (the CLI's fallback when
   * the model is not in the local cache); recorded as `tokenizer_fallback` in the result so no
   * reader takes the numbers for the model's own. @default none (the tokenizer was chosen)
   */
  readonly tokenizerFallback?: string;
  /** Called after each prompt is built. @default none */
  readonly onDatasetProgress?: (done: number, total: number) => void;
  /** Aborting ends the run early: in-flight requests fail, unsent ones fail unsent. @default none */
  readonly signal?: AbortSignal;
}

/** Options after defaults, as recorded in the result (no API key: only whether one was used). */
export interface ResolvedRunOptions {
  readonly baseUrl: string;
  readonly endpoint: string;
  readonly servedModelName: string;
  readonly modelId: string;
  readonly tokenizerId: string;
  readonly tokenizerFallback: string | undefined;
  readonly inputLen: number;
  readonly outputLen: number;
  readonly numPrompts: number;
  readonly maxConcurrency: number;
  readonly rangeRatio: number;
  readonly seed: number;
  readonly temperature: number | undefined;
  readonly ignoreEos: boolean;
  readonly usesApiKey: boolean;
  readonly requestTimeoutMs: number;
  readonly totalTimeoutMs: number;
  readonly percentileMetrics: readonly PercentileMetric[];
  readonly metricPercentiles: readonly number[];
  readonly label: string;
  readonly requestIdPrefix: string;
  readonly goodput: GoodputSlo | undefined;
  readonly requestRate: number;
  readonly burstiness: number;
  readonly datasetSpec: DatasetSpec;
}

/** The seed's workload, with vllm bench serve's own defaults where the seed says nothing. */
const DEFAULTS = {
  endpoint: SEED_WORKLOAD.endpoint,
  inputLen: SEED_WORKLOAD.inputLen,
  outputLen: SEED_WORKLOAD.outputLen,
  numPrompts: SEED_WORKLOAD.numPrompts,
  maxConcurrency: SEED_WORKLOAD.maxConcurrency,
  rangeRatio: 0,
  seed: 0,
  temperature: SEED_WORKLOAD.temperature,
  ignoreEos: SEED_WORKLOAD.ignoreEos,
  requestTimeoutMs: 30 * 60_000,
  totalTimeoutMs: 3 * 3_600_000,
  percentileMetrics: ["ttft", "tpot", "itl"] as readonly PercentileMetric[],
  metricPercentiles: [99] as readonly number[],
  label: "openai-chat",
} as const;

function positiveInteger(name: string, flag: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, got ${String(value)}. Fix: set ${flag} to a whole number ≥ 1.`);
  }
  return value;
}

/** Fills defaults and validates; errors name the option, the value and the fix. */
export function resolveRunOptions(opts: BenchmarkRunOptions, tokenizerId: string): ResolvedRunOptions {
  let url: URL;
  try {
    url = new URL(opts.baseUrl);
  } catch {
    throw new Error(`baseUrl ${JSON.stringify(opts.baseUrl)} is not a URL. Fix: pass --base-url like http://127.0.0.1:8000.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`baseUrl must use http or https, got ${JSON.stringify(url.protocol)}. Fix: pass --base-url like http://127.0.0.1:8000.`);
  }
  const endpoint = opts.endpoint ?? DEFAULTS.endpoint;
  if (!endpoint.startsWith("/")) {
    throw new Error(`endpoint must start with "/", got ${JSON.stringify(endpoint)}. Fix: pass --endpoint /v1/chat/completions.`);
  }
  // It builds vllm's openai-chat request body only: any other API would get a body it does not take.
  if (!endpoint.endsWith("chat/completions")) {
    throw new Error(
      `endpoint ${JSON.stringify(endpoint)} is not a chat completions path: this runner sends chat requests only (vllm's openai-chat body). ` +
        "Fix: pass --endpoint /v1/chat/completions, or run vllm bench serve (the remote runner) for /v1/completions.",
    );
  }
  if (!opts.servedModelName) {
    throw new Error(`servedModelName is empty. Fix: pass --served-model-name with the name the server serves (e.g. qwen).`);
  }
  const percentileMetrics = opts.percentileMetrics ?? DEFAULTS.percentileMetrics;
  for (const m of percentileMetrics) {
    if (!PERCENTILE_METRICS.includes(m)) {
      throw new Error(`percentile metric ${JSON.stringify(m)} is unknown. Fix: use a comma list of ${PERCENTILE_METRICS.join(",")}.`);
    }
  }
  const metricPercentiles = opts.metricPercentiles ?? DEFAULTS.metricPercentiles;
  for (const p of metricPercentiles) {
    if (!Number.isFinite(p) || p <= 0 || p >= 100) {
      throw new Error(`metric percentile ${String(p)} is outside (0, 100). Fix: use values like 50,90,99.`);
    }
  }
  const rangeRatio = opts.rangeRatio ?? DEFAULTS.rangeRatio;
  if (!(rangeRatio >= 0 && rangeRatio < 1)) {
    throw new Error(`rangeRatio must be in [0, 1), got ${String(rangeRatio)}. Fix: use 0 for fixed lengths.`);
  }
  const temperature = opts.temperature === null ? undefined : (opts.temperature ?? DEFAULTS.temperature);
  if (temperature !== undefined && !(temperature >= 0 && Number.isFinite(temperature))) {
    throw new Error(`temperature must be a finite number ≥ 0, got ${String(temperature)}. Fix: use 0 for comparable runs.`);
  }
  validateArrivalOptions(opts.requestRate ?? Infinity, opts.burstiness ?? 1);
  const datasetSpec = resolveDatasetSpec(opts.datasetSpec);
  const askedPrompts = positiveInteger("numPrompts", "--num-prompts", opts.dataset?.length ?? opts.numPrompts ?? DEFAULTS.numPrompts);
  const numPrompts = datasetSpec.name === "prefix_repetition" && !opts.dataset ? prefixRepetitionCount(askedPrompts, datasetSpec.numPrefixes) : askedPrompts;
  const seed = opts.seed ?? DEFAULTS.seed;
  if (!Number.isInteger(seed) || seed < 0) {
    throw new Error(`seed must be a non-negative integer, got ${String(seed)}. Fix: pass --seed 0.`);
  }
  return {
    baseUrl: opts.baseUrl.replace(/\/+$/, ""),
    endpoint,
    servedModelName: opts.servedModelName,
    modelId: opts.modelId ?? opts.servedModelName,
    tokenizerId,
    tokenizerFallback: opts.tokenizerFallback,
    inputLen: datasetSpec.name === "prefix_repetition" ? datasetSpec.prefixLen + datasetSpec.suffixLen : positiveInteger("inputLen", "--random-input-len", opts.inputLen ?? DEFAULTS.inputLen),
    outputLen: positiveInteger("outputLen", "--random-output-len", opts.outputLen ?? DEFAULTS.outputLen),
    numPrompts,
    maxConcurrency: positiveInteger("maxConcurrency", "--max-concurrency", opts.maxConcurrency ?? DEFAULTS.maxConcurrency),
    rangeRatio,
    seed,
    temperature,
    ignoreEos: opts.ignoreEos ?? DEFAULTS.ignoreEos,
    usesApiKey: !!opts.apiKey,
    requestTimeoutMs: positiveInteger("requestTimeoutMs", "--timeout", opts.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs),
    totalTimeoutMs: positiveInteger("totalTimeoutMs", "--total-timeout", opts.totalTimeoutMs ?? DEFAULTS.totalTimeoutMs),
    percentileMetrics: [...percentileMetrics],
    metricPercentiles: [...metricPercentiles],
    label: opts.label ?? DEFAULTS.label,
    requestIdPrefix: opts.requestIdPrefix ?? `bench-${randomBytes(4).toString("hex")}-`,
    goodput: opts.goodput,
    requestRate: opts.requestRate ?? Infinity,
    burstiness: opts.burstiness ?? 1,
    datasetSpec,
  };
}

/** Validates a prefix-repetition spec (every length and count a whole number ≥ 1); the random spec passes as is. */
export function resolveDatasetSpec(spec: DatasetSpec | undefined): DatasetSpec {
  if (spec === undefined || spec.name === "random") return { name: "random" };
  return {
    name: "prefix_repetition",
    prefixLen: positiveInteger("prefixLen", "--prefix-repetition-prefix-len", spec.prefixLen),
    suffixLen: positiveInteger("suffixLen", "--prefix-repetition-suffix-len", spec.suffixLen),
    numPrefixes: positiveInteger("numPrefixes", "--prefix-repetition-num-prefixes", spec.numPrefixes),
  };
}
