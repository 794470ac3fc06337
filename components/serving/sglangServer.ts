/**
 * SglangServer: SGLang in Docker on the host, from image pull to a verified endpoint.
 *
 * Children (all `${name}-<role>`, parent = this component):
 *   docker-ssh-files local.Command whose delete removes the provider's key and known_hosts files at destroy (SSH hosts)
 *   docker-provider  Docker engine on the host (ssh://user@host:port, key + pinned known_hosts in a private per-stack dir, or the local socket)
 *   boot-wait        remote/local Command (with `bootWork`): waits for the host's boot-time pull and
 *                    download still running, fails on a failed one, prints their TIMELINE lines
 *   image            docker.RemoteImage of the pinned SGLang release
 *   image-pulled     local.Command stamping when the pull finished (timeline only)
 *   cache-volume     docker.Volume for the HF cache, only when the host has no persistent filesystem
 *   weights          remote/local Command: `hf download` into that cache, IN PARALLEL with the image pull
 *   container        docker.Container, created and started (the provider does not wait for health)
 *   ready            remote/local Command: the readiness gate, started with the container: boot progress
 *                    and watchdog while /health is not 200, then /v1/models and one completion
 *
 * The endpoint output resolves only after the gate passed, so anything that depends on it
 * (the benchmark) waits on a real signal.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { HostConnection } from "../host/connection";
import {
  CONTAINER_IGNORE_CHANGES,
  CONTAINER_REPLACE_ON,
  HF_TOKEN_ENV,
  renderDockerRunCommand,
  toContainerArgs,
} from "./containerSpec";
import { hostCommand, hostDockerProvider, type HostCommandTransform } from "../host/hostCommand";
import { contentRef, pinnedPullRef } from "../image";
import { renderReadinessGateScript } from "./readinessGate";
import { renderProblem } from "./problem";
import { checkGpuFit, planServing, servingSpecHash, type ServingPlan, type ServingPlanInput, type ServingPlanResult, type ServingSettings } from "./servingPlan";
import { buildTimeline, criticalPath, type CriticalPath, type TimelinePhase } from "./timeline";
import { bootImageFrom, renderBootWaitScript } from "../host/bootWork";
import { DEFAULT_DOWNLOADER_IMAGE, downloaderImageFrom, isCommitRevision, loadRevisionFlags, renderWeightsDownloadScript, weightsCommitFrom, type WeightsDownloadOptions } from "./weights";

/** The server component's args: the plain serving settings (`ServingSettings`, shared with the plan's input) and what only the component needs. */
export interface SglangServerArgs extends ServingSettings {
  /** How to reach the host (from HgxHost): SSH, or this machine. */
  readonly connection: HostConnection;
  /**
   * Resolves when the host is usable (HgxHost's `readyAt`). Every child waits for it; when it is
   * an ISO time it also starts the timeline.
   */
  readonly hostReady: pulumi.Input<string>;
  /** GPUs on the host; tp x dp must fit. Checked now when plain, else once known. */
  readonly gpuCount: pulumi.Input<number>;
  /**
   * What to pull when it is not `image` itself: the digest (`repo@sha256:...`) another replica resolved `image`
   * to, so every replica runs one build however the tag moves. `image` still decides the plan (flags, checks).
   * @default image
   */
  readonly pullImage?: pulumi.Input<string>;
  /**
   * Hugging Face token (a secret), for gated models; never in argv, state in plain text or logs. It
   * goes to the weights step; the server container gets it only without `preDownload` (when it
   * downloads the weights itself), so the long-running container does not hold it.
   * @default undefined
   */
  readonly hfToken?: pulumi.Input<string>;
  /**
   * SGLang API key (a secret). Clients send `Authorization: Bearer <key>`; `/health` stays open.
   * @default undefined (no auth)
   */
  readonly apiKey?: pulumi.Input<string>;
  /**
   * Keep the cache volume on `pulumi destroy` (an existing on-prem host keeps its ~800 GB).
   * @default false
   */
  readonly retainCache?: boolean;
  /**
   * Image that runs `hf download`.
   * @default DEFAULT_DOWNLOADER_IMAGE (`python:3.12-slim@sha256:...`)
   */
  readonly downloaderImage?: string;
  /**
   * Resources the container waits for (beyond the host and the weights): a rolling change's drain step,
   * so the old container is replaced only once the router stopped sending it requests. The image pull
   * and the weights download do not wait for them.
   * @default []
   */
  readonly containerAfter?: readonly pulumi.Resource[];
  /**
   * Boot work on the host (components/host/bootWork.ts): before its own pull and download, the server
   * waits in `dir` for the boot-time ones still running and skips what they finished. `expected`: the
   * host was launched with boot work (Lambda), so a dir not there yet is waited for while cloud-init runs.
   * @default undefined (no boot wait)
   */
  readonly bootWork?: { readonly dir: string; readonly expected: boolean };
  /**
   * The plan `planServer` built from these same args, when the caller already has it (the stack plans each
   * replica once, for its spec hash and boot work, and hands it down); planned here when absent.
   * @default planServer(args)
   */
  readonly planned?: PlannedServer;
  /** Escape hatch: fields merged last into each child's args. */
  readonly transform?: {
    readonly provider?: Partial<docker.ProviderArgs>;
    readonly image?: Partial<docker.RemoteImageArgs>;
    readonly cacheVolume?: Partial<docker.VolumeArgs>;
    readonly weights?: HostCommandTransform;
    readonly container?: Partial<docker.ContainerArgs>;
    readonly gate?: HostCommandTransform;
  };
}

/**
 * A pre-downloaded branch: SGLang loads the commit the weights step recorded, not the branch (see
 * `loadRevisionFlags`). Undefined when nothing was pre-downloaded or the revision is already a commit.
 */
function loadedRevisionCommand(weightsLog: pulumi.Output<string> | undefined, revision: string, command: readonly string[]): pulumi.Output<string[]> | undefined {
  if (weightsLog === undefined || isCommitRevision(revision)) return undefined;
  return weightsLog.apply((log) => [...command, ...loadRevisionFlags(revision, weightsCommitFrom(log))]);
}

/**
 * The plain plan input an `SglangServer` with these args builds: one function, so the stack's config
 * checks before deploy, the boot work rendered into cloud-init and the router's plan use exactly the
 * component's plan.
 */
export function servingPlanInputFor(
  args: SglangServerArgs,
  runtime: { readonly project: string; readonly stack: string },
): ServingPlanInput & { readonly containerName: string; readonly preDownload: boolean } {
  return {
    engine: args.engine,
    image: args.image,
    allowLatest: args.allowLatest,
    preset: args.preset,
    flagOverrides: args.flagOverrides,
    extraFlags: args.extraFlags,
    port: args.port,
    firewallAllowlist: args.firewallAllowlist,
    publish: args.publish,
    gpuCount: typeof args.gpuCount === "number" ? args.gpuCount : undefined,
    cacheMountPath: args.cacheMountPath,
    cacheVolumeName: args.cacheVolumeName ?? `hgx-${runtime.stack}-hf-cache`,
    containerName: args.containerName ?? `hgx-${runtime.stack}-sglang`,
    apiKey: args.apiKey !== undefined,
    // The server needs the token only when it downloads the weights itself: after the weights step
    // pre-downloaded them, the long-running container (and `docker inspect`) never sees it.
    hfToken: args.hfToken !== undefined && !(args.preDownload ?? true),
    healthStartPeriod: args.healthStartPeriod,
    waitTimeout: args.waitTimeout,
    readinessTimeout: args.readinessTimeout,
    project: runtime.project,
    stack: runtime.stack,
    labels: args.labels,
    preDownload: args.preDownload ?? true,
    weightsRevision: args.weightsRevision,
    gpuHost: args.gpuHost,
    omitMemlockUlimit: args.omitMemlockUlimit,
  };
}

/** The resolved plan input of a server. */
export type ServerPlanInput = ReturnType<typeof servingPlanInputFor>;

/** A server's plan, built once from its args, with the input it was built from. */
export interface PlannedServer {
  readonly input: ServerPlanInput;
  readonly result: ServingPlanResult;
}

/**
 * Plans a server from its args: what the component does when it is given no `planned`, and what the
 * stack calls once per replica to read the spec hash before the component exists.
 */
export function planServer(args: SglangServerArgs, runtime: { readonly project: string; readonly stack: string }): PlannedServer {
  const input = servingPlanInputFor(args, runtime);
  return { input, result: planServing(input) };
}

/**
 * The weights download this server runs: one definition, so the boot work (cloud-init) runs exactly
 * the same script (downloader container name, cache mount, completion marker) as the serving layer.
 */
export function weightsDownloadOptionsFor(
  args: Pick<SglangServerArgs, "weightsRevision" | "downloaderImage">,
  plan: Pick<ServingPlan, "flags" | "cacheMount">,
  runtime: { readonly project: string; readonly stack: string; readonly containerName: string },
): WeightsDownloadOptions {
  return {
    model: plan.flags.modelPath,
    revision: args.weightsRevision,
    cacheMount: plan.cacheMount,
    containerName: `${runtime.containerName}-weights`,
    downloaderImage: args.downloaderImage ?? DEFAULT_DOWNLOADER_IMAGE,
    labels: { "hgx.project": runtime.project, "hgx.stack": runtime.stack, "hgx.component": "serving-weights" },
  };
}

export class SglangServer extends pulumi.ComponentResource {
  /** Base URL clients use; resolves only after the readiness gate passed. Host-local (127.0.0.1) unless published. */
  readonly endpoint: pulumi.Output<string>;
  /** `http://127.0.0.1:<port>`, valid on the host itself; gated like `endpoint`. */
  readonly hostLocalEndpoint: pulumi.Output<string>;
  /** The API key (secret), or undefined when auth is off. */
  readonly apiKey: pulumi.Output<string | undefined>;
  /** The `model` clients send. */
  readonly servedModelName: pulumi.Output<string>;
  /** What runs: the pulled image's repo digest (`repo@sha256:...`), or its image ID when it has none (built on the engine). */
  readonly imageDigest: pulumi.Output<string>;
  /** What another replica pulls to run this same build (see `pinnedPullRef`). */
  readonly pinnedImage: pulumi.Output<string>;
  /** What this host's boot-time pull resolved the image to (`bootImageFrom`); "" without one. */
  readonly bootImage: pulumi.Output<string>;
  /** What the weights downloader's image resolved to on the host and ran as (`downloaderImageFrom`); "" without a pre-download. */
  readonly downloaderImage: pulumi.Output<string>;
  /** The model commit the weights step downloaded or found (`WEIGHTS commit`); "" without a pre-download. */
  readonly weightsCommit: pulumi.Output<string>;
  /** The equivalent `docker run` line, secrets as `-e NAME` (filled from the caller's environment). */
  readonly dockerRunCommand: pulumi.Output<string>;
  readonly containerName: pulumi.Output<string>;
  /** Startup phases with ISO start/end times (see `TIMELINE_MEANINGS`). */
  readonly timeline: pulumi.Output<TimelinePhase[]>;
  /** The timeline's longest chain and the seconds the stack added between its phases (null when a phase has no times). */
  readonly criticalPath: pulumi.Output<CriticalPath | null>;
  /** Non-fatal configuration findings (also logged). */
  readonly configWarnings: string[];
  /** The validated plan (flags, argv, container spec). */
  readonly plan: ServingPlan;
  /** Hash of the image and the SGLang argv: what the benchmark keys its re-runs on. */
  readonly specHash: string;

  readonly provider: docker.Provider;
  readonly image: docker.RemoteImage;
  readonly cacheVolume?: docker.Volume;
  readonly container: docker.Container;

  constructor(name: string, args: SglangServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hgx:serving:SglangServer", name, {}, opts);

    // 1. Plain values -> validated plan (throws with every problem at once).
    const runtime = { project: pulumi.getProject(), stack: pulumi.getStack() };
    const { input, result } = args.planned ?? planServer(args, runtime);
    const plan = acceptedPlan(result, this);
    this.plan = plan;
    this.specHash = servingSpecHash(plan);
    this.configWarnings = result.warnings;
    const step: StepContext = { name, args, conn: args.connection, hostReady: gpuCheckedHostReady(args, plan, this), parent: this };

    // 2. Docker engine on the host.
    this.provider = hostDockerProvider(name, step.conn, step.hostReady, this, args.transform?.provider);
    const onHost = { parent: this, provider: this.provider };

    // 3. Boot work: wait for the boot-time pull and download still running (an explicit wait, so the
    //    timeline is honest: docker would join an in-flight pull silently); skip what they finished.
    const bootWait = bootWaitStep(step);
    const afterBoot = bootWait ? [bootWait.resource] : [];
    // What the boot-time pull on this host resolved the image to ("" when it did not pull): pulled as is below.
    this.bootImage = bootWait ? bootWait.stdout.apply((out) => bootImageFrom(out, args.image)) : pulumi.output("");

    // 4. Image pull and weights download, both depending only on host readiness (and the boot wait).
    const pulled = imageSteps(step, this.bootImage, { ...onHost, dependsOn: afterBoot });
    this.image = pulled.image;
    this.cacheVolume = plan.cacheMount.kind === "volume" ? cacheVolumeStep(step, plan, plan.cacheMount.volumeName, { ...onHost, dependsOn: afterBoot }) : undefined;
    const cacheDeps: pulumi.Resource[] = this.cacheVolume ? [this.cacheVolume] : [];
    const weights = input.preDownload ? weightsStep(step, plan, { runtime, containerName: input.containerName }, [...cacheDeps, ...afterBoot]) : undefined;

    // 5. The server container, started; the gate below waits for it to serve.
    const serverCommand = loadedRevisionCommand(weights?.stdout, args.weightsRevision ?? "main", plan.spec.command);
    this.container = containerStep(step, plan, { imageId: this.image.imageId, secretEnv: secretEnvFor(args, plan, input), command: serverCommand }, {
      ...onHost,
      // Weights complete before the server starts, so SGLang never downloads concurrently.
      dependsOn: [...cacheDeps, ...(weights !== undefined ? [weights.resource] : []), ...(args.containerAfter ?? [])],
    });

    // 6. Readiness gate: boot progress and watchdog, then a real request path (not Docker's health
    //    status, which lags by up to a health-check interval). Its bound covers the boot and the checks.
    const gate = readinessGateStep(step, plan, input.containerName, this.container);

    // 7. Outputs, gated on the readiness gate.
    const hostLocalBase = `http://127.0.0.1:${plan.hostPort}`;
    const publicHost: pulumi.Input<string> = step.conn.kind === "ssh" && plan.publiclyBound ? step.conn.host : "127.0.0.1";
    this.endpoint = pulumi.all([publicHost, gate.stdout]).apply(([h]) => `http://${h}:${plan.hostPort}`);
    this.hostLocalEndpoint = gate.stdout.apply(() => hostLocalBase);
    this.apiKey = args.apiKey !== undefined ? pulumi.secret(pulumi.output(args.apiKey)) : pulumi.output(undefined);
    this.servedModelName = pulumi.output(plan.servedModelName);
    this.imageDigest = pulumi.all([this.image.repoDigest, this.image.imageId]).apply(([digest, id]) => contentRef(digest, id));
    this.pinnedImage = pulumi.all([this.image.repoDigest, this.image.imageId]).apply(([digest, id]) => pinnedPullRef(args.image, digest, id));
    this.weightsCommit = weights ? weights.stdout.apply(weightsCommitFrom) : pulumi.output("");
    this.downloaderImage = weights ? weights.stdout.apply((log) => downloaderImageFrom(log, args.downloaderImage ?? DEFAULT_DOWNLOADER_IMAGE)) : pulumi.output("");
    this.dockerRunCommand = dockerRunCommandOf(plan, this.imageDigest, serverCommand);
    this.containerName = pulumi.output(input.containerName);
    this.timeline = pulumi
      .all([args.hostReady, pulled.pulledAt, weights?.stdout ?? pulumi.output(""), gate.stdout, bootWait?.stdout ?? pulumi.output("")])
      .apply(([hostReadyAt, pulledAt, weightsLog, gateLog, bootWaitLog]) =>
        buildTimeline({ hostReadyAt, imagePulledAt: pulledAt, weightsLog, gateLog, bootWaitLog }),
      );
    this.criticalPath = this.timeline.apply((t) => criticalPath(t) ?? null);

    this.registerOutputs({
      endpoint: this.endpoint,
      hostLocalEndpoint: this.hostLocalEndpoint,
      apiKey: this.apiKey,
      servedModelName: this.servedModelName,
      imageDigest: this.imageDigest,
      bootImage: this.bootImage,
      downloaderImage: this.downloaderImage,
      weightsCommit: this.weightsCommit,
      dockerRunCommand: this.dockerRunCommand,
      containerName: this.containerName,
      timeline: this.timeline,
      criticalPath: this.criticalPath,
    });
  }
}

/** What every child step of a server needs. */
interface StepContext {
  readonly name: string;
  readonly args: SglangServerArgs;
  readonly conn: HostConnection;
  /** The host's readiness, after the late GPU-fit check: every child waits for it. */
  readonly hostReady: pulumi.Output<string>;
  readonly parent: pulumi.ComponentResource;
}

/** A command run on the host, and its stdout. */
type HostStep = { readonly resource: pulumi.CustomResource; readonly stdout: pulumi.Output<string> };

/** The plan, or a ResourceError listing every problem; warnings are logged on the component. */
function acceptedPlan(result: ServingPlanResult, component: pulumi.ComponentResource): ServingPlan {
  if (result.plan === undefined) {
    throw new pulumi.ResourceError(`invalid serving configuration:\n- ${result.errors.join("\n- ")}`, component, true);
  }
  for (const w of result.warnings) pulumi.log.warn(w, component);
  return result.plan;
}

/** Host readiness that also carries the GPU fit once the GPU count is known: a misfit fails the dependent children, loudly. */
function gpuCheckedHostReady(args: SglangServerArgs, plan: ServingPlan, component: pulumi.ComponentResource): pulumi.Output<string> {
  const extraFlags = args.extraFlags ?? [];
  const gpuChecked: pulumi.Output<number> = pulumi.output(args.gpuCount).apply((n) => {
    const fit = checkGpuFit(plan.flags, extraFlags, n).map(renderProblem);
    if (fit.length > 0) throw new pulumi.ResourceError(`invalid serving configuration:\n- ${fit.join("\n- ")}`, component, true);
    return n;
  });
  return pulumi.all([args.hostReady, gpuChecked]).apply(([r]) => r);
}

/** The secret env values the container's spec names: the API key, and the HF token only when the server downloads itself. */
function secretEnvFor(args: SglangServerArgs, plan: ServingPlan, input: ServerPlanInput): Record<string, pulumi.Input<string>> {
  const secretEnv: Record<string, pulumi.Input<string>> = {};
  if (args.apiKey !== undefined) secretEnv[plan.engine.apiKeyEnv] = pulumi.secret(args.apiKey);
  if (args.hfToken !== undefined && input.hfToken) secretEnv[HF_TOKEN_ENV] = pulumi.secret(args.hfToken);
  return secretEnv;
}

/** `${name}-boot-wait`: waits for the host's boot-time pull and download (only with boot work). */
function bootWaitStep({ name, args, conn, hostReady, parent }: StepContext): HostStep | undefined {
  if (!args.bootWork) return undefined;
  return hostCommand(
    `${name}-boot-wait`,
    conn,
    hostReady,
    {
      script: renderBootWaitScript({ dir: args.bootWork.dir, expected: args.bootWork.expected, weightsFallback: args.hfToken !== undefined }),
      secretLine: "",
    },
    { parent },
  );
}

/**
 * `${name}-image`, the server image (kept on the host when a container is replaced: no re-pull of ~20 GB),
 * and `${name}-image-pulled`, stamping when the pull finished (timeline only).
 */
function imageSteps({ name, args, parent }: StepContext, bootImage: pulumi.Output<string>, opts: pulumi.CustomResourceOptions): { image: docker.RemoteImage; pulledAt: pulumi.Output<string> } {
  const image = new docker.RemoteImage(
    `${name}-image`,
    // The first resolution of a tag wins: another replica's (pullImage), else this host's boot-time pull.
    { name: args.pullImage ?? bootImage.apply((booted) => booted || args.image), keepLocally: true, ...args.transform?.image },
    opts,
  );
  const stamp = new command.local.Command(
    `${name}-image-pulled`,
    { create: "date -u +%Y-%m-%dT%H:%M:%SZ", triggers: [image.repoDigest], logging: "none" },
    { parent, dependsOn: [image] },
  );
  return { image, pulledAt: stamp.stdout };
}

/** `${name}-cache-volume`: the named volume holding the HF cache when the host has no persistent filesystem. */
function cacheVolumeStep({ name, args }: StepContext, plan: ServingPlan, volumeName: string, opts: pulumi.CustomResourceOptions): docker.Volume {
  return new docker.Volume(
    `${name}-cache-volume`,
    { name: volumeName, labels: Object.entries(plan.spec.labels).map(([label, value]) => ({ label, value })), ...args.transform?.cacheVolume },
    { ...opts, retainOnDelete: args.retainCache ?? false },
  );
}

/** `${name}-weights`: `hf download` into the cache, in parallel with the image pull; the token only on stdin. */
function weightsStep(
  { name, args, conn, hostReady, parent }: StepContext,
  plan: ServingPlan,
  names: { readonly runtime: { readonly project: string; readonly stack: string }; readonly containerName: string },
  dependsOn: pulumi.Resource[],
): HostStep {
  const script = renderWeightsDownloadScript(weightsDownloadOptionsFor(args, plan, { ...names.runtime, containerName: names.containerName }));
  pulumi.log.info(`weights: pre-downloading ${plan.flags.modelPath} in parallel with the image pull (progress lines every 30 s)`, parent);
  // Token on stdin (secret input), read by the script; never on a command line.
  return hostCommand(`${name}-weights`, conn, hostReady, { script, secretLine: args.hfToken ?? "", transform: args.transform?.weights }, { parent, dependsOn });
}

/** `${name}-container`: the server, created and started; replaced only when what it serves changes. */
function containerStep(
  { name, args, parent }: StepContext,
  plan: ServingPlan,
  run: { readonly imageId: pulumi.Input<string>; readonly secretEnv: Record<string, pulumi.Input<string>>; readonly command: pulumi.Output<string[]> | undefined },
  opts: pulumi.CustomResourceOptions,
): docker.Container {
  const containerArgs = toContainerArgs(plan.spec, { imageId: run.imageId, secretEnv: run.secretEnv });
  pulumi.log.info(
    `container ${plan.spec.name}: waiting up to ${Math.round(plan.waitTimeoutSeconds / 60)} min for /health (cold 400B boot: load 5-15 min + CUDA graphs)`,
    parent,
  );
  return new docker.Container(`${name}-container`, { ...containerArgs, command: run.command ?? containerArgs.command, ...args.transform?.container }, {
    ...opts,
    // What is served changes -> replace; metadata/orchestration knobs never restart a 1-hour boot.
    replaceOnChanges: [...CONTAINER_REPLACE_ON],
    ignoreChanges: [...CONTAINER_IGNORE_CHANGES],
    deleteBeforeReplace: true,
  });
}

/** `${name}-ready`: the readiness gate, started with the container and re-run whenever it is replaced. */
function readinessGateStep({ name, args, conn, hostReady, parent }: StepContext, plan: ServingPlan, containerName: string, container: docker.Container): HostStep {
  return hostCommand(
    `${name}-ready`,
    conn,
    hostReady,
    {
      script: renderReadinessGateScript({
        baseUrl: `http://127.0.0.1:${plan.hostPort}`,
        servedModelName: plan.servedModelName,
        containerName,
        timeoutSeconds: plan.waitTimeoutSeconds + plan.readinessTimeoutSeconds,
      }),
      secretLine: args.apiKey ?? "",
      triggers: [container.id],
      transform: args.transform?.gate,
    },
    { parent, dependsOn: [container] },
  );
}

/** What runs, as a `docker run` line: the image by the content it resolved to, and the command with the revision it loads. */
function dockerRunCommandOf(plan: ServingPlan, imageDigest: pulumi.Output<string>, serverCommand: pulumi.Output<string[]> | undefined): pulumi.Output<string> {
  return pulumi
    .all([imageDigest, pulumi.output(serverCommand ?? plan.spec.command)])
    .apply(([image, serving]) => renderDockerRunCommand({ ...plan.spec, image, command: (serving ?? plan.spec.command).map(String) }));
}
