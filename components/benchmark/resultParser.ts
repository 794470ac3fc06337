/**
 * One parser for the result JSON of both runners: `vllm bench serve --save-result` and the
 * native runner's `--json`, which writes the same format; SGLang's `bench_serving` files are
 * recognised and read by their own key names.
 *
 * Tolerant of form: releases add keys, Python writes `NaN`/`Infinity` as bare tokens, and some
 * numbers arrive as strings (`"request_rate": "inf"`). Strict about figures: a figure the outputs,
 * the ratios or the thresholds need that is absent is an error naming the key; a non-finite or
 * negative figure is an error naming the key and the value; whatever had to be derived (`failed`
 * of files that do not record it, SGLang's total throughput) is said in `notes`, never silently.
 */
import type { PercentileMetric } from "./workload";

/** Summary statistics of one latency metric, in milliseconds. */
export interface LatencyStats {
  readonly mean: number;
  readonly median: number;
  /** `p90_<m>_ms` when the run asked for the 90th percentile. */
  readonly p90?: number;
  /** `p99_<m>_ms`: required (the ratios, the report and the thresholds use it). */
  readonly p99: number;
  /** Population standard deviation. */
  readonly std?: number;
  /** Every reported percentile keyed as vllm spells it: `"50"`, `"99"`, `"99.9"`. */
  readonly percentiles: Readonly<Record<string, number>>;
}

/**
 * Counts and throughputs of one run, as every runner reports them (the native runner computes
 * them in runner/stats.ts). Throughputs are per second of `durationS`.
 */
export interface BenchmarkTotals {
  readonly completed: number;
  readonly failed: number;
  readonly durationS: number;
  /**
   * Prompt tokens as the client counts them (the dataset's prompt length, as pinned vllm 0.18.0
   * does; no chat template), over completed requests.
   */
  readonly totalInputTokens: number;
  /**
   * Prompt tokens as the server counted them (`usage.prompt_tokens`, chat template included),
   * over completed requests; undefined when the runner did not record them (vllm does not).
   */
  readonly totalInputTokensServer?: number;
  readonly totalOutputTokens: number;
  /** Completed requests per second. */
  readonly requestThroughput: number;
  /** Output tokens per second. */
  readonly outputThroughput: number;
  /** Input + output tokens per second. */
  readonly totalTokenThroughput: number;
}

/** Typed view of a benchmark result. Throughputs are per second; durations in seconds. */
export interface BenchmarkMetrics extends BenchmarkTotals {
  readonly ttft: LatencyStats;
  readonly tpot: LatencyStats;
  readonly itl: LatencyStats;
  /** Present only when the run listed `e2el` in `--percentile-metrics`. */
  readonly e2el?: LatencyStats;
  readonly numPrompts?: number;
  readonly maxConcurrency?: number;
  /** Requests per second the client aimed for; `"inf"` means all at once. */
  readonly requestRate?: number | "inf";
  readonly modelId?: string;
  readonly backend?: string;
  readonly date?: string;
  readonly requestGoodput?: number;
  readonly maxOutputTokensPerS?: number;
  readonly maxConcurrentRequests?: number;
  /** `tokenizer_id`: the tokenizer the prompts were built with (vllm and the native runner record it). */
  readonly tokenizerId?: string;
  /** Which tool wrote the file, told by its keys. */
  readonly format: ResultFormat;
  /**
   * What the reader had to derive or wants said about the figures (a file without `failed`, a
   * tokenizer fallback, a run where nothing completed); empty for a complete vllm-format file.
   */
  readonly notes: readonly string[];
  /** The parsed JSON object, every key kept. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** `BenchmarkMetrics` without `raw`: what goes into stack outputs (the raw JSON has its own output). */
export type BenchmarkSummary = Omit<BenchmarkMetrics, "raw">;

/** `vllm`: `vllm bench serve --save-result` or the native runner; `sglang`: `python -m sglang.bench_serving`. */
export type ResultFormat = "vllm" | "sglang";

/** How to read one result. */
export interface ParseOptions {
  /** Names the result in messages: a file path or the runner, e.g. `"remote runner (vllm bench serve)"`. @default "benchmark result" */
  readonly source?: string;
  /**
   * Requests the run sent (the workload's prompt count). Used for files that do not record
   * `failed` (SGLang's, vllm's before it added the key): failed = numPrompts − completed, with a note.
   * @default the file's own `num_prompts`, if any
   */
  readonly numPrompts?: number;
}

/** A result the outputs cannot be built from: every problem, each naming its key. */
export class BenchmarkResultError extends Error {
  constructor(
    readonly source: string,
    readonly format: ResultFormat,
    readonly problems: readonly string[],
    fix: string,
  ) {
    super(`${source} (${format === "sglang" ? "SGLang bench_serving" : "vllm bench serve"} format) is not usable:\n${problems.map((p) => `  - ${p}`).join("\n")}\nFix: ${fix}`);
    this.name = "BenchmarkResultError";
  }
}

/**
 * Rewrites the bare `NaN`, `Infinity` and `-Infinity` tokens Python's `json.dump` emits into
 * strings, outside string literals only, so `JSON.parse` accepts the document.
 */
export function sanitizePythonJson(text: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === "\\") {
        out += text[i + 1] ?? "";
        i++;
      } else if (c === '"') {
        inString = false;
      }
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const rest = text.slice(i, i + 9);
    const token = rest.startsWith("-Infinity") ? "-Infinity" : rest.startsWith("Infinity") ? "Infinity" : rest.startsWith("NaN") ? "NaN" : undefined;
    if (token) {
      out += `"${token}"`;
      i += token.length - 1;
      continue;
    }
    out += c;
  }
  return out;
}

/** Reads a number that may be a JSON number or a numeric string (`"inf"`, `"1.5"`, `"NaN"`). */
export function toNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value !== "string") return undefined;
  const s = value.trim().toLowerCase();
  if (s === "inf" || s === "+inf" || s === "infinity" || s === "+infinity") return Infinity;
  if (s === "-inf" || s === "-infinity") return -Infinity;
  if (s === "nan") return NaN;
  if (s === "" || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

/**
 * Finds the result object in a runner's stdout: the whole text when it is JSON, otherwise the
 * last line that parses as a JSON object (tolerates a banner or log lines before it).
 */
export function extractResultObject(stdout: string): Record<string, unknown> {
  const text = stdout.trim();
  if (text.length === 0) {
    throw new Error("benchmark result is empty: the runner printed nothing on stdout. Fix: check the runner's stderr (pulumi up shows it) for the failure.");
  }
  const candidates = [text, ...text.split(/\r?\n/).reverse().map((l) => l.trim()).filter((l) => l.startsWith("{"))];
  const first = text.indexOf("{");
  const last = text.lastIndexOf("}");
  if (first >= 0 && last > first) candidates.push(text.slice(first, last + 1));
  for (const candidate of candidates) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(sanitizePythonJson(candidate));
    } catch {
      continue;
    }
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  }
  const preview = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  throw new Error(`benchmark result is not a JSON object: ${JSON.stringify(preview)}. Fix: the runner must print the vllm --save-result JSON on stdout.`);
}

/**
 * Which tool wrote a result, told by keys only one of them writes. SGLang's `bench_serving`
 * writes `total_throughput`, `*_e2e_latency_ms`, `total_output_tokens_retokenized`,
 * `input_throughput`, `concurrency`; vllm writes `total_token_throughput`, `endpoint_type`,
 * `tokenizer_id`, `burstiness`, `*_e2el_ms`. A file with keys of both is read as vllm's.
 */
export function detectResultFormat(raw: Readonly<Record<string, unknown>>): ResultFormat {
  const sglangKeys = ["total_throughput", "mean_e2e_latency_ms", "median_e2e_latency_ms", "total_output_tokens_retokenized", "input_throughput", "concurrency", "accept_length"];
  const vllmKeys = ["total_token_throughput", "endpoint_type", "tokenizer_id", "burstiness", "mean_e2el_ms", "median_e2el_ms"];
  const has = (k: string) => Object.prototype.hasOwnProperty.call(raw, k);
  return sglangKeys.some(has) && !vllmKeys.some(has) ? "sglang" : "vllm";
}

/** The key infix of each latency metric in each format (`mean_<infix>_ms`, `p99_<infix>_ms`). */
const LATENCY_INFIX: Readonly<Record<ResultFormat, Readonly<Record<PercentileMetric, string>>>> = {
  vllm: { ttft: "ttft", tpot: "tpot", itl: "itl", e2el: "e2el" },
  sglang: { ttft: "ttft", tpot: "tpot", itl: "itl", e2el: "e2e_latency" },
};

const METRIC_LABEL: Readonly<Record<PercentileMetric, string>> = { ttft: "TTFT", tpot: "TPOT", itl: "ITL", e2el: "E2EL" };

function shown(value: unknown): string {
  return typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
}

/** Reads figures out of one result object, collecting every problem instead of stopping at the first. */
class FigureReader {
  readonly problems: string[] = [];
  constructor(private readonly raw: Readonly<Record<string, unknown>>) {}

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  /** A present figure, validated (a number, finite, ≥ 0, whole for counts); undefined when absent or refused. */
  optional(key: string, kind: "figure" | "count" = "figure"): number | undefined {
    if (!this.has(key)) return undefined;
    const value = this.raw[key];
    const n = toNumber(value);
    if (n === undefined) this.problems.push(`"${key}" = ${shown(value)} is not a number`);
    else if (!Number.isFinite(n)) this.problems.push(`"${key}" = ${shown(value)} is not a finite number`);
    else if (n < 0) this.problems.push(`"${key}" = ${shown(value)} is negative`);
    else if (kind === "count" && !Number.isInteger(n)) this.problems.push(`"${key}" = ${shown(value)} is not a whole number`);
    else return n;
    return undefined;
  }

  /** A figure the outputs need: absent is a problem naming the key and what it is. Returns 0 only alongside a problem. */
  required(key: string, what: string, kind: "figure" | "count" = "figure"): number {
    if (!this.has(key)) {
      this.problems.push(`"${key}" (${what}) is missing`);
      return 0;
    }
    return this.optional(key, kind) ?? 0;
  }

  /** Every `p<P>_<infix>_ms` key, validated, keyed by P as written (`"99"`, `"99.9"`). */
  percentiles(infix: string): Record<string, number> {
    const pattern = new RegExp(`^p(\\d+(?:\\.\\d+)?)_${infix}_ms$`);
    const out: Record<string, number> = {};
    for (const key of Object.keys(this.raw)) {
      const m = pattern.exec(key);
      if (!m) continue;
      const n = this.optional(key);
      if (n !== undefined) out[m[1]] = n;
    }
    return out;
  }

  /**
   * Mean, median and p99 of one metric (all required when `required`, else only when any of its
   * keys is present), plus whatever else the file has (p90, std, other percentiles).
   */
  latency(metric: PercentileMetric, infix: string, required: boolean): LatencyStats | undefined {
    const keys = Object.keys(this.raw).filter((k) => k.endsWith(`_${infix}_ms`) && this.has(k));
    if (!required && keys.length === 0) return undefined;
    const label = METRIC_LABEL[metric];
    const percentiles = this.percentiles(infix);
    const mean = this.required(`mean_${infix}_ms`, `mean ${label}`);
    // median and p50 are the same statistic (numpy's median is the interpolated 50th percentile)
    const medianKey = `median_${infix}_ms`;
    const median = this.has(medianKey) ? this.required(medianKey, `median ${label}`) : (percentiles["50"] ?? this.required(medianKey, `median ${label}`));
    // a present but refused p99 already has its problem; only an absent one is reported as missing
    const p99Key = `p99_${infix}_ms`;
    const p99 = this.has(p99Key) ? (percentiles["99"] ?? 0) : this.required(p99Key, `p99 ${label}`);
    const std = this.optional(`std_${infix}_ms`);
    return {
      mean,
      median,
      ...(percentiles["90"] !== undefined ? { p90: percentiles["90"] } : {}),
      p99,
      ...(std !== undefined ? { std } : {}),
      percentiles,
    };
  }
}

/** Refuses what is not a result object at all (not an object, or neither `completed` nor `duration`). */
function assertResultObject(raw: Record<string, unknown>, source: string): void {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error(`${source} must be a JSON object with vllm bench serve keys (completed, duration, output_throughput, …).`);
  }
  if (raw["completed"] === undefined && raw["duration"] === undefined) {
    const keys = Object.keys(raw).slice(0, 12).join(", ") || "none";
    throw new Error(
      `${source} lacks "completed" and "duration" (keys seen: ${keys}). ` +
        "Fix: pass the JSON written by `vllm bench serve --save-result`, the native runner's --json, or SGLang bench_serving's --output-file line.",
    );
  }
}

/** The counts and throughputs every output needs, `failed` derived (with a note) where the file lacks it. */
function readTotals(r: FigureReader, raw: Readonly<Record<string, unknown>>, format: ResultFormat, notes: string[], numPromptsSent: number | undefined): Omit<BenchmarkTotals, "totalInputTokensServer"> {
  const completed = r.required("completed", "successful requests", "count");
  const durationS = r.required("duration", "run duration, s");
  if (toNumber(raw["duration"]) === 0) r.problems.push(`"duration" = 0 is not a run length (every throughput divides by it)`);
  const totalInputTokens = r.required("total_input_tokens", "prompt tokens", "count");
  const totalOutputTokens = r.required("total_output_tokens", "output tokens", "count");
  const requestThroughput = r.required("request_throughput", "requests/s");
  const outputThroughput = r.required("output_throughput", "output tokens/s");
  const totalTokenThroughput = readTotalThroughput(r, format, notes, { totalInputTokens, totalOutputTokens, durationS });
  const failed = readFailed(r, format, notes, completed, numPromptsSent);
  return { completed, failed, durationS, totalInputTokens, totalOutputTokens, requestThroughput, outputThroughput, totalTokenThroughput };
}

/** What the file says about the run beside its figures: all optional, each validated when present. */
interface RunDescription {
  readonly numPrompts?: number;
  readonly maxConcurrency?: number;
  readonly totalInputTokensServer?: number;
  readonly requestGoodput?: number;
  readonly maxOutputTokensPerS?: number;
  readonly maxConcurrentRequests?: number;
  readonly requestRate?: number | "inf";
  readonly modelId?: string;
  readonly tokenizerId?: string;
  readonly backend?: string;
  readonly date?: string;
  readonly tokenizerFallback?: string;
}

function readRunDescription(r: FigureReader, raw: Readonly<Record<string, unknown>>): RunDescription {
  const str = (key: string): string | undefined => (typeof raw[key] === "string" && raw[key] !== "" ? (raw[key] as string) : undefined);
  return {
    numPrompts: r.optional("num_prompts", "count"),
    maxConcurrency: r.optional("max_concurrency", "count"),
    totalInputTokensServer: r.optional("total_input_tokens_server", "count"),
    requestGoodput: r.optional("request_goodput"),
    maxOutputTokensPerS: r.optional("max_output_tokens_per_s"),
    maxConcurrentRequests: r.optional("max_concurrent_requests"),
    requestRate: r.has("request_rate") ? (toNumber(raw["request_rate"]) === Infinity ? "inf" : r.optional("request_rate")) : undefined,
    modelId: str("model_id"),
    tokenizerId: str("tokenizer_id"),
    backend: str("backend"),
    date: str("date"),
    tokenizerFallback: str("tokenizer_fallback"),
  };
}

/** Every problem found, with the fix (asking for p99 in the percentiles when a p99 key is what is missing). */
function unusableResult(source: string, format: ResultFormat, problems: readonly string[]): BenchmarkResultError {
  const needsP99 = problems.some((p) => /^"p99_/.test(p));
  return new BenchmarkResultError(
    source,
    format,
    problems,
    (needsP99 ? "run the benchmark with 99 in --metric-percentiles (the workload's metricPercentiles): the ratios, the report and the thresholds use p99. " : "") +
      "Pass the complete result of the run; a figure that is absent is never read as 0, and every figure must be a finite number >= 0.",
  );
}

/** What a usable result should still say: nothing completed, counts that do not add up to the prompts sent, a tokenizer fallback. */
export function completionNotes(completed: number, failed: number, numPromptsSent: number | undefined, tokenizerFallback: string | undefined): string[] {
  const notes: string[] = [];
  if (completed === 0) notes.push(`no request completed (${failed} failed): the latency statistics are 0 by the runner's convention and measure nothing`);
  if (numPromptsSent !== undefined && completed + failed !== numPromptsSent) {
    notes.push(`completed ${completed} + failed ${failed} = ${completed + failed}, but the workload sent ${numPromptsSent} prompts`);
  }
  if (tokenizerFallback) notes.push(`tokenizer fallback: ${tokenizerFallback}`);
  return notes;
}

/**
 * Parses a result object (already JSON-decoded) into typed metrics. Throws a
 * `BenchmarkResultError` listing every figure that is missing, not a number, not finite or
 * negative; derived figures are listed in `notes`.
 */
export function parseBenchmarkResult(raw: Record<string, unknown>, options: ParseOptions = {}): BenchmarkMetrics {
  const source = options.source ?? "benchmark result";
  assertResultObject(raw, source);
  const format = detectResultFormat(raw);
  const r = new FigureReader(raw);
  const notes: string[] = [];
  if (format === "sglang") notes.push('read as an SGLang bench_serving result, by its own key names (total_throughput, *_e2e_latency_ms); it records no "failed"');

  const t = readTotals(r, raw, format, notes, options.numPrompts);
  const infix = LATENCY_INFIX[format];
  const ttft = r.latency("ttft", infix.ttft, true);
  const tpot = r.latency("tpot", infix.tpot, true);
  const itl = r.latency("itl", infix.itl, true);
  const e2el = r.latency("e2el", infix.e2el, false);
  const d = readRunDescription(r, raw);
  if (r.problems.length > 0) throw unusableResult(source, format, r.problems);
  notes.push(...completionNotes(t.completed, t.failed, options.numPrompts, d.tokenizerFallback));

  // Key order as before: the summary is serialized into stack outputs and reports.
  return {
    completed: t.completed,
    failed: t.failed,
    durationS: t.durationS,
    totalInputTokens: t.totalInputTokens,
    ...defined("totalInputTokensServer", d.totalInputTokensServer),
    totalOutputTokens: t.totalOutputTokens,
    requestThroughput: t.requestThroughput,
    outputThroughput: t.outputThroughput,
    totalTokenThroughput: t.totalTokenThroughput,
    ttft: ttft as LatencyStats,
    tpot: tpot as LatencyStats,
    itl: itl as LatencyStats,
    ...(e2el ? { e2el } : {}),
    ...defined("numPrompts", d.numPrompts),
    ...defined("maxConcurrency", d.maxConcurrency),
    ...defined("requestRate", d.requestRate),
    ...defined("modelId", d.modelId),
    ...defined("tokenizerId", d.tokenizerId),
    ...defined("backend", d.backend),
    ...defined("date", d.date),
    ...defined("requestGoodput", d.requestGoodput),
    ...defined("maxOutputTokensPerS", d.maxOutputTokensPerS),
    ...defined("maxConcurrentRequests", d.maxConcurrentRequests),
    format,
    notes,
    raw,
  };
}

/** vllm's `total_token_throughput`; SGLang's `total_throughput`, derived from its totals (with a note) by releases that do not save it. */
function readTotalThroughput(
  r: FigureReader,
  format: ResultFormat,
  notes: string[],
  t: { totalInputTokens: number; totalOutputTokens: number; durationS: number },
): number {
  if (format === "vllm") return r.required("total_token_throughput", "input + output tokens/s");
  if (r.has("total_throughput") || !r.has("total_input_tokens") || !r.has("total_output_tokens") || !(t.durationS > 0)) {
    return r.required("total_throughput", "input + output tokens/s");
  }
  const derived = (t.totalInputTokens + t.totalOutputTokens) / t.durationS;
  notes.push(`"total_throughput" is not in this file (older SGLang releases print it but do not save it); read as (total_input_tokens + total_output_tokens) / duration = ${derived.toFixed(2)} tok/s`);
  return derived;
}

/**
 * `failed`, or — for files that do not record it (SGLang's, older vllm releases') — the prompts
 * sent minus the completed ones, said in a note; a problem when neither is known.
 */
function readFailed(r: FigureReader, format: ResultFormat, notes: string[], completed: number, numPromptsSent: number | undefined): number {
  if (r.has("failed")) return r.optional("failed", "count") ?? 0;
  const fromFile = r.optional("num_prompts", "count");
  const sent = fromFile ?? numPromptsSent;
  const why = format === "sglang" ? "SGLang bench_serving does not record it" : "this vllm release does not write it";
  if (sent === undefined) {
    r.problems.push(`"failed" (failed requests) is missing (${why}) and cannot be derived: the file has no "num_prompts" and the number of prompts sent was not given`);
    return 0;
  }
  if (sent < completed) {
    r.problems.push(`"failed" is missing and cannot be derived: ${fromFile !== undefined ? '"num_prompts"' : "the prompts sent"} = ${sent} is less than "completed" = ${completed}`);
    return 0;
  }
  const failed = sent - completed;
  notes.push(`"failed" is not in this file (${why}); read as ${fromFile !== undefined ? '"num_prompts"' : "the prompts sent"} ${sent} − completed ${completed} = ${failed}`);
  return failed;
}

function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Parses a runner's stdout (the result JSON, possibly after log lines) into typed metrics. */
export function parseBenchmarkOutput(stdout: string, options: ParseOptions = {}): BenchmarkMetrics {
  return parseBenchmarkResult(extractResultObject(stdout), options);
}

/**
 * Drops `raw` and replaces non-finite numbers (which neither JSON nor Pulumi state can hold)
 * with null, giving a value safe to export as a stack output.
 */
export function summarize(metrics: BenchmarkMetrics): BenchmarkSummary {
  const { raw: _raw, ...rest } = metrics;
  return JSON.parse(JSON.stringify(rest)) as BenchmarkSummary;
}
