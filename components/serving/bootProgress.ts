/**
 * Boot progress: while the Docker provider silently waits (up to 90 min) for the container to
 * turn healthy, this script runs next to it on the host and prints one line a minute — container
 * state, health, and the last log line (API key redacted) — so `pulumi up` shows where a cold
 * boot is (loading shards, capturing CUDA graphs, ...).
 *
 * Purely observational: it always exits 0; the container resource and the readiness gate are
 * what fail a deployment. It only reports on a container created after it started, so a
 * replacement is not mistaken for the old, healthy container.
 */
import { shellQuote } from "./containerSpec";

/** Options for `renderBootProgressScript`. */
export interface BootProgressOptions {
  readonly containerName: string;
  /**
   * Seconds between progress lines.
   * @default 60
   */
  readonly intervalSeconds?: number;
  /** Stop reporting after this many seconds (the container's wait timeout). */
  readonly timeoutSeconds: number;
}

/** The script (bash). Reads the API key (possibly empty) from stdin, only to redact it. */
export function renderBootProgressScript(opts: BootProgressOptions): string {
  const interval = opts.intervalSeconds ?? 60;
  if (!(Number.isInteger(interval) && interval >= 1)) throw new Error(`boot progress intervalSeconds ${interval} must be a positive integer`);
  if (!(Number.isInteger(opts.timeoutSeconds) && opts.timeoutSeconds >= 1)) throw new Error(`boot progress timeoutSeconds ${opts.timeoutSeconds} must be a positive integer`);
  return `set -uo pipefail
API_KEY=""
IFS= read -r API_KEY || true
NAME=${shellQuote(opts.containerName)}
START=$(date +%s)
DEADLINE=$(( START + ${opts.timeoutSeconds} ))
redact() { local line; while IFS= read -r line || [ -n "$line" ]; do if [ -n "$API_KEY" ]; then line=\${line//"$API_KEY"/[redacted]}; fi; printf '%s\\n' "$line"; done; }
while [ "$(date +%s)" -lt "$DEADLINE" ]; do
  info=$(docker inspect -f '{{.Created}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}' "$NAME" 2>/dev/null || true)
  created=\${info%% *}
  if [ -n "$info" ] && [ "$(date -d "$created" +%s 2>/dev/null || echo 0)" -ge $(( START - 5 )) ]; then
    rest=\${info#* }
    status=\${rest%% *}
    health=\${rest#* }
    last=$(docker logs --tail 1 "$NAME" 2>&1 | tail -n 1 | cut -c1-200 | redact)
    echo "BOOT $(date -u +%Y-%m-%dT%H:%M:%SZ) +$(( $(date +%s) - START ))s $NAME status=$status health=$health last-log: $last"
    case "$status/$health" in
      running/healthy) exit 0 ;;
      exited/*|dead/*) echo "BOOT $NAME stopped (status=$status); docker logs $NAME shows why"; exit 0 ;;
    esac
  else
    echo "BOOT $(date -u +%Y-%m-%dT%H:%M:%SZ) +$(( $(date +%s) - START ))s $NAME not created yet"
  fi
  sleep ${interval} >/dev/null 2>&1 </dev/null
done
exit 0
`;
}
