/**
 * The reference figures a run is compared with (by default the seed article's 8x B200 table),
 * ratios of measured to reference, and the pass/fail thresholds a stack can impose.
 */
import type { BenchmarkMetrics } from "./resultParser";

/** Reference figures for one workload; latencies in ms, throughputs in tokens/s. */
export interface BaselineFigures {
  /** Where the figures come from, shown in the report. */
  readonly source: string;
  readonly outputThroughput: number;
  readonly totalTokenThroughput: number;
  readonly ttftMeanMs: number;
  readonly ttftP99Ms: number;
  readonly tpotMeanMs: number;
  readonly tpotP99Ms: number;
  readonly itlMeanMs: number;
  readonly itlP99Ms: number;
  readonly totalInputTokens: number;
  readonly totalOutputTokens: number;
}

/** The seed's table: 8x B200, SGLang, Qwen3.5-397B-A17B, 8192/1024 x 512 at concurrency 32. */
export const SEED_BASELINE: BaselineFigures = Object.freeze({
  source: "seed article: 8x NVIDIA B200, SGLang, Qwen3.5-397B-A17B, 8192 in / 1024 out, 512 prompts, concurrency 32",
  outputThroughput: 1232,
  totalTokenThroughput: 11092,
  ttftMeanMs: 1825,
  ttftP99Ms: 5008,
  tpotMeanMs: 24,
  tpotP99Ms: 26,
  itlMeanMs: 24,
  itlP99Ms: 47,
  totalInputTokens: 4_194_304,
  totalOutputTokens: 524_288,
});

/**
 * Measured divided by baseline. Above 1 is better for throughputs and worse for latencies.
 * null where the baseline figure is 0 (no meaningful ratio).
 */
export interface BaselineRatios {
  readonly outputThroughput: number | null;
  readonly totalTokenThroughput: number | null;
  readonly ttftMean: number | null;
  readonly ttftP99: number | null;
  readonly tpotMean: number | null;
  readonly tpotP99: number | null;
  readonly itlMean: number | null;
  readonly itlP99: number | null;
  readonly totalInputTokens: number | null;
  readonly totalOutputTokens: number | null;
}

function ratio(measured: number, reference: number): number | null {
  if (!Number.isFinite(measured) || !Number.isFinite(reference) || reference === 0) return null;
  return measured / reference;
}

export function compareToBaseline(m: BenchmarkMetrics, b: BaselineFigures = SEED_BASELINE): BaselineRatios {
  return {
    outputThroughput: ratio(m.outputThroughput, b.outputThroughput),
    totalTokenThroughput: ratio(m.totalTokenThroughput, b.totalTokenThroughput),
    ttftMean: ratio(m.ttft.mean, b.ttftMeanMs),
    ttftP99: ratio(m.ttft.p99, b.ttftP99Ms),
    tpotMean: ratio(m.tpot.mean, b.tpotMeanMs),
    tpotP99: ratio(m.tpot.p99, b.tpotP99Ms),
    itlMean: ratio(m.itl.mean, b.itlMeanMs),
    itlP99: ratio(m.itl.p99, b.itlP99Ms),
    totalInputTokens: ratio(m.totalInputTokens, b.totalInputTokens),
    totalOutputTokens: ratio(m.totalOutputTokens, b.totalOutputTokens),
  };
}

/** Validates a baseline given in stack config: every figure a finite number >= 0. */
export function validateBaseline(b: BaselineFigures): BaselineFigures {
  for (const [key, value] of Object.entries(b)) {
    if (key === "source") continue;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new Error(`benchmark baseline.${key} must be a finite number >= 0, got ${JSON.stringify(value)}. Fix: give the reference figure (ms or tokens/s) or drop the baseline to use the seed's table.`);
    }
  }
  return b;
}

/** Limits a run must meet; every field optional, absent means "not checked". */
export interface BenchmarkThresholds {
  /** Minimum output tokens per second. */
  readonly minOutputThroughput?: number;
  /** Minimum input + output tokens per second. */
  readonly minTotalTokenThroughput?: number;
  /** Minimum output throughput as a fraction of the baseline's (e.g. 0.9 = at most 10% slower). */
  readonly minOutputThroughputRatio?: number;
  /** Maximum p99 time to first token, ms. */
  readonly maxTtftP99Ms?: number;
  /** Maximum p99 time per output token, ms. */
  readonly maxTpotP99Ms?: number;
  /** Maximum failed requests (0 = every request must succeed). */
  readonly maxFailedRequests?: number;
}

/** Every threshold name, in report order (also the accepted keys of the `benchmarkThresholds` setting). */
export const THRESHOLD_KEYS: readonly (keyof BenchmarkThresholds)[] = [
  "minOutputThroughput",
  "minTotalTokenThroughput",
  "minOutputThroughputRatio",
  "maxTtftP99Ms",
  "maxTpotP99Ms",
  "maxFailedRequests",
];

/** Rejects unknown keys and values that are not finite numbers >= 0, naming the setting. */
export function validateThresholds(t: BenchmarkThresholds | undefined): BenchmarkThresholds {
  if (t === undefined) return {};
  for (const [key, value] of Object.entries(t)) {
    if (!THRESHOLD_KEYS.includes(key as keyof BenchmarkThresholds)) {
      throw new Error(`unknown benchmark threshold "${key}". Fix: use one of ${THRESHOLD_KEYS.join(", ")}.`);
    }
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new Error(`benchmark threshold ${key} must be a finite number >= 0, got ${JSON.stringify(value)}.`);
    }
  }
  if (t.maxFailedRequests !== undefined && !Number.isInteger(t.maxFailedRequests)) {
    throw new Error(`benchmark threshold maxFailedRequests must be a whole number, got ${t.maxFailedRequests}.`);
  }
  return t;
}

function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/**
 * Every threshold the run misses, one line each with the measured value and the limit; empty
 * when the run passes. Throughput limits also fail when the figure is missing or not a number;
 * latency limits fail when no request completed (the figures are then 0 and measure nothing).
 */
export function checkThresholds(m: BenchmarkMetrics, t: BenchmarkThresholds, baseline: BaselineFigures = SEED_BASELINE): string[] {
  const misses: string[] = [];
  const atLeast = (label: string, measured: number, limit: number | undefined, unit: string): void => {
    if (limit === undefined) return;
    if (!(measured >= limit)) misses.push(`${label} ${fmt(measured)} ${unit} is below the minimum ${fmt(limit)} ${unit}`);
  };
  const atMost = (label: string, measured: number, limit: number | undefined, unit: string): void => {
    if (limit === undefined) return;
    if (!(measured <= limit)) misses.push(`${label} ${fmt(measured)} ${unit} is above the maximum ${fmt(limit)} ${unit}`);
  };
  atLeast("output throughput", m.outputThroughput, t.minOutputThroughput, "tok/s");
  atLeast("total token throughput", m.totalTokenThroughput, t.minTotalTokenThroughput, "tok/s");
  if (t.minOutputThroughputRatio !== undefined) {
    const r = baseline.outputThroughput > 0 ? m.outputThroughput / baseline.outputThroughput : NaN;
    if (!(r >= t.minOutputThroughputRatio)) {
      misses.push(
        `output throughput ${fmt(m.outputThroughput)} tok/s is ${fmt(r * 100)}% of the baseline ${fmt(baseline.outputThroughput)} tok/s, below the minimum ${fmt(t.minOutputThroughputRatio * 100)}%`,
      );
    }
  }
  if (m.completed === 0) {
    // With nothing completed the latency figures are 0 by convention: a maximum must not pass on them.
    for (const [label, limit] of [["p99 TTFT", t.maxTtftP99Ms], ["p99 TPOT", t.maxTpotP99Ms]] as const) {
      if (limit !== undefined) misses.push(`${label} was not measured: no request completed (limit ${fmt(limit)} ms)`);
    }
  } else {
    atMost("p99 TTFT", m.ttft.p99, t.maxTtftP99Ms, "ms");
    atMost("p99 TPOT", m.tpot.p99, t.maxTpotP99Ms, "ms");
  }
  if (t.maxFailedRequests !== undefined && !(m.failed <= t.maxFailedRequests)) {
    misses.push(`failed requests ${fmt(m.failed, 0)} of ${fmt(m.completed + m.failed, 0)} is above the maximum ${fmt(t.maxFailedRequests, 0)}`);
  }
  return misses;
}

/** The message a failing gate shows: every miss on its own line. */
export function formatThresholdFailure(misses: readonly string[]): string {
  return `benchmark missed ${misses.length} threshold${misses.length === 1 ? "" : "s"}:\n${misses.map((m) => `  - ${m}`).join("\n")}`;
}
