/**
 * The benchmark workload: what both runners (the pinned `vllm bench serve` container and the
 * native TypeScript runner) are asked to send. One definition so both command lines, the
 * re-run trigger and the report all describe the same thing.
 */

/** Latency metrics `vllm bench serve` can report percentiles for. */
export type PercentileMetric = "ttft" | "tpot" | "itl" | "e2el";
/** Every percentile metric, in vllm's order. */
export const PERCENTILE_METRICS: readonly PercentileMetric[] = ["ttft", "tpot", "itl", "e2el"];

/** Who runs the benchmark: `vllm bench serve` in a pinned container on the host, or the native TypeScript runner here. */
export const BENCHMARK_RUNNERS = ["remote", "native"] as const;
export type BenchmarkRunnerKind = (typeof BENCHMARK_RUNNERS)[number];

/**
 * vllm's `prefix_repetition` dataset (`--dataset-name prefix_repetition`): `numPrefixes` shared contexts of
 * `prefixLen` tokens, each request one of them followed by `suffixLen` tokens of its own; `numPrompts ÷ numPrefixes`
 * requests share each context, shuffled. The shape of coding traffic (one repository's context, a short question).
 */
export interface PrefixRepetitionWorkload {
  /** Tokens of each shared context (`--prefix-repetition-prefix-len`). */
  readonly prefixLen: number;
  /** Tokens of each request's own part after it (`--prefix-repetition-suffix-len`). */
  readonly suffixLen: number;
  /** Distinct contexts (`--prefix-repetition-num-prefixes`). */
  readonly numPrefixes: number;
}

export interface BenchmarkWorkload {
  /** Prompt length in tokens (`--random-input-len`; with `prefixRepetition`, prefixLen + suffixLen). @default 8192 */
  readonly inputLen: number;
  /** Completion length in tokens (`--random-output-len`). @default 1024 */
  readonly outputLen: number;
  /** Number of requests (`--num-prompts`). @default 512 */
  readonly numPrompts: number;
  /** Requests in flight at most (`--max-concurrency`). @default 32 */
  readonly maxConcurrency: number;
  /**
   * OpenAI-compatible path (`--endpoint`). @default "/v1/chat/completions". The remote runner picks vllm's
   * backend from it (`vllmBackendForEndpoint`); the native runner sends chat requests only.
   */
  readonly endpoint: string;
  /**
   * Sampling temperature. Recent vllm releases send none unless asked, older ones sent 0.0:
   * pinning it keeps runs comparable across runner versions. @default 0
   */
  readonly temperature: number;
  /**
   * Force exactly `outputLen` tokens per request (`--ignore-eos`). @default true. Only the native runner can
   * send `false`: vllm bench serve 0.18.0 sets ignore_eos itself for the random dataset (`runnerWorkloadProblems`).
   */
  readonly ignoreEos: boolean;
  /** Metrics to report percentiles for. @default ["ttft", "tpot", "itl", "e2el"] */
  readonly percentileMetrics: readonly PercentileMetric[];
  /** Percentiles to report. @default [50, 90, 99] */
  readonly metricPercentiles: readonly number[];
  /** Shared-prefix prompts instead of the random dataset's independent ones. @default undefined (random) */
  readonly prefixRepetition?: PrefixRepetitionWorkload;
}

/** The seed article's coding workload: 8192 in / 1024 out, 512 prompts, 32 in flight. */
export const SEED_WORKLOAD: BenchmarkWorkload = Object.freeze({
  inputLen: 8192,
  outputLen: 1024,
  numPrompts: 512,
  maxConcurrency: 32,
  endpoint: "/v1/chat/completions",
  temperature: 0,
  ignoreEos: true,
  percentileMetrics: Object.freeze([...PERCENTILE_METRICS]),
  metricPercentiles: Object.freeze([50, 90, 99]),
});

type CountSetting = "inputLen" | "outputLen" | "numPrompts" | "maxConcurrency";

function positiveInteger(w: BenchmarkWorkload, setting: CountSetting, max: number): void {
  const value = w[setting];
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new Error(
      `benchmark workload ${setting} must be an integer between 1 and ${max}, got ${String(value)}. ` +
        `Fix: set workload.${setting} to a whole number (the seed uses ${SEED_WORKLOAD[setting]}).`,
    );
  }
}

/** Fills defaults from the seed workload and validates every field (errors name the field and the fix). */
export function resolveWorkload(partial?: Partial<BenchmarkWorkload>): BenchmarkWorkload {
  const w: BenchmarkWorkload = { ...SEED_WORKLOAD, ...(partial ?? {}) };
  positiveInteger(w, "inputLen", 1_000_000);
  positiveInteger(w, "outputLen", 1_000_000);
  positiveInteger(w, "numPrompts", 1_000_000);
  positiveInteger(w, "maxConcurrency", 100_000);
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(w.endpoint)) {
    throw new Error(`benchmark workload endpoint must be a URL path starting with "/", got ${JSON.stringify(w.endpoint)}. Fix: use "/v1/chat/completions".`);
  }
  if (!Number.isFinite(w.temperature) || w.temperature < 0 || w.temperature > 2) {
    throw new Error(`benchmark workload temperature must be between 0 and 2, got ${String(w.temperature)}. Fix: use 0 for comparable runs.`);
  }
  if (w.percentileMetrics.length === 0 || w.percentileMetrics.some((m) => !PERCENTILE_METRICS.includes(m))) {
    throw new Error(`benchmark workload percentileMetrics must be a non-empty subset of ${PERCENTILE_METRICS.join(",")}, got ${JSON.stringify(w.percentileMetrics)}.`);
  }
  if (w.metricPercentiles.length === 0 || w.metricPercentiles.some((p) => !Number.isFinite(p) || p <= 0 || p >= 100)) {
    throw new Error(`benchmark workload metricPercentiles must be numbers strictly between 0 and 100, got ${JSON.stringify(w.metricPercentiles)}. Fix: use [50, 90, 99].`);
  }
  const prefix = w.prefixRepetition === undefined ? undefined : resolvePrefixRepetition(w.prefixRepetition, w.numPrompts);
  return {
    ...w,
    ...(prefix === undefined ? {} : { prefixRepetition: prefix, inputLen: prefix.prefixLen + prefix.suffixLen }),
    percentileMetrics: [...w.percentileMetrics],
    metricPercentiles: [...w.metricPercentiles],
  };
}

/**
 * Validates the shared-prefix sizes against the prompt count: each a whole number ≥ 1, and `numPrompts` a multiple of
 * `numPrefixes` (vllm 0.18 drops the remainder, so the run would send fewer requests than the workload says).
 */
export function resolvePrefixRepetition(p: PrefixRepetitionWorkload, numPrompts: number): PrefixRepetitionWorkload {
  for (const key of ["prefixLen", "suffixLen", "numPrefixes"] as const) {
    const v = p[key];
    if (!Number.isInteger(v) || v < 1 || v > 1_000_000) {
      throw new Error(`benchmark workload prefixRepetition.${key} must be a whole number between 1 and 1000000, got ${String(v)}. Fix: e.g. prefixLen 7680, suffixLen 512, numPrefixes 8 (the coding-prefix preset).`);
    }
  }
  if (numPrompts % p.numPrefixes !== 0) {
    throw new Error(
      `benchmark workload numPrompts (${numPrompts}) must be a multiple of prefixRepetition.numPrefixes (${p.numPrefixes}): vllm sends numPrompts ÷ numPrefixes requests per prefix and drops the rest. Fix: numPrompts ${Math.max(p.numPrefixes, numPrompts - (numPrompts % p.numPrefixes))}.`,
    );
  }
  return { prefixLen: p.prefixLen, suffixLen: p.suffixLen, numPrefixes: p.numPrefixes };
}

/** The vllm release whose `bench serve` behaviour the checks below describe (the remote runner's pinned image). */
export const VLLM_BENCH_VERSION = "0.18.0";

/**
 * The `vllm bench serve --backend` that posts to `endpoint`, or undefined when none of its generation backends
 * does: each request function checks the URL's ending before the first request (vllm 0.18.0,
 * benchmarks/lib/endpoint_request_func.py): `openai-chat` needs `chat/completions`, `openai` needs `completions`.
 */
export function vllmBackendForEndpoint(endpoint: string): "openai-chat" | "openai" | undefined {
  if (endpoint.endsWith("chat/completions")) return "openai-chat";
  if (endpoint.endsWith("completions")) return "openai";
  return undefined;
}

/** A workload setting a runner cannot carry out: which one, why, and what to do instead. */
export interface RunnerWorkloadProblem {
  readonly setting: "endpoint" | "ignoreEos";
  readonly why: string;
  readonly fix: string;
}

/**
 * What `runner` cannot do with this workload. Remote (vllm bench serve 0.18.0, random dataset): an endpoint no
 * backend posts to, and `ignoreEos: false`, which vllm overrides (serve.py sets ignore_eos for the random dataset
 * with any OpenAI backend), so the run would not be what the setting says. Native: anything but chat completions
 * (it builds the openai-chat request body only).
 */
export function runnerWorkloadProblems(w: Pick<BenchmarkWorkload, "endpoint" | "ignoreEos">, runner: BenchmarkRunnerKind): RunnerWorkloadProblem[] {
  const problems: RunnerWorkloadProblem[] = [];
  if (runner === "remote" && vllmBackendForEndpoint(w.endpoint) === undefined) {
    problems.push({
      setting: "endpoint",
      why: `vllm bench serve ${VLLM_BENCH_VERSION} sends generation requests only to a path ending in chat/completions (backend openai-chat) or completions (backend openai)`,
      fix: "/v1/chat/completions (or /v1/completions)",
    });
  }
  if (runner === "native" && vllmBackendForEndpoint(w.endpoint) !== "openai-chat") {
    problems.push({
      setting: "endpoint",
      why: "the native runner sends chat requests only (vllm's openai-chat request body)",
      fix: "/v1/chat/completions, or the remote runner for /v1/completions",
    });
  }
  if (runner === "remote" && !w.ignoreEos) {
    problems.push({
      setting: "ignoreEos",
      why: `vllm bench serve ${VLLM_BENCH_VERSION} sends ignore_eos with the random dataset whatever the flag says, so the run would not stop at end-of-sequence`,
      fix: "leave ignoreEos true, or use the native runner (which sends ignore_eos: false)",
    });
  }
  return problems;
}

/** Throws naming every setting `runner` cannot carry out (`where` prefixes the setting, e.g. "benchmark workload."). */
export function assertRunnerCanRun(w: Pick<BenchmarkWorkload, "endpoint" | "ignoreEos">, runner: BenchmarkRunnerKind, where = "benchmark workload."): void {
  const problems = runnerWorkloadProblems(w, runner);
  if (problems.length === 0) return;
  throw new Error(
    problems
      .map((p) => `${where}${p.setting} = ${JSON.stringify(w[p.setting])} cannot be run by the ${runner} runner: ${p.why}. Fix: ${p.fix}.`)
      .join("\n"),
  );
}

/**
 * A stable, canonical text for the workload (fixed key order, no volatile fields): used as a
 * re-run trigger, so the benchmark repeats exactly when the workload changes.
 */
export function workloadKey(w: BenchmarkWorkload): string {
  return JSON.stringify({
    inputLen: w.inputLen,
    outputLen: w.outputLen,
    numPrompts: w.numPrompts,
    maxConcurrency: w.maxConcurrency,
    endpoint: w.endpoint,
    temperature: w.temperature,
    ignoreEos: w.ignoreEos,
    percentileMetrics: [...w.percentileMetrics],
    metricPercentiles: [...w.metricPercentiles],
    // Only when set: a random workload keeps the key it always had (no re-run).
    ...(w.prefixRepetition === undefined ? {} : { prefixRepetition: [w.prefixRepetition.prefixLen, w.prefixRepetition.suffixLen, w.prefixRepetition.numPrefixes] }),
  });
}

/** The dataset flags both runners take (`vllm bench serve`'s spelling): the random dataset's lengths, or the shared-prefix sizes. */
export function datasetArgs(w: BenchmarkWorkload): string[] {
  const p = w.prefixRepetition;
  if (p === undefined) return ["--dataset-name", "random", "--random-input-len", String(w.inputLen), "--random-output-len", String(w.outputLen)];
  return [
    "--dataset-name", "prefix_repetition",
    "--prefix-repetition-prefix-len", String(p.prefixLen),
    "--prefix-repetition-suffix-len", String(p.suffixLen),
    "--prefix-repetition-num-prefixes", String(p.numPrefixes),
    "--prefix-repetition-output-len", String(w.outputLen),
  ];
}
