/**
 * Composition: validated stack config → the arguments of each layer's component, and the stack's
 * deployments (host → server → benchmark), instantiated `replicas` times with no shared state.
 * `index.ts` only calls `loadStackConfig` and `deployStack` and exports what they return.
 */
import * as pulumi from "@pulumi/pulumi";
import { Benchmark, serverFlagsHash, type BenchmarkArgs, type RoutedPlanFacts, type ServerProvenanceFacts } from "./benchmark";
import {
  PROJECT,
  parseStackConfig,
  readRawStackConfig,
  type ConfigCheck,
  type ConfigKey,
  type RawConfig,
  type RawConfigContext,
  type StackConfig,
} from "./config";
import { HgxHost, hgxHostArgsFrom, type HgxHostArgs, type HostConnection } from "./host";
import {
  hostBootWorkAtLaunch,
  hostCacheMountPath,
  hostCrossRegion,
  hostRegionalPrivateNetwork,
  hostServingAllowlist,
  providerHostArgs,
  providerRouterHostArgs,
  taggedHostSettings,
} from "./host/providers";
import type { HostArgsContext } from "./host/provider";
import {
  judgeRollout,
  planRouter,
  renderTunnelAuthorizeScript,
  renderTunnelStartScript,
  renderTunnelStopScript,
  routerPlanInputFor,
  routerSpecHash,
  SglangRouter,
  tunnelAuthorizedKeyLine,
  tunnelLocalPort,
  tunnelTag,
  workerRouteFor,
  workerUrlFor,
  type RolloutKey,
  type RouterProblemKey,
  type SglangRouterArgs,
} from "./router";
import { HostKeyPair } from "./host/lambda/hostKeyPair";
import { cacheMountFor, overridesFromFlagNames, planServer, planServing, renderProblem, servingPlanInputFor, servingSpecHash, SglangServer, type ServingProblemKey, type SglangServerArgs } from "./serving";
import { bootWorkPart } from "./host/bootWork";
import type { CloudConfigPart } from "./host/lambda/cloudInit";
import { hostCommand } from "./host/hostCommand";
import { weightsDownloadOptionsFor } from "./serving/sglangServer";
import * as docker from "@pulumi/docker";
import { imageDisagreement, imagePinAdvice, isContentRef } from "./image";
import { isCommitRevision, renderWeightsDownloadScript, revisionPinAdvice, sglangRevisionFlags, weightsCommitDisagreement } from "./serving/weights";

/** Where the persistent Hugging Face cache lives on the host, decided from config (never an Output). */
export function cacheMountPathFor(config: StackConfig): string | undefined {
  if (config.hf.cachePath) return config.hf.cachePath;
  return hostCacheMountPath(taggedHostSettings(config));
}

/** SGLang flag overrides from config: the model and served name, then `sglangFlags` by flag name. */
export function sglangOverridesFor(config: StackConfig) {
  const byName = overridesFromFlagNames(config.sglang.flagOverrides);
  return {
    ...byName,
    overrides: { modelPath: config.sglang.model, servedModelName: config.sglang.servedModelName, ...byName.overrides },
  };
}

/**
 * Serving settings checked with the serving layer's own validation (tp × dp against the GPUs,
 * mem-fraction, MTP strategy, parsers, image pinning...), so bad flags fail before any resource.
 */
export const servingConfigCheck: ConfigCheck = (config) => {
  const { unknown, errors: flagErrors } = sglangOverridesFor(config);
  const problems: { key: ConfigKey | string; message: string }[] = [
    ...flagErrors.map((message) => ({ key: "sglangFlags", message: `${message}. Fix: pulumi config set --path '${PROJECT}:sglangFlags.<flag>' <value>` })),
    ...unknown.map((flag) => ({
      key: "sglangFlags",
      message: `${flag} is not a modelled SGLang flag. Fix: move it to sglangExtraArgs (passed verbatim), or correct the name`,
    })),
  ];
  if (config.sglang.preset !== "seed" && config.sglang.preset !== "b200") {
    problems.push({ key: "sglangPreset", message: `= "${config.sglang.preset}" is not a preset. Fix: use seed or b200` });
    return problems;
  }
  // Exactly the plan the SglangServer component will build, with the GPUs the config promises.
  const plannedHost: ServerHostFacts = { connection: { kind: "local" }, readyAt: "", gpuCount: config.gpuCount };
  const { problems: planned } = planServing(
    servingPlanInputFor({ ...serverArgsFor(config, "validation", plannedHost), gpuCount: config.gpuCount }, config),
  );
  for (const p of planned) problems.push({ key: SERVING_CONFIG_KEYS[p.key] ?? "sglangFlags", message: renderProblem(p) });
  return problems;
};

/**
 * The config key that sets each serving setting a planner problem names (the flags not listed here are
 * `sglangFlags` entries). A lookup on the problem's key, never on its text.
 */
const SERVING_CONFIG_KEYS: Partial<Readonly<Record<ServingProblemKey, ConfigKey>>> = {
  image: "sglangImage",
  allowLatest: "sglangAllowLatest",
  preset: "sglangPreset",
  "flagOverrides.modelPath": "sglangModel",
  "flagOverrides.servedModelName": "sglangServedModelName",
  extraFlags: "sglangExtraArgs",
  port: "sglangPort",
  firewallAllowlist: "lambdaFirewallAllowlist",
  cacheMountPath: "hfCachePath",
  cacheVolumeName: "hfCacheVolume",
  weightsRevision: "hfRevision",
  healthStartPeriod: "sglangHealthStartPeriod",
  waitTimeout: "sglangStartupTimeout",
};

/** The config key that sets each router plan input (the fix names it). */
const ROUTER_CONFIG_KEYS: Readonly<Record<RouterProblemKey, ConfigKey>> = {
  image: "routerImage",
  port: "routerPort",
  metricsPort: "routerMetricsPort",
  policy: "routerPolicy",
  healthCheckIntervalSeconds: "routerHealthCheckInterval",
  workerStartupTimeoutSeconds: "sglangStartupTimeout",
  requestTimeoutSeconds: "benchmarkTimeout",
};

/** The router's settings checked by the router layer's own planner (image pin, ports, policy), when there is a router. */
export const routerConfigCheck: ConfigCheck = (config) => {
  if (!routed(config)) return [];
  const input = routerPlanInputFor({ ...routerArgsFor(config, { connection: { kind: "local" }, readyAt: "", gpuCount: 0 }, []), apiKey: config.sglang.apiKey.present }, config);
  return planRouter(input).problems.map((p) => {
    const key = ROUTER_CONFIG_KEYS[p.key];
    return { key, message: `${p.message}. Fix: ${p.fix}: pulumi config set ${PROJECT}:${key} ${key === "routerImage" ? "<repository:tag>" : "<value>"}` };
  });
};

/** Parses raw config with every layer's checks (pure: used by tests and by `loadStackConfig`). */
export function parseWithLayerChecks(raw: RawConfig, context: RawConfigContext): StackConfig {
  return parseStackConfig(raw, context, [servingConfigCheck, routerConfigCheck]);
}

/** Reads and validates this stack's config inside a Pulumi program; throws listing every problem. */
export function loadStackConfig(): StackConfig {
  const { raw, context } = readRawStackConfig(pulumi.getProject());
  return parseWithLayerChecks(raw, context);
}

/** Component name of replica `index` (stable: adding replicas never renames existing ones). */
export function replicaName(index: number): string {
  return index === 0 ? "hgx" : `hgx-${index + 1}`;
}

/**
 * Where replica `index` sits relative to the router (Lambda firewall): the router's host opens the
 * router's ports to the allowlist; every replica not on it opens its serving port to the router's host too.
 */
export interface RouterFirewall {
  /**
   * The router host's private address (the region's private network), for the other replicas' serving-port rule:
   * the router reaches workers there, never at their public address.
   */
  readonly routerHostIp?: pulumi.Input<string>;
}

export { routerSourceCidr } from "./host/lambda/provider";

/** What the host provider needs to know about the stack to give one host's args. */
function hostArgsContext(config: StackConfig): HostArgsContext {
  return {
    project: config.project,
    stack: config.stack,
    gpus: { count: config.gpuCount, model: config.gpuModel, probeImage: config.gpuProbeImage },
    hourlyPriceUsd: config.hourlyPriceUsd,
    cacheMountPath: cacheMountPathFor(config),
    servingPort: config.sglang.port,
  };
}

/**
 * HgxHost arguments for one replica, from its host provider (`index` and the router's address only matter
 * with a router; `bootWork` is started by a provider that launches its machine).
 */
export function hostArgsFor(config: StackConfig, index = 0, firewall: RouterFirewall = {}, bootWork?: CloudConfigPart): HgxHostArgs {
  const routerOnThisHost = routed(config) && index === 0 && config.router.placement === "first-replica";
  const context: HostArgsContext = {
    ...hostArgsContext(config),
    ...(routerOnThisHost ? { extraPorts: [config.router.port, config.router.metricsPort] } : {}),
    ...(routed(config) && firewall.routerHostIp !== undefined ? { routerHostIp: firewall.routerHostIp } : {}),
    ...(bootWork ? { cloudInitParts: [bootWork] } : {}),
  };
  return hgxHostArgsFrom(providerHostArgs(taggedHostSettings(config), context));
}

/**
 * The router's own host (`routerPlacement: own-host`): from a provider that launches machines, an instance of
 * `routerInstanceType` with the workers' regions, SSH and allowlist, no GPU check and no cache filesystem; its
 * firewall opens the router's client and metrics ports to the allowlist.
 */
export function routerHostArgsFor(config: StackConfig): HgxHostArgs {
  const context = { ...hostArgsContext(config), servingPort: config.router.port, extraPorts: [config.router.metricsPort], routerInstanceType: config.router.instanceType };
  const args = providerRouterHostArgs(taggedHostSettings(config), context);
  if (args === undefined) throw new Error(`routerPlacement "own-host" needs hostMode "lambda", got "${config.hostMode}"`);
  return hgxHostArgsFrom(args);
}

/** What the serving layer needs from a host (an `HgxHost`, or plain values when planning). */
export interface ServerHostFacts {
  readonly connection: HostConnection;
  readonly readyAt: pulumi.Input<string>;
  readonly gpuCount: pulumi.Input<number>;
}

/**
 * The serving port of replica `index`: every replica's own host uses `sglangPort`; on the one local
 * engine the replicas take `sglangPort`, `sglangPort + 1`, ... (one host, one port each).
 */
export function replicaPort(config: StackConfig, index: number): number {
  return config.hostMode === "local" ? config.sglang.port + index : config.sglang.port;
}

/** Whether a router fronts the replicas. */
export function routed(config: StackConfig): boolean {
  return config.replicas > 1;
}

/** SglangServer arguments for one replica on its host. */
export function serverArgsFor(config: StackConfig, name: string, host: ServerHostFacts, index = 0): SglangServerArgs {
  const local = config.hostMode === "local";
  return {
    connection: host.connection,
    hostReady: host.readyAt,
    // A local engine runs the simulator: the flags are still checked against the configured GPUs.
    gpuCount: local ? config.gpuCount : host.gpuCount,
    gpuHost: !local,
    cacheMountPath: cacheMountPathFor(config),
    image: config.sglang.image,
    allowLatest: config.sglang.allowLatest,
    preset: config.sglang.preset as SglangServerArgs["preset"],
    flagOverrides: sglangOverridesFor(config).overrides,
    // SGLang loads the revision the weights were downloaded at (nothing added for `main`, its default); after a
    // pre-download of a branch, the server passes the commit its weights step recorded instead (`loadRevisionFlags`).
    extraFlags: [...config.sglang.extraArgs, ...(!local && !isCommitRevision(config.hf.revision) ? [] : sglangRevisionFlags(config.hf.revision))],
    port: replicaPort(config, index),
    firewallAllowlist: hostServingAllowlist(taggedHostSettings(config)),
    // Behind a router on another host, a worker's port must be reachable from there (the firewall admits that host).
    publish: routed(config) && !local,
    hfToken: config.hf.token.present ? config.hf.token.value : undefined,
    apiKey: config.sglang.apiKey.present ? config.sglang.apiKey.value : undefined,
    healthStartPeriod: config.sglang.healthStartPeriodMs / 1000,
    waitTimeout: config.sglang.startupTimeoutMs / 1000,
    containerName: `${config.project}-${config.stack}-${name}-sglang`,
    cacheVolumeName: config.hf.cacheVolume,
    // Weights on a persistent path or volume outlive the container: a redeploy downloads nothing.
    retainCache: true,
    // The simulator needs no weights, and a local engine may have no registry to pull the downloader from.
    preDownload: !local,
    downloaderImage: config.hf.downloaderImage,
    weightsRevision: config.hf.revision,
    omitMemlockUlimit: config.sglang.omitMemlockUlimit,
    // Any SSH host may carry boot work (a Lambda launch does); one without the dir is not waited for.
    bootWork: local || config.bootWorkDir === undefined ? undefined : { dir: config.bootWorkDir, expected: hostBootWorkAtLaunch(config.hostMode) },
  };
}

/**
 * The cloud-init part that starts replica `name`'s slow fetches at first boot: the pull of the image
 * its server runs and the download its server would run (the same script), without the HF token.
 * Undefined outside lambda mode or with `bootWorkDir` empty.
 */
export function bootWorkPartFor(config: StackConfig, name: string): CloudConfigPart | undefined {
  if (!hostBootWorkAtLaunch(config.hostMode) || config.bootWorkDir === undefined) return undefined;
  const plannedHost: ServerHostFacts = { connection: { kind: "local" }, readyAt: "", gpuCount: config.gpuCount };
  const args = { ...serverArgsFor(config, name, plannedHost), gpuCount: config.gpuCount };
  const {
    input,
    result: { plan },
  } = planServer(args, config);
  // An invalid plan fails in the server component with every problem listed; no boot work for it.
  if (plan === undefined) return undefined;
  const weightsScript = input.preDownload
    ? renderWeightsDownloadScript(weightsDownloadOptionsFor(args, plan, { project: config.project, stack: config.stack, containerName: input.containerName }))
    : undefined;
  return bootWorkPart({ dir: config.bootWorkDir, image: config.sglang.image, ...(weightsScript !== undefined ? { weightsScript } : {}) });
}

/** What the benchmark needs from a host and its server: the replica's components, or, behind the router, its endpoint and the summed price. */
export interface BenchmarkTargetFacts {
  readonly host: { readonly connection: HostConnection; readonly hourlyPriceUsd: pulumi.Input<number> };
  readonly server: {
    readonly endpoint: pulumi.Input<string>;
    readonly servedModelName: pulumi.Input<string>;
    readonly specHash: string;
    /** Port on the host the remote runner targets. @default sglangPort */
    readonly port?: number;
    /** The image, flags and router behind the endpoint, for the capacity result's provenance. @default none */
    readonly provenance?: pulumi.Input<ServerProvenanceFacts>;
  };
  /**
   * `benchmark.plan`'s basis: one replica's machine price and, behind a router, what the stack measured of the fleet;
   * "none" for a benchmark that makes no plan (one worker measured alone). @default this host's price, no router
   */
  readonly plan?: { readonly replicaPriceUsd: pulumi.Input<number>; readonly routed?: pulumi.Input<RoutedPlanFacts> } | "none";
}

/** What the capacity CLI cannot see of a replica's server: its image by digest and a hash of its SGLang flags. */
export function serverProvenanceOf(server: Pick<SglangServer, "imageDigest" | "plan">, router: ServerProvenanceFacts["router"] = null): pulumi.Output<ServerProvenanceFacts> {
  return server.imageDigest.apply((imageDigest) => ({ imageDigest: imageDigest === "" ? null : imageDigest, serverFlagsHash: serverFlagsHash(server.plan.argv), router }));
}

/** What the benchmark needs of one replica's server measured directly (no router in front). */
function replicaServerFacts(server: SglangServer): BenchmarkTargetFacts["server"] {
  return { endpoint: server.endpoint, servedModelName: server.servedModelName, specHash: server.specHash, provenance: serverProvenanceOf(server) };
}

/** Benchmark arguments for one replica's server. */
export function benchmarkArgsFor(config: StackConfig, { host, server, plan }: BenchmarkTargetFacts, reference?: pulumi.StackReference): BenchmarkArgs {
  const b = config.benchmark;
  const planBasis = plan ?? { replicaPriceUsd: host.hourlyPriceUsd };
  // The server's own cache (bind path or named volume): the tokenizer is already in it.
  const cache = cacheMountFor(cacheMountPathFor(config), config.hf.cacheVolume);
  return {
    connection: host.connection,
    serverReady: server.endpoint,
    port: server.port ?? config.sglang.port,
    // The native runner runs where Pulumi runs: it needs the endpoint from there.
    baseUrl: b.runner === "native" ? server.endpoint : undefined,
    servedModelName: server.servedModelName,
    modelPath: config.sglang.model,
    ...(b.tokenizer === undefined ? {} : { tokenizer: b.tokenizer }),
    apiKey: config.sglang.apiKey.present ? config.sglang.apiKey.value : undefined,
    serverSpecHash: server.specHash,
    runner: b.runner,
    workload: {
      inputLen: b.inputLen,
      outputLen: b.outputLen,
      numPrompts: b.numPrompts,
      maxConcurrency: b.concurrency,
      endpoint: b.endpoint,
      ...(b.prefixRepetition === undefined ? {} : { prefixRepetition: b.prefixRepetition }),
    },
    thresholds: b.thresholds,
    hourlyPriceUsd: host.hourlyPriceUsd,
    timeoutSeconds: Math.round(b.timeoutMs / 1000),
    reportDir: b.reportDir,
    hfCacheDir: cache.kind === "bind" ? cache.hostPath : cache.volumeName,
    // tokens/s per GPU divides by the machine's GPUs (8 on the seed's B200 node)
    capacity: b.capacity && { ...b.capacity, gpus: Math.max(1, config.gpuCount) },
    vllmImage: b.vllmImage,
    ...(server.provenance === undefined ? {} : { serverProvenance: server.provenance }),
    ...(b.plan === undefined || planBasis === "none" ? {} : { plan: { settings: b.plan, ...planBasis } }),
    ...(reference === undefined || b.compareStack === undefined ? {} : { compareWith: { stackName: b.compareStack, benchmarkOutput: reference.getOutput("benchmark") } }),
  };
}

/** One host with its server and (optionally) its benchmark. */
export interface Deployment {
  readonly name: string;
  readonly host: HgxHost;
  readonly server: SglangServer;
  /** Per replica only without a router (with one, the benchmark measures the router's endpoint). */
  readonly benchmark?: Benchmark;
}

/** The replicas, and the router with its benchmark when there is more than one. */
export interface StackDeployment {
  readonly deployments: Deployment[];
  /** The one build every replica (and a router on the same image) runs; the update fails when they differ. */
  readonly imageDigest: pulumi.Output<string>;
  /** The one model commit every pre-downloading replica got ("" without a pre-download); the update fails when they differ. */
  readonly weightsCommit: pulumi.Output<string>;
  readonly router?: {
    readonly router: SglangRouter;
    /** The router's own host (`routerPlacement: own-host`); else it runs on the first replica's. */
    readonly host?: HgxHost;
    readonly benchmark?: Benchmark;
    readonly rollout: RolloutKey;
    /** Router throughput ÷ (workers × one worker's), when one worker was measured alone too. */
    readonly scalingEfficiency?: pulumi.Output<number>;
  };
}

/** Output tokens/s through the router ÷ (workers × one worker's output tokens/s), 3 decimals; 0 when unmeasurable. */
export function scalingEfficiencyOf(routedThroughput: number, singleThroughput: number, workers: number): number {
  if (!(singleThroughput > 0) || !(workers > 0) || !Number.isFinite(routedThroughput)) return 0;
  return Math.round((routedThroughput / (workers * singleThroughput)) * 1000) / 1000;
}

/**
 * At preview, says whether this change rolls or takes the endpoint down, from the last deployment's
 * `router.rollout` output (read through a StackReference to this very stack; only in a preview, so
 * an update never records the reference).
 */
function announceRollout(rollout: RolloutKey): void {
  if (!pulumi.runtime.isDryRun()) return;
  const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`);
  self.getOutput("router").apply((previous: { rollout?: RolloutKey } | undefined) => {
    const verdict = judgeRollout(previous?.rollout, rollout);
    for (const w of verdict.warnings) pulumi.log.warn(w);
    for (const i of verdict.infos) pulumi.log.info(i);
  });
}

/** What the router's path to a Lambda host depends on (an `HgxHost` has it all). */
export interface RoutedHostFacts {
  readonly connection: HostConnection;
  /** Resolves when the host is usable. */
  readonly readyAt: pulumi.Input<string>;
  readonly region: pulumi.Input<string>;
  /** Its address on the region's private network. */
  readonly privateIp: pulumi.Input<string>;
  /** A new instance (same inputs) re-runs the tunnel steps. */
  readonly instanceId: pulumi.Input<string>;
}

/**
 * A worker's URL as the router reaches it (and the drain/rejoin steps use): its own host's worker on loopback; on
 * Lambda, any other at its private address in the router's region, or through its SSH tunnel (`tunnels`) from
 * another region (see `workerRouteFor`); local replicas on their consecutive loopback ports.
 */
function routerWorkerUrl(config: StackConfig, host: HgxHost, name: string, index: number, routerHost: HgxHost, routerOnFirst: boolean, tunnels: RouterTunnels | undefined): pulumi.Output<string> {
  const port = replicaPort(config, index);
  const onRouterHost = index === 0 && routerOnFirst;
  if (!hostRegionalPrivateNetwork(config.hostMode) || onRouterHost) return pulumi.output(host.ip).apply((ip) => workerUrlFor(ip, port, onRouterHost));
  return lambdaRouterWorkerUrl({ name, index, port, host }, routerHost, tunnels);
}

/**
 * A worker on another Lambda host as the router reaches it: its private address in the router's region, else its
 * tunnel's loopback URL, which resolves only once the tunnel step ran (started, or stopped for a same-region worker).
 */
export function lambdaRouterWorkerUrl(
  worker: { readonly name: string; readonly index: number; readonly port: number; readonly host: RoutedHostFacts },
  routerHost: RoutedHostFacts,
  tunnels: RouterTunnels | undefined,
): pulumi.Output<string> {
  const { name, index, port, host } = worker;
  const tunnel = tunnels?.forWorker(name, index, host, routerHost, port);
  const url = pulumi.all([host.region, host.privateIp, routerHost.region]).apply(([region, privateIp, routerRegion]) => {
    const route = workerRouteFor({ name, region, privateIp }, routerRegion, port, tunnel === undefined ? undefined : tunnelLocalPort(index));
    if ("problem" in route) throw new Error(route.problem);
    return route.url;
  });
  return tunnel === undefined ? url : pulumi.all([url, tunnel.stdout]).apply(([u]) => u);
}

/**
 * The SSH tunnels of a routed Lambda stack whose `lambdaRegions` lists more than one region (with one, every host
 * shares the router's private network and none is built). One client key for the stack; per worker not on the
 * router's host, two steps whose scripts decide at apply time, from the regions the instances landed in:
 *   <worker>-tunnel-authorize   on the worker: the key in authorized_keys, restricted to the serving port (or removed)
 *   router-tunnel-<worker>      on the router's host: the supervised forward, pinned to the worker's host key (or stopped)
 */
export class RouterTunnels {
  private readonly key: HostKeyPair;

  constructor(private readonly config: Pick<StackConfig, "project" | "stack">) {
    this.key = new HostKeyPair("router-tunnel-key", { comment: `hgx-tunnel-${config.stack}` });
  }

  forWorker(name: string, index: number, host: RoutedHostFacts, routerHost: RoutedHostFacts, port: number): { stdout: pulumi.Output<string> } {
    const worker = host.connection;
    const router = routerHost.connection;
    if (worker.kind !== "ssh" || router.kind !== "ssh") throw new Error(`router tunnel to ${name}: both hosts must be SSH hosts (hostMode lambda)`);
    const tag = tunnelTag(this.config.project, this.config.stack, name);
    const crossRegion = pulumi.all([host.region, routerHost.region]).apply(([w, r]) => w !== r);
    const authorize = hostCommand(
      `${name}-tunnel-authorize`,
      worker,
      host.readyAt,
      {
        script: pulumi.all([crossRegion, this.key.publicKey]).apply(([cross, pub]) => renderTunnelAuthorizeScript({ tag, ...(cross ? { line: tunnelAuthorizedKeyLine(pub, port, tag) } : {}) })),
        secretLine: "",
        triggers: [host.instanceId],
      },
      {},
    );
    return hostCommand(
      `router-tunnel-${name}`,
      router,
      routerHost.readyAt,
      {
        script: pulumi
          .all([crossRegion, worker.host, worker.port, worker.user, worker.hostKey])
          .apply(([cross, address, sshPort, user, hostKey]) =>
            cross ? renderTunnelStartScript({ tag, host: address, sshPort, user, hostKey, workerPort: port, localPort: tunnelLocalPort(index) }) : renderTunnelStopScript(tag),
          ),
        secretLine: this.key.privateKeyOpenssh,
        // A new router host (same inputs otherwise) needs its loop started again.
        triggers: [routerHost.instanceId, host.instanceId],
      },
      { dependsOn: [authorize.resource] },
    );
  }
}

/** SglangRouter arguments: on the first replica's host, in front of every replica's worker. */
export function routerArgsFor(config: StackConfig, routerHost: ServerHostFacts, workerUrls: pulumi.Input<string>[]): SglangRouterArgs {
  return {
    connection: routerHost.connection,
    hostReady: routerHost.readyAt,
    image: config.router.image,
    workerUrls,
    servedModelName: config.sglang.servedModelName,
    port: config.router.port,
    metricsPort: config.router.metricsPort,
    policy: config.router.policy,
    healthCheckIntervalSeconds: Math.max(1, Math.round(config.router.healthCheckIntervalMs / 1000)),
    workerStartupTimeoutSeconds: Math.max(1, Math.round(config.sglang.startupTimeoutMs / 1000)),
    requestTimeoutSeconds: Math.max(1, Math.round(config.benchmark.timeoutMs / 1000)),
    drainTimeoutSeconds: Math.round(config.router.drainTimeoutMs / 1000),
    apiKey: config.sglang.apiKey.present ? config.sglang.apiKey.value : undefined,
    publish: hostServingAllowlist(taggedHostSettings(config)).length > 0,
    containerName: `${config.project}-${config.stack}-router`,
  };
}

/**
 * Builds every replica: host → server → benchmark, each chain independent of the others; with
 * `replicas` > 1, a router on the first host in front of them, the servers chained for rolling
 * changes (see `SglangRouter`), and one benchmark against the router.
 */
export function deployStack(config: StackConfig): StackDeployment {
  const names = Array.from({ length: config.replicas }, (_, index) => replicaName(index));
  // One reference for every benchmark (each compares its own run with the other stack's first replica).
  const compareStack = config.benchmark.enabled ? config.benchmark.compareStack : undefined;
  const reference = compareStack === undefined ? undefined : new pulumi.StackReference("benchmark-reference", { name: compareStack });
  // The router's own host, when asked for (every worker's firewall admits its address once it has one).
  const routerOwnHost = routed(config) && config.router.placement === "own-host" ? new HgxHost("router-host", routerHostArgsFor(config)) : undefined;
  const hosts = deployHosts(config, names, routerOwnHost);
  logPinAdvice(config, names.length + (routerOwnHost ? 1 : 0));
  const replicas: Replicas = { names, hosts, reference };
  return routed(config) ? deployRouted(config, replicas, routerOwnHost) : deployUnrouted(config, replicas);
}

/** Each replica's host, in order. */
function deployHosts(config: StackConfig, names: readonly string[], routerOwnHost: HgxHost | undefined): HgxHost[] {
  const hosts: HgxHost[] = [];
  for (const [index, name] of names.entries()) {
    // Workers behind a router admit its host (its own, else the first replica's) on their serving port, at its private address.
    const routerHostIp = routerOwnHost ? routerOwnHost.privateIp : routed(config) && index > 0 ? hosts[0].privateIp : undefined;
    // Boot work (image pull, weights download) starts at the instance's first boot through cloud-init.
    hosts.push(new HgxHost(name, hostArgsFor(config, index, { routerHostIp }, bootWorkPartFor(config, name))));
  }
  return hosts;
}

/** Advice on pinning the model revision and the image, logged once per update. */
function logPinAdvice(config: StackConfig, machines: number): void {
  const revisionAdvice = config.hostMode === "local" ? undefined : revisionPinAdvice(config.sglang.model, config.hf.revision);
  if (revisionAdvice !== undefined) pulumi.log.info(revisionAdvice);
  // A local stack's replicas share one engine (and its images, built there, have no registry digest).
  const pinAdvice = imagePinAdvice("sglangImage", config.sglang.image, config.hostMode === "local" ? 1 : machines);
  if (pinAdvice !== undefined) pulumi.log.info(pinAdvice);
}

/** The replicas' names and hosts, and the stack the benchmarks compare with. */
interface Replicas {
  readonly names: readonly string[];
  readonly hosts: readonly HgxHost[];
  readonly reference: pulumi.StackReference | undefined;
}

/**
 * Which image each replica's server pulls. The first replica resolves the image (on a host with boot work: the
 * boot-time pull did); every other one pulls the digest it got (see `pinnedPullRef`). On the local engine the
 * images were built there: the first pulls them by image ID too.
 */
class ServerPulls {
  private first?: SglangServer;

  constructor(
    private readonly config: StackConfig,
    /** Told the first server once it exists (a router on the same image pulls what it pulled). */
    private readonly onFirst?: (server: SglangServer) => void,
  ) {}

  pullFor(index: number): { pullImage?: pulumi.Input<string> } {
    if (index > 0 && this.first) return { pullImage: this.first.pinnedImage };
    return this.config.hostMode === "local" ? { pullImage: localImageRef(this.config.sglang.image) } : {};
  }

  record(server: SglangServer): void {
    if (this.first !== undefined) return;
    this.first = server;
    this.onFirst?.(server);
  }
}

/** Without a router: each replica's server and its own benchmark. */
function deployUnrouted(config: StackConfig, { names, hosts, reference }: Replicas): StackDeployment {
  const pulls = new ServerPulls(config);
  const deployments = names.map((name, index) => {
    const host = hosts[index];
    const server = new SglangServer(name, { ...serverArgsFor(config, name, host, index), ...pulls.pullFor(index) });
    pulls.record(server);
    const benchmark = config.benchmark.enabled ? new Benchmark(name, benchmarkArgsFor(config, { host, server: replicaServerFacts(server) }, reference)) : undefined;
    return { name, host, server, benchmark };
  });
  return {
    deployments,
    imageDigest: sameImageDigest(config.sglang.image, [...deployments.map((d) => ({ name: d.name, ref: d.server.imageDigest })), ...bootRuns(deployments)]),
    weightsCommit: sameWeightsCommit(deployments),
  };
}

/** With a router: the router, the workers chained behind it for rolling changes, and the benchmarks through it. */
function deployRouted(config: StackConfig, replicas: Replicas, routerOwnHost: HgxHost | undefined): StackDeployment {
  const { names, hosts } = replicas;
  const routerHost = routerOwnHost ?? hosts[0];
  const tunnels = hostCrossRegion(taggedHostSettings(config)) ? new RouterTunnels(config) : undefined;
  const workerUrls = hosts.map((host, index) => routerWorkerUrl(config, host, names[index], index, routerHost, routerOwnHost === undefined, tunnels));
  // A router running the SGLang image runs the first replica's build too (it starts before that replica's container,
  // after its pull: no cycle).
  const routerUsesServerImage = config.router.image === config.sglang.image;
  const routerPull = routerUsesServerImage ? pulumi.deferredOutput<string>() : undefined;
  const routerPullImage = routerPull ? routerPull[0] : config.hostMode === "local" ? localImageRef(config.router.image) : undefined;
  const router = new SglangRouter("router", { ...routerArgsFor(config, routerHost, workerUrls), ...(routerPullImage ? { pullImage: routerPullImage } : {}) });
  const deployments = routedWorkers(config, replicas, router, workerUrls, new ServerPulls(config, (server) => routerPull?.[1](server.pinnedImage)));
  const rollout: RolloutKey = { workerSpecs: deployments.map((d) => d.server.specHash), routerSpec: routerSpecHash(router.plan), workerPort: config.sglang.port };
  announceRollout(rollout);
  const machines = [...hosts, ...(routerOwnHost ? [routerOwnHost] : [])];
  const { single, benchmark, scalingEfficiency } = routedBenchmarks(config, replicas, deployments, router, { connection: routerHost.connection, machines });
  const runs = [
    ...deployments.map((d) => ({ name: d.name, ref: d.server.imageDigest })),
    ...(routerUsesServerImage ? [{ name: "router", ref: router.imageDigest }] : []),
    ...bootRuns(deployments),
  ];
  return {
    deployments: deployments.map((d, i) => (i === 0 && single ? { ...d, benchmark: single } : d)),
    router: { router, host: routerOwnHost, benchmark, rollout, scalingEfficiency },
    imageDigest: sameImageDigest(config.sglang.image, runs),
    weightsCommit: sameWeightsCommit(deployments),
  };
}

/** Each worker's server between its drain and rejoin steps, one after the other (a rolling change). */
function routedWorkers(config: StackConfig, { names, hosts }: Replicas, router: SglangRouter, workerUrls: readonly pulumi.Output<string>[], pulls: ServerPulls): Deployment[] {
  let previous: pulumi.Resource = router.started;
  const deployments = names.map((name, index) => {
    const host = hosts[index];
    const args = serverArgsFor(config, name, host, index);
    // The same hash the server computes: a change to what it serves replaces the drain step first.
    const planned = planServer(args, config);
    const specHash = planned.result.plan ? servingSpecHash(planned.result.plan) : "invalid";
    const drain = router.drain(name, workerUrls[index], specHash, previous);
    // The server uses this plan (planned once per replica, not again inside the component).
    const server = new SglangServer(name, { ...args, ...pulls.pullFor(index), containerAfter: [drain], planned });
    pulls.record(server);
    previous = router.rejoin(name, workerUrls[index], server);
    return { name, host, server };
  });
  router.complete(previous, deployments.map((d) => d.server.specHash));
  return deployments;
}

/** The benchmark through the router and, when asked, one worker alone first (for the scaling efficiency). */
function routedBenchmarks(
  config: StackConfig,
  { names, hosts, reference }: Replicas,
  deployments: readonly Deployment[],
  router: SglangRouter,
  routerHost: { readonly connection: HostConnection; readonly machines: readonly HgxHost[] },
): { single?: Benchmark; benchmark?: Benchmark; scalingEfficiency?: pulumi.Output<number> } {
  if (!config.benchmark.enabled) return {};
  const first = deployments[0].server;
  // One worker alone first (when asked), so the router's run and this one never share the worker.
  const single = config.benchmark.scalingEfficiency ? new Benchmark(names[0], benchmarkArgsFor(config, { host: hosts[0], server: replicaServerFacts(first), plan: "none" }, reference)) : undefined;
  // The plan through the router uses the efficiency measured from this benchmark's own run: settled after it exists.
  const [efficiency, settleEfficiency] = pulumi.deferredOutput<number | undefined>();
  const routed: pulumi.Output<RoutedPlanFacts> = pulumi
    .all([single?.capacity, efficiency])
    .apply(([singleCapacity, scalingEfficiency]) => ({ replicas: names.length, scalingEfficiency, singleCapacity }));
  const benchmark = new Benchmark(
    "router",
    benchmarkArgsFor(config, {
      // The price of every machine behind the endpoint, the router's own host included.
      host: { connection: routerHost.connection, hourlyPriceUsd: pulumi.all(routerHost.machines.map((h) => h.hourlyPriceUsd)).apply((p) => p.reduce((a, b) => a + b, 0)) },
      server: {
        endpoint: single ? pulumi.all([router.endpoint, single.metrics]).apply(([endpoint]) => endpoint) : router.endpoint,
        servedModelName: config.sglang.servedModelName,
        // Re-run when any worker's spec, the number of workers or the routing changes.
        specHash: `${deployments.map((d) => d.server.specHash).join("+")}|${config.router.policy}`,
        port: config.router.port,
        provenance: serverProvenanceOf(first, { policy: config.router.policy, replicas: names.length }),
      },
      plan: { replicaPriceUsd: hosts[0].hourlyPriceUsd, routed },
    }, reference),
  );
  const scalingEfficiency = single
    ? pulumi.all([benchmark.metrics, single.metrics]).apply(([all, one]) => scalingEfficiencyOf(all.outputThroughput, one.outputThroughput, names.length))
    : undefined;
  settleEfficiency(scalingEfficiency ?? pulumi.output(undefined));
  return { single, benchmark, scalingEfficiency };
}

/**
 * What each replica's boot-time pull resolved the image to, as runs that must agree with the replicas' (a
 * host without one, "" here, is left out: its serving layer pulled by itself).
 */
function bootRuns(deployments: readonly { name: string; server: SglangServer }[]): { name: string; ref: pulumi.Output<string>; optional: true }[] {
  return deployments.map((d) => ({ name: `${d.name} boot work`, ref: d.server.bootImage, optional: true }));
}

/**
 * The image `ref` names on this machine's engine (the local stack's; built or imported there, without a
 * registry digest): its image ID, which is what state records and what every pull and container uses, so a
 * rebuilt image under the same tag is a change `pulumi preview` shows. The tag itself when the engine does not
 * have it (the first pull then fetches it, and the other replicas pull what that resolved to).
 */
export function localImageRef(ref: string): pulumi.Output<string> {
  return pulumi.output(
    docker.getRemoteImage({ name: ref }).then(
      (found) => (isContentRef(found.id) ? found.id : ref),
      () => ref,
    ),
  );
}

/** The content reference shared by `runs`, or a failed output naming each one's when they differ (see `imageDisagreement`). */
export function sameImageDigest(image: string, runs: readonly { name: string; ref: pulumi.Output<string>; optional?: boolean }[]): pulumi.Output<string> {
  return pulumi.all(runs.map((r) => r.ref)).apply((refs) => {
    const problem = imageDisagreement(image, runs.map((r, i) => ({ name: r.name, ref: refs[i], optional: r.optional })));
    if (problem !== undefined) throw new Error(problem);
    return refs[0];
  });
}

/** The model commit every replica that pre-downloaded got, or a failed output naming each one's (see `weightsCommitDisagreement`). */
export function sameWeightsCommit(deployments: readonly { name: string; server: SglangServer }[]): pulumi.Output<string> {
  return pulumi.all(deployments.map((d) => d.server.weightsCommit)).apply((commits) => {
    const problem = weightsCommitDisagreement(deployments[0]?.server.plan.flags.modelPath ?? "", deployments.map((d, i) => ({ name: d.name, commit: commits[i] })));
    if (problem !== undefined) throw new Error(problem);
    return commits.find((c) => c !== "") ?? "";
  });
}

/** Hours since an ISO time (for "cost so far"); 0 for a missing or future time. */
export function hoursSince(iso: string | undefined, now: Date = new Date()): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) && t < now.getTime() ? (now.getTime() - t) / 3_600_000 : 0;
}

/** The stack outputs of one deployment (what each means is documented in the README). */
/** A host's stack outputs: where it is, how to reach it, what it costs. */
export function hostOutputs(host: HgxHost) {
  return {
      instanceId: host.instanceId,
      ip: host.ip,
      region: host.region,
      instanceType: host.instanceType,
      hourlyPriceUsd: host.hourlyPriceUsd,
      sshCommand: host.sshCommand,
      // Lambda with a key pair the API generated: its private half (a secret output), the key sshCommand's file must hold.
      sshPrivateKey: host.machine?.generatedKey ? host.privateKey : undefined,
      // The pinned SSH host key: `echo "<ip> <hostKey>" >> ~/.ssh/known_hosts` before using sshCommand.
      hostKey: host.hostKey,
      cacheMountPath: host.cacheMountPath,
      // Lambda only: the random part of the stack's identity (re-attach with lambdaStackId after a full destroy).
      stackId: host.machine?.stackId,
      readyAt: host.readyAt,
      // Since the host passed its checks (billing starts a little earlier, at launch).
      costSoFarUsd: pulumi
        .all([host.hourlyPriceUsd, host.readyAt])
        .apply(([price, readyAt]) => Math.round(price * hoursSince(readyAt) * 100) / 100),
  };
}

export function deploymentOutputs(d: Deployment) {
  const { host, server, benchmark } = d;
  return {
    host: hostOutputs(host),
    server: {
      endpoint: server.endpoint,
      apiKey: server.apiKey,
      servedModelName: server.servedModelName,
      imageDigest: server.imageDigest,
      // What this host's boot-time pull got (must equal imageDigest) and what the weights downloader ran as.
      bootImage: server.bootImage,
      downloaderImage: server.downloaderImage,
      weightsCommit: server.weightsCommit,
      dockerRunCommand: server.dockerRunCommand,
      timeline: server.timeline,
      criticalPath: server.criticalPath,
    },
    benchmark: benchmarkOutputs(benchmark),
  };
}

/** The benchmark's stack outputs (what each means is documented in the README). */
export function benchmarkOutputs(benchmark: Benchmark | undefined) {
  return (
    benchmark && {
      metrics: benchmark.metrics,
      ratios: benchmark.ratios,
      hourlyCostUsd: benchmark.hourlyCostUsd,
      costPerMillionOutputTokens: benchmark.costPerMillionOutputTokens,
      costPerMillionTotalTokens: benchmark.costPerMillionTotalTokens,
      thresholdMisses: benchmark.thresholdMisses,
      passed: benchmark.passed,
      reportPath: benchmark.reportPath,
      rawJson: benchmark.rawJson,
      tokenizer: benchmark.tokenizer,
      notes: benchmark.notes,
      capacity: benchmark.capacity,
      capacityPlan: benchmark.capacityPlan,
      capacityReportPath: benchmark.capacityReportPath,
      plan: benchmark.plan,
      comparison: benchmark.comparison,
    }
  );
}

/** The router's stack outputs: one endpoint, its Prometheus metrics, and each worker behind it. */
export function routerOutputs(router: SglangRouter, deployments: readonly Deployment[], rollout: RolloutKey, ownHost?: HgxHost) {
  return {
    // Its own machine (`routerPlacement: own-host`); absent when it shares the first replica's host.
    ...(ownHost ? { host: hostOutputs(ownHost) } : {}),
    // What the next preview compares against to say whether a change rolls (see `judgeRollout`).
    rollout,
    endpoint: router.endpoint,
    metricsEndpoint: router.metricsEndpoint,
    imageDigest: router.imageDigest,
    dockerRunCommand: router.dockerRunCommand,
    workers: deployments.map((d, i) => ({
      name: d.name,
      // As the router reaches it, and as a client on the worker's host would.
      routerUrl: router.workerUrls.apply((urls) => urls[i]),
      endpoint: d.server.endpoint,
    })),
  };
}
