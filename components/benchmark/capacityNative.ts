/**
 * `measure(level)` for the capacity search, with the native runner: a warm-up run at the level's concurrency
 * (discarded), then the measured run, read back through the same parser as the pinned vllm container's results.
 * Every run draws its prompts from its own seed, so the server's prefix cache never serves a prompt an earlier level
 * or warm-up already sent (vllm's own `--num-warmups` repeats prompt 0, which the cache then answers; this does not).
 */
import type { CapacitySlo, LoadLevel, PointMetrics } from "./capacity";
import { goodputSloFor, pointMetricsFromResult, promptsAtLevel } from "./capacity";
import { parseBenchmarkResult } from "./resultParser";
import type { BenchmarkResult, BenchmarkRunOptions } from "./runner/runner";

export interface NativeMeasureOptions {
  /** The run every level shares (server, workload, tokenizer, timeouts); concurrency, rate, seed and goodput are set per level. */
  readonly run: BenchmarkRunOptions;
  /** SLOs whose per-request form (ttft, tpot, e2el) sets the runner's goodput. @default none */
  readonly slo?: CapacitySlo;
  /** Discarded requests before each measured run; "concurrency" = one full wave at the level. @default "concurrency" */
  readonly warmupRequests?: number | "concurrency";
  /** Prompts per unit of concurrency at a level, capped at the run's numPrompts. @default every level sends numPrompts */
  readonly promptsPerConcurrency?: number;
  /** Progress of each run: which phase, requests done and total. */
  readonly onProgress?: (phase: "warm-up" | "measure", done: number, total: number) => void;
  /** Aborting ends the run in flight (its requests fail) and every later one at once. */
  readonly signal?: AbortSignal;
  /** The runner (injected in tests). @default runBenchmark */
  readonly runBenchmark?: (opts: BenchmarkRunOptions, onProgress?: (done: number, total: number) => void) => Promise<BenchmarkResult>;
}

/** Seeds for the n-th run of a search (0-based): the warm-up and the measured run, distinct from every other run's. */
export function levelSeeds(baseSeed: number, n: number): { warmup: number; measured: number } {
  return { warmup: baseSeed + 2 * n + 1, measured: baseSeed + 2 * n + 2 };
}

/** Warm-up requests for a level. */
export function warmupCount(setting: number | "concurrency" | undefined, level: LoadLevel, numPrompts: number): number {
  if (setting === undefined || setting === "concurrency") return Math.min(level.concurrency, numPrompts);
  if (!Number.isInteger(setting) || setting < 0) {
    throw new Error(`warmupRequests must be a whole number ≥ 0 or "concurrency", got ${JSON.stringify(setting)}. Fix: e.g. --warmup-requests 32.`);
  }
  return setting;
}

/**
 * Prompts a level sends with shared prefixes: rounded down to a multiple of the prefixes, at least one request each
 * (vllm sends prompts ÷ prefixes per prefix and drops the rest; fewer prompts than prefixes is an error there).
 * Unchanged without shared prefixes.
 */
export function sharedPrefixPrompts(prompts: number, numPrefixes: number | undefined): number {
  return numPrefixes === undefined ? prompts : Math.max(numPrefixes, prompts - (prompts % numPrefixes));
}

/**
 * A warm-up's prompts: random ones of the measured prompts' length. A shared-prefix warm-up would need at least one
 * request per prefix, and its contexts (another seed's) would never be the measured run's anyway.
 */
export function warmupDataset(run: Pick<BenchmarkRunOptions, "datasetSpec" | "inputLen">): Pick<BenchmarkRunOptions, "datasetSpec" | "inputLen"> {
  const spec = run.datasetSpec;
  if (spec === undefined || spec.name !== "prefix_repetition") return {};
  return { datasetSpec: { name: "random" }, inputLen: spec.prefixLen + spec.suffixLen };
}

/** A `measure` function for `searchCapacity` that runs the native runner against the server. */
export function nativeMeasure(opts: NativeMeasureOptions): (level: LoadLevel, info: { readonly remainingS: number }) => Promise<PointMetrics> {
  let runs = 0;
  const goodput = opts.slo ? goodputSloFor(opts.slo) : undefined;
  return async (level, info) => {
    const run = opts.runBenchmark ?? (await import("./runner/runner")).runBenchmark;
    const seeds = levelSeeds(opts.run.seed ?? 0, runs);
    runs += 1;
    const numPrompts = opts.run.numPrompts ?? 512;
    const remainingMs = Number.isFinite(info.remainingS) ? Math.max(1000, Math.round(info.remainingS * 1000)) : undefined;
    const totalTimeoutMs = remainingMs === undefined ? opts.run.totalTimeoutMs : Math.min(remainingMs, opts.run.totalTimeoutMs ?? remainingMs);
    const warmups = warmupCount(opts.warmupRequests, level, numPrompts);
    if (warmups > 0) {
      await run(
        { ...opts.run, ...warmupDataset(opts.run), numPrompts: warmups, maxConcurrency: level.concurrency, requestRate: Infinity, seed: seeds.warmup, goodput: undefined, totalTimeoutMs, signal: opts.signal, onDatasetProgress: undefined },
        (done, total) => opts.onProgress?.("warm-up", done, total),
      );
    }
    const result = await run(
      {
        ...opts.run,
        numPrompts: sharedPrefixPrompts(
          promptsAtLevel({ numPrompts, promptsPerConcurrency: opts.promptsPerConcurrency }, level),
          opts.run.datasetSpec?.name === "prefix_repetition" ? opts.run.datasetSpec.numPrefixes : undefined,
        ),
        // The search judges p99 of all four; the runner reports only what is asked for.
        percentileMetrics: ["ttft", "tpot", "itl", "e2el"],
        metricPercentiles: [...new Set([...(opts.run.metricPercentiles ?? []), 50, 90, 99])].sort((a, b) => a - b),
        maxConcurrency: level.concurrency,
        requestRate: level.requestRate,
        burstiness: level.burstiness,
        seed: seeds.measured,
        goodput,
        totalTimeoutMs,
        signal: opts.signal,
        onDatasetProgress: undefined,
      },
      (done, total) => opts.onProgress?.("measure", done, total),
    );
    // Read back as the JSON text the remote runner prints, through the one parser both runners share.
    return pointMetricsFromResult(parseBenchmarkResult(JSON.parse(JSON.stringify(result.json)) as Record<string, unknown>));
  };
}
