/**
 * One parser for the result JSON of both runners: `vllm bench serve --save-result` and the
 * native runner's `--json`, which writes the same format. Tolerant by design: releases add and
 * drop keys, Python writes `NaN`/`Infinity` as bare tokens, and some numbers arrive as strings
 * (`"request_rate": "inf"`).
 */
import type { PercentileMetric } from "./workload";

/** Summary statistics of one latency metric, in milliseconds. */
export interface LatencyStats {
  readonly mean: number;
  readonly median: number;
  /** `p90_<m>_ms` when the run asked for the 90th percentile. */
  readonly p90?: number;
  /** `p99_<m>_ms`; 0 (and listed in `missingKeys`) when the run did not report it. */
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
  readonly totalInputTokens: number;
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
  /** Expected keys that were absent (their figures read as 0). */
  readonly missingKeys: readonly string[];
  /** The parsed JSON object, every key kept. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** `BenchmarkMetrics` without `raw`: what goes into stack outputs (the raw JSON has its own output). */
export type BenchmarkSummary = Omit<BenchmarkMetrics, "raw">;

const LATENCY_METRICS: readonly PercentileMetric[] = ["ttft", "tpot", "itl", "e2el"];

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

function statsOf(raw: Record<string, unknown>, metric: PercentileMetric, missing: string[]): LatencyStats | undefined {
  const pattern = new RegExp(`^p(\\d+(?:\\.\\d+)?)_${metric}_ms$`);
  const percentiles: Record<string, number> = {};
  for (const [key, value] of Object.entries(raw)) {
    const m = pattern.exec(key);
    const n = toNumber(value);
    if (m && n !== undefined) percentiles[m[1]] = n;
  }
  const mean = toNumber(raw[`mean_${metric}_ms`]);
  const median = toNumber(raw[`median_${metric}_ms`]);
  const std = toNumber(raw[`std_${metric}_ms`]);
  const present = mean !== undefined || median !== undefined || Object.keys(percentiles).length > 0;
  if (!present) {
    if (metric !== "e2el") missing.push(`mean_${metric}_ms`, `median_${metric}_ms`, `p99_${metric}_ms`);
    return undefined;
  }
  for (const [key, v] of [[`mean_${metric}_ms`, mean], [`median_${metric}_ms`, median], [`p99_${metric}_ms`, percentiles["99"]]] as const) {
    if (v === undefined) missing.push(key);
  }
  return {
    mean: mean ?? 0,
    median: median ?? percentiles["50"] ?? 0,
    ...(percentiles["90"] !== undefined ? { p90: percentiles["90"] } : {}),
    p99: percentiles["99"] ?? 0,
    ...(std !== undefined ? { std } : {}),
    percentiles,
  };
}

const ZERO_STATS: LatencyStats = { mean: 0, median: 0, p99: 0, percentiles: {} };

/** Parses a result object (already JSON-decoded) into typed metrics. */
export function parseBenchmarkResult(raw: Record<string, unknown>): BenchmarkMetrics {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error("benchmark result must be a JSON object with vllm bench serve keys (completed, duration, output_throughput, …).");
  }
  const completed = toNumber(raw["completed"]);
  const duration = toNumber(raw["duration"]);
  if (completed === undefined || duration === undefined) {
    const keys = Object.keys(raw).slice(0, 12).join(", ") || "none";
    throw new Error(
      `benchmark result lacks "completed" and/or "duration" (keys seen: ${keys}). ` +
        "Fix: pass the JSON written by `vllm bench serve --save-result` or the native runner's --json.",
    );
  }
  const missing: string[] = [];
  const num = (key: string): number => {
    const n = toNumber(raw[key]);
    if (n === undefined) {
      missing.push(key);
      return 0;
    }
    return n;
  };
  const optNum = (key: string): number | undefined => toNumber(raw[key]) ?? undefined;
  const optStr = (key: string): string | undefined => (typeof raw[key] === "string" ? (raw[key] as string) : undefined);

  const stats = Object.fromEntries(LATENCY_METRICS.map((m) => [m, statsOf(raw, m, missing)])) as Record<PercentileMetric, LatencyStats | undefined>;
  const rate = toNumber(raw["request_rate"]);

  const metrics: BenchmarkMetrics = {
    completed,
    failed: num("failed"),
    durationS: duration,
    totalInputTokens: num("total_input_tokens"),
    totalOutputTokens: num("total_output_tokens"),
    requestThroughput: num("request_throughput"),
    outputThroughput: num("output_throughput"),
    totalTokenThroughput: num("total_token_throughput"),
    ttft: stats.ttft ?? ZERO_STATS,
    tpot: stats.tpot ?? ZERO_STATS,
    itl: stats.itl ?? ZERO_STATS,
    ...(stats.e2el ? { e2el: stats.e2el } : {}),
    ...defined("numPrompts", optNum("num_prompts")),
    ...defined("maxConcurrency", optNum("max_concurrency")),
    ...(rate !== undefined && !Number.isNaN(rate) ? { requestRate: rate === Infinity ? ("inf" as const) : rate } : {}),
    ...defined("modelId", optStr("model_id")),
    ...defined("backend", optStr("backend")),
    ...defined("date", optStr("date")),
    ...defined("requestGoodput", optNum("request_goodput")),
    ...defined("maxOutputTokensPerS", optNum("max_output_tokens_per_s")),
    ...defined("maxConcurrentRequests", optNum("max_concurrent_requests")),
    missingKeys: missing,
    raw,
  };
  return metrics;
}

function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Parses a runner's stdout (the vllm result JSON, possibly after log lines) into typed metrics. */
export function parseBenchmarkOutput(stdout: string): BenchmarkMetrics {
  return parseBenchmarkResult(extractResultObject(stdout));
}

/**
 * Drops `raw` and replaces non-finite numbers (which neither JSON nor Pulumi state can hold)
 * with null, giving a value safe to export as a stack output.
 */
export function summarize(metrics: BenchmarkMetrics): BenchmarkSummary {
  const { raw: _raw, ...rest } = metrics;
  return JSON.parse(JSON.stringify(rest)) as BenchmarkSummary;
}
