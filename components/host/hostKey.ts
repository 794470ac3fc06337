/**
 * SSH host keys: what a pinned key or fingerprint looks like, its SHA256 fingerprint (as
 * `ssh-keygen -lf` prints it), the known_hosts line the Docker provider's `ssh` reads, and the
 * pre-flight script that checks the key a host presents before anything is sent to it.
 *
 * Why a pre-flight step at all: the command provider (1.2.1) retries EVERY dial error, a host-key
 * mismatch included, up to `dialErrorLimit` times (remote/connection.go `dialWithRetry`), so a
 * wrong key would look like a minutes-long dial timeout ending in "ssh: host key mismatch" without
 * a host name. The pre-flight step waits for SSH to answer (bounded), compares the key once, and
 * fails with a message naming the host and both fingerprints. The connections themselves still pin
 * the key (`hostKey`, known_hosts): the pre-flight is the fast, readable failure, not the guard.
 *
 * Pure functions only (no I/O); `createHash` is Node's.
 */
import { createHash } from "node:crypto";
import { shellQuote } from "../shell";

/** Key types sshd offers as host keys, in the order `ssh-keyscan` is asked for them. */
export const HOST_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"] as const;
export type HostKeyType = (typeof HOST_KEY_TYPES)[number];

/** `ssh-keyscan -t` names of the types above. */
const KEYSCAN_TYPE: Record<HostKeyType, string> = {
  "ssh-ed25519": "ed25519",
  "ecdsa-sha2-nistp256": "ecdsa",
  "ecdsa-sha2-nistp384": "ecdsa",
  "ecdsa-sha2-nistp521": "ecdsa",
  "ssh-rsa": "rsa",
};

/** A host public key: type and base64 blob (no comment: known_hosts and `hostKey` need neither). */
export interface HostPublicKey {
  readonly type: HostKeyType;
  readonly base64: string;
}

/** `<type> <base64>`: the form `connection.hostKey` and known_hosts take. */
export function hostKeyLine(key: HostPublicKey): string {
  return `${key.type} ${key.base64}`;
}

/**
 * Reads one OpenSSH public key line (`ssh-ed25519 AAAA... [comment]`, as in `ssh_host_ed25519_key.pub`
 * or `ssh-keyscan` output without the host column). Returns the key, or the reason it is refused.
 */
export function parseHostPublicKey(text: string): HostPublicKey | { readonly problem: string } {
  const fields = text.trim().split(/\s+/);
  const [type = "", base64 = ""] = fields;
  if (!(HOST_KEY_TYPES as readonly string[]).includes(type)) {
    return { problem: `starts with '${type.slice(0, 40)}', not a host key type (${HOST_KEY_TYPES.join(", ")})` };
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return { problem: "has no base64 key after the type" };
  const blob = Buffer.from(base64, "base64");
  // The blob starts with the type again, as an SSH string (uint32 length + bytes).
  const inner = blob.length >= 4 ? blob.subarray(4, 4 + blob.readUInt32BE(0)).toString("latin1") : "";
  if (inner !== type) return { problem: `has a base64 blob that is not a ${type} key (it names '${inner.slice(0, 40)}')` };
  if (type === "ssh-ed25519" && blob.length !== 4 + 11 + 4 + 32) return { problem: "has an ed25519 blob of the wrong length (expected a 32-byte key)" };
  return { type: type as HostKeyType, base64 };
}

/** SHA256 fingerprint as `ssh-keygen -lf` prints it: `SHA256:` + unpadded base64 of the blob's digest. */
export function hostKeyFingerprint(key: HostPublicKey): string {
  const digest = createHash("sha256").update(Buffer.from(key.base64, "base64")).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/** A SHA256 fingerprint: 32 bytes, base64 without padding (43 characters). */
export const FINGERPRINT_PATTERN = /^SHA256:[A-Za-z0-9+/]{43}$/;

/**
 * Reads a fingerprint as the user may paste it: the bare `SHA256:...`, or the whole `ssh-keygen -lf`
 * line (`256 SHA256:... comment (ED25519)`). Returns the fingerprint or the reason it is refused.
 */
export function parseFingerprint(text: string): string | { readonly problem: string } {
  const token = text.trim().split(/\s+/).find((t) => t.startsWith("SHA256:")) ?? text.trim();
  if (FINGERPRINT_PATTERN.test(token)) return token;
  if (/^MD5:|^([0-9a-f]{2}:){15}[0-9a-f]{2}$/i.test(token)) return { problem: "is an MD5 fingerprint; give the SHA256 one (ssh-keygen -lf prints it by default)" };
  return { problem: "is not a SHA256 fingerprint like SHA256:<43 base64 characters>" };
}

/** The known_hosts host column: bare for port 22, `[host]:port` otherwise (what `ssh` looks up). */
export function knownHostsHost(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** One known_hosts line pinning `key` for `host:port`. */
export function knownHostsLine(host: string, port: number, key: HostPublicKey): string {
  return `${knownHostsHost(host, port)} ${hostKeyLine(key)}`;
}

/**
 * What a host must present: a pinned key, a pinned fingerprint (the key is read and must match),
 * or trust on first use (the key read the first time is kept in state and pinned afterwards).
 */
export type HostKeyPin =
  | { readonly kind: "key"; readonly key: HostPublicKey }
  | { readonly kind: "fingerprint"; readonly fingerprint: string }
  | { readonly kind: "tofu" };

/** Bounds of the pre-flight scan: attempts × (timeout + interval) is the longest it waits for SSH. */
export interface HostKeyScanLimits {
  /** Scans before giving up (SSH not answering yet counts; a wrong key fails at once). @default 60 */
  readonly attempts?: number;
  /** `ssh-keyscan -T`, seconds. @default 10 */
  readonly timeoutSeconds?: number;
  /** Pause between scans, seconds. @default 5 */
  readonly intervalSeconds?: number;
}

/**
 * The pre-flight script (bash, run where Pulumi runs): scans the host's keys with `ssh-keyscan`
 * until it answers (bounded), then prints the verified key line on stdout, or exits 1 with a
 * message naming the host, the key it presented and the one pinned. `pinSource` says where the pin
 * comes from (a config key, or "the key this stack generated for the instance"), for the message.
 */
export function renderHostKeyCheckScript(
  target: { readonly host: string; readonly port: number },
  pin: HostKeyPin,
  pinSource: string,
  limits: HostKeyScanLimits = {},
): string {
  const attempts = limits.attempts ?? 60;
  const timeout = limits.timeoutSeconds ?? 10;
  const interval = limits.intervalSeconds ?? 5;
  const where = `${target.host}:${target.port}`;
  const types = pin.kind === "key" ? KEYSCAN_TYPE[pin.key.type] : pin.kind === "tofu" ? "ed25519" : "ed25519,ecdsa,rsa";
  const lines = [
    "set -u",
    `host=${shellQuote(target.host)}; port=${target.port}; where=${shellQuote(where)}`,
    "command -v ssh-keyscan >/dev/null || { echo \"host key check for $where: ssh-keyscan not found on this machine (package openssh-client)\" >&2; exit 1; }",
    "keys=''",
    `for attempt in $(seq 1 ${attempts}); do`,
    `  keys=$(ssh-keyscan -T ${timeout} -p "$port" -t ${types} -- "$host" 2>/dev/null | grep -v '^#' | cut -d' ' -f2-3)`,
    '  [ -n "$keys" ] && break',
    `  echo "host key check: $where does not answer SSH yet (attempt $attempt/${attempts})" >&2`,
    `  [ "$attempt" -lt ${attempts} ] && sleep ${interval}`,
    "done",
    `[ -n "$keys" ] || { echo "host key check FAILED for $where: no SSH host key could be read after ${attempts} attempts (is SSH reachable from here?)" >&2; exit 1; }`,
    // Fingerprint of each presented key, one per line: `<fingerprint> <type> <base64>`.
    'fps=$(printf "%s\\n" "$keys" | while read -r t b; do printf "%s %s %s\\n" "$(printf "%s %s\\n" "$t" "$b" | ssh-keygen -lf /dev/stdin | cut -d" " -f2)" "$t" "$b"; done)',
  ];
  if (pin.kind === "tofu") {
    // Trust on FIRST use only: on every later run the command provider hands this command its previous
    // stdout (PULUMI_COMMAND_STDOUT, the key recorded in state), and that key is the pin.
    lines.push(
      'recorded=$(printf "%s\\n" "${PULUMI_COMMAND_STDOUT:-}" | awk \'NF >= 2 && $1 ~ /^(ssh-|ecdsa-)/ { k = $1 " " $2 } END { print k }\')',
      'if [ -n "$recorded" ]; then',
      '  want=$(printf "%s\\n" "$recorded" | ssh-keygen -lf /dev/stdin | cut -d" " -f2)',
      '  match=$(printf "%s\\n" "$fps" | awk -v want="$want" \'$1 == want { print $2 " " $3; exit }\')',
      '  if [ -z "$match" ]; then',
      `    echo "host key check FAILED for $where: the host presented $(printf "%s" "$fps" | awk '{ print $2 " " $1 }' | paste -sd, -), which did not match $want, the key trusted on first use and kept in state. Nothing was sent to the host. If the host was rebuilt on purpose, check its key on a trusted path and pin it: pulumi config set hgx-inference:sshHostKey \\"<key line>\\" with sshHostKeyTrust pinned (or pulumi up --replace the host-key-scan command to trust anew)." >&2`,
      "    exit 1",
      "  fi",
      '  echo "host key check: $where presented the key trusted on first use ($want)" >&2',
      '  printf "%s\\n" "$match"',
      "else",
      '  first=$(printf "%s\\n" "$fps" | head -n1)',
      '  echo "host key check: trusting $where on first use: ${first%% *} (kept in state and pinned from now on)" >&2',
      '  printf "%s\\n" "${first#* }"',
      "fi",
    );
  } else {
    const expected = pin.kind === "key" ? hostKeyFingerprint(pin.key) : pin.fingerprint;
    lines.push(
      `expected=${shellQuote(expected)}`,
      'match=$(printf "%s\\n" "$fps" | awk -v want="$expected" \'$1 == want { print $2 " " $3; exit }\')',
      'if [ -z "$match" ]; then',
      `  echo "host key check FAILED for $where: the host presented $(printf "%s" "$fps" | awk '{ print $2 " " $1 }' | paste -sd, -), which did not match the pinned key $expected (${pinSource.replace(/["$`\\]/g, "")}). Nothing was sent to the host. If the host was rebuilt on purpose, compare with ssh-keyscan -t ed25519 -p $port $host | ssh-keygen -lf - on a trusted path and update the pin." >&2`,
      "  exit 1",
      "fi",
      'printf "%s\\n" "$match"',
    );
  }
  return lines.join("\n") + "\n";
}

/** How an existing host's key is trusted: pinned from config (default), or on first use (opt-in). */
export const HOST_KEY_TRUST_MODES = ["pinned", "tofu"] as const;
export type HostKeyTrust = (typeof HOST_KEY_TRUST_MODES)[number];

/**
 * The pin for an existing host from its two settings: a key line or a SHA256 fingerprint under
 * `pinned`, nothing under `tofu`. Returns the pin, or the problem (without the setting's name,
 * which the caller knows) including how to get the key.
 */
export function hostKeyPinFrom(value: string | undefined, trust: HostKeyTrust, target?: { readonly host: string; readonly port: number }): HostKeyPin | { readonly problem: string } {
  const text = value?.trim() ?? "";
  const scan = `ssh-keyscan -t ed25519${target && target.port !== 22 ? ` -p ${target.port}` : ""} ${target?.host || "<host>"}`;
  if (trust === "tofu") {
    if (text) return { problem: "is set while the host key trust mode is tofu (trust on first use); pin the key OR opt into trust on first use, not both" };
    return { kind: "tofu" };
  }
  if (!text) {
    return {
      problem:
        `is required: the host's SSH key must be pinned so nothing (HF token, API key) is sent to an impostor. ` +
        `Get it on a trusted path with \`${scan}\` (the key) or \`${scan} | ssh-keygen -lf -\` (its SHA256 fingerprint)`,
    };
  }
  if (/^(\d+\s+)?SHA256:/.test(text) || /^MD5:/.test(text)) {
    const fp = parseFingerprint(text);
    return typeof fp === "string" ? { kind: "fingerprint", fingerprint: fp } : fp;
  }
  const line = text.replace(/^(?!ssh-|ecdsa-)\S+\s+(?=ssh-|ecdsa-)/, "");
  // A comment after the key is allowed, but only a plain one (`user@host`): nothing shell-like rides along.
  const comment = line.split(/\s+/).slice(2).join(" ");
  if (!/^[A-Za-z0-9@._+ -]*$/.test(comment)) return { problem: `has a comment with characters other than letters, digits, '@', '.', '_', '+', '-'; give the key as \`${scan}\` prints it` };
  const key = parseHostPublicKey(line);
  return "problem" in key ? { problem: `${key.problem}; give one line as \`${scan}\` prints it (the host column may stay), or its SHA256 fingerprint` } : { kind: "key", key };
}
