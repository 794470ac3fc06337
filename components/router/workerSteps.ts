/**
 * The two per-worker steps of a rolling change, as bash scripts run on the router's host (so they reach
 * the router on 127.0.0.1 and each worker at the URL the router uses):
 *
 *   drain   remove the worker from the router (`DELETE /workers/{id}`: new requests go to the others),
 *           then wait until the worker's own `/get_load` reports no request in flight, bounded by the
 *           drain timeout. Requests already proxied to it finish there: removal does not cut them.
 *   rejoin  register the worker again (`POST /workers`, with the API key the router forwards to it)
 *           unless the router already lists it, then wait until the router reports it healthy.
 *
 * Both are idempotent and tolerate a worker that was never registered or never ran (the first deploy).
 * The API key arrives on stdin (first line), is written to 0600 files in a private temp dir and reaches
 * curl through `-H @file` / `--data-binary @file`: never argv, state or logs. JSON is read with grep/sed
 * (the router's compact JSON), so the host needs bash and curl only.
 */
import { BASH_WORKDIR_WITH_AUTH_HEADER, bashPrologueReadingSecret, shellQuote } from "../shell";

export interface WorkerStepOptions {
  /** The router's base URL on its host, e.g. `http://127.0.0.1:30000`. */
  readonly routerUrl: string;
  /** The worker's URL as the router knows it. */
  readonly workerUrl: string;
  /** Seconds: drain = how long in-flight requests may take; rejoin = how long until healthy. */
  readonly timeoutSeconds: number;
}

function validate(opts: WorkerStepOptions): void {
  for (const url of [opts.routerUrl, opts.workerUrl])
    if (!/^https?:\/\/[A-Za-z0-9.:[\]-]+(:\d+)?$/.test(url)) throw new Error(`worker step URL "${url}" must be http(s)://host[:port] without a path`);
  if (!(Number.isInteger(opts.timeoutSeconds) && opts.timeoutSeconds >= 0)) throw new Error(`worker step timeout ${opts.timeoutSeconds} must be whole seconds >= 0`);
}

/** Shared prologue: key from stdin, auth header file, the worker's router entries. */
function prologue(opts: WorkerStepOptions): string {
  return `${bashPrologueReadingSecret("API_KEY")}ROUTER=${shellQuote(opts.routerUrl)}
WORKER=${shellQuote(opts.workerUrl)}
TIMEOUT=${opts.timeoutSeconds}
START=$(date +%s)
${BASH_WORKDIR_WITH_AUTH_HEADER}# The router's entries for this worker, one line each: <id> <healthy true|false>.
entries() {
  curl -fsS -m 10 "\${AUTH[@]}" "$ROUTER/workers" -o "$WORK/workers" 2>"$WORK/workers.err" || return 1
  tr '{' '\\n' < "$WORK/workers" | { grep -F "\\"url\\":\\"$WORKER\\"" || true; } |
    sed -n 's/.*"id":"\\([^"]*\\)".*"is_healthy":\\(true\\|false\\).*/\\1 \\2/p'
}
# The router answers /health before the step talks to it (it may have just been (re)started).
for _ in $(seq 1 60); do curl -fsS -m 5 -o /dev/null "$ROUTER/health" 2>/dev/null && break; sleep 2; done
curl -fsS -m 5 -o /dev/null "$ROUTER/health" || { echo "router $ROUTER not answering /health" >&2; exit 1; }
`;
}

/** Removes the worker from the router and waits for its in-flight requests (bounded). */
export function renderDrainScript(opts: WorkerStepOptions): string {
  validate(opts);
  return `${prologue(opts)}echo "TIMELINE drain_start $(ts)"
ids=$(entries | cut -d' ' -f1) || { echo "cannot list the router's workers: $(head -c 300 "$WORK/workers.err")" >&2; exit 1; }
if [ -z "$ids" ]; then
  echo "$WORKER is not registered in the router: nothing to drain"
else
  for id in $ids; do
    code=$(curl -s -m 10 "\${AUTH[@]}" -X DELETE -o "$WORK/delete" -w '%{http_code}' "$ROUTER/workers/$id")
    case "$code" in 2??|404) echo "removed $WORKER ($id) from the router: HTTP $code" ;; *) echo "DELETE /workers/$id: HTTP $code $(head -c 300 "$WORK/delete")" >&2; exit 1 ;; esac
  done
  for _ in $(seq 1 60); do [ -z "$(entries)" ] && break; sleep 1; done
  [ -z "$(entries)" ] || { echo "$WORKER is still listed by the router after removal" >&2; exit 1; }
fi
# Requests the router had already sent there finish on the worker: wait until it reports none.
DEADLINE=$(( START + TIMEOUT ))
while :; do
  code=$(curl -s -m 5 "\${AUTH[@]}" -o "$WORK/load" -w '%{http_code}' "$WORKER/get_load" 2>/dev/null)
  if [ "$code" != "200" ]; then echo "$WORKER/get_load: HTTP \${code:-000} (not running or no load endpoint): not waiting"; break; fi
  inflight=$(grep -o '"num_reqs":[0-9]*' "$WORK/load" | cut -d: -f2 | awk '{s+=$1} END {print s+0}')
  if [ "$inflight" = "0" ]; then echo "$WORKER has no request in flight"; break; fi
  if [ "$(date +%s)" -ge "$DEADLINE" ]; then echo "drain timeout (\${TIMEOUT}s): $WORKER still has $inflight request(s) in flight; replacing it anyway"; break; fi
  sleep 1
done
echo "TIMELINE drained $(ts)"
echo "DRAINED worker=$WORKER seconds=$(( $(date +%s) - START ))"
`;
}

/** Registers the worker again (if missing) and waits until the router reports it healthy (bounded). */
export function renderRejoinScript(opts: WorkerStepOptions): string {
  validate(opts);
  return `${prologue(opts)}echo "TIMELINE rejoin_start $(ts)"
DEADLINE=$(( START + TIMEOUT ))
if [ -z "$(entries)" ]; then
  ( umask 077
    if [ -n "$API_KEY" ]; then
      key=\${API_KEY//\\\\/\\\\\\\\}; key=\${key//\\"/\\\\\\"}
      printf '{"url":"%s","api_key":"%s"}' "$WORKER" "$key" > "$WORK/add.json"
    else
      printf '{"url":"%s"}' "$WORKER" > "$WORK/add.json"
    fi )
  code=$(curl -s -m 10 "\${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "@$WORK/add.json" -o "$WORK/add" -w '%{http_code}' "$ROUTER/workers")
  case "$code" in 2??|409) echo "added $WORKER to the router: HTTP $code" ;; *) echo "POST /workers: HTTP $code $(head -c 300 "$WORK/add")" >&2; exit 1 ;; esac
fi
while :; do
  state=$(entries | head -n 1 | cut -d' ' -f2)
  if [ "$state" = "true" ]; then break; fi
  if [ "$(date +%s)" -ge "$DEADLINE" ]; then echo "$WORKER not healthy in the router after \${TIMEOUT}s (state: \${state:-not listed})" >&2; exit 1; fi
  sleep 1
done
echo "TIMELINE rejoined $(ts)"
echo "REJOINED worker=$WORKER seconds=$(( $(date +%s) - START ))"
`;
}
