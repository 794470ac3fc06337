/**
 * The serving layer's config slice: the SGLang and Hugging Face keys (the schema entries Pulumi.yaml is
 * generated from), their parser and the checks that need nothing outside this layer. The checks that
 * need the planner (flags against the GPUs, the image pin) run as `servingConfigCheck` in the stack.
 */
import { matches, type SecretSetting, type SettingsReader, type ConfigProblem } from "../configSlice";
import { validateBootWork } from "../host/bootWork";
import { PROJECT } from "../projectFacts";

/** Docker's rule for volume (and container) names. */
export const DOCKER_VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** Names SGLang serves under (`:` is left to the serving layer, which explains the LoRA syntax). */
export const SERVED_MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._\/:-]{0,127}$/;
/** A Hugging Face repo id `org/name`. */
export const HF_REPO_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** `--model-path`: a Hugging Face repo id, or an absolute path on the host without ':' or control characters. */
function modelProblem(value: string): string | undefined {
  if (HF_REPO_ID.test(value)) return undefined;
  if (value.startsWith("/") && !/[\x00-\x1f\x7f:]/.test(value)) return undefined;
  return "is neither a Hugging Face repo id (org/name) nor an absolute path";
}

export const SERVING_KEYS = {
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
} as const;

/** Keys for this project's test rig only; listed last in Pulumi.yaml. */
export const TEST_RIG_KEYS = {
  testRigOmitMemlockUlimit: { type: "boolean", default: false, description: "TEST RIG ONLY: leave out the server container's `--ulimit memlock=-1`, for engines whose kernel caps memlock (this project's CI machines). Real GPU hosts need the unlimited memlock; never set it on them." },
} as const;

export type ServingKey = keyof typeof SERVING_KEYS | keyof typeof TEST_RIG_KEYS;

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

/** Where the weights come from and where they are kept. */
export interface HfSettings {
  readonly token: SecretSetting;
  readonly cacheVolume: string;
  readonly cachePath?: string;
  readonly downloaderImage: string;
  readonly revision: string;
}

/** Reads the SGLang keys. */
export function readSglangSettings(r: SettingsReader<ServingKey>): SglangSettings {
  return {
    image: r.string("sglangImage"),
    allowLatest: r.boolean("sglangAllowLatest"),
    model: r.pattern("sglangModel", modelProblem, "Qwen/Qwen3.5-397B-A17B"),
    servedModelName: r.string("sglangServedModelName"),
    preset: r.string("sglangPreset"),
    flagOverrides: readFlagMap(r, "sglangFlags"),
    extraArgs: r.stringArray("sglangExtraArgs"),
    port: r.integer("sglangPort", 1, 65535),
    apiKey: r.secret("sglangApiKey"),
    startupTimeoutMs: r.duration("sglangStartupTimeout", { min: "1m", max: "24h" }),
    healthStartPeriodMs: r.duration("sglangHealthStartPeriod", { min: "1s", max: "24h" }),
    omitMemlockUlimit: r.boolean("testRigOmitMemlockUlimit"),
  };
}

/** Reads the Hugging Face keys. */
export function readHfSettings(r: SettingsReader<ServingKey>): HfSettings {
  return {
    token: r.secret("hfToken"),
    cacheVolume: r.pattern("hfCacheVolume", matches(DOCKER_VOLUME_NAME, "is not a Docker volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)"), "hf-cache"),
    cachePath: r.optionalString("hfCachePath"),
    downloaderImage: r.imageRef("hfDownloaderImage"),
    revision: r.pattern("hfRevision", matches(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, "is not a branch, tag or commit (letters, digits, '.', '_', '/', '-')"), "<the weightsCommit output>"),
  };
}

function readFlagMap(r: SettingsReader<ServingKey>, key: ServingKey): Record<string, string | number | boolean> {
  const v = r.json(key);
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    r.fail(key, v, "is not an object of flag → value", `pulumi config set --path '${PROJECT}:${key}.mem-fraction-static' 0.8`);
    return {};
  }
  const out: Record<string, string | number | boolean> = {};
  for (const [flag, value] of Object.entries(v as Record<string, unknown>)) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") out[flag.replace(/^--/, "")] = value;
    else r.fail(`${key}.${flag}`, value, "must be a string, number or boolean", `pulumi config set --path '${PROJECT}:${key}.${flag}' <value>`);
  }
  return out;
}

/** The serving checks that need no other layer: the cache path, the boot-work dir, the served name and the port against SSH. */
export function servingProblems(sglang: SglangSettings, hf: HfSettings, bootWorkDir: string | undefined, sshPort: number): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (key: ServingKey, message: string) => problems.push({ key, message });
  if (hf.cachePath !== undefined && !hf.cachePath.startsWith("/"))
    add("hfCachePath", `= "${hf.cachePath}" must be an absolute path ('~' only expands in a shell). Fix: e.g. /home/ubuntu/.cache/huggingface`);
  else if (hf.cachePath !== undefined && /[:\x00-\x1f\x7f]/.test(hf.cachePath))
    add("hfCachePath", `= ${JSON.stringify(hf.cachePath)} contains ':' or a control character, which Docker's -v host:container syntax and the host's scripts cannot carry. Fix: e.g. /home/ubuntu/.cache/huggingface`);
  if (bootWorkDir !== undefined && validateBootWork({ dir: bootWorkDir, image: "-" }).length > 0)
    add("bootWorkDir", `= ${JSON.stringify(bootWorkDir)} is not an absolute path of letters, digits, '.', '_', '-' and '/'. Fix: pulumi config set ${PROJECT}:bootWorkDir /var/lib/hgx-boot (or "" for no boot work)`);
  if (sglang.servedModelName !== "" && !SERVED_MODEL_NAME.test(sglang.servedModelName))
    add("sglangServedModelName", `= ${JSON.stringify(sglang.servedModelName)} is not a served name (letters, digits, '.', '_', '/', '-', starting with a letter or digit, at most 128). Fix: pulumi config set ${PROJECT}:sglangServedModelName qwen`);
  const port = sglang.port;
  if (port === 22 || port === sshPort)
    add("sglangPort", `= ${port} is the host's SSH port: the server would fail to bind (or shadow SSH behind the firewall rule). Fix: pulumi config set ${PROJECT}:sglangPort 8000`);
  else if (port >= 1 && port < 1024)
    add("sglangPort", `= ${port} is a privileged port (< 1024), reserved for system services. Fix: pulumi config set ${PROJECT}:sglangPort 8000 (any of 1024-65535)`);
  return problems;
}
