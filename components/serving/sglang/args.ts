/**
 * Typed SGLang server arguments (`python -m sglang.launch_server ...`), the presets this project
 * ships, and the ONE pure function that renders them to argv.
 *
 * Why typed: the flags decide whether a 400B model boots at all (GPU split, memory fraction,
 * MTP/mamba combinations). Catching a bad combination here costs milliseconds; catching it on
 * the host costs a cold boot (30-60 min) and the GPU hours behind it.
 *
 * The API key is deliberately NOT a field here: argv ends up in Pulumi state and in
 * `docker inspect`. See `engine.ts` here (`API_KEY_ENV`) and `../containerSpec.ts` for how it reaches the server.
 */

import SGLANG_RELEASE from "../sglangChoices.generated.json";
import { problem, renderProblem, type Findings, type Problem } from "../problem";

/**
 * Value lists, deprecated flag aliases and deprecated values of the pinned SGLang release, generated
 * from its wheel by `scripts/conformance/regenerate-choices.sh` (never edited by hand): the conformance
 * suite fails when this file and the pinned wheel disagree, so bumping `sglangImage` regenerates it.
 */
export const SGLANG_RELEASE_CHOICES = SGLANG_RELEASE;
/** The SGLang release the value lists and rules below were read from. */
export const SGLANG_RELEASE_VERSION: string = SGLANG_RELEASE.versions.sglang;

/** KV-cache element types accepted by `--kv-cache-dtype`. */
export const KV_CACHE_DTYPES: readonly string[] = SGLANG_RELEASE.kvCacheDtypes;
export type KvCacheDtype = string;

/** `--mamba-ssm-dtype` values (state dtype of the Gated DeltaNet layers). */
export const MAMBA_SSM_DTYPES: readonly string[] = SGLANG_RELEASE.mambaSsmDtypes;
export type MambaSsmDtype = string;

/**
 * The mamba strategy flag's current name in the pinned release: 0.5.14 renamed `--mamba-scheduler-strategy`
 * to `--mamba-radix-cache-strategy` (the old name still parses, with a deprecation warning at start).
 */
export const MAMBA_STRATEGY_FLAG: string = SGLANG_RELEASE.mambaStrategyFlag ?? "--mamba-radix-cache-strategy";

/** `--mamba-radix-cache-strategy` values (`--mamba-scheduler-strategy` is its deprecated alias). */
export const MAMBA_RADIX_CACHE_STRATEGIES: readonly string[] = SGLANG_RELEASE.mambaRadixCacheStrategies;
export type MambaRadixCacheStrategy = string;

/** `--speculative-algorithm` builtins. NEXTN is the MTP head built into the Qwen3.5 checkpoint. */
export const SPECULATIVE_ALGORITHMS: readonly string[] = SGLANG_RELEASE.speculativeAlgorithms;
export type SpeculativeAlgorithm = string;

/** `--log-level` values (Python logging's level names; SGLang takes any of them). */
export const LOG_LEVELS = ["debug", "info", "warning", "error", "critical"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `--tool-call-parser` choices of the pinned release. */
export const TOOL_CALL_PARSERS: readonly string[] = SGLANG_RELEASE.toolCallParsers;

/** `--reasoning-parser` choices of the pinned release. */
export const REASONING_PARSERS: readonly string[] = SGLANG_RELEASE.reasoningParsers;

/** `--attention-backend` choices of the pinned release. */
export const ATTENTION_BACKENDS: readonly string[] = SGLANG_RELEASE.attentionBackends;

/** Deprecated flag -> its replacement in the pinned release (`null`: removed without one). */
const DEPRECATED_FLAGS: Readonly<Record<string, string | null>> = SGLANG_RELEASE.deprecatedFlags;
/** Per flag, deprecated value -> the value the release rewrites it to (with a warning). */
const DEPRECATED_VALUES: Readonly<Record<string, Readonly<Record<string, string>>>> = SGLANG_RELEASE.deprecatedValues;

/** The value the pinned release really uses for `value` of `flag` (a deprecated alias becomes its new name). */
export function currentValueOf(flag: string, value: string): string {
  return DEPRECATED_VALUES[flag]?.[value] ?? value;
}

/** The replacement of a flag the pinned release deprecates, `null` when removed, `undefined` when current. */
export function deprecatedFlagReplacement(flag: string): string | null | undefined {
  return Object.hasOwn(DEPRECATED_FLAGS, flag) ? DEPRECATED_FLAGS[flag] : undefined;
}

/**
 * SGLang server arguments this project models. `undefined` means "not rendered": SGLang's own
 * default applies. Booleans render as a bare flag when `true` and nothing when `false`.
 */
export interface SglangFlags {
  /** `--host`: address inside the container; `0.0.0.0` so the published port reaches it. */
  readonly host?: string;
  /** `--port`: port inside the container. */
  readonly port?: number;
  /** `--model-path`: Hugging Face repo id or a path inside the container. */
  readonly modelPath: string;
  /** `--served-model-name`: the `model` clients send; must not contain `:` (LoRA syntax). */
  readonly servedModelName?: string;
  /** `--tool-call-parser`. */
  readonly toolCallParser?: string;
  /** `--reasoning-parser`. */
  readonly reasoningParser?: string;
  /** `--mamba-ssm-dtype`. */
  readonly mambaSsmDtype?: MambaSsmDtype;
  /** `--tp-size`: tensor-parallel degree (GPUs per replica). */
  readonly tpSize?: number;
  /** `--trust-remote-code`. */
  readonly trustRemoteCode?: boolean;
  /** `--mem-fraction-static`: share of GPU memory for weights + KV cache, in (0, 1). */
  readonly memFractionStatic?: number;
  /** `--dp-size`: data-parallel replicas (or DP-attention groups with `--enable-dp-attention`). */
  readonly dpSize?: number;
  /** `--ep-size`: expert-parallel degree for the MoE layers. */
  readonly epSize?: number;
  /** `--context-length`. */
  readonly contextLength?: number;
  /** `--max-running-requests`. */
  readonly maxRunningRequests?: number;
  /** `--chunked-prefill-size`. */
  readonly chunkedPrefillSize?: number;
  /** `--max-prefill-tokens`. */
  readonly maxPrefillTokens?: number;
  /** `--kv-cache-dtype`. */
  readonly kvCacheDtype?: KvCacheDtype;
  /** `--quantization` (FP8 checkpoints are auto-detected; set only to force a method). */
  readonly quantization?: string;
  /** `--attention-backend`. */
  readonly attentionBackend?: string;
  /** `--mamba-radix-cache-strategy` (`auto` resolves to `extra_buffer` with the overlap scheduler). */
  readonly mambaRadixCacheStrategy?: MambaRadixCacheStrategy;
  /** `--speculative-algorithm`. */
  readonly speculativeAlgorithm?: SpeculativeAlgorithm;
  /** `--speculative-num-steps`. */
  readonly speculativeNumSteps?: number;
  /** `--speculative-eagle-topk`. */
  readonly speculativeEagleTopk?: number;
  /** `--speculative-num-draft-tokens`. */
  readonly speculativeNumDraftTokens?: number;
  /** `--watchdog-timeout` in seconds. */
  readonly watchdogTimeout?: number;
  /** `--enable-metrics`: Prometheus `/metrics` on the API port. */
  readonly enableMetrics?: boolean;
  /** `--enable-cache-report`: cached-token counts in `usage`. */
  readonly enableCacheReport?: boolean;
  /** `--download-dir`. */
  readonly downloadDir?: string;
  /** `--log-level`. */
  readonly logLevel?: LogLevel;
  /** `--model-loader-extra-config`: rendered as compact JSON. */
  readonly modelLoaderExtraConfig?: Readonly<Record<string, unknown>>;
}

/** Partial flags merged over a preset; an explicit `undefined` removes the preset's value. */
export type SglangFlagOverrides = { readonly [K in keyof SglangFlags]?: SglangFlags[K] | undefined };

type FlagKind = "string" | "int" | "float" | "bool" | "json";
interface FlagSpec {
  readonly key: keyof SglangFlags;
  readonly flag: string;
  readonly kind: FlagKind;
}

/**
 * Render order. The seed's flags come first, in the seed's order, so the `seed` preset renders
 * byte-for-byte the documented launch line; the production flags follow in a fixed order so
 * that argv (and hence the container's replacement trigger) is deterministic.
 */
export const FLAG_TABLE: readonly FlagSpec[] = [
  { key: "host", flag: "--host", kind: "string" },
  { key: "port", flag: "--port", kind: "int" },
  { key: "modelPath", flag: "--model-path", kind: "string" },
  { key: "servedModelName", flag: "--served-model-name", kind: "string" },
  { key: "toolCallParser", flag: "--tool-call-parser", kind: "string" },
  { key: "reasoningParser", flag: "--reasoning-parser", kind: "string" },
  { key: "mambaSsmDtype", flag: "--mamba-ssm-dtype", kind: "string" },
  { key: "tpSize", flag: "--tp-size", kind: "int" },
  { key: "trustRemoteCode", flag: "--trust-remote-code", kind: "bool" },
  { key: "memFractionStatic", flag: "--mem-fraction-static", kind: "float" },
  { key: "dpSize", flag: "--dp-size", kind: "int" },
  { key: "epSize", flag: "--ep-size", kind: "int" },
  { key: "contextLength", flag: "--context-length", kind: "int" },
  { key: "maxRunningRequests", flag: "--max-running-requests", kind: "int" },
  { key: "chunkedPrefillSize", flag: "--chunked-prefill-size", kind: "int" },
  { key: "maxPrefillTokens", flag: "--max-prefill-tokens", kind: "int" },
  { key: "kvCacheDtype", flag: "--kv-cache-dtype", kind: "string" },
  { key: "quantization", flag: "--quantization", kind: "string" },
  { key: "attentionBackend", flag: "--attention-backend", kind: "string" },
  { key: "mambaRadixCacheStrategy", flag: MAMBA_STRATEGY_FLAG, kind: "string" },
  { key: "speculativeAlgorithm", flag: "--speculative-algorithm", kind: "string" },
  { key: "speculativeNumSteps", flag: "--speculative-num-steps", kind: "int" },
  { key: "speculativeEagleTopk", flag: "--speculative-eagle-topk", kind: "int" },
  { key: "speculativeNumDraftTokens", flag: "--speculative-num-draft-tokens", kind: "int" },
  { key: "watchdogTimeout", flag: "--watchdog-timeout", kind: "float" },
  { key: "enableMetrics", flag: "--enable-metrics", kind: "bool" },
  { key: "enableCacheReport", flag: "--enable-cache-report", kind: "bool" },
  { key: "downloadDir", flag: "--download-dir", kind: "string" },
  { key: "logLevel", flag: "--log-level", kind: "string" },
  { key: "modelLoaderExtraConfig", flag: "--model-loader-extra-config", kind: "json" },
];

/**
 * SGLang server flags that carry a secret (`ServerArgs.api_key`, `admin_api_key`,
 * `ssl_keyfile_password`): they may only arrive through a secret channel, never through argv,
 * which is stored in state and shown by `docker inspect` and `ps`.
 */
export const SECRET_FLAGS = ["--api-key", "--admin-api-key", "--ssl-keyfile-password"] as const;

/** Flag names that carry a secret in images this list does not know (`--hf-token`, `--x-password`). */
const SECRET_FLAG_NAME = /(^|-)(api-?key|key|token|password|passwd|secret|credentials?)$/;

/**
 * Why an argv token would pass a secret to SGLang ("carries a secret", "is an abbreviation of
 * --api-key ..."), or undefined. SGLang parses argv with Python's
 * argparse, which accepts any unambiguous prefix of a long flag (`--api-ke`, `--api`) and the
 * `--flag=value` form, so the check covers every abbreviation of a secret flag, not only its full
 * name; a token that is exactly another known flag (`--ssl-keyfile`) is not an abbreviation.
 */
export function secretFlagProblem(token: string): string | undefined {
  if (!token.startsWith("--")) return undefined;
  const name = token.split("=")[0]!.toLowerCase();
  const secret = SECRET_FLAGS.find((flag) => flag === name);
  if (secret !== undefined || SECRET_FLAG_NAME.test(name.slice(2))) return "carries a secret";
  if (name.length <= 2 || knownFlagNames().has(name)) return undefined;
  const abbreviated = SECRET_FLAGS.filter((flag) => flag.startsWith(name));
  return abbreviated.length > 0 ? `is an abbreviation of ${abbreviated.join(" or ")} (argparse accepts any unambiguous prefix)` : undefined;
}

/**
 * Other SGLang server flags seen in releases of the Qwen3.5 era. Passing one through
 * `extraFlags` is silent; anything else gets a warning (typo, or a flag the pinned image may
 * not know). Not an error: the pinned image, not this list, is the authority.
 */
export const OTHER_KNOWN_FLAGS: readonly string[] = [
  "--tokenizer-path", "--tokenizer-mode", "--revision", "--load-format", "--dtype", "--skip-server-warmup",
  "--max-total-tokens", "--page-size", "--schedule-policy", "--schedule-conservativeness",
  "--cuda-graph-max-bs", "--cuda-graph-bs", "--disable-cuda-graph", "--disable-radix-cache",
  "--enable-mixed-chunk", "--enable-dp-attention", "--enable-torch-compile", "--torch-compile-max-bs",
  "--disable-overlap-schedule", "--random-seed", "--stream-interval", "--mamba-radix-cache-strategy",
  "--moe-runner-backend", "--moe-a2a-backend", "--enable-hierarchical-cache", "--hicache-ratio",
  "--decode-log-interval", "--enable-request-time-stats-logging", "--allow-auto-truncate",
  "--speculative-draft-model-path", "--speculative-attention-mode", "--sampling-backend",
  "--grammar-backend", "--mm-attention-backend", "--chat-template", "--json-model-override-args",
  "--preferred-sampling-params", "--max-queued-requests", "--enable-p2p-check", "--model-impl",
  "--nnodes", "--node-rank", "--dist-init-addr", "--show-time-cost",
  "--disable-custom-all-reduce", "--enable-flashinfer-allreduce-fusion", "--max-mamba-cache-size",
  "--mamba-full-memory-ratio", "--log-requests", "--log-requests-level", "--crash-dump-folder",
  "--enable-expert-distribution-metrics", "--tokenizer-worker-num", "--disable-shared-experts-fusion",
  "--ssl-keyfile", "--ssl-certfile", "--ssl-ca-certs",
];

/** Every non-secret flag name this module knows (typed and free-form). */
function knownFlagNames(): ReadonlySet<string> {
  return new Set([...FLAG_TABLE.map((s) => s.flag), ...OTHER_KNOWN_FLAGS, ...SGLANG_RELEASE.serverFlags]);
}

/** The model every preset serves (the seed's model). */
export const SEED_MODEL = "Qwen/Qwen3.5-397B-A17B";

/**
 * The seed's launch line, field for field. Rendering it yields exactly:
 * `--host 0.0.0.0 --port 8000 --model-path Qwen/Qwen3.5-397B-A17B --served-model-name qwen
 *  --tool-call-parser qwen3_coder --reasoning-parser qwen3 --mamba-ssm-dtype float32 --tp-size 8
 *  --trust-remote-code --mem-fraction-static 0.85`.
 */
const SEED_PRESET: SglangFlags = {
  host: "0.0.0.0",
  port: 8000,
  modelPath: SEED_MODEL,
  servedModelName: "qwen",
  toolCallParser: "qwen3_coder",
  reasoningParser: "qwen3",
  mambaSsmDtype: "float32",
  tpSize: 8,
  trustRemoteCode: true,
  memFractionStatic: 0.85,
};

/**
 * Tuned for 8x B200 (SM100) serving the BF16 checkpoint to the seed's coding workload
 * (8192 in / 1024 out, concurrency 32). Each choice and why:
 */
const B200_PRESET: SglangFlags = {
  ...SEED_PRESET,
  // 0.85 leaves too little headroom once the MTP draft layers and their CUDA graphs are
  // captured; OOM during graph capture at high fractions is the known failure. 0.80 is the
  // low end of the vendor recipes and still leaves a large KV pool (GDN layers need ~4x less KV).
  memFractionStatic: 0.8,
  // No remote code: Qwen3.5 (`qwen3_5_moe`) is built into SGLang and transformers and its repo ships no Python, so
  // the seed's --trust-remote-code only let a changed repo run code in this root, all-GPU container. Set it again for a model that needs it.
  trustRemoteCode: false,
  // SM100's TensorRT-LLM MHA kernels are the recipe choice on B200; valid with MTP because topk is 1.
  attentionBackend: "trtllm_mha",
  // Multi-token prediction with the checkpoint's own NEXTN head: 3 steps, topk 1 (required by
  // trtllm_mha), 4 draft tokens (= steps + 1 for a chain). Cuts inter-token latency, which
  // dominates a 1024-token completion.
  speculativeAlgorithm: "NEXTN",
  speculativeNumSteps: 3,
  speculativeEagleTopk: 1,
  speculativeNumDraftTokens: 4,
  // Stated rather than left to `auto` (which resolves to the same with the overlap scheduler on):
  // no_buffer is refused with trtllm_mha, and extra_buffer keeps prefix caching working with it,
  // which matters for repeated code contexts.
  mambaRadixCacheStrategy: "extra_buffer",
  // 32 concurrent benchmark streams with room for bursts; recipes use 128.
  maxRunningRequests: 128,
  // Two 8192-token prompts per prefill chunk: fewer prefill iterations interleaved with decode
  // without starving decode batches (recipes use 16384-32768).
  chunkedPrefillSize: 16384,
  // The default 300 s watchdog fires during long first-batch compilations on this model.
  watchdogTimeout: 1200,
  // Prometheus /metrics for queue depth, KV usage and cache hit rate during the benchmark.
  enableMetrics: true,
  // Cached-token counts in `usage` show whether prefix caching is paying off.
  enableCacheReport: true,
  // ~800 GB of safetensors: multithreaded loading cuts the load phase from local NVMe/NFS.
  modelLoaderExtraConfig: { enable_multithread_load: true, num_threads: 16 },
  // kv-cache-dtype stays at the model default (BF16): FP8 KV without calibrated scales loses
  // reasoning accuracy on this model, and GDN already keeps the KV footprint small.
};

export const SGLANG_PRESETS = { seed: SEED_PRESET, b200: B200_PRESET } as const;
export type SglangPresetName = keyof typeof SGLANG_PRESETS;

/** Preset + overrides -> flags; an override set to `undefined` removes the preset's flag. */
export function resolveSglangFlags(preset: SglangPresetName, overrides: SglangFlagOverrides = {}): SglangFlags {
  const base = SGLANG_PRESETS[preset];
  if (base === undefined) {
    throw new Error(
      `serving preset "${String(preset)}" is unknown; use one of: ${Object.keys(SGLANG_PRESETS).join(", ")}`,
    );
  }
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  return merged as unknown as SglangFlags;
}

function renderValue(kind: FlagKind, value: unknown): string {
  switch (kind) {
    case "json":
      return typeof value === "string" ? value : JSON.stringify(value);
    case "float":
    case "int":
      return String(value);
    default:
      return String(value);
  }
}

/**
 * THE renderer: flags (+ free-form extra tokens, appended verbatim) -> argv for
 * `python -m sglang.launch_server`. Pure and deterministic.
 */
export function renderSglangArgv(flags: SglangFlags, extraFlags: readonly string[] = []): string[] {
  const argv: string[] = [];
  for (const spec of FLAG_TABLE) {
    const value = flags[spec.key];
    if (value === undefined || value === null) continue;
    if (spec.kind === "bool") {
      if (value === true) argv.push(spec.flag);
      continue;
    }
    // A deprecated value renders as the name the pinned release uses (it would rewrite it with a warning).
    argv.push(spec.flag, spec.kind === "string" ? currentValueOf(spec.flag, String(value)) : renderValue(spec.kind, value));
  }
  return [...argv, ...extraFlags];
}

/** The served name clients use: `--served-model-name`, else the model path (SGLang's rule). */
export function servedModelNameOf(flags: SglangFlags): string {
  return flags.servedModelName ?? flags.modelPath;
}

/** Which setting a flag problem is about: a typed flag (through `flagOverrides`), or the free-form `extraFlags`. */
export type SglangFlagKey = `flagOverrides.${keyof SglangFlags}` | "extraFlags";
export type SglangFlagProblem = Problem<SglangFlagKey>;

/** Result of validation: every problem at once, errors fatal, warnings informative. */
export interface ValidationResult {
  /** The problems, structured (what callers map to their own setting names). */
  readonly problems: SglangFlagProblem[];
  /** The problems as printed (`renderProblem`). */
  readonly errors: string[];
  readonly warnings: string[];
}

/** Facts about the host the flags are validated against. */
export interface SglangHostFacts {
  /** GPUs visible to the container; `undefined` skips the fit checks (not known yet). */
  readonly gpuCount?: number;
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v > 0;
}

/** The value an extra flag carries (`--x v` or `--x=v`), or `true` when bare, or undefined. */
export function extraFlagValue(extraFlags: readonly string[], flag: string): string | true | undefined {
  for (let i = 0; i < extraFlags.length; i++) {
    const token = extraFlags[i];
    if (token === flag) {
      const next = extraFlags[i + 1];
      return next !== undefined && !next.startsWith("--") ? next : true;
    }
    if (token.startsWith(`${flag}=`)) return token.slice(flag.length + 1);
  }
  return undefined;
}

/** Flag names (`--x`) appearing in free-form extra tokens. */
export function extraFlagNames(extraFlags: readonly string[]): string[] {
  return extraFlags.filter((t) => t.startsWith("--")).map((t) => t.split("=")[0]);
}

type FlagFindings = Findings<SglangFlagKey>;
const flagProblem = (key: keyof SglangFlags, message: string, fix: string): SglangFlagProblem => problem(`flagOverrides.${key}`, message, fix);
const onlyProblems = (problems: SglangFlagProblem[]): FlagFindings => ({ problems, warnings: [] });

/**
 * Checks flags (+ extra tokens) against SGLang's rules and the host. Returns ALL problems;
 * each names the flag, the value seen and the fix.
 */
export function validateSglangFlags(
  flags: SglangFlags,
  extraFlags: readonly string[] = [],
  host: SglangHostFacts = {},
): ValidationResult {
  // Order matters only for reading: each list keeps the order in which a person fixes things.
  const steps: FlagFindings[] = [
    onlyProblems(identityProblems(flags)),
    onlyProblems(integerFlagProblems(flags)),
    onlyProblems(host.gpuCount === undefined ? [] : gpuFitProblems(flags, extraFlags, host.gpuCount)),
    onlyProblems(parallelismProblems(flags, extraFlags)),
    memFractionFindings(flags),
    valueListFindings(flags),
    speculativeFindings(flags, extraFlags),
    sizingFindings(flags, host),
    extraFlagFindings(flags, extraFlags),
  ];
  const problems = steps.flatMap((s) => s.problems);
  return { problems, errors: problems.map(renderProblem), warnings: steps.flatMap((s) => s.warnings) };
}

/** Model path, served name and in-container port. */
export function identityProblems(flags: SglangFlags): SglangFlagProblem[] {
  const problems: SglangFlagProblem[] = [];
  if (typeof flags.modelPath !== "string" || flags.modelPath.trim() === "") {
    problems.push(flagProblem("modelPath", `--model-path is required (got ${JSON.stringify(flags.modelPath)})`, `set it to a Hugging Face repo id such as "${SEED_MODEL}"`));
  }
  if (flags.servedModelName !== undefined) {
    if (flags.servedModelName.trim() === "") {
      problems.push(flagProblem("servedModelName", "--served-model-name is empty", `set a name such as "qwen" or remove it to serve under the model path`));
    } else if (flags.servedModelName.includes(":")) {
      problems.push(
        flagProblem(
          "servedModelName",
          `--served-model-name "${flags.servedModelName}" contains ":", which SGLang reserves for LoRA adapters (model:adapter)`,
          `use a name without ":", e.g. "${flags.servedModelName.replace(/:/g, "-")}"`,
        ),
      );
    }
  }
  if (flags.port !== undefined && !(Number.isInteger(flags.port) && flags.port >= 1 && flags.port <= 65535)) {
    problems.push(flagProblem("port", `--port ${flags.port} is out of range`, "use an integer in 1-65535 (the seed uses 8000)"));
  }
  return problems;
}

const POSITIVE_INT_FLAGS = [
  ["tpSize", "--tp-size"], ["dpSize", "--dp-size"], ["epSize", "--ep-size"], ["contextLength", "--context-length"],
  ["maxRunningRequests", "--max-running-requests"], ["chunkedPrefillSize", "--chunked-prefill-size"],
  ["maxPrefillTokens", "--max-prefill-tokens"], ["speculativeNumSteps", "--speculative-num-steps"],
  ["speculativeEagleTopk", "--speculative-eagle-topk"], ["speculativeNumDraftTokens", "--speculative-num-draft-tokens"],
] as const;

/** Counts and sizes that must be positive integers. */
export function integerFlagProblems(flags: SglangFlags): SglangFlagProblem[] {
  const problems: SglangFlagProblem[] = [];
  for (const [key, flag] of POSITIVE_INT_FLAGS) {
    const v = flags[key];
    // chunked-prefill-size -1 is SGLang's documented "disable chunking".
    if (v !== undefined && !isPositiveInt(v) && !(key === "chunkedPrefillSize" && v === -1)) {
      problems.push(flagProblem(key, `${flag} ${v} is invalid`, "use a positive integer"));
    }
  }
  return problems;
}

/** Whether tp (x dp) fits the host's GPUs; the only flag check that needs the host (`checkGpuFit` runs it late). */
export function gpuFitProblems(flags: SglangFlags, extraFlags: readonly string[], gpus: number): SglangFlagProblem[] {
  const tp = flags.tpSize ?? 1;
  const dp = flags.dpSize ?? 1;
  if (!isPositiveInt(tp) || !isPositiveInt(dp)) return [];
  const dpAttention = extraFlagValue(extraFlags, "--enable-dp-attention") !== undefined;
  const needed = dpAttention ? tp : tp * dp;
  if (needed > gpus) {
    return [
      dpAttention
        ? flagProblem("tpSize", `--tp-size ${tp} needs ${tp} GPUs but the host has ${gpus}`, `lower --tp-size to at most ${gpus}`)
        : flagProblem(
            "tpSize",
            `--tp-size ${tp} x --dp-size ${dp} needs ${needed} GPUs but the host has ${gpus}`,
            `lower --tp-size/--dp-size so tp x dp <= ${gpus} (BF16 Qwen3.5-397B needs tp 8; FP8/NVFP4 checkpoints fit at tp 4)`,
          ),
    ];
  }
  if (gpus % tp !== 0) {
    return [flagProblem("tpSize", `--tp-size ${tp} does not divide the host's ${gpus} GPUs`, `use a divisor of ${gpus} (e.g. ${largestDivisorAtMost(gpus, tp)})`)];
  }
  return [];
}

/** dp-attention and expert parallelism against tp. */
export function parallelismProblems(flags: SglangFlags, extraFlags: readonly string[]): SglangFlagProblem[] {
  const problems: SglangFlagProblem[] = [];
  const tp = flags.tpSize ?? 1;
  const dp = flags.dpSize ?? 1;
  const dpAttention = extraFlagValue(extraFlags, "--enable-dp-attention") !== undefined;
  if (dpAttention && isPositiveInt(dp) && isPositiveInt(tp) && tp % dp !== 0) {
    problems.push(flagProblem("dpSize", `--dp-size ${dp} with --enable-dp-attention must divide --tp-size ${tp}`, `pick a divisor of ${tp}`));
  }
  if (flags.epSize !== undefined && isPositiveInt(flags.epSize) && isPositiveInt(tp) && (flags.epSize > tp || tp % flags.epSize !== 0)) {
    problems.push(flagProblem("epSize", `--ep-size ${flags.epSize} must divide --tp-size ${tp} on one node`, `use 1 (no EP) or a divisor of ${tp}`));
  }
  return problems;
}

/** The static memory fraction: in (0, 1), and not so high that CUDA-graph capture runs out. */
export function memFractionFindings(flags: SglangFlags): FlagFindings {
  const m = flags.memFractionStatic;
  if (m === undefined) return onlyProblems([]);
  if (typeof m !== "number" || !Number.isFinite(m) || m <= 0 || m >= 1) {
    return onlyProblems([flagProblem("memFractionStatic", `--mem-fraction-static ${m} must be strictly between 0 and 1`, "vendor recipes use 0.80-0.85")]);
  }
  const warnings = m > 0.9 ? [`--mem-fraction-static ${m} leaves little room for CUDA-graph capture (OOM there is a known failure); consider 0.80-0.85`] : [];
  return { problems: [], warnings };
}

const VALUE_LIST_FLAGS: ReadonlyArray<readonly [keyof SglangFlags, string, readonly string[]]> = [
  ["kvCacheDtype", "--kv-cache-dtype", KV_CACHE_DTYPES],
  ["mambaSsmDtype", "--mamba-ssm-dtype", MAMBA_SSM_DTYPES],
  ["mambaRadixCacheStrategy", MAMBA_STRATEGY_FLAG, MAMBA_RADIX_CACHE_STRATEGIES],
  ["speculativeAlgorithm", "--speculative-algorithm", SPECULATIVE_ALGORITHMS],
  ["logLevel", "--log-level", LOG_LEVELS],
  ["toolCallParser", "--tool-call-parser", TOOL_CALL_PARSERS],
  ["reasoningParser", "--reasoning-parser", REASONING_PARSERS],
  ["attentionBackend", "--attention-backend", ATTENTION_BACKENDS],
];

/** Flags whose value must be one of the pinned release's choices. */
export function valueListFindings(flags: SglangFlags): FlagFindings {
  const release = `SGLang ${SGLANG_RELEASE_VERSION}`;
  const problems: SglangFlagProblem[] = [];
  for (const [key, flag, allowed] of VALUE_LIST_FLAGS) {
    const value = flags[key];
    if (value !== undefined && !(allowed as readonly unknown[]).includes(value)) {
      problems.push(flagProblem(key, `${flag} "${value}" is not accepted by ${release} (the conformance-checked release)`, `use one of: ${allowed.join(", ")}`));
    }
  }
  const warnings =
    flags.kvCacheDtype !== undefined && flags.kvCacheDtype.startsWith("fp8")
      ? [`--kv-cache-dtype ${flags.kvCacheDtype}: FP8 KV without calibrated scales loses reasoning accuracy on Qwen3.5; prefer "auto"`]
      : [];
  return { problems, warnings };
}

/** Speculative decoding (MTP) rules, with the mamba radix cache and the attention backend. */
export function speculativeFindings(flags: SglangFlags, extraFlags: readonly string[]): FlagFindings {
  const spec = flags.speculativeAlgorithm;
  const topk = flags.speculativeEagleTopk;
  const problems = mambaRadixCacheProblems(flags, extraFlags);
  const warnings: string[] = [];
  if (flags.attentionBackend === "trtllm_mha" && spec !== undefined && topk !== undefined && topk > 1) {
    problems.push(
      flagProblem(
        "speculativeEagleTopk",
        `--attention-backend trtllm_mha supports speculative decoding only with --speculative-eagle-topk <= 1 (got ${topk})`,
        "set speculativeEagleTopk: 1 or choose another attention backend",
      ),
    );
  }
  if (spec === undefined) {
    for (const [key, flag] of [
      ["speculativeNumSteps", "--speculative-num-steps"], ["speculativeEagleTopk", "--speculative-eagle-topk"],
      ["speculativeNumDraftTokens", "--speculative-num-draft-tokens"],
    ] as const) {
      if (flags[key] !== undefined) warnings.push(`${flag} ${flags[key]} has no effect without --speculative-algorithm; set speculativeAlgorithm: "NEXTN" or remove it`);
    }
  } else if (topk === 1 && isPositiveInt(flags.speculativeNumSteps) && isPositiveInt(flags.speculativeNumDraftTokens) && flags.speculativeNumDraftTokens !== flags.speculativeNumSteps + 1) {
    warnings.push(
      `--speculative-num-draft-tokens ${flags.speculativeNumDraftTokens} with topk 1 should be --speculative-num-steps + 1 = ${flags.speculativeNumSteps + 1}; SGLang adjusts it`,
    );
  }
  if (spec !== undefined && extraFlagValue(extraFlags, "--enable-mixed-chunk") !== undefined) {
    problems.push(problem("extraFlags", `--enable-mixed-chunk cannot be combined with --speculative-algorithm ${spec}`, "remove --enable-mixed-chunk from extraFlags"));
  }
  return { problems, warnings };
}

/** GPU use, context length, watchdog and loader settings. */
export function sizingFindings(flags: SglangFlags, host: SglangHostFacts): FlagFindings {
  const problems: SglangFlagProblem[] = [];
  const warnings: string[] = [];
  if (flags.tpSize === undefined && host.gpuCount !== undefined && host.gpuCount > 1) {
    warnings.push(`--tp-size is unset, so SGLang uses 1 GPU of ${host.gpuCount}; set tpSize`);
  }
  if (flags.contextLength !== undefined && isPositiveInt(flags.contextLength) && flags.reasoningParser !== undefined && flags.contextLength < 131072) {
    warnings.push(`--context-length ${flags.contextLength} is below 128K; long thinking traces may be truncated`);
  }
  if (flags.watchdogTimeout !== undefined && !(typeof flags.watchdogTimeout === "number" && flags.watchdogTimeout > 0)) {
    problems.push(flagProblem("watchdogTimeout", `--watchdog-timeout ${flags.watchdogTimeout} must be a positive number of seconds`, "recipes use >= 1200"));
  }
  const loaderProblem = modelLoaderConfigProblem(flags.modelLoaderExtraConfig);
  if (loaderProblem !== undefined) problems.push(loaderProblem);
  return { problems, warnings };
}

/** `--model-loader-extra-config` must be a JSON object (given as one, or as its text). */
export function modelLoaderConfigProblem(raw: unknown): SglangFlagProblem | undefined {
  const fix = `pass an object such as {"enable_multithread_load": true}`;
  if (raw === undefined) return undefined;
  if (typeof raw === "string") {
    try {
      JSON.parse(raw);
      return undefined;
    } catch {
      return flagProblem("modelLoaderExtraConfig", `--model-loader-extra-config ${raw} is not valid JSON`, fix);
    }
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return flagProblem("modelLoaderExtraConfig", `--model-loader-extra-config must be a JSON object, got ${JSON.stringify(raw)}`, fix);
  }
  return undefined;
}

/** Free-form extra tokens: no secrets, no duplicates of typed flags, no whitespace inside a token; unknown or deprecated names warn. */
export function extraFlagFindings(flags: SglangFlags, extraFlags: readonly string[]): FlagFindings {
  const problems: SglangFlagProblem[] = [];
  const warnings: string[] = [];
  const typedFlags = new Map(FLAG_TABLE.map((s) => [s.flag, s.key] as const));
  for (const token of extraFlags) {
    const secret = secretFlagProblem(token);
    if (secret !== undefined) {
      problems.push(
        problem(
          "extraFlags",
          `${token.split("=")[0]} must not be passed in extraFlags: it ${secret}, and argv is stored in state and visible in docker inspect and ps`,
          "set the component's apiKey (a secret, config sglangApiKey) instead",
        ),
      );
    }
  }
  for (const name of extraFlagNames(extraFlags)) {
    if (secretFlagProblem(name) !== undefined) continue;
    const key = typedFlags.get(name);
    if (key !== undefined) {
      if (flags[key] !== undefined) {
        problems.push(problem("extraFlags", `${name} is set both by the preset/overrides (${key}=${JSON.stringify(flags[key])}) and in extraFlags`, `set it once, via flagOverrides.${key}`));
      }
      continue;
    }
    const warning = unmodelledFlagWarning(name);
    if (warning !== undefined) warnings.push(warning);
  }
  for (const token of extraFlags) {
    if (/\s/.test(token) && token.startsWith("--")) {
      problems.push(problem("extraFlags", `extra flag token "${token}" contains whitespace`, `pass the flag and its value as separate tokens, e.g. ["--cuda-graph-max-bs", "64"]`));
    }
  }
  return { problems, warnings };
}

/** The warning for an extra flag this release deprecates or does not have; undefined for a current server flag. */
function unmodelledFlagWarning(name: string): string | undefined {
  const replacement = deprecatedFlagReplacement(name);
  if (replacement !== undefined) return `extra flag ${name} is deprecated in SGLang ${SGLANG_RELEASE_VERSION}${replacement === null ? "" : `; use ${replacement}`}`;
  if ((SGLANG_RELEASE.serverFlags as readonly string[]).includes(name)) return undefined;
  return `extra flag ${name} is not a server flag of SGLang ${SGLANG_RELEASE_VERSION}; it is passed through unchanged, check the spelling against the pinned image's --help`;
}


/**
 * SGLang 0.5.14's mamba radix-cache rules for the Qwen3.5 architecture on SM100 (B200), as
 * `ServerArgs._handle_mamba_radix_cache` applies them at start (the conformance suite runs the real ones):
 * - `auto` (the default) becomes `extra_buffer` when the overlap scheduler is on or pages are > 1 token
 *   and the linear-attention backend is `triton` (its default), else `no_buffer`;
 * - `no_buffer` needs page size 1, `--disable-overlap-schedule`, and an attention backend other than
 *   `trtllm_mha` (which SGLang also picks itself on SM100 when speculative decoding is on and none is set);
 * - `extra_buffer` needs the `triton` linear-attention backend; with speculative decoding the lazy variant
 *   is refused and `--mamba-track-interval` (256) must be at least the draft-token count.
 * Nothing applies with `--disable-radix-cache`.
 */
export function mambaRadixCacheProblems(flags: SglangFlags, extraFlags: readonly string[]): SglangFlagProblem[] {
  if (extraFlagValue(extraFlags, "--disable-radix-cache") !== undefined) return [];
  const fromExtra = extraFlagValue(extraFlags, "--mamba-radix-cache-strategy") ?? extraFlagValue(extraFlags, "--mamba-scheduler-strategy");
  const chosen = flags.mambaRadixCacheStrategy ?? (typeof fromExtra === "string" ? fromExtra : "auto");
  const overlapOff = extraFlagValue(extraFlags, "--disable-overlap-schedule") !== undefined;
  const pageRaw = extraFlagValue(extraFlags, "--page-size");
  const pageSize = typeof pageRaw === "string" ? Number(pageRaw) : undefined;
  const linearRaw = extraFlagValue(extraFlags, "--linear-attn-backend");
  const extraBufferSupported = linearRaw === undefined || linearRaw === "triton";
  const strategy = chosen === "auto" ? ((!overlapOff || (pageSize ?? 1) > 1) && extraBufferSupported ? "extra_buffer" : "no_buffer") : chosen;
  const where = `SGLang ${SGLANG_RELEASE_VERSION} refuses it at start`;
  const named = chosen === "auto" ? `--mamba-radix-cache-strategy auto (resolves to ${strategy} here)` : `--mamba-radix-cache-strategy ${chosen}`;
  const problems: SglangFlagProblem[] = [];
  if (strategy === "no_buffer") {
    const trtllm = flags.attentionBackend === "trtllm_mha" || (flags.attentionBackend === undefined && flags.speculativeAlgorithm !== undefined);
    if (trtllm) {
      problems.push(
        flagProblem(
          "mambaRadixCacheStrategy",
          `${named} cannot run with the trtllm_mha attention backend${flags.attentionBackend === undefined ? " (SGLang picks it on B200 when speculative decoding is on)" : ""}; ${where}`,
          `set mambaRadixCacheStrategy: "extra_buffer", or attentionBackend: "triton"`,
        ),
      );
    }
    if (!overlapOff) problems.push(flagProblem("mambaRadixCacheStrategy", `${named} needs --disable-overlap-schedule; ${where}`, `add "--disable-overlap-schedule" to extraFlags, or use "extra_buffer"`));
    if (pageSize !== undefined && pageSize > 1) problems.push(flagProblem("mambaRadixCacheStrategy", `${named} needs --page-size 1 (got ${pageSize}); ${where}`, `remove --page-size or use "extra_buffer"`));
  } else if (strategy === "extra_buffer" || strategy === "extra_buffer_lazy") {
    if (!extraBufferSupported) {
      problems.push(flagProblem("mambaRadixCacheStrategy", `${named} needs --linear-attn-backend triton (got ${String(linearRaw)}); ${where}`, `remove --linear-attn-backend or use "no_buffer"`));
    }
    if (flags.speculativeAlgorithm !== undefined) {
      if (strategy === "extra_buffer_lazy") {
        problems.push(flagProblem("mambaRadixCacheStrategy", `${named} cannot be combined with --speculative-algorithm ${flags.speculativeAlgorithm}; ${where}`, `use "extra_buffer"`));
      }
      const trackRaw = extraFlagValue(extraFlags, "--mamba-track-interval");
      const track = typeof trackRaw === "string" ? Number(trackRaw) : 256;
      const draft = flags.speculativeNumDraftTokens;
      if (draft !== undefined && Number.isFinite(track) && track < draft) {
        problems.push(problem("extraFlags", `--mamba-track-interval ${track} is below --speculative-num-draft-tokens ${draft}; ${where}`, `raise --mamba-track-interval to at least ${draft}`));
      }
    }
  }
  return problems;
}

function largestDivisorAtMost(n: number, max: number): number {
  for (let d = Math.min(n, max); d >= 1; d--) if (n % d === 0) return d;
  return 1;
}

/**
 * Overrides written with SGLang's own flag names (`{"mem-fraction-static": 0.8}`, as stack config
 * holds them) → typed overrides. Values given as text are coerced by the flag's kind; names that
 * are not modelled come back in `unknown` so the caller can point at them.
 */
export function overridesFromFlagNames(byName: Readonly<Record<string, string | number | boolean>>): {
  overrides: SglangFlagOverrides;
  unknown: string[];
  errors: string[];
} {
  const overrides: Record<string, unknown> = {};
  const unknown: string[] = [];
  const errors: string[] = [];
  for (const [rawName, value] of Object.entries(byName)) {
    const written = `--${rawName.replace(/^--/, "")}`;
    // A deprecated alias (`mamba-scheduler-strategy`) sets the flag it was renamed to.
    const flag = deprecatedFlagReplacement(written) ?? written;
    const spec = FLAG_TABLE.find((s) => s.flag === flag);
    if (!spec) {
      unknown.push(flag);
      continue;
    }
    const coerced = coerceFlagValue(spec.kind, value);
    if (coerced === undefined) errors.push(`${flag} = ${JSON.stringify(value)} is not a valid ${spec.kind}`);
    else overrides[spec.key] = coerced;
  }
  return { overrides: overrides as SglangFlagOverrides, unknown, errors };
}

function coerceFlagValue(kind: FlagKind, value: string | number | boolean): unknown {
  switch (kind) {
    case "bool":
      if (typeof value === "boolean") return value;
      return value === "true" ? true : value === "false" ? false : undefined;
    case "int": {
      const n = typeof value === "number" ? value : Number(value);
      return Number.isInteger(n) ? n : undefined;
    }
    case "float": {
      const n = typeof value === "number" ? value : Number(value);
      return Number.isFinite(n) ? n : undefined;
    }
    case "json":
      if (typeof value !== "string") return undefined;
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return undefined;
      }
    default:
      return String(value);
  }
}
