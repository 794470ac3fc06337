// The instance's cloud-init `user_data`: ONE `#cloud-config` document built from parts, so every
// boot-time concern (the stack's SSH host key now; image pull and weights download later) adds a
// part instead of writing its own document. Pure: no I/O, no Pulumi.
import { stringify } from "yaml";

/** A piece of `#cloud-config`: top-level keys with their values (plain JSON). */
export type CloudConfigPart = Readonly<Record<string, unknown>>;

/**
 * The host key part: cloud-init's `ssh_keys` installs the pair as the instance's ed25519 host key and
 * `ssh_deletekeys` removes the image's keys, so the one key the stack pinned is the only key sshd can
 * present. No `ssh_genkeytypes`: cc_ssh generates keys only when `ssh_keys` is absent (with it, that
 * setting is never read), and an empty list, the old way of saying "none", fails the schema
 * (minItems 1): cloud-init logs it as a warning and the boot ends "degraded" (`cloud-init status`
 * exits 2). Checked against the real releases by test/integration/conformance/cloudinit.test.ts.
 */
export function sshHostKeyPart(key: { readonly privateKeyOpenssh: string; readonly publicKey: string }): CloudConfigPart {
  return {
    ssh_deletekeys: true,
    ssh_keys: { ed25519_private: key.privateKeyOpenssh.endsWith("\n") ? key.privateKeyOpenssh : `${key.privateKeyOpenssh}\n`, ed25519_public: key.publicKey.trim() },
  };
}

/** An instance's whole `user_data`: the host key part first, then the stack's other parts (boot work). */
export function instanceUserData(key: { readonly privateKeyOpenssh: string; readonly publicKey: string }, parts: readonly CloudConfigPart[]): string {
  return renderCloudInit([sshHostKeyPart(key), ...parts]);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Merges parts into one cloud-config object: lists concatenate (`runcmd`, `write_files`: each
 * part's entries in part order), maps merge key by key, and a scalar set twice to different
 * values is an error naming the key (two parts disagreeing is a bug, not something to pick from).
 */
export function mergeCloudConfig(parts: readonly CloudConfigPart[]): Record<string, unknown> {
  const merge = (a: unknown, b: unknown, path: string): unknown => {
    if (a === undefined) return b;
    if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
    if (isRecord(a) && isRecord(b)) {
      const out: Record<string, unknown> = { ...a };
      for (const [k, v] of Object.entries(b)) out[k] = merge(out[k], v, `${path}.${k}`);
      return out;
    }
    if (JSON.stringify(a) === JSON.stringify(b)) return a;
    throw new Error(`cloud-init parts disagree on ${path.slice(1)}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  };
  let doc: Record<string, unknown> = {};
  for (const part of parts) doc = merge(doc, part, "") as Record<string, unknown>;
  return doc;
}

/** The `user_data` text: `#cloud-config` then the merged parts as YAML; "" when there are no parts. */
export function renderCloudInit(parts: readonly CloudConfigPart[]): string {
  if (parts.length === 0) return "";
  // lineWidth 0: never fold a long line (a key's base64 must stay intact); block literals for keys.
  return `#cloud-config\n${stringify(mergeCloudConfig(parts), { lineWidth: 0 })}`;
}
