/**
 * The contract every host provider (a folder under components/host/: lambda/, existing/, local/)
 * fulfils, so that config, the stack composition and `HgxHost` reach a provider only through the
 * registry (./providers.ts) and never branch on its name.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { ConfigKeySchema, ConfigProblem, SettingsReader } from "../configSlice";
import type { HostConnection } from "./connection";
import type { GpuExpectation } from "./readiness";
import type { LambdaMachine } from "./lambdaMachine";
import type { CloudConfigPart } from "./lambda/cloudInit";
import type { HostKeyScanLimits } from "./hostKey";

/** What every provider's machine gives `HgxHost`; `undefined`/"" where a provider has no such thing. */
export interface HostFacts {
  connection: HostConnection;
  instanceId: pulumi.Output<string>;
  ip: pulumi.Output<string>;
  /** The address on a private network between hosts ("" where there is none). */
  privateIp: pulumi.Output<string>;
  region: pulumi.Output<string>;
  instanceType: pulumi.Output<string>;
  hourlyPriceUsd: pulumi.Output<number>;
  sshUser: pulumi.Output<string | undefined>;
  sshPort: pulumi.Output<number | undefined>;
  privateKey: pulumi.Output<string | undefined>;
  cacheMountPath: pulumi.Output<string | undefined>;
  /** Replace the readiness checks when these change (a new instance). */
  readinessTriggers: pulumi.Input<unknown>[];
  /** Resolves once the host admits its router's traffic; `readyAt` waits for it too. */
  admitted?: pulumi.Output<unknown>;
  /** The launched machine (lambda), for the outputs that describe it. */
  machine?: LambdaMachine;
}

/** The host-independent part of `HgxHost`'s args a provider's machine code may read. */
export interface HostBuildCommon {
  readonly hourlyPriceUsd?: number;
  readonly hostKeyScan?: HostKeyScanLimits;
}

/** What the stack composition knows about one replica when it asks a provider for its host args. */
export interface HostArgsContext {
  readonly project: string;
  readonly stack: string;
  /** GPUs the stack config expects (`gpuCount`, `gpuModel`, `gpuProbeImage`). */
  readonly gpus: GpuExpectation;
  /** `hourlyPriceUsd` from config (providers that know their price ignore it). */
  readonly hourlyPriceUsd: number;
  /** Where the persistent model cache lives on the host, if anywhere. */
  readonly cacheMountPath?: string;
  /** The serving port the host must open to its allowlist. */
  readonly servingPort: number;
  /** More ports to open to the allowlist (the router's, on the first replica's host). */
  readonly extraPorts?: readonly number[];
  /** The router's host's private address, which must reach the serving port besides the allowlist. */
  readonly routerHostIp?: pulumi.Input<string>;
  /** Boot work a launched machine starts at first boot (cloud-init). */
  readonly cloudInitParts?: readonly CloudConfigPart[];
}

/** What a provider's cross-checks may need from the rest of the stack config. */
export interface HostCheckContext {
  readonly stack: string;
  readonly production: boolean;
  /** `production: true` was set (rather than implied by the stack's name). */
  readonly productionSet: boolean;
  readonly servingApiKeyPresent: boolean;
}

/** Args of the router's own host (`routerPlacement: own-host`), for providers that can launch one. */
export interface RouterHostContext extends HostArgsContext {
  readonly routerInstanceType: string;
}

/**
 * One host provider. `K` are its config keys, `S` its parsed settings, `A` its machine args (the
 * `HgxHostArgs` member keyed by its mode).
 */
export interface HostProvider<K extends string, S, A> {
  /** Its config keys, in Pulumi.yaml order (prefixed with the provider's name by convention). */
  readonly keys: { readonly [key in K]: ConfigKeySchema };
  /** Reads its keys (every provider's keys are read in every mode, so a latent typo shows at once). */
  parse(r: SettingsReader<K>, production: boolean): S;
  /** Its cross-checks when its mode is chosen. */
  problems(settings: S, context: HostCheckContext): ConfigProblem[];
  /** GPUs its settings imply (a cloud instance type); undefined = the `gpuCount` setting. */
  gpuCount?(settings: S): number;
  /** SSH port the serving and router ports must not take. */
  sshPort(settings: S): number;
  /** Persistent cache directory it provides (a cloud filesystem), if any. */
  cacheMountPath?(settings: S): string | undefined;
  /** CIDRs its firewall opens the serving port to ([] = reached over SSH or locally only). */
  servingAllowlist?(settings: S): readonly string[];
  /**
   * Its hosts share a private network per region: a router reaches a worker on another host at its
   * private address in the router's region (else through a tunnel), never at a public one.
   */
  readonly regionalPrivateNetwork: boolean;
  /** Whether its hosts may sit in several regions (a router then reaches them through tunnels). */
  crossRegion?(settings: S): boolean;
  /** Its launch starts boot work (cloud-init), which the serving layer waits for. */
  readonly bootWorkAtLaunch: boolean;
  /** Let the readiness check add the login user to the docker group by default. */
  readonly grantDockerGroup: boolean;
  /** Whether its hosts have GPUs the readiness checks demand (the local engine runs a simulator). */
  readonly hasGpus: boolean;
  /** The host args of one replica: its machine args and the `HgxHostArgs` fields it sets. */
  argsFor(settings: S, context: HostArgsContext): { readonly machine: A; readonly gpus?: GpuExpectation; readonly hourlyPriceUsd?: number };
  /** Problems of the router's own host's settings (a provider that launches one). */
  routerHostProblems?(settings: S, routerInstanceType: string): ConfigProblem[];
  /** Problems of running `replicas` hosts (a provider with one host refuses more). */
  replicaProblems?(settings: S, replicas: number): ConfigProblem[];
  /** The router's own host (a provider that cannot launch one leaves this out). */
  routerHostArgs?(settings: S, context: RouterHostContext): A;
  /** GPUs the args imply when `gpus` is not given (`undefined`: 8 x B200). */
  defaultGpus?(args: A): GpuExpectation | undefined;
  /** Plain-value checks of the args; throws naming the setting, the value and the fix. */
  validate?(name: string, args: A | undefined): void;
  /** Its machine and connection, as children of `parent`. */
  build(name: string, args: A, common: HostBuildCommon, parent: pulumi.Resource): HostFacts;
}
