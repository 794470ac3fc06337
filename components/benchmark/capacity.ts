/**
 * The capacity answer: "the highest load that still meets p99 TTFT ≤ X and p99 ITL ≤ Y".
 *
 * Pure logic, driven by an injected `measure(level)` (the native runner, the pinned vllm container once per level,
 * or a fake in tests) and an injected clock:
 * - a sweep measures listed levels (concurrency, or Poisson/gamma request rates at a fixed concurrency cap), each
 *   `repeats` times, with the mean and a 95% Student-t confidence interval of every figure;
 * - the SLO search brackets by doubling from the low end of the range until a level misses, then bisects between the
 *   last level that met the SLOs and the first that missed, down to `resolution`; no level is measured twice;
 * - goodput is vllm's: requests meeting every per-request SLO (ttft, tpot, e2el; vllm has no per-request ITL SLO)
 *   per second of the run, measured by the runner from the SLOs `goodputSloFor` derives;
 * - a cap on total time: a level whose estimated duration would overrun the cap is not started, and the answer is
 *   then marked unresolved (a lower bound);
 * - `planCapacitySearch` previews the levels, the worst-case duration and its cost before anything runs.
 */
// The Node.js language host compiles with ts-node, which loads only what is referenced: point at the typings.
/// <reference path="./jstat.d.ts" />
import { jStat } from "jstat";
import type { BaselineFigures } from "./baseline";
import type { CapacityProvenance } from "./provenance";
import type { BenchmarkMetrics } from "./resultParser";

// ---------------------------------------------------------------------------------------------------------------
// SLOs

/** p99 latency limits in milliseconds; absent limits are not checked. */
export interface CapacitySlo {
  readonly ttftP99Ms?: number;
  readonly itlP99Ms?: number;
  readonly tpotP99Ms?: number;
  readonly e2elP99Ms?: number;
}

/** The command-line / config spelling of each SLO (`--slo ttft_p99_ms=3000`). */
export const SLO_NAMES: Readonly<Record<string, keyof CapacitySlo>> = Object.freeze({
  ttft_p99_ms: "ttftP99Ms",
  itl_p99_ms: "itlP99Ms",
  tpot_p99_ms: "tpotP99Ms",
  e2el_p99_ms: "e2elP99Ms",
});

const SLO_LABEL: Record<keyof CapacitySlo, string> = {
  ttftP99Ms: "ttft_p99_ms",
  itlP99Ms: "itl_p99_ms",
  tpotP99Ms: "tpot_p99_ms",
  e2elP99Ms: "e2el_p99_ms",
};

/** Checks every limit is a finite number > 0 and at least one is set; errors name the limit, the value and the fix. */
export function validateSlo(slo: CapacitySlo, where = "slo"): CapacitySlo {
  const keys = Object.keys(SLO_LABEL) as (keyof CapacitySlo)[];
  for (const [key, value] of Object.entries(slo)) {
    if (!keys.includes(key as keyof CapacitySlo)) {
      throw new Error(`${where} has an unknown limit ${JSON.stringify(key)}. Fix: use ${keys.join(", ")}.`);
    }
    if (value !== undefined && (typeof value !== "number" || !Number.isFinite(value) || value <= 0)) {
      throw new Error(`${where}.${key} must be a number of milliseconds > 0, got ${JSON.stringify(value)}. Fix: e.g. ${key}: 3000.`);
    }
  }
  if (keys.every((k) => slo[k] === undefined)) {
    throw new Error(`${where} sets no limit. Fix: give at least one of ${Object.keys(SLO_NAMES).join(", ")} (e.g. ttft_p99_ms=3000 and itl_p99_ms=50).`);
  }
  return { ...slo };
}

/** Parses `name=ms` items (`ttft_p99_ms=3000`) into an SLO; throws naming the bad item and the accepted names. */
export function parseSloItems(items: readonly string[]): CapacitySlo {
  const slo: Record<string, number> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    const name = eq < 0 ? item : item.slice(0, eq).trim();
    const raw = eq < 0 ? "" : item.slice(eq + 1).trim();
    const key = SLO_NAMES[name];
    const value = Number(raw);
    if (!key || raw === "" || !Number.isFinite(value) || value <= 0) {
      throw new Error(`--slo ${JSON.stringify(item)} is not NAME=MS with NAME one of ${Object.keys(SLO_NAMES).join(", ")} and MS > 0. Fix: e.g. --slo ttft_p99_ms=3000 --slo itl_p99_ms=50.`);
    }
    slo[key] = value;
  }
  return validateSlo(slo);
}

/** Per-request goodput SLOs for the runner (vllm `--goodput ttft:… tpot:… e2el:…`); ITL has no per-request form. */
export function goodputSloFor(slo: CapacitySlo): { ttft?: number; tpot?: number; e2el?: number } | undefined {
  const out: { ttft?: number; tpot?: number; e2el?: number } = {};
  if (slo.ttftP99Ms !== undefined) out.ttft = slo.ttftP99Ms;
  if (slo.tpotP99Ms !== undefined) out.tpot = slo.tpotP99Ms;
  if (slo.e2elP99Ms !== undefined) out.e2el = slo.e2elP99Ms;
  return Object.keys(out).length > 0 ? out : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Levels and measurements

/** One load level. */
export interface LoadLevel {
  /** Requests in flight at most (`--max-concurrency`). */
  readonly concurrency: number;
  /** Requests per second (`--request-rate`); Infinity sends all at once (vllm's `inf`). */
  readonly requestRate: number;
  /** Gamma shape of the inter-arrival times (`--burstiness`): 1 = Poisson, < 1 burstier, > 1 more even. */
  readonly burstiness: number;
}

/**
 * What one measurement of a level yields (a subset of the vllm result, in its units): the baseline's
 * throughput and latency figures, plus what a search needs besides.
 */
export interface PointMetrics
  extends Pick<BaselineFigures, "outputThroughput" | "totalTokenThroughput" | "ttftMeanMs" | "ttftP99Ms" | "tpotMeanMs" | "tpotP99Ms" | "itlMeanMs" | "itlP99Ms"> {
  readonly completed: number;
  readonly failed: number;
  readonly durationS: number;
  /** Prompt tokens as the pinned vllm counts them (the prompts' lengths, on the client), and output tokens: equal for both runners given the same prompts. */
  readonly totalInputTokens: number;
  readonly totalOutputTokens: number;
  readonly requestThroughput: number;
  /** Requests meeting every per-request SLO per second; undefined when the run had no goodput SLOs. */
  readonly requestGoodput: number | undefined;
  /** Undefined when the run did not report E2EL. */
  readonly e2elMeanMs: number | undefined;
  readonly e2elP99Ms: number | undefined;
}

/** The figures of a parsed result (either runner) that the search uses. */
export function pointMetricsFromResult(m: BenchmarkMetrics): PointMetrics {
  return {
    completed: m.completed,
    failed: m.failed,
    durationS: m.durationS,
    totalInputTokens: m.totalInputTokens,
    totalOutputTokens: m.totalOutputTokens,
    requestThroughput: m.requestThroughput,
    outputThroughput: m.outputThroughput,
    totalTokenThroughput: m.totalTokenThroughput,
    requestGoodput: m.requestGoodput,
    ttftMeanMs: m.ttft.mean,
    ttftP99Ms: m.ttft.p99,
    tpotMeanMs: m.tpot.mean,
    tpotP99Ms: m.tpot.p99,
    itlMeanMs: m.itl.mean,
    itlP99Ms: m.itl.p99,
    e2elMeanMs: m.e2el?.mean,
    e2elP99Ms: m.e2el?.p99,
  };
}

const POINT_KEYS: readonly (keyof PointMetrics)[] = [
  "completed",
  "failed",
  "durationS",
  "totalInputTokens",
  "totalOutputTokens",
  "requestThroughput",
  "outputThroughput",
  "totalTokenThroughput",
  "requestGoodput",
  "ttftMeanMs",
  "ttftP99Ms",
  "tpotMeanMs",
  "tpotP99Ms",
  "itlMeanMs",
  "itlP99Ms",
  "e2elMeanMs",
  "e2elP99Ms",
];

/** A two-sided 95% interval of a mean. */
export interface Interval {
  readonly low: number;
  readonly high: number;
}

/**
 * Mean ± t(0.975, n − 1) · s / √n (s: sample standard deviation); undefined for fewer than two values, where no
 * interval can be estimated.
 */
export function confidenceInterval95(values: readonly number[]): Interval | undefined {
  const n = values.length;
  if (n < 2) return undefined;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, v) => a + (v - mean) * (v - mean), 0) / (n - 1);
  const half = jStat.studentt.inv(0.975, n - 1) * Math.sqrt(variance / n);
  return { low: mean - half, high: mean + half };
}

/** The mean of each figure over repeats (a figure absent from any repeat stays undefined). */
export function meanMetrics(repeats: readonly PointMetrics[]): PointMetrics {
  if (repeats.length === 0) throw new Error("meanMetrics needs at least one measurement");
  const out: Record<string, number | undefined> = {};
  for (const key of POINT_KEYS) {
    const values = repeats.map((r) => r[key]);
    out[key] = values.every((v): v is number => typeof v === "number") ? values.reduce((a, b) => a + b, 0) / values.length : undefined;
  }
  return out as unknown as PointMetrics;
}

/** 95% intervals of each figure over repeats; empty with fewer than two repeats. */
export function metricIntervals(repeats: readonly PointMetrics[]): Partial<Record<keyof PointMetrics, Interval>> {
  const out: Partial<Record<keyof PointMetrics, Interval>> = {};
  for (const key of POINT_KEYS) {
    const values = repeats.map((r) => r[key]);
    if (!values.every((v): v is number => typeof v === "number")) continue;
    const ci = confidenceInterval95(values);
    if (ci) out[key] = ci;
  }
  return out;
}

/** SLO misses of one (mean) measurement, as readable strings; a failed request is a miss too. */
export function sloMisses(m: PointMetrics, slo: CapacitySlo): string[] {
  const misses: string[] = [];
  const check = (key: keyof CapacitySlo, measured: number | undefined) => {
    const limit = slo[key];
    if (limit === undefined) return;
    if (measured === undefined || !Number.isFinite(measured)) misses.push(`${SLO_LABEL[key]} not measured (limit ${fmt(limit)})`);
    else if (measured > limit) misses.push(`${SLO_LABEL[key]} ${fmt(measured)} > ${fmt(limit)}`);
  };
  check("ttftP99Ms", m.ttftP99Ms);
  check("itlP99Ms", m.itlP99Ms);
  check("tpotP99Ms", m.tpotP99Ms);
  check("e2elP99Ms", m.e2elP99Ms);
  if (m.failed > 0) misses.push(`${fmt(m.failed)} failed request(s)`);
  if (m.completed <= 0) misses.push("no request completed");
  return misses;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** A measured level: every repeat, their mean, intervals, the verdict and per-user / per-GPU throughput. */
export interface CapacityPoint {
  readonly level: LoadLevel;
  /** Position in measurement order (0 = first level measured). */
  readonly order: number;
  readonly repeats: readonly PointMetrics[];
  readonly mean: PointMetrics;
  /** 95% intervals over repeats (empty with one repeat). */
  readonly ci95: Partial<Record<keyof PointMetrics, Interval>>;
  /** The SLO verdict, on the mean of the repeats. */
  readonly meetsSlo: boolean;
  readonly misses: readonly string[];
  /** What one user sees while decoding: 1000 / mean TPOT (tokens/s); 0 when TPOT is unknown. */
  readonly outputTokPerSPerUser: number;
  readonly outputTokPerSPerGpu: number;
  readonly totalTokPerSPerGpu: number;
  /** Wall-clock seconds the level took, warm-up included (by the search's clock). */
  readonly wallS: number;
}

export function capacityPoint(level: LoadLevel, order: number, repeats: readonly PointMetrics[], slo: CapacitySlo | undefined, gpus: number, wallS: number): CapacityPoint {
  const mean = meanMetrics(repeats);
  const misses = slo ? sloMisses(mean, slo) : mean.failed > 0 ? [`${fmt(mean.failed)} failed request(s)`] : [];
  return {
    level,
    order,
    repeats: [...repeats],
    mean,
    ci95: metricIntervals(repeats),
    meetsSlo: misses.length === 0,
    misses,
    outputTokPerSPerUser: mean.tpotMeanMs > 0 ? 1000 / mean.tpotMeanMs : 0,
    outputTokPerSPerGpu: mean.outputThroughput / gpus,
    totalTokPerSPerGpu: mean.totalTokenThroughput / gpus,
    wallS,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Time model: estimated duration of a level, for the plan and the time cap

/**
 * How fast the server is assumed to be before anything is measured: prefill cost per prompt token and a decode step
 * growing with the batch. The default is the seed's 8x B200 run (TTFT 1825 ms at 8192 tokens, TPOT 24 ms at 32).
 */
export interface ServerSpeedEstimate {
  readonly prefillBaseMs: number;
  readonly prefillMsPerToken: number;
  readonly decodeBaseMs: number;
  readonly decodeMsPerRunning: number;
  /** Requests the server runs at once; more wait in its queue. */
  readonly maxRunning: number;
}

export const SEED_SPEED_ESTIMATE: ServerSpeedEstimate = Object.freeze({
  prefillBaseMs: 185,
  prefillMsPerToken: 0.2,
  decodeBaseMs: 20,
  decodeMsPerRunning: 0.125,
  maxRunning: 128,
});

/** The workload at every level; only the load changes. */
export interface LevelWorkload {
  readonly inputLen: number;
  readonly outputLen: number;
  readonly numPrompts: number;
  /** Discarded requests before each level's measured run; "concurrency" = one wave at the level. */
  readonly warmupRequests: number | "concurrency";
  /** When set, a level sends min(numPrompts, this × its concurrency) prompts (low levels end sooner). @default numPrompts at every level */
  readonly promptsPerConcurrency?: number;
}

/** Prompts measured at `level` (see `LevelWorkload.promptsPerConcurrency`). */
export function promptsAtLevel(w: Pick<LevelWorkload, "numPrompts" | "promptsPerConcurrency">, level: LoadLevel): number {
  return w.promptsPerConcurrency === undefined ? w.numPrompts : Math.min(w.numPrompts, w.promptsPerConcurrency * level.concurrency);
}

/**
 * Estimated seconds to measure one level once (warm-up + measured run), closed loop in waves: each wave of
 * min(concurrency, maxRunning) requests takes prefill + (outputLen − 1) decode steps at that batch. A request rate
 * below what the server absorbs stretches the run to numPrompts / rate instead.
 */
export function estimateLevelSeconds(level: LoadLevel, w: LevelWorkload, speed: ServerSpeedEstimate = SEED_SPEED_ESTIMATE): number {
  const run = (requests: number): number => {
    if (requests <= 0) return 0;
    const batch = Math.max(1, Math.min(level.concurrency, speed.maxRunning, requests));
    const waves = Math.ceil(requests / batch);
    const e2elMs = speed.prefillBaseMs + speed.prefillMsPerToken * w.inputLen + Math.max(0, w.outputLen - 1) * (speed.decodeBaseMs + speed.decodeMsPerRunning * batch);
    const closedLoopS = (waves * e2elMs) / 1000;
    const arrivalS = Number.isFinite(level.requestRate) && level.requestRate > 0 ? requests / level.requestRate + e2elMs / 1000 : 0;
    return Math.max(closedLoopS, arrivalS);
  };
  const warmups = w.warmupRequests === "concurrency" ? Math.min(level.concurrency, w.numPrompts) : w.warmupRequests;
  return run(warmups) + run(promptsAtLevel(w, level));
}

// ---------------------------------------------------------------------------------------------------------------
// Search

/** Which knob the search turns. */
export type CapacityAxis = "concurrency" | "requestRate";

export interface CapacitySearchOptions {
  /** The limits a level must meet; without them the search only sweeps the bracket levels. */
  readonly slo?: CapacitySlo;
  /** What varies between levels. @default "concurrency" */
  readonly axis?: CapacityAxis;
  /** The range searched on that axis, inclusive (concurrency: integers ≥ 1; request rate: req/s > 0). */
  readonly range: { readonly low: number; readonly high: number };
  /** Bisection stops when the last passing and first missing levels are this close. @default 1 (concurrency), low/8 (rate) */
  readonly resolution?: number;
  /** The fixed part of every level: concurrency cap for a rate search, request rate and burstiness for a concurrency search. @default inf rate, burstiness 1, concurrency cap = range high */
  readonly fixed?: Partial<LoadLevel>;
  /** Measurements per level (mean and 95% interval across them). @default 1 */
  readonly repeats?: number;
  /** GPUs behind the server, for tokens/s per GPU. @default 8 */
  readonly gpus?: number;
  /** Stop before a level that would not finish within this many seconds of the start. @default no cap */
  readonly maxDurationS?: number;
  /** Estimated seconds to measure a level once (the plan's model); required with `maxDurationS`. */
  readonly estimateLevelS?: (level: LoadLevel) => number;
  /** Without SLOs: the levels to sweep on the axis, in order. @default the bracket levels (low, 2·low, … high) */
  readonly sweep?: readonly number[];
  /** Levels measured before (a previous search): reused (judged against this search's SLOs), never measured again. @default none */
  readonly known?: readonly CapacityPoint[];
  /** Measures one level once. `remainingS` is what is left of the time cap (Infinity without one). */
  readonly measure: (level: LoadLevel, info: { readonly order: number; readonly repeat: number; readonly remainingS: number }) => Promise<PointMetrics>;
  /** Called after each level is measured (progress). */
  readonly onPoint?: (point: CapacityPoint) => void;
  /** Called before each level is measured (progress). */
  readonly onLevelStart?: (level: LoadLevel, order: number) => void;
  /** Aborting stops the search: the level in flight is dropped (its runs were cut short), the rest is reported. */
  readonly signal?: AbortSignal;
  /** Seconds on a monotonic clock. @default performance.now() / 1000 */
  readonly now?: () => number;
}

/** Why the search ended. */
export type CapacityStop =
  /** Bracketed and bisected down to the resolution. */
  | "resolved"
  /** Even the top of the range met the SLOs: the capacity is at least `range.high`. */
  | "range-high-met"
  /** The bottom of the range already missed: the capacity is below `range.low`. */
  | "range-low-missed"
  /** The time cap stopped the search: the answer is a lower bound. */
  | "time-cap"
  /** Aborted (Ctrl-C): the answer is a bound from the levels measured before. */
  | "interrupted"
  /** No SLOs: the bracket levels were swept and nothing was judged. */
  | "sweep-only";

export interface CapacityResult {
  readonly axis: CapacityAxis;
  readonly slo: CapacitySlo | undefined;
  /** Highest level measured that met the SLOs with every measured level below it meeting them too; undefined if none. */
  readonly max: number | undefined;
  /** The lowest measured level that missed, if any. */
  readonly firstMissing: number | undefined;
  /** The point at `max` (throughputs there, goodput, tok/s per user and per GPU). */
  readonly atMax: CapacityPoint | undefined;
  readonly stop: CapacityStop;
  /** True when a level met the SLOs above one that missed (noise or a non-monotone server): `max` stays below the miss. */
  readonly nonMonotone: boolean;
  /** Every measured point, in measurement order (known points first). */
  readonly points: readonly CapacityPoint[];
  /** Seconds from start to end by the search's clock. */
  readonly elapsedS: number;
  /** The bisection's stopping gap on the axis: the answer's own uncertainty (comparisons use it as its noise). */
  readonly resolution: number;
}

function axisValue(level: LoadLevel, axis: CapacityAxis): number {
  return axis === "concurrency" ? level.concurrency : level.requestRate;
}

/** The level at `x` on `axis`, the rest from `fixed`. */
export function levelAt(axis: CapacityAxis, x: number, fixed: Partial<LoadLevel> | undefined, rangeHigh: number): LoadLevel {
  if (axis === "concurrency") {
    return { concurrency: x, requestRate: fixed?.requestRate ?? Infinity, burstiness: fixed?.burstiness ?? 1 };
  }
  return { concurrency: fixed?.concurrency ?? Math.max(1, Math.ceil(rangeHigh)), requestRate: x, burstiness: fixed?.burstiness ?? 1 };
}

/** The bracket levels: low, 2·low, 4·low, … and high itself (the doubling phase's worst case). */
export function bracketLevels(axis: CapacityAxis, low: number, high: number): number[] {
  validateRange(axis, { low, high });
  const out: number[] = [];
  // Doubling a positive number reaches `high` within 64 steps for any range a run could take.
  for (let x = low; out.length < 64; x = Math.min(high, x * 2)) {
    out.push(x);
    if (x >= high) break;
  }
  return out;
}

function midpoint(axis: CapacityAxis, pass: number, miss: number): number {
  return axis === "concurrency" ? Math.floor((pass + miss) / 2) : (pass + miss) / 2;
}

/** Bisection steps needed to narrow a gap to `resolution`. */
export function bisectionSteps(axis: CapacityAxis, gap: number, resolution: number): number {
  let steps = 0;
  let g = gap;
  while (g > resolution && steps < 64) {
    g = axis === "concurrency" ? Math.ceil(g / 2) : g / 2;
    steps += 1;
  }
  return steps;
}

export function validateRange(axis: CapacityAxis, range: { low: number; high: number }): void {
  const { low, high } = range;
  const integral = axis === "concurrency";
  const ok = (v: number) => Number.isFinite(v) && v > 0 && (!integral || Number.isInteger(v));
  if (!ok(low) || !ok(high) || low > high) {
    throw new Error(
      `${axis} range ${low}:${high} is not LOW:HIGH with 0 < LOW ≤ HIGH${integral ? " (whole numbers)" : ""}. Fix: e.g. ${integral ? "--concurrency-range 1:256" : "--request-rate-range 0.5:16"}.`,
    );
  }
}

/** The search's validated settings (defaults applied). */
interface SearchSettings {
  readonly axis: CapacityAxis;
  readonly slo: CapacitySlo | undefined;
  readonly repeats: number;
  readonly gpus: number;
  readonly resolution: number;
  /** The time cap in seconds; undefined for none. */
  readonly cap: number | undefined;
}

/** Applies the search's defaults and refuses settings it cannot honour, naming the setting and a fix. */
export function resolveSearchSettings(opts: CapacitySearchOptions): SearchSettings {
  const axis = opts.axis ?? "concurrency";
  validateRange(axis, opts.range);
  const slo = opts.slo ? validateSlo(opts.slo) : undefined;
  const repeats = opts.repeats ?? 1;
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`repeats must be a whole number ≥ 1, got ${String(repeats)}. Fix: e.g. --repeats 3.`);
  const gpus = opts.gpus ?? 8;
  if (!Number.isInteger(gpus) || gpus < 1) throw new Error(`gpus must be a whole number ≥ 1, got ${String(gpus)}.`);
  const resolution = opts.resolution ?? (axis === "concurrency" ? 1 : opts.range.low / 8);
  if (!(resolution > 0) || !Number.isFinite(resolution)) throw new Error(`resolution must be > 0, got ${String(resolution)}.`);
  const cap = opts.maxDurationS;
  if (cap !== undefined && (!(cap > 0) || !opts.estimateLevelS)) {
    throw new Error(`maxDurationS needs a positive number of seconds and an estimateLevelS function, got ${String(cap)}.`);
  }
  return { axis, slo, repeats, gpus, resolution, cap };
}

/**
 * Whether a level estimated at `estimateS` would end past the time cap. Estimates are scaled by how long the
 * measured levels took against their own estimates (self-calibrating; 1 before any level was measured).
 */
export function wouldPassTimeCap(elapsedS: number, estimateS: number, measuredWallS: number, measuredEstimateS: number, capS: number): boolean {
  const factor = measuredEstimateS > 0 ? measuredWallS / measuredEstimateS : 1;
  return elapsedS + estimateS * factor > capS;
}

/** Why a search ended, from what stopped it and the last passing / first missing levels (SLO search only). */
export function sloSearchStop(interrupted: boolean, cappedBy: boolean, pass: number | undefined, miss: number | undefined): CapacityStop {
  if (interrupted) return "interrupted";
  if (cappedBy) return "time-cap";
  if (pass === undefined) return "range-low-missed";
  if (miss === undefined) return "range-high-met";
  return "resolved";
}

/**
 * Measures levels on demand, each at most once (known points answer without measuring), and remembers why it
 * refused one: the time cap or an abort. Every measured point is kept in measurement order.
 */
class LevelMeasurements {
  readonly points: CapacityPoint[];
  private readonly byX = new Map<number, CapacityPoint>();
  cappedBy = false;
  interrupted = false;
  private measuredWall = 0;
  private measuredEstimate = 0;

  constructor(
    private readonly opts: CapacitySearchOptions,
    private readonly s: SearchSettings,
    private readonly now: () => number,
    private readonly start: number,
  ) {
    this.points = (opts.known ?? []).map((p, i) => capacityPoint(p.level, i, p.repeats, s.slo, s.gpus, p.wallS));
    for (const p of this.points) this.byX.set(axisValue(p.level, s.axis), p);
  }

  at(x: number): CapacityPoint | undefined {
    return this.byX.get(x);
  }

  /** The point at `x`, measured now if needed; undefined once the search must stop (abort, time cap). */
  async get(x: number): Promise<CapacityPoint | undefined> {
    const known = this.byX.get(x);
    if (known) return known;
    const { opts, s } = this;
    if (opts.signal?.aborted) {
      this.interrupted = true;
      return undefined;
    }
    const level = levelAt(s.axis, x, opts.fixed, opts.range.high);
    // Read on every level, capped or not: an injected clock sees the same sequence of reads.
    const elapsed = this.now() - this.start;
    if (s.cap !== undefined && opts.estimateLevelS) {
      if (wouldPassTimeCap(elapsed, opts.estimateLevelS(level) * s.repeats, this.measuredWall, this.measuredEstimate, s.cap)) {
        this.cappedBy = true;
        return undefined;
      }
    }
    const order = this.points.length;
    opts.onLevelStart?.(level, order);
    const t0 = this.now();
    const runs = await this.measureRepeats(level, order);
    if (opts.signal?.aborted) {
      this.interrupted = true;
      return undefined;
    }
    const wallS = this.now() - t0;
    if (opts.estimateLevelS) {
      this.measuredWall += wallS;
      this.measuredEstimate += opts.estimateLevelS(level) * s.repeats;
    }
    const point = capacityPoint(level, order, runs, s.slo, s.gpus, wallS);
    this.points.push(point);
    this.byX.set(x, point);
    opts.onPoint?.(point);
    return point;
  }

  private async measureRepeats(level: LoadLevel, order: number): Promise<PointMetrics[]> {
    const runs: PointMetrics[] = [];
    const { cap } = this.s;
    for (let repeat = 0; repeat < this.s.repeats; repeat += 1) {
      runs.push(await this.opts.measure(level, { order, repeat, remainingS: cap === undefined ? Infinity : cap - (this.now() - this.start) }));
    }
    return runs;
  }
}

/** Brackets the SLO edge by doubling from `low`, then bisects between the last pass and the first miss down to the resolution. */
async function bracketAndBisect(m: LevelMeasurements, s: SearchSettings, low: number, high: number): Promise<CapacityStop> {
  let pass: number | undefined;
  let miss: number | undefined;
  for (const x of bracketLevels(s.axis, low, high)) {
    const p = await m.get(x);
    if (!p) break;
    if (p.meetsSlo) pass = x;
    else {
      miss = x;
      break;
    }
  }
  if (!m.cappedBy && !m.interrupted && pass !== undefined && miss !== undefined) {
    // Bounded: each step halves the gap (and stops when the midpoint cannot move).
    while (miss - pass > s.resolution) {
      const mid = midpoint(s.axis, pass, miss);
      if (mid <= pass || mid >= miss) break;
      const p = await m.get(mid);
      if (!p) break;
      if (p.meetsSlo) pass = mid;
      else miss = mid;
    }
  }
  return sloSearchStop(m.interrupted, m.cappedBy, pass, miss);
}

/**
 * The SLO search (or, without SLOs, a sweep of the bracket levels). Never measures a level twice; every measured
 * point is in the result. Measurement errors propagate (a runner that cannot start is not a level that missed).
 */
export async function searchCapacity(opts: CapacitySearchOptions): Promise<CapacityResult> {
  const s = resolveSearchSettings(opts);
  const now = opts.now ?? (() => performance.now() / 1000);
  const start = now();
  const { low, high } = opts.range;
  const m = new LevelMeasurements(opts, s, now, start);

  let stop: CapacityStop;
  if (!s.slo) {
    for (const x of opts.sweep ?? bracketLevels(s.axis, low, high)) {
      if (!(await m.get(x))) break;
    }
    stop = m.interrupted ? "interrupted" : m.cappedBy ? "time-cap" : "sweep-only";
  } else {
    stop = await bracketAndBisect(m, s, low, high);
  }

  const answer = judge(m.points, s.axis);
  return {
    axis: s.axis,
    slo: s.slo,
    max: s.slo ? answer.max : undefined,
    firstMissing: s.slo ? answer.firstMissing : undefined,
    atMax: s.slo && answer.max !== undefined ? m.at(answer.max) : undefined,
    stop,
    nonMonotone: s.slo ? answer.nonMonotone : false,
    points: m.points,
    elapsedS: now() - start,
    resolution: s.resolution,
  };
}

/** The conservative answer from any set of points: the highest passing level below the lowest miss. */
export function judge(points: readonly CapacityPoint[], axis: CapacityAxis): { max: number | undefined; firstMissing: number | undefined; nonMonotone: boolean } {
  const sorted = [...points].sort((a, b) => axisValue(a.level, axis) - axisValue(b.level, axis));
  const firstMiss = sorted.find((p) => !p.meetsSlo);
  const firstMissing = firstMiss ? axisValue(firstMiss.level, axis) : undefined;
  let max: number | undefined;
  for (const p of sorted) {
    const x = axisValue(p.level, axis);
    if (firstMissing !== undefined && x >= firstMissing) break;
    if (p.meetsSlo) max = x;
  }
  const nonMonotone = firstMissing !== undefined && sorted.some((p) => p.meetsSlo && axisValue(p.level, axis) > firstMissing);
  return { max, firstMissing, nonMonotone };
}

// ---------------------------------------------------------------------------------------------------------------
// Plan (preview)

export interface CapacityPlanInput {
  readonly axis?: CapacityAxis;
  readonly range: { readonly low: number; readonly high: number };
  readonly resolution?: number;
  readonly fixed?: Partial<LoadLevel>;
  readonly repeats?: number;
  readonly workload: LevelWorkload;
  readonly speed?: ServerSpeedEstimate;
  /** Instance price for the cost line. @default 0 */
  readonly hourlyPriceUsd?: number;
  readonly maxDurationS?: number;
  /** Whether SLOs are set (then bisection levels are planned too). @default true */
  readonly withSlo?: boolean;
}

export interface CapacityPlan {
  readonly axis: CapacityAxis;
  /** The doubling levels, measured in this order until one misses. */
  readonly bracketLevels: readonly { readonly x: number; readonly estimatedS: number }[];
  /** Most bisection levels after the bracket (the widest bracket gap). */
  readonly maxBisectionLevels: number;
  /** Most levels measured in all. */
  readonly maxLevels: number;
  /** Worst case: every bracket level, then the bisection in the top gap (each level estimated at the gap's top). */
  readonly worstCaseS: number;
  readonly worstCaseCostUsd: number;
  readonly maxDurationS: number | undefined;
  /** False when the worst case exceeds the cap (the search then stops early with a lower bound). */
  readonly fitsCap: boolean;
}

/** What the search will do at most, and what that costs, before it runs. */
export function planCapacitySearch(p: CapacityPlanInput): CapacityPlan {
  const axis = p.axis ?? "concurrency";
  validateRange(axis, p.range);
  const repeats = p.repeats ?? 1;
  const resolution = p.resolution ?? (axis === "concurrency" ? 1 : p.range.low / 8);
  const estimate = (x: number) => estimateLevelSeconds(levelAt(axis, x, p.fixed, p.range.high), p.workload, p.speed) * repeats;
  const xs = bracketLevels(axis, p.range.low, p.range.high);
  const bracket = xs.map((x) => ({ x, estimatedS: estimate(x) }));
  let maxBisection = 0;
  let bisectionS = 0;
  if (p.withSlo !== false) {
    for (let i = 1; i < xs.length; i += 1) {
      const steps = bisectionSteps(axis, xs[i] - xs[i - 1], resolution);
      const seconds = steps * estimate(xs[i]);
      if (steps > maxBisection || (steps === maxBisection && seconds > bisectionS)) {
        maxBisection = steps;
        bisectionS = seconds;
      }
    }
  }
  const worstCaseS = bracket.reduce((a, b) => a + b.estimatedS, 0) + bisectionS;
  const price = p.hourlyPriceUsd ?? 0;
  return {
    axis,
    bracketLevels: bracket,
    maxBisectionLevels: maxBisection,
    maxLevels: bracket.length + maxBisection,
    worstCaseS,
    worstCaseCostUsd: (worstCaseS / 3600) * price,
    maxDurationS: p.maxDurationS,
    fitsCap: p.maxDurationS === undefined || worstCaseS <= p.maxDurationS,
  };
}

/** One readable paragraph of the plan. */
export function formatPlan(plan: CapacityPlan, price: number): string {
  const mins = (s: number) => `${(s / 60).toFixed(1)} min`;
  const levels = plan.bracketLevels.map((l) => `${l.x} (~${mins(l.estimatedS)})`).join(", ");
  return [
    `plan: ${plan.axis} levels ${levels}, then up to ${plan.maxBisectionLevels} bisection level(s): at most ${plan.maxLevels} levels`,
    `plan: worst case ${mins(plan.worstCaseS)}${price > 0 ? `, $${plan.worstCaseCostUsd.toFixed(2)} at $${price}/h` : ""} (estimated at the seed's 8x B200 speed)` +
      (plan.maxDurationS !== undefined ? `; cap ${mins(plan.maxDurationS)}${plan.fitsCap ? "" : " (may stop early: the answer is then a lower bound)"}` : ""),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------------------------
// JSON-safe summary (the CLI's --json and the `benchmark.capacity` output)

/** A measured point in plain JSON (rates as "inf" or numbers, absent figures as null). */
export interface CapacitySummaryPoint {
  readonly order: number;
  readonly concurrency: number;
  readonly requestRate: number | "inf";
  readonly burstiness: number;
  readonly meetsSlo: boolean;
  readonly misses: readonly string[];
  readonly repeats: number;
  readonly completed: number;
  readonly failed: number;
  readonly durationS: number;
  /** Token totals of the measured run (the mean over repeats). */
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly requestsPerS: number;
  readonly outputTokPerS: number;
  readonly totalTokPerS: number;
  readonly goodput: number | null;
  readonly ttftMeanMs: number;
  readonly ttftP99Ms: number;
  readonly itlMeanMs: number;
  readonly itlP99Ms: number;
  readonly tpotMeanMs: number;
  readonly tpotP99Ms: number;
  readonly e2elMeanMs: number | null;
  readonly e2elP99Ms: number | null;
  readonly outputTokPerSPerUser: number;
  readonly outputTokPerSPerGpu: number;
  readonly totalTokPerSPerGpu: number;
  /** 95% intervals over repeats, `[low, high]` per figure (empty with one repeat). */
  readonly ci95: Readonly<Record<string, readonly [number, number]>>;
  readonly wallS: number;
}

export interface CapacitySummary {
  readonly axis: CapacityAxis;
  /** The SLOs in their command-line names (`ttft_p99_ms`, …); null for a plain sweep. */
  readonly slo: Readonly<Record<string, number>> | null;
  /** The answer on the concurrency axis; null when nothing met the SLOs, or on the rate axis. */
  readonly maxConcurrency: number | null;
  /** The answer on the request-rate axis (req/s); null otherwise. */
  readonly maxRequestRate: number | null;
  /** True when the search bracketed and bisected to its resolution (false: a bound, see `stop`). */
  readonly resolved: boolean;
  readonly stop: CapacityStop;
  readonly firstMissing: number | null;
  readonly nonMonotone: boolean;
  /** Figures at the answer. */
  readonly atMax: {
    readonly outputTokPerS: number;
    readonly totalTokPerS: number;
    readonly outputTokPerSPerUser: number;
    readonly outputTokPerSPerGpu: number;
    readonly totalTokPerSPerGpu: number;
    /** Requests meeting every per-request SLO per second (vllm goodput); null without a ttft/tpot/e2el SLO. */
    readonly goodput: number | null;
  } | null;
  /** Every measured point, in measurement order. */
  readonly points: readonly CapacitySummaryPoint[];
  readonly elapsedS: number;
  /**
   * The search's resolution on its axis: the answer is the last level met with a miss at most this far above it, so
   * answers this far apart or more differ. Null in files written before it was recorded (unknown).
   */
  readonly resolution: number | null;
  /** Workload, model, tokenizer, server, runner and date; null in files written before it was recorded (unknown). */
  readonly provenance: CapacityProvenance | null;
}

const finiteOrNull = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);

export function summarizePoint(p: CapacityPoint): CapacitySummaryPoint {
  const m = p.mean;
  const ci95: Record<string, readonly [number, number]> = {};
  for (const [k, v] of Object.entries(p.ci95)) if (v) ci95[k] = [v.low, v.high];
  return {
    order: p.order,
    concurrency: p.level.concurrency,
    requestRate: Number.isFinite(p.level.requestRate) ? p.level.requestRate : "inf",
    burstiness: p.level.burstiness,
    meetsSlo: p.meetsSlo,
    misses: [...p.misses],
    repeats: p.repeats.length,
    completed: m.completed,
    failed: m.failed,
    durationS: m.durationS,
    inputTokens: m.totalInputTokens,
    outputTokens: m.totalOutputTokens,
    requestsPerS: m.requestThroughput,
    outputTokPerS: m.outputThroughput,
    totalTokPerS: m.totalTokenThroughput,
    goodput: finiteOrNull(m.requestGoodput),
    ttftMeanMs: m.ttftMeanMs,
    ttftP99Ms: m.ttftP99Ms,
    itlMeanMs: m.itlMeanMs,
    itlP99Ms: m.itlP99Ms,
    tpotMeanMs: m.tpotMeanMs,
    tpotP99Ms: m.tpotP99Ms,
    e2elMeanMs: finiteOrNull(m.e2elMeanMs),
    e2elP99Ms: finiteOrNull(m.e2elP99Ms),
    outputTokPerSPerUser: p.outputTokPerSPerUser,
    outputTokPerSPerGpu: p.outputTokPerSPerGpu,
    totalTokPerSPerGpu: p.totalTokPerSPerGpu,
    ci95,
    wallS: p.wallS,
  };
}

export function summarizeCapacity(r: CapacityResult, provenance: CapacityProvenance | null = null): CapacitySummary {
  const slo = r.slo
    ? Object.fromEntries((Object.keys(SLO_LABEL) as (keyof CapacitySlo)[]).filter((k) => r.slo?.[k] !== undefined).map((k) => [SLO_LABEL[k], r.slo?.[k] as number]))
    : null;
  const at = r.atMax;
  return {
    axis: r.axis,
    slo,
    maxConcurrency: r.axis === "concurrency" ? (r.max ?? null) : null,
    maxRequestRate: r.axis === "requestRate" ? (r.max ?? null) : null,
    resolved: r.stop === "resolved",
    stop: r.stop,
    firstMissing: r.firstMissing ?? null,
    nonMonotone: r.nonMonotone,
    atMax: at
      ? {
          outputTokPerS: at.mean.outputThroughput,
          totalTokPerS: at.mean.totalTokenThroughput,
          outputTokPerSPerUser: at.outputTokPerSPerUser,
          outputTokPerSPerGpu: at.outputTokPerSPerGpu,
          totalTokPerSPerGpu: at.totalTokPerSPerGpu,
          goodput: finiteOrNull(at.mean.requestGoodput),
        }
      : null,
    points: r.points.map(summarizePoint),
    elapsedS: r.elapsedS,
    resolution: r.resolution,
    provenance,
  };
}

/** The points as a fixed-width text table (one line per level, measurement order), then the answer line. */
export function formatCapacityTable(s: CapacitySummary): string {
  const f = (v: number | null, d = 1) => (v === null ? "n/a" : v.toFixed(d));
  const head = ["#", "conc", "rate", "done", "fail", "p99 TTFT", "p99 ITL", "p99 TPOT", "p99 E2EL", "out tok/s", "tot tok/s", "tok/s/user", "goodput", "SLO"];
  const rows = s.points.map((p) => [
    String(p.order),
    String(p.concurrency),
    String(p.requestRate),
    String(p.completed),
    String(p.failed),
    f(p.ttftP99Ms),
    f(p.itlP99Ms),
    f(p.tpotP99Ms),
    f(p.e2elP99Ms),
    f(p.outputTokPerS),
    f(p.totalTokPerS),
    f(p.outputTokPerSPerUser),
    f(p.goodput, 2),
    s.slo === null ? "-" : p.meetsSlo ? "met" : `MISSED: ${p.misses.join("; ")}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (i === head.length - 1 ? 0 : r[i].length))));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padStart(widths[i]))).join("  ");
  const answer =
    s.axis === "concurrency"
      ? `capacity.maxConcurrency: ${s.maxConcurrency ?? "none"}`
      : `capacity.maxRequestRate: ${s.maxRequestRate ?? "none"} req/s${s.resolution === null ? "" : ` (resolution ${Number(s.resolution.toFixed(3))} req/s)`}`;
  const why: Record<CapacityStop, string> = {
    resolved: "",
    "sweep-only": "",
    "range-high-met": "at least this: the top of the range met the SLOs",
    "range-low-missed": "below the range: its bottom already missed",
    "time-cap": "a lower bound: the time cap stopped the search",
    interrupted: "a bound from the levels measured before the interruption",
  };
  const note = s.slo === null ? " (sweep only, no SLOs)" : s.resolved ? "" : ` (${s.stop}: ${why[s.stop]})`;
  return [line(head), ...rows.map(line), `${answer}${note}`].join("\n");
}
