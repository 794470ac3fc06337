/**
 * Plain serving configuration -> a validated plan (flags, argv, container spec, scripts'
 * options). Pure: the SglangServer component calls it before creating any child, so a bad
 * config fails in milliseconds with EVERY problem listed, each naming the setting, the value
 * and the fix.
 */
import { createHash } from "node:crypto";
import { durationMs } from "../duration";
import { cidrProblem, worldOpenReason } from "../network";
import { validateImageRef } from "../image";
import type { ServingEngine } from "./engine";
import { DEFAULT_SERVING_ENGINE, SERVING_ENGINES, type ServingEngineName } from "./engines";
import { buildContainerSpec, cacheMountFor, type CacheMount, type ContainerSpec } from "./containerSpec";
import { problem, renderProblem, type Findings, type Problem } from "./problem";
import { readinessGateProblems, type ReadinessOptionKey } from "./readinessGate";
import {
  renderSglangArgv,
  resolveSglangFlags,
  servedModelNameOf,
  SGLANG_PRESETS,
  SGLANG_RELEASE_VERSION,
  gpuFitProblems,
  type SglangFlagKey,
  type SglangFlagOverrides,
  type SglangFlagProblem,
  type SglangFlags,
  type SglangPresetName,
  validateSglangFlags,
} from "./sglang/args";
import { weightsDownloadProblems, type WeightsOptionKey } from "./weights";

/** A duration: seconds as a number, or text such as "90m", "90 minutes", "1.5h", "3600s". */
export type Duration = number | string;

/** Parses a `Duration` into whole seconds; `undefined` when malformed. */
export function parseDurationSeconds(value: Duration): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value > 0 ? Math.round(value) : undefined;
  const ms = /^\s*\d+(?:\.\d+)?\s*$/.test(value) ? Number(value) * 1000 : durationMs(value);
  const seconds = ms === undefined ? undefined : Math.round(ms / 1000);
  return seconds !== undefined && seconds > 0 ? seconds : undefined;
}

/** The SGLang release an image's tag names (`lmsysorg/sglang:v0.5.14-cu130` -> 0.5.14), if it names one. */
export function sglangReleaseOfImage(image: string): string | undefined {
  return /:v(\d+\.\d+\.\d+(?:\.post\d+)?)(?:[-@]|$)/.exec(image)?.[1];
}

/** Defaults sized for a cold boot of the 400B model (see sglang.md: download + load + graphs). */
export const DEFAULT_HEALTH_START_PERIOD: Duration = "60 minutes";
export const DEFAULT_WAIT_TIMEOUT: Duration = "90 minutes";
export const DEFAULT_READINESS_TIMEOUT: Duration = "15 minutes";
export const DEFAULT_HOST_PORT = 8000;

/**
 * The serving settings that are plain values: what `SglangServerArgs` and the plan's input share field
 * by field (the component's args extend it; the plan's input extends it with the values the component resolves).
 */
export interface ServingSettings {
  /**
   * The serving engine (`SERVING_ENGINES`): its launcher, API-key flag, health path and default port.
   * @default "sglang"
   */
  readonly engine?: ServingEngineName;
  /**
   * Pinned SGLang image, e.g. `lmsysorg/sglang:v0.5.9-cu129` (optionally `@sha256:<digest>`).
   * @example "lmsysorg/sglang:v0.5.9-cu129"
   */
  readonly image: string;
  /**
   * Accept a floating `:latest`/untagged image. Only for throw-away experiments.
   * @default false
   */
  readonly allowLatest?: boolean;
  /**
   * Flag preset: `seed` reproduces the seed's launch line exactly; `b200` is tuned for 8x B200.
   * @default "b200"
   */
  readonly preset?: SglangPresetName;
  /**
   * Typed flags merged over the preset; `undefined` removes a preset flag.
   * @default {}
   * @example
   * ```ts
   * { memFractionStatic: 0.82, contextLength: 131072 }
   * ```
   */
  readonly flagOverrides?: SglangFlagOverrides;
  /**
   * Free-form argv tokens appended after the typed flags (unknown flags produce a warning).
   * @default []
   * @example ["--cuda-graph-max-bs", "64"]
   */
  readonly extraFlags?: readonly string[];
  /**
   * Port published on the host.
   * @default 8000
   */
  readonly port?: number;
  /**
   * CIDRs allowed through the host firewall. Non-empty publishes the port on 0.0.0.0; empty
   * keeps it on 127.0.0.1 (reach it from the host or through an SSH tunnel).
   * @default []
   */
  readonly firewallAllowlist?: readonly string[];
  /**
   * Publish the port on 0.0.0.0 even without a firewall allowlist: a worker behind a router on another
   * host (the host firewall admits that host only).
   * @default false
   */
  readonly publish?: boolean;
  /**
   * Persistent filesystem on the host (e.g. `/lambda/nfs/<name>`). When set, the HF cache is the
   * host directory `<cacheMountPath>/huggingface` and survives the instance; otherwise a named
   * Docker volume holds it. Plain, because it decides whether a volume child exists.
   * @default undefined (named Docker volume)
   */
  readonly cacheMountPath?: string;
  /**
   * Named volume for the HF cache when there is no `cacheMountPath`.
   * @default `hgx-${stack}-hf-cache`
   */
  readonly cacheVolumeName?: string;
  /**
   * Container name on the host.
   * @default `hgx-${stack}-sglang`
   */
  readonly containerName?: string;
  /**
   * Docker health-check start period: failures in this window don't count.
   * @default "60 minutes"
   */
  readonly healthStartPeriod?: Duration;
  /**
   * How long `pulumi up` waits for the container to become healthy.
   * @default "90 minutes"
   */
  readonly waitTimeout?: Duration;
  /**
   * Upper bound for the readiness gate after the container is healthy.
   * @default "15 minutes"
   */
  readonly readinessTimeout?: Duration;
  /**
   * Extra labels on the container (keys must not start with "hgx.").
   * @default {}
   */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Pre-download the weights in parallel with the image pull (off for a local path or the simulator).
   * @default true
   */
  readonly preDownload?: boolean;
  /**
   * Model revision to pre-download.
   * @default "main"
   */
  readonly weightsRevision?: string;
  /**
   * Whether the engine is a GPU host (`--gpus all`, unlimited memlock). False only for the
   * SGLang simulator on a GPU-less engine (the `local` stack).
   * @default true
   */
  readonly gpuHost?: boolean;
  /**
   * TEST RIG ONLY: no `--ulimit memlock=-1` (config `testRigOmitMemlockUlimit`), for an engine
   * whose kernel caps memlock. Real GPU hosts need the unlimited memlock.
   * @default false
   */
  readonly omitMemlockUlimit?: boolean;
}

/** Plain inputs of the plan: the settings, with what the component resolves first (names, secrets' presence, GPUs). */
export interface ServingPlanInput extends ServingSettings {
  /** GPUs on the host when known now; otherwise the fit is checked later (`checkGpuFit`). */
  readonly gpuCount?: number;
  readonly cacheVolumeName: string;
  readonly containerName: string;
  /** Whether an API key is configured (its value never reaches the plan). */
  readonly apiKey: boolean;
  /** Whether the server container gets the HF token. */
  readonly hfToken: boolean;
  readonly project: string;
  readonly stack: string;
}

/** The validated plan. */
export interface ServingPlan {
  /** The engine that serves (launcher, API-key env, health path). */
  readonly engine: ServingEngine;
  readonly flags: SglangFlags;
  readonly argv: string[];
  readonly servedModelName: string;
  readonly hostPort: number;
  readonly containerPort: number;
  readonly publiclyBound: boolean;
  readonly cacheMount: CacheMount;
  readonly spec: ContainerSpec;
  readonly waitTimeoutSeconds: number;
  readonly readinessTimeoutSeconds: number;
  readonly warnings: string[];
}

/** Which setting a serving problem is about: a field of the plan's input, or a flag. */
export type ServingProblemKey = keyof ServingPlanInput | SglangFlagKey;
export type ServingProblem = Problem<ServingProblemKey>;

/** A plan, or every problem that stopped it. */
export interface ServingPlanResult {
  readonly plan?: ServingPlan;
  /** The problems, structured (the stack maps `key` to its config key). */
  readonly problems: ServingProblem[];
  /** The problems as printed (`renderProblem`). */
  readonly errors: string[];
  readonly warnings: string[];
}

type ServingFindings = Findings<ServingProblemKey>;

const CONTAINER_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** GPU fit only (for when the GPU count is an Output resolved later). */
export function checkGpuFit(flags: SglangFlags, extraFlags: readonly string[], gpuCount: number): SglangFlagProblem[] {
  return gpuFitProblems(flags, extraFlags, gpuCount);
}

/** Builds the plan or reports every problem. */
export function planServing(input: ServingPlanInput): ServingPlanResult {
  const preset = input.preset ?? "b200";
  const flags = preset in SGLANG_PRESETS ? resolveSglangFlags(preset, input.flagOverrides ?? {}) : undefined;
  const hostPort = input.port ?? DEFAULT_HOST_PORT;
  const durations = durationFindings(input);
  const steps: ServingFindings[] = [
    imageFindings(input.image, input.allowLatest),
    flags === undefined ? presetFindings(preset) : flagFindings(flags, input),
    exposureFindings(input, hostPort),
    { problems: dockerNameProblems(input), warnings: [] },
    durations,
    { problems: labelProblems(input.labels ?? {}), warnings: [] },
    { problems: flags === undefined ? [] : startupProblems(flags, input, hostPort), warnings: [] },
  ];
  const problems = steps.flatMap((s) => s.problems);
  const warnings = steps.flatMap((s) => s.warnings);
  const result = { problems, errors: problems.map(renderProblem), warnings };
  if (problems.length > 0 || flags === undefined) return result;
  return { ...result, plan: buildServingPlan(input, flags, hostPort, durations.seconds, warnings) };
}

/** The image reference: pinned (unless allowed to float), and the SGLang release the flag rules come from. */
export function imageFindings(image: string, allowLatest: boolean | undefined): ServingFindings {
  // validateImageRef's text carries its own fix.
  const problems = validateImageRef(image, { allowLatest }).map((text) => problem<ServingProblemKey>("image", text, ""));
  const warnings: string[] = [];
  if (allowLatest === true && /:latest$|^[^:@]+$/.test(image)) {
    warnings.push(`image "${image}" floats (allowLatest is set): two deployments may run different SGLang releases`);
  }
  const imageRelease = sglangReleaseOfImage(image);
  if (imageRelease !== undefined && imageRelease !== SGLANG_RELEASE_VERSION) {
    warnings.push(
      `image "${image}" is SGLang ${imageRelease}, but the flag value lists and rules (and the conformance suite) are SGLang ${SGLANG_RELEASE_VERSION}'s; ` +
        `to check this release: bash scripts/conformance/lock.sh ${imageRelease} <router>, SGLANG_VERSION=${imageRelease} bash scripts/conformance/regenerate-choices.sh, npm test`,
    );
  }
  return { problems, warnings };
}

function presetFindings(preset: string): ServingFindings {
  return { problems: [problem("preset", `preset "${preset}" is unknown`, `use one of: ${Object.keys(SGLANG_PRESETS).join(", ")}`)], warnings: [] };
}

/** The flags' own rules, and a bind address the published port can reach. */
export function flagFindings(flags: SglangFlags, input: Pick<ServingPlanInput, "extraFlags" | "gpuCount">): ServingFindings {
  const v = validateSglangFlags(flags, input.extraFlags ?? [], { gpuCount: input.gpuCount });
  const problems: ServingProblem[] = [...v.problems];
  if (flags.host !== "0.0.0.0" && flags.host !== "::") {
    problems.push(
      problem(
        "flagOverrides.host",
        `--host ${flags.host ?? "(unset: SGLang binds 127.0.0.1)"} is unreachable through the container's published port`,
        `set flagOverrides.host to "0.0.0.0"`,
      ),
    );
  }
  return { problems, warnings: v.warnings };
}

/** The host port and who may reach it. */
export function exposureFindings(input: Pick<ServingPlanInput, "firewallAllowlist" | "apiKey">, hostPort: number): ServingFindings {
  const problems: ServingProblem[] = [];
  const warnings: string[] = [];
  if (!(Number.isInteger(hostPort) && hostPort >= 1 && hostPort <= 65535)) {
    problems.push(problem("port", `port ${hostPort} (host port) is out of range`, `use an integer in 1-65535 (default ${DEFAULT_HOST_PORT})`));
  }
  const allowlist = input.firewallAllowlist ?? [];
  for (const entry of allowlist) {
    // A bare address is a /32 (or /128) network.
    if (cidrProblem(entry.includes("/") ? entry : `${entry}/${entry.includes(":") ? 128 : 32}`) !== undefined) {
      problems.push(problem("firewallAllowlist", `firewallAllowlist entry "${entry}" is not an IP address or CIDR`, `use e.g. "203.0.113.7/32"`));
    }
  }
  const worldOpen = worldOpenReason(allowlist);
  if (worldOpen !== undefined) {
    warnings.push(`firewallAllowlist opens the API to the whole internet (${worldOpen}); set apiKey, or list your own addresses`);
  }
  if (allowlist.length > 0 && !input.apiKey) {
    warnings.push("the API is published on 0.0.0.0 (firewallAllowlist is non-empty) without an apiKey; set apiKey to require Bearer auth");
  }
  return { problems, warnings };
}

/** Names Docker must accept, and a cache path that means the same on every host. */
export function dockerNameProblems(input: Pick<ServingPlanInput, "containerName" | "cacheVolumeName" | "cacheMountPath">): ServingProblem[] {
  const problems: ServingProblem[] = [];
  if (!CONTAINER_NAME_RE.test(input.containerName)) {
    problems.push(problem("containerName", `containerName "${input.containerName}" is not a valid Docker name`, "use [a-zA-Z0-9][a-zA-Z0-9_.-]+"));
  }
  if (!CONTAINER_NAME_RE.test(input.cacheVolumeName)) {
    problems.push(problem("cacheVolumeName", `cacheVolumeName "${input.cacheVolumeName}" is not a valid Docker volume name`, "use [a-zA-Z0-9][a-zA-Z0-9_.-]+"));
  }
  if (input.cacheMountPath !== undefined && !input.cacheMountPath.startsWith("/")) {
    problems.push(
      problem("cacheMountPath", `cacheMountPath "${input.cacheMountPath}" must be an absolute path (e.g. /lambda/nfs/<filesystem>)`, `"~" only expands in a shell: write the path out`),
    );
  }
  return problems;
}

type DurationKey = "healthStartPeriod" | "waitTimeout" | "readinessTimeout";

/** The three durations in whole seconds (defaults for unset ones), each checked. */
export function durationFindings(input: Pick<ServingPlanInput, DurationKey>): ServingFindings & { readonly seconds: Partial<Record<DurationKey, number>> } {
  const durations: Array<[DurationKey, Duration | undefined, Duration]> = [
    ["healthStartPeriod", input.healthStartPeriod, DEFAULT_HEALTH_START_PERIOD],
    ["waitTimeout", input.waitTimeout, DEFAULT_WAIT_TIMEOUT],
    ["readinessTimeout", input.readinessTimeout, DEFAULT_READINESS_TIMEOUT],
  ];
  const problems: ServingProblem[] = [];
  const seconds: Partial<Record<DurationKey, number>> = {};
  for (const [name, value, fallback] of durations) {
    const s = parseDurationSeconds(value ?? fallback);
    if (s === undefined) problems.push(problem(name, `${name} ${JSON.stringify(value)} is not a duration`, `use seconds (5400) or text such as "90 minutes" / "1.5h"`));
    else seconds[name] = s;
  }
  const warnings =
    seconds.waitTimeout !== undefined && seconds.waitTimeout < 60
      ? [`waitTimeout ${seconds.waitTimeout}s is shorter than any real SGLang boot; a cold 400B start takes 30-60 minutes`]
      : [];
  return { problems, warnings, seconds };
}

/** Extra labels: string values, never in the project's own `hgx.` namespace. */
export function labelProblems(labels: Readonly<Record<string, string>>): ServingProblem[] {
  const problems: ServingProblem[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (k.trim() === "" || k.startsWith("hgx.")) problems.push(problem("labels", `label "${k}" is empty or uses the reserved "hgx." prefix`, "choose another key"));
    if (typeof v !== "string") problems.push(problem("labels", `label "${k}" must have a string value`, "quote the value"));
  }
  return problems;
}

/** What the weights pre-download and the readiness gate would refuse, keyed to the setting that feeds them. */
export function startupProblems(flags: SglangFlags, input: Pick<ServingPlanInput, "preDownload" | "weightsRevision" | "cacheMountPath" | "cacheVolumeName" | "containerName">, hostPort: number): ServingProblem[] {
  const problems: ServingProblem[] = [];
  const servedModelName = servedModelNameOf(flags);
  if (input.preDownload !== false) {
    const weights = weightsDownloadProblems({
      model: flags.modelPath,
      revision: input.weightsRevision,
      cacheMount: cacheMountFor(input.cacheMountPath, input.cacheVolumeName),
      containerName: `${input.containerName}-weights`,
    });
    problems.push(...weights.map((p) => ({ ...p, key: WEIGHTS_OPTION_SETTING[p.key] })));
  }
  if (servedModelName !== "") {
    const gate = readinessGateProblems({ baseUrl: `http://127.0.0.1:${hostPort}`, servedModelName });
    problems.push(...gate.map((p) => ({ ...p, key: READINESS_OPTION_SETTING[p.key] })));
  }
  return problems;
}

/** The setting behind each weights-download option the plan fills. */
const WEIGHTS_OPTION_SETTING: Readonly<Record<WeightsOptionKey, ServingProblemKey>> = {
  model: "flagOverrides.modelPath",
  revision: "weightsRevision",
  progressIntervalSeconds: "preDownload",
  timeoutSeconds: "preDownload",
};

/** The setting behind each readiness-gate option the plan fills. */
const READINESS_OPTION_SETTING: Readonly<Record<ReadinessOptionKey, ServingProblemKey>> = {
  baseUrl: "port",
  servedModelName: "flagOverrides.servedModelName",
  timeoutSeconds: "readinessTimeout",
  pollIntervalSeconds: "readinessTimeout",
  progressEverySeconds: "readinessTimeout",
  completionTimeoutSeconds: "readinessTimeout",
};

/** The plan of a config with no problems. */
function buildServingPlan(input: ServingPlanInput, flags: SglangFlags, hostPort: number, seconds: Partial<Record<DurationKey, number>>, warnings: string[]): ServingPlan {
  const engine = SERVING_ENGINES[input.engine ?? DEFAULT_SERVING_ENGINE];
  const containerPort = flags.port ?? engine.defaultPort;
  const argv = renderSglangArgv(flags, input.extraFlags ?? []);
  const allowlist = input.firewallAllowlist ?? [];
  const spec = buildContainerSpec({
    name: input.containerName,
    image: input.image,
    engine,
    serverArgv: argv,
    containerPort,
    hostPort,
    firewallAllowlist: allowlist,
    publish: input.publish,
    cacheMountPath: input.cacheMountPath,
    cacheVolumeName: input.cacheVolumeName,
    apiKey: input.apiKey,
    hfToken: input.hfToken,
    labels: { ...(input.labels ?? {}), project: input.project, stack: input.stack, component: "serving" },
    healthStartPeriodSeconds: seconds.healthStartPeriod,
    gpuHost: input.gpuHost,
    omitMemlockUlimit: input.omitMemlockUlimit,
  });
  return {
    engine,
    flags,
    argv,
    servedModelName: servedModelNameOf(flags),
    hostPort,
    containerPort,
    publiclyBound: allowlist.length > 0 || input.publish === true,
    cacheMount: spec.volumes[0],
    spec,
    // Both parsed without a problem, or there would be no plan.
    waitTimeoutSeconds: seconds.waitTimeout ?? 0,
    readinessTimeoutSeconds: seconds.readinessTimeout ?? 0,
    warnings,
  };
}

/**
 * Identity of what the server runs: the image and the SGLang argv (model and every flag). The
 * benchmark re-runs when, and only when, this (or its workload) changes.
 */
export function servingSpecHash(plan: Pick<ServingPlan, "argv" | "spec">): string {
  const identity = JSON.stringify({ image: plan.spec.image, argv: plan.argv });
  return createHash("sha256").update(identity).digest("hex").slice(0, 16);
}
