/**
 * The registry of host providers: one entry per folder under components/host/ (lambda/, existing/,
 * local/). Config reads every provider's keys and parser from here, the stack composition asks the
 * chosen one for its host args, and `HgxHost` asks it for its machine, so none of them branches on a
 * provider's name. Adding a provider = its folder (config slice + provider object) + one line below.
 */
import type { ConfigKeySchema, ConfigProblem, SettingsReader } from "../configSlice";
import { EXISTING_HOST } from "./existing/provider";
import { LAMBDA_HOST } from "./lambda/provider";
import { LOCAL_HOST } from "./local/provider";
import type { HostArgsContext, HostCheckContext, HostProvider, RouterHostContext } from "./provider";
import type { GpuExpectation } from "./readiness";

export const HOST_PROVIDERS = {
  lambda: LAMBDA_HOST,
  existing: EXISTING_HOST,
  local: LOCAL_HOST,
} as const;

type Registry = typeof HOST_PROVIDERS;
/** Where the GPU host comes from: a key of the registry. */
export type HostMode = keyof Registry;
/** The modes in registry order (`hostMode`'s allowed values; the first is the default's neighbour in messages). */
export const HOST_MODES = Object.keys(HOST_PROVIDERS) as HostMode[];

type KeysOf<P> = P extends HostProvider<infer K, unknown, unknown> ? K : never;
type SettingsOf<P> = P extends HostProvider<string, infer S, unknown> ? S : never;
type MachineArgsOf<P> = P extends HostProvider<string, unknown, infer A> ? A : never;

/** Each mode's parsed settings (`LambdaSettings`, ...). */
export type HostSettingsMap = { [M in HostMode]: SettingsOf<Registry[M]> };
/** Each mode's machine args (`LambdaMachineArgs`, ...). */
export type HostMachineArgsMap = { [M in HostMode]: MachineArgsOf<Registry[M]> };
/** Every provider's config keys. */
export type HostProviderKey = KeysOf<Registry[HostMode]>;

type ProviderMap = { [M in HostMode]: HostProvider<KeysOf<Registry[M]>, HostSettingsMap[M], HostMachineArgsMap[M]> };
const PROVIDERS: ProviderMap = HOST_PROVIDERS;

/** The provider of `mode`. */
export function hostProvider<M extends HostMode>(mode: M): ProviderMap[M] {
  return PROVIDERS[mode];
}

/** The mode-shaped part of the stack config: `{ hostMode: "lambda"; lambda: LambdaSettings }`, ... (no other mode's settings). */
export type HostSlice = {
  [M in HostMode]: { readonly hostMode: M } & { readonly [P in M]: HostSettingsMap[M] } & { readonly [P in Exclude<HostMode, M>]?: never };
}[HostMode];

/** One mode's settings tagged with the mode, the shape providers are dispatched on. */
export type TaggedHostSettings<M extends HostMode = HostMode> = { [P in M]: { readonly mode: P; readonly settings: HostSettingsMap[P] } }[M];

/** The settings of the config's own mode, tagged. */
export function taggedHostSettings(config: HostSlice): TaggedHostSettings {
  // The member of HostSlice for mode M holds HostSettingsMap[M] under the key M; TypeScript cannot correlate
  // an index by the discriminant with the member, so the pairing is asserted here, once.
  const own = (config as unknown as Record<HostMode, unknown>)[config.hostMode];
  return { mode: config.hostMode, settings: own } as TaggedHostSettings;
}

/** Every provider's schema entries, in registry order (Pulumi.yaml lists them so). */
export const HOST_PROVIDER_KEYS = Object.assign({}, ...Object.values(HOST_PROVIDERS).map((p) => p.keys)) as {
  readonly [K in HostProviderKey]: ConfigKeySchema;
};

/**
 * Every provider's settings parsed (so a typo in another mode's key shows at once, whatever the mode),
 * and the config's slice: the chosen mode's settings under its own key.
 */
export function parseHostSlice(r: SettingsReader<HostProviderKey>, mode: HostMode, production: boolean): HostSlice {
  const parsed = Object.fromEntries(HOST_MODES.map((m) => [m, hostProvider(m).parse(r, production)]));
  // `parsed[mode]` is the chosen provider's settings (the same correlation as in taggedHostSettings).
  return { hostMode: mode, [mode]: parsed[mode] } as unknown as HostSlice;
}

// The chosen provider's answers, each dispatched on the tagged settings (mode and settings correlate).

/** Its cross-checks. */
export function hostProblems<M extends HostMode>(host: TaggedHostSettings<M>, context: HostCheckContext): ConfigProblem[] {
  return hostProvider(host.mode).problems(host.settings, context);
}

/** GPUs its settings imply, or undefined: the `gpuCount` setting decides. */
export function hostGpuCount<M extends HostMode>(host: TaggedHostSettings<M>): number | undefined {
  return hostProvider(host.mode).gpuCount?.(host.settings);
}

/** The SSH port other ports must not take. */
export function hostSshPort<M extends HostMode>(host: TaggedHostSettings<M>): number {
  return hostProvider(host.mode).sshPort(host.settings);
}

/** The persistent cache directory it provides, if any. */
export function hostCacheMountPath<M extends HostMode>(host: TaggedHostSettings<M>): string | undefined {
  return hostProvider(host.mode).cacheMountPath?.(host.settings);
}

/** CIDRs its firewall opens the serving port to ([] = none). */
export function hostServingAllowlist<M extends HostMode>(host: TaggedHostSettings<M>): readonly string[] {
  return hostProvider(host.mode).servingAllowlist?.(host.settings) ?? [];
}

/** Whether its hosts may sit in several regions. */
export function hostCrossRegion<M extends HostMode>(host: TaggedHostSettings<M>): boolean {
  return hostProvider(host.mode).crossRegion?.(host.settings) ?? false;
}

/** Problems of the router's own host's settings. */
export function hostRouterHostProblems<M extends HostMode>(host: TaggedHostSettings<M>, routerInstanceType: string): ConfigProblem[] {
  return hostProvider(host.mode).routerHostProblems?.(host.settings, routerInstanceType) ?? [];
}

/** Problems of running `replicas` hosts of this mode. */
export function hostReplicaProblems<M extends HostMode>(host: TaggedHostSettings<M>, replicas: number): ConfigProblem[] {
  return hostProvider(host.mode).replicaProblems?.(host.settings, replicas) ?? [];
}

/** Whether its hosts share a private network per region (see `HostProvider.regionalPrivateNetwork`). */
export function hostRegionalPrivateNetwork(mode: HostMode): boolean {
  return hostProvider(mode).regionalPrivateNetwork;
}

/** Whether its launch starts boot work (cloud-init) the serving layer waits for. */
export function hostBootWorkAtLaunch(mode: HostMode): boolean {
  return hostProvider(mode).bootWorkAtLaunch;
}

/** Whether it can launch the router a host of its own. */
export function hostLaunchesRouterHost(mode: HostMode): boolean {
  return hostProvider(mode).routerHostArgs !== undefined;
}

/** `HgxHost`'s args for one replica of mode `M`, tagged as `HgxHostArgs` expects. */
export interface ProviderHostArgs<M extends HostMode = HostMode> {
  readonly mode: M;
  readonly machine: HostMachineArgsMap[M];
  readonly gpus?: GpuExpectation | false;
  readonly hourlyPriceUsd?: number;
}

/** One replica's host args from the chosen provider. */
export function providerHostArgs<M extends HostMode>(host: TaggedHostSettings<M>, context: HostArgsContext): ProviderHostArgs<M> {
  return { mode: host.mode, ...hostProvider(host.mode).argsFor(host.settings, context) };
}

/** The router's own host args, or undefined when the provider cannot launch one. */
export function providerRouterHostArgs<M extends HostMode>(host: TaggedHostSettings<M>, context: RouterHostContext): ProviderHostArgs<M> | undefined {
  const machine = hostProvider(host.mode).routerHostArgs?.(host.settings, context);
  return machine === undefined ? undefined : { mode: host.mode, machine, gpus: false };
}
