/**
 * `npm run bench -- --base-url http://127.0.0.1:8000 --served-model-name qwen [...]`
 *
 * The native runner with `vllm bench serve`'s flag names (openai-chat backend, random dataset,
 * request rate inf). Progress bar and summary table go to stderr; the result JSON (vllm
 * `--save-result` format) goes to the result file with --save-result, else to stdout. With
 * --json only the JSON is printed on stdout, for programs to parse.
 * The API key comes from OPENAI_API_KEY (never a flag, so it stays out of shell history and
 * process listings). Exit codes: 0 run finished (failed requests are in the JSON), 1 every
 * request failed or the run could not start, 2 bad arguments.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { BenchmarkRunOptions } from "../components/benchmark/runner/runner";
import type { DatasetSpec } from "../components/benchmark/runner/dataset";
import type { GoodputSlo, PercentileMetric } from "../components/benchmark/runner/stats";
import type { LoadedTokenizer } from "../components/benchmark/runner/tokenizer";

export const USAGE = `Usage: npm run bench -- --base-url URL --served-model-name NAME [options]

Server
  --base-url URL               server root, e.g. http://127.0.0.1:8000 (required)
  --endpoint PATH              default /v1/chat/completions (chat completions paths only)
  --served-model-name NAME     the request's "model" (default: --model)
  --model ID                   recorded as model_id; also the tokenizer when in the HF cache
  --tokenizer PATH|ID          tokenizer.json, its directory, an id in $HF_HOME/hub, or
                               "bundled" (the Qwen3 tokenizer shipped with this package).
                               Default: --model if cached; else the bundled one, with a
                               WARNING and "tokenizer_fallback" recorded in the result JSON
Workload (defaults = the seed's coding workload)
  --random-input-len N         prompt tokens, default 8192
  --random-output-len N        max_completion_tokens, default 1024
  --num-prompts N              default 512
  --max-concurrency N          default 32
  --request-rate R             requests/s (gamma arrivals, vllm's), or inf (default: all at once)
  --burstiness B               gamma shape of the arrival gaps, 1 = Poisson (default 1)
  --random-range-ratio R       length spread in [0,1), default 0
  --dataset-name NAME          random (default) or prefix_repetition: shared contexts, as vllm's
  --prefix-repetition-prefix-len N     tokens of each shared context, default 256
  --prefix-repetition-suffix-len N     tokens of each request's own part, default 256
  --prefix-repetition-num-prefixes N   distinct contexts, default 10 (num-prompts rounds down to a multiple)
  --prefix-repetition-output-len N     max_completion_tokens, default 128
  --seed N                     default 0
  --temperature T              default 0 (pinned for comparable runs)
  --no-ignore-eos              let the model stop early (not comparable; default sends ignore_eos)
  --request-id-prefix S        default bench-<random>-
Limits
  --timeout SECONDS            per request, default 1800
  --total-timeout SECONDS      whole run, default 10800
Output
  --percentile-metrics LIST    of ttft,tpot,itl,e2el; default ttft,tpot,itl
  --metric-percentiles LIST    default 99
  --goodput KEY:MS ...         SLOs, e.g. --goodput ttft:3000 --goodput tpot:50
  --label S                    default openai-chat
  --save-result                write the JSON to --result-dir/--result-filename
  --save-detailed              add per-request arrays (input_lens, output_lens, ttfts, itls, ...)
  --result-dir DIR             default .
  --result-filename NAME       default <label>-infqps-concurrency<N>-<model>-<date>.json
  --json                       print only the JSON on stdout (no table)
  --no-progress                no progress bar
Environment: OPENAI_API_KEY (sent as Authorization: Bearer).`;

/** What the CLI will do, from its arguments. */
export interface BenchCliPlan {
  readonly run: BenchmarkRunOptions;
  /** Set when --tokenizer was not given: try --model in the HF cache, fall back to bundled. */
  readonly modelForTokenizer: string | undefined;
  readonly saveResult: boolean;
  readonly saveDetailed: boolean;
  readonly resultDir: string;
  readonly resultFilename: string | undefined;
  readonly jsonOnly: boolean;
  readonly progress: boolean;
}

/** A command-line mistake: the message names the flag and the fix. */
export class BenchUsageError extends Error {}

function integerFlag(flag: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min) {
    throw new BenchUsageError(`--${flag} must be a whole number ≥ ${min}, got ${JSON.stringify(raw)}. Fix: e.g. --${flag} ${Math.max(min, 1)}.`);
  }
  return value;
}

function numberFlag(flag: string, raw: string | undefined, check: (v: number) => boolean, hint: string): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value) || !check(value)) {
    throw new BenchUsageError(`--${flag} got ${JSON.stringify(raw)}. Fix: ${hint}.`);
  }
  return value;
}

/** A positive number or `inf` (vllm's spelling of an unbounded rate). */
function rateFlag(flag: string, raw: string | undefined, hint: string): number | undefined {
  if (raw === undefined) return undefined;
  if (/^\s*(inf|infinity)\s*$/i.test(raw)) return Infinity;
  return numberFlag(flag, raw, (v) => v > 0, hint);
}

const METRICS: readonly PercentileMetric[] = ["ttft", "tpot", "itl", "e2el"];

/** vllm 0.18's defaults for `--dataset-name prefix_repetition` (PrefixRepetitionRandomDataset). */
export const PREFIX_REPETITION_DEFAULTS = {
  "prefix-repetition-prefix-len": 256,
  "prefix-repetition-suffix-len": 256,
  "prefix-repetition-num-prefixes": 10,
  "prefix-repetition-output-len": 128,
} as const;

/** The flags `bench` accepts, `vllm bench serve`'s names (numbers as strings: checked with their own messages). */
const BENCH_FLAGS = {
  "base-url": { type: "string" },
  endpoint: { type: "string" },
  "served-model-name": { type: "string" },
  model: { type: "string" },
  tokenizer: { type: "string" },
  "random-input-len": { type: "string" },
  "random-output-len": { type: "string" },
  "num-prompts": { type: "string" },
  "max-concurrency": { type: "string" },
  "request-rate": { type: "string" },
  burstiness: { type: "string" },
  "random-range-ratio": { type: "string" },
  "dataset-name": { type: "string" },
  "prefix-repetition-prefix-len": { type: "string" },
  "prefix-repetition-suffix-len": { type: "string" },
  "prefix-repetition-num-prefixes": { type: "string" },
  "prefix-repetition-output-len": { type: "string" },
  seed: { type: "string" },
  temperature: { type: "string" },
  "no-ignore-eos": { type: "boolean", default: false },
  "request-id-prefix": { type: "string" },
  timeout: { type: "string" },
  "total-timeout": { type: "string" },
  "percentile-metrics": { type: "string" },
  "metric-percentiles": { type: "string" },
  goodput: { type: "string", multiple: true },
  label: { type: "string" },
  "save-result": { type: "boolean", default: false },
  "save-detailed": { type: "boolean", default: false },
  "result-dir": { type: "string" },
  "result-filename": { type: "string" },
  json: { type: "boolean", default: false },
  "no-progress": { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** The flags as given; an unknown flag is a usage error (one that looks like an API key says where the key goes). */
function benchFlagValues(argv: readonly string[]): FlagValues {
  try {
    return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: BENCH_FLAGS }).values;
  } catch (e) {
    const msg = (e as Error).message;
    const hint = /api.?key/i.test(msg) ? " The API key is read from the OPENAI_API_KEY environment variable, never from a flag." : "";
    throw new BenchUsageError(`${msg}.${hint} Fix: see --help for the accepted flags.`);
  }
}

/** The server flags: an http(s) base URL, the model name requests carry, and a chat completions endpoint. */
function serverFlags(str: (k: string) => string | undefined): { baseUrl: string; model: string | undefined; servedModelName: string; endpoint: string | undefined } {
  const baseUrl = str("base-url");
  if (!baseUrl) throw new BenchUsageError("--base-url is required. Fix: e.g. --base-url http://127.0.0.1:8000.");
  try {
    const u = new URL(baseUrl);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("protocol");
  } catch {
    throw new BenchUsageError(`--base-url ${JSON.stringify(baseUrl)} is not an http(s) URL. Fix: e.g. --base-url http://127.0.0.1:8000.`);
  }
  const model = str("model");
  const servedModelName = str("served-model-name") ?? model;
  if (!servedModelName) throw new BenchUsageError("--served-model-name (or --model) is required. Fix: e.g. --served-model-name qwen.");
  const endpoint = str("endpoint");
  if (endpoint !== undefined && !endpoint.startsWith("/")) {
    throw new BenchUsageError(`--endpoint must start with "/", got ${JSON.stringify(endpoint)}. Fix: --endpoint /v1/chat/completions.`);
  }
  if (endpoint !== undefined && !endpoint.endsWith("chat/completions")) {
    throw new BenchUsageError(
      `--endpoint ${JSON.stringify(endpoint)} is not a chat completions path: this runner sends chat requests only (vllm's openai-chat body). Fix: --endpoint /v1/chat/completions, or vllm bench serve (the remote runner) for /v1/completions.`,
    );
  }
  return { baseUrl, model, servedModelName, endpoint };
}

function percentileMetricsFlag(raw: string | undefined): PercentileMetric[] | undefined {
  if (raw === undefined) return undefined;
  const metrics = raw.split(",").map((s) => s.trim()).filter(Boolean) as PercentileMetric[];
  const bad = metrics.filter((m) => !METRICS.includes(m));
  if (bad.length > 0 || metrics.length === 0) {
    throw new BenchUsageError(`--percentile-metrics has unknown metric(s) ${JSON.stringify(bad)}. Fix: a comma list of ${METRICS.join(",")}.`);
  }
  return metrics;
}

function metricPercentilesFlag(raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  const percentiles = raw.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (percentiles.length === 0 || percentiles.some((p) => !Number.isFinite(p) || p <= 0 || p >= 100)) {
    throw new BenchUsageError(`--metric-percentiles must be numbers in (0, 100), got ${JSON.stringify(raw)}. Fix: e.g. --metric-percentiles 50,90,99.`);
  }
  return percentiles;
}

/** `--goodput KEY:MS` (repeatable, or several in one value); undefined when none was given. */
function goodputFlag(items: readonly string[]): GoodputSlo | undefined {
  if (items.length === 0) return undefined;
  const slo: { ttft?: number; tpot?: number; e2el?: number } = {};
  for (const item of items.flatMap((g) => g.split(/\s+/)).filter(Boolean)) {
    const [key, raw] = item.split(":");
    const ms = Number(raw);
    if (!["ttft", "tpot", "e2el"].includes(key) || raw === undefined || !Number.isFinite(ms) || ms < 0) {
      throw new BenchUsageError(`--goodput ${JSON.stringify(item)} is not KEY:MS with KEY in ttft,tpot,e2el. Fix: e.g. --goodput ttft:3000 --goodput tpot:50.`);
    }
    slo[key as "ttft" | "tpot" | "e2el"] = ms;
  }
  return slo;
}

/**
 * `--dataset-name` and its flags: random (the seed's) uses --random-output-len; prefix_repetition takes its own four
 * flags with vllm's defaults, and its output length from --prefix-repetition-output-len, as vllm does.
 */
function datasetFlags(str: (k: string) => string | undefined): { datasetSpec: DatasetSpec; outputLen: number | undefined } {
  const name = str("dataset-name") ?? "random";
  const given = (Object.keys(PREFIX_REPETITION_DEFAULTS) as (keyof typeof PREFIX_REPETITION_DEFAULTS)[]).filter((f) => str(f) !== undefined);
  if (name === "random") {
    if (given.length > 0) throw new BenchUsageError(`--${given[0]} applies to --dataset-name prefix_repetition only. Fix: add --dataset-name prefix_repetition, or drop --${given[0]}.`);
    return { datasetSpec: { name: "random" }, outputLen: integerFlag("random-output-len", str("random-output-len"), 1) };
  }
  if (name !== "prefix_repetition") throw new BenchUsageError(`--dataset-name ${JSON.stringify(name)} is not generated here. Fix: --dataset-name random or prefix_repetition.`);
  const value = (f: keyof typeof PREFIX_REPETITION_DEFAULTS): number => integerFlag(f, str(f), 1) ?? PREFIX_REPETITION_DEFAULTS[f];
  return {
    datasetSpec: {
      name: "prefix_repetition",
      prefixLen: value("prefix-repetition-prefix-len"),
      suffixLen: value("prefix-repetition-suffix-len"),
      numPrefixes: value("prefix-repetition-num-prefixes"),
    },
    outputLen: value("prefix-repetition-output-len"),
  };
}

/** Parses argv (without node and script) into a plan; throws BenchUsageError on bad input. */
export function parseBenchArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchCliPlan | "help" {
  const values = benchFlagValues(argv);
  if (values.help) return "help";
  const str = (k: string) => values[k] as string | undefined;
  const { baseUrl, model, servedModelName, endpoint } = serverFlags(str);
  const percentileMetrics = percentileMetricsFlag(str("percentile-metrics"));
  const metricPercentiles = metricPercentilesFlag(str("metric-percentiles"));
  const goodput = goodputFlag((values.goodput as string[] | undefined) ?? []);
  const timeoutS = numberFlag("timeout", str("timeout"), (v) => v > 0, "a positive number of seconds, e.g. --timeout 1800");
  const totalTimeoutS = numberFlag("total-timeout", str("total-timeout"), (v) => v > 0, "a positive number of seconds, e.g. --total-timeout 10800");
  const { datasetSpec, outputLen } = datasetFlags(str);
  const run: BenchmarkRunOptions = {
    baseUrl,
    endpoint,
    servedModelName,
    modelId: model ?? servedModelName,
    tokenizer: str("tokenizer"),
    inputLen: integerFlag("random-input-len", str("random-input-len"), 1),
    outputLen,
    datasetSpec,
    numPrompts: integerFlag("num-prompts", str("num-prompts"), 1),
    maxConcurrency: integerFlag("max-concurrency", str("max-concurrency"), 1),
    rangeRatio: numberFlag("random-range-ratio", str("random-range-ratio"), (v) => v >= 0 && v < 1, "a number in [0, 1), e.g. --random-range-ratio 0"),
    seed: integerFlag("seed", str("seed"), 0),
    temperature: numberFlag("temperature", str("temperature"), (v) => v >= 0, "a number ≥ 0, e.g. --temperature 0"),
    ignoreEos: !values["no-ignore-eos"],
    apiKey: env.OPENAI_API_KEY || undefined,
    requestTimeoutMs: timeoutS === undefined ? undefined : Math.round(timeoutS * 1000),
    totalTimeoutMs: totalTimeoutS === undefined ? undefined : Math.round(totalTimeoutS * 1000),
    percentileMetrics,
    metricPercentiles,
    label: str("label"),
    requestIdPrefix: str("request-id-prefix"),
    goodput,
    requestRate: rateFlag("request-rate", str("request-rate"), "a number of requests per second > 0 or inf, e.g. --request-rate 4"),
    burstiness: rateFlag("burstiness", str("burstiness"), "a number > 0 (1 = Poisson), e.g. --burstiness 1"),
  };
  return {
    run,
    modelForTokenizer: str("tokenizer") === undefined ? model : undefined,
    saveResult: values["save-result"] === true || str("result-filename") !== undefined,
    saveDetailed: values["save-detailed"] === true,
    resultDir: str("result-dir") ?? ".",
    resultFilename: str("result-filename"),
    jsonOnly: values.json === true,
    progress: values["no-progress"] !== true,
  };
}

/**
 * The stderr block for a tokenizer fallback: prompts built with another vocabulary have other
 * lengths and content, so the numbers are not the model's; said loudly, and kept in the JSON.
 */
export function tokenizerFallbackWarning(reason: string): string {
  const rule = "!".repeat(78);
  return [
    rule,
    `bench: WARNING: TOKENIZER FALLBACK: ${reason}.`,
    "bench: The prompt lengths and token counts are those of another vocabulary, not the model's:",
    'bench: the result is NOT comparable with runs on the model\'s tokenizer. It is recorded as "tokenizer_fallback".',
    "bench: Fix: put the model in the Hugging Face cache (HF_HOME) or pass --tokenizer <dir|tokenizer.json|bundled>.",
    rule,
  ].join("\n");
}

/**
 * The tokenizer the CLI builds prompts with: --tokenizer, else --model when it is in the local Hugging Face cache,
 * else the bundled Qwen3 tokenizer — a fallback, said loudly on stderr and returned so the result records it.
 * Throws when --tokenizer cannot be loaded.
 */
export async function loadCliTokenizer(plan: BenchCliPlan, log: (line: string) => void): Promise<{ loaded: LoadedTokenizer; fallback?: string }> {
  const { loadTokenizer, resolveTokenizerFile } = await import("../components/benchmark/runner/tokenizer");
  let tokenizerSpec = plan.run.tokenizer;
  let fallback: string | undefined;
  if (tokenizerSpec === undefined) {
    if (plan.modelForTokenizer) {
      try {
        resolveTokenizerFile(plan.modelForTokenizer);
        tokenizerSpec = plan.modelForTokenizer;
      } catch {
        fallback = `${plan.modelForTokenizer} is not in the local Hugging Face cache; using the bundled Qwen3 tokenizer, not the model's`;
      }
    } else {
      fallback = "neither --tokenizer nor --model was given; prompts were built with the bundled Qwen3 tokenizer";
    }
  }
  if (fallback) log(tokenizerFallbackWarning(fallback));
  return { loaded: await loadTokenizer(tokenizerSpec), fallback };
}

/** The CLI's progress bar on stderr (one line every 10 s when stderr is not a terminal). */
export function progressBar(cliProgress: typeof import("cli-progress")): import("cli-progress").SingleBar {
  return new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: "{phase} [{bar}] {value}/{total} {percentage}% | {duration_formatted} elapsed | eta {eta_formatted}",
      hideCursor: true,
      // Not a terminal (CI, pulumi logs): still print a line every 10 s so long runs show life.
      noTTYOutput: true,
      notTTYSchedule: 10_000,
    },
    cliProgress.Presets.shades_classic,
  );
}

/** The first Ctrl-C aborts `controller` (the run ends and reports what it has); a second one exits at once. */
export function abortOnSigint(message: string, log: (line: string) => void): { controller: AbortController; dispose: () => void } {
  const controller = new AbortController();
  const onSigint = () => {
    log(message);
    controller.abort();
    process.once("SIGINT", () => process.exit(130));
  };
  process.once("SIGINT", onSigint);
  return { controller, dispose: () => process.removeListener("SIGINT", onSigint) };
}

async function main(): Promise<number> {
  let plan: BenchCliPlan | "help";
  try {
    plan = parseBenchArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof BenchUsageError) {
      process.stderr.write(`bench: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (plan === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // Loaded after argument parsing so --help and usage errors answer instantly.
  const { runBenchmark } = await import("../components/benchmark/runner/runner");
  const { toVllmResultJson, defaultResultFilename, formatSummaryTable } = await import("../components/benchmark/runner/vllmResultJson");
  const cliProgress = await import("cli-progress");
  const log = (line: string) => process.stderr.write(`${line}\n`);

  let loadedTokenizer;
  let tokenizerFallback: string | undefined;
  try {
    ({ loaded: loadedTokenizer, fallback: tokenizerFallback } = await loadCliTokenizer(plan, log));
  } catch (e) {
    log(`bench: --tokenizer: ${(e as Error).message}`);
    return 2;
  }

  const bar = plan.progress ? progressBar(cliProgress) : undefined;
  let phase: "prompts" | "requests" | undefined;
  const progress = (name: "prompts" | "requests") => (done: number, total: number) => {
    if (!bar) return;
    if (phase !== name) {
      if (phase) bar.stop();
      phase = name;
      bar.start(total, 0, { phase: name === "prompts" ? "building prompts" : "requests        " });
    }
    bar.update(done);
  };

  const { controller, dispose } = abortOnSigint("\nbench: interrupted; ending in-flight requests and reporting what finished (Ctrl-C again to quit at once)", log);

  log(`bench: ${plan.run.numPrompts ?? 512} prompts of ${plan.run.inputLen ?? 8192} tokens → ${plan.run.baseUrl}${plan.run.endpoint ?? "/v1/chat/completions"}, tokenizer ${loadedTokenizer.id}`);
  let result;
  try {
    result = await runBenchmark({ ...plan.run, loadedTokenizer, tokenizerFallback, onDatasetProgress: progress("prompts"), signal: controller.signal }, progress("requests"));
  } catch (e) {
    bar?.stop();
    log(`bench: ${(e as Error).message}`);
    return 1;
  } finally {
    dispose();
  }
  bar?.stop();

  const json = toVllmResultJson(result, { detailed: plan.saveDetailed });
  const text = JSON.stringify(json, null, 2);
  if (!plan.jsonOnly) log(formatSummaryTable(json, result.options.percentileMetrics, result.options.metricPercentiles));
  if (tokenizerFallback) log(`bench: WARNING: tokenizer fallback (see above): ${tokenizerFallback}.`);
  if (result.metrics.failed > 0) {
    const firstErrors = [...new Set(result.requests.filter((r) => !r.success).map((r) => r.error))].slice(0, 3);
    log(`bench: ${result.metrics.failed} request(s) failed, e.g.: ${firstErrors.join(" | ")}`);
  }
  if (plan.saveResult) {
    const file = path.join(plan.resultDir, plan.resultFilename ?? defaultResultFilename(json));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${text}\n`);
    log(`bench: result written to ${file}`);
  }
  if (plan.jsonOnly || !plan.saveResult) process.stdout.write(`${text}\n`);
  return result.metrics.completed === 0 ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
