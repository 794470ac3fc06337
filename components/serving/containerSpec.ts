/**
 * ONE engine-neutral description of a server container, and the two things derived from it:
 * the `@pulumi/docker` ContainerArgs (what Pulumi creates) and the equivalent `docker run`
 * line (what a human pastes when debugging on the host). Deriving both from the same spec is
 * what keeps them from drifting apart; the integration test runs the `docker run` line. What is
 * engine-specific (launcher, API-key flag, health path) comes from the `ServingEngine` passed in.
 *
 * Secrets: the spec carries only the NAMES of secret env vars. Their values travel separately
 * (a Pulumi secret for ContainerArgs; the unmasked `docker run` variant, never stored).
 *
 * How the API key reaches the server: SGLang only reads `--api-key` from argv. Putting the value
 * into argv would store it in Pulumi state, `docker inspect` and the `docker run` line. So the
 * container runs a tiny `sh -c` wrapper (`apiKeyWrapperScript`) that appends the engine's key flag
 * with `"$<apiKeyEnv>"` at exec time, the value delivered as a (secret) env var. What is stored is the
 * literal text `$SGLANG_API_KEY`. Trade-off: the expanded value is visible in the server process's own
 * command line to root on the host (single-tenant GPU box) — never in state or logs.
 */
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { engineCommand, type ServingEngine } from "./engine";

/** HF cache inside the container; the server images run as root, so this is their default HF_HOME. */
export const CONTAINER_HF_HOME = "/root/.cache/huggingface";
/** Env var carrying the Hugging Face token (gated models; not needed for the seed's model). */
export const HF_TOKEN_ENV = "HF_TOKEN";

/** A mount of the HF cache: a named Docker volume, or a bind of a host directory. */
export type CacheMount =
  | { readonly kind: "volume"; readonly volumeName: string; readonly containerPath: string }
  | { readonly kind: "bind"; readonly hostPath: string; readonly containerPath: string };

/** A published port. */
export interface PortBinding {
  /** Host address the port binds to: 0.0.0.0 only when a firewall allowlist exists. */
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerPort: number;
}

/** Docker health check, in seconds. */
export interface HealthcheckSpec {
  /** Docker test form; `["CMD-SHELL", cmd]` so `docker run --health-cmd cmd` is identical. */
  readonly test: readonly string[];
  readonly intervalSeconds: number;
  readonly timeoutSeconds: number;
  readonly retries: number;
  /** Failures during this window do not count; sized for a cold 400B boot. */
  readonly startPeriodSeconds: number;
}

export interface Ulimit {
  readonly name: string;
  readonly soft: number;
  readonly hard: number;
}

/** The neutral container description. Plain data: no Outputs, no secrets. */
export interface ContainerSpec {
  readonly name: string;
  /** Image reference as configured (the Pulumi container uses the pulled image's id instead). */
  readonly image: string;
  /** Everything after the image on a `docker run` line. */
  readonly command: readonly string[];
  /** Non-secret environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Names of env vars whose values are secrets supplied separately. */
  readonly secretEnvNames: readonly string[];
  /** `--gpus`; undefined = no GPU request (only for GPU-less test engines). */
  readonly gpus: "all" | undefined;
  readonly ipcMode: "host" | "private";
  /** `/dev/shm` size in MB; only meaningful (and only rendered) when `ipcMode` is private. */
  readonly shmSizeMb: number | undefined;
  readonly ulimits: readonly Ulimit[];
  readonly volumes: readonly CacheMount[];
  readonly ports: readonly PortBinding[];
  /** `bridge` (Docker's default, ports published) or `host` (the router: it listens on the host's own ports). */
  readonly network: "bridge" | "host";
  readonly restart: "no" | "on-failure" | "always" | "unless-stopped";
  readonly labels: Readonly<Record<string, string>>;
  readonly healthcheck: HealthcheckSpec;
  readonly logOpts: Readonly<Record<string, string>>;
  /** Seconds the server gets to exit on stop before SIGKILL. */
  readonly stopGraceSeconds: number;
}

/** Inputs for `buildContainerSpec` (all plain values). */
export interface ContainerSpecInput {
  readonly name: string;
  readonly image: string;
  /** The engine that serves: its launcher, API-key flag and health path. */
  readonly engine: ServingEngine;
  /** The server's rendered flags, after the engine's launcher (`renderSglangArgv` for SGLang). */
  readonly serverArgv: readonly string[];
  /** Port the server listens on inside the container (`--port`). */
  readonly containerPort: number;
  /** Port published on the host. */
  readonly hostPort: number;
  /** CIDRs allowed through the host firewall; non-empty => bind 0.0.0.0, else 127.0.0.1. */
  readonly firewallAllowlist: readonly string[];
  /** Bind 0.0.0.0 even without an allowlist (a worker behind a router on another host). @default false */
  readonly publish?: boolean;
  /** Persistent filesystem on the host; when set the cache lives at `<path>/huggingface`. */
  readonly cacheMountPath?: string;
  /** Named volume used when there is no persistent filesystem. */
  readonly cacheVolumeName: string;
  /** Whether an API key is configured (adds the wrapper and the secret env name). */
  readonly apiKey: boolean;
  /** Whether an HF token is configured (adds the secret env name). */
  readonly hfToken: boolean;
  /** `project`, `stack`, `component` labels plus any extra ones. */
  readonly labels: { readonly project: string; readonly stack: string; readonly component: string } & Readonly<Record<string, string>>;
  /**
   * Health-check start period in seconds.
   * @default 3600 (a 400B cold boot: download + 5-15 min load + CUDA graphs)
   */
  readonly healthStartPeriodSeconds?: number;
  /**
   * Health-check interval in seconds.
   * @default 15
   */
  readonly healthIntervalSeconds?: number;
  /**
   * Restart policy.
   * @default "unless-stopped"
   */
  readonly restart?: ContainerSpec["restart"];
  /**
   * Whether the engine is a GPU host: request all GPUs through the NVIDIA runtime and lift the
   * memlock limit (both only matter to CUDA/NCCL). False only for a GPU-less engine running the
   * SGLang simulator (the `local` stack), where `--gpus` would fail.
   * @default true
   */
  readonly gpuHost?: boolean;
  /**
   * TEST RIG ONLY: leave out the unlimited memlock on a GPU host whose kernel will not grant it
   * (this project's CI machines run GPU stand-ins under such a cap). Real GPU hosts need it.
   * @default false
   */
  readonly omitMemlockUlimit?: boolean;
}

/** Where the HF cache lives on the host for a given persistent filesystem path. */
export function hostCachePath(cacheMountPath: string): string {
  return `${cacheMountPath.replace(/\/+$/, "")}/huggingface`;
}

/** The cache mount for the spec (and for the weights download, which must use the same one). */
export function cacheMountFor(cacheMountPath: string | undefined, cacheVolumeName: string): CacheMount {
  return cacheMountPath !== undefined && cacheMountPath !== ""
    ? { kind: "bind", hostPath: hostCachePath(cacheMountPath), containerPath: CONTAINER_HF_HOME }
    : { kind: "volume", volumeName: cacheVolumeName, containerPath: CONTAINER_HF_HOME };
}

/** Health probe command for `path` (e.g. "/health"): curl when the image has it, else python (always in SGLang images). */
export function healthProbeCommand(port: number, path: string): string {
  const url = `http://127.0.0.1:${port}${path}`;
  return (
    `if command -v curl >/dev/null 2>&1; then curl -fsS -m 10 -o /dev/null ${url}; ` +
    `else python3 -c "import urllib.request as u; u.urlopen('${url}', timeout=10)"; fi`
  );
}

/** THE spec builder. Pure. */
export function buildContainerSpec(input: ContainerSpecInput): ContainerSpec {
  const command = engineCommand(input.engine, input.serverArgv, input.apiKey);
  const secretEnvNames = [...(input.hfToken ? [HF_TOKEN_ENV] : []), ...(input.apiKey ? [input.engine.apiKeyEnv] : [])];
  const { project, stack, component, ...extraLabels } = input.labels;
  const gpuHost = input.gpuHost ?? true;
  return {
    name: input.name,
    image: input.image,
    command,
    env: {
      HF_HOME: CONTAINER_HF_HOME,
      // Only matters if SGLang itself downloads (cache incomplete): the xet client's fast path.
      HF_XET_HIGH_PERFORMANCE: "1",
    },
    secretEnvNames,
    gpus: gpuHost ? "all" : undefined,
    // NCCL at tp 8 needs far more shared memory than Docker's 64 MB default; host IPC gives it all.
    ipcMode: "host",
    shmSizeMb: undefined,
    ulimits: [
      // Pinned host memory for CUDA/NCCL; a GPU-less engine may not allow an unlimited memlock.
      ...(gpuHost && !input.omitMemlockUlimit ? [{ name: "memlock", soft: -1, hard: -1 }] : []),
      { name: "stack", soft: 67108864, hard: 67108864 },
    ],
    volumes: [cacheMountFor(input.cacheMountPath, input.cacheVolumeName)],
    ports: [
      {
        hostIp: input.firewallAllowlist.length > 0 || input.publish === true ? "0.0.0.0" : "127.0.0.1",
        hostPort: input.hostPort,
        containerPort: input.containerPort,
      },
    ],
    network: "bridge",
    restart: input.restart ?? "unless-stopped",
    labels: { ...extraLabels, "hgx.project": project, "hgx.stack": stack, "hgx.component": component },
    healthcheck: {
      test: ["CMD-SHELL", healthProbeCommand(input.containerPort, input.engine.healthPath)],
      intervalSeconds: input.healthIntervalSeconds ?? 15,
      // /health runs a 1-token generation; SGLang's own health timeout is 20 s.
      timeoutSeconds: 20,
      retries: 5,
      startPeriodSeconds: input.healthStartPeriodSeconds ?? 3600,
    },
    // Unbounded json-file logs on a long-running server fill the root disk.
    logOpts: { "max-size": "100m", "max-file": "3" },
    stopGraceSeconds: 60,
  };
}

/** Options for `toContainerArgs`. */
export interface ContainerArgsOptions {
  /** Image to run: the pulled image's id (`RemoteImage.imageId`), so a re-tag of the same image is no change. */
  readonly imageId: pulumi.Input<string>;
  /** Values of `spec.secretEnvNames`, as Pulumi secrets. */
  readonly secretEnv: Readonly<Record<string, pulumi.Input<string>>>;
}

/** spec -> `@pulumi/docker` ContainerArgs. The env list is a Pulumi secret when any secret is present. */
export function toContainerArgs(spec: ContainerSpec, opts: ContainerArgsOptions): docker.ContainerArgs {
  for (const name of spec.secretEnvNames) {
    if (opts.secretEnv[name] === undefined) throw new Error(`container spec needs a value for secret env ${name}; pass it in secretEnv`);
  }
  const plainEnv = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
  const envs: pulumi.Input<string[]> =
    spec.secretEnvNames.length === 0
      ? plainEnv
      : pulumi.secret(
          pulumi
            .all(spec.secretEnvNames.map((n) => pulumi.output(opts.secretEnv[n])))
            .apply((values) => [...plainEnv, ...spec.secretEnvNames.map((n, i) => `${n}=${values[i]}`)]),
        );
  return {
    name: spec.name,
    image: opts.imageId,
    command: [...spec.command],
    envs,
    gpus: spec.gpus,
    ipcMode: spec.ipcMode,
    ...(spec.ipcMode !== "host" && spec.shmSizeMb !== undefined ? { shmSize: spec.shmSizeMb } : {}),
    ulimits: spec.ulimits.map((u) => ({ name: u.name, soft: u.soft, hard: u.hard })),
    volumes: spec.volumes.map((v) =>
      v.kind === "volume"
        ? { volumeName: v.volumeName, containerPath: v.containerPath }
        : { hostPath: v.hostPath, containerPath: v.containerPath },
    ),
    ports: spec.ports.map((p) => ({ internal: p.containerPort, external: p.hostPort, ip: p.hostIp, protocol: "tcp" })),
    ...(spec.network === "host" ? { networkMode: "host" } : {}),
    restart: spec.restart,
    labels: Object.entries(spec.labels).map(([label, value]) => ({ label, value })),
    healthcheck: {
      tests: [...spec.healthcheck.test],
      interval: `${spec.healthcheck.intervalSeconds}s`,
      timeout: `${spec.healthcheck.timeoutSeconds}s`,
      retries: spec.healthcheck.retries,
      startPeriod: `${spec.healthcheck.startPeriodSeconds}s`,
    },
    logDriver: "json-file",
    logOpts: { ...spec.logOpts },
    destroyGraceSeconds: spec.stopGraceSeconds,
    stopTimeout: spec.stopGraceSeconds,
    mustRun: true,
    // The provider returns once Docker started the container; the readiness gate that follows it
    // waits for /health, reports the boot's progress and fails within seconds of a lost container
    // (the provider's own health wait was silent and ran to its timeout).
    wait: false,
  };
}

/**
 * ContainerArgs fields whose change replaces the container: what is served (image, command =
 * flags + model) and how it runs (env, GPUs, IPC, limits, cache mount, published port).
 * Declared explicitly so the intent does not depend on the provider's schema.
 */
export const CONTAINER_REPLACE_ON = ["image", "command", "envs", "gpus", "ipcMode", "shmSize", "ulimits", "volumes", "ports", "networkMode"] as const;

/**
 * ContainerArgs fields whose change must NOT restart a server that takes up to an hour to boot:
 * metadata and orchestration knobs. The Docker provider treats most of these as
 * replace-on-change; ignoring them means a new value applies at the next real replacement.
 */
export const CONTAINER_IGNORE_CHANGES = ["labels", "healthcheck", "logDriver", "logOpts", "restart", "destroyGraceSeconds", "stopTimeout", "wait", "waitTimeout", "mustRun"] as const;

/** Which spec field feeds which ContainerArgs field (for `containerReplaceReasons`). */
const SPEC_TO_ARGS: Readonly<Record<keyof ContainerSpec, string>> = {
  name: "name",
  image: "image",
  command: "command",
  env: "envs",
  secretEnvNames: "envs",
  gpus: "gpus",
  ipcMode: "ipcMode",
  shmSizeMb: "shmSize",
  ulimits: "ulimits",
  volumes: "volumes",
  ports: "ports",
  network: "networkMode",
  restart: "restart",
  labels: "labels",
  healthcheck: "healthcheck",
  logOpts: "logOpts",
  stopGraceSeconds: "destroyGraceSeconds",
};

/**
 * Pure model of the replacement policy: the ContainerArgs fields that differ between two specs
 * and would replace the container (`replace`), and those that differ but are ignored (`ignored`).
 * A renamed container also replaces (Docker cannot rename in place through the provider).
 */
export function containerReplaceReasons(before: ContainerSpec, after: ContainerSpec): { replace: string[]; ignored: string[] } {
  const replace = new Set<string>();
  const ignored = new Set<string>();
  for (const key of Object.keys(SPEC_TO_ARGS) as (keyof ContainerSpec)[]) {
    if (JSON.stringify(before[key]) === JSON.stringify(after[key])) continue;
    const field = SPEC_TO_ARGS[key];
    if ((CONTAINER_IGNORE_CHANGES as readonly string[]).includes(field)) ignored.add(field);
    else replace.add(field);
  }
  return { replace: [...replace].sort(), ignored: [...ignored].sort() };
}

export { shellQuote } from "../shell";
import { shellQuote } from "../shell";

/** Splits argv into `[launcher...]`, then one group per `--flag [value]`, for readable lines. */
function groupArgv(argv: readonly string[]): string[][] {
  const groups: string[][] = [];
  let current: string[] = [];
  for (const token of argv) {
    if (token.startsWith("--") && current.length > 0) {
      groups.push(current);
      current = [];
    }
    current.push(token);
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Options for `renderDockerRunCommand`. */
export interface DockerRunOptions {
  /**
   * Secret values to inline (`-e NAME=value`). ONLY for the local stack and tests; the result
   * must never be stored. Without it each secret renders as `-e NAME`, which Docker fills from
   * the caller's environment: the masked line stays runnable after `export NAME=...`.
   */
  readonly secretValues?: Readonly<Record<string, string>>;
  /**
   * Separator between option groups.
   * @default " \\\n  " (one option per line)
   */
  readonly separator?: string;
}

/** The `docker run` line equivalent to `toContainerArgs(spec)`. Masked unless `secretValues` is given. */
export function renderDockerRunCommand(spec: ContainerSpec, opts: DockerRunOptions = {}): string {
  const q = shellQuote;
  const groups: string[][] = [["docker", "run", "-d"], ["--name", q(spec.name)]];
  if (spec.gpus !== undefined) groups.push(["--gpus", spec.gpus]);
  groups.push([`--ipc=${spec.ipcMode}`]);
  if (spec.ipcMode !== "host" && spec.shmSizeMb !== undefined) groups.push([`--shm-size=${spec.shmSizeMb}m`]);
  for (const u of spec.ulimits) groups.push(["--ulimit", `${u.name}=${u.soft === u.hard ? u.soft : `${u.soft}:${u.hard}`}`]);
  if (spec.network === "host") groups.push(["--network", "host"]);
  for (const p of spec.ports) groups.push(["-p", `${p.hostIp}:${p.hostPort}:${p.containerPort}`]);
  for (const v of spec.volumes) groups.push(["-v", q(`${v.kind === "volume" ? v.volumeName : v.hostPath}:${v.containerPath}`)]);
  for (const [k, v] of Object.entries(spec.env)) groups.push(["-e", q(`${k}=${v}`)]);
  for (const name of spec.secretEnvNames) {
    const value = opts.secretValues?.[name];
    groups.push(["-e", value === undefined ? name : q(`${name}=${value}`)]);
  }
  groups.push(["--restart", spec.restart]);
  for (const [k, v] of Object.entries(spec.labels)) groups.push(["--label", q(`${k}=${v}`)]);
  const hc = spec.healthcheck;
  if (hc.test[0] !== "CMD-SHELL" || hc.test.length !== 2) {
    throw new Error(`healthcheck test must be ["CMD-SHELL", cmd] to render as docker run --health-cmd; got ${JSON.stringify(hc.test)}`);
  }
  groups.push(["--health-cmd", q(hc.test[1])]);
  groups.push([`--health-interval=${hc.intervalSeconds}s`, `--health-timeout=${hc.timeoutSeconds}s`]);
  groups.push([`--health-retries=${hc.retries}`, `--health-start-period=${hc.startPeriodSeconds}s`]);
  groups.push(["--log-driver", "json-file"]);
  for (const [k, v] of Object.entries(spec.logOpts)) groups.push(["--log-opt", q(`${k}=${v}`)]);
  groups.push([`--stop-timeout=${spec.stopGraceSeconds}`]);
  groups.push([q(spec.image)]);
  groups.push(...groupArgv(spec.command).map((g) => g.map(q)));
  return groups.map((g) => g.join(" ")).join(opts.separator ?? " \\\n  ");
}
