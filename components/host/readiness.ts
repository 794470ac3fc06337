import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { remoteConnectionArgs, type HostConnection } from "./connection";
import { GPU_MODEL_PATTERN } from "../projectFacts";

/**
 * Host readiness: is this machine able to run the GPU containers the serving layer starts?
 *
 * SSH reachability and the host's identity are checked before this runs: the host layer's
 * pre-flight `HostKeyCheck` waits for SSH (bounded) and verifies the pinned host key, and the
 * connection carries that key. Then, in order:
 * - `gpu-count`     — `nvidia-smi` on the host lists the expected number and model of GPUs;
 * - `docker-access` — the login user can use Docker without sudo (optionally fixing the group);
 * - `gpu-container` — a container started with `--gpus all` (the NVIDIA runtime path the server uses)
 *                     sees the same GPUs.
 * Each check is a bash script rendered by a pure function below; it prints one `<check>: ok, ...`
 * line ending in `checked at <UTC time>` on success and exits non-zero with a message naming the
 * check, what was expected, what was seen and the fix otherwise.
 */

/** Names of the checks, in the order they run. */
export type ReadinessCheckName = "gpu-count" | "docker-access" | "gpu-container";

/** The GPUs a host must present. */
export interface GpuExpectation {
  /** Number of GPUs `nvidia-smi` must list. */
  readonly count: number;
  /** Model as a whole word of the `nvidia-smi` name, case-insensitive ("B200" matches "NVIDIA B200", not "NVIDIA GB200"). */
  readonly model: string;
  /**
   * Image the container check runs `nvidia-smi -L` in; the NVIDIA runtime injects `nvidia-smi`, so
   * any small glibc image works. Pulled on first use.
   * @default "ubuntu:24.04"
   */
  readonly probeImage?: string;
}

/** A rendered check. */
export interface ReadinessCheck {
  readonly name: ReadinessCheckName;
  /** One sentence for logs. */
  readonly description: string;
  /** The bash script, run as `bash -s` with the script on stdin; no secrets inside (stdin is stored in state). */
  readonly script: string;
}

/** Default image for the GPU-in-container check. */
export const DEFAULT_GPU_PROBE_IMAGE = "ubuntu:24.04@sha256:69cecf4bbf72d2d44a9eef1b71fb98c7fb973d78af11399deccef19beb008ad9";
/** Bound on one `nvidia-smi` call: a wedged driver hangs it. */
export const NVIDIA_SMI_TIMEOUT_SECONDS = 120;
/** Bound on `docker info`. */
export const DOCKER_INFO_TIMEOUT_SECONDS = 60;
/** Bound on the container check, image pull included. */
export const GPU_CONTAINER_TIMEOUT_SECONDS = 900;

/** Single-quotes a string for bash. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Validates what the GPU checks expect; throws naming the setting, the value and the fix. */
export function validateGpuExpectation(gpus: GpuExpectation): Required<GpuExpectation> {
  if (!Number.isInteger(gpus.count) || gpus.count < 1 || gpus.count > 64) {
    throw new Error(`gpus.count must be an integer from 1 to 64 (GPUs nvidia-smi must list), got ${gpus.count}; e.g. 8 for an HGX board`);
  }
  if (!GPU_MODEL_PATTERN.test(gpus.model)) {
    throw new Error(`gpus.model must be a GPU model word as nvidia-smi prints it (letters, digits, space, . _ -), got '${gpus.model}'; e.g. "B200" or "H100"`);
  }
  const probeImage = gpus.probeImage ?? DEFAULT_GPU_PROBE_IMAGE;
  if (!/^[A-Za-z0-9][A-Za-z0-9._\-/:@]{0,254}$/.test(probeImage)) {
    throw new Error(`gpus.probeImage must be a Docker image reference, got '${probeImage}'; e.g. "${DEFAULT_GPU_PROBE_IMAGE}"`);
  }
  return { count: gpus.count, model: gpus.model, probeImage };
}

/**
 * Wraps a script in one compound command: bash parses it whole before running it, so the script
 * can arrive on stdin (`bash -s`) without a command in it reading the rest of the script as input.
 */
function asStdinScript(body: string): string {
  return `{\n${body}} </dev/null\n`;
}

// Shared bash helpers: `summarize` turns one GPU name per line into "7 x NVIDIA B200, 1 x ...";
// `oneline` flattens (and bounds) command output for a one-line message.
const BASH_PRELUDE = `set -u -o pipefail
checked_at() { date -u +%Y-%m-%dT%H:%M:%SZ; }
oneline() { printf '%s' "$1" | tr '\\n' ' ' | sed 's/  */ /g; s/ $//' | cut -c1-600; }
summarize() { sed '/^[[:space:]]*$/d' | sort | uniq -c | awk '{c=$1; $1=""; sub(/^ /, ""); printf "%s%s x %s", (NR>1 ? ", " : ""), c, $0}'; }
`;

/** `gpu-count`: `nvidia-smi` lists `count` GPUs whose name contains `model`. */
export function renderGpuCountCheck(gpus: GpuExpectation): string {
  const g = validateGpuExpectation(gpus);
  const want = `${g.count} x ${g.model}`;
  return asStdinScript(`${BASH_PRELUDE}expected_count=${g.count}
expected_model=${shQuote(g.model)}
if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu-count: expected ${want}, but nvidia-smi is not on PATH ($PATH): the NVIDIA driver is not installed (use a GPU image such as Lambda's GPU Base)" >&2
  exit 1
fi
out=$(timeout ${NVIDIA_SMI_TIMEOUT_SECONDS} nvidia-smi --query-gpu=name --format=csv,noheader 2>&1)
rc=$?
if [ "$rc" -eq 124 ]; then
  echo "gpu-count: expected ${want}, nvidia-smi did not answer within ${NVIDIA_SMI_TIMEOUT_SECONDS} s (driver wedged? reboot the host)" >&2
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  echo "gpu-count: expected ${want}, nvidia-smi failed (exit $rc): $(oneline "$out")" >&2
  exit 1
fi
names=$(printf '%s\\n' "$out" | sed '/^[[:space:]]*$/d')
listed=$(printf '%s\\n' "$names" | sed '/^$/d' | wc -l | tr -d ' ')
seen=$(printf '%s\\n' "$names" | summarize)
if [ "$listed" -ne "$expected_count" ]; then
  echo "gpu-count: expected ${want}, nvidia-smi listed $listed: $seen" >&2
  exit 1
fi
others=$(printf '%s\\n' "$names" | grep -v -i -w -F -- "$expected_model" | wc -l | tr -d ' ')
if [ "$others" -ne 0 ]; then
  echo "gpu-count: expected ${want}, nvidia-smi listed $listed but $others are not ${g.model}: $seen" >&2
  exit 1
fi
echo "gpu-count: ok, nvidia-smi listed $seen; checked at $(checked_at)"
`);
}

/**
 * `docker-access`: `docker info` works for the login user without sudo. With `grantDockerGroup`,
 * a user refused by the socket is added to the `docker` group when passwordless sudo allows it
 * (Lambda's `ubuntu` user), and the check is repeated under that group.
 */
export function renderDockerAccessCheck(opts: { grantDockerGroup?: boolean } = {}): string {
  const grant = opts.grantDockerGroup ?? false;
  return asStdinScript(`${BASH_PRELUDE}user=$(id -un)
if ! command -v docker >/dev/null 2>&1; then
  echo "docker-access: expected Docker for user $user, but docker is not on PATH ($PATH): install Docker Engine and the NVIDIA Container Toolkit" >&2
  exit 1
fi
probe='docker info --format {{.ServerVersion}}'
out=$(timeout ${DOCKER_INFO_TIMEOUT_SECONDS} $probe 2>&1)
rc=$?
note=""
if [ "$rc" -ne 0 ] && printf '%s' "$out" | grep -qi 'permission denied'; then
  if ${grant ? "true" : "false"} && sudo -n true >/dev/null 2>&1; then
    if sudo -n usermod -aG docker "$user" >/dev/null 2>&1; then
      note=" (added $user to the docker group)"
      out=$(timeout ${DOCKER_INFO_TIMEOUT_SECONDS} sg docker -c "$probe" 2>&1)
      rc=$?
    fi
  fi
  if [ "$rc" -ne 0 ]; then
    echo "docker-access: user $user cannot use Docker without sudo (permission denied on the Docker socket): $(oneline "$out"). Fix: sudo usermod -aG docker $user, then reconnect" >&2
    exit 1
  fi
fi
if [ "$rc" -eq 124 ]; then
  echo "docker-access: docker info did not answer within ${DOCKER_INFO_TIMEOUT_SECONDS} s for user $user: the Docker engine is hung (sudo systemctl restart docker)" >&2
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  if printf '%s' "$out" | grep -qiE 'cannot connect to the docker daemon|is the docker daemon running'; then
    echo "docker-access: the Docker engine is not running for user $user: $(oneline "$out"). Fix: sudo systemctl start docker" >&2
  else
    echo "docker-access: docker info failed for user $user (exit $rc): $(oneline "$out")" >&2
  fi
  exit 1
fi
echo "docker-access: ok, user $user reaches Docker $(oneline "$out") without sudo$note; checked at $(checked_at)"
`);
}

/** `gpu-container`: `docker run --rm --gpus all IMAGE nvidia-smi -L` lists the expected GPUs. */
export function renderGpuContainerCheck(gpus: GpuExpectation): string {
  const g = validateGpuExpectation(gpus);
  const want = `${g.count} x ${g.model}`;
  const shown = `docker run --rm --gpus all ${g.probeImage} nvidia-smi -L`;
  return asStdinScript(`${BASH_PRELUDE}expected_count=${g.count}
expected_model=${shQuote(g.model)}
image=${shQuote(g.probeImage)}
out=$(timeout ${GPU_CONTAINER_TIMEOUT_SECONDS} docker run --rm --gpus all "$image" nvidia-smi -L 2>&1)
rc=$?
if [ "$rc" -ne 0 ]; then
  hint=""
  case "$out" in
    *"could not select device driver"*) hint=" Fix: install the NVIDIA Container Toolkit and restart Docker (sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker)." ;;
    *"Failed to initialize NVML"*) hint=" Containers lost the GPUs (known after systemctl daemon-reload with the systemd cgroup driver). Fix: sudo systemctl restart docker, or set exec-opts native.cgroupdriver=cgroupfs in /etc/docker/daemon.json." ;;
    *"nvidia-smi"*"not found"*) hint=" The NVIDIA runtime hook did not put nvidia-smi into the container: check the NVIDIA Container Toolkit installation." ;;
    *"pull access denied"*|*"manifest unknown"*|*"not found: manifest"*|*"TLS handshake"*|*"i/o timeout"*) hint=" The image could not be pulled: set the probe image to one this host can reach." ;;
  esac
  if [ "$rc" -eq 124 ]; then hint=" It did not finish within ${GPU_CONTAINER_TIMEOUT_SECONDS} s (slow image pull?)."; fi
  echo "gpu-container: expected ${want} in a container (${shown}), docker run failed (exit $rc): $(oneline "$out").$hint" >&2
  exit 1
fi
names=$(printf '%s\\n' "$out" | grep -E '^GPU [0-9]+: ' | sed -E 's/^GPU [0-9]+: //; s/ \\(UUID: [^)]*\\)$//')
listed=$(printf '%s\\n' "$names" | sed '/^$/d' | wc -l | tr -d ' ')
seen=$(printf '%s\\n' "$names" | summarize)
if [ "$listed" -ne "$expected_count" ]; then
  echo "gpu-container: expected ${want} in a container (${shown}), it listed $listed: \${seen:-$(oneline "$out")}" >&2
  exit 1
fi
others=$(printf '%s\\n' "$names" | grep -v -i -w -F -- "$expected_model" | wc -l | tr -d ' ')
if [ "$others" -ne 0 ]; then
  echo "gpu-container: expected ${want} in a container (${shown}), it listed $listed but $others are not ${g.model}: $seen" >&2
  exit 1
fi
echo "gpu-container: ok, a container with --gpus all sees $seen; checked at $(checked_at)"
`);
}

/** Options that decide which checks run. */
export interface ReadinessCheckOptions {
  /** GPUs the host must present; `false` skips both GPU checks (e.g. the local simulator stack). */
  readonly gpus: GpuExpectation | false;
  /** Let `docker-access` add the login user to the `docker` group via passwordless sudo. @default false */
  readonly grantDockerGroup?: boolean;
}

/** The checks to run, in order. */
export function readinessChecks(opts: ReadinessCheckOptions): ReadinessCheck[] {
  const docker: ReadinessCheck = {
    name: "docker-access",
    description: "the login user can use Docker without sudo",
    script: renderDockerAccessCheck({ grantDockerGroup: opts.grantDockerGroup }),
  };
  if (opts.gpus === false) return [docker];
  const g = validateGpuExpectation(opts.gpus);
  return [
    { name: "gpu-count", description: `nvidia-smi lists ${g.count} x ${g.model}`, script: renderGpuCountCheck(g) },
    docker,
    {
      name: "gpu-container",
      description: `a container with --gpus all (${g.probeImage}) sees ${g.count} x ${g.model}`,
      script: renderGpuContainerCheck(g),
    },
  ];
}

/** Reads the UTC time from a check's success line ("...; checked at 2026-01-02T03:04:05Z"). */
export function parseCheckedAt(stdout: string): string {
  const m = /checked at (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)\s*$/.exec(stdout.trim());
  if (!m) throw new Error(`host readiness: the last check printed no 'checked at <time>' line; its output was: ${stdout.slice(0, 500)}`);
  return m[1];
}

export interface HostReadinessArgs {
  /** How to reach the host; `kind` decides remote (SSH) or local commands. */
  readonly connection: HostConnection;
  /**
   * GPUs the host must present; `false` skips the GPU checks.
   * @default `{ count: 8, model: "B200" }` for SSH hosts, `false` for the local connection
   * @example
   * ```ts
   * { gpus: { count: 8, model: "H100", probeImage: "ubuntu:24.04" } }
   * ```
   */
  readonly gpus?: GpuExpectation | false;
  /**
   * Add the login user to the `docker` group when Docker refuses it and passwordless sudo allows it.
   * @default false
   */
  readonly grantDockerGroup?: boolean;
  /** Values that re-run every check when they change (e.g. the instance id of a replaced machine). */
  readonly triggers?: pulumi.Input<unknown>[];
  /** Escape hatch merged last into every check command's args. */
  readonly transform?: { check?: Partial<command.remote.CommandArgs> & Partial<command.local.CommandArgs> };
}

type CheckCommand = command.remote.Command | command.local.Command;

/** Runs the readiness checks on a host and exposes the time they passed. */
export class HostReadiness extends pulumi.ComponentResource {
  /** UTC time (ISO 8601) the last check passed; resolves only after every check succeeded. */
  public readonly ready: pulumi.Output<string>;
  /** The success lines of all checks, one per line. */
  public readonly report: pulumi.Output<string>;
  /** The check commands, in the order they run. */
  public readonly checks: readonly CheckCommand[];

  constructor(name: string, args: HostReadinessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hgx:host:HostReadiness", name, {}, opts);
    const conn = args.connection;
    const gpus = args.gpus ?? (conn.kind === "ssh" ? { count: 8, model: "B200" } : false);
    let rendered: ReturnType<typeof readinessChecks>;
    try {
      rendered = readinessChecks({ gpus, grantDockerGroup: args.grantDockerGroup ?? false });
    } catch (err) {
      // Names the setting and the fix; a stack trace would only bury it.
      throw new pulumi.ResourceError((err as Error).message, this, true);
    }
    pulumi.log.info(
      `checking ${rendered.map((c) => c.name).join(", ")}` +
        (conn.kind === "ssh" ? " (SSH is retried for up to 15 minutes while the host boots)" : ""),
      this,
    );

    const checks: CheckCommand[] = [];
    for (const check of rendered) {
      const prev = checks.length > 0 ? [checks[checks.length - 1]] : [];
      const childOpts: pulumi.CustomResourceOptions = { parent: this, dependsOn: prev };
      if (conn.kind === "ssh") {
        checks.push(
          new command.remote.Command(
            `${name}-${check.name}`,
            {
              connection: remoteConnectionArgs(conn),
              // The script goes in on stdin: the login shell may not be bash, and a failing
              // command's error quotes the command line, which stays a short "bash -s".
              create: "bash -s",
              stdin: check.script,
              // A new address or user is a different machine: run the checks again.
              triggers: [conn.host, conn.port, conn.user, ...(args.triggers ?? [])],
              addPreviousOutputInEnv: false,
              ...args.transform?.check,
            },
            childOpts,
          ),
        );
      } else {
        checks.push(
          new command.local.Command(
            `${name}-${check.name}`,
            {
              create: "bash -s",
              stdin: check.script,
              environment: conn.dockerHost ? { DOCKER_HOST: conn.dockerHost } : undefined,
              triggers: args.triggers,
              addPreviousOutputInEnv: false,
              ...args.transform?.check,
            },
            childOpts,
          ),
        );
      }
    }
    this.checks = checks;
    this.report = pulumi.all(checks.map((c) => c.stdout)).apply((outs) => outs.map((o) => o.trim()).join("\n"));
    this.ready = checks[checks.length - 1].stdout.apply((stdout) => {
      try {
        return parseCheckedAt(stdout);
      } catch (err) {
        throw new pulumi.ResourceError((err as Error).message, this, true);
      }
    });
    this.registerOutputs({ ready: this.ready, report: this.report });
  }
}
