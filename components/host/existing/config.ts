/**
 * The existing host provider's config slice: the keys of an SSH host that already exists (an on-prem
 * HGX box, a reserved instance), their parser and the cross-checks when `hostMode` is `existing`.
 */
import { matches, type ConfigProblem, type SecretSetting, type SettingsReader } from "../../configSlice";
import { sshHostProblem } from "../../network";
import { PROJECT } from "../../projectFacts";
import { HOST_KEY_TRUST_MODES, hostKeyPinFrom, type HostKeyTrust } from "../hostKey";

/** POSIX-style login name; a leading '-' would be read by ssh as an option. */
export const SSH_USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

export const EXISTING_HOST_KEYS = {
  sshHost: { type: "string", default: "", description: "Address of the existing host (`existing` mode): an IP address or DNS host name." },
  sshPort: { type: "integer", default: 22, description: "SSH port of the existing host." },
  sshUser: { type: "string", default: "ubuntu", description: "SSH login user of the existing host (letters, digits, `_`, `.`, `-`; not starting with `-`)." },
  sshPrivateKey: { type: "string", secret: true, default: "", description: "Private key for the existing host (secret)." },
  sshHostKey: { type: "string", default: "", description: "The existing host's SSH host key, pinned by every connection: one line as `ssh-keyscan -t ed25519 <host>` prints it (host column optional), or its SHA256 fingerprint as `ssh-keygen -lf` prints it (`SHA256:...`). Required in `existing` mode unless `sshHostKeyTrust` is `tofu`." },
  sshHostKeyTrust: { type: "string", default: "pinned", description: "`pinned` (default): the host must present `sshHostKey`. `tofu`: trust on first use, an explicit opt-in: the key read at the first deploy is kept in state and pinned afterwards." },
} as const;

export type ExistingHostKey = keyof typeof EXISTING_HOST_KEYS;

export interface ExistingHostSettings {
  readonly address: string;
  readonly port: number;
  readonly user: string;
  readonly privateKey: SecretSetting;
  /** Pinned host key line or SHA256 fingerprint; undefined under `tofu`. */
  readonly hostKey?: string;
  readonly hostKeyTrust: HostKeyTrust;
}

export function parseExistingHostSettings(r: SettingsReader<ExistingHostKey>): ExistingHostSettings {
  return {
    address: r.pattern("sshHost", sshHostProblem, "<ip-or-dns-name>", { optional: true }),
    port: r.integer("sshPort", 1, 65535),
    user: r.pattern("sshUser", matches(SSH_USER, "is not a login name (letters, digits, '_', '.', '-'; not starting with '-')"), "ubuntu"),
    privateKey: r.secret("sshPrivateKey", { multiline: true }),
    hostKey: r.optionalString("sshHostKey"),
    hostKeyTrust: r.oneOf("sshHostKeyTrust", HOST_KEY_TRUST_MODES),
  };
}

/** The existing host's cross-checks: an address, a key to log in with, and a host key to pin (or tofu). */
export function existingHostProblems(e: ExistingHostSettings): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (key: ExistingHostKey, message: string) => problems.push({ key, message });
  if (!e.address) add("sshHost", `is required when hostMode is "existing". Fix: pulumi config set ${PROJECT}:sshHost <ip-or-dns-name>`);
  if (!e.privateKey.present)
    add("sshPrivateKey", `is required when hostMode is "existing". Fix: pulumi config set --secret ${PROJECT}:sshPrivateKey -- "$(cat ~/.ssh/id_ed25519)"`);
  const pin = hostKeyPinFrom(e.hostKey, e.hostKeyTrust, { host: e.address, port: e.port });
  if ("problem" in pin) {
    const shown = e.hostKey === undefined ? "" : `= ${JSON.stringify(e.hostKey)} `;
    const fix =
      e.hostKeyTrust === "tofu"
        ? `pulumi config rm ${PROJECT}:sshHostKey (keep tofu), or pulumi config set ${PROJECT}:sshHostKeyTrust pinned`
        : `pulumi config set ${PROJECT}:sshHostKey "$(ssh-keyscan -t ed25519${e.port !== 22 ? ` -p ${e.port}` : ""} ${e.address || "<host>"})" (check it on a trusted path), or opt into trust on first use: pulumi config set ${PROJECT}:sshHostKeyTrust tofu`;
    add("sshHostKey", `${shown}${pin.problem}. Fix: ${fix}`);
  }
  return problems;
}
