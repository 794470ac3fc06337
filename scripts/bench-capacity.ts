/**
 * `npm run bench:capacity -- --base-url URL --served-model-name NAME --random-input-len N --random-output-len M
 *   --num-prompts P --slo ttft_p99_ms=X --slo itl_p99_ms=Y --concurrency-range LO:HI [--json]`
 *
 * The capacity answer with the native runner: brackets and bisects to the highest concurrency (or request rate)
 * meeting the p99 SLOs, one warm-up and one measured run per level, and prints every measured point and
 * `capacity.maxConcurrency`. Every `npm run bench` flag is accepted and means the same (workload, tokenizer,
 * timeouts, --json, --no-progress); the flags below are added. Progress and the plan go to stderr.
 * Exit codes: 0 search finished (whatever it found), 1 the runner could not run, 2 bad arguments.
 */
import { parseArgs } from "node:util";
import { BenchUsageError, parseBenchArgs, USAGE as BENCH_USAGE, type BenchCliPlan } from "./bench";
import { durationMs } from "../components/duration";
import { parseSshDestination } from "../components/benchmark/capacityRemote";
import { DEFAULT_HF_CACHE_DIR, DEFAULT_REMOTE_RESULT_DIR, DEFAULT_VLLM_IMAGE } from "../components/benchmark/remoteRunner";
import type { PlanTarget } from "../components/benchmark/deploymentPlan";
import { datasetLabel, type CapacityProvenance } from "../components/benchmark/provenance";
import type { PrefixRepetitionWorkload } from "../components/benchmark/workload";
import {
  formatPlan,
  parseSloItems,
  planCapacitySearch,
  validateRange,
  type CapacityAxis,
  type CapacityPlan,
  type CapacityPoint,
  type CapacityResult,
  type CapacitySlo,
  type CapacitySummary,
  type LoadLevel,
} from "../components/benchmark/capacity";
import type { LoadedTokenizer } from "../components/benchmark/runner/tokenizer";

export const CAPACITY_USAGE = `Usage: npm run bench:capacity -- --base-url URL --served-model-name NAME --concurrency-range LO:HI --slo NAME=MS ... [bench options]

Capacity search
  --concurrency-range LO:HI    search concurrency from LO, doubling until a level misses an SLO, then bisect
  --request-rate-range LO:HI   search the request rate (req/s) instead, at --max-concurrency (default: --num-prompts)
  --slo NAME=MS                p99 limit, repeatable: ttft_p99_ms, itl_p99_ms, tpot_p99_ms, e2el_p99_ms
                               (without --slo the bracket levels are swept and nothing is judged)
  --resolution N               stop bisecting when pass and miss are N apart (default 1; rate: LO/8)
  --prompts-per-concurrency K  a level sends min(--num-prompts, K x its concurrency) prompts (default: --num-prompts)
  --repeats N                  measurements per level, mean and 95% interval (default 1)
  --warmup-requests N          discarded requests before each level (default: the level's concurrency)
  --gpus N                     GPUs behind the server: the report and charts show tokens/s per GPU only when
                               given (recorded in capacity.provenance.gpus); without it they show tokens/s per
                               server (the JSON's *PerGpu fields then divide by 8, marked unknown by gpus: null)
  --max-duration D             stop before a level that would end later than D after the start (e.g. 2h, 90m)
  --hourly-price-usd P         price of the machine per hour: the search plan's cost line and the deployment plan's
                               price per replica-hour (default 0)
  --report-dir DIR             also write <name>-capacity.md and its two SVG charts (and a PNG of each) there
  --report-name NAME           file prefix and title of the report (default: capacity)
  --plan-only                  print the plan (levels, worst-case duration, cost) and exit

Provenance (recorded in the JSON and the report; "not recorded" when not given)
  --image-digest REF           the server's image, by digest (repo@sha256:…)
  --server-flags-hash HEX      sha256 of the server's flags (serverFlagsHash in components/benchmark/provenance.ts)
  --router-policy POLICY       the router's policy in front of the server (e.g. cache_aware), with
  --router-replicas N          the replicas behind it

Deployment plan (after the search, from its curve; see "Reading the deployment plan" in README.md)
  --target-users N             replicas, $/h and $/1M tokens to hold N concurrent users under the SLOs
  --target-rate R              … or R requests/s
  --scaling-efficiency E       measured routed throughput ÷ (replicas × one worker's) (default 1, said so)
  --replica-price-usd P        price per replica-hour (default --hourly-price-usd)
  --from-json FILE             plan from a saved --json output instead of searching (no server needed):
                               npm run bench:capacity -- --from-json cap.json --target-users 100 [--json]

Runner (default native: this process sends the requests)
  --runner remote              run the pinned vllm container once per level on the server's host instead
                               (vllm bench serve with --goodput from the SLOs; same script and result parser
                               as the stack's fixed remote run); --base-url is then the URL on that host
  --ssh USER@HOST[:PORT]       the host, reached with ssh (key in HGX_SSH_PRIVATE_KEY); without it the
                               container runs on this machine's Docker
  --vllm-image IMAGE           pinned vllm image (default vllm/vllm-openai:v0.18.0)
  --docker CMD                 docker CLI on the host (default docker; e.g. "sudo docker")
  --hf-cache-dir DIR           HF cache on the host, for the tokenizer (default ~/.cache/huggingface)
  --remote-result-dir DIR      result files on the host (default /var/tmp/hgx-benchmark)

Every option of npm run bench is accepted as well:

${BENCH_USAGE}`;

const VALUE_FLAGS = [
  "slo", "prompts-per-concurrency", "concurrency-range", "request-rate-range", "resolution", "repeats", "warmup-requests", "gpus", "max-duration", "hourly-price-usd", "report-dir", "report-name",
  "runner", "ssh", "vllm-image", "docker", "hf-cache-dir", "remote-result-dir",
  "image-digest", "server-flags-hash", "router-policy", "router-replicas", "target-users", "target-rate", "scaling-efficiency", "replica-price-usd",
] as const;
const BOOLEAN_FLAGS = ["plan-only"] as const;

/** Separates the capacity flags from the `npm run bench` flags (both `--flag value` and `--flag=value`). */
export function splitCapacityArgs(argv: readonly string[]): { capacity: string[]; bench: string[] } {
  const capacity: string[] = [];
  const bench: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const name = arg.startsWith("--") ? arg.slice(2).split("=")[0] : "";
    if ((VALUE_FLAGS as readonly string[]).includes(name)) {
      capacity.push(arg);
      if (!arg.includes("=") && i + 1 < argv.length) capacity.push(argv[++i]);
    } else if ((BOOLEAN_FLAGS as readonly string[]).includes(name)) {
      capacity.push(arg);
    } else {
      bench.push(arg);
    }
  }
  return { capacity, bench };
}

export interface CapacityCliPlan {
  readonly bench: BenchCliPlan;
  readonly axis: CapacityAxis;
  readonly range: { readonly low: number; readonly high: number };
  readonly slo: CapacitySlo | undefined;
  readonly resolution: number | undefined;
  readonly repeats: number;
  readonly promptsPerConcurrency: number | undefined;
  readonly warmupRequests: number | "concurrency";
  readonly gpus: number;
  /** True when `--gpus` was given: only then are per-GPU figures shown (a default is not a fact about the server). */
  readonly gpusGiven: boolean;
  readonly maxDurationS: number | undefined;
  readonly hourlyPriceUsd: number;
  /** What every level shares besides the searched knob. */
  readonly fixed: Partial<LoadLevel>;
  readonly planOnly: boolean;
  /** Where to write the Markdown + SVG report; undefined writes none. */
  readonly reportDir: string | undefined;
  readonly reportName: string;
  /** Set with `--runner remote`: the pinned vllm container once per level, on `ssh` (undefined: this machine). */
  readonly remote: RemoteCliSettings | undefined;
  /** What the CLI cannot see of the server, as given (null: not recorded). */
  readonly serverProvenance: ServerProvenanceFlags;
  /** Set with --target-users / --target-rate: the deployment plan printed after the search. */
  readonly deployment: DeploymentCliSettings | undefined;
}

export interface ServerProvenanceFlags {
  readonly imageDigest: string | null;
  readonly serverFlagsHash: string | null;
  readonly router: { readonly policy: string; readonly replicas: number } | null;
}

export interface DeploymentCliSettings {
  readonly target: PlanTarget;
  readonly scalingEfficiency: number | undefined;
  readonly replicaPriceUsd: number;
}

const PLAN_OPTIONS = {
  "target-users": { type: "string" },
  "target-rate": { type: "string" },
  "scaling-efficiency": { type: "string" },
  "replica-price-usd": { type: "string" },
} as const;

/** The deployment-plan flags (undefined without a target); `defaultPrice` is --hourly-price-usd. */
function deploymentFlags(str: (k: string) => string | undefined, defaultPrice: number): DeploymentCliSettings | undefined {
  const users = str("target-users");
  const rate = str("target-rate");
  const others = ["scaling-efficiency", "replica-price-usd"].filter((k) => str(k) !== undefined);
  if (users === undefined && rate === undefined) {
    if (others.length > 0) throw new BenchUsageError(`--${others[0]} needs a target. Fix: add --target-users N or --target-rate R.`);
    return undefined;
  }
  if (users !== undefined && rate !== undefined) throw new BenchUsageError("give one of --target-users and --target-rate, not both. Fix: drop one.");
  const positive = (flag: string, raw: string, example: string) => {
    const v = Number(raw);
    if (!Number.isFinite(v) || v <= 0 || raw.trim() === "") throw new BenchUsageError(`--${flag} must be a number > 0, got ${JSON.stringify(raw)}. Fix: e.g. --${flag} ${example}.`);
    return v;
  };
  const target: PlanTarget = users !== undefined ? { users: positive("target-users", users, "100") } : { requestsPerS: positive("target-rate", rate as string, "20") };
  const e = str("scaling-efficiency");
  const scalingEfficiency = e === undefined ? undefined : positive("scaling-efficiency", e, "0.92");
  if (scalingEfficiency !== undefined && scalingEfficiency > 1.5) throw new BenchUsageError(`--scaling-efficiency must be at most 1.5, got ${JSON.stringify(e)}. Fix: routed throughput ÷ (replicas × one worker's), about 0.8–1.`);
  const priceRaw = str("replica-price-usd");
  const price = priceRaw === undefined ? defaultPrice : Number(priceRaw);
  if (!Number.isFinite(price) || price < 0 || priceRaw?.trim() === "") throw new BenchUsageError(`--replica-price-usd must be a number of dollars ≥ 0, got ${JSON.stringify(priceRaw)}. Fix: e.g. --replica-price-usd 39.92.`);
  return { target, scalingEfficiency, replicaPriceUsd: price };
}

/** `--from-json FILE` and the plan flags: a plan from a saved search, no server contacted. */
export interface PlanFromJsonCli {
  readonly file: string;
  readonly deployment: DeploymentCliSettings;
  readonly json: boolean;
}

/** Parses `--from-json FILE --target-users N …` (nothing else); throws BenchUsageError naming the flag and the fix. */
export function parsePlanFromJsonArgs(argv: readonly string[]): PlanFromJsonCli {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: { "from-json": { type: "string" }, json: { type: "boolean", default: false }, "hourly-price-usd": { type: "string" }, ...PLAN_OPTIONS },
    }));
  } catch (e) {
    throw new BenchUsageError(`${(e as Error).message}. Fix: with --from-json only the deployment-plan flags apply (--target-users/--target-rate, --scaling-efficiency, --replica-price-usd, --json).`);
  }
  const str = (k: string) => values[k] as string | undefined;
  const hourly = str("hourly-price-usd") === undefined ? 0 : Number(str("hourly-price-usd"));
  if (!Number.isFinite(hourly) || hourly < 0) throw new BenchUsageError(`--hourly-price-usd must be a number of dollars ≥ 0, got ${JSON.stringify(str("hourly-price-usd"))}. Fix: e.g. --hourly-price-usd 39.92.`);
  const deployment = deploymentFlags(str, hourly);
  if (deployment === undefined) throw new BenchUsageError("--from-json plans a deployment: it needs --target-users N or --target-rate R. Fix: add one.");
  return { file: str("from-json") as string, deployment, json: values.json === true };
}

export interface RemoteCliSettings {
  readonly ssh: { readonly user: string; readonly host: string; readonly port: number } | undefined;
  /** The server's port on the host (from --base-url). */
  readonly port: number;
  readonly vllmImage: string;
  readonly docker: string;
  readonly hfCacheDir: string;
  readonly resultDir: string;
}

function rangeFlag(flag: string, raw: string, axis: CapacityAxis): { low: number; high: number } {
  const m = /^\s*([^:]+):([^:]+)\s*$/.exec(raw);
  const range = m ? { low: Number(m[1]), high: Number(m[2]) } : { low: NaN, high: NaN };
  try {
    validateRange(axis, range);
  } catch (e) {
    throw new BenchUsageError(`--${flag} ${JSON.stringify(raw)}: ${(e as Error).message}`);
  }
  return range;
}

function wholeFlag(flag: string, raw: string | undefined, min: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || v < min) throw new BenchUsageError(`--${flag} must be a whole number ≥ ${min}, got ${JSON.stringify(raw)}. Fix: e.g. --${flag} ${Math.max(min, 1)}.`);
  return v;
}

/** The capacity flags (numbers as strings: checked with their own messages); the rest go to `npm run bench`'s parser. */
const CAPACITY_FLAGS = {
  slo: { type: "string", multiple: true },
  "concurrency-range": { type: "string" },
  "request-rate-range": { type: "string" },
  resolution: { type: "string" },
  "prompts-per-concurrency": { type: "string" },
  repeats: { type: "string" },
  "warmup-requests": { type: "string" },
  gpus: { type: "string" },
  "max-duration": { type: "string" },
  "hourly-price-usd": { type: "string" },
  "report-dir": { type: "string" },
  "report-name": { type: "string" },
  "plan-only": { type: "boolean", default: false },
  runner: { type: "string" },
  ssh: { type: "string" },
  "vllm-image": { type: "string" },
  docker: { type: "string" },
  "hf-cache-dir": { type: "string" },
  "remote-result-dir": { type: "string" },
  "image-digest": { type: "string" },
  "server-flags-hash": { type: "string" },
  "router-policy": { type: "string" },
  "router-replicas": { type: "string" },
  ...PLAN_OPTIONS,
} as const;

type FlagValues = Record<string, string | boolean | string[] | undefined>;

function capacityFlagValues(args: string[]): FlagValues {
  try {
    return parseArgs({ args, strict: true, allowPositionals: false, options: CAPACITY_FLAGS }).values;
  } catch (e) {
    throw new BenchUsageError(`${(e as Error).message}. Fix: see --help.`);
  }
}

/** The axis searched and its range: exactly one range flag, and no bench flag that would fix the knob the search turns. */
function searchAxisFlags(str: (k: string) => string | undefined, benchArgs: readonly string[]): { axis: CapacityAxis; range: { low: number; high: number } } {
  const concurrencyRange = str("concurrency-range");
  const rateRange = str("request-rate-range");
  if ((concurrencyRange === undefined) === (rateRange === undefined)) {
    throw new BenchUsageError("give exactly one of --concurrency-range LO:HI and --request-rate-range LO:HI. Fix: e.g. --concurrency-range 1:256.");
  }
  const axis: CapacityAxis = concurrencyRange !== undefined ? "concurrency" : "requestRate";
  const range = axis === "concurrency" ? rangeFlag("concurrency-range", concurrencyRange as string, axis) : rangeFlag("request-rate-range", rateRange as string, axis);
  if (axis === "concurrency" && benchArgs.some((a) => a.startsWith("--max-concurrency"))) {
    throw new BenchUsageError("--max-concurrency conflicts with --concurrency-range (the search sets the concurrency). Fix: drop --max-concurrency.");
  }
  if (axis === "requestRate" && benchArgs.some((a) => a.startsWith("--request-rate") && !a.startsWith("--request-rate-range"))) {
    throw new BenchUsageError("--request-rate conflicts with --request-rate-range (the search sets the rate). Fix: drop --request-rate.");
  }
  return { axis, range };
}

function sloFlag(items: readonly string[]): CapacitySlo | undefined {
  if (items.length === 0) return undefined;
  try {
    return parseSloItems([...items]);
  } catch (e) {
    throw new BenchUsageError((e as Error).message);
  }
}

function resolutionFlag(raw: string | undefined, axis: CapacityAxis): number | undefined {
  if (raw === undefined) return undefined;
  const resolution = Number(raw);
  if (!(resolution > 0) || !Number.isFinite(resolution) || (axis === "concurrency" && !Number.isInteger(resolution))) {
    throw new BenchUsageError(`--resolution must be ${axis === "concurrency" ? "a whole number ≥ 1" : "a number > 0"}, got ${JSON.stringify(raw)}. Fix: e.g. --resolution ${axis === "concurrency" ? 4 : 0.5}.`);
  }
  return resolution;
}

/** `--max-duration` in seconds: a duration (2h, 90m) or a bare number of seconds. */
function maxDurationFlag(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const asMs = /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) * 1000 : durationMs(raw);
  if (asMs === undefined || !(asMs > 0)) throw new BenchUsageError(`--max-duration ${JSON.stringify(raw)} is not a positive duration. Fix: e.g. --max-duration 2h (a bare number is seconds).`);
  return asMs / 1000;
}

/** With `--runner remote`, where and how the pinned vllm container runs; the remote-only flags refused without it. */
function remoteFlags(str: (k: string) => string | undefined, baseUrl: string): RemoteCliSettings | undefined {
  const runner = str("runner") ?? "native";
  if (runner !== "native" && runner !== "remote") throw new BenchUsageError(`--runner must be native or remote, got ${JSON.stringify(runner)}. Fix: --runner remote (the pinned vllm container per level) or leave it out.`);
  const remoteOnly = ["ssh", "vllm-image", "docker", "hf-cache-dir", "remote-result-dir"].filter((k) => str(k) !== undefined);
  if (runner === "native" && remoteOnly.length > 0) throw new BenchUsageError(`--${remoteOnly[0]} needs --runner remote. Fix: add --runner remote, or drop --${remoteOnly[0]}.`);
  if (runner === "native") return undefined;
  let ssh: RemoteCliSettings["ssh"];
  try {
    ssh = str("ssh") === undefined ? undefined : parseSshDestination(str("ssh") as string);
  } catch (e) {
    throw new BenchUsageError((e as Error).message);
  }
  const url = new URL(baseUrl);
  return {
    ssh,
    port: url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port),
    vllmImage: str("vllm-image") ?? DEFAULT_VLLM_IMAGE,
    docker: str("docker") ?? "docker",
    hfCacheDir: str("hf-cache-dir") ?? DEFAULT_HF_CACHE_DIR,
    resultDir: str("remote-result-dir") ?? DEFAULT_REMOTE_RESULT_DIR,
  };
}

/** What the CLI cannot see of the server, as given: image digest, flags hash, and the router (policy and replicas together). */
function serverProvenanceFlags(str: (k: string) => string | undefined): ServerProvenanceFlags {
  const routerPolicy = str("router-policy");
  const routerReplicas = str("router-replicas");
  if ((routerPolicy === undefined) !== (routerReplicas === undefined)) {
    throw new BenchUsageError("--router-policy and --router-replicas go together (the router's policy and the replicas behind it). Fix: give both, or neither.");
  }
  const flagsHash = str("server-flags-hash");
  if (flagsHash !== undefined && !/^[0-9a-f]{64}$/.test(flagsHash)) {
    throw new BenchUsageError(`--server-flags-hash must be a sha256 in hex (64 characters), got ${JSON.stringify(flagsHash)}. Fix: hash the server's argv with serverFlagsHash (components/benchmark/provenance.ts).`);
  }
  return {
    imageDigest: str("image-digest") ?? null,
    serverFlagsHash: flagsHash ?? null,
    router: routerPolicy === undefined ? null : { policy: routerPolicy, replicas: wholeFlag("router-replicas", routerReplicas, 1, 1) },
  };
}

/** Parses argv (without node and script); throws BenchUsageError naming the flag and the fix. */
export function parseCapacityArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CapacityCliPlan | "help" {
  const split = splitCapacityArgs(argv);
  if (split.bench.includes("--help") || split.bench.includes("-h")) return "help";
  const values = capacityFlagValues(split.capacity);
  const bench = parseBenchArgs(split.bench, env);
  if (bench === "help") return "help";
  const str = (k: string) => values[k] as string | undefined;
  const { axis, range } = searchAxisFlags(str, split.bench);
  const slo = sloFlag((values.slo as string[] | undefined) ?? []);
  const resolution = resolutionFlag(str("resolution"), axis);
  const maxDurationS = maxDurationFlag(str("max-duration"));
  const price = str("hourly-price-usd") === undefined ? 0 : Number(str("hourly-price-usd"));
  if (!Number.isFinite(price) || price < 0) throw new BenchUsageError(`--hourly-price-usd must be a number of dollars ≥ 0, got ${JSON.stringify(str("hourly-price-usd"))}. Fix: e.g. --hourly-price-usd 39.92.`);
  const warmupRaw = str("warmup-requests");
  const numPrompts = bench.run.numPrompts ?? 512;
  const fixed: Partial<LoadLevel> =
    axis === "concurrency"
      ? { requestRate: bench.run.requestRate ?? Infinity, burstiness: bench.run.burstiness ?? 1 }
      : { concurrency: bench.run.maxConcurrency ?? numPrompts, burstiness: bench.run.burstiness ?? 1 };
  const remote = remoteFlags(str, bench.run.baseUrl);
  const serverProvenance = serverProvenanceFlags(str);
  const deployment = deploymentFlags(str, price);
  if (deployment !== undefined && slo === undefined) throw new BenchUsageError("a deployment plan (--target-users/--target-rate) needs --slo: the capacity it plans from is the load meeting them. Fix: add --slo ttft_p99_ms=… .");
  return {
    serverProvenance,
    deployment,
    remote,
    bench,
    axis,
    range,
    slo,
    resolution,
    repeats: wholeFlag("repeats", str("repeats"), 1, 1),
    promptsPerConcurrency: str("prompts-per-concurrency") === undefined ? undefined : wholeFlag("prompts-per-concurrency", str("prompts-per-concurrency"), 1, 1),
    warmupRequests: warmupRaw === undefined ? "concurrency" : wholeFlag("warmup-requests", warmupRaw, 0, 0),
    gpus: wholeFlag("gpus", str("gpus"), 1, 8),
    gpusGiven: str("gpus") !== undefined,
    maxDurationS,
    hourlyPriceUsd: price,
    fixed,
    planOnly: values["plan-only"] === true,
    reportDir: str("report-dir"),
    reportName: str("report-name") ?? "capacity",
  };
}

/** The search's plan for these arguments (seed-speed estimates; no server contacted). */
export function capacityPlanFor(p: CapacityCliPlan): CapacityPlan {
  const numPrompts = p.bench.run.numPrompts ?? 512;
  return planCapacitySearch({
    axis: p.axis,
    range: p.range,
    resolution: p.resolution,
    fixed: p.fixed,
    repeats: p.repeats,
    workload: {
      inputLen: runInputLen(p.bench.run),
      outputLen: p.bench.run.outputLen ?? 1024,
      numPrompts,
      warmupRequests: p.warmupRequests,
      promptsPerConcurrency: p.promptsPerConcurrency,
    },
    hourlyPriceUsd: p.hourlyPriceUsd,
    maxDurationS: p.maxDurationS,
    withSlo: p.slo !== undefined,
  });
}

/** The shared-prefix sizes of `--dataset-name prefix_repetition`; undefined for the random dataset. */
export function prefixOf(run: CapacityCliPlan["bench"]["run"]): PrefixRepetitionWorkload | undefined {
  const spec = run.datasetSpec;
  return spec?.name === "prefix_repetition" ? { prefixLen: spec.prefixLen, suffixLen: spec.suffixLen, numPrefixes: spec.numPrefixes } : undefined;
}

/** Prompt tokens per request: the random dataset's length, or a shared prefix plus its own suffix. */
export function runInputLen(run: CapacityCliPlan["bench"]["run"]): number {
  const prefix = prefixOf(run);
  return prefix === undefined ? (run.inputLen ?? 8192) : prefix.prefixLen + prefix.suffixLen;
}

/** This repository's version: the native runner's (package.json). */
export function nativeRunnerVersion(): string {
  return (require("../package.json") as { version: string }).version;
}

/**
 * The provenance of a search with these arguments: the workload as the runner sends it, the model, the tokenizer the
 * prompts were built with (`tokenizerId` as the result records it) and any fallback, what the flags said of the
 * server, the runner and its version, and the start date.
 */
export function capacityProvenance(cli: CapacityCliPlan, t: { readonly tokenizerId: string; readonly tokenizerFallback: string | null; readonly date: Date; readonly nativeVersion: string }): CapacityProvenance {
  const run = cli.bench.run;
  return {
    workload: {
      dataset: datasetLabel(prefixOf(run)),
      inputLen: runInputLen(run),
      outputLen: run.outputLen ?? 1024,
      rangeRatio: run.rangeRatio ?? 0,
      numPrompts: run.numPrompts ?? 512,
      promptsPerConcurrency: cli.promptsPerConcurrency ?? null,
      ignoreEos: run.ignoreEos ?? true,
      seed: run.seed ?? 0,
    },
    model: run.modelId ?? run.servedModelName,
    servedModelName: run.servedModelName,
    tokenizer: t.tokenizerId,
    tokenizerFallback: t.tokenizerFallback,
    ...cli.serverProvenance,
    runner: cli.remote === undefined ? { name: "native", version: `hgx-inference-stack ${t.nativeVersion}` } : { name: "remote (vllm bench serve)", version: cli.remote.vllmImage },
    gpus: cli.gpusGiven ? cli.gpus : null,
    date: t.date.toISOString(),
  };
}

/** `--from-json`: the deployment plan from a saved search. Exit 0 planned, 1 unreadable file or no plan possible. */
async function planFromJson(argv: readonly string[]): Promise<number> {
  let cli: PlanFromJsonCli;
  try {
    cli = parsePlanFromJsonArgs(argv);
  } catch (e) {
    if (e instanceof BenchUsageError) {
      process.stderr.write(`bench:capacity: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const fs = await import("node:fs");
  const { parseCapacityOutput } = await import("../components/benchmark/capacityCommand");
  const { deploymentPlan, formatDeploymentPlan } = await import("../components/benchmark/deploymentPlan");
  let text: string;
  try {
    text = fs.readFileSync(cli.file, "utf8");
  } catch (e) {
    process.stderr.write(`bench:capacity: --from-json ${cli.file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}). Fix: pass the file a search's --json output was saved to (npm run bench:capacity -- … --json > capacity.json).\n`);
    return 1;
  }
  try {
    const { capacity } = parseCapacityOutput(text, cli.file);
    const plan = deploymentPlan({ capacity, target: cli.deployment.target, replicaHourlyPriceUsd: cli.deployment.replicaPriceUsd, scalingEfficiency: cli.deployment.scalingEfficiency });
    process.stdout.write(cli.json ? `${JSON.stringify({ deployment: plan }, null, 2)}\n` : `${formatDeploymentPlan(plan)}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`bench:capacity: --from-json ${cli.file}: ${(e as Error).message}\n`);
    return 1;
  }
}

/** The parsed command line, or the exit code when it was --help or a usage error (said on the way). */
function cliOrExit(argv: readonly string[]): CapacityCliPlan | number {
  let cli: CapacityCliPlan | "help";
  try {
    cli = parseCapacityArgs(argv);
  } catch (e) {
    if (e instanceof BenchUsageError) {
      process.stderr.write(`bench:capacity: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (cli === "help") {
    process.stdout.write(`${CAPACITY_USAGE}\n`);
    return 0;
  }
  return cli;
}

/** The tokenizer the native runner builds prompts with (none for the remote runner: vllm loads its own on the host). */
async function cliTokenizer(cli: CapacityCliPlan, log: (line: string) => void): Promise<{ loaded: LoadedTokenizer | undefined; fallback: string | null } | { problem: string }> {
  if (cli.remote !== undefined) return { loaded: undefined, fallback: null };
  const { loadCliTokenizer } = await import("./bench");
  try {
    const loaded = await loadCliTokenizer(cli.bench, log);
    // Kept for the result: a fallback said only on stderr was lost with the log.
    return { loaded: loaded.loaded, fallback: loaded.fallback ?? null };
  } catch (e) {
    return { problem: `--tokenizer: ${(e as Error).message}` };
  }
}

/** How a level is named in the log: its concurrency, or its rate at the concurrency cap. */
export function describeLevel(axis: CapacityAxis, l: LoadLevel): string {
  return axis === "concurrency" ? `concurrency ${l.concurrency}` : `request rate ${l.requestRate}/s at concurrency ${l.concurrency}`;
}

/** One log line per measured level: its p99s, throughput and failures, and the verdict against the SLOs (if any). */
export function levelLine(axis: CapacityAxis, p: CapacityPoint, judged: boolean): string {
  const m = p.mean;
  return (
    `bench:capacity: ${describeLevel(axis, p.level)}: p99 TTFT ${m.ttftP99Ms.toFixed(1)} ms, p99 ITL ${m.itlP99Ms.toFixed(1)} ms, p99 TPOT ${m.tpotP99Ms.toFixed(1)} ms, ` +
    `${m.outputThroughput.toFixed(1)} out tok/s, ${m.failed} failed → ${judged ? (p.meetsSlo ? "meets the SLOs" : `misses: ${p.misses.join("; ")}`) : "measured"}`
  );
}

/** The progress bar across a level's warm-up and measurement (restarted per phase), and its stop when a level ends. */
function levelProgressBar(bar: import("cli-progress").SingleBar | undefined): {
  onProgress: (phase: "warm-up" | "measure", done: number, total: number) => void;
  stop: () => void;
} {
  let barPhase: string | undefined;
  return {
    onProgress: (phase, done, total) => {
      if (!bar) return;
      if (barPhase !== phase || done === 1) {
        if (barPhase) bar.stop();
        barPhase = phase;
        bar.start(total, 0, { phase: phase === "warm-up" ? "warm-up " : "measure " });
      }
      bar.update(done);
    },
    stop: () => {
      bar?.stop();
      barPhase = undefined;
    },
  };
}

/** Writes the report (when asked) and prints the answer: the JSON with --json, else the table and any deployment plan. */
async function reportCapacity(cli: CapacityCliPlan, plan: CapacityPlan, summary: CapacitySummary, tokenizerFallback: string | null, log: (line: string) => void): Promise<void> {
  const { deploymentPlan, formatDeploymentPlan } = await import("../components/benchmark/deploymentPlan");
  const { formatCapacityTable } = await import("../components/benchmark/capacity");
  let deployment;
  if (cli.deployment !== undefined) {
    try {
      deployment = deploymentPlan({ capacity: summary, target: cli.deployment.target, replicaHourlyPriceUsd: cli.deployment.replicaPriceUsd, scalingEfficiency: cli.deployment.scalingEfficiency });
    } catch (e) {
      log(`bench:capacity: no deployment plan: ${(e as Error).message}`);
    }
  }
  if (cli.reportDir !== undefined) {
    const { writeCapacityReport } = await import("../components/benchmark/capacityReport");
    const paths = writeCapacityReport(cli.reportDir, cli.reportName, summary, deployment);
    log(`bench:capacity: report written to ${paths.markdown} (charts ${paths.latencySvg}, ${paths.throughputSvg}${paths.png.written ? `, ${paths.latencyPng}, ${paths.throughputPng}` : ""})`);
    if (!paths.png.written) log(`bench:capacity: WARNING: no PNG charts: ${paths.png.problem}`);
  }
  if (tokenizerFallback !== null) log(`bench:capacity: WARNING: tokenizer fallback (recorded in capacity.provenance): ${tokenizerFallback}.`);
  if (cli.bench.jsonOnly) process.stdout.write(`${JSON.stringify({ plan, capacity: summary, ...(deployment === undefined ? {} : { deployment }) }, null, 2)}\n`);
  else process.stdout.write(`${formatCapacityTable(summary)}\n${deployment === undefined ? "" : `${formatDeploymentPlan(deployment)}\n`}`);
}

/**
 * The search itself, with the runner the command line chose; ends the level in flight on a stop signal (a remote
 * level's container too) and reports the levels measured before it. The search's result, or the exit code of a
 * failure (said on the way).
 */
async function runCapacitySearch(cli: CapacityCliPlan, loadedTokenizer: LoadedTokenizer | undefined, log: (line: string) => void): Promise<CapacityResult | number> {
  const { progressBar } = await import("./bench");
  const { searchCapacity, estimateLevelSeconds } = await import("../components/benchmark/capacity");
  const { nativeMeasure } = await import("../components/benchmark/capacityNative");
  const cliProgress = await import("cli-progress");
  const { controller, dispose } = abortOnSignals(
    (signal) => `\nbench:capacity: ${signal}; ending the level in flight (not reported) and reporting every level measured before it (${signal} again to quit at once)`,
    log,
  );
  const progress = levelProgressBar(cli.bench.progress ? progressBar(cliProgress) : undefined);
  const workload = {
    inputLen: runInputLen(cli.bench.run),
    outputLen: cli.bench.run.outputLen ?? 1024,
    numPrompts: cli.bench.run.numPrompts ?? 512,
    warmupRequests: cli.warmupRequests,
    promptsPerConcurrency: cli.promptsPerConcurrency,
  };
  let remote: Awaited<ReturnType<typeof remoteMeasureFor>> | undefined;
  if (cli.remote !== undefined) {
    try {
      remote = await remoteMeasureFor(cli, cli.remote, controller.signal, log);
    } catch (e) {
      log(`bench:capacity: ${(e as Error).message}`);
      dispose();
      return 2;
    }
  }
  try {
    return await searchCapacity({
      axis: cli.axis,
      slo: cli.slo,
      range: cli.range,
      resolution: cli.resolution,
      fixed: cli.fixed,
      repeats: cli.repeats,
      gpus: cli.gpus,
      maxDurationS: cli.maxDurationS,
      estimateLevelS: (l) => estimateLevelSeconds(l, workload),
      measure:
        remote?.measure ??
        nativeMeasure({
          run: { ...cli.bench.run, loadedTokenizer, signal: controller.signal },
          slo: cli.slo,
          warmupRequests: cli.warmupRequests,
          promptsPerConcurrency: cli.promptsPerConcurrency,
          signal: controller.signal,
          onProgress: progress.onProgress,
        }),
      signal: controller.signal,
      onLevelStart: (l, order) => log(`bench:capacity: level ${order + 1}: ${describeLevel(cli.axis, l)}`),
      onPoint: (p) => {
        progress.stop();
        log(levelLine(cli.axis, p, cli.slo !== undefined));
      },
    });
  } catch (e) {
    progress.stop();
    log(`bench:capacity: ${(e as Error).message}`);
    return 1;
  } finally {
    // The level in flight on the host outlives the ssh client that started it: stop it there (bounded; a
    // second signal meanwhile exits at once, and the key's copy still goes on exit).
    if (controller.signal.aborted) await remote?.stop(log);
    dispose();
    remote?.dispose();
    progress.stop();
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.some((a) => a === "--from-json" || a.startsWith("--from-json="))) return planFromJson(argv);
  const cli = cliOrExit(argv);
  if (typeof cli === "number") return cli;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const plan = capacityPlanFor(cli);
  if (cli.planOnly) {
    process.stdout.write(cli.bench.jsonOnly ? `${JSON.stringify(plan, null, 2)}\n` : `${formatPlan(plan, cli.hourlyPriceUsd)}\n`);
    return 0;
  }
  log(formatPlan(plan, cli.hourlyPriceUsd));

  // Loaded after argument parsing so --help and usage errors answer instantly.
  const startedAt = new Date();
  const tokenizer = await cliTokenizer(cli, log);
  if ("problem" in tokenizer) {
    log(`bench:capacity: ${tokenizer.problem}`);
    return 2;
  }
  const result = await runCapacitySearch(cli, tokenizer.loaded, log);
  if (typeof result === "number") return result;
  const { summarizeCapacity } = await import("../components/benchmark/capacity");
  const run = cli.bench.run;
  const provenance = capacityProvenance(cli, {
    tokenizerId: tokenizer.loaded?.id ?? run.tokenizer ?? run.modelId ?? run.servedModelName,
    tokenizerFallback: tokenizer.fallback,
    date: startedAt,
    nativeVersion: nativeRunnerVersion(),
  });
  await reportCapacity(cli, plan, summarizeCapacity(result, provenance), tokenizer.fallback, log);
  return 0;
}

/**
 * The remote `measure`: scripts go to the host over ssh (the key from SSH_KEY_ENV, written to a file only this user
 * reads and removed by `dispose`), or to this machine's bash without --ssh.
 */
async function remoteMeasureFor(cli: CapacityCliPlan, r: RemoteCliSettings, signal: AbortSignal, log: (line: string) => void) {
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const { processExecutor, remoteMeasure, sshArgs, SSH_KEY_ENV, SSH_KNOWN_HOSTS_ENV } = await import("../components/benchmark/capacityRemote");
  const { STDIN_SCRIPT_COMMAND } = await import("../components/host/connection");
  const { resolveWorkload } = await import("../components/benchmark/workload");
  let keyDir: string | undefined;
  let exec;
  if (r.ssh) {
    const key = process.env[SSH_KEY_ENV];
    if (!key) throw new Error(`--ssh needs the private key in ${SSH_KEY_ENV}. Fix: export ${SSH_KEY_ENV}="$(cat ~/.ssh/id_ed25519)".`);
    keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-capacity-ssh-"));
    const keyFile = path.join(keyDir, "key");
    fs.writeFileSync(keyFile, key.endsWith("\n") ? key : `${key}\n`, { mode: 0o600 });
    const knownHosts = process.env[SSH_KNOWN_HOSTS_ENV]?.trim();
    const knownHostsFile = knownHosts ? path.join(keyDir, "known_hosts") : undefined;
    if (knownHostsFile !== undefined) fs.writeFileSync(knownHostsFile, `${knownHosts}\n`, { mode: 0o600 });
    exec = processExecutor("ssh", sshArgs({ ...r.ssh, keyFile, ...(knownHostsFile === undefined ? {} : { knownHostsFile }) }));
  } else {
    exec = processExecutor("bash", ["-c", STDIN_SCRIPT_COMMAND]);
  }
  const run = cli.bench.run;
  const workload = resolveWorkload({
    ...(run.inputLen === undefined ? {} : { inputLen: run.inputLen }),
    ...(run.outputLen === undefined ? {} : { outputLen: run.outputLen }),
    ...(run.numPrompts === undefined ? {} : { numPrompts: run.numPrompts }),
    ...(run.temperature === undefined || run.temperature === null ? {} : { temperature: run.temperature }),
    ...(run.endpoint === undefined ? {} : { endpoint: run.endpoint }),
    ...(run.percentileMetrics === undefined ? {} : { percentileMetrics: run.percentileMetrics }),
    ...(run.metricPercentiles === undefined ? {} : { metricPercentiles: run.metricPercentiles }),
    ignoreEos: run.ignoreEos ?? true,
    ...(prefixOf(run) === undefined ? {} : { prefixRepetition: prefixOf(run) }),
    // Every level sets its own concurrency; this only has to be valid.
    maxConcurrency: 1,
  });
  const measure = remoteMeasure({
    settings: {
      image: r.vllmImage,
      port: r.port,
      model: run.modelId ?? run.servedModelName,
      ...(run.tokenizer === undefined ? {} : { tokenizer: run.tokenizer }),
      servedModelName: run.servedModelName,
      hfCacheDir: r.hfCacheDir,
      resultDir: r.resultDir,
      docker: r.docker,
    },
    workload,
    seed: run.seed,
    slo: cli.slo,
    warmupRequests: cli.warmupRequests,
    promptsPerConcurrency: cli.promptsPerConcurrency,
    levelTimeoutSeconds: Math.max(1, Math.round((run.totalTimeoutMs ?? 3_600_000) / 1000)),
    apiKey: run.apiKey,
    exec,
    signal,
    onRun: (phase, level, requests) => log(`bench:capacity: ${phase} run of ${requests} request(s) at concurrency ${level.concurrency} (vllm bench serve on ${r.ssh ? r.ssh.host : "this machine"})`),
  });
  const container = "hgx-benchmark"; // renderRemoteBenchCommand's container name
  const removeKeyDir = () => {
    if (keyDir !== undefined) fs.rmSync(keyDir, { recursive: true, force: true });
  };
  // Whatever ends this process (a second signal's exit included) takes the private key's copy with it.
  process.on("exit", removeKeyDir);
  return {
    measure,
    /** `docker rm -f` of the benchmark container on the host, in a run of its own (30 s at most). */
    stop: async (say: (line: string) => void) => {
      try {
        await exec(`${r.docker} rm -f ${container} >/dev/null 2>&1 || true\n`, "", 30_000);
        say(`bench:capacity: stopped the benchmark container ${container} on ${r.ssh ? r.ssh.host : "this machine"}`);
      } catch (e) {
        say(`bench:capacity: could not stop ${container} on ${r.ssh ? r.ssh.host : "this machine"} (${(e as Error).message}); remove it there: ${r.docker} rm -f ${container}`);
      }
    },
    dispose: () => {
      removeKeyDir();
      process.removeListener("exit", removeKeyDir);
    },
  };
}

/** Signals that end a search: the terminal's Ctrl-C, a kill or a job scheduler's stop, a closed terminal. */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** How long a repeat of the first stop signal counts as the same stop (see `abortOnSignals`). */
export const REPEATED_SIGNAL_WINDOW_MS = 2_000;

/**
 * The first stop signal aborts the search (the level in flight is ended: its process group killed, its container
 * removed, the key's copy deleted, the levels measured so far reported); a second one exits at once (the key's copy
 * still goes, on exit). One stop often arrives twice: a signal sent to the process group reaches this process and
 * tsx's parent, which relays it again when this process's acknowledgement takes over 30 ms (a loaded machine). So
 * the same signal repeated within `repeatWindowMs` of the first is that same stop, not a second one.
 */
export function abortOnSignals(
  message: (signal: string) => string,
  log: (line: string) => void,
  opts: { readonly repeatWindowMs?: number; readonly now?: () => number; readonly exit?: (code: number) => void } = {},
): { controller: AbortController; dispose: () => void } {
  const { repeatWindowMs = REPEATED_SIGNAL_WINDOW_MS, now = Date.now, exit = (code: number) => process.exit(code) } = opts;
  const controller = new AbortController();
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (first !== undefined) {
      if (signal === first.signal && now() - first.at < repeatWindowMs) return;
      exit(128 + (signal === "SIGHUP" ? 1 : signal === "SIGINT" ? 2 : 15));
      return;
    }
    first = { signal, at: now() };
    log(message(signal));
    controller.abort();
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  return { controller, dispose: () => STOP_SIGNALS.forEach((signal) => process.removeListener(signal, onSignal)) };
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`bench:capacity: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
