/**
 * Boot work: the slow fetches start at the instance's first boot, from cloud-init, while Pulumi is
 * still waiting for `active` and SSH; the serving layer then waits only for what is not done yet.
 *
 * Two halves, both pure (text and plain objects; no I/O, no Pulumi):
 * - `bootWorkPart`: a `#cloud-config` part (`write_files` + `runcmd`, merged with the other parts by
 *   `renderCloudInit` in ./lambda/cloudInit.ts) that writes the boot-work script and the SAME weights
 *   script the serving layer runs (renderWeightsDownloadScript: same downloader container name, same
 *   completion marker in the cache), and starts both fetches in the background: `docker pull` of the
 *   pinned image and the weights download, side by side.
 * - `renderBootWaitScript`: the serving layer's step before its own pull and download. It waits for
 *   boot work still running (a progress line a minute), fails within one poll when a boot fetch failed
 *   (with the host's log lines), passes at once when it is done, and passes at once on a host without
 *   boot work (an existing host: no boot-work dir). It prints the boot work's TIMELINE lines, so the
 *   server's timeline shows phases that began before Pulumi connected, on the host's clock.
 *
 * Secrets: user_data never holds the HF token. The boot-time download runs without one (public models);
 * a gated model's boot download fails, and when the stack has a token the wait step notes that and lets
 * the serving layer download with it (the token reaches that step on stdin, as before).
 *
 * Files in the boot-work dir (world-readable: cloud-init runs as root, the wait step as the login user):
 *   boot-work.sh, weights.sh   the scripts cloud-init wrote
 *   boot-work.log              everything the boot work printed; `TIMELINE boot_<event> <iso>` lines
 *   boot-work.pid              the boot work's pid (to tell "running" from "died")
 *   <step>.started/.done/.failed   markers per step (`pull`, `weights`); `.failed` holds the exit code
 *   <step>.log                 the step's own output (its last lines go into a failure message)
 *   pull.image                 what the pull resolved to: `<image ID> <repo digest>...` (`docker image inspect`)
 *
 * The boot-time pull reads `image` as configured (the instance's user_data is written before any host has
 * resolved a tag); `pull.image` records what it got, the wait step reports it (`BOOT image ...`), the first
 * replica then pulls exactly that (`bootImageFrom`), and the stack fails the update, naming each, when another
 * host's boot work got a different build (a tag that moved between two boots).
 */
import { contentRefOf } from "../image";
import { shellQuote } from "../shell";
import type { CloudConfigPart } from "./lambda/cloudInit";

/** Default boot-work dir on the host (config `bootWorkDir`). */
export const DEFAULT_BOOT_WORK_DIR = "/var/lib/hgx-boot";

/** The fetches boot work runs, in the order they start. */
export const BOOT_WORK_STEPS = ["pull", "weights"] as const;
export type BootWorkStep = (typeof BOOT_WORK_STEPS)[number];

/** Options for `bootWorkPart` / `renderBootWorkScript`. */
export interface BootWorkOptions {
  /** Absolute directory for scripts, logs and markers. */
  readonly dir: string;
  /** The pinned SGLang image the serving layer pulls (`repo:tag` or `repo@sha256:...`). */
  readonly image: string;
  /**
   * The serving layer's weights download script (renderWeightsDownloadScript), run with an empty
   * stdin (no token). Absent: no boot-time download (e.g. `preDownload: false`).
   */
  readonly weightsScript?: string;
}

/** Problems with boot-work options, each naming the value and the fix. */
export function validateBootWork(opts: Pick<BootWorkOptions, "dir" | "image">): string[] {
  const errors: string[] = [];
  if (!/^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/.test(opts.dir) || opts.dir.split("/").includes("..")) {
    errors.push(`boot-work dir "${opts.dir}" must be an absolute path of letters, digits, ".", "_", "-" and "/" (e.g. ${DEFAULT_BOOT_WORK_DIR})`);
  }
  if (opts.image.trim() === "" || /\s/.test(opts.image)) errors.push(`boot-work image "${opts.image}" must be an image reference without spaces`);
  return errors;
}

function throwIfInvalid(errors: string[]): void {
  if (errors.length > 0) throw new Error(errors.join("\n"));
}

/**
 * The script cloud-init starts in the background (bash, as root). Each step writes `.started`, then
 * `.done` or `.failed` (with its exit code); TIMELINE lines go to stdout (boot-work.log).
 */
export function renderBootWorkScript(opts: BootWorkOptions): string {
  throwIfInvalid(validateBootWork(opts));
  const weights = opts.weightsScript !== undefined;
  const steps: BootWorkStep[] = weights ? ["pull", "weights"] : ["pull"];
  return `#!/bin/bash
# hgx boot work: the image pull and the weights download, started at first boot by cloud-init.
set -uo pipefail
DIR=${shellQuote(opts.dir)}
IMAGE=${shellQuote(opts.image)}
ts() { date -u +%Y-%m-%dT%H:%M:%SZ; }
umask 022
echo "TIMELINE boot_start $(ts)"
# Every step is marked started before the pid appears: a waiter that sees the pid sees all steps.
for s in ${steps.join(" ")}; do ts > "$DIR/$s.started"; done
echo $$ > "$DIR/boot-work.pid"
# runcmd may run before dockerd is up on a fresh boot: give it two minutes (a step then fails with its error).
for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 2; done
# step NAME COMMAND...: one fetch, its output in NAME.log, then NAME.done or NAME.failed.
step() {
  local name=$1; shift
  echo "TIMELINE boot_\${name}_start $(ts)"
  "$@" > "$DIR/$name.log" 2>&1 </dev/null
  local rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "TIMELINE boot_\${name}_done $(ts)"
    date -u +%Y-%m-%dT%H:%M:%SZ > "$DIR/$name.done"
  else
    echo "boot work: $name failed (exit $rc)"
    echo "$rc" > "$DIR/$name.failed"
  fi
}
# The pull, then what it resolved to (ID, repo digests) for the serving layer: one build on every host.
pull() { docker pull "$IMAGE" && docker image inspect --format '{{.Id}}{{range .RepoDigests}} {{.}}{{end}}' "$IMAGE" > "$DIR/pull.image"; }
step pull pull &
${weights ? `step weights bash "$DIR/weights.sh" &\n` : ""}wait
echo "TIMELINE boot_end $(ts)"
`;
}

/** `runcmd` entry: start the boot work detached, so cloud-init (and the boot) never waits for it. */
export function bootWorkRuncmd(dir: string): string[] {
  const d = shellQuote(dir);
  return ["sh", "-c", `mkdir -p ${d} && chmod 755 ${d} && nohup setsid bash ${d}/boot-work.sh > ${d}/boot-work.log 2>&1 < /dev/null &`];
}

/** The cloud-config part: the scripts as `write_files`, their start as `runcmd`. */
export function bootWorkPart(opts: BootWorkOptions): CloudConfigPart {
  const script = renderBootWorkScript(opts);
  const file = (name: string, content: string) => ({ path: `${opts.dir}/${name}`, permissions: "0755", owner: "root:root", content });
  return {
    write_files: [file("boot-work.sh", script), ...(opts.weightsScript !== undefined ? [file("weights.sh", opts.weightsScript)] : [])],
    runcmd: [bootWorkRuncmd(opts.dir)],
  };
}

/** Options for `renderBootWaitScript`. */
export interface BootWaitOptions {
  /** The boot-work dir (same as `BootWorkOptions.dir`). */
  readonly dir: string;
  /**
   * Whether this host was launched with boot work (Lambda). Then a dir not there yet is waited for
   * while cloud-init still runs (`appearTimeoutSeconds`); otherwise a missing dir means "none".
   * @default false
   */
  readonly expected?: boolean;
  /**
   * The stack has an HF token: a failed boot-time download (no token: a gated model) is noted and
   * left to the serving layer's download, which has the token. Without one it fails the step.
   * @default false
   */
  readonly weightsFallback?: boolean;
  /** Seconds between looks. @default 2 */
  readonly pollSeconds?: number;
  /** Seconds between progress lines. @default 60 */
  readonly reportSeconds?: number;
  /** Bound on the whole wait. @default 14400 (the weights download's own bound) */
  readonly timeoutSeconds?: number;
  /** How long an expected but absent dir is waited for. @default 600 */
  readonly appearTimeoutSeconds?: number;
  /** Log lines of a failed step shown in the error. @default 20 */
  readonly logLines?: number;
}

function positiveInt(name: string, v: number): string[] {
  return Number.isInteger(v) && v >= 1 ? [] : [`boot wait ${name} ${v} must be a positive integer`];
}

/**
 * The wait step (bash, run as the login user over SSH). stdout: `BOOT <step> done|running|absent|...`
 * lines, `PROGRESS <iso> boot work: ...` once per `reportSeconds`, and the boot work's TIMELINE lines
 * at the end. Exit 1 on a failed boot fetch (its last log lines on stderr), on boot work that stopped
 * without a result, or at the timeout.
 */
export function renderBootWaitScript(opts: BootWaitOptions): string {
  const poll = opts.pollSeconds ?? 2;
  const report = opts.reportSeconds ?? 60;
  const timeout = opts.timeoutSeconds ?? 14400;
  const appear = opts.appearTimeoutSeconds ?? 600;
  const lines = opts.logLines ?? 20;
  throwIfInvalid([
    ...validateBootWork({ dir: opts.dir, image: "x" }),
    ...positiveInt("pollSeconds", poll),
    ...positiveInt("reportSeconds", report),
    ...positiveInt("timeoutSeconds", timeout),
    ...positiveInt("appearTimeoutSeconds", appear),
    ...positiveInt("logLines", lines),
  ]);
  return `set -uo pipefail
DIR=${shellQuote(opts.dir)}
EXPECTED=${opts.expected ? 1 : 0}
WEIGHTS_FALLBACK=${opts.weightsFallback ? 1 : 0}
ts() { date -u +%Y-%m-%dT%H:%M:%SZ; }
START=$(date +%s)
WAIT_START=$(ts)
elapsed() { echo $(( $(date +%s) - START )); }
# The boot work's timeline, for server.timeline (printed however the wait ends).
timeline() { grep -h '^TIMELINE boot_' "$DIR/boot-work.log" 2>/dev/null || true; }
fail() {
  echo "boot wait FAILED after $(elapsed)s: $1" >&2
  if [ -n "\${2:-}" ] && [ -f "$DIR/$2.log" ]; then
    echo "--- last ${lines} lines of $DIR/$2.log on the host ---" >&2
    tail -n ${lines} "$DIR/$2.log" >&2
  fi
  timeline
  exit 1
}
if [ ! -d "$DIR" ] && [ "$EXPECTED" = 0 ]; then
  echo "BOOT none: no boot work on this host ($DIR absent); the serving layer fetches everything"
  exit 0
fi
if [ ! -f "$DIR/boot-work.pid" ]; then
  echo "boot wait: waiting for cloud-init to start the boot work in $DIR"
  # Launched with boot work, but cloud-init has not reached runcmd yet: wait while it runs.
  while [ ! -f "$DIR/boot-work.pid" ]; do
    if ! command -v cloud-init >/dev/null 2>&1; then
      echo "BOOT none: no cloud-init on this host, so no boot work will start; the serving layer fetches everything"; exit 0
    fi
    st=$(cloud-init status 2>/dev/null | sed -n 's/^status: //p')
    case "$st" in done|error|disabled)
      echo "BOOT none: cloud-init finished ($st) without boot work in $DIR; the serving layer fetches everything"; exit 0 ;;
    esac
    if [ "$(elapsed)" -ge ${appear} ]; then
      echo "BOOT none: no boot work appeared in $DIR within ${appear}s; the serving layer fetches everything"; exit 0
    fi
    sleep ${poll}
  done
fi
BOOT_PID=$(cat "$DIR/boot-work.pid" 2>/dev/null)
alive() { [ -n "$BOOT_PID" ] && [ -d "/proc/$BOOT_PID" ]; }
# A boot failure fails one \`up\`; the next one (a retry) leaves the step to the serving layer, which
# fetches itself with its own errors. The acknowledgement lives in the login user's home.
ACKS="\${HOME:-/tmp}/.hgx-boot-reported"
ack() { mkdir -p "$ACKS" 2>/dev/null && : > "$ACKS/$1.$BOOT_PID" 2>/dev/null || true; }
acked() { [ -f "$ACKS/$1.$BOOT_PID" ]; }
# state STEP -> done | failed | running | absent
state() {
  if [ -f "$DIR/$1.done" ]; then echo done
  elif [ -f "$DIR/$1.failed" ]; then echo failed
  elif [ -f "$DIR/$1.started" ]; then echo running
  else echo absent; fi
}
# note STEP TEXT: say once that a step is left to the serving layer.
NOTED=""
note() {
  case " $NOTED " in *" $1 "*) return 0 ;; esac
  NOTED="$NOTED $1"
  echo "BOOT $1 $2"
  tail -n 5 "$DIR/$1.log" 2>/dev/null | sed 's/^/  host: /'
}
LAST_REPORT=$(date +%s)
while :; do
  pending=""
  for s in ${BOOT_WORK_STEPS.join(" ")}; do
    st=$(state "$s")
    # Markers are written before the boot work exits: gone without one means it died (reboot, OOM kill).
    if [ "$st" = running ] && ! alive; then sleep 1; st=$(state "$s"); [ "$st" = running ] && st=died; fi
    case "$st" in
      failed|died)
        if [ "$st" = failed ]; then why="the boot-time $s on the host failed (exit $(cat "$DIR/$s.failed" 2>/dev/null))"
        else why="the boot work stopped (pid $BOOT_PID gone) while $s was running"; fi
        if [ "$s" = weights ] && [ "$WEIGHTS_FALLBACK" = 1 ]; then
          note "$s" "left to the serving layer, which downloads with the stack's HF token: $why (at boot it runs without a token)"
        elif acked "$s"; then
          note "$s" "left to the serving layer (reported by an earlier run): $why"
        else
          ack "$s"
          fail "$why" "$s"
        fi ;;
      running) pending="$pending $s" ;;
    esac
  done
  if [ -z "$pending" ]; then
    for s in ${BOOT_WORK_STEPS.join(" ")}; do echo "BOOT $s $(state "$s")"; done
    if [ "$(state pull)" = done ] && [ -s "$DIR/pull.image" ]; then echo "BOOT image $(head -n 1 "$DIR/pull.image")"; fi
    echo "boot wait: nothing left to wait for after $(elapsed)s"
    echo "TIMELINE boot_wait_start $WAIT_START"
    echo "TIMELINE boot_wait_done $(ts)"
    timeline
    exit 0
  fi
  if [ "$(elapsed)" -ge ${timeout} ]; then fail "boot work still running after ${timeout}s:$pending" "\${pending##* }"; fi
  now=$(date +%s)
  if [ $(( now - LAST_REPORT )) -ge ${report} ]; then
    LAST_REPORT=$now
    echo "PROGRESS $(ts) boot work running:$pending (waited $(elapsed)s)"
  fi
  sleep ${poll}
done
`;
}

const IMAGE_ID_RE = /^sha256:[a-f0-9]{64}$/;
const REPO_DIGEST_RE = /^[^\s@]+@sha256:[a-f0-9]{64}$/;

/**
 * The content reference the boot-time pull of `image` resolved to, from the wait step's `BOOT image <id>
 * <repo digest>...` line (see `contentRefOf`); "" when there is none (no boot work, or its pull failed and the
 * serving layer fetched) or the line is malformed (then the serving layer resolves the image itself).
 */
export function bootImageFrom(waitStdout: string, image: string): string {
  const line = waitStdout.split("\n").find((l) => l.startsWith("BOOT image "));
  if (line === undefined) return "";
  const [id, ...digests] = line.slice("BOOT image ".length).trim().split(/\s+/);
  if (id === undefined || !IMAGE_ID_RE.test(id) || !digests.every((d) => REPO_DIGEST_RE.test(d))) return "";
  return contentRefOf(image, id, digests);
}
