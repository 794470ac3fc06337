/**
 * The capacity search as the stack runs it: settings (from `benchmarkCapacity` / `benchmarkSlo`), the command line
 * of `scripts/bench-capacity.ts` for the native runner, its re-run key, and the reader of its `--json` output.
 * Pure, so the exact text the `local.Command` stores can be asserted in a test.
 */
import type { BenchmarkWorkload } from "./workload";
import { planCapacitySearch, validateRange, validateSlo, type CapacityAxis, type CapacityPlan, type CapacitySlo, type CapacitySummary } from "./capacity";
import { nativeBenchArgs } from "./nativeCommand";
import { extractResultObject } from "./resultParser";
import { validateCapacityOutput } from "./capacitySchema";
import { shellQuote } from "./remoteRunner";

/** The CLI, relative to the repository root. */
export const NATIVE_CAPACITY_SCRIPT = "scripts/bench-capacity.ts";

/** What a capacity search turns: requests in flight (closed loop), or the arrival rate (open loop, gamma arrivals). */
export const CAPACITY_DIMENSIONS = ["concurrency", "rate"] as const;
export type CapacityDimension = (typeof CAPACITY_DIMENSIONS)[number];

export interface CapacitySettings {
  /** What the search turns. @default "concurrency" */
  readonly dimension?: CapacityDimension;
  /** Concurrency searched, inclusive: bracketing doubles from `low`. Required with dimension "concurrency". */
  readonly concurrencyRange?: { readonly low: number; readonly high: number };
  /** Request rates searched (req/s), inclusive: bracketing doubles from `low`. Required with dimension "rate". */
  readonly rateRange?: { readonly low: number; readonly high: number };
  /** Gamma shape of the arrival gaps of a rate search: 1 = Poisson, < 1 burstier, > 1 more even. @default 1 */
  readonly burstiness?: number;
  /** Client slots at every rate level (`--max-concurrency`). @default the prompts of the level (no client cap, vllm's default) */
  readonly maxConcurrency?: number;
  /** p99 limits; undefined sweeps the bracket levels without judging them. */
  readonly slo: CapacitySlo | undefined;
  /** A level sends min(numPrompts, this × its concurrency) prompts. @default numPrompts at every level */
  readonly promptsPerConcurrency?: number;
  /** Measurements per level. @default 1 */
  readonly repeats?: number;
  /** Bisection stops at this gap (concurrency: whole number; rate: req/s). @default 1 (concurrency), rateRange.low / 8 (rate) */
  readonly resolution?: number;
  /** Discarded requests before each level. @default one wave at the level */
  readonly warmupRequests?: number;
  /** Stop before a level that would end later than this after the start, seconds. @default the benchmark timeout */
  readonly maxDurationS?: number;
  /** GPUs behind the server (tokens/s per GPU). @default 8 */
  readonly gpus?: number;
}

/** Validates settings; errors name the field, the value and the fix. */
export function validateCapacitySettings(s: CapacitySettings): CapacitySettings {
  const dimension = s.dimension ?? "concurrency";
  if (!CAPACITY_DIMENSIONS.includes(dimension)) {
    throw new Error(`benchmarkCapacity.dimension must be ${CAPACITY_DIMENSIONS.join(" or ")}, got ${JSON.stringify(dimension)}. Fix: e.g. dimension: rate (with rateRange: "0.5:16").`);
  }
  const range = dimension === "concurrency" ? s.concurrencyRange : s.rateRange;
  const rangeKey = dimension === "concurrency" ? "concurrencyRange" : "rateRange";
  if (range === undefined) throw new Error(`benchmarkCapacity.${rangeKey} is not set, but the search turns the ${dimension}. Fix: e.g. ${rangeKey}: ${dimension === "concurrency" ? '"8:256"' : '"0.5:16"'}.`);
  try {
    validateRange(capacityAxisOf(dimension), range);
  } catch (e) {
    throw new Error(`benchmarkCapacity.${rangeKey}: ${(e as Error).message}`);
  }
  if (s.slo !== undefined) validateSlo(s.slo, "benchmarkSlo");
  const whole = (name: string, v: number | undefined, min: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min)) {
      throw new Error(`benchmarkCapacity.${name} must be a whole number ≥ ${min}, got ${JSON.stringify(v)}. Fix: e.g. ${name}: ${Math.max(min, 1)}.`);
    }
  };
  const positive = (name: string, v: number | undefined, example: string) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new Error(`benchmarkCapacity.${name} must be a number > 0, got ${JSON.stringify(v)}. Fix: e.g. ${name}: ${example}.`);
  };
  if (dimension === "concurrency") {
    for (const [name, v] of [["burstiness", s.burstiness], ["maxConcurrency", s.maxConcurrency]] as const) {
      if (v !== undefined) throw new Error(`benchmarkCapacity.${name} (${JSON.stringify(v)}) applies to a rate search only. Fix: drop it, or set dimension: rate with a rateRange.`);
    }
    whole("resolution", s.resolution, 1);
  } else {
    positive("resolution", s.resolution, String(range.low / 8));
    positive("burstiness", s.burstiness, "1 (Poisson)");
    whole("maxConcurrency", s.maxConcurrency, 1);
  }
  whole("promptsPerConcurrency", s.promptsPerConcurrency, 1);
  whole("repeats", s.repeats, 1);
  whole("warmupRequests", s.warmupRequests, 0);
  whole("gpus", s.gpus, 1);
  if (s.maxDurationS !== undefined && !(s.maxDurationS > 0 && Number.isFinite(s.maxDurationS))) {
    throw new Error(`benchmarkCapacity.maxDuration must be a positive duration, got ${JSON.stringify(s.maxDurationS)} s. Fix: e.g. maxDuration: "2h".`);
  }
  return s;
}

/** The search's axis for a configured dimension. */
export function capacityAxisOf(dimension: CapacityDimension | undefined): CapacityAxis {
  return dimension === "rate" ? "requestRate" : "concurrency";
}

/** The range the search turns, on its axis (validated settings: the dimension's range is set). */
export function capacityRangeOf(s: CapacitySettings): { readonly low: number; readonly high: number } {
  const range = s.dimension === "rate" ? s.rateRange : s.concurrencyRange;
  if (range === undefined) throw new Error(`benchmarkCapacity.${s.dimension === "rate" ? "rateRange" : "concurrencyRange"} is not set. Fix: set the range the search turns.`);
  return range;
}

/**
 * A stable text of the settings (fixed key order): the search re-runs exactly when it changes. A concurrency search's
 * text is the one stacks recorded before rate searches existed (no new key), so they do not re-run for it.
 */
export function capacityKey(s: CapacitySettings): string {
  const rate =
    s.dimension === "rate"
      ? { dimension: "rate", rateRange: `${s.rateRange?.low}:${s.rateRange?.high}`, burstiness: s.burstiness ?? 1, maxConcurrency: s.maxConcurrency ?? null }
      : {};
  return JSON.stringify({
    concurrencyRange: s.concurrencyRange === undefined ? null : `${s.concurrencyRange.low}:${s.concurrencyRange.high}`,
    slo: s.slo ? { ttft: s.slo.ttftP99Ms, itl: s.slo.itlP99Ms, tpot: s.slo.tpotP99Ms, e2el: s.slo.e2elP99Ms } : null,
    promptsPerConcurrency: s.promptsPerConcurrency ?? null,
    repeats: s.repeats ?? 1,
    resolution: s.resolution ?? 1,
    warmupRequests: s.warmupRequests ?? null,
    maxDurationS: s.maxDurationS ?? null,
    gpus: s.gpus ?? 8,
    ...rate,
  });
}

const SLO_FLAG: Record<keyof CapacitySlo, string> = { ttftP99Ms: "ttft_p99_ms", itlP99Ms: "itl_p99_ms", tpotP99Ms: "tpot_p99_ms", e2elP99Ms: "e2el_p99_ms" };

export interface NativeCapacityCommandOptions {
  readonly baseUrl: string;
  readonly servedModelName: string;
  /** The model id (recorded in the results). */
  readonly model: string;
  /** Tokenizer the random prompts are built with: the stack's choice, else the model's own. @default model */
  readonly tokenizer?: string;
  readonly workload: BenchmarkWorkload;
  readonly capacity: CapacitySettings;
  /** Limit on one level's run, seconds (`--total-timeout`). */
  readonly levelTimeoutSeconds: number;
  /**
   * Run the pinned vllm container once per level on the server's host instead of the native runner (`--runner
   * remote`); `baseUrl` is then the server as the host sees it (`http://127.0.0.1:<port>`). @default native
   */
  readonly remote?: RemoteCapacityRunner;
}

/** Where and with what the per-level vllm runs happen. */
export interface RemoteCapacityRunner {
  /** The host over ssh (its key reaches the CLI as HGX_SSH_PRIVATE_KEY); undefined runs on this machine's Docker. */
  readonly ssh?: { readonly user: string; readonly host: string; readonly port: number };
  readonly vllmImage: string;
  readonly docker: string;
  readonly hfCacheDir: string;
  readonly resultDir: string;
}

/** `user@host:port` for `--ssh` (an IPv6 address in brackets). */
export function sshDestination(t: { readonly user: string; readonly host: string; readonly port: number }): string {
  return `${t.user}@${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`;
}

function remoteRunnerArgs(r: RemoteCapacityRunner | undefined): string[] {
  if (r === undefined) return [];
  return [
    "--runner", "remote",
    ...(r.ssh ? ["--ssh", sshDestination(r.ssh)] : []),
    "--vllm-image", r.vllmImage,
    "--docker", r.docker,
    "--hf-cache-dir", r.hfCacheDir,
    "--remote-result-dir", r.resultDir,
  ];
}

/**
 * Warm-up requests before each level as the stack asks for them: as set; else for a concurrency search one wave at
 * the level (the CLI's default, left to it), and for a rate search the fixed run's concurrency (a wave at the level
 * would be every prompt at once there: no client cap, so the CLI's default wave is the whole run).
 */
export function stackWarmupRequests(c: CapacitySettings, w: Pick<BenchmarkWorkload, "maxConcurrency">): number | undefined {
  return c.warmupRequests ?? (c.dimension === "rate" ? w.maxConcurrency : undefined);
}

/** Flags: the native bench CLI's (the remote runner's prompts, seeds and goodput follow from the same flags) (without --max-concurrency, which the search sets) plus the search's. */
export function nativeCapacityArgs(o: NativeCapacityCommandOptions): string[] {
  const c = validateCapacitySettings(o.capacity);
  const bench = nativeBenchArgs({ baseUrl: o.baseUrl, servedModelName: o.servedModelName, model: o.model, tokenizer: o.tokenizer ?? o.model, workload: o.workload, timeoutSeconds: o.levelTimeoutSeconds });
  const i = bench.indexOf("--max-concurrency");
  if (i >= 0) bench.splice(i, 2);
  const jsonAt = bench.indexOf("--json");
  if (jsonAt >= 0) bench.splice(jsonAt, 1);
  const range = capacityRangeOf(c);
  return [
    ...bench,
    ...(c.dimension === "rate"
      ? [
          "--request-rate-range", `${range.low}:${range.high}`,
          "--burstiness", String(c.burstiness ?? 1),
          ...(c.maxConcurrency === undefined ? [] : ["--max-concurrency", String(c.maxConcurrency)]),
        ]
      : ["--concurrency-range", `${range.low}:${range.high}`]),
    ...(c.slo ? (Object.keys(SLO_FLAG) as (keyof CapacitySlo)[]).filter((k) => c.slo?.[k] !== undefined).flatMap((k) => ["--slo", `${SLO_FLAG[k]}=${c.slo?.[k]}`]) : []),
    ...(c.promptsPerConcurrency === undefined ? [] : ["--prompts-per-concurrency", String(c.promptsPerConcurrency)]),
    ...(c.repeats === undefined ? [] : ["--repeats", String(c.repeats)]),
    ...(c.resolution === undefined ? [] : ["--resolution", String(c.resolution)]),
    ...(stackWarmupRequests(c, o.workload) === undefined ? [] : ["--warmup-requests", String(stackWarmupRequests(c, o.workload))]),
    ...(c.maxDurationS === undefined ? [] : ["--max-duration", String(Math.round(c.maxDurationS))]),
    "--gpus", String(c.gpus ?? 8),
    ...remoteRunnerArgs(o.remote),
    "--no-progress",
    "--json",
  ];
}

/**
 * `npx tsx scripts/bench-capacity.ts … --json`, under `timeout` (the cap plus one level's timeout and 2 minutes)
 * when the machine has it. The API key is NOT here: the command gets it as `OPENAI_API_KEY` in its environment.
 */
export function renderNativeCapacityCommand(o: NativeCapacityCommandOptions): string {
  const cli = ["npx", "tsx", NATIVE_CAPACITY_SCRIPT, ...nativeCapacityArgs(o)].map(shellQuote).join(" ");
  const cap = Math.round((o.capacity.maxDurationS ?? o.levelTimeoutSeconds * 16) + o.levelTimeoutSeconds + 120);
  return [
    "if command -v timeout >/dev/null 2>&1; then",
    `  exec timeout --kill-after=30 ${cap} ${cli}`,
    "fi",
    `exec ${cli}`,
  ].join("\n") + "\n";
}

/** The plan the stack previews: levels, worst-case duration and cost at the live price. */
export function capacityPlanForStack(c: CapacitySettings, w: BenchmarkWorkload, hourlyPriceUsd: number): CapacityPlan {
  return planCapacitySearch({
    axis: capacityAxisOf(c.dimension),
    range: capacityRangeOf(c),
    ...(c.dimension === "rate" ? { fixed: { concurrency: c.maxConcurrency ?? w.numPrompts, burstiness: c.burstiness ?? 1 } } : {}),
    resolution: c.resolution,
    repeats: c.repeats,
    workload: { inputLen: w.inputLen, outputLen: w.outputLen, numPrompts: w.numPrompts, warmupRequests: stackWarmupRequests(c, w) ?? "concurrency", promptsPerConcurrency: c.promptsPerConcurrency },
    hourlyPriceUsd,
    maxDurationS: c.maxDurationS,
    withSlo: c.slo !== undefined,
  });
}

/**
 * Reads the CLI's `--json` output (`{plan, capacity}`) as strictly as a single run's result: every field typed, a
 * wrong or missing one refused by name (`capacitySchema.ts`). Files from before `resolution` and `provenance` were
 * recorded parse with them null (unknown).
 */
export function parseCapacityOutput(stdout: string, source = "capacity result"): { plan: CapacityPlan; capacity: CapacitySummary } {
  return validateCapacityOutput(extractResultObject(stdout), source);
}
