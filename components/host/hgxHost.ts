import * as pulumi from "@pulumi/pulumi";
import type { HostConnection } from "./connection";
import type { LambdaMachine } from "./lambdaMachine";
import type { HostKeyScanLimits } from "./hostKey";
import { HostReadiness, validateGpuExpectation, type GpuExpectation, type HostReadinessArgs } from "./readiness";
import type { HostFacts } from "./provider";
import { HOST_MODES, hostProvider, type HostMachineArgsMap, type HostMode, type ProviderHostArgs } from "./providers";

export { existingHostKeyPin, type ExistingHostArgs } from "./existing/provider";
export type { LocalHostArgs } from "./local/provider";
export { gpuExpectationFromInstanceType } from "./lambda/provider";

/** Where the GPU host comes from (the host provider registry's modes; the config reads the same list). */
export type HgxHostMode = HostMode;
export const HGX_HOST_MODES: readonly HgxHostMode[] = HOST_MODES;

/** What every mode's `HgxHost` takes besides its machine args. */
export interface HgxHostCommonArgs {
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

/**
 * `HgxHost`'s args in mode `M`: the mode, its machine args under the mode's own key, and no other mode's.
 * @example
 * ```ts
 * { mode: "existing", existing: { address: "10.0.0.5", user: "ubuntu", privateKey: cfg.requireSecret("sshPrivateKey") } }
 * ```
 */
export type HgxHostArgsOf<M extends HgxHostMode> = HgxHostCommonArgs & {
  /**
   * Where the host comes from: `lambda` launches an instance through the Lambda Cloud API,
   * `existing` uses an SSH host you already have, `local` uses this machine's Docker engine.
   * Decides which children exist, so it is a plain value.
   */
  readonly mode: M;
} & MachineArgsUnder<M> & { readonly [P in Exclude<HgxHostMode, M>]?: never };

/** A mode's machine args under its key: optional where every one of them is (`local`), else required. */
type MachineArgsUnder<M extends HgxHostMode> = {} extends HostMachineArgsMap[M] ? { readonly [P in M]?: HostMachineArgsMap[M] } : { readonly [P in M]: HostMachineArgsMap[M] };

/** `HgxHost`'s args: one member per host mode (`{ mode: "lambda"; lambda: LambdaMachineArgs }`, ...). */
export type HgxHostArgs = { [M in HgxHostMode]: HgxHostArgsOf<M> }[HgxHostMode];

/** The machine args of `args`' own mode, tagged with it (what a provider is dispatched on). */
type TaggedMachineArgs<M extends HgxHostMode = HgxHostMode> = { [P in M]: { readonly mode: P; readonly machine: HostMachineArgsMap[P] | undefined } }[M];

function taggedMachineArgs(args: HgxHostArgs): TaggedMachineArgs {
  // The member for mode M holds its machine args under the key M; TypeScript cannot correlate an index by
  // the discriminant with the member, so the pairing is asserted here, once (JS callers may omit it: validated).
  const own = (args as unknown as Partial<Record<HgxHostMode, unknown>>)[args.mode];
  return { mode: args.mode, machine: own } as TaggedMachineArgs;
}

/** Plain-value checks of the args; throws naming the setting, the value and the fix. */
export function validateHgxHostArgs(name: string, args: HgxHostArgs): void {
  if (!HGX_HOST_MODES.includes(args.mode)) {
    throw new Error(`HgxHost ${name}: mode must be one of ${HGX_HOST_MODES.join(", ")}, got '${String(args.mode)}'`);
  }
  validateMachineArgs(name, taggedMachineArgs(args));
  const price = args.hourlyPriceUsd;
  if (price !== undefined && (!Number.isFinite(price) || price < 0)) {
    throw new Error(`HgxHost ${name}: hourlyPriceUsd must be a non-negative number of USD per hour, got ${price}`);
  }
  if (args.gpus !== undefined && args.gpus !== false) validateGpuExpectation(args.gpus);
}

function validateMachineArgs<M extends HgxHostMode>(name: string, tagged: TaggedMachineArgs<M>): void {
  hostProvider(tagged.mode).validate?.(name, tagged.machine);
}

/** The GPUs the readiness checks demand: none on a host without GPUs, else the args', else the provider's default, else 8 x B200. */
function gpusFor<M extends HgxHostMode>(tagged: TaggedMachineArgs<M>, given: GpuExpectation | false | undefined): GpuExpectation | false {
  const provider = hostProvider(tagged.mode);
  if (!provider.hasGpus) return false;
  const machine = tagged.machine;
  return given ?? (machine === undefined ? undefined : provider.defaultGpus?.(machine)) ?? { count: 8, model: "B200" };
}

/** The provider's machine and connection (its args were validated: present). */
function buildFacts<M extends HgxHostMode>(name: string, tagged: TaggedMachineArgs<M>, args: HgxHostCommonArgs, parent: pulumi.Resource): HostFacts {
  const machine = tagged.machine;
  if (machine === undefined) throw new pulumi.ResourceError(`HgxHost ${name}: mode "${tagged.mode}" needs its \`${tagged.mode}\` settings`, parent, true);
  return hostProvider(tagged.mode).build(name, machine, { hourlyPriceUsd: args.hourlyPriceUsd, hostKeyScan: args.hostKeyScan }, parent);
}

/** The ready-to-paste SSH command (key file path only, never key material). */
export function sshCommandLine(keyPath: string, user: string, host: string, port: number): string {
  return `ssh -i ${keyPath} -p ${port} ${user}@${host}`;
}

/** The connection with its address gated on `ready`: whatever connects to the host waits for the checks. */
function gatedConnection(connection: HostConnection, ready: pulumi.Output<string>): HostConnection {
  return connection.kind === "ssh" ? { ...connection, host: pulumi.all([connection.host, ready]).apply(([host]) => host) } : connection;
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
    const tagged = taggedMachineArgs(args);
    const gpus = gpusFor(tagged, args.gpus);
    const facts = buildFacts(name, tagged, args, this);
    this.machine = facts.machine;

    this.readiness = new HostReadiness(
      `${name}-readiness`,
      {
        connection: facts.connection,
        gpus,
        grantDockerGroup: args.grantDockerGroup ?? hostProvider(args.mode).grantDockerGroup,
        triggers: facts.readinessTriggers,
        ...args.transform?.readiness,
      },
      { parent: this },
    );
    const ready = this.readiness.ready;

    this.connection = gatedConnection(facts.connection, ready);
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
    this.readyAt = facts.admitted ? pulumi.all([ready, facts.admitted]).apply(([at]) => at) : ready;

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

/** `HgxHost`'s args from a provider's answer: its machine args go under the mode's own key. */
export function hgxHostArgsFrom(p: ProviderHostArgs): HgxHostArgs {
  const { mode, machine, ...common } = p;
  // The provider of `mode` answered with its own machine args (the correlation TypeScript cannot follow).
  return { ...common, mode, [mode]: machine } as unknown as HgxHostArgs;
}
