/**
 * The encrypted hop from the router's host to a worker in another Lambda region: an SSH local forward.
 *
 * Lambda's private network ends at the region, so a worker elsewhere is reachable only at its public
 * address; plain HTTP there would carry the bearer key, prompts and completions readable and alterable
 * on the path. Instead the router's host runs, per such worker, a supervised
 *   ssh -N -L 127.0.0.1:<localPort>:127.0.0.1:<workerPort> <user>@<worker public address>
 * and the router (host network) reaches that worker at http://127.0.0.1:<localPort>.
 *
 * - Client key: one ed25519 pair the stack generates (private half a Pulumi secret, reaching the router's
 *   host on the step's stdin, written 0600 there; never argv or state in plain).
 * - Worker side: the public half in the login user's authorized_keys, restricted to this forward only
 *   (`restrict,port-forwarding,permitopen="127.0.0.1:<workerPort>",command="/bin/false"`): no shell, no
 *   agent/X11/pty, no other destination. A key that leaks opens the worker's serving port and nothing else.
 * - Server authentication: `StrictHostKeyChecking=yes` against a known_hosts file holding only the
 *   worker's PINNED host key (the one the stack generated and sent at launch), so a machine in the middle
 *   cannot pose as the worker.
 * - Supervision: a bash loop started with `setsid` restarts ssh whenever it exits (ServerAliveInterval
 *   notices a dead path within ~45 s; ExitOnForwardFailure makes a lost bind an exit, not a silent
 *   session without the forward). Re-running the step (any input change) replaces the loop.
 *
 * Pure functions only: the scripts are rendered here and run by the router layer (`hostCommand`).
 */
import { parseHostPublicKey, knownHostsLine } from "../host/hostKey";
import { bashPrologueReadingSecret, shellQuote } from "../shell";

/** First local port of the forwards on the router's host: replica i's tunnel listens on base + i. */
export const TUNNEL_PORT_BASE = 38000;

/** The router host's local port for replica `index`'s tunnel. */
export function tunnelLocalPort(index: number): number {
  if (!(Number.isInteger(index) && index >= 0 && index < 1000)) throw new Error(`tunnel replica index ${index} must be a whole number 0..999`);
  return TUNNEL_PORT_BASE + index;
}

/** How the router reaches a worker on another Lambda host. */
export type WorkerRoute = { readonly via: "private" | "tunnel"; readonly url: string } | { readonly problem: string };

/** Where a worker on another Lambda host is, as far as the router's path to it goes. */
export interface RemoteWorkerPlace {
  readonly name: string;
  readonly region: string;
  /** Its address on the region's private network ("" when the API gave none). */
  readonly privateIp: string;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * A worker on another Lambda host as the router reaches it: in the router's region at its private
 * address (the region's private network); in another region through its SSH tunnel on the router's
 * loopback (`tunnelPort`; undefined when the stack built none). Never at a public address in clear.
 */
export function workerRouteFor(worker: RemoteWorkerPlace, routerRegion: string, port: number, tunnelPort: number | undefined): WorkerRoute {
  if (worker.region !== routerRegion) {
    if (tunnelPort !== undefined) return { via: "tunnel", url: `http://127.0.0.1:${tunnelPort}` };
    // Tunnels exist only where lambdaRegions lists more than one region; a worker elsewhere anyway is from an older config.
    return {
      problem:
        `worker ${worker.name} is in ${worker.region} and the router's host in ${routerRegion}, and lambdaRegions lists one region, so the stack built no tunnel to it ` +
        `(the router never reaches a worker in clear across the internet). Fix: pulumi config set hgx-inference:lambdaRegions '["${routerRegion}","${worker.region}"]' (a tunnel per cross-region worker), then pulumi up`,
    };
  }
  if (!IPV4.test(worker.privateIp))
    return {
      problem: `worker ${worker.name} has no private address from the Lambda API (private_ip ${JSON.stringify(worker.privateIp)}), so the router cannot reach it off the internet. Fix: pulumi refresh (re-reads the instance), then pulumi up`,
    };
  return { via: "private", url: `http://${worker.privateIp}:${port}` };
}

/** Marker ending the stack's authorized_keys line on a worker (also the tunnel's directory name on the router's host). */
export function tunnelTag(project: string, stack: string, worker: string): string {
  const tag = `hgx-tunnel-${project}-${stack}-${worker}`;
  if (!/^[A-Za-z0-9._-]{1,120}$/.test(tag)) throw new Error(`tunnel tag ${JSON.stringify(tag)} must be 1-120 letters, digits, '.', '_', '-' (project, stack and worker names)`);
  return tag;
}

function validPort(what: string, port: number): void {
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) throw new Error(`tunnel ${what} ${port} must be a TCP port 1..65535`);
}

/**
 * The worker's authorized_keys line: the stack's public key allowed to forward to the serving port on
 * the worker's loopback and nothing else.
 */
export function tunnelAuthorizedKeyLine(publicKey: string, workerPort: number, tag: string): string {
  validPort("worker port", workerPort);
  const fields = publicKey.trim().split(/\s+/);
  if (fields[0] !== "ssh-ed25519" || !/^[A-Za-z0-9+/]+={0,2}$/.test(fields[1] ?? "")) throw new Error(`tunnel public key must be "ssh-ed25519 <base64>", got ${JSON.stringify(publicKey.slice(0, 40))}`);
  return `restrict,port-forwarding,permitopen="127.0.0.1:${workerPort}",command="/bin/false" ${fields[0]} ${fields[1]} ${tagOk(tag)}`;
}

function tagOk(tag: string): string {
  if (!/^hgx-tunnel-[A-Za-z0-9._-]{1,120}$/.test(tag)) throw new Error(`tunnel tag ${JSON.stringify(tag)} is not one tunnelTag makes`);
  return tag;
}

/**
 * Worker side (bash, on the worker's host as its login user): drops the stack's previous line for this
 * worker (by its tag) and, with `line`, adds it, atomically (temp file + rename; the file stays 0600).
 * Without `line` (the worker is in the router's region) only the removal runs.
 */
export function renderTunnelAuthorizeScript(opts: { readonly tag: string; readonly line?: string }): string {
  const tag = tagOk(opts.tag);
  if (opts.line !== undefined && (!opts.line.endsWith(` ${tag}`) || /[\n\r']/.test(opts.line))) throw new Error("tunnel authorized_keys line must be one line ending in its tag");
  return `set -euo pipefail
umask 077
mkdir -p "$HOME/.ssh"
AK="$HOME/.ssh/authorized_keys"
touch "$AK"
TMP=$(mktemp "$HOME/.ssh/authorized_keys.XXXXXX")
trap 'rm -f "$TMP"' EXIT
# Every line but this worker's tunnel line (matched on its tag, the last field).
awk -v tag=${shellQuote(tag)} '$NF != tag' "$AK" > "$TMP"
${opts.line === undefined ? `echo "tunnel: no tunnel to this worker (same region as the router); key ${tag} removed if present"` : `printf '%s\\n' ${shellQuote(opts.line)} >> "$TMP"\necho "tunnel: key ${tag} authorized for the serving port only"`}
chmod 600 "$TMP"
mv -f "$TMP" "$AK"
trap - EXIT
`;
}

/** One tunnel as the router's host starts it. */
export interface TunnelTarget {
  /** From `tunnelTag`: names the directory under ~/.hgx-tunnels on the router's host. */
  readonly tag: string;
  /** The worker's public address and SSH port/user. */
  readonly host: string;
  readonly sshPort: number;
  readonly user: string;
  /** The worker's pinned host key, `ssh-ed25519 <base64> [comment]`. */
  readonly hostKey: string;
  /** The worker's serving port (on its own loopback). */
  readonly workerPort: number;
  /** The router host's loopback port the forward listens on. */
  readonly localPort: number;
  /** Seconds to wait for the forward to listen before failing. @default 60 */
  readonly waitSeconds?: number;
}

/**
 * Router side (bash, on the router's host). stdin's first line is the client private key (framed by the
 * host-command wrapper). With a target: writes key and the pinned known_hosts into a 0700 directory,
 * replaces any previous supervisor loop, starts a new one detached, and waits (bounded) until the
 * forward listens on 127.0.0.1:<localPort> (`renderTunnelStopScript` undoes it).
 */
export function renderTunnelStartScript(target: TunnelTarget): string {
  const tag = tagOk(target.tag);
  validPort("SSH port", target.sshPort);
  validPort("worker port", target.workerPort);
  validPort("local port", target.localPort);
  if (!/^[A-Za-z0-9.-]{1,253}$/.test(target.host)) throw new Error(`tunnel host ${JSON.stringify(target.host)} must be an address or DNS name`);
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(target.user)) throw new Error(`tunnel user ${JSON.stringify(target.user)} must be a login name`);
  const key = parseHostPublicKey(target.hostKey);
  if ("problem" in key) throw new Error(`tunnel pinned host key for ${target.host} ${key.problem}`);
  const wait = target.waitSeconds ?? 60;
  const sshArgs = [
    "-N",
    "-o BatchMode=yes",
    "-o IdentitiesOnly=yes",
    '-o IdentityFile="$DIR/id"',
    '-o UserKnownHostsFile="$DIR/known_hosts"',
    "-o GlobalKnownHostsFile=/dev/null",
    "-o StrictHostKeyChecking=yes",
    "-o ExitOnForwardFailure=yes",
    "-o ServerAliveInterval=15",
    "-o ServerAliveCountMax=3",
    "-o ConnectTimeout=15",
    `-p ${target.sshPort}`,
    `-L 127.0.0.1:${target.localPort}:127.0.0.1:${target.workerPort}`,
    `${target.user}@${target.host}`,
  ].join(" ");
  return `${bashPrologueReadingSecret("TUNNEL_KEY")}${stopPrologue(tag)}
[ -n "$TUNNEL_KEY" ] || { echo "tunnel ${tag}: no client key on stdin" >&2; exit 1; }
command -v ssh >/dev/null || { echo "tunnel ${tag}: ssh not found on the router's host (package openssh-client)" >&2; exit 1; }
stop_loop
mkdir -p "$DIR"; chmod 700 "$DIR"
( umask 077; printf '%s\\n' "$TUNNEL_KEY" > "$DIR/id"; printf '%s\\n' ${shellQuote(knownHostsLine(target.host, target.sshPort, key))} > "$DIR/known_hosts" )
unset TUNNEL_KEY
# The supervisor: ssh again whenever it exits; its log is cut when it grows past 1 MB.
cat > "$DIR/loop.sh" <<'LOOP'
DIR=$1
# Its own pid, which is its process group's too (setsid made it a session leader): what stop_loop kills.
echo $$ > "$DIR/pid.new" && mv -f "$DIR/pid.new" "$DIR/pid"
while :; do
  [ "$(stat -c %s "$DIR/log" 2>/dev/null || echo 0)" -gt 1048576 ] && : > "$DIR/log"
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) ssh start" >> "$DIR/log"
  ssh ${sshArgs} >> "$DIR/log" 2>&1
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) ssh exited $?; again in 5 s" >> "$DIR/log"
  sleep 5
done
LOOP
: > "$DIR/log"
setsid bash "$DIR/loop.sh" "$DIR" </dev/null >/dev/null 2>&1 &
for _ in $(seq 1 ${wait}); do
  # A first ssh that exited (refused key, wrong host key, no route) fails the step now, with what it said.
  grep -q 'ssh exited' "$DIR/log" && break
  if (exec 3<>/dev/tcp/127.0.0.1/${target.localPort}) 2>/dev/null; then
    echo "tunnel ${tag}: 127.0.0.1:${target.localPort} -> ${target.host}:${target.sshPort} -> 127.0.0.1:${target.workerPort} (host key pinned)"
    exit 0
  fi
  sleep 1
done
echo "tunnel ${tag}: the forward to ${target.user}@${target.host}:${target.sshPort} did not come up (waited up to ${wait} s). ssh said:" >&2
tail -n 20 "$DIR/log" >&2
echo "Fix: the worker's SSH port must admit the router host's public address (lambdaSshAllowlist), and the worker's pinned host key must be the one it presents (pulumi refresh re-reads it)" >&2
stop_loop
exit 1
`;
}

/** Router side: stops the tunnel `tag` (if any) and removes its directory (the worker moved into the router's region). */
export function renderTunnelStopScript(tag: string): string {
  return `${bashPrologueReadingSecret("TUNNEL_KEY")}${stopPrologue(tagOk(tag))}
unset TUNNEL_KEY
stop_loop
rm -rf "$DIR"
echo "tunnel ${tag}: none (the worker is in the router's region)"
`;
}

/** `DIR` and `stop_loop`: kills the previous supervisor's process group, only if its pid still runs our loop. */
function stopPrologue(tag: string): string {
  return `DIR="$HOME/.hgx-tunnels/${tag}"
stop_loop() {
  local pid
  pid=$(cat "$DIR/pid" 2>/dev/null || true)
  if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$DIR/loop.sh"; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  rm -f "$DIR/pid"
}`;
}
