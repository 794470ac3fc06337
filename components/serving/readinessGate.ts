/**
 * Readiness gate: ONE bash+curl script, run by `remote.Command` on an SSH host or by
 * `local.Command` here (and by the tests against the simulator), that decides whether the
 * server really serves:
 *   1. `/health` returns 200 (polled; the port refuses connections while weights load);
 *   2. `/v1/models` lists the served name (answers before warm-up ends, so only after 1);
 *   3. one short chat completion succeeds.
 * It starts as soon as Docker has started the container (the container resource does not wait for
 * health), so it is also the boot's progress reporter and watchdog: while `/health` is not 200 it
 * looks at the container every poll and prints a line when its state changes and once a
 * `progressEverySeconds` otherwise (state, health, last log line, key redacted); it fails within
 * one poll when the container stops, crash-restarts, cannot start or disappears (replaced), with
 * Docker's error and the last log lines. No sleep decides when a deploy ends: the gate returns
 * within one poll of the server answering.
 * Bounded: the whole gate ends within `timeoutSeconds`, each request with a `curl -m` cap.
 * On failure it prints what it saw and the container's last 50 log lines (key redacted) to
 * stderr and exits non-zero, so `pulumi up` shows why.
 *
 * The API key arrives on stdin (a Pulumi secret input), goes into a 0600 header file in a
 * private temp dir and reaches curl as `-H @file`: never in argv, state or logs.
 *
 * stdout: `TIMELINE gate_start|container_started|health_ok|models_ok|ready <iso>`, progress
 * lines, and a final `READY ...` line.
 */
import { BASH_WORKDIR_WITH_AUTH_HEADER, bashPrologueReadingSecret, shellQuote } from "../shell";
import { problem, renderProblem, type Problem } from "./problem";

/** Options for `renderReadinessGateScript`. */
export interface ReadinessGateOptions {
  /** Base URL as seen from where the script runs, e.g. `http://127.0.0.1:8000`. */
  readonly baseUrl: string;
  /** Name `/v1/models` must list and the completion uses as `model`. */
  readonly servedModelName: string;
  /** Container watched while booting and whose logs are shown on failure; omit when there is none (tests). */
  readonly containerName?: string;
  /**
   * Upper bound for the whole gate, in seconds.
   * @default 900
   */
  readonly timeoutSeconds?: number;
  /**
   * Seconds between `/health` polls and looks at the container (what bounds how late a change is seen).
   * @default 2
   */
  readonly pollIntervalSeconds?: number;
  /**
   * Seconds between progress lines while waiting for `/health`.
   * @default 60
   */
  readonly progressEverySeconds?: number;
  /**
   * Cap for the test completion request, in seconds.
   * @default 120
   */
  readonly completionTimeoutSeconds?: number;
}

/** Which gate option a problem is about. */
export type ReadinessOptionKey = "baseUrl" | "servedModelName" | "timeoutSeconds" | "pollIntervalSeconds" | "progressEverySeconds" | "completionTimeoutSeconds";

/** Pure validation, structured. */
export function readinessGateProblems(opts: ReadinessGateOptions): Problem<ReadinessOptionKey>[] {
  const problems: Problem<ReadinessOptionKey>[] = [];
  if (!/^https?:\/\/[^\s'"]+$/.test(opts.baseUrl)) {
    problems.push(problem("baseUrl", `readiness baseUrl "${opts.baseUrl}" must be an http(s) URL without spaces or quotes`, "use e.g. http://127.0.0.1:8000"));
  }
  if (opts.servedModelName === "" || /["\\\n]/.test(opts.servedModelName)) {
    problems.push(
      problem("servedModelName", `readiness servedModelName ${JSON.stringify(opts.servedModelName)} must be non-empty without quotes, backslashes or newlines`, 'use a plain name such as "qwen"'),
    );
  }
  for (const [k, v, min] of [
    ["timeoutSeconds", opts.timeoutSeconds, 1], ["pollIntervalSeconds", opts.pollIntervalSeconds, 1],
    ["progressEverySeconds", opts.progressEverySeconds, 1], ["completionTimeoutSeconds", opts.completionTimeoutSeconds, 1],
  ] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) {
      problems.push(problem(k, `readiness ${k} ${v} must be a positive integer number of seconds`, "use whole seconds >= 1, or leave it unset for the default"));
    }
  }
  return problems;
}

/** The gate options' problems as printed. */
export function validateReadinessGate(opts: ReadinessGateOptions): string[] {
  return readinessGateProblems(opts).map(renderProblem);
}

/** The gate script (bash). Reads the API key (possibly empty) from stdin. */
export function renderReadinessGateScript(opts: ReadinessGateOptions): string {
  const errors = validateReadinessGate(opts);
  if (errors.length > 0) throw new Error(errors.join("\n"));
  const timeout = opts.timeoutSeconds ?? 900;
  const poll = opts.pollIntervalSeconds ?? 2;
  const progressEvery = opts.progressEverySeconds ?? 60;
  const completionCap = opts.completionTimeoutSeconds ?? 120;
  const base = opts.baseUrl.replace(/\/+$/, "");
  const served = opts.servedModelName;
  const completionBody = JSON.stringify({
    model: served,
    messages: [{ role: "user", content: "Reply with the single word: ready" }],
    max_tokens: 16,
    temperature: 0,
    stream: false,
  });
  // Python's json and most servers emit `"id": "x"`; compact encoders emit `"id":"x"`.
  const idCompact = `"id":${JSON.stringify(served)}`;
  const idSpaced = `"id": ${JSON.stringify(served)}`;

  return `${bashPrologueReadingSecret("API_KEY")}BASE=${shellQuote(base)}
SERVED=${shellQuote(served)}
CONTAINER=${shellQuote(opts.containerName ?? "")}
TIMEOUT=${timeout}
START=$(date +%s)
DEADLINE=$(( START + TIMEOUT ))
${BASH_WORKDIR_WITH_AUTH_HEADER}redact() {
  while IFS= read -r line || [ -n "$line" ]; do
    if [ -n "$API_KEY" ]; then line=\${line//"$API_KEY"/[redacted]}; fi
    printf '%s\\n' "$line"
  done
}
remaining() { local r=$(( DEADLINE - $(date +%s) )); if [ "$r" -lt 1 ]; then r=1; fi; echo "$r"; }
cap() { local r; r=$(remaining); if [ "$1" -lt "$r" ]; then echo "$1"; else echo "$r"; fi; }
seen() { head -c 400 "$1" 2>/dev/null | tr '\\n' ' ' | redact; }
fail() {
  {
    echo "readiness gate FAILED after $(( $(date +%s) - START ))s (limit \${TIMEOUT}s) for $BASE, model $SERVED: $*"
    if [ -n "$CONTAINER" ] && command -v docker >/dev/null 2>&1; then
      echo "--- docker logs --tail 50 $CONTAINER ---"
      docker logs --tail 50 "$CONTAINER" 2>&1 | redact
      echo "--- end of logs ---"
    fi
  } >&2
  exit 1
}
echo "TIMELINE gate_start $(ts)"
if [ -n "$CONTAINER" ] && command -v docker >/dev/null 2>&1; then
  started=$(docker inspect -f '{{.State.StartedAt}}' "$CONTAINER" 2>/dev/null || true)
  if [ -n "$started" ]; then echo "TIMELINE container_started $started"; fi
fi

# 1. /health until 200, watching the container meanwhile (progress, and fail fast if it is lost).
WATCH=""
if [ -n "$CONTAINER" ] && command -v docker >/dev/null 2>&1; then WATCH=1; fi
last_progress=$START
last_state=""
restarts0=""
while :; do
  code=$(curl -s -o "$WORK/health" -w '%{http_code}' -m "$(cap 10)" "$BASE/health" 2>"$WORK/health.err")
  if [ "$code" = "200" ]; then break; fi
  now=$(date +%s)
  state=""
  if [ -n "$WATCH" ]; then
    if ! info=$(docker inspect -f '{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}|{{.State.ExitCode}}|{{.RestartCount}}|{{.State.Error}}' "$CONTAINER" 2>&1); then
      fail "the container $CONTAINER is gone ($(printf '%s' "$info" | head -c 200 | redact)); it was removed or replaced while booting"
    fi
    IFS='|' read -r status health exit_code restarts error <<< "$info"
    restarts0=\${restarts0:-$restarts}
    case "$status" in
      exited|dead) fail "the container stopped during boot (status=$status exit-code=$exit_code\${error:+ error=$error})" ;;
      created) if [ -n "$error" ]; then fail "Docker could not start the container: $error"; fi ;;
    esac
    if [ "$restarts" != "$restarts0" ]; then
      fail "the container crashed during boot and Docker restarted it (restart count $restarts0 -> $restarts, last exit-code=$exit_code)"
    fi
    state="container=$status health=$health"
  fi
  if [ "$now" -ge "$DEADLINE" ]; then
    fail "/health never returned 200 (last: HTTP \${code:-000} $(seen "$WORK/health") $(seen "$WORK/health.err")). Check that the container is running and the model loaded; a cold 400B boot needs a longer timeout"
  fi
  if [ "$state" != "$last_state" ] || [ $(( now - last_progress )) -ge ${progressEvery} ]; then
    line="waiting for $BASE/health: HTTP \${code:-000} after $(( now - START ))s of \${TIMEOUT}s"
    if [ -n "$WATCH" ]; then line="$line; $state; last log: $(docker logs --tail 1 "$CONTAINER" 2>&1 | tail -n 1 | cut -c1-200 | redact)"; fi
    echo "$line"
    last_progress=$now
    last_state=$state
  fi
  sleep "$(cap ${poll})"
done
echo "TIMELINE health_ok $(ts)"

# 2. /v1/models lists the served name.
while :; do
  code=$(curl -s "\${AUTH[@]}" -o "$WORK/models" -w '%{http_code}' -m "$(cap 15)" "$BASE/v1/models" 2>"$WORK/models.err")
  if [ "$code" = "200" ]; then
    if grep -qF -e ${shellQuote(idCompact)} -e ${shellQuote(idSpaced)} "$WORK/models"; then break; fi
    fail "/v1/models does not list the served name \\"$SERVED\\" (saw: $(seen "$WORK/models")). Check --served-model-name"
  fi
  if [ "$code" = "401" ] || [ "$code" = "403" ]; then
    fail "/v1/models rejected the API key (HTTP $code: $(seen "$WORK/models")). Check that the gate and the server use the same apiKey"
  fi
  if [ "$(date +%s)" -ge "$DEADLINE" ]; then
    fail "/v1/models never answered 200 (last: HTTP \${code:-000} $(seen "$WORK/models") $(seen "$WORK/models.err"))"
  fi
  sleep "$(cap 2)"
done
echo "TIMELINE models_ok $(ts)"

# 3. One short chat completion.
printf '%s' ${shellQuote(completionBody)} > "$WORK/request.json"
attempt=0
while :; do
  attempt=$(( attempt + 1 ))
  code=$(curl -s "\${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "@$WORK/request.json" \\
    -o "$WORK/completion" -w '%{http_code}' -m "$(cap ${completionCap})" "$BASE/v1/chat/completions" 2>"$WORK/completion.err")
  if [ "$code" = "200" ] && grep -q '"choices"' "$WORK/completion"; then break; fi
  if [ "$attempt" -ge 3 ] || [ "$(date +%s)" -ge "$DEADLINE" ]; then
    fail "chat completion failed after $attempt attempt(s) (last: HTTP \${code:-000} $(seen "$WORK/completion") $(seen "$WORK/completion.err"))"
  fi
  sleep "$(cap 3)"
done
echo "TIMELINE ready $(ts)"
echo "READY model=$SERVED url=$BASE seconds=$(( $(date +%s) - START ))"
`;
}
