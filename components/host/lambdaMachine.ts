// LambdaMachine: one Lambda Cloud GPU instance ready for SSH, with its SSH key, firewall
// rulesets and (optionally) a persistent filesystem for the Hugging Face cache.
//
// How the API key reaches the providers (and why it is not an argument here):
// dynamic providers run in Pulumi's separate `pulumi-nodejs` provider process, so nothing set in
// this program (process.env, closures) reaches them, and any value passed as a resource input is
// written to the state. Two channels avoid that, both read inside the provider methods:
//   1. stack configuration: since Pulumi 3.13x the engine hands the whole stack config to the
//      dynamic provider's `configure` (the SDK 3.248 `ResourceProvider.configure`); the providers
//      read the key named by `apiKeyConfigKey` (default `<project>:lambdaApiKey`, set with
//      `pulumi config set --secret lambdaApiKey ...`). Only the key's NAME is an input.
//   2. the environment variable LAMBDA_API_KEY of the process running `pulumi`
//      (inherited by the provider process; used when the config value is absent or empty).
// Both also work for `pulumi destroy` and `pulumi refresh`, where this program does not run.
import * as pulumi from "@pulumi/pulumi";
import type { SshHostConnection } from "./connection";
import { isIpv4Cidr, objectName, parseDuration } from "./lambda/common";
import { instanceTypeGpus, isRegionCode, LAMBDA_FILESYSTEM_NAME } from "./lambda/names";
import { Filesystem, type FilesystemArgs } from "./lambda/filesystem";
import { FirewallAdmission, FirewallRuleset, ICMP_WORLD, sameCidrs, type FirewallRulesetArgs } from "./lambda/firewallRuleset";
import { lambdaObjectNames, StackIdentity, UID_PATTERN } from "./lambda/identity";
import { DEFAULT_LOCAL_CACHE_PATH, Instance, PINNED_REGION_POLICIES, type InstanceArgs, type PinnedRegionPolicy } from "./lambda/instance";
import { SshKey, type SshKeyArgs } from "./lambda/sshKey";
import { instanceUserData, type CloudConfigPart } from "./lambda/cloudInit";
import { HostKeyPair } from "./lambda/hostKeyPair";

export interface LambdaMachineArgs {
  /**
   * Regions in preference order. Those listing capacity for `instanceType` are tried first; on
   * insufficient capacity the launch moves on to the next (an empty filesystem created by this
   * deployment moves along). A filesystem from an earlier deployment pins its region: see
   * `pinnedRegionPolicy`.
   * @example
   * ```ts
   * { regions: ["us-east-1", "us-west-1", "us-south-1"] }
   * ```
   */
  readonly regions: readonly string[];
  /**
   * Lambda instance type.
   * @default "gpu_8x_b200_sxm6"
   */
  readonly instanceType?: string;
  /**
   * OS image family. GPU Base ships the NVIDIA driver, Docker and the container toolkit.
   * @default "gpu-base-24-04"
   */
  readonly imageFamily?: string;
  /**
   * OpenSSH public key to register. When absent (or ""), the API generates a pair and the
   * private key becomes the secret output `privateKey`.
   * @default generated
   */
  readonly sshPublicKey?: string;
  /** Private key matching `sshPublicKey` (a secret); required when `sshPublicKey` is given. */
  readonly sshPrivateKey?: pulumi.Input<string>;
  /**
   * Persistent filesystem for the Hugging Face cache, mounted at `/lambda/nfs/<name>`. In the
   * Lambda account it is called `<name>-<hash of this machine's identity>`, so no other stack
   * (another organization, backend, or a stack named alike) ever finds it. Created in the first
   * preferred region with capacity; when the launch there is refused, the still empty filesystem
   * moves with the launch. One that may hold weights (from an earlier deployment) pins its region:
   * see `pinnedRegionPolicy`.
   * @default none (local NVMe only)
   */
  readonly filesystemName?: string;
  /**
   * When the region of a filesystem that may hold the weights refuses the launch: `wait` retries
   * there for `pinnedRegionWait`; `elsewhere` launches in the other regions without it, and the
   * weights go to `localCachePath` on the instance's local disk (downloaded again).
   * @default "wait"
   */
  readonly pinnedRegionPolicy?: PinnedRegionPolicy;
  /**
   * How long `wait` keeps retrying the pinned region (a launch attempt every LAMBDA_CAPACITY_RETRY_MS, 60 s).
   * @default "30m"
   */
  readonly pinnedRegionWait?: string;
  /**
   * Cache directory on local disk when the instance runs without its filesystem (`elsewhere`).
   * @default "/home/ubuntu/hf-cache"
   */
  readonly localCachePath?: string;
  /**
   * The random part of this machine's identity, to take instead of generating one (16 hex digits,
   * the `stackId` output of an earlier deployment). Only to re-attach what a destroyed earlier
   * incarnation of this stack left, such as a retained filesystem.
   * @default generated at the first deploy and kept in state
   */
  readonly stackId?: string;
  /**
   * Keep the filesystem (and the weights in it) when the stack is destroyed or the filesystem
   * is replaced: Pulumi's `retainOnDelete`, so `pulumi destroy` still succeeds and the filesystem
   * keeps billing (~$0.20/GB-month) until deleted in the dashboard. Set false to delete it with
   * the stack (the delete waits while the terminated instance still holds it).
   * This is deliberately not Pulumi's `protect`, which would make `pulumi destroy` fail.
   * @default true
   */
  readonly retainFilesystemOnDelete?: boolean;
  /**
   * IPv4 CIDRs allowed to reach `servingPort`. Empty: the port stays closed (reach the server
   * through an SSH tunnel).
   * @default []
   */
  readonly firewallAllowlist?: readonly string[];
  /**
   * More sources for the serving port, known only at deploy time: the router's host (`<ip>/32`) when this
   * machine is a worker behind a router on another host. A `FirewallAdmission` adds them to the ruleset
   * after it exists, so the launch never waits for them; `servingAdmitted` resolves once they are in.
   * @default []
   */
  readonly servingSources?: pulumi.Input<string>[];
  /**
   * More ports opened to `firewallAllowlist`: the router's client and metrics ports on the router's host.
   * @default []
   */
  readonly extraPorts?: readonly number[];
  /**
   * Port the model server listens on (opened only to `firewallAllowlist`).
   * @default 8000
   */
  readonly servingPort?: number;
  /**
   * IPv4 CIDRs allowed to reach SSH (TCP 22).
   * @default ["0.0.0.0/0"]
   */
  readonly sshSourceCidrs?: readonly string[];
  /**
   * IPv4 CIDRs allowed to send ICMP (ping); empty = none.
   * @default ["0.0.0.0/0"] (Lambda's own default policy)
   */
  readonly icmpSourceCidrs?: readonly string[];
  /**
   * Lifetime written into the instance's `hgx:expires-at` and `hgx:ttl` tags for the reaper ("8h",
   * "2d"; "0" = no expiry). The reaper terminates only instances whose lifetime was set this way.
   * Applies at launch; changing it later does not relaunch.
   * @default "0" (never reaped)
   */
  readonly ttl?: string;
  /**
   * Ceiling on the instance type's price, US dollars per hour: the launch refuses a type priced
   * above it, and the policy pack's cost rule reads it during preview.
   * @default none
   */
  readonly maxHourlyPriceUsd?: number;
  /**
   * Pulumi `protect` on the instance (a `pulumi destroy` or replacement fails until it is lifted)
   * and the `hgx:protected=true` tag, which the reaper never terminates. For production stacks.
   * @default false
   */
  readonly protect?: boolean;
  /**
   * How long to wait for the instance to become `active` before terminating it (8-GPU machines
   * often take 10-20 minutes). Applies at launch.
   * @default "45m"
   */
  readonly waitTimeout?: string;
  /**
   * Organization, project and stack of the identity (tags `hgx:organization`, `hgx:project`,
   * `hgx:stack`, with `hgx:stack-id` and `hgx:resource`; a hash of all of it in every name).
   * @default { organization: pulumi.getOrganization(), project: pulumi.getProject(), stack: pulumi.getStack() }
   */
  readonly tags?: { readonly organization?: string; readonly project?: string; readonly stack?: string };
  /**
   * Instance hostname (`^[a-z0-9][0-9a-z-]{0,62}$`).
   * @default "<stack>-<name>", lowercased, invalid characters replaced by "-"
   */
  readonly hostname?: string;
  /**
   * Fully-qualified stack-config key holding the API key (see the file header).
   * @default `${pulumi.getProject()}:lambdaApiKey`
   */
  readonly apiKeyConfigKey?: string;
  /**
   * Lambda Cloud API base URL (not a secret; recorded so deletes reach the same endpoint).
   * @default env LAMBDA_API_BASE_URL of the provider process, else "https://cloud.lambda.ai/api/v1"
   */
  readonly apiBaseUrl?: pulumi.Input<string>;
  /**
   * SSH port of the launched instance. Lambda Cloud instances listen on 22; an API emulator's
   * instances point at test hosts listening elsewhere.
   * @default 22
   */
  readonly sshPort?: number;
  /**
   * More cloud-init parts for the instance's `user_data`, after the host key part (boot-time work
   * such as an image pull). Applies at launch.
   * @default []
   */
  readonly cloudInitParts?: readonly CloudConfigPart[];
  /** Escape hatch: args merged last into each child. */
  readonly transform?: {
    readonly sshKey?: Partial<SshKeyArgs>;
    readonly filesystem?: Partial<FilesystemArgs>;
    readonly firewall?: Partial<FirewallRulesetArgs>;
    readonly instance?: Partial<InstanceArgs>;
  };
}

/** Plain values resolved from LambdaMachineArgs, defaults applied. */
export interface ResolvedLambdaMachine {
  readonly regions: string[];
  readonly instanceType: string;
  readonly imageFamily: string;
  readonly generateKey: boolean;
  readonly filesystemName?: string;
  readonly retainFilesystemOnDelete: boolean;
  readonly firewallAllowlist: string[];
  readonly servingPort: number;
  readonly sshSourceCidrs: string[];
  readonly icmpSourceCidrs: string[];
  readonly ttlSeconds: number;
  readonly waitTimeoutSeconds: number;
  readonly maxPriceCentsPerHour?: number;
  readonly protect: boolean;
  readonly organization: string;
  readonly project: string;
  readonly stack: string;
  readonly requestedUid?: string;
  readonly hostname: string;
  readonly apiKeyConfigKey: string;
  readonly pinnedRegionPolicy: PinnedRegionPolicy;
  readonly pinnedRegionWaitSeconds: number;
  readonly localCachePath: string;
  /** The filesystem's mount point when attached (`/lambda/nfs/<filesystemName>`). */
  readonly cacheMountPath?: string;
}

/** Default hostname: "<stack>-<name>" made valid for `^[a-z0-9][0-9a-z-]{0,62}$`. */
export function defaultHostname(stack: string, name: string): string {
  const h = objectName([stack, name], 63).toLowerCase().replace(/^[^a-z0-9]+/, "");
  return h || "hgx";
}

/** Problems found while resolving the args, each naming the setting, the value and the fix. */
type Problems = string[];

/** A duration setting in whole seconds; undefined (and a problem) when it does not parse. */
function durationSeconds(text: string, key: string, problems: Problems): number | undefined {
  try {
    return Math.round(parseDuration(text, key) / 1000);
  } catch (e) {
    problems.push((e as Error).message);
    return undefined;
  }
}

/** Every entry of a CIDR list that is not an IPv4 CIDR. */
function cidrListProblems(key: string, cidrs: readonly string[], example: string): Problems {
  return cidrs.filter((c) => !isIpv4Cidr(c)).map((c) => `${key}: "${c}" is not an IPv4 CIDR; write it like "${example}"`);
}

/** Where and what to launch: regions, instance type, image family. */
function resolvePlacement(args: LambdaMachineArgs, problems: Problems) {
  const regions = [...(args.regions ?? [])];
  if (regions.length === 0) problems.push('regions: empty; list at least one Lambda region in preference order, e.g. ["us-east-1", "us-west-1"]');
  for (const r of regions) if (!isRegionCode(r)) problems.push(`regions: "${r}" is not a Lambda region code; use names like "us-east-1"`);
  const dup = regions.find((r, i) => regions.indexOf(r) !== i);
  if (dup) problems.push(`regions: "${dup}" is listed twice; list each region once`);
  const instanceType = args.instanceType ?? "gpu_8x_b200_sxm6";
  if (instanceTypeGpus(instanceType) === undefined) problems.push(`instanceType: "${instanceType}" is not a Lambda instance type name like "gpu_8x_b200_sxm6"`);
  const imageFamily = args.imageFamily ?? "gpu-base-24-04";
  if (!imageFamily) problems.push('imageFamily: empty; use an image family such as "gpu-base-24-04"');
  return { regions, instanceType, imageFamily };
}

/** Who reaches the instance: the SSH key, the firewall's allowlists and the serving port. */
function resolveAccess(args: LambdaMachineArgs, problems: Problems) {
  const generateKey = !args.sshPublicKey;
  if (!generateKey && args.sshPrivateKey === undefined) {
    problems.push("sshPrivateKey: missing while sshPublicKey is set; pass the matching private key (as a secret) or drop sshPublicKey to have a pair generated");
  }
  const firewallAllowlist = [...(args.firewallAllowlist ?? [])];
  problems.push(...cidrListProblems("firewallAllowlist", firewallAllowlist, "203.0.113.7/32"));
  const sshSourceCidrs = [...(args.sshSourceCidrs ?? ["0.0.0.0/0"])];
  if (sshSourceCidrs.length === 0) problems.push('sshSourceCidrs: empty would lock out SSH, which the stack needs; use ["0.0.0.0/0"] or your CIDR');
  problems.push(...cidrListProblems("sshSourceCidrs", sshSourceCidrs, "203.0.113.0/24"));
  const icmpSourceCidrs = [...(args.icmpSourceCidrs ?? ICMP_WORLD)];
  problems.push(...cidrListProblems("icmpSourceCidrs", icmpSourceCidrs, "203.0.113.0/24"));
  const servingPort = args.servingPort ?? 8000;
  if (!Number.isInteger(servingPort) || servingPort < 1 || servingPort > 65535 || servingPort === 22) {
    problems.push(`servingPort: ${servingPort} must be an integer 1-65535 other than 22`);
  }
  return { generateKey, firewallAllowlist, sshSourceCidrs, icmpSourceCidrs, servingPort };
}

/** The model cache: the filesystem, what happens when its region refuses the launch, and the local fallback. */
function resolveCache(args: LambdaMachineArgs, problems: Problems) {
  const filesystemName = args.filesystemName || undefined;
  if (filesystemName !== undefined && !LAMBDA_FILESYSTEM_NAME.test(filesystemName)) {
    problems.push(`filesystemName: "${filesystemName}" is invalid; start with a letter, then letters, digits or "-", at most 60 characters (e.g. "hf-cache")`);
  }
  const pinnedRegionPolicy = args.pinnedRegionPolicy ?? "wait";
  if (!PINNED_REGION_POLICIES.includes(pinnedRegionPolicy)) {
    problems.push(`pinnedRegionPolicy: "${String(pinnedRegionPolicy)}" must be one of ${PINNED_REGION_POLICIES.join(", ")}`);
  }
  const pinnedRegionWaitSeconds = durationSeconds(args.pinnedRegionWait ?? "30m", "pinnedRegionWait", problems) ?? 0;
  const localCachePath = args.localCachePath ?? DEFAULT_LOCAL_CACHE_PATH;
  if (!/^\/[A-Za-z0-9._/-]*$/.test(localCachePath)) {
    problems.push(`localCachePath: "${localCachePath}" must be an absolute path of letters, digits, ".", "_", "-" and "/"`);
  }
  return {
    filesystemName,
    retainFilesystemOnDelete: args.retainFilesystemOnDelete ?? true,
    pinnedRegionPolicy,
    pinnedRegionWaitSeconds,
    localCachePath,
    cacheMountPath: filesystemName ? `/lambda/nfs/${filesystemName}` : undefined,
  };
}

/** How long the instance lives and may take to boot, and what it may cost. */
function resolveLimits(args: LambdaMachineArgs, problems: Problems) {
  const ttlSeconds = durationSeconds(args.ttl ?? "0", "ttl", problems) ?? 0;
  const waitTimeoutSeconds = durationSeconds(args.waitTimeout ?? "45m", "waitTimeout", problems);
  if (waitTimeoutSeconds !== undefined && waitTimeoutSeconds < 60) problems.push(`waitTimeout: "${args.waitTimeout}" is under a minute; 8-GPU instances take 10-20 minutes to boot, use e.g. "45m"`);
  const maxPrice = args.maxHourlyPriceUsd;
  if (maxPrice !== undefined && !(Number.isFinite(maxPrice) && maxPrice >= 0)) {
    problems.push(`maxHourlyPriceUsd: ${maxPrice} must be a non-negative number of US dollars per hour, e.g. 60`);
  }
  return {
    ttlSeconds,
    waitTimeoutSeconds: waitTimeoutSeconds ?? 0,
    maxPriceCentsPerHour: maxPrice === undefined ? undefined : Math.round(maxPrice * 100),
    protect: args.protect ?? false,
  };
}

/** Whose instance it is: the identity tags, the hostname and the config key the providers read the API key from. */
function resolveIdentity(name: string, args: LambdaMachineArgs, runtime: { organization: string; project: string; stack: string }, problems: Problems) {
  const requestedUid = args.stackId || undefined;
  if (requestedUid !== undefined && !UID_PATTERN.test(requestedUid)) {
    problems.push(`stackId: "${requestedUid}" must be 16 lowercase hex digits (the stackId output of an earlier deployment), or empty`);
  }
  const organization = args.tags?.organization ?? runtime.organization;
  const project = args.tags?.project ?? runtime.project;
  const stack = args.tags?.stack ?? runtime.stack;
  const hostname = args.hostname ?? defaultHostname(stack, name);
  if (!/^[a-z0-9][0-9a-z-]{0,62}$/.test(hostname)) problems.push(`hostname: "${hostname}" must match ^[a-z0-9][0-9a-z-]{0,62}$ (lowercase letters, digits, "-")`);
  const apiKeyConfigKey = args.apiKeyConfigKey ?? `${runtime.project}:lambdaApiKey`;
  if (!/^[^:\s]+:[^:\s]+$/.test(apiKeyConfigKey)) {
    problems.push(`apiKeyConfigKey: "${apiKeyConfigKey}" must be a fully-qualified config key "<namespace>:<key>", e.g. "${runtime.project}:lambdaApiKey"`);
  }
  return { organization, project, stack, requestedUid, hostname, apiKeyConfigKey };
}

/**
 * Validates the args and applies defaults. Throws one error listing every problem, each naming
 * the setting, the value and the fix. `project`/`stack` come from the Pulumi runtime.
 */
export function resolveLambdaMachineArgs(
  name: string,
  args: LambdaMachineArgs,
  runtime: { organization: string; project: string; stack: string },
): ResolvedLambdaMachine {
  const problems: Problems = [];
  const placement = resolvePlacement(args, problems);
  const access = resolveAccess(args, problems);
  const cache = resolveCache(args, problems);
  const limits = resolveLimits(args, problems);
  const identity = resolveIdentity(name, args, runtime, problems);
  if (problems.length > 0) throw new Error(`LambdaMachine "${name}": invalid arguments:\n  - ${problems.join("\n  - ")}`);
  return { ...placement, ...access, ...cache, ...limits, ...identity };
}

/** The Pulumi organization; "organization" (the DIY backends' name) where the engine gives none. */
export function currentOrganization(): string {
  try {
    return pulumi.getOrganization();
  } catch {
    // Older engines and unit-test mocks without an organization: DIY backends report this name.
    return "organization";
  }
}

/** Where the providers read the API key (config key) and which API they call. */
interface LambdaApi {
  readonly apiKeyConfigKey: string;
  readonly apiBaseUrl?: pulumi.Input<string>;
}

/** The Lambda object names of this machine (ssh key, ruleset, filesystem, instance), once its uid is known. */
type ObjectNames = pulumi.Output<ReturnType<typeof lambdaObjectNames>>;

/** The cloud-init user_data that installs the host key (and runs any boot work): a secret. */
function userDataFor(hostKey: HostKeyPair, extraParts: readonly CloudConfigPart[]): pulumi.Output<string> {
  return pulumi.secret(
    pulumi
      .all([hostKey.privateKeyOpenssh, hostKey.publicKey])
      .apply(([privateKeyOpenssh, publicKey]) => instanceUserData({ privateKeyOpenssh, publicKey }, extraParts)),
  );
}

/** The persistent filesystem for the model cache (kept on delete unless told otherwise). */
function newFilesystem(name: string, cfg: ResolvedLambdaMachine, args: LambdaMachineArgs, names: ObjectNames, api: LambdaApi, parent: pulumi.Resource): Filesystem {
  return new Filesystem(
    `${name}-filesystem`,
    {
      fsName: names.apply((n) => n.filesystemName ?? ""),
      regions: cfg.regions,
      instanceType: cfg.instanceType,
      ...api,
      ...args.transform?.filesystem,
    },
    { parent, retainOnDelete: cfg.retainFilesystemOnDelete },
  );
}

/** The firewall rulesets, one in every region the instance may land in. */
function newFirewall(
  name: string,
  cfg: ResolvedLambdaMachine,
  args: LambdaMachineArgs,
  placed: { readonly names: ObjectNames; readonly filesystem?: Filesystem },
  api: LambdaApi,
  parent: pulumi.Resource,
): FirewallRuleset {
  // The instance may land outside the filesystem's region (an empty filesystem moves with the
  // launch; `elsewhere` leaves it behind), so a ruleset exists in every region it may land in.
  const candidateRegions = placed.filesystem ? placed.filesystem.region.apply((r) => [r, ...cfg.regions.filter((x) => x !== r)]) : cfg.regions;
  return new FirewallRuleset(
    `${name}-firewall`,
    {
      rulesetName: placed.names.rulesetName,
      regions: candidateRegions,
      sshSourceCidrs: cfg.sshSourceCidrs,
      // Only when not the default: a ruleset deployed before the setting keeps its inputs (no spurious update).
      ...(sameCidrs(cfg.icmpSourceCidrs, ICMP_WORLD) ? {} : { icmpSourceCidrs: cfg.icmpSourceCidrs }),
      servingPort: cfg.servingPort,
      servingAllowlist: cfg.firewallAllowlist,
      // Only when there are some: a stack without a router keeps its ruleset inputs (no spurious update).
      ...(args.extraPorts?.length ? { extraPorts: [...args.extraPorts] } : {}),
      ...api,
      ...args.transform?.firewall,
    },
    { parent },
  );
}

/** What the launch refers to: the identity, the object names, the key, the filesystem, the rulesets, the user_data. */
interface LaunchParts {
  readonly identity: StackIdentity;
  readonly names: ObjectNames;
  readonly sshKey: SshKey;
  readonly filesystem?: Filesystem;
  readonly firewall: FirewallRuleset;
  readonly userData: pulumi.Output<string>;
}

/** The instance itself (protected on production stacks). */
function newInstance(name: string, cfg: ResolvedLambdaMachine, args: LambdaMachineArgs, parts: LaunchParts, api: LambdaApi, parent: pulumi.Resource): Instance {
  return new Instance(
    `${name}-instance`,
    {
      resourceName: name,
      organization: cfg.organization,
      project: cfg.project,
      stack: cfg.stack,
      stackUid: parts.identity.uid,
      instanceName: parts.names.instanceName,
      regions: cfg.regions,
      instanceType: cfg.instanceType,
      imageFamily: cfg.imageFamily,
      sshKeyName: parts.sshKey.keyName,
      filesystemName: parts.filesystem?.fsName,
      filesystemMountPoint: cfg.cacheMountPath,
      pinnedRegionPolicy: cfg.pinnedRegionPolicy,
      pinnedRegionWaitSeconds: cfg.pinnedRegionWaitSeconds,
      localCachePath: cfg.localCachePath,
      firewallRulesetIds: parts.firewall.rulesetIds,
      hostname: cfg.hostname,
      ttlSeconds: cfg.ttlSeconds,
      waitTimeoutSeconds: cfg.waitTimeoutSeconds,
      ...(cfg.maxPriceCentsPerHour !== undefined ? { maxPriceCentsPerHour: cfg.maxPriceCentsPerHour } : {}),
      ...(cfg.protect ? { protected: true } : {}),
      userData: parts.userData,
      ...api,
      ...args.transform?.instance,
    },
    // `protect` makes `pulumi destroy` (and a replacement) of a production host fail loudly
    // until someone lifts it on purpose: `pulumi state unprotect <urn>`.
    { parent, protect: cfg.protect },
  );
}

/** A Lambda Cloud GPU instance reachable over SSH (token `hgx:host:LambdaMachine`). */
export class LambdaMachine extends pulumi.ComponentResource {
  /** The random part of the identity, kept in state. */
  readonly identity: StackIdentity;
  readonly sshKey: SshKey;
  /** The instance's SSH host key, generated once and kept in state (private half secret). */
  readonly hostKey: HostKeyPair;
  readonly filesystem?: Filesystem;
  readonly firewall: FirewallRuleset;
  /** The serving-port rules for `servingSources`, added after the ruleset exists (only with some). */
  readonly admission?: FirewallAdmission;
  readonly instance: Instance;

  /** The identity's random id (16 hex digits): pass it as `stackId` to re-attach after a full destroy. */
  readonly stackId: pulumi.Output<string>;
  /** Lambda instance id. */
  readonly instanceId: pulumi.Output<string>;
  /** Public IP; resolves only once the instance is `active`. */
  readonly ip: pulumi.Output<string>;
  /** Address on the region's private network ("" when the API gives none); with `ip`. */
  readonly privateIp: pulumi.Output<string>;
  /** Region the instance landed in. */
  readonly region: pulumi.Output<string>;
  readonly instanceType: pulumi.Output<string>;
  /** Price read from the API at launch, USD per hour. */
  readonly hourlyPriceUsd: pulumi.Output<number>;
  readonly hostname: pulumi.Output<string>;
  /** ISO expiry in the instance's tags, or "never". */
  readonly expiresAt: pulumi.Output<string>;
  /** Login user of the GPU Base image: "ubuntu". */
  readonly sshUser: pulumi.Output<string>;
  /** SSH port (`sshPort`, 22 on Lambda Cloud). */
  readonly sshPort: pulumi.Output<number>;
  /**
   * Private key that logs in (secret): the generated one, or `sshPrivateKey` when a public key
   * was given. `generatedKey` tells which.
   */
  readonly privateKey: pulumi.Output<string>;
  /** Whether the key pair was generated by the API (no `sshPublicKey` given). */
  readonly generatedKey: boolean;
  /** The host's public key (`ssh-ed25519 <base64> <comment>`), installed through cloud-init and pinned by every connection. */
  readonly hostPublicKey: pulumi.Output<string>;
  /**
   * Where the Hugging Face cache lives on the host: `/lambda/nfs/<filesystemName>` with the
   * filesystem attached; `localCachePath` when the instance launched elsewhere without it
   * (`pinnedRegionPolicy: elsewhere`); undefined without a filesystem. The serving layer must
   * take this one, not a path derived from config, to follow the `elsewhere` case.
   */
  readonly cacheMountPath: pulumi.Output<string | undefined>;
  /** Whether the filesystem is attached to the running instance. */
  readonly filesystemAttached: pulumi.Output<boolean>;
  /** The `servingSources` admitted on the serving port (resolves once they are; `[]` without any). */
  readonly servingAdmitted: pulumi.Output<string[]>;
  /** SSH connection for the serving and benchmark layers; gated on `active`. */
  readonly connection: SshHostConnection;

  constructor(name: string, args: LambdaMachineArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hgx:host:LambdaMachine", name, {}, opts);
    let cfg: ResolvedLambdaMachine;
    try {
      cfg = resolveLambdaMachineArgs(name, args, { organization: currentOrganization(), project: pulumi.getProject(), stack: pulumi.getStack() });
    } catch (err) {
      // The message lists every bad argument with its fix; a stack trace would only bury it.
      throw new pulumi.ResourceError((err as Error).message, this, true);
    }
    const api: LambdaApi = { apiKeyConfigKey: cfg.apiKeyConfigKey, apiBaseUrl: args.apiBaseUrl };

    this.identity = new StackIdentity(
      `${name}-identity`,
      { organization: cfg.organization, project: cfg.project, stack: cfg.stack, resource: name, requestedUid: cfg.requestedUid ?? "" },
      { parent: this },
    );
    const names = this.identity.uid.apply((uid) =>
      lambdaObjectNames({ organization: cfg.organization, project: cfg.project, stack: cfg.stack, resource: name, uid }, cfg.filesystemName),
    );
    this.sshKey = new SshKey(
      `${name}-ssh-key`,
      { keyName: names.keyName, publicKey: cfg.generateKey ? undefined : args.sshPublicKey, ...api, ...args.transform?.sshKey },
      { parent: this },
    );
    // The host key reaches the instance only through user_data, a secret input of the launch.
    this.hostKey = new HostKeyPair(`${name}-host-key`, { comment: `${cfg.hostname}-host` }, { parent: this });
    this.filesystem = cfg.filesystemName ? newFilesystem(name, cfg, args, names, api, this) : undefined;
    this.firewall = newFirewall(name, cfg, args, { names, filesystem: this.filesystem }, api, this);
    const launch = { identity: this.identity, names, sshKey: this.sshKey, filesystem: this.filesystem, firewall: this.firewall, userData: userDataFor(this.hostKey, args.cloudInitParts ?? []) };
    this.instance = newInstance(name, cfg, args, launch, api, this);
    // Sources known only later (the router host's address) join the ruleset once it exists and they do:
    // admitted after the launch, never holding it back.
    const sources = args.servingSources ?? [];
    this.admission =
      sources.length > 0
        ? new FirewallAdmission(`${name}-admission`, { rulesetIds: this.firewall.rulesetIds, port: cfg.servingPort, sources: [...sources], ...api }, { parent: this })
        : undefined;
    this.servingAdmitted = this.admission
      ? pulumi.all([this.admission.rules, pulumi.all(sources)]).apply(([, admitted]) => admitted)
      : pulumi.output<string[]>([]);

    this.stackId = this.identity.uid;
    this.instanceId = this.instance.instanceId;
    this.ip = this.instance.ip;
    // A state written before this output existed has none until the next refresh or update re-reads the instance.
    this.privateIp = this.instance.privateIp.apply((p) => p ?? "");
    this.region = this.instance.region;
    this.instanceType = this.instance.instanceType;
    this.hourlyPriceUsd = this.instance.priceCentsPerHour.apply((c) => c / 100);
    this.hostname = this.instance.actualHostname;
    this.expiresAt = this.instance.expiresAt;
    this.cacheMountPath = this.instance.cacheMountPath.apply((p) => p || undefined);
    this.filesystemAttached = this.instance.filesystemAttached;
    this.generatedKey = cfg.generateKey;
    this.privateKey = cfg.generateKey
      ? pulumi.secret(this.sshKey.privateKey)
      : pulumi.secret(pulumi.output(args.sshPrivateKey as pulumi.Input<string>));
    this.sshUser = pulumi.output("ubuntu");
    this.sshPort = pulumi.output(args.sshPort ?? 22);
    this.hostPublicKey = this.hostKey.publicKey;
    this.connection = { kind: "ssh", host: this.ip, port: this.sshPort, user: this.sshUser, privateKey: this.privateKey, hostKey: this.hostPublicKey };

    this.registerOutputs({
      stackId: this.stackId,
      instanceId: this.instanceId,
      ip: this.ip,
      region: this.region,
      instanceType: this.instanceType,
      hourlyPriceUsd: this.hourlyPriceUsd,
      hostname: this.hostname,
      expiresAt: this.expiresAt,
      sshUser: this.sshUser,
      sshPort: this.sshPort,
      privateKey: this.privateKey,
      hostPublicKey: this.hostPublicKey,
      cacheMountPath: this.cacheMountPath,
      filesystemAttached: this.filesystemAttached,
      servingAdmitted: this.servingAdmitted,
    });
  }
}
