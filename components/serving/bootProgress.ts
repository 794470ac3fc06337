/**
 * Boot progress: while the Docker provider silently waits (up to 90 min) for the container to
 * turn healthy, this script runs next to it on the host: it looks every few seconds and prints a
 * line when the state changes and once a minute otherwise — container state, health, and the last
 * log line (API key redacted) — so `pulumi up` shows where a cold boot is (loading shards,
 * capturing CUDA graphs, ...).
 *
 * It never outlives what it watches: it ends as soon as the container is healthy (exit 0), and as
 * soon as it cannot start or has stopped (exit 1, with Docker's error and the last log lines), so
 * a failed start fails the update within seconds instead of holding it open until the wait
 * timeout. It only reports on a container created after it started, so a replacement is not
 * mistaken for the old, healthy container; when none appears within `createGraceSeconds` it
 * leaves the verdict to the container resource (exit 0).
 */
import { shellQuote } from "./containerSpec";

/** Options for `renderBootProgressScript`. */
export interface BootProgressOptions {
  readonly containerName: string;
  /**
   * Seconds between progress lines while nothing changes.
   * @default 60
   */
  readonly intervalSeconds?: number;
  /**
   * Seconds between looks at the container (what bounds how late a change is seen).
   * @default 2
   */
  readonly pollSeconds?: number;
  /**
   * Seconds to wait for the container to exist before leaving the verdict to the container resource
   * (it is created right after the same dependencies this script waits for).
   * @default 300
   */
  readonly createGraceSeconds?: number;
  /** Stop reporting after this many seconds (the container's wait timeout). */
  readonly timeoutSeconds: number;
}

/** Lines of the container's log shown with a failure. */
export const BOOT_FAILURE_LOG_LINES = 30;

function positiveInteger(name: string, v: number): number {
  if (!(Number.isInteger(v) && v >= 1)) throw new Error(`boot progress ${name} ${v} must be a positive integer`);
  return v;
}

/** The script (bash). Reads the API key (possibly empty) from stdin, only to redact it. */
export function renderBootProgressScript(opts: BootProgressOptions): string {
  const interval = positiveInteger("intervalSeconds", opts.intervalSeconds ?? 60);
  const poll = positiveInteger("pollSeconds", opts.pollSeconds ?? 2);
  const grace = positiveInteger("createGraceSeconds", opts.createGraceSeconds ?? 300);
  const timeout = positiveInteger("timeoutSeconds", opts.timeoutSeconds);
  return `set -uo pipefail
API_KEY=""
IFS= read -r API_KEY || true
NAME=${shellQuote(opts.containerName)}
START=$(date +%s)
DEADLINE=$(( START + ${timeout} ))
redact() { local line; while IFS= read -r line || [ -n "$line" ]; do if [ -n "$API_KEY" ]; then line=\${line//"$API_KEY"/[redacted]}; fi; printf '%s\n' "$line"; done; }
stamp() { echo "BOOT $(date -u +%Y-%m-%dT%H:%M:%SZ) +$(( $(date +%s) - START ))s $NAME $*"; }
fail() {
  { stamp "FAILED: $*"; echo "last ${BOOT_FAILURE_LOG_LINES} log lines of $NAME:"; docker logs --tail ${BOOT_FAILURE_LOG_LINES} "$NAME" 2>&1 | cut -c1-400 | redact; } >&2
  exit 1
}
last_state=""
last_print=0
while [ "$(date +%s)" -lt "$DEADLINE" ]; do
  now=$(date +%s)
  info=$(docker inspect -f '{{.Created}}|{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}|{{.State.ExitCode}}|{{.State.Error}}' "$NAME" 2>/dev/null || true)
  IFS='|' read -r created status health code error <<< "$info"
  if [ -n "$info" ] && [ "$(date -d "$created" +%s 2>/dev/null || echo 0)" -ge $(( START - 5 )) ]; then
    state="status=$status health=$health"
    case "$status/$health" in
      running/healthy) stamp "$state"; exit 0 ;;
      exited/*|dead/*) fail "the container stopped ($state exit-code=$code\${error:+ error=$error})" ;;
      created/*) [ -n "$error" ] && fail "the container could not start ($state): $error" ;;
    esac
    if [ "$state" != "$last_state" ] || [ $(( now - last_print )) -ge ${interval} ]; then
      last=$(docker logs --tail 1 "$NAME" 2>&1 | tail -n 1 | cut -c1-200 | redact)
      stamp "$state last-log: $last"
      last_state=$state; last_print=$now
    fi
  else
    if [ $(( now - START )) -ge ${grace} ]; then
      stamp "not created within ${grace}s; the container resource reports why"
      exit 0
    fi
    if [ "$last_state" != "absent" ] || [ $(( now - last_print )) -ge ${interval} ]; then
      stamp "not created yet"
      last_state=absent; last_print=$now
    fi
  fi
  sleep ${poll} >/dev/null 2>&1 </dev/null
done
exit 0
`;
}
