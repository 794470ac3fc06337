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
import { buildContainerSpec, cacheMountFor, type CacheMount, type ContainerSpec } from "./containerSpec";
import { validateReadinessGate } from "./readinessGate";
import {
  renderSglangArgv,
  resolveSglangFlags,
  servedModelNameOf,
  SGLANG_PRESETS,
  SGLANG_RELEASE_VERSION,
  type SglangFlagOverrides,
  type SglangFlags,
  type SglangPresetName,
  validateSglangFlags,
} from "./sglangArgs";
import { validateWeightsDownload } from "./weights";

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

/** Plain inputs of the plan (the component resolves Inputs that must be plain first). */
export interface ServingPlanInput {
  readonly image: string;
  readonly allowLatest?: boolean;
  readonly preset?: SglangPresetName;
  readonly flagOverrides?: SglangFlagOverrides;
  readonly extraFlags?: readonly string[];
  /** Host port. @default 8000 */
  readonly port?: number;
  readonly firewallAllowlist?: readonly string[];
  /** Bind 0.0.0.0 without an allowlist (a worker behind a router on another host). @default false */
  readonly publish?: boolean;
  /** GPUs on the host when known now; otherwise the fit is checked later (`checkGpuFit`). */
  readonly gpuCount?: number;
  readonly cacheMountPath?: string;
  readonly cacheVolumeName: string;
  readonly containerName: string;
  readonly apiKey: boolean;
  readonly hfToken: boolean;
  readonly healthStartPeriod?: Duration;
  readonly waitTimeout?: Duration;
  readonly readinessTimeout?: Duration;
  readonly project: string;
  readonly stack: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly preDownload?: boolean;
  /** See `ContainerSpecInput.gpuHost`. @default true */
  readonly gpuHost?: boolean;
  /** See `ContainerSpecInput.omitMemlockUlimit`. @default false */
  readonly omitMemlockUlimit?: boolean;
  readonly weightsRevision?: string;
}

/** The validated plan. */
export interface ServingPlan {
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

const CONTAINER_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** GPU fit only (for when the GPU count is an Output resolved later). */
export function checkGpuFit(flags: SglangFlags, extraFlags: readonly string[], gpuCount: number): string[] {
  return validateSglangFlags(flags, extraFlags, { gpuCount }).errors.filter((e) => /GPU/.test(e));
}

/** Builds the plan or reports every problem. */
export function planServing(input: ServingPlanInput): { plan?: ServingPlan; errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const preset = input.preset ?? "b200";
  const extraFlags = input.extraFlags ?? [];

  errors.push(...validateImageRef(input.image, { allowLatest: input.allowLatest }));
  if (input.allowLatest === true && /:latest$|^[^:@]+$/.test(input.image)) {
    warnings.push(`image "${input.image}" floats (allowLatest is set): two deployments may run different SGLang releases`);
  }

  const imageRelease = sglangReleaseOfImage(input.image);
  if (imageRelease !== undefined && imageRelease !== SGLANG_RELEASE_VERSION) {
    warnings.push(
      `image "${input.image}" is SGLang ${imageRelease}, but the flag value lists and rules (and the conformance suite) are SGLang ${SGLANG_RELEASE_VERSION}'s; ` +
        `to check this release: bash scripts/conformance/lock.sh ${imageRelease} <router>, SGLANG_VERSION=${imageRelease} bash scripts/conformance/regenerate-choices.sh, npm test`,
    );
  }

  let flags: SglangFlags | undefined;
  if (!(preset in SGLANG_PRESETS)) {
    errors.push(`preset "${String(preset)}" is unknown; use one of: ${Object.keys(SGLANG_PRESETS).join(", ")}`);
  } else {
    flags = resolveSglangFlags(preset, input.flagOverrides ?? {});
    const v = validateSglangFlags(flags, extraFlags, { gpuCount: input.gpuCount });
    errors.push(...v.errors);
    warnings.push(...v.warnings);
    if (flags.host !== "0.0.0.0" && flags.host !== "::") {
      errors.push(
        `--host ${flags.host ?? "(unset: SGLang binds 127.0.0.1)"} is unreachable through the container's published port; set flagOverrides.host to "0.0.0.0"`,
      );
    }
  }

  const hostPort = input.port ?? DEFAULT_HOST_PORT;
  if (!(Number.isInteger(hostPort) && hostPort >= 1 && hostPort <= 65535)) {
    errors.push(`port ${hostPort} (host port) is out of range; use an integer in 1-65535 (default ${DEFAULT_HOST_PORT})`);
  }
  const allowlist = input.firewallAllowlist ?? [];
  for (const entry of allowlist) {
    // A bare address is a /32 (or /128) network.
    if (cidrProblem(entry.includes("/") ? entry : `${entry}/${entry.includes(":") ? 128 : 32}`) !== undefined) {
      errors.push(`firewallAllowlist entry "${entry}" is not an IP address or CIDR; use e.g. "203.0.113.7/32"`);
    }
  }
  const worldOpen = worldOpenReason(allowlist);
  if (worldOpen !== undefined) {
    warnings.push(`firewallAllowlist opens the API to the whole internet (${worldOpen}); set apiKey, or list your own addresses`);
  }
  if (allowlist.length > 0 && !input.apiKey) {
    warnings.push("the API is published on 0.0.0.0 (firewallAllowlist is non-empty) without an apiKey; set apiKey to require Bearer auth");
  }
  if (!CONTAINER_NAME_RE.test(input.containerName)) {
    errors.push(`containerName "${input.containerName}" is not a valid Docker name; use [a-zA-Z0-9][a-zA-Z0-9_.-]+`);
  }
  if (!CONTAINER_NAME_RE.test(input.cacheVolumeName)) {
    errors.push(`cacheVolumeName "${input.cacheVolumeName}" is not a valid Docker volume name; use [a-zA-Z0-9][a-zA-Z0-9_.-]+`);
  }
  if (input.cacheMountPath !== undefined && !input.cacheMountPath.startsWith("/")) {
    errors.push(`cacheMountPath "${input.cacheMountPath}" must be an absolute path (e.g. /lambda/nfs/<filesystem>); "~" only expands in a shell`);
  }

  const durations: Array<[string, Duration | undefined, Duration]> = [
    ["healthStartPeriod", input.healthStartPeriod, DEFAULT_HEALTH_START_PERIOD],
    ["waitTimeout", input.waitTimeout, DEFAULT_WAIT_TIMEOUT],
    ["readinessTimeout", input.readinessTimeout, DEFAULT_READINESS_TIMEOUT],
  ];
  const seconds: Record<string, number> = {};
  for (const [name, value, fallback] of durations) {
    const s = parseDurationSeconds(value ?? fallback);
    if (s === undefined) errors.push(`${name} ${JSON.stringify(value)} is not a duration; use seconds (5400) or text such as "90 minutes" / "1.5h"`);
    else seconds[name] = s;
  }
  if (seconds.waitTimeout !== undefined && seconds.waitTimeout < 60) {
    warnings.push(`waitTimeout ${seconds.waitTimeout}s is shorter than any real SGLang boot; a cold 400B start takes 30-60 minutes`);
  }

  for (const [k, v] of Object.entries(input.labels ?? {})) {
    if (k.trim() === "" || k.startsWith("hgx.")) errors.push(`label "${k}" is empty or uses the reserved "hgx." prefix; choose another key`);
    if (typeof v !== "string") errors.push(`label "${k}" must have a string value`);
  }

  const servedModelName = flags !== undefined ? servedModelNameOf(flags) : "";
  if (flags !== undefined && input.preDownload !== false) {
    errors.push(
      ...validateWeightsDownload({
        model: flags.modelPath,
        revision: input.weightsRevision,
        cacheMount: cacheMountFor(input.cacheMountPath, input.cacheVolumeName),
        containerName: `${input.containerName}-weights`,
      }),
    );
  }
  if (flags !== undefined && servedModelName !== "") {
    errors.push(...validateReadinessGate({ baseUrl: `http://127.0.0.1:${hostPort}`, servedModelName }));
  }

  if (errors.length > 0 || flags === undefined) return { errors, warnings };

  const containerPort = flags.port ?? 30000;
  const argv = renderSglangArgv(flags, extraFlags);
  const spec = buildContainerSpec({
    name: input.containerName,
    image: input.image,
    sglangArgv: argv,
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
    plan: {
      flags,
      argv,
      servedModelName,
      hostPort,
      containerPort,
      publiclyBound: allowlist.length > 0 || input.publish === true,
      cacheMount: spec.volumes[0],
      spec,
      waitTimeoutSeconds: seconds.waitTimeout,
      readinessTimeoutSeconds: seconds.readinessTimeout,
      warnings,
    },
    errors,
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
