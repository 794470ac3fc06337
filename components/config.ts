/**
 * The stack's configuration contract: one schema (the source of truth for `Pulumi.yaml`'s typed
 * `config:` block, kept in sync by a test), and one pure function that turns raw stack config into
 * a validated, typed object — or into ONE error listing every problem, each naming the key, the
 * value and the fix, before any resource is created. Each host provider owns its keys, parser and
 * cross-checks (components/host/<provider>/config.ts); this module assembles them.
 */
import * as pulumi from "@pulumi/pulumi";
import { THRESHOLD_KEYS, type BenchmarkThresholds } from "./benchmark/baseline";
import { bundledTokenizerProblem } from "./benchmark/remoteRunner";
import { BENCHMARK_RUNNERS, runnerWorkloadProblems, SEED_WORKLOAD, type BenchmarkRunnerKind } from "./benchmark/workload";
import { SLO_NAMES, type CapacitySlo } from "./benchmark/capacity";
import type { CapacitySettings } from "./benchmark/capacityCommand";
import { matches, URL_PATH, type ConfigKeySchema, type ConfigProblem, type SecretSetting, type SettingsReader, type ValueCheck } from "./configSlice";
import { durationMs } from "./duration";
import { cidrProblem } from "./network";
import { isProductionStack } from "./ops/policy-rules";
import { GPU_MODEL_PATTERN, PRODUCTION_STACKS, PROJECT } from "./projectFacts";
import { validateBootWork } from "./host/bootWork";
import {
  HOST_MODES,
  HOST_PROVIDER_KEYS,
  hostCrossRegion,
  hostGpuCount,
  hostLaunchesRouterHost,
  hostProblems,
  hostReplicaProblems,
  hostRouterHostProblems,
  hostSshPort,
  parseHostSlice,
  taggedHostSettings,
  type HostMode,
  type HostSlice,
} from "./host/providers";
import { LAMBDA_REGIONS } from "./host/lambda/names";
import { parseImageRef } from "./image";
import { TUNNEL_PORT_BASE } from "./router/tunnel";

export { cidrProblem };

/** Re-exported: callers that read settings take these facts from config too. */
export { GPU_MODEL_PATTERN, PRODUCTION_STACKS, PROJECT };

// Patterns for settings that reach a shell, an SSH command line, a URL or a vendor API (the host
// providers' own live in their config slices and are re-exported here).
export { IMAGE_FAMILY, LAMBDA_FILESYSTEM_NAME, SSH_PUBLIC_KEY } from "./host/lambda/config";
export { SSH_USER } from "./host/existing/config";
export { URL_PATH };
/** Docker's rule for volume (and container) names. */
export const DOCKER_VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** Names SGLang serves under (`:` is left to the serving layer, which explains the LoRA syntax). */
export const SERVED_MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._\/:-]{0,127}$/;
/** A Hugging Face repo id `org/name`. */
export const HF_REPO_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** A StackReference name: `stack`, `project/stack` or `org/project/stack`. */
const STACK_REFERENCE_NAME = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+){0,2}$/;

/** `--model-path`: a Hugging Face repo id, or an absolute path on the host without ':' or control characters. */
function modelProblem(value: string): string | undefined {
  if (HF_REPO_ID.test(value)) return undefined;
  if (value.startsWith("/") && !/[\x00-\x1f\x7f:]/.test(value)) return undefined;
  return "is neither a Hugging Face repo id (org/name) nor an absolute path";
}

export type { ConfigKeySchema, ConfigProblem, SecretSetting };

export { BENCHMARK_RUNNERS, HOST_MODES, LAMBDA_REGIONS, type HostMode };
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
} as const;
export type WorkloadName = keyof typeof WORKLOADS;

/**
 * Every setting the stack reads. Keys are flat (so `pulumi config set` stays simple and secrets are
 * per-key); the prefix names the layer. Objects only where the value is a map by nature.
 */
export const CONFIG_SCHEMA = {
  // --- host -----------------------------------------------------------------------------------
  hostMode: { type: "string", default: "lambda", description: "Where the model server runs: `lambda` (launch an instance through the Lambda Cloud API), `existing` (any SSH-reachable GPU host) or `local` (this machine's Docker engine with the SGLang simulator)." },
  production: { type: "boolean", default: false, description: "This stack is production whatever its name (stacks named `prod` or `production` always are): its instances are protected (`lambdaProtect`), never reaped, and SSH may not be open to the world." },
  replicas: { type: "integer", default: 1, description: "Number of host + server pairs (full copies of the model); more than 1 puts SGLang's router in front of them as one endpoint (`router.endpoint`)." },
  // --- router (replicas > 1) ---------------------------------------------------------------------
  routerImage: { type: "string", default: "", description: "Image that runs `python -m sglang_router.launch_router` (pinned to a release tag or digest); empty = `sglangImage`, whose SGLang release ships the matching `sglang-router` (no extra pull on the first host)." },
  routerPlacement: { type: "string", default: "first-replica", description: "Where the router runs: `first-replica` (host network on the first worker's host: no extra machine) or `own-host` (hostMode lambda: an instance of its own, `routerInstanceType`, so a worker's failure or replacement never takes the endpoint with it)." },
  routerInstanceType: { type: "string", default: "gpu_1x_a10", description: "With `routerPlacement: own-host`: the Lambda instance type of the router's host (the router needs no GPU; this is the cheapest type Lambda lists, about $0.75/h)." },
  routerPort: { type: "integer", default: 30000, description: "Port the router serves clients on (host network on its host): 1024-65535, not the SSH, serving or metrics port." },
  routerMetricsPort: { type: "integer", default: 29000, description: "Port of the router's Prometheus `/metrics` (`router.metricsEndpoint`)." },
  routerPolicy: { type: "string", default: "cache_aware", description: "Router load-balancing policy: `cache_aware` (repeated prefixes stick to the worker that has them cached), `round_robin`, `power_of_two` or `random`." },
  routerHealthCheckInterval: { type: "string", default: "10s", description: "How often the router probes each worker's `/health` (1s-10m); 3 failures take a worker out, 2 successes take it back." },
  routerDrainTimeout: { type: "string", default: "10m", description: "Rolling changes: how long a worker removed from the router may take to finish its in-flight requests before it is replaced anyway (0s-2h)." },
  // --- the host providers' own keys (lambda*, then the existing host's ssh*) ----------------------
  ...HOST_PROVIDER_KEYS,
  // --- existing or local host --------------------------------------------------------------------
  gpuCount: { type: "integer", default: 8, description: "GPUs expected on an existing or local host (Lambda: read from the instance type)." },
  gpuModel: { type: "string", default: "B200", description: "GPU model name expected in `nvidia-smi` output." },
  gpuProbeImage: { type: "string", default: "ubuntu:24.04@sha256:69cecf4bbf72d2d44a9eef1b71fb98c7fb973d78af11399deccef19beb008ad9", description: "Image of the host check that runs `nvidia-smi -L` in a `--gpus all` container (any small image; the NVIDIA runtime injects the tool); pinned by digest, the tag kept for humans." },
  hourlyPriceUsd: { type: "string", default: "0", description: "Hourly price of an existing host in USD (plain decimal, e.g. `45.92`), for cost outputs (Lambda: read from the API)." },
  // --- SGLang ----------------------------------------------------------------------------------------
  sglangImage: { type: "string", default: "lmsysorg/sglang:v0.5.14", description: "SGLang image pinned to a release tag (optionally `@sha256:` digest)." },
  sglangAllowLatest: { type: "boolean", default: false, description: "Allow an image tagged `latest` (or untagged): it moves under you, so it is refused by default." },
  sglangModel: { type: "string", default: "Qwen/Qwen3.5-397B-A17B", description: "Hugging Face model id `org/name` (`--model-path`), an absolute path only in `local` mode (Lambda and SSH hosts pre-download the weights by id)." },
  sglangServedModelName: { type: "string", default: "qwen", description: "Name clients send as `model` (`--served-model-name`): letters, digits, `.`, `_`, `/`, `-` (no `:`, which SGLang reserves for LoRA)." },
  sglangPreset: { type: "string", default: "seed", description: "Flag preset: `seed` (exactly the seed's flags) or `b200` (tuned: MTP, metrics, watchdog...)." },
  sglangFlags: { type: "object", default: {}, description: "Flag overrides merged over the preset, keyed by SGLang flag name without dashes prefix, e.g. {\"mem-fraction-static\": 0.8}." },
  sglangExtraArgs: { type: "array", default: [], description: "Extra free-form SGLang arguments appended verbatim (unknown flags produce a warning; secret flags such as --api-key are refused in any abbreviation)." },
  sglangPort: { type: "integer", default: 8000, description: "Port SGLang listens on (host and container): 1024-65535, not the SSH port." },
  sglangApiKey: { type: "string", secret: true, default: "", description: "API key SGLang requires as a Bearer token (secret); required when the port is open to a CIDR allowlist." },
  sglangStartupTimeout: { type: "string", default: "90m", description: "How long to wait for the container to become healthy (a cold 400B start takes long; 1m-24h)." },
  sglangHealthStartPeriod: { type: "string", default: "60m", description: "Docker healthcheck start period (failures during it do not count; 1s-24h)." },
  // --- Hugging Face ------------------------------------------------------------------------------
  hfToken: { type: "string", secret: true, default: "", description: "Hugging Face token (secret); optional for this public model, needed for gated ones." },
  hfCacheVolume: { type: "string", default: "hf-cache", description: "Docker volume holding the Hugging Face cache when no host path is used (a Docker volume name)." },
  hfCachePath: { type: "string", default: "", description: "Absolute host path for the cache (no `:`, no control characters); empty = `<filesystem mount>/huggingface` when a filesystem exists, else the volume." },
  hfDownloaderImage: { type: "string", default: "python:3.12-slim@sha256:229a2c5bfa27522db7815ea81f9bed70af17ccb9de9fc7ad142b1877b5830d36", description: "Image that pre-downloads the weights (hash-pinned `huggingface_hub`, then `hf download`), in parallel with the SGLang image pull; pinned by digest, the tag kept for humans. A reference without a digest is resolved on the host and run by image ID, and the weights step reports what it resolved to (`WEIGHTS image`)." },
  hfRevision: { type: "string", default: "main", description: "Model revision the weights are downloaded at and SGLang loads (`--revision`): a branch, tag or commit. A branch moves; pin the model by setting the `weightsCommit` output here after the first deploy (a new commit is then a visible change in preview)." },
  bootWorkDir: {
    type: "string",
    default: "/var/lib/hgx-boot",
    description:
      "Directory on the host for boot work: a Lambda instance's cloud-init starts the image pull and the (token-less) weights download there at first boot, and the serving layer waits for what still runs (an SSH host without it fetches itself). Empty = no boot work.",
  },
  // --- benchmark ----------------------------------------------------------------------------------
  benchmarkEnabled: { type: "boolean", default: true, description: "Run the benchmark after deploy and export its metrics." },
  benchmarkScalingEfficiency: { type: "boolean", default: false, description: "With `replicas` > 1: also run the benchmark against the first worker alone (before the one through the router) and export `benchmark.scalingEfficiency` = router throughput ÷ (replicas × one worker's)." },
  benchmarkRunner: { type: "string", default: "remote", description: "`remote` (vllm bench serve in a container on the host) or `native` (the TypeScript runner on the machine running Pulumi)." },
  benchmarkWorkload: { type: "string", default: "coding", description: "Workload preset: `coding` (seed: 8192/1024, 512 prompts, 32 concurrent) or `smoke`." },
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
      "Capacity search after the fixed run (native runner: requests from this machine; remote runner: the pinned vllm container once per level on the host, over SSH): {concurrencyRange: \"8:256\", promptsPerConcurrency, repeats, resolution, warmupRequests, maxDuration: \"2h\"}; {} = off. Exported as benchmark.capacity.",
  },
  benchmarkSlo: { type: "object", default: {}, description: "p99 limits of the capacity search in ms: {ttft_p99_ms, itl_p99_ms, tpot_p99_ms, e2el_p99_ms}." },
  benchmarkCompareStack: { type: "string", default: "", description: "Another stack whose `benchmark` outputs this stack's run is compared with (StackReference name: `org/project/stack`, or `stack` on a file backend); empty = only this stack's previous run. Deltas in benchmark.comparison and the report." },
  benchmarkVllmImage: { type: "string", default: "vllm/vllm-openai:v0.18.0", description: "Pinned image whose `vllm bench serve` the `remote` runner runs on the host." },
  // --- test rig ----------------------------------------------------------------------------------
  testRigOmitMemlockUlimit: { type: "boolean", default: false, description: "TEST RIG ONLY: leave out the server container's `--ulimit memlock=-1`, for engines whose kernel caps memlock (this project's CI machines). Real GPU hosts need the unlimited memlock; never set it on them." },
} as const satisfies Record<string, ConfigKeySchema>;

export type ConfigKey = keyof typeof CONFIG_SCHEMA;

export type { LambdaSettings } from "./host/lambda/config";
export type { ExistingHostSettings } from "./host/existing/config";
export type { HostSlice };

export interface SglangSettings {
  readonly image: string;
  readonly allowLatest: boolean;
  readonly model: string;
  readonly servedModelName: string;
  readonly preset: string;
  readonly flagOverrides: Readonly<Record<string, string | number | boolean>>;
  readonly extraArgs: readonly string[];
  readonly port: number;
  readonly apiKey: SecretSetting;
  readonly startupTimeoutMs: number;
  readonly healthStartPeriodMs: number;
  /** Test rig only: no `--ulimit memlock=-1` on the server container. */
  readonly omitMemlockUlimit: boolean;
}

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
  readonly endpoint: string;
  /** A tokenizer chosen explicitly; undefined = the model's own. */
  readonly tokenizer?: string;
  readonly timeoutMs: number;
  readonly thresholds: BenchmarkThresholds;
  readonly reportDir: string;
  /** The capacity search; undefined when `benchmarkCapacity` is {} (off). */
  readonly capacity: CapacitySettings | undefined;
  /** StackReference name of the stack compared with; undefined = none. */
  readonly compareStack: string | undefined;
  readonly vllmImage: string;
}

/** What every stack's config holds whatever its host mode. */
export interface StackConfigBase {
  readonly project: string;
  readonly stack: string;
  /** `production: true`, or a stack named prod/production. */
  readonly production: boolean;
  readonly replicas: number;
  /** Boot-work dir on the host (see components/host/bootWork.ts); undefined = no boot work. */
  readonly bootWorkDir?: string;
  readonly gpuCount: number;
  readonly gpuModel: string;
  readonly hourlyPriceUsd: number;
  readonly sglang: SglangSettings;
  readonly hf: { readonly token: SecretSetting; readonly cacheVolume: string; readonly cachePath?: string; readonly downloaderImage: string; readonly revision: string };
  readonly gpuProbeImage: string;
  readonly benchmark: BenchmarkSettings;
  readonly router: RouterSettings;
}

/**
 * The validated, typed stack configuration: a union on `hostMode`, each member carrying only its own
 * provider's settings (`lambda: LambdaSettings` in lambda mode, `existing: ...` in existing mode).
 */
export type StackConfig = StackConfigBase & HostSlice;

export const ROUTER_POLICIES = ["cache_aware", "round_robin", "power_of_two", "random"] as const;
export type RouterPolicy = (typeof ROUTER_POLICIES)[number];
export const ROUTER_PLACEMENTS = ["first-replica", "own-host"] as const;
/** `first-replica`: on the first worker's host; `own-host`: on an instance of its own (lambda mode). */
export type RouterPlacement = (typeof ROUTER_PLACEMENTS)[number];

/** SGLang's router in front of the replicas (used only when `replicas` > 1). */
export interface RouterSettings {
  /** Image reference; `sglangImage` when the key is empty. */
  readonly image: string;
  readonly placement: RouterPlacement;
  /** Lambda instance type of the router's own host (`placement: own-host`). */
  readonly instanceType: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly policy: RouterPolicy;
  readonly healthCheckIntervalMs: number;
  readonly drainTimeoutMs: number;
}

/**
 * Thrown with every problem found, so a user fixes them all in one round. A `RunError`: the Pulumi
 * runtime prints its message alone, without a stack trace (the message says where and what to fix).
 */
export class ConfigValidationError extends pulumi.RunError {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `Invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${PROJECT}:${p.key}: ${p.message}`).join("\n"),
    );
    this.name = "ConfigValidationError";
  }
}

/**
 * Raw stack config as Pulumi hands it over: strings (objects and arrays as JSON text), keyed by
 * the key without the project prefix. Secrets arrive decrypted here and leave wrapped as secrets.
 */
export type RawConfig = Readonly<Record<string, string | undefined>>;

/** How the raw values are stored, for checks that need more than the value. */
export interface RawConfigContext {
  readonly stack: string;
  readonly project?: string;
  /** Keys the schema marks secret whose stored value is NOT encrypted. */
  readonly plaintextSecretKeys?: readonly string[];
  /** Keys set in this project's namespace that the schema does not know (typos). */
  readonly unknownKeys?: readonly string[];
}

/**
 * Validators contributed by the layers that own a setting's meaning (the serving layer checks the
 * image pin, the served name and every SGLang flag: see `servingConfigCheck` in stack.ts).
 */
export type ConfigCheck = (config: StackConfig) => ConfigProblem[];

/** Reads the SGLang keys. */
function readSglang(r: Reader): SglangSettings {
  return {
    image: r.string("sglangImage"),
    allowLatest: r.boolean("sglangAllowLatest"),
    model: r.pattern("sglangModel", modelProblem, "Qwen/Qwen3.5-397B-A17B"),
    servedModelName: r.string("sglangServedModelName"),
    preset: r.string("sglangPreset"),
    flagOverrides: r.flagMap("sglangFlags"),
    extraArgs: r.stringArray("sglangExtraArgs"),
    port: r.integer("sglangPort", 1, 65535),
    apiKey: r.secret("sglangApiKey"),
    startupTimeoutMs: r.duration("sglangStartupTimeout", { min: "1m", max: "24h" }),
    healthStartPeriodMs: r.duration("sglangHealthStartPeriod", { min: "1s", max: "24h" }),
    omitMemlockUlimit: r.boolean("testRigOmitMemlockUlimit"),
  };
}

/** Reads the Hugging Face keys. */
function readHf(r: Reader): StackConfigBase["hf"] {
  return {
    token: r.secret("hfToken"),
    cacheVolume: r.pattern("hfCacheVolume", matches(DOCKER_VOLUME_NAME, "is not a Docker volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)"), "hf-cache"),
    cachePath: r.optionalString("hfCachePath"),
    downloaderImage: r.imageRef("hfDownloaderImage"),
    revision: r.pattern("hfRevision", matches(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, "is not a branch, tag or commit (letters, digits, '.', '_', '/', '-')"), "<the weightsCommit output>"),
  };
}

/** Reads the benchmark keys; the workload preset fills the sizes left unset (or 0). */
function readBenchmark(r: Reader): BenchmarkSettings {
  const workloadName = r.oneOf("benchmarkWorkload", Object.keys(WORKLOADS) as WorkloadName[]);
  const workload = WORKLOADS[workloadName] ?? WORKLOADS.coding;
  return {
    enabled: r.boolean("benchmarkEnabled"),
    scalingEfficiency: r.boolean("benchmarkScalingEfficiency"),
    runner: r.oneOf("benchmarkRunner", BENCHMARK_RUNNERS),
    workload: workloadName,
    inputLen: r.integer("benchmarkInputLen", 1, 1_048_576, workload.inputLen),
    outputLen: r.integer("benchmarkOutputLen", 1, 262_144, workload.outputLen),
    numPrompts: r.integer("benchmarkNumPrompts", 1, 1_000_000, workload.numPrompts),
    concurrency: r.integer("benchmarkConcurrency", 1, 100_000, workload.concurrency),
    endpoint: r.pattern("benchmarkEndpoint", matches(URL_PATH, "is not a URL path ('/' then letters, digits and /._~-)"), "/v1/chat/completions"),
    tokenizer: r.optionalString("benchmarkTokenizer"),
    timeoutMs: r.duration("benchmarkTimeout", { min: "1m", max: "24h" }),
    thresholds: r.thresholds("benchmarkThresholds"),
    reportDir: r.string("benchmarkReportDir"),
    capacity: r.capacity("benchmarkCapacity", "benchmarkSlo"),
    compareStack: r.pattern("benchmarkCompareStack", matches(STACK_REFERENCE_NAME, "is not a stack name (stack, or org/project/stack: letters, digits, '.', '_', '-')"), "myorg/hgx-inference/prod", { optional: true }) || undefined,
    vllmImage: r.imageRef("benchmarkVllmImage"),
  };
}

/** Reads the router keys (used only when `replicas` > 1). */
function readRouter(r: Reader): RouterSettings {
  return {
    image: r.optionalString("routerImage") !== undefined ? r.imageRef("routerImage") : r.string("sglangImage"),
    placement: r.oneOf("routerPlacement", ROUTER_PLACEMENTS),
    instanceType: r.string("routerInstanceType"),
    port: r.integer("routerPort", 1, 65535),
    metricsPort: r.integer("routerMetricsPort", 1, 65535),
    policy: r.oneOf("routerPolicy", ROUTER_POLICIES),
    healthCheckIntervalMs: r.duration("routerHealthCheckInterval", { min: "1s", max: "10m" }),
    drainTimeoutMs: r.duration("routerDrainTimeout", { allowZero: true, max: "2h" }),
  };
}

/** Parses and validates raw config; throws `ConfigValidationError` listing every problem. */
export function parseStackConfig(
  raw: RawConfig,
  context: RawConfigContext,
  extraChecks: readonly ConfigCheck[] = [],
): StackConfig {
  const r = new Reader(raw);
  const hostMode = r.oneOf("hostMode", HOST_MODES);
  const production = r.boolean("production") || isProductionStack(context.stack, PRODUCTION_STACKS);
  const host = parseHostSlice(r, hostMode, production);
  const config: StackConfig = {
    project: context.project ?? PROJECT,
    stack: context.stack,
    production,
    ...host,
    replicas: r.integer("replicas", 1, 64),
    bootWorkDir: r.optionalString("bootWorkDir"),
    // A provider whose settings imply the GPUs (a cloud instance type) does not read `gpuCount`.
    gpuCount: hostGpuCount(taggedHostSettings(host)) ?? r.integer("gpuCount", 1, 64),
    gpuModel: r.pattern("gpuModel", matches(GPU_MODEL_PATTERN, "is not a GPU model word as nvidia-smi prints it (letters, digits, space, '.', '_', '-')"), "B200"),
    gpuProbeImage: r.imageRef("gpuProbeImage"),
    hourlyPriceUsd: r.decimal("hourlyPriceUsd", 0),
    sglang: readSglang(r),
    hf: readHf(r),
    benchmark: readBenchmark(r),
    router: readRouter(r),
  };
  const problems = [...storageProblems(context), ...r.problems, ...crossChecks(config, raw), ...extraChecks.flatMap((check) => check(config))];
  if (problems.length > 0) throw new ConfigValidationError(problems);
  return config;
}

export { apiUrlProblem, gpuCountOfInstanceType, LAMBDA_API_HOSTS } from "./host/lambda/config";

function storageProblems(context: RawConfigContext): ConfigProblem[] {
  const known = Object.keys(CONFIG_SCHEMA);
  return [
    ...(context.plaintextSecretKeys ?? []).map((key) => ({
      key,
      message: `is stored in plaintext in the stack file, but it is a secret. Fix: pulumi config set --secret ${PROJECT}:${key} <value>`,
    })),
    ...(context.unknownKeys ?? []).map((key) => {
      const guess = closestKey(key, known);
      return {
        key,
        message: `is not a setting of this stack${guess ? ` (did you mean ${guess}?)` : ""}. Fix: pulumi config rm ${PROJECT}:${key}${guess ? ` && pulumi config set ${PROJECT}:${guess} <value>` : ""}`,
      };
    }),
  ];
}

/** The known key nearest to a typo (edit distance ≤ 3), if any. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance <= 3 && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The router's ports against SSH, the workers' serving ports and each other: on the first replica's
 * host they share its network (and on the local engine the workers take sglangPort, sglangPort+1, ...);
 * on a host of its own only SSH is there.
 */
export function routerPortProblems(c: StackConfig, sshPort: number): ConfigProblem[] {
  if (c.replicas < 2) return [];
  const workerPorts =
    c.router.placement === "own-host" ? [] : c.hostMode === "local" ? Array.from({ length: c.replicas }, (_, i) => c.sglang.port + i) : [c.sglang.port];
  const problems: ConfigProblem[] = [];
  for (const [key, port] of [["routerPort", c.router.port], ["routerMetricsPort", c.router.metricsPort]] as const) {
    const clash =
      port === sshPort || port === 22
        ? "the host's SSH port"
        : workerPorts.includes(port)
          ? `a worker's serving port (${workerPorts.join(", ")})`
          : key === "routerMetricsPort" && port === c.router.port
            ? "routerPort"
            : port < 1024
              ? "a privileged port (< 1024)"
              : undefined;
    if (clash)
      problems.push({ key, message: `= ${port} is ${clash}; the router shares its host's network. Fix: pulumi config set ${PROJECT}:${key} ${key === "routerPort" ? 30000 : 29000} (any free port in 1024-65535)` });
  }
  return problems;
}

/** What a routed stack (replicas > 1) needs beyond one host: a key, a placement the mode can host, free tunnel ports. */
function routedProblems(c: StackConfig): ConfigProblem[] {
  if (c.replicas < 2) return [];
  const problems: ConfigProblem[] = [];
  const add = (key: ConfigKey, message: string) => problems.push({ key, message });
  const host = taggedHostSettings(c);
  if (c.router.placement === "own-host") {
    if (!hostLaunchesRouterHost(c.hostMode)) {
      const able = HOST_MODES.filter(hostLaunchesRouterHost).map((m) => `"${m}"`).join(" or ");
      add("routerPlacement", `= "own-host" launches an instance for the router, which only hostMode ${able} can do (hostMode is "${c.hostMode}"). Fix: pulumi config set ${PROJECT}:routerPlacement first-replica`);
    } else problems.push(...hostRouterHostProblems(host, c.router.instanceType));
  }
  // The workers' key also guards the router's `/workers` API (add/remove workers): a routed stack without one serves both unauthenticated.
  if (!c.sglang.apiKey.present)
    add("sglangApiKey", `is required when replicas = ${c.replicas}: without it the workers and the router's /workers API accept anyone. Fix: pulumi config set --secret ${PROJECT}:sglangApiKey "$(openssl rand -hex 24)"`);
  // Cross-region workers are reached through tunnels listening on the router's host at TUNNEL_PORT_BASE + replica index.
  if (hostCrossRegion(host)) {
    const last = TUNNEL_PORT_BASE + c.replicas - 1;
    for (const [key, port] of [["routerPort", c.router.port], ["routerMetricsPort", c.router.metricsPort], ["sglangPort", c.sglang.port]] as const)
      if (port >= TUNNEL_PORT_BASE && port <= last)
        add(key, `= ${port} is one of the router host's tunnel ports (${TUNNEL_PORT_BASE}-${last}: one per cross-region worker when lambdaRegions lists several regions). Fix: pulumi config set ${PROJECT}:${key} <a port outside ${TUNNEL_PORT_BASE}-${last}>`);
  }
  problems.push(...hostReplicaProblems(host, c.replicas));
  return problems;
}

/** The chosen host provider's cross-checks, with what they need from the rest of the config. */
function hostModeProblems(c: StackConfig, raw: RawConfig): ConfigProblem[] {
  return hostProblems(taggedHostSettings(c), {
    stack: c.stack,
    production: c.production,
    productionSet: raw.production === "true",
    servingApiKeyPresent: c.sglang.apiKey.present,
  });
}

function benchmarkProblems(c: StackConfig, raw: RawConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (key: ConfigKey, message: string) => problems.push({ key, message });
  if (c.benchmark.concurrency > c.benchmark.numPrompts)
    add("benchmarkConcurrency", `= ${c.benchmark.concurrency} exceeds benchmarkNumPrompts = ${c.benchmark.numPrompts}: the extra slots would never be used. Fix: lower the concurrency or raise the prompt count`);
  if (!c.benchmark.endpoint.startsWith("/"))
    add("benchmarkEndpoint", `= "${c.benchmark.endpoint}" must be a path starting with '/'. Fix: /v1/chat/completions`);
  else
    for (const p of runnerWorkloadProblems({ endpoint: c.benchmark.endpoint, ignoreEos: true }, c.benchmark.runner))
      add(
        "benchmarkEndpoint",
        `= "${c.benchmark.endpoint}" cannot be run by the ${c.benchmark.runner} runner: ${p.why}. Fix: pulumi config set ${PROJECT}:benchmarkEndpoint /v1/chat/completions` +
          (c.benchmark.runner === "native" ? `, or pulumi config set ${PROJECT}:benchmarkRunner remote (vllm's openai backend for /v1/completions)` : " (or /v1/completions)"),
      );
  // The remote runner's image is the pinned vllm one here (a stand-in image that runs the native runner could load it).
  const bundledProblem = c.benchmark.tokenizer === "bundled" && c.benchmark.runner === "remote" ? bundledTokenizerProblem(c.benchmark.vllmImage) : undefined;
  if (bundledProblem)
    add("benchmarkTokenizer", `= "bundled": the ${bundledProblem}. Fix: pulumi config rm ${PROJECT}:benchmarkTokenizer (the model's own tokenizer), or set benchmarkRunner native`);
  if (c.benchmark.capacity === undefined && raw.benchmarkSlo !== undefined && raw.benchmarkSlo.trim() !== "" && raw.benchmarkSlo.trim() !== "{}")
    add("benchmarkSlo", `is set but benchmarkCapacity is not, so no search would use it. Fix: pulumi config set --path '${PROJECT}:benchmarkCapacity.concurrencyRange' 8:256`);
  if (c.benchmark.runner === "remote" && c.hostMode === "local" && raw.benchmarkRunner !== undefined)
    add("benchmarkRunner", `= "remote" needs an SSH host, but hostMode is "local". Fix: pulumi config set ${PROJECT}:benchmarkRunner native`);
  return problems;
}

/** The cache path, boot-work dir, served name and serving port. */
function servingHostProblems(c: StackConfig, sshPort: number): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (key: ConfigKey, message: string) => problems.push({ key, message });
  if (c.hf.cachePath !== undefined && !c.hf.cachePath.startsWith("/"))
    add("hfCachePath", `= "${c.hf.cachePath}" must be an absolute path ('~' only expands in a shell). Fix: e.g. /home/ubuntu/.cache/huggingface`);
  else if (c.hf.cachePath !== undefined && /[:\x00-\x1f\x7f]/.test(c.hf.cachePath))
    add("hfCachePath", `= ${JSON.stringify(c.hf.cachePath)} contains ':' or a control character, which Docker's -v host:container syntax and the host's scripts cannot carry. Fix: e.g. /home/ubuntu/.cache/huggingface`);
  if (c.bootWorkDir !== undefined && validateBootWork({ dir: c.bootWorkDir, image: "-" }).length > 0)
    add("bootWorkDir", `= ${JSON.stringify(c.bootWorkDir)} is not an absolute path of letters, digits, '.', '_', '-' and '/'. Fix: pulumi config set ${PROJECT}:bootWorkDir /var/lib/hgx-boot (or "" for no boot work)`);
  if (c.sglang.servedModelName !== "" && !SERVED_MODEL_NAME.test(c.sglang.servedModelName))
    add("sglangServedModelName", `= ${JSON.stringify(c.sglang.servedModelName)} is not a served name (letters, digits, '.', '_', '/', '-', starting with a letter or digit, at most 128). Fix: pulumi config set ${PROJECT}:sglangServedModelName qwen`);
  const port = c.sglang.port;
  if (port === 22 || port === sshPort)
    add("sglangPort", `= ${port} is the host's SSH port: the server would fail to bind (or shadow SSH behind the firewall rule). Fix: pulumi config set ${PROJECT}:sglangPort 8000`);
  else if (port >= 1 && port < 1024)
    add("sglangPort", `= ${port} is a privileged port (< 1024), reserved for system services. Fix: pulumi config set ${PROJECT}:sglangPort 8000 (any of 1024-65535)`);
  return problems;
}

function crossChecks(c: StackConfig, raw: RawConfig): ConfigProblem[] {
  const sshPort = hostSshPort(taggedHostSettings(c));
  return [
    ...hostModeProblems(c, raw),
    ...benchmarkProblems(c, raw),
    ...servingHostProblems(c, sshPort),
    ...routerPortProblems(c, sshPort),
    ...routedProblems(c),
  ];
}

/** Reads raw values with the schema's defaults, collecting problems instead of throwing. */
class Reader implements SettingsReader<ConfigKey> {
  readonly problems: ConfigProblem[] = [];
  constructor(private readonly raw: RawConfig) {}

  fail(key: string, value: unknown, reason: string, fix: string): void {
    const shown = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
    this.problems.push({ key, message: `= ${shown} ${reason}. Fix: ${fix}` });
  }

  private rawOrDefault(key: ConfigKey): unknown {
    const value = this.raw[key];
    if (value !== undefined) return value;
    const schema: ConfigKeySchema = CONFIG_SCHEMA[key];
    return schema.default;
  }

  string(key: ConfigKey): string {
    const v = this.rawOrDefault(key);
    return typeof v === "string" ? v.trim() : v === undefined ? "" : String(v);
  }

  optionalString(key: ConfigKey): string | undefined {
    const v = this.string(key);
    return v === "" ? undefined : v;
  }

  oneOf<T extends string>(key: ConfigKey, allowed: readonly T[]): T {
    const v = this.string(key);
    if ((allowed as readonly string[]).includes(v)) return v as T;
    this.fail(key, v, `is not one of ${allowed.join(", ")}`, `pulumi config set ${PROJECT}:${key} ${allowed[0]}`);
    return allowed[0]!;
  }

  integer(key: ConfigKey, min: number, max: number, fallback?: number): number {
    // For workload-derived settings, unset and 0 both mean "take the workload's value".
    const given = this.raw[key];
    const v = fallback !== undefined && (given === undefined || given === "0") ? String(fallback) : given ?? this.rawOrDefault(key);
    const n = typeof v === "number" ? v : Number(v);
    if (typeof v === "string" && !/^-?\d+$/.test(v.trim())) {
      this.fail(key, v, `is not a whole number`, `pulumi config set ${PROJECT}:${key} <integer ${min}-${max}>`);
      return fallback ?? min;
    }
    if (!Number.isInteger(n) || n < min || n > max) {
      this.fail(key, v, `is outside ${min}-${max}`, `pulumi config set ${PROJECT}:${key} <integer ${min}-${max}>`);
      return fallback ?? min;
    }
    return n;
  }

  /** A plain decimal (`45.92`): `Number()` would also read `0x10` as 16, `1e3` and ` ` as numbers. */
  decimal(key: ConfigKey, min: number): number {
    const v = this.string(key);
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n) || n < min) {
      this.fail(key, v, `is not a plain decimal number >= ${min}`, `pulumi config set ${PROJECT}:${key} 45.92`);
      return min;
    }
    return n;
  }

  /** A string the check accepts; `optional` lets "" through (unset). */
  pattern(key: ConfigKey, check: ValueCheck, example: string, opts: { optional?: boolean } = {}): string {
    const v = this.string(key);
    if (opts.optional && v === "") return v;
    const reason = v === "" ? "is empty" : check(v);
    if (reason !== undefined) this.fail(key, v, reason, `pulumi config set ${PROJECT}:${key} ${example}`);
    return v;
  }

  boolean(key: ConfigKey): boolean {
    const v = this.rawOrDefault(key);
    if (typeof v === "boolean") return v;
    if (v === "true") return true;
    if (v === "false") return false;
    this.fail(key, v, "is not true or false", `pulumi config set ${PROJECT}:${key} true`);
    return false;
  }

  /** A Docker image reference with an explicit tag or digest (it reaches `docker run` lines). */
  imageRef(key: ConfigKey): string {
    const v = this.string(key);
    const ref = parseImageRef(v);
    const pinned = (ref.tag !== undefined && ref.tag !== "latest") || ref.digest !== undefined;
    if (!/^[A-Za-z0-9][A-Za-z0-9._\/:@-]{0,254}$/.test(v) || !pinned) {
      this.fail(key, v, "is not a pinned image reference (repository:tag or @sha256:digest, no `latest`)", `pulumi config set ${PROJECT}:${key} ${String(CONFIG_SCHEMA[key].default)}`);
    }
    return v;
  }

  /**
   * `8h`, `45m`, `90 minutes`, `2d`; `0` only where `allowZero`; negatives are refused. `min`/`max`
   * (durations themselves) keep values that would only fail mid-deploy out: a 1 s boot timeout
   * terminates every launch, and timers above ~24.8 days overflow Node's setTimeout.
   */
  duration(key: ConfigKey, opts: { allowZero?: boolean; min?: string; max?: string; why?: string } = {}): number {
    const v = this.string(key);
    if (opts.allowZero && (v === "0" || v === "none" || v === "")) return 0;
    const n = /^\d+$/.test(v) ? Number(v) * 1000 : durationMs(v);
    const fix = `pulumi config set ${PROJECT}:${key} 8h   (units: s, m, h, d; plain numbers are seconds)`;
    if (typeof n !== "number" || !Number.isFinite(n) || n <= 0) {
      const reason = typeof n === "number" && n < 0 ? "is negative" : "is not a positive duration";
      this.fail(key, v, reason, fix);
      return 0;
    }
    const min = opts.min === undefined ? undefined : durationMs(opts.min);
    const max = opts.max === undefined ? undefined : durationMs(opts.max);
    if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
      const range = `${opts.min ?? "0"}-${opts.max ?? "∞"}`;
      this.fail(key, v, `is outside ${range}${opts.why ? ` (${opts.why})` : ""}`, `pulumi config set ${PROJECT}:${key} <duration ${range}>`);
      return min ?? 0;
    }
    return n;
  }

  private json(key: ConfigKey): unknown {
    const v = this.rawOrDefault(key);
    if (typeof v !== "string") return v;
    try {
      return JSON.parse(v);
    } catch {
      this.fail(key, v, "is not valid JSON", `pulumi config set --path '${PROJECT}:${key}[0]' <value>`);
      return undefined;
    }
  }

  stringArray(key: ConfigKey): string[] {
    const v = this.json(key);
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
      this.fail(key, v, "is not a list of strings", `pulumi config set --path '${PROJECT}:${key}[0]' <value>`);
      return [];
    }
    return v as string[];
  }

  flagMap(key: ConfigKey): Record<string, string | number | boolean> {
    const v = this.json(key);
    if (v === undefined) return {};
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.fail(key, v, "is not an object of flag → value", `pulumi config set --path '${PROJECT}:${key}.mem-fraction-static' 0.8`);
      return {};
    }
    const out: Record<string, string | number | boolean> = {};
    for (const [flag, value] of Object.entries(v as Record<string, unknown>)) {
      if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") out[flag.replace(/^--/, "")] = value;
      else this.fail(`${key}.${flag}`, value, "must be a string, number or boolean", `pulumi config set --path '${PROJECT}:${key}.${flag}' <value>`);
    }
    return out;
  }

  thresholds(key: ConfigKey): BenchmarkThresholds {
    const v = this.json(key);
    if (v === undefined) return {};
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.fail(key, v, "is not an object", `pulumi config set --path '${PROJECT}:${key}.minOutputThroughput' 1000`);
      return {};
    }
    const known = THRESHOLD_KEYS;
    const out: { -readonly [K in keyof BenchmarkThresholds]: number } = {};
    for (const [name, value] of Object.entries(v as Record<string, unknown>)) {
      if (!(known as readonly string[]).includes(name)) {
        this.fail(`${key}.${name}`, value, "is not a known threshold", `use one of ${known.join(", ")}`);
        continue;
      }
      const n = typeof value === "string" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isFinite(n) || n < 0) {
        this.fail(`${key}.${name}`, value, "must be a number >= 0", `pulumi config set --path '${PROJECT}:${key}.${name}' <number>`);
        continue;
      }
      out[name as keyof BenchmarkThresholds] = n;
    }
    return out;
  }

  /** `benchmarkCapacity` + `benchmarkSlo`; undefined when the capacity object is empty (off). */
  capacity(key: ConfigKey, sloKey: ConfigKey): CapacitySettings | undefined {
    const v = this.json(key);
    const sloRaw = this.json(sloKey);
    const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
    if (v !== undefined && !isObject(v)) {
      this.fail(key, v, "is not an object", `pulumi config set --path '${PROJECT}:${key}.concurrencyRange' 8:256`);
      return undefined;
    }
    let slo: CapacitySlo | undefined;
    if (sloRaw !== undefined && !isObject(sloRaw)) {
      this.fail(sloKey, sloRaw, "is not an object", `pulumi config set --path '${PROJECT}:${sloKey}.ttft_p99_ms' 3000`);
    } else if (sloRaw !== undefined && Object.keys(sloRaw).length > 0) {
      const out: Record<string, number> = {};
      for (const [name, value] of Object.entries(sloRaw)) {
        const field = SLO_NAMES[name];
        const n = typeof value === "string" ? Number(value) : value;
        if (!field) this.fail(`${sloKey}.${name}`, value, "is not a known SLO", `use ${Object.keys(SLO_NAMES).join(", ")}`);
        else if (typeof n !== "number" || !Number.isFinite(n) || n <= 0) this.fail(`${sloKey}.${name}`, value, "must be a number of milliseconds > 0", `pulumi config set --path '${PROJECT}:${sloKey}.${name}' 3000`);
        else out[field] = n;
      }
      slo = out;
    }
    if (v === undefined || Object.keys(v).length === 0) return undefined;
    const known = ["concurrencyRange", "promptsPerConcurrency", "repeats", "resolution", "warmupRequests", "maxDuration"];
    for (const name of Object.keys(v)) {
      if (!known.includes(name)) this.fail(`${key}.${name}`, v[name], "is not a known setting", `use ${known.join(", ")}`);
    }
    const range = typeof v.concurrencyRange === "string" ? /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(v.concurrencyRange) : null;
    const low = range ? Number(range[1]) : NaN;
    const high = range ? Number(range[2]) : NaN;
    if (!range || low < 1 || low > high) {
      this.fail(`${key}.concurrencyRange`, v.concurrencyRange, "is not LOW:HIGH with 1 <= LOW <= HIGH", `pulumi config set --path '${PROJECT}:${key}.concurrencyRange' 8:256`);
    }
    const whole = (name: string, min: number): number | undefined => {
      const raw = v[name];
      if (raw === undefined) return undefined;
      const n = typeof raw === "string" ? Number(raw) : raw;
      if (typeof n !== "number" || !Number.isInteger(n) || n < min) {
        this.fail(`${key}.${name}`, raw, `must be a whole number >= ${min}`, `pulumi config set --path '${PROJECT}:${key}.${name}' ${Math.max(min, 1)}`);
        return undefined;
      }
      return n;
    };
    let maxDurationS: number | undefined;
    if (v.maxDuration !== undefined) {
      const text = String(v.maxDuration);
      const ms = /^\d+$/.test(text) ? Number(text) * 1000 : durationMs(text);
      if (ms === undefined || !(ms > 0)) this.fail(`${key}.maxDuration`, v.maxDuration, "is not a positive duration", `pulumi config set --path '${PROJECT}:${key}.maxDuration' 2h`);
      else maxDurationS = ms / 1000;
    }
    return {
      concurrencyRange: { low: Number.isFinite(low) ? low : 1, high: Number.isFinite(high) ? Math.max(high, 1) : 1 },
      slo,
      promptsPerConcurrency: whole("promptsPerConcurrency", 1),
      repeats: whole("repeats", 1),
      resolution: whole("resolution", 1),
      warmupRequests: whole("warmupRequests", 0),
      maxDurationS,
    };
  }

  /**
   * A secret setting. The value never enters a message. A token (`multiline` unset) reaches the host as
   * one line and an HTTP header, so a control character — a token pasted over two lines, a stray CR or
   * tab — is refused; a private key keeps its line breaks but no other control character.
   */
  secret(key: ConfigKey, opts: { multiline?: boolean } = {}): SecretSetting {
    const v = this.raw[key];
    const control = opts.multiline ? /[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]/ : /[\x00-\x1f\x7f]/;
    if (v !== undefined && control.test(v)) {
      const what = opts.multiline ? "a control character other than a line break" : "a control character (a line break, CR, tab, ...)";
      const fix = opts.multiline
        ? `pulumi config set --secret ${PROJECT}:${key} -- "$(cat <key file>)"`
        : `set it again as one line, e.g. pulumi config set --secret ${PROJECT}:${key} -- "$(tr -d '\\r\\n\\t' < <file holding it>)"`;
      this.problems.push({ key, message: `contains ${what} (the value is not shown). Fix: ${fix}` });
    }
    return { present: v !== undefined && v !== "", value: pulumi.secret(v ?? "") };
  }
}

/** `isConfigSecret` exists in the runtime but not in its type declarations. */
const runtimeConfig = pulumi.runtime as unknown as { isConfigSecret?: (fullKey: string) => boolean };

/** Reads this stack's raw config and how it is stored, through the Pulumi runtime (program context only). */
export function readRawStackConfig(project: string = pulumi.getProject()): { raw: RawConfig; context: RawConfigContext } {
  const raw: Record<string, string | undefined> = {};
  const plaintextSecretKeys: string[] = [];
  for (const [key, schema] of Object.entries(CONFIG_SCHEMA) as [ConfigKey, ConfigKeySchema][]) {
    // getConfig returns the decrypted string for secrets without logging it; the Reader wraps it
    // as a secret at once.
    const value = pulumi.runtime.getConfig(`${project}:${key}`);
    raw[key] = value;
    const isSecret = runtimeConfig.isConfigSecret?.(`${project}:${key}`) ?? true;
    if (schema.secret && value !== undefined && value !== "" && !isSecret) plaintextSecretKeys.push(key);
  }
  const prefix = `${project}:`;
  const unknownKeys = Object.keys(pulumi.runtime.allConfig())
    .filter((fullKey) => fullKey.startsWith(prefix))
    .map((fullKey) => fullKey.slice(prefix.length))
    .filter((key) => !(key in CONFIG_SCHEMA));
  return { raw, context: { stack: pulumi.getStack(), project, plaintextSecretKeys, unknownKeys } };
}
