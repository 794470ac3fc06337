/**
 * The stack's configuration contract: one schema (the source of truth for `Pulumi.yaml`'s typed
 * `config:` block, kept in sync by a test), and one pure function that turns raw stack config into
 * a validated, typed object — or into ONE error listing every problem, each naming the key, the
 * value and the fix, before any resource is created. Each layer owns its slice — its keys' schema
 * entries, parser and the checks that need no other layer: components/host/<provider>/config.ts (through
 * the host provider registry), serving/config.ts, router/config.ts, benchmark/config.ts. This module
 * assembles the slices, reads raw values for them (`Reader`) and keeps the checks that span layers.
 */
import * as pulumi from "@pulumi/pulumi";
import { BENCHMARK_KEYS, benchmarkProblems, readBenchmarkSettings, type BenchmarkSettings } from "./benchmark/config";
import { BENCHMARK_RUNNERS } from "./benchmark/workload";
import { URL_PATH, type ConfigKeySchema, type ConfigProblem, type SecretSetting, type SettingsReader, type ValueCheck, matches } from "./configSlice";
import { durationMs } from "./duration";
import { cidrProblem } from "./network";
import { isProductionStack } from "./ops/policyRules";
import { GPU_MODEL_PATTERN, PRODUCTION_STACKS, PROJECT } from "./projectFacts";
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
import { readRouterSettings, ROUTER_KEYS, type RouterSettings } from "./router/config";
import { TUNNEL_PORT_BASE } from "./router/tunnel";
import { readHfSettings, readSglangSettings, SERVING_KEYS, servingProblems, TEST_RIG_KEYS, type HfSettings, type SglangSettings } from "./serving/config";

export { cidrProblem };

/** Re-exported: callers that read settings take these facts from config too. */
export { GPU_MODEL_PATTERN, PRODUCTION_STACKS, PROJECT };

// Patterns for settings that reach a shell, an SSH command line, a URL or a vendor API (the host
// providers' own live in their config slices and are re-exported here).
export { IMAGE_FAMILY, LAMBDA_FILESYSTEM_NAME, SSH_PUBLIC_KEY } from "./host/lambda/config";
export { SSH_USER } from "./host/existing/config";
export { URL_PATH };
export { DOCKER_VOLUME_NAME, HF_REPO_ID, SERVED_MODEL_NAME } from "./serving/config";
export { WORKLOADS, type BenchmarkRunner, type BenchmarkSettings, type BenchmarkThresholds, type WorkloadName } from "./benchmark/config";
export { ROUTER_PLACEMENTS, ROUTER_POLICIES, type RouterPlacement, type RouterPolicy, type RouterSettings } from "./router/config";
export type { HfSettings, SglangSettings } from "./serving/config";

export type { ConfigKeySchema, ConfigProblem, SecretSetting };

export { BENCHMARK_RUNNERS, HOST_MODES, LAMBDA_REGIONS, type HostMode };

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
  ...ROUTER_KEYS,
  // --- the host providers' own keys (lambda*, then the existing host's ssh*) ----------------------
  ...HOST_PROVIDER_KEYS,
  // --- existing or local host --------------------------------------------------------------------
  gpuCount: { type: "integer", default: 8, description: "GPUs expected on an existing or local host (Lambda: read from the instance type)." },
  gpuModel: { type: "string", default: "B200", description: "GPU model name expected in `nvidia-smi` output." },
  gpuProbeImage: { type: "string", default: "ubuntu:24.04@sha256:69cecf4bbf72d2d44a9eef1b71fb98c7fb973d78af11399deccef19beb008ad9", description: "Image of the host check that runs `nvidia-smi -L` in a `--gpus all` container (any small image; the NVIDIA runtime injects the tool); pinned by digest, the tag kept for humans." },
  hourlyPriceUsd: { type: "string", default: "0", description: "Hourly price of an existing host in USD (plain decimal, e.g. `45.92`), for cost outputs (Lambda: read from the API)." },
  // --- serving: SGLang, Hugging Face, boot work --------------------------------------------------------
  ...SERVING_KEYS,
  // --- benchmark ----------------------------------------------------------------------------------
  ...BENCHMARK_KEYS,
  // --- test rig ----------------------------------------------------------------------------------
  ...TEST_RIG_KEYS,
} as const satisfies Record<string, ConfigKeySchema>;

export type ConfigKey = keyof typeof CONFIG_SCHEMA;

export type { LambdaSettings } from "./host/lambda/config";
export type { ExistingHostSettings } from "./host/existing/config";
export type { HostSlice };


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
  readonly hf: HfSettings;
  readonly gpuProbeImage: string;
  readonly benchmark: BenchmarkSettings;
  readonly router: RouterSettings;
}

/**
 * The validated, typed stack configuration: a union on `hostMode`, each member carrying only its own
 * provider's settings (`lambda: LambdaSettings` in lambda mode, `existing: ...` in existing mode).
 */
export type StackConfig = StackConfigBase & HostSlice;


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
    sglang: readSglangSettings(r),
    hf: readHfSettings(r),
    benchmark: readBenchmarkSettings(r),
    router: readRouterSettings(r, r.string("sglangImage")),
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


/** What a stack on this machine's engine cannot do. */
function localHostProblems(c: StackConfig, raw: RawConfig): ConfigProblem[] {
  if (c.benchmark.runner === "remote" && c.hostMode === "local" && raw.benchmarkRunner !== undefined)
    return [{ key: "benchmarkRunner", message: `= "remote" needs an SSH host, but hostMode is "local". Fix: pulumi config set ${PROJECT}:benchmarkRunner native` }];
  return [];
}

function crossChecks(c: StackConfig, raw: RawConfig): ConfigProblem[] {
  const sshPort = hostSshPort(taggedHostSettings(c));
  return [
    ...hostModeProblems(c, raw),
    ...benchmarkProblems(c.benchmark, raw.benchmarkSlo !== undefined && raw.benchmarkSlo.trim() !== "" && raw.benchmarkSlo.trim() !== "{}"),
    ...localHostProblems(c, raw),
    ...servingProblems(c.sglang, c.hf, c.bootWorkDir, sshPort),
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

  json(key: ConfigKey): unknown {
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
