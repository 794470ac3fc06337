/**
 * The benchmark layer's config slice: the benchmark keys (the schema entries Pulumi.yaml is generated
 * from), their parser (workload presets, thresholds, the capacity search and its SLOs) and the checks
 * that need nothing outside this layer.
 */
import type { ConfigProblem, SettingsReader } from "../configSlice";
import { matches, URL_PATH } from "../configSlice";
import { durationMs } from "../duration";
import { PROJECT } from "../projectFacts";
import { THRESHOLD_KEYS, type BenchmarkThresholds } from "./baseline";
import { SLO_NAMES, type CapacitySlo } from "./capacity";
import { CAPACITY_DIMENSIONS, type CapacityDimension, type CapacitySettings } from "./capacityCommand";
import { bundledTokenizerProblem } from "./remoteRunner";
import type { PlanSettings } from "./stackPlan";
import { BENCHMARK_RUNNERS, runnerWorkloadProblems, SEED_WORKLOAD, type BenchmarkRunnerKind, type PrefixRepetitionWorkload } from "./workload";

/** A StackReference name: `stack`, `project/stack` or `org/project/stack`. */
const STACK_REFERENCE_NAME = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+){0,2}$/;

/** How the benchmark runs: `vllm bench serve` on the host, or the native runner here. */
export type BenchmarkRunner = BenchmarkRunnerKind;

/** Named workloads; `coding` is the seed's (8192 in / 1024 out, 512 prompts, 32 concurrent). */
export const WORKLOADS = {
  coding: {
    inputLen: SEED_WORKLOAD.inputLen,
    outputLen: SEED_WORKLOAD.outputLen,
    numPrompts: SEED_WORKLOAD.numPrompts,
    concurrency: SEED_WORKLOAD.maxConcurrency,
  },
  /** A scaled-down rehearsal for the `local` stack and pipelines (seconds, not minutes). */
  smoke: { inputLen: 512, outputLen: 64, numPrompts: 32, concurrency: 8 },
  /**
   * Coding traffic that shares context: vllm's `prefix_repetition` dataset with 8 repositories' contexts of 7680
   * tokens, each request one of them plus 512 tokens of its own (a question, a diff). 7680 + 512 = the seed's 8192
   * and the same 1024 out, 512 prompts, 32 in flight, so against `coding` only the sharing differs; 8 contexts (more
   * than the replicas a router spreads them over) of 64 requests each: at most 8 prefill misses a run, and 8 × 7680
   * tokens of KV fit any GPU's cache many times over. Sizes: `benchmarkPrefixRepetition`.
   */
  "coding-prefix": {
    inputLen: SEED_WORKLOAD.inputLen,
    outputLen: SEED_WORKLOAD.outputLen,
    numPrompts: SEED_WORKLOAD.numPrompts,
    concurrency: SEED_WORKLOAD.maxConcurrency,
    prefixRepetition: { prefixLen: 7680, suffixLen: 512, numPrefixes: 8 },
  },
} as const;
export type WorkloadName = keyof typeof WORKLOADS;

export const BENCHMARK_KEYS = {
  benchmarkEnabled: { type: "boolean", default: true, description: "Run the benchmark after deploy and export its metrics." },
  benchmarkScalingEfficiency: { type: "boolean", default: false, description: "With `replicas` > 1: also run the benchmark against the first worker alone (before the one through the router) and export `benchmark.scalingEfficiency` = router throughput ÷ (replicas × one worker's)." },
  benchmarkRunner: { type: "string", default: "remote", description: "`remote` (vllm bench serve in a container on the host) or `native` (the TypeScript runner on the machine running Pulumi)." },
  benchmarkWorkload: { type: "string", default: "coding", description: "Workload preset: `coding` (seed: 8192/1024, 512 prompts, 32 concurrent), `smoke`, or `coding-prefix` (the seed's sizes as shared context: 8 prefixes of 7680 tokens + 512 of each request's own, vllm's prefix_repetition dataset; sizes in benchmarkPrefixRepetition)." },
  benchmarkPrefixRepetition: { type: "object", default: {}, description: "With benchmarkWorkload `coding-prefix`: {prefixLen, suffixLen, numPrefixes} of the shared contexts (vllm's --prefix-repetition-*); unset fields from the preset (7680, 512, 8). The input length is prefixLen + suffixLen; benchmarkNumPrompts must be a multiple of numPrefixes." },
  benchmarkInputLen: { type: "integer", default: 0, description: "Input tokens per prompt (0 = from the workload)." },
  benchmarkOutputLen: { type: "integer", default: 0, description: "Output tokens per request (0 = from the workload)." },
  benchmarkNumPrompts: { type: "integer", default: 0, description: "Number of prompts (0 = from the workload)." },
  benchmarkConcurrency: { type: "integer", default: 0, description: "Maximum concurrent requests (0 = from the workload)." },
  benchmarkEndpoint: { type: "string", default: "/v1/chat/completions", description: "API path the benchmark posts to (letters, digits and `/._~-`). Remote runner: vllm's backend follows it (`…/chat/completions` → `openai-chat`, `…/completions` → `openai`; any other path is refused). Native runner: chat completions only." },
  benchmarkTokenizer: { type: "string", default: "", description: "Tokenizer the random prompts are built with; empty = the model's own (a runner that cannot load it fails, never falls back). Otherwise a hub id, a host path, or `bundled` (the native runner's packaged Qwen3 tokenizer, e.g. for the simulator)." },
  benchmarkTimeout: { type: "string", default: "2h", description: "Hard timeout of one benchmark run (1m-24h)." },
  benchmarkThresholds: { type: "object", default: {}, description: "Optional gates: {minOutputThroughput, minTotalTokenThroughput, minOutputThroughputRatio, maxTtftP99Ms, maxTpotP99Ms, maxFailedRequests}; a miss fails the update." },
  benchmarkReportDir: { type: "string", default: "reports", description: "Where the Markdown report and SVG chart are written." },
  benchmarkCapacity: {
    type: "object",
    default: {},
    description:
      "Capacity search after the fixed run (native runner: requests from this machine; remote runner: the pinned vllm container once per level on the host, over SSH): {concurrencyRange: \"8:256\", promptsPerConcurrency, repeats, resolution, warmupRequests, maxDuration: \"2h\"}, or a request-rate search (open loop, gamma arrivals as vllm's): {dimension: rate, rateRange: \"0.5:16\" (req/s), burstiness: 1 (Poisson), maxConcurrency (client slots; default none), resolution (req/s), warmupRequests (default: benchmarkConcurrency)}; {} = off. Exported as benchmark.capacity.",
  },
  benchmarkSlo: { type: "object", default: {}, description: "p99 limits of the capacity search in ms: {ttft_p99_ms, itl_p99_ms, tpot_p99_ms, e2el_p99_ms}." },
  benchmarkPlan: {
    type: "object",
    default: {},
    description:
      "Deployment plan from the capacity search (needs benchmarkCapacity and benchmarkSlo): {targetUsers: N concurrent} or {targetRate: R req/s}, and optionally replicaPriceUsd (default: one replica's machine at its live price). Exported as benchmark.plan: replicas, $/h, $/1M tokens and headroom; with a router, the scaling efficiency measured by benchmarkScalingEfficiency. {} = off.",
  },
  benchmarkCompareStack: { type: "string", default: "", description: "Another stack whose `benchmark` outputs this stack's run is compared with (StackReference name: `org/project/stack`, or `stack` on a file backend); empty = only this stack's previous run. Deltas in benchmark.comparison and the report." },
  benchmarkVllmImage: { type: "string", default: "vllm/vllm-openai:v0.18.0", description: "Pinned image whose `vllm bench serve` the `remote` runner runs on the host." },
} as const;

export type BenchmarkKey = keyof typeof BENCHMARK_KEYS;

export type { BenchmarkThresholds };

export interface BenchmarkSettings {
  readonly enabled: boolean;
  /** With a router: measure one worker alone too, for `scalingEfficiency`. */
  readonly scalingEfficiency: boolean;
  readonly runner: BenchmarkRunner;
  readonly workload: WorkloadName;
  readonly inputLen: number;
  readonly outputLen: number;
  readonly numPrompts: number;
  readonly concurrency: number;
  /** Shared-prefix prompts (the `coding-prefix` preset); undefined = the random dataset. */
  readonly prefixRepetition?: PrefixRepetitionWorkload;
  readonly endpoint: string;
  /** A tokenizer chosen explicitly; undefined = the model's own. */
  readonly tokenizer?: string;
  readonly timeoutMs: number;
  readonly thresholds: BenchmarkThresholds;
  readonly reportDir: string;
  /** The capacity search; undefined when `benchmarkCapacity` is {} (off). */
  readonly capacity: CapacitySettings | undefined;
  /** The deployment plan asked for (`benchmarkPlan`); undefined = none. */
  readonly plan: PlanSettings | undefined;
  /** StackReference name of the stack compared with; undefined = none. */
  readonly compareStack: string | undefined;
  readonly vllmImage: string;
}

/** Reads the benchmark keys; the workload preset fills the sizes left unset (or 0). */
export function readBenchmarkSettings(r: SettingsReader<BenchmarkKey>): BenchmarkSettings {
  const workloadName = r.oneOf("benchmarkWorkload", Object.keys(WORKLOADS) as WorkloadName[]);
  const workload = WORKLOADS[workloadName] ?? WORKLOADS.coding;
  const prefixRepetition = readPrefixRepetition(r, "benchmarkPrefixRepetition", "prefixRepetition" in workload ? workload.prefixRepetition : undefined);
  return {
    ...(prefixRepetition === undefined ? {} : { prefixRepetition }),
    enabled: r.boolean("benchmarkEnabled"),
    scalingEfficiency: r.boolean("benchmarkScalingEfficiency"),
    runner: r.oneOf("benchmarkRunner", BENCHMARK_RUNNERS),
    workload: workloadName,
    inputLen: prefixRepetition === undefined ? r.integer("benchmarkInputLen", 1, 1_048_576, workload.inputLen) : sharedPrefixInputLen(r, prefixRepetition),
    outputLen: r.integer("benchmarkOutputLen", 1, 262_144, workload.outputLen),
    numPrompts: r.integer("benchmarkNumPrompts", 1, 1_000_000, workload.numPrompts),
    concurrency: r.integer("benchmarkConcurrency", 1, 100_000, workload.concurrency),
    endpoint: r.pattern("benchmarkEndpoint", matches(URL_PATH, "is not a URL path ('/' then letters, digits and /._~-)"), "/v1/chat/completions"),
    tokenizer: r.optionalString("benchmarkTokenizer"),
    timeoutMs: r.duration("benchmarkTimeout", { min: "1m", max: "24h" }),
    thresholds: readThresholds(r, "benchmarkThresholds"),
    reportDir: r.string("benchmarkReportDir"),
    capacity: readCapacity(r, "benchmarkCapacity", "benchmarkSlo"),
    plan: readPlan(r, "benchmarkPlan"),
    compareStack: r.pattern("benchmarkCompareStack", matches(STACK_REFERENCE_NAME, "is not a stack name (stack, or org/project/stack: letters, digits, '.', '_', '-')"), "myorg/hgx-inference/prod", { optional: true }) || undefined,
    vllmImage: r.imageRef("benchmarkVllmImage"),
  };
}

/** A shared-prefix prompt's length (prefix + suffix); an explicit, different `benchmarkInputLen` is refused. */
function sharedPrefixInputLen(r: SettingsReader<BenchmarkKey>, p: PrefixRepetitionWorkload): number {
  const inputLen = p.prefixLen + p.suffixLen;
  const given = r.integer("benchmarkInputLen", 0, 1_048_576, 0);
  if (given !== 0 && given !== inputLen) {
    r.fail("benchmarkInputLen", given, `conflicts with the coding-prefix workload, whose prompts are prefixLen + suffixLen = ${inputLen} tokens`, `pulumi config rm ${PROJECT}:benchmarkInputLen, and size the prompts with benchmarkPrefixRepetition.prefixLen / suffixLen`);
  }
  return inputLen;
}

/**
 * `benchmarkPrefixRepetition` over the preset's sizes (undefined: a preset without shared prefixes, where the key
 * must stay empty).
 */
function readPrefixRepetition(r: SettingsReader<BenchmarkKey>, key: BenchmarkKey, preset: PrefixRepetitionWorkload | undefined): PrefixRepetitionWorkload | undefined {
  const v = r.json(key);
  const given = typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  if (v !== undefined && given === undefined) {
    r.fail(key, v, "is not an object", `pulumi config set --path '${PROJECT}:${key}.prefixLen' 7680`);
    return preset;
  }
  if (preset === undefined) {
    if (given !== undefined && Object.keys(given).length > 0) r.fail(key, v, "applies to benchmarkWorkload coding-prefix only", `pulumi config set ${PROJECT}:benchmarkWorkload coding-prefix, or pulumi config rm ${PROJECT}:${key}`);
    return undefined;
  }
  const out = { ...preset };
  for (const [name, raw] of Object.entries(given ?? {})) {
    if (name !== "prefixLen" && name !== "suffixLen" && name !== "numPrefixes") {
      r.fail(`${key}.${name}`, raw, "is not a known size", "use prefixLen, suffixLen, numPrefixes");
      continue;
    }
    const n = typeof raw === "string" ? Number(raw) : raw;
    // The workload's own limit (resolveWorkload), so a size accepted here is one the Benchmark accepts.
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 1_000_000) {
      r.fail(`${key}.${name}`, raw, "must be a whole number between 1 and 1000000", `pulumi config set --path '${PROJECT}:${key}.${name}' ${preset[name]}`);
      continue;
    }
    out[name] = n;
  }
  return out;
}

function readThresholds(r: SettingsReader<BenchmarkKey>, key: BenchmarkKey): BenchmarkThresholds {
  const v = r.json(key);
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    r.fail(key, v, "is not an object", `pulumi config set --path '${PROJECT}:${key}.minOutputThroughput' 1000`);
    return {};
  }
  const known = THRESHOLD_KEYS;
  const out: { -readonly [K in keyof BenchmarkThresholds]: number } = {};
  for (const [name, value] of Object.entries(v as Record<string, unknown>)) {
    if (!(known as readonly string[]).includes(name)) {
      r.fail(`${key}.${name}`, value, "is not a known threshold", `use one of ${known.join(", ")}`);
      continue;
    }
    const n = typeof value === "string" ? Number(value) : value;
    if (typeof n !== "number" || !Number.isFinite(n) || n < 0) {
      r.fail(`${key}.${name}`, value, "must be a number >= 0", `pulumi config set --path '${PROJECT}:${key}.${name}' <number>`);
      continue;
    }
    out[name as keyof BenchmarkThresholds] = n;
  }
  return out;
}
/** `benchmarkPlan`: one target and an optional price; undefined when empty (off). */
function readPlan(r: SettingsReader<BenchmarkKey>, key: BenchmarkKey): PlanSettings | undefined {
  const v = r.json(key);
  if (v === undefined) return undefined;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    r.fail(key, v, "is not an object", `pulumi config set --path '${PROJECT}:${key}.targetUsers' 100`);
    return undefined;
  }
  const o = v as Record<string, unknown>;
  if (Object.keys(o).length === 0) return undefined;
  const known = ["targetUsers", "targetRate", "replicaPriceUsd"];
  for (const name of Object.keys(o)) if (!known.includes(name)) r.fail(`${key}.${name}`, o[name], "is not a known setting", `use ${known.join(", ")}`);
  const number = (name: string, ok: (n: number) => boolean, reason: string, example: string): number | undefined => {
    const raw = o[name];
    if (raw === undefined) return undefined;
    const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
    if (typeof n !== "number" || !Number.isFinite(n) || !ok(n)) {
      r.fail(`${key}.${name}`, raw, reason, `pulumi config set --path '${PROJECT}:${key}.${name}' ${example}`);
      return undefined;
    }
    return n;
  };
  const users = number("targetUsers", (n) => n > 0, "must be a number of concurrent users > 0", "100");
  const rate = number("targetRate", (n) => n > 0, "must be a number of requests/s > 0", "20");
  const replicaPriceUsd = number("replicaPriceUsd", (n) => n >= 0, "must be a number of dollars per replica-hour >= 0", "39.92");
  if ((o.targetUsers === undefined) === (o.targetRate === undefined)) {
    r.fail(key, v, "needs exactly one of targetUsers and targetRate", `pulumi config set --path '${PROJECT}:${key}.targetUsers' 100 (or .targetRate 20, not both)`);
    return undefined;
  }
  if (users === undefined && rate === undefined) return undefined;
  return { target: users !== undefined ? { users } : { requestsPerS: rate as number }, ...(replicaPriceUsd === undefined ? {} : { replicaPriceUsd }) };
}

/** `benchmarkCapacity` + `benchmarkSlo`; undefined when the capacity object is empty (off). */
function readCapacity(r: SettingsReader<BenchmarkKey>, key: BenchmarkKey, sloKey: BenchmarkKey): CapacitySettings | undefined {
  const v = r.json(key);
  const sloRaw = r.json(sloKey);
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
  if (v !== undefined && !isObject(v)) {
    r.fail(key, v, "is not an object", `pulumi config set --path '${PROJECT}:${key}.concurrencyRange' 8:256`);
    return undefined;
  }
  let slo: CapacitySlo | undefined;
  if (sloRaw !== undefined && !isObject(sloRaw)) {
    r.fail(sloKey, sloRaw, "is not an object", `pulumi config set --path '${PROJECT}:${sloKey}.ttft_p99_ms' 3000`);
  } else if (sloRaw !== undefined && Object.keys(sloRaw).length > 0) {
    const out: Record<string, number> = {};
    for (const [name, value] of Object.entries(sloRaw)) {
      const field = SLO_NAMES[name];
      const n = typeof value === "string" ? Number(value) : value;
      if (!field) r.fail(`${sloKey}.${name}`, value, "is not a known SLO", `use ${Object.keys(SLO_NAMES).join(", ")}`);
      else if (typeof n !== "number" || !Number.isFinite(n) || n <= 0) r.fail(`${sloKey}.${name}`, value, "must be a number of milliseconds > 0", `pulumi config set --path '${PROJECT}:${sloKey}.${name}' 3000`);
      else out[field] = n;
    }
    slo = out;
  }
  if (v === undefined || Object.keys(v).length === 0) return undefined;
  const known = ["dimension", "concurrencyRange", "rateRange", "burstiness", "maxConcurrency", "promptsPerConcurrency", "repeats", "resolution", "warmupRequests", "maxDuration"];
  for (const name of Object.keys(v)) {
    if (!known.includes(name)) r.fail(`${key}.${name}`, v[name], "is not a known setting", `use ${known.join(", ")}`);
  }
  const dimension = capacityDimension(r, key, v.dimension);
  const rangeKey = dimension === "rate" ? "rateRange" : "concurrencyRange";
  const range = readRange(r, key, rangeKey, v[rangeKey]);
  const other = dimension === "rate" ? ["concurrencyRange"] : ["rateRange", "burstiness", "maxConcurrency"];
  for (const name of other.filter((n) => v[n] !== undefined)) {
    r.fail(`${key}.${name}`, v[name], `does not apply to a ${dimension} search`, dimension === "rate" ? `drop it (the rate search sets maxConcurrency for its client slots)` : `drop it, or pulumi config set --path '${PROJECT}:${key}.dimension' rate`);
  }
  const whole = (name: string, min: number): number | undefined => {
    const raw = v[name];
    if (raw === undefined) return undefined;
    const n = typeof raw === "string" ? Number(raw) : raw;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min) {
      r.fail(`${key}.${name}`, raw, `must be a whole number >= ${min}`, `pulumi config set --path '${PROJECT}:${key}.${name}' ${Math.max(min, 1)}`);
      return undefined;
    }
    return n;
  };
  let maxDurationS: number | undefined;
  if (v.maxDuration !== undefined) {
    const text = String(v.maxDuration);
    const ms = /^\d+$/.test(text) ? Number(text) * 1000 : durationMs(text);
    if (ms === undefined || !(ms > 0)) r.fail(`${key}.maxDuration`, v.maxDuration, "is not a positive duration", `pulumi config set --path '${PROJECT}:${key}.maxDuration' 2h`);
    else maxDurationS = ms / 1000;
  }
  const positive = (name: string, example: string): number | undefined => {
    const raw = v[name];
    if (raw === undefined) return undefined;
    const n = typeof raw === "string" ? Number(raw) : raw;
    if (typeof n !== "number" || !Number.isFinite(n) || n <= 0) {
      r.fail(`${key}.${name}`, raw, "must be a number > 0", `pulumi config set --path '${PROJECT}:${key}.${name}' ${example}`);
      return undefined;
    }
    return n;
  };
  return {
    ...(dimension === "rate"
      ? { dimension, rateRange: range, burstiness: positive("burstiness", "1"), maxConcurrency: whole("maxConcurrency", 1) }
      : { concurrencyRange: range }),
    slo,
    promptsPerConcurrency: whole("promptsPerConcurrency", 1),
    repeats: whole("repeats", 1),
    resolution: dimension === "rate" ? positive("resolution", "0.25") : whole("resolution", 1),
    warmupRequests: whole("warmupRequests", 0),
    maxDurationS,
  };
}

function capacityDimension(r: SettingsReader<BenchmarkKey>, key: BenchmarkKey, raw: unknown): CapacityDimension {
  if (raw === undefined) return "concurrency";
  if (typeof raw === "string" && (CAPACITY_DIMENSIONS as readonly string[]).includes(raw)) return raw as CapacityDimension;
  r.fail(`${key}.dimension`, raw, `is not ${CAPACITY_DIMENSIONS.join(" or ")}`, `pulumi config set --path '${PROJECT}:${key}.dimension' rate (and ${key}.rateRange 0.5:16)`);
  return "concurrency";
}

/** `LOW:HIGH`: whole numbers ≥ 1 for concurrency, numbers > 0 (req/s) for a rate; a refused range reads as 1:1. */
function readRange(r: SettingsReader<BenchmarkKey>, key: BenchmarkKey, rangeKey: "concurrencyRange" | "rateRange", raw: unknown): { low: number; high: number } {
  const whole = rangeKey === "concurrencyRange";
  const m = typeof raw === "string" ? (whole ? /^\s*(\d+)\s*:\s*(\d+)\s*$/ : /^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$/).exec(raw) : null;
  const low = m ? Number(m[1]) : NaN;
  const high = m ? Number(m[2]) : NaN;
  if (!m || !(whole ? low >= 1 : low > 0) || low > high) {
    const example = whole ? "8:256" : "0.5:16";
    r.fail(`${key}.${rangeKey}`, raw, whole ? "is not LOW:HIGH with 1 <= LOW <= HIGH" : "is not LOW:HIGH requests/s with 0 < LOW <= HIGH", `pulumi config set --path '${PROJECT}:${key}.${rangeKey}' ${example}`);
    return { low: 1, high: 1 };
  }
  return { low, high };
}

/** The benchmark checks that need no other layer; `sloGiven`: `benchmarkSlo` holds something. */
export function benchmarkProblems(b: BenchmarkSettings, sloGiven: boolean): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (key: BenchmarkKey, message: string) => problems.push({ key, message });
  if (b.prefixRepetition !== undefined && b.numPrompts % b.prefixRepetition.numPrefixes !== 0)
    add(
      "benchmarkNumPrompts",
      `= ${b.numPrompts} is not a multiple of benchmarkPrefixRepetition.numPrefixes = ${b.prefixRepetition.numPrefixes}: vllm sends numPrompts ÷ numPrefixes requests per prefix and drops the rest. Fix: pulumi config set ${PROJECT}:benchmarkNumPrompts ${Math.max(b.prefixRepetition.numPrefixes, b.numPrompts - (b.numPrompts % b.prefixRepetition.numPrefixes))}`,
    );
  if (b.concurrency > b.numPrompts)
    add("benchmarkConcurrency", `= ${b.concurrency} exceeds benchmarkNumPrompts = ${b.numPrompts}: the extra slots would never be used. Fix: lower the concurrency or raise the prompt count`);
  if (!b.endpoint.startsWith("/"))
    add("benchmarkEndpoint", `= "${b.endpoint}" must be a path starting with '/'. Fix: /v1/chat/completions`);
  else
    for (const p of runnerWorkloadProblems({ endpoint: b.endpoint, ignoreEos: true }, b.runner))
      add(
        "benchmarkEndpoint",
        `= "${b.endpoint}" cannot be run by the ${b.runner} runner: ${p.why}. Fix: pulumi config set ${PROJECT}:benchmarkEndpoint /v1/chat/completions` +
          (b.runner === "native" ? `, or pulumi config set ${PROJECT}:benchmarkRunner remote (vllm's openai backend for /v1/completions)` : " (or /v1/completions)"),
      );
  // The remote runner's image is the pinned vllm one here (a stand-in image that runs the native runner could load it).
  const bundledProblem = b.tokenizer === "bundled" && b.runner === "remote" ? bundledTokenizerProblem(b.vllmImage) : undefined;
  if (bundledProblem)
    add("benchmarkTokenizer", `= "bundled": the ${bundledProblem}. Fix: pulumi config rm ${PROJECT}:benchmarkTokenizer (the model's own tokenizer), or set benchmarkRunner native`);
  if (b.plan !== undefined && (b.capacity === undefined || b.capacity.slo === undefined))
    add("benchmarkPlan", `is set, but a plan needs the capacity under SLOs, and ${b.capacity === undefined ? "benchmarkCapacity" : "benchmarkSlo"} is not set. Fix: pulumi config set --path '${PROJECT}:${b.capacity === undefined ? "benchmarkCapacity.concurrencyRange' 8:256" : "benchmarkSlo.ttft_p99_ms' 3000"}`);
  if (b.plan !== undefined && "users" in b.plan.target && b.capacity?.dimension === "rate")
    add("benchmarkPlan", `.targetUsers needs a concurrency search, but benchmarkCapacity.dimension is rate. Fix: plan for a rate (pulumi config set --path '${PROJECT}:benchmarkPlan.targetRate' 20 after removing targetUsers), or search the concurrency`);
  if (b.capacity === undefined && sloGiven)
    add("benchmarkSlo", `is set but benchmarkCapacity is not, so no search would use it. Fix: pulumi config set --path '${PROJECT}:benchmarkCapacity.concurrencyRange' 8:256`);
  return problems;
}
