/**
 * The result record in `vllm bench serve --save-result` format (same keys, same order, same
 * units: latency statistics in ms, the optional per-request `ttfts`/`itls` arrays in seconds as
 * vllm writes them), the default file name vllm would choose, and the console summary table.
 */
import type { RunnerMetrics, MetricSummary, PercentileMetric } from "./stats";
import { percentileLabel } from "./stats";
import type { ResolvedRunOptions } from "./options";

/** The fields of a run the JSON is built from (a `BenchmarkResult` without its `json`). */
export interface ResultSource {
  readonly metrics: RunnerMetrics;
  readonly requests: ReadonlyArray<{
    readonly success: boolean;
    readonly promptLen: number;
    readonly outputTokens: number;
    readonly ttftMs: number;
    readonly itlMs: readonly number[];
    readonly generatedText: string;
    readonly error: string;
  }>;
  readonly options: Pick<
    ResolvedRunOptions,
    "label" | "modelId" | "tokenizerId" | "numPrompts" | "maxConcurrency" | "percentileMetrics" | "metricPercentiles"
  > &
    Partial<Pick<ResolvedRunOptions, "tokenizerFallback" | "requestRate" | "burstiness">>;
  readonly startedAt: Date;
}

/**
 * `--save-result` record. Fixed keys are typed; the per-metric keys
 * (`mean_<m>_ms`, `median_<m>_ms`, `std_<m>_ms`, `p<P>_<m>_ms`) and the detailed arrays
 * (`input_lens`, `output_lens`, `ttfts`, `itls`, `generated_texts`, `errors`) follow them.
 */
export interface VllmResultJson {
  date: string;
  backend: "openai-chat";
  endpoint_type: "openai-chat";
  label: string;
  model_id: string;
  tokenizer_id: string;
  num_prompts: number;
  /** "inf" (all at once) or requests per second. */
  request_rate: "inf" | number;
  burstiness: number;
  max_concurrency: number;
  duration: number;
  completed: number;
  failed: number;
  total_input_tokens: number;
  /** Not a vllm key: the server's `usage.prompt_tokens` summed (null when not every request reported it). */
  total_input_tokens_server: number | null;
  total_output_tokens: number;
  request_throughput: number;
  request_goodput: number | null;
  output_throughput: number;
  total_token_throughput: number;
  max_output_tokens_per_s: number;
  max_concurrent_requests: number;
  [metricOrDetailKey: string]: unknown;
}

/** vllm's `date` format: local time `YYYYMMDD-HHMMSS`. */
export function formatVllmDate(d: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
}

/** vllm writes the rate as the string "inf" or as a number. */
function requestRateValue(rate: number | undefined): "inf" | number {
  return rate === undefined || rate === Infinity ? "inf" : rate;
}

/** How Python's str(float) spells the rate in vllm's file name: `inf`, `4.0`, `0.5`. */
export function requestRateLabel(rate: "inf" | number): string {
  if (rate === "inf") return "inf";
  return Number.isInteger(rate) ? `${rate}.0` : String(rate);
}

/** Builds the record; `detailed` adds vllm's `--save-detailed` per-request arrays. */
export function toVllmResultJson(src: ResultSource, opts: { detailed?: boolean } = {}): VllmResultJson {
  const m = src.metrics;
  const json: VllmResultJson = {
    date: formatVllmDate(src.startedAt),
    backend: "openai-chat",
    endpoint_type: "openai-chat",
    label: src.options.label,
    model_id: src.options.modelId,
    tokenizer_id: src.options.tokenizerId,
    num_prompts: src.options.numPrompts,
    request_rate: requestRateValue(src.options.requestRate),
    burstiness: src.options.burstiness ?? 1.0,
    max_concurrency: src.options.maxConcurrency,
    duration: m.durationS,
    completed: m.completed,
    failed: m.failed,
    total_input_tokens: m.totalInputTokens,
    total_input_tokens_server: m.totalInputTokensServer ?? null,
    total_output_tokens: m.totalOutputTokens,
    request_throughput: m.requestThroughput,
    request_goodput: m.requestGoodput ?? null,
    output_throughput: m.outputThroughput,
    total_token_throughput: m.totalTokenThroughput,
    max_output_tokens_per_s: m.maxOutputTokensPerS,
    max_concurrent_requests: m.maxConcurrentRequests,
  };
  if (src.options.tokenizerFallback) json.tokenizer_fallback = src.options.tokenizerFallback;
  for (const metric of src.options.percentileMetrics) {
    const s: MetricSummary = m[metric];
    json[`mean_${metric}_ms`] = s.mean;
    json[`median_${metric}_ms`] = s.median;
    json[`std_${metric}_ms`] = s.std;
    for (const [p, value] of s.percentiles) json[`p${percentileLabel(p)}_${metric}_ms`] = value;
  }
  if (opts.detailed) {
    json.input_lens = src.requests.map((r) => r.promptLen);
    json.output_lens = src.requests.map((r) => r.outputTokens);
    json.ttfts = src.requests.map((r) => r.ttftMs / 1000);
    json.itls = src.requests.map((r) => r.itlMs.map((gap) => gap / 1000));
    json.generated_texts = src.requests.map((r) => r.generatedText);
    json.errors = src.requests.map((r) => r.error);
  }
  return json;
}

/** vllm's default result file name: `<label>-<rate>qps-concurrency<N>-<model basename>-<date>.json` (rate `inf`, `4.0`, …). */
export function defaultResultFilename(json: Pick<VllmResultJson, "label" | "max_concurrency" | "model_id" | "date"> & Partial<Pick<VllmResultJson, "request_rate">>): string {
  const base = json.model_id.split("/").pop() || json.model_id;
  return `${json.label}-${requestRateLabel(json.request_rate ?? "inf")}qps-concurrency${json.max_concurrency}-${base}-${json.date}.json`;
}

const METRIC_HEADINGS: Record<PercentileMetric, { title: string; short: string }> = {
  ttft: { title: "Time to First Token", short: "TTFT" },
  tpot: { title: "Time per Output Token (excl. 1st token)", short: "TPOT" },
  itl: { title: "Inter-token Latency", short: "ITL" },
  e2el: { title: "End-to-end Latency", short: "E2EL" },
};

const WIDTH = 50;

function centered(title: string, fill: string): string {
  const pad = Math.max(0, WIDTH - title.length);
  const left = Math.floor(pad / 2);
  return fill.repeat(left) + title + fill.repeat(pad - left);
}

function row(label: string, value: string | number): string {
  return `${label.padEnd(40)} ${value}`;
}

/** The summary table `vllm bench serve` prints, from a result record. */
export function formatSummaryTable(json: VllmResultJson, metrics: readonly PercentileMetric[], percentiles: readonly number[]): string {
  const f2 = (v: unknown) => (typeof v === "number" ? v.toFixed(2) : String(v));
  const lines = [
    centered(" Serving Benchmark Result ", "="),
    row("Successful requests:", json.completed),
    row("Failed requests:", json.failed),
    row("Maximum request concurrency:", json.max_concurrency),
    ...(json.request_rate !== "inf" ? [row("Request rate configured (RPS):", f2(json.request_rate))] : []),
    row("Benchmark duration (s):", f2(json.duration)),
    row("Total input tokens:", json.total_input_tokens),
    ...(json.total_input_tokens_server === null ? [] : [row("Total input tokens (server's count):", json.total_input_tokens_server)]),
    row("Total generated tokens:", json.total_output_tokens),
    row("Request throughput (req/s):", f2(json.request_throughput)),
  ];
  if (json.request_goodput !== null) lines.push(row("Request goodput (req/s):", f2(json.request_goodput)));
  lines.push(
    row("Output token throughput (tok/s):", f2(json.output_throughput)),
    row("Peak output token throughput (tok/s):", f2(json.max_output_tokens_per_s)),
    row("Peak concurrent requests:", f2(json.max_concurrent_requests)),
    row("Total token throughput (tok/s):", f2(json.total_token_throughput)),
  );
  for (const metric of metrics) {
    const h = METRIC_HEADINGS[metric];
    lines.push(centered(h.title, "-"));
    lines.push(row(`Mean ${h.short} (ms):`, f2(json[`mean_${metric}_ms`])));
    lines.push(row(`Median ${h.short} (ms):`, f2(json[`median_${metric}_ms`])));
    for (const p of percentiles) lines.push(row(`P${percentileLabel(p)} ${h.short} (ms):`, f2(json[`p${percentileLabel(p)}_${metric}_ms`])));
  }
  lines.push("=".repeat(WIDTH));
  return lines.join("\n");
}
