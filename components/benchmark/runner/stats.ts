/**
 * Metrics exactly as `vllm bench serve` computes them (numpy semantics): mean, median,
 * population standard deviation (ddof 0) and percentiles with linear interpolation at rank
 * (n − 1)·p/100. An empty list reports 0 for every statistic (numpy is handed `[0]` there).
 * Latencies are kept in milliseconds throughout.
 */
import type { BenchmarkTotals } from "../resultParser";
import type { PercentileMetric } from "../workload";

export type { PercentileMetric };

/** Arithmetic mean; 0 for an empty list. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Population standard deviation (divides by n); 0 for an empty list. */
export function populationStd(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const m = mean(values);
  let squares = 0;
  for (const v of values) squares += (v - m) * (v - m);
  return Math.sqrt(squares / values.length);
}

/** Ascending copy (numeric order, not the default string order of Array.prototype.sort). */
export function sortedCopy(values: readonly number[]): Float64Array {
  return Float64Array.from(values).sort();
}

/**
 * Percentile `p` (0–100) of ascending `sorted` by linear interpolation between the two
 * closest ranks, rank = (n − 1)·p/100 (numpy's default "linear" method); 0 for an empty list.
 */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const rank = ((n - 1) * p) / 100;
  const lower = Math.floor(rank);
  const upper = Math.min(lower + 1, n - 1);
  const fraction = rank - lower;
  return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction;
}

/** Percentile of an unsorted list; see `percentileOfSorted`. */
export function percentile(values: readonly number[], p: number): number {
  return percentileOfSorted(sortedCopy(values), p);
}

/** Median (the 50th percentile under the same interpolation). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Summary of one latency metric, milliseconds. */
export interface MetricSummary {
  readonly mean: number;
  readonly median: number;
  readonly std: number;
  /** Requested percentiles in request order: `[p, value]`. */
  readonly percentiles: ReadonlyArray<readonly [number, number]>;
}

/** Mean, median, population standard deviation and the requested percentiles of one latency list. */
export function latencySummary(values: readonly number[], percentiles: readonly number[]): MetricSummary {
  const sorted = sortedCopy(values);
  return {
    mean: mean(values),
    median: percentileOfSorted(sorted, 50),
    std: populationStd(values),
    percentiles: percentiles.map((p) => [p, percentileOfSorted(sorted, p)] as const),
  };
}

/**
 * How vllm spells a percentile in a key: whole numbers without a decimal point (`99`), others
 * as Python's `str(float)` would (`99.9`); JavaScript's number formatting agrees on both.
 */
export function percentileLabel(p: number): string {
  return String(p);
}

/** What one request contributed; only successful requests reach the statistics. */
export interface RequestTiming {
  readonly success: boolean;
  /**
   * Prompt tokens as the client counts them: the dataset's prompt length (the tokenizer's count
   * of the text it built, no chat template). Pinned vllm 0.18.0 sums this for `total_input_tokens`.
   */
  readonly promptLen: number;
  /** `usage.prompt_tokens` as the server reported it (chat template included); undefined when it sent none. */
  readonly serverPromptTokens?: number;
  /** Completion tokens (`usage.completion_tokens`, else the client's count). */
  readonly outputTokens: number;
  /** Time to first token event, ms after `st`. */
  readonly ttftMs: number;
  /** Gaps between consecutive token events, ms. */
  readonly itlMs: readonly number[];
  /** Last token event − `st`, ms. */
  readonly latencyMs: number;
  /** `st` on the runner's monotonic clock (performance.now()), ms. */
  readonly startMs: number;
}

/** Service-level objectives for goodput, milliseconds (vllm `--goodput ttft:… tpot:… e2el:…`). */
export interface GoodputSlo {
  readonly ttft?: number;
  readonly tpot?: number;
  readonly e2el?: number;
}

/** The run's totals (requestThroughput = completed / duration, ...) plus the runner's own figures. */
export interface RunnerMetrics extends BenchmarkTotals {
  /** Requests meeting every SLO per second; undefined without SLOs (JSON `null`). */
  readonly requestGoodput: number | undefined;
  /** Most token events received within one whole second of the run (1 s buckets). */
  readonly maxOutputTokensPerS: number;
  /** Most requests active during one of those 1 s buckets. */
  readonly maxConcurrentRequests: number;
  readonly ttft: MetricSummary;
  readonly tpot: MetricSummary;
  readonly itl: MetricSummary;
  readonly e2el: MetricSummary;
}

/**
 * vllm's `calculate_metrics` for a streamed run. `durationMs` runs from just before the first
 * dispatch to after the last request ended (failed ones included).
 */
export function computeMetrics(
  requests: readonly RequestTiming[],
  durationMs: number,
  metricPercentiles: readonly number[],
  goodput?: GoodputSlo,
): RunnerMetrics {
  const ok = requests.filter((r) => r.success);
  const ttfts: number[] = [];
  const tpots: number[] = [];
  const allTpots: number[] = [];
  const e2els: number[] = [];
  const itls: number[] = [];
  let totalInput = 0;
  let totalInputServer = 0;
  let serverCounted = 0;
  let totalOutput = 0;
  for (const r of ok) {
    totalInput += r.promptLen;
    if (r.serverPromptTokens !== undefined) {
      totalInputServer += r.serverPromptTokens;
      serverCounted++;
    }
    totalOutput += r.outputTokens;
    let tpot = 0;
    if (r.outputTokens > 1) {
      tpot = (r.latencyMs - r.ttftMs) / (r.outputTokens - 1);
      tpots.push(tpot);
    }
    // vllm counts a request with ≤ 1 output token as TPOT 0 when judging goodput.
    allTpots.push(tpot);
    ttfts.push(r.ttftMs);
    e2els.push(r.latencyMs);
    for (const gap of r.itlMs) itls.push(gap);
  }
  const durationS = durationMs / 1000;
  const perSecond = (n: number) => (durationS > 0 ? n / durationS : 0);

  let requestGoodput: number | undefined;
  if (goodput && (goodput.ttft !== undefined || goodput.tpot !== undefined || goodput.e2el !== undefined)) {
    let good = 0;
    for (let i = 0; i < ok.length; i++) {
      const meets =
        (goodput.ttft === undefined || ttfts[i] <= goodput.ttft) &&
        (goodput.tpot === undefined || allTpots[i] <= goodput.tpot) &&
        (goodput.e2el === undefined || e2els[i] <= goodput.e2el);
      if (meets) good++;
    }
    requestGoodput = perSecond(good);
  }

  const peaks = peakPerSecond(ok);
  return {
    completed: ok.length,
    failed: requests.length - ok.length,
    durationS,
    totalInputTokens: totalInput,
    // only a figure when every completed request reported its count: a partial sum would mislead
    ...(ok.length > 0 && serverCounted === ok.length ? { totalInputTokensServer: totalInputServer } : {}),
    totalOutputTokens: totalOutput,
    requestThroughput: perSecond(ok.length),
    requestGoodput,
    outputThroughput: perSecond(totalOutput),
    totalTokenThroughput: perSecond(totalInput + totalOutput),
    maxOutputTokensPerS: peaks.maxTokensPerS,
    maxConcurrentRequests: peaks.maxConcurrent,
    ttft: latencySummary(ttfts, metricPercentiles),
    tpot: latencySummary(tpots, metricPercentiles),
    itl: latencySummary(itls, metricPercentiles),
    e2el: latencySummary(e2els, metricPercentiles),
  };
}

/**
 * vllm's peak figures: 1-second buckets from the earliest successful start; every token event
 * (st + ttft + cumulative ITL) counts one in its bucket, and a request counts as active in
 * every bucket from its start bucket to its end bucket inclusive. Buckets are bounded by the
 * run's span, so the loop is bounded too.
 */
export function peakPerSecond(ok: readonly RequestTiming[]): { maxTokensPerS: number; maxConcurrent: number } {
  if (ok.length === 0) return { maxTokensPerS: 0, maxConcurrent: 0 };
  let minStart = Infinity;
  let maxEnd = -Infinity;
  for (const r of ok) {
    minStart = Math.min(minStart, r.startMs);
    maxEnd = Math.max(maxEnd, r.startMs + r.latencyMs);
  }
  const buckets = Math.ceil((maxEnd - minStart) / 1000) + 1;
  const tokens = new Float64Array(buckets);
  const active = new Float64Array(buckets);
  for (const r of ok) {
    let t = r.startMs + r.ttftMs;
    const add = (time: number) => {
      const b = Math.floor((time - minStart) / 1000);
      if (b >= 0 && b < buckets) tokens[b] += 1;
    };
    add(t);
    for (const gap of r.itlMs) {
      t += gap;
      add(t);
    }
    const first = Math.floor((r.startMs - minStart) / 1000);
    const last = Math.min(buckets - 1, Math.floor((r.startMs + r.latencyMs - minStart) / 1000));
    for (let b = first; b <= last; b++) active[b] += 1;
  }
  let maxTokensPerS = 0;
  let maxConcurrent = 0;
  for (let b = 0; b < buckets; b++) {
    maxTokensPerS = Math.max(maxTokensPerS, tokens[b]);
    maxConcurrent = Math.max(maxConcurrent, active[b]);
  }
  return { maxTokensPerS, maxConcurrent };
}
