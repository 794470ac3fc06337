/**
 * The command line that runs the native TypeScript runner (`scripts/bench.ts`) from the Pulumi
 * machine. Pure, so the exact text the `local.Command` stores can be asserted in a test.
 */
import { shellQuote } from "./remoteRunner";
import { type BenchmarkWorkload, datasetArgs, SEED_WORKLOAD } from "./workload";

/** The CLI, relative to the repository root (the command runs with `dir` = the repository). */
export const NATIVE_BENCH_SCRIPT = "scripts/bench.ts";

export interface NativeBenchCommandOptions {
  /** Server URL as reachable from the Pulumi machine, e.g. `http://127.0.0.1:8000`. */
  readonly baseUrl: string;
  readonly servedModelName: string;
  /** Recorded as `model_id`; also the tokenizer when `tokenizer` is not given. */
  readonly model: string;
  /**
   * Tokenizer for the random dataset, passed as `--tokenizer` so the CLI never falls back to
   * another vocabulary: a hub id in the HF cache, a path, or `"bundled"`. @default model
   */
  readonly tokenizer?: string;
  /** @default SEED_WORKLOAD */
  readonly workload?: BenchmarkWorkload;
  /**
   * Limit on the whole run, seconds: the CLI's own `--total-timeout` (it ends in-flight requests
   * and reports what finished), backed by coreutils `timeout` two minutes later where it exists.
   * @default 3600
   */
  readonly timeoutSeconds?: number;
}

/** Flags for the native CLI; spelled like `vllm bench serve`'s so the two read alike. */
export function nativeBenchArgs(o: NativeBenchCommandOptions): string[] {
  const w = o.workload ?? SEED_WORKLOAD;
  let url: URL;
  try {
    url = new URL(o.baseUrl);
  } catch {
    throw new Error(`benchmark baseUrl must be an http(s) URL, got ${JSON.stringify(o.baseUrl)}. Fix: e.g. http://127.0.0.1:8000.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`benchmark baseUrl must use http or https, got ${JSON.stringify(o.baseUrl)}.`);
  }
  if (!o.servedModelName) throw new Error("benchmark servedModelName is empty. Fix: pass the server's --served-model-name (\"qwen\" in the seed).");
  return [
    "--base-url", o.baseUrl.replace(/\/+$/, ""),
    "--endpoint", w.endpoint,
    "--model", o.model,
    // Always explicit: without it the CLI would fall back to its bundled tokenizer when the model is not cached.
    "--tokenizer", o.tokenizer ?? o.model,
    "--served-model-name", o.servedModelName,
    // The random dataset is the CLI's default: its command line stays the one stacks have in state.
    ...(w.prefixRepetition === undefined ? ["--random-input-len", String(w.inputLen), "--random-output-len", String(w.outputLen)] : datasetArgs(w)),
    "--num-prompts", String(w.numPrompts),
    "--max-concurrency", String(w.maxConcurrency),
    "--temperature", String(w.temperature),
    // The native CLI sends ignore_eos by default and spells the opposite --no-ignore-eos.
    ...(w.ignoreEos ? [] : ["--no-ignore-eos"]),
    "--percentile-metrics", w.percentileMetrics.join(","),
    "--metric-percentiles", w.metricPercentiles.map(String).join(","),
    ...(o.timeoutSeconds === undefined ? [] : ["--total-timeout", String(o.timeoutSeconds)]),
    "--json",
  ];
}

/**
 * `npx tsx scripts/bench.ts … --json`, under `timeout` when the machine has it (macOS lacks
 * coreutils). The API key is NOT here: the command gets it as `OPENAI_API_KEY` in its environment.
 */
export function renderNativeBenchCommand(o: NativeBenchCommandOptions): string {
  const timeout = o.timeoutSeconds ?? 3600;
  if (!Number.isInteger(timeout) || timeout < 1) throw new Error(`benchmark timeoutSeconds must be a whole number >= 1, got ${String(timeout)}.`);
  const cli = ["npx", "tsx", NATIVE_BENCH_SCRIPT, ...nativeBenchArgs({ ...o, timeoutSeconds: timeout })].map(shellQuote).join(" ");
  return [
    "if command -v timeout >/dev/null 2>&1; then",
    `  exec timeout --kill-after=30 ${timeout + 120} ${cli}`,
    "fi",
    `exec ${cli}`,
  ].join("\n") + "\n";
}
