import * as pulumi from "@pulumi/pulumi";
import type { HostConnection, LocalHostConnection, SshHostConnection } from "./connection";
import { LambdaMachine, type LambdaMachineArgs } from "./lambdaMachine";
import { hostKeyPinFrom, HOST_KEY_TRUST_MODES, parseHostPublicKey, type HostKeyPin, type HostKeyScanLimits, type HostKeyTrust } from "./hostKey";
import { HostKeyCheck } from "./hostKeyCheck";
import { instanceTypeGpus } from "./lambda/names";
import { HOST_MODES, type HostMode } from "./modes";
import { HostReadiness, validateGpuExpectation, type GpuExpectation, type HostReadinessArgs } from "./readiness";

/** Where the GPU host comes from (defined once in ./modes; the config reads the same list). */
export type HgxHostMode = HostMode;
export const HGX_HOST_MODES: readonly HgxHostMode[] = HOST_MODES;

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

/** This machine's Docker engine (the `local` stack: a simulator instead of GPUs). */
export interface LocalHostArgs {
  /**
   * Docker endpoint.
   * @default DOCKER_HOST from the environment, else "unix:///var/run/docker.sock"
   */
  readonly dockerHost?: string;
}

export interface HgxHostArgs {
  /**
   * Where the host comes from: `lambda` launches an instance through the Lambda Cloud API,
   * `existing` uses an SSH host you already have, `local` uses this machine's Docker engine.
   * Decides which children exist, so it is a plain value.
   * @example
   * ```ts
   * { mode: "existing", existing: { address: "10.0.0.5", user: "ubuntu", privateKey: cfg.requireSecret("sshPrivateKey") } }
   * ```
   */
  readonly mode: HgxHostMode;
  /** Machine settings for `lambda` mode (required there). */
  readonly lambda?: LambdaMachineArgs;
  /** Host settings for `existing` mode (required there). */
  readonly existing?: ExistingHostArgs;
  /** Settings for `local` mode. */
  readonly local?: LocalHostArgs;
  /**
   * GPUs the readiness checks demand (ignored in `local` mode, which has none); `false` for a host that
   * needs none (the router's own host): only Docker is checked there.
   * @default read from the Lambda instance type (`gpu_8x_b200_sxm6` -> 8 x B200); `{ count: 8, model: "B200" }` otherwise
   */
  readonly gpus?: GpuExpectation | false;
  /**
   * Hourly price in USD for cost outputs in `existing`/`local` mode (Lambda reads it from the API).
   * @default 0
   */
  readonly hourlyPriceUsd?: number;
  /**
   * Let the readiness check add the login user to the `docker` group through passwordless sudo
   * when Docker refuses it (Lambda's GPU Base image may need that for `ubuntu`).
   * @default true in `lambda` mode, false otherwise (an existing box is not ours to change)
   */
  readonly grantDockerGroup?: boolean;
  /**
   * Key file path written into the ready-to-paste `sshCommand` (the key itself never is).
   * @default `~/.ssh/<name>.pem`
   */
  readonly sshKeyPath?: string;
  /**
   * Bounds of the pre-flight host-key check's wait for SSH.
   * @default 60 scans, 10 s timeout, 5 s apart (about 15 min: a fresh 8-GPU instance may take a while)
   */
  readonly hostKeyScan?: HostKeyScanLimits;
  /** Escape hatch merged last into the readiness component's args. */
  readonly transform?: { readiness?: Partial<HostReadinessArgs> };
}

/** GPUs implied by a Lambda instance type name (`gpu_<N>x_<model>[_<variant>...]`). */
export function gpuExpectationFromInstanceType(instanceType: string): GpuExpectation | undefined {
  const gpus = instanceTypeGpus(instanceType);
  return gpus && { count: gpus.count, model: gpus.model.toUpperCase() };
}

/** Plain-value checks of the args; throws naming the setting, the value and the fix. */
export function validateHgxHostArgs(name: string, args: HgxHostArgs): void {
  if (!HGX_HOST_MODES.includes(args.mode)) {
    throw new Error(`HgxHost ${name}: mode must be one of ${HGX_HOST_MODES.join(", ")}, got '${String(args.mode)}'`);
  }
  if (args.mode === "lambda" && !args.lambda) {
    throw new Error(`HgxHost ${name}: mode "lambda" needs the \`lambda\` machine settings (instance type, regions, API key...)`);
  }
  if (args.mode === "existing") {
    if (!args.existing) {
      throw new Error(`HgxHost ${name}: mode "existing" needs \`existing: { address, user, privateKey }\` (set sshHost, sshUser and sshPrivateKey in stack config)`);
    }
    if (typeof args.existing.address === "string" && args.existing.address.trim() === "") {
      throw new Error(`HgxHost ${name}: existing.address is empty; set it to the host's IP or DNS name (stack config sshHost)`);
    }
    const port = args.existing.port;
    if (typeof port === "number" && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      throw new Error(`HgxHost ${name}: existing.port must be 1-65535, got ${port}`);
    }
    existingHostKeyPin(name, args.existing);
  }
  const price = args.hourlyPriceUsd;
  if (price !== undefined && (!Number.isFinite(price) || price < 0)) {
    throw new Error(`HgxHost ${name}: hourlyPriceUsd must be a non-negative number of USD per hour, got ${price}`);
  }
  if (args.gpus !== undefined && args.gpus !== false) validateGpuExpectation(args.gpus);
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

/** The ready-to-paste SSH command (key file path only, never key material). */
export function sshCommandLine(keyPath: string, user: string, host: string, port: number): string {
  return `ssh -i ${keyPath} -p ${port} ${user}@${host}`;
}

/** Fields every mode fills in; `undefined` where a mode has no such thing. */
interface HostFacts {
  connection: HostConnection;
  instanceId: pulumi.Output<string>;
  ip: pulumi.Output<string>;
  /** Lambda only: the address on the region's private network ("" elsewhere or when the API gives none). */
  privateIp: pulumi.Output<string>;
  region: pulumi.Output<string>;
  instanceType: pulumi.Output<string>;
  hourlyPriceUsd: pulumi.Output<number>;
  sshUser: pulumi.Output<string | undefined>;
  sshPort: pulumi.Output<number | undefined>;
  privateKey: pulumi.Output<string | undefined>;
  cacheMountPath: pulumi.Output<string | undefined>;
}

/**
 * A machine ready to run GPU containers: a Lambda instance, an existing SSH host or this machine,
 * with the readiness checks passed. Downstream layers take `connection`, whose address resolves
 * only after the checks passed, so they wait on a real signal.
 */
export class HgxHost extends pulumi.ComponentResource {
  public readonly mode: HgxHostMode;
  /** How to reach the host; for SSH hosts the address resolves only once readiness passed. */
  public readonly connection: HostConnection;
  /** Lambda instance id; `existing:<user>@<address>:<port>` or `local` otherwise. */
  public readonly instanceId: pulumi.Output<string>;
  public readonly ip: pulumi.Output<string>;
  /** Lambda only: the address on the region's private network, where a router in the same region reaches this host ("" otherwise). */
  public readonly privateIp: pulumi.Output<string>;
  public readonly region: pulumi.Output<string>;
  public readonly instanceType: pulumi.Output<string>;
  public readonly hourlyPriceUsd: pulumi.Output<number>;
  public readonly sshUser: pulumi.Output<string | undefined>;
  public readonly sshPort: pulumi.Output<number | undefined>;
  /** `ssh -i <keyfile> -p <port> <user>@<ip>`; undefined in local mode. */
  public readonly sshCommand: pulumi.Output<string | undefined>;
  /** Private key of the SSH connection (secret); undefined in local mode. */
  public readonly privateKey: pulumi.Output<string | undefined>;
  /** The host's SSH key every connection pins (`<type> <base64>`), verified by the pre-flight check; undefined in local mode. */
  public readonly hostKey: pulumi.Output<string | undefined>;
  /** Persistent cache directory on the host, if any. */
  public readonly cacheMountPath: pulumi.Output<string | undefined>;
  /** GPUs verified by the readiness checks (0 in local mode). */
  public readonly gpuCount: pulumi.Output<number>;
  /** UTC time the readiness checks passed. */
  public readonly readyAt: pulumi.Output<string>;
  /** The Lambda machine (lambda mode only). */
  public readonly machine?: LambdaMachine;
  public readonly readiness: HostReadiness;

  constructor(name: string, args: HgxHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hgx:host:HgxHost", name, {}, opts);
    try {
      validateHgxHostArgs(name, args);
    } catch (err) {
      throw new pulumi.ResourceError((err as Error).message, this, true);
    }
    this.mode = args.mode;

    const lambdaType = (args.lambda as { instanceType?: unknown } | undefined)?.instanceType;
    const gpus: GpuExpectation | false =
      args.mode === "local"
        ? false
        : (args.gpus ??
          (args.mode === "lambda" && typeof lambdaType === "string" ? gpuExpectationFromInstanceType(lambdaType) : undefined) ?? {
            count: 8,
            model: "B200",
          });

    let facts: HostFacts;
    let triggers: pulumi.Input<unknown>[] = [];
    if (args.mode === "lambda") {
      const machine = new LambdaMachine(`${name}-machine`, args.lambda as LambdaMachineArgs, { parent: this });
      this.machine = machine;
      triggers = [machine.instanceId];
      const pin = machine.hostPublicKey.apply((k): HostKeyPin => {
        const key = parseHostPublicKey(k);
        if ("problem" in key) throw new pulumi.ResourceError(`generated host key ${key.problem}`, this, true);
        return { kind: "key", key };
      });
      const check = new HostKeyCheck(
        `${name}-host-key`,
        {
          host: machine.ip,
          port: machine.sshPort,
          pin,
          pinSource: "the host key this stack generated for the instance and delivered through cloud-init user_data",
          limits: args.hostKeyScan,
          triggers: [machine.instanceId],
        },
        { parent: this },
      );
      facts = {
        connection: { ...machine.connection, hostKey: check.hostKey },
        instanceId: machine.instanceId,
        ip: machine.ip,
        privateIp: machine.privateIp,
        region: machine.region,
        instanceType: machine.instanceType,
        hourlyPriceUsd: machine.hourlyPriceUsd,
        sshUser: machine.sshUser,
        sshPort: machine.sshPort,
        privateKey: pulumi.secret(machine.privateKey),
        cacheMountPath: pulumi.output(machine.cacheMountPath),
      };
    } else if (args.mode === "existing") {
      const e = args.existing as ExistingHostArgs;
      const port = pulumi.output(e.port ?? 22);
      const user = pulumi.output(e.user ?? "ubuntu");
      const address = pulumi.output(e.address);
      const privateKey = pulumi.secret(e.privateKey);
      const pin = existingHostKeyPin(name, e);
      const check = new HostKeyCheck(
        `${name}-host-key`,
        { host: address, port, pin, pinSource: "stack config hgx-inference:sshHostKey", limits: args.hostKeyScan },
        { parent: this },
      );
      const conn: SshHostConnection = { kind: "ssh", host: address, port, user, privateKey, hostKey: check.hostKey };
      facts = {
        connection: conn,
        instanceId: pulumi.interpolate`existing:${user}@${address}:${port}`,
        ip: address,
        privateIp: pulumi.output(""),
        region: pulumi.output(e.region ?? "existing"),
        instanceType: pulumi.output(e.instanceType ?? "existing"),
        hourlyPriceUsd: pulumi.output(args.hourlyPriceUsd ?? 0),
        sshUser: user,
        sshPort: port,
        privateKey,
        cacheMountPath: pulumi.output(e.cacheMountPath),
      };
    } else {
      const conn: LocalHostConnection = { kind: "local", dockerHost: args.local?.dockerHost };
      facts = {
        connection: conn,
        instanceId: pulumi.output("local"),
        ip: pulumi.output("127.0.0.1"),
        privateIp: pulumi.output(""),
        region: pulumi.output("local"),
        instanceType: pulumi.output("local"),
        hourlyPriceUsd: pulumi.output(args.hourlyPriceUsd ?? 0),
        sshUser: pulumi.output<string | undefined>(undefined),
        sshPort: pulumi.output<number | undefined>(undefined),
        privateKey: pulumi.output<string | undefined>(undefined),
        cacheMountPath: pulumi.output<string | undefined>(undefined),
      };
    }

    this.readiness = new HostReadiness(
      `${name}-readiness`,
      {
        connection: facts.connection,
        gpus,
        grantDockerGroup: args.grantDockerGroup ?? args.mode === "lambda",
        triggers,
        ...args.transform?.readiness,
      },
      { parent: this },
    );
    const ready = this.readiness.ready;

    // Gate the address on readiness: whatever connects to the host waits for the checks.
    this.connection =
      facts.connection.kind === "ssh"
        ? { ...facts.connection, host: pulumi.all([facts.connection.host, ready]).apply(([host]) => host) }
        : facts.connection;
    this.instanceId = facts.instanceId;
    this.ip = facts.ip;
    this.privateIp = facts.privateIp;
    this.region = facts.region;
    this.instanceType = facts.instanceType;
    this.hourlyPriceUsd = facts.hourlyPriceUsd;
    this.sshUser = facts.sshUser;
    this.sshPort = facts.sshPort;
    this.privateKey = facts.privateKey;
    this.hostKey = facts.connection.kind === "ssh" ? pulumi.output(facts.connection.hostKey) : pulumi.output<string | undefined>(undefined);
    this.cacheMountPath = facts.cacheMountPath;
    const keyPath = args.sshKeyPath ?? `~/.ssh/${name}.pem`;
    this.sshCommand = pulumi
      .all([facts.ip, facts.sshUser, facts.sshPort])
      .apply(([ip, user, port]) => (user === undefined || port === undefined ? undefined : sshCommandLine(keyPath, user, ip, port)));
    this.gpuCount = ready.apply(() => (gpus === false ? 0 : gpus.count));
    // A worker behind a router on another host is ready once the firewall admits that host too.
    this.readyAt = this.machine ? pulumi.all([ready, this.machine.servingAdmitted]).apply(([at]) => at) : ready;

    this.registerOutputs({
      instanceId: this.instanceId,
      ip: this.ip,
      region: this.region,
      instanceType: this.instanceType,
      hourlyPriceUsd: this.hourlyPriceUsd,
      sshUser: this.sshUser,
      sshPort: this.sshPort,
      sshCommand: this.sshCommand,
      privateKey: this.privateKey,
      hostKey: this.hostKey,
      cacheMountPath: this.cacheMountPath,
      gpuCount: this.gpuCount,
      readyAt: this.readyAt,
    });
  }
}
