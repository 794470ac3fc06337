/**
 * Composition: validated stack config → the arguments of each layer's component, and the stack's
 * deployments (host → server → benchmark), instantiated `replicas` times with no shared state.
 * `index.ts` only calls `loadStackConfig` and `deployStack` and exports what they return.
 */
import * as pulumi from "@pulumi/pulumi";
import { Benchmark, type BenchmarkArgs } from "./benchmark";
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
import { gpuExpectationFromInstanceType, HgxHost, type GpuExpectation, type HgxHostArgs, type HostConnection } from "./host";
import { bootWorkPart } from "./host/bootWork";
import type { CloudConfigPart } from "./host/lambda/cloudInit";
import { cacheMountFor, localDockerHost, overridesFromFlagNames, planServing, servingPlanInputFor, SglangServer, type SglangServerArgs } from "./serving";
import { weightsDownloadOptionsFor } from "./serving/sglangServer";
import { renderWeightsDownloadScript } from "./serving/weights";

/** Where the persistent Hugging Face cache lives on the host, decided from config (never an Output). */
export function cacheMountPathFor(config: StackConfig): string | undefined {
  if (config.hf.cachePath) return config.hf.cachePath;
  if (config.hostMode === "lambda" && config.lambda.filesystemName) return `/lambda/nfs/${config.lambda.filesystemName}`;
  return undefined;
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
  const { overrides, unknown, errors: flagErrors } = sglangOverridesFor(config);
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
  const { errors } = planServing(
    servingPlanInputFor({ ...serverArgsFor(config, "validation", plannedHost), gpuCount: config.gpuCount }, config),
  );
  for (const message of errors) {
    const key = /^weights model/.test(message)
      ? "sglangModel"
      : /image/i.test(message)
        ? "sglangImage"
        : /served-model-name|servedModelName/.test(message)
          ? "sglangServedModelName"
          : /extraFlags|extra flag/.test(message)
            ? "sglangExtraArgs"
            : "sglangFlags";
    problems.push({ key, message });
  }
  return problems;
};

/** Parses raw config with every layer's checks (pure: used by tests and by `loadStackConfig`). */
export function parseWithLayerChecks(raw: RawConfig, context: RawConfigContext): StackConfig {
  return parseStackConfig(raw, context, [servingConfigCheck]);
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

/** HgxHost arguments for one replica. */
export function hostArgsFor(config: StackConfig): HgxHostArgs {
  const gpus: GpuExpectation = { count: config.gpuCount, model: config.gpuModel, probeImage: config.gpuProbeImage };
  switch (config.hostMode) {
    case "lambda":
      return {
        mode: "lambda",
        lambda: {
          regions: config.lambda.regions,
          instanceType: config.lambda.instanceType,
          imageFamily: config.lambda.imageFamily,
          sshPublicKey: config.lambda.sshPublicKey,
          sshPrivateKey: config.lambda.sshPrivateKey.present ? config.lambda.sshPrivateKey.value : undefined,
          filesystemName: config.lambda.filesystemName,
          retainFilesystemOnDelete: config.lambda.retainFilesystem,
          firewallAllowlist: config.lambda.firewallAllowlist,
          servingPort: config.sglang.port,
          ttl: config.lambda.ttlMs === undefined ? "0" : `${Math.round(config.lambda.ttlMs / 1000)}s`,
          waitTimeout: `${Math.round(config.lambda.bootTimeoutMs / 1000)}s`,
          maxHourlyPriceUsd: config.lambda.maxHourlyPriceUsd,
          // Production stacks are always protected (config.ts): never reaped, never destroyed by accident.
          protect: config.lambda.protect,
          pinnedRegionPolicy: config.lambda.pinnedRegionPolicy,
          pinnedRegionWait: `${Math.round(config.lambda.pinnedRegionWaitMs / 1000)}s`,
          stackId: config.lambda.stackId,
          apiBaseUrl: config.lambda.apiUrl,
          apiKeyConfigKey: `${config.project}:lambdaApiKey`,
          tags: { project: config.project, stack: config.stack },
          sshPort: config.lambda.sshPort,
        },
        gpus: { ...gpuExpectationFromInstanceType(config.lambda.instanceType), probeImage: config.gpuProbeImage } as GpuExpectation,
      };
    case "existing":
      return {
        mode: "existing",
        existing: {
          address: config.existing.address,
          port: config.existing.port,
          user: config.existing.user,
          privateKey: config.existing.privateKey.value,
          cacheMountPath: cacheMountPathFor(config),
        },
        gpus,
        hourlyPriceUsd: config.hourlyPriceUsd,
      };
    case "local":
      // The local engine is whatever the Docker CLI would reach (DOCKER_HOST, else the default socket).
      return { mode: "local", local: { dockerHost: localDockerHost() }, hourlyPriceUsd: config.hourlyPriceUsd };
  }
}

/** What the serving layer needs from a host (an `HgxHost`, or plain values when planning). */
export interface ServerHostFacts {
  readonly connection: HostConnection;
  readonly readyAt: pulumi.Input<string>;
  readonly gpuCount: pulumi.Input<number>;
}

/** SglangServer arguments for one replica on its host. */
export function serverArgsFor(config: StackConfig, name: string, host: ServerHostFacts): SglangServerArgs {
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
    extraFlags: config.sglang.extraArgs,
    port: config.sglang.port,
    firewallAllowlist: config.hostMode === "lambda" ? config.lambda.firewallAllowlist : [],
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
    omitMemlockUlimit: config.sglang.omitMemlockUlimit,
    // Any SSH host may carry boot work (a Lambda launch does); one without the dir is not waited for.
    bootWork: local || config.bootWorkDir === undefined ? undefined : { dir: config.bootWorkDir, expected: config.hostMode === "lambda" },
  };
}

/**
 * The cloud-init part that starts replica `name`'s slow fetches at first boot: the pull of the image
 * its server runs and the download its server would run (the same script), without the HF token.
 * Undefined outside lambda mode or with `bootWorkDir` empty.
 */
export function bootWorkPartFor(config: StackConfig, name: string): CloudConfigPart | undefined {
  if (config.hostMode !== "lambda" || config.bootWorkDir === undefined) return undefined;
  const plannedHost: ServerHostFacts = { connection: { kind: "local" }, readyAt: "", gpuCount: config.gpuCount };
  const args = { ...serverArgsFor(config, name, plannedHost), gpuCount: config.gpuCount };
  const input = servingPlanInputFor(args, config);
  const { plan } = planServing(input);
  // An invalid plan fails in the server component with every problem listed; no boot work for it.
  if (plan === undefined) return undefined;
  const weightsScript = input.preDownload
    ? renderWeightsDownloadScript(weightsDownloadOptionsFor(args, plan, { project: config.project, stack: config.stack, containerName: input.containerName }))
    : undefined;
  return bootWorkPart({ dir: config.bootWorkDir, image: config.sglang.image, ...(weightsScript !== undefined ? { weightsScript } : {}) });
}

/** What the benchmark needs from a host and its server (components, or plain values in a rehearsal). */
export interface BenchmarkTargetFacts {
  readonly host: { readonly connection: HostConnection; readonly hourlyPriceUsd: pulumi.Input<number> };
  readonly server: {
    readonly endpoint: pulumi.Input<string>;
    readonly servedModelName: pulumi.Input<string>;
    readonly specHash: string;
  };
}

/** Benchmark arguments for one replica's server. */
export function benchmarkArgsFor(config: StackConfig, { host, server }: BenchmarkTargetFacts): BenchmarkArgs {
  const b = config.benchmark;
  // The server's own cache (bind path or named volume): the tokenizer is already in it.
  const cache = cacheMountFor(cacheMountPathFor(config), config.hf.cacheVolume);
  return {
    connection: host.connection,
    serverReady: server.endpoint,
    port: config.sglang.port,
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
    },
    thresholds: b.thresholds,
    hourlyPriceUsd: host.hourlyPriceUsd,
    timeoutSeconds: Math.round(b.timeoutMs / 1000),
    reportDir: b.reportDir,
    hfCacheDir: cache.kind === "bind" ? cache.hostPath : cache.volumeName,
    // tokens/s per GPU divides by the machine's GPUs (8 on the seed's B200 node)
    capacity: b.capacity && { ...b.capacity, gpus: Math.max(1, config.gpuCount) },
    vllmImage: b.vllmImage,
  };
}

/** One host with its server and (optionally) its benchmark. */
export interface Deployment {
  readonly name: string;
  readonly host: HgxHost;
  readonly server: SglangServer;
  readonly benchmark?: Benchmark;
}

/** Builds every replica: host → server → benchmark, each chain independent of the others. */
export function deployStack(config: StackConfig): Deployment[] {
  return Array.from({ length: config.replicas }, (_, index) => {
    const name = replicaName(index);
    const hostArgs = hostArgsFor(config);
    const bootWork = bootWorkPartFor(config, name);
    const host = new HgxHost(
      name,
      bootWork && hostArgs.lambda ? { ...hostArgs, lambda: { ...hostArgs.lambda, cloudInitParts: [bootWork] } } : hostArgs,
    );
    const server = new SglangServer(name, serverArgsFor(config, name, host));
    const benchmark = config.benchmark.enabled ? new Benchmark(name, benchmarkArgsFor(config, { host, server })) : undefined;
    return { name, host, server, benchmark };
  });
}

/** Hours since an ISO time (for "cost so far"); 0 for a missing or future time. */
export function hoursSince(iso: string | undefined, now: Date = new Date()): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) && t < now.getTime() ? (now.getTime() - t) / 3_600_000 : 0;
}

/** The stack outputs of one deployment (what each means is documented in the README). */
export function deploymentOutputs(d: Deployment) {
  const { host, server, benchmark } = d;
  return {
    host: {
      instanceId: host.instanceId,
      ip: host.ip,
      region: host.region,
      instanceType: host.instanceType,
      hourlyPriceUsd: host.hourlyPriceUsd,
      sshCommand: host.sshCommand,
      cacheMountPath: host.cacheMountPath,
      // Lambda only: the random part of the stack's identity (re-attach with lambdaStackId after a full destroy).
      stackId: host.machine?.stackId,
      readyAt: host.readyAt,
      // Since the host passed its checks (billing starts a little earlier, at launch).
      costSoFarUsd: pulumi
        .all([host.hourlyPriceUsd, host.readyAt])
        .apply(([price, readyAt]) => Math.round(price * hoursSince(readyAt) * 100) / 100),
    },
    server: {
      endpoint: server.endpoint,
      apiKey: server.apiKey,
      servedModelName: server.servedModelName,
      imageDigest: server.imageDigest,
      dockerRunCommand: server.dockerRunCommand,
      timeline: server.timeline,
      criticalPath: server.criticalPath,
    },
    benchmark: benchmark && {
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
    },
  };
}
