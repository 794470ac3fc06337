/**
 * The existing host provider: an SSH host that already exists, reached with the configured key and
 * pinned to the configured host key (or to the one read at the first deploy under `tofu`).
 */
import * as pulumi from "@pulumi/pulumi";
import type { SshHostConnection } from "../connection";
import { HostKeyCheck } from "../hostKeyCheck";
import { hostKeyPinFrom, HOST_KEY_TRUST_MODES, type HostKeyPin, type HostKeyTrust } from "../hostKey";
import { PROJECT } from "../../projectFacts";
import type { HostBuildCommon, HostFacts, HostProvider } from "../provider";
import { EXISTING_HOST_KEYS, existingHostProblems, parseExistingHostSettings, type ExistingHostKey, type ExistingHostSettings } from "./config";

/** An SSH host that already exists: an on-prem HGX box or a reserved instance. */
export interface ExistingHostArgs {
  /** Address (IP or DNS name) to SSH to. */
  readonly address: pulumi.Input<string>;
  /**
   * SSH port.
   * @default 22
   */
  readonly port?: pulumi.Input<number>;
  /**
   * Login user (must be able to use Docker; see `grantDockerGroup`).
   * @default "ubuntu"
   */
  readonly user?: pulumi.Input<string>;
  /** Private key for `user` (OpenSSH or PEM). Wrapped as a Pulumi secret whatever it arrives as. */
  readonly privateKey: pulumi.Input<string>;
  /**
   * The host's SSH key to pin: one `<type> <base64>` line (as `ssh-keyscan -t ed25519 <host>` prints
   * it, host column allowed) or its SHA256 fingerprint (`SHA256:...`, as `ssh-keygen -lf` prints it).
   * Required unless `hostKeyTrust` is "tofu".
   */
  readonly hostKey?: string;
  /**
   * "pinned" (default): `hostKey` is required and the host must present it. "tofu": trust on first
   * use, an explicit opt-in: the key read at the first deploy is kept in state and pinned afterwards.
   * @default "pinned"
   */
  readonly hostKeyTrust?: HostKeyTrust;
  /**
   * Persistent directory on the host for the model cache (e.g. an NFS mount), if there is one.
   * @default undefined (no persistent cache path)
   */
  readonly cacheMountPath?: pulumi.Input<string>;
  /**
   * Label reported as `region` (where the box is), for reports.
   * @default "existing"
   */
  readonly region?: string;
  /**
   * Label reported as `instanceType`.
   * @default "existing"
   */
  readonly instanceType?: string;
}

/** The pin of an existing host from its args; throws naming the setting, the value and the fix. */
export function existingHostKeyPin(name: string, e: ExistingHostArgs): HostKeyPin {
  const trust = e.hostKeyTrust ?? "pinned";
  if (!HOST_KEY_TRUST_MODES.includes(trust)) {
    throw new Error(`HgxHost ${name}: existing.hostKeyTrust must be one of ${HOST_KEY_TRUST_MODES.join(", ")}, got '${String(trust)}'`);
  }
  const target = typeof e.address === "string" ? { host: e.address, port: typeof e.port === "number" ? e.port : 22 } : undefined;
  const pin = hostKeyPinFrom(e.hostKey, trust, target);
  if ("problem" in pin) throw new Error(`HgxHost ${name}: existing.hostKey (stack config sshHostKey) ${pin.problem}`);
  return pin;
}

/** Plain-value checks of an existing host's args; throws naming the setting, the value and the fix. */
function validateExistingHostArgs(name: string, e: ExistingHostArgs | undefined): void {
  if (!e) {
    throw new Error(`HgxHost ${name}: mode "existing" needs \`existing: { address, user, privateKey }\` (set sshHost, sshUser and sshPrivateKey in stack config)`);
  }
  if (typeof e.address === "string" && e.address.trim() === "") {
    throw new Error(`HgxHost ${name}: existing.address is empty; set it to the host's IP or DNS name (stack config sshHost)`);
  }
  const port = e.port;
  if (typeof port === "number" && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new Error(`HgxHost ${name}: existing.port must be 1-65535, got ${port}`);
  }
  existingHostKeyPin(name, e);
}

/** The SSH connection, its host-key check and the facts `HgxHost` exports. */
function buildExistingHost(name: string, e: ExistingHostArgs, common: HostBuildCommon, parent: pulumi.Resource): HostFacts {
  const port = pulumi.output(e.port ?? 22);
  const user = pulumi.output(e.user ?? "ubuntu");
  const address = pulumi.output(e.address);
  const privateKey = pulumi.secret(e.privateKey);
  const pin = existingHostKeyPin(name, e);
  const check = new HostKeyCheck(
    `${name}-host-key`,
    { host: address, port, pin, pinSource: "stack config hgx-inference:sshHostKey", limits: common.hostKeyScan },
    { parent },
  );
  const connection: SshHostConnection = { kind: "ssh", host: address, port, user, privateKey, hostKey: check.hostKey };
  return {
    connection,
    instanceId: pulumi.interpolate`existing:${user}@${address}:${port}`,
    ip: address,
    privateIp: pulumi.output(""),
    region: pulumi.output(e.region ?? "existing"),
    instanceType: pulumi.output(e.instanceType ?? "existing"),
    hourlyPriceUsd: pulumi.output(common.hourlyPriceUsd ?? 0),
    sshUser: user,
    sshPort: port,
    privateKey,
    cacheMountPath: pulumi.output(e.cacheMountPath),
    readinessTriggers: [],
  };
}

export const EXISTING_HOST: HostProvider<ExistingHostKey, ExistingHostSettings, ExistingHostArgs> = {
  keys: EXISTING_HOST_KEYS,
  parse: (r) => parseExistingHostSettings(r),
  problems: (e) => existingHostProblems(e),
  sshPort: (e) => e.port,
  replicaProblems: (_e, replicas) =>
    replicas > 1
      ? [{ key: "replicas", message: `= ${replicas} needs one host per replica, and hostMode "existing" has one (sshHost). Fix: pulumi config set ${PROJECT}:replicas 1, or use hostMode lambda (one instance per replica) or local` }]
      : [],
  bootWorkAtLaunch: false,
  // An existing box is not ours to change.
  regionalPrivateNetwork: false,
  hasGpus: true,
  grantDockerGroup: false,
  argsFor: (e, context) => ({
    machine: {
      address: e.address,
      port: e.port,
      user: e.user,
      privateKey: e.privateKey.value,
      hostKey: e.hostKey,
      hostKeyTrust: e.hostKeyTrust,
      cacheMountPath: context.cacheMountPath,
    },
    gpus: context.gpus,
    hourlyPriceUsd: context.hourlyPriceUsd,
  }),
  validate: validateExistingHostArgs,
  build: buildExistingHost,
};
