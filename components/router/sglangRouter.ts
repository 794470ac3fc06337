/**
 * SglangRouter: SGLang's router (Model Gateway) in front of N full copies of the model, one endpoint.
 *
 * Runs on a host the host layer hands over (by default the first replica's: host network, so it reaches
 * that host's worker on 127.0.0.1 and the others at their addresses through the host firewall).
 *
 * Children (all `${name}-<role>`, parent = this component):
 *   docker-provider   Docker engine on the router's host
 *   image             docker.RemoteImage of the pinned router image (locally: the image built from PyPI's wheel)
 *   release           reads the image's sglang-router version; fails unless the conformance suite covers it
 *   container         the router, started with every worker URL (it re-registers them after any restart)
 *   started           the router answers /health (before any worker is ready: workers register as they come up)
 *   drain-<worker>    rolling step before a worker's container is replaced (see `drain`)
 *   rejoin-<worker>   rolling step after the worker passed its readiness gate (see `rejoin`)
 *   ready             the readiness gate through the router: /health, /v1/models, one completion; `endpoint`
 *                     resolves only after it, once every worker rejoined
 *
 * Rolling changes, in Pulumi terms. Each worker's chain is
 *   rejoin(previous worker) -> drain(w) -> container(w) -> gate(w) -> rejoin(w) -> drain(next worker) ...
 * built from `dependsOn` (the Node SDK registers a resource only once everything it depends on finished
 * its step, so the chain is also the execution order).
 * - `drain(w)` is a command whose `triggers` hold the worker's spec hash: a spec change REPLACES it, and a
 *   command's replacement runs its `create` (remove from the router, wait for in-flight requests). It is
 *   create-before-delete (the default): its `delete` does nothing, so the old step's deletion at the end of
 *   the update is harmless.
 * - The worker's container depends on its drain, and is itself `deleteBeforeReplace` (the same name and
 *   port cannot exist twice), so the old container is deleted only after the drain finished.
 * - `rejoin(w)` is triggered by the container's id (unknown in preview when the container is replaced, so
 *   it re-runs) and waits for the worker's gate through the endpoint input.
 * - The next worker's drain depends on this rejoin: one worker out of rotation at a time, and the router
 *   always has the others. The price: on the FIRST deploy the workers' containers also start one after
 *   another (image pulls and weight downloads still run in parallel on every host).
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { HostConnection } from "../host/connection";
import { renderDockerRunCommand, toContainerArgs, CONTAINER_IGNORE_CHANGES, CONTAINER_REPLACE_ON } from "../serving/containerSpec";
import { contentRef } from "../image";
import { renderReadinessGateScript } from "../serving/readinessGate";
import { hostCommand, hostDockerProvider } from "../host/hostCommand";
import {
  COVERED_ROUTER_VERSIONS,
  planRouter,
  renderRouterReleaseCheckScript,
  ROUTER_API_KEY_ENV,
  WORKER_URLS_ENV,
  type RouterPlan,
  type RouterPlanInput,
} from "./routerPlan";
import { renderDrainScript, renderRejoinScript } from "./workerSteps";

export interface SglangRouterArgs {
  /** The router's host (SSH or this machine). */
  readonly connection: HostConnection;
  /** Resolves when that host is usable (its `readyAt`). */
  readonly hostReady: pulumi.Input<string>;
  /**
   * Pinned image that runs `python -m sglang_router.launch_router`.
   * @example "lmsysorg/sglang:v0.5.14" (ships sglang-router), "hgx/sglang-router:local" (built from PyPI's wheel)
   */
  readonly image: string;
  /** What to pull instead of `image`: the digest the first replica resolved the same image to. @default image */
  readonly pullImage?: pulumi.Input<string>;
  /** Worker URLs as the router reaches them, in replica order. */
  readonly workerUrls: pulumi.Input<string>[];
  /** The name clients send as `model` (the workers' served name). */
  readonly servedModelName: string;
  /**
   * Client port on the router's host.
   * @default 30000
   */
  readonly port?: number;
  /**
   * Prometheus port on the router's host.
   * @default 29000
   */
  readonly metricsPort?: number;
  /**
   * Load-balancing policy.
   * @default "cache_aware"
   */
  readonly policy?: RouterPlanInput["policy"];
  /**
   * Seconds between the router's health probes of each worker.
   * @default 10
   */
  readonly healthCheckIntervalSeconds?: number;
  /**
   * How long the router keeps registering a worker that is still booting, in seconds (the server's startup timeout).
   * @default 5400
   */
  readonly workerStartupTimeoutSeconds?: number;
  /**
   * Longest proxied request, in seconds.
   * @default 1800
   */
  readonly requestTimeoutSeconds?: number;
  /**
   * Rolling changes: how long a drained worker's in-flight requests may take, in seconds.
   * @default 600
   */
  readonly drainTimeoutSeconds?: number;
  /** The API key clients must send (a secret); the router forwards it to the workers. @default undefined (no auth) */
  readonly apiKey?: pulumi.Input<string>;
  /**
   * Bind the router's ports on 0.0.0.0 (a firewall allowlist reaches them) instead of 127.0.0.1.
   * @default false
   */
  readonly publish?: boolean;
  /**
   * Container name on the host.
   * @default `hgx-${stack}-router`
   */
  readonly containerName?: string;
}

/** The plan input an `SglangRouter` with these args builds (config validation uses the same function). */
export function routerPlanInputFor(args: Omit<SglangRouterArgs, "connection" | "hostReady" | "workerUrls" | "apiKey"> & { apiKey: boolean }, runtime: { project: string; stack: string }): RouterPlanInput {
  return {
    image: args.image,
    port: args.port ?? 30000,
    metricsPort: args.metricsPort ?? 29000,
    policy: args.policy ?? "cache_aware",
    healthCheckIntervalSeconds: args.healthCheckIntervalSeconds ?? 10,
    workerStartupTimeoutSeconds: args.workerStartupTimeoutSeconds ?? 5400,
    requestTimeoutSeconds: args.requestTimeoutSeconds ?? 1800,
    apiKey: args.apiKey,
    publish: args.publish ?? false,
    containerName: args.containerName ?? `hgx-${runtime.stack}-router`,
    project: runtime.project,
    stack: runtime.stack,
  };
}

export class SglangRouter extends pulumi.ComponentResource {
  /** Base URL clients use; resolves after the gate through the router passed (every worker rejoined). */
  readonly endpoint: pulumi.Output<string>;
  /** The router's Prometheus endpoint (`.../metrics`, `smg_*` series). */
  readonly metricsEndpoint: pulumi.Output<string>;
  /** Worker URLs as the router reaches them. */
  readonly workerUrls: pulumi.Output<string[]>;
  /** The equivalent `docker run`, secrets as `-e NAME`. */
  readonly dockerRunCommand: pulumi.Output<string>;
  /** What runs: the repo digest, or the image ID of an image built on the engine (see `contentRef`). */
  readonly imageDigest: pulumi.Output<string>;
  readonly plan: RouterPlan;
  readonly container: docker.Container;
  /** The router answers /health (the drain steps start after it). */
  readonly started: pulumi.Resource;

  private readonly args: SglangRouterArgs;
  private readonly name: string;
  private readonly drainTimeoutSeconds: number;
  private readonly rejoinTimeoutSeconds: number;
  private readonly publicHost: pulumi.Input<string>;

  constructor(name: string, args: SglangRouterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hgx:router:SglangRouter", name, {}, opts);
    this.name = name;
    this.args = args;
    const input = routerPlanInputFor({ ...args, apiKey: args.apiKey !== undefined }, { project: pulumi.getProject(), stack: pulumi.getStack() });
    const { plan, errors } = planRouter(input);
    if (plan === undefined) throw new pulumi.ResourceError(`invalid router configuration:\n- ${errors.join("\n- ")}`, this, true);
    this.plan = plan;
    this.drainTimeoutSeconds = args.drainTimeoutSeconds ?? 600;
    this.rejoinTimeoutSeconds = input.workerStartupTimeoutSeconds;
    const conn = args.connection;
    this.publicHost = conn.kind === "ssh" && input.publish ? conn.host : "127.0.0.1";

    const hostReady = pulumi.output(args.hostReady);
    const provider = hostDockerProvider(name, conn, hostReady, this);
    const image = new docker.RemoteImage(`${name}-image`, { name: args.pullImage ?? args.image, keepLocally: true }, { parent: this, provider });

    // Before the router starts: the image's sglang-router must be a release the conformance suite covers.
    const release = hostCommand(
      `${name}-release`,
      conn,
      hostReady,
      {
        script: image.imageId.apply((imageRef) => renderRouterReleaseCheckScript({ imageRef, configuredImage: args.image, covered: COVERED_ROUTER_VERSIONS })),
        secretLine: "",
        triggers: [image.imageId],
      },
      { parent: this, dependsOn: [image] },
    );

    this.workerUrls = pulumi.all(args.workerUrls);
    const secretEnv: Record<string, pulumi.Input<string>> = { [WORKER_URLS_ENV]: this.workerUrls.apply((u) => u.join(" ")) };
    if (args.apiKey !== undefined) secretEnv[ROUTER_API_KEY_ENV] = pulumi.secret(args.apiKey);
    this.container = new docker.Container(
      `${name}-container`,
      toContainerArgs(plan.spec, { imageId: image.imageId, secretEnv }),
      {
        parent: this,
        provider,
        dependsOn: [release.resource],
        // A new worker list, image or flag restarts the router: the endpoint is down for its restart (~seconds).
        replaceOnChanges: [...CONTAINER_REPLACE_ON],
        ignoreChanges: [...CONTAINER_IGNORE_CHANGES],
        deleteBeforeReplace: true,
      },
    );

    const started = hostCommand(
      `${name}-started`,
      conn,
      hostReady,
      {
        script: `for _ in $(seq 1 150); do curl -fsS -m 5 -o /dev/null ${plan.hostLocalUrl}/health && { echo "router up: ${plan.hostLocalUrl}"; exit 0; }; sleep 2; done; echo "router ${plan.hostLocalUrl}/health never answered within 300 s; see: docker logs ${plan.spec.name}" >&2; exit 1`,
        secretLine: "",
        triggers: [this.container.id],
      },
      { parent: this, dependsOn: [this.container] },
    );
    this.started = started.resource;
    this.metricsEndpoint = pulumi.all([this.publicHost, started.stdout]).apply(([h]) => `http://${h}:${input.metricsPort}/metrics`);
    this.dockerRunCommand = pulumi.output(renderDockerRunCommand(plan.spec));
    this.imageDigest = pulumi.all([image.repoDigest, image.imageId]).apply(([digest, id]) => contentRef(digest, id));

    // Resolved by `complete` once every worker's chain is built.
    let resolveReady!: (r: pulumi.Output<string>) => void;
    const gateStdout = new Promise<pulumi.Output<string>>((resolve) => (resolveReady = resolve));
    this.completeGate = resolveReady;
    this.endpoint = pulumi.output(gateStdout).apply((stdout) => pulumi.all([this.publicHost, stdout]).apply(([h]) => `http://${h}:${input.port}`));

    this.registerOutputs({
      endpoint: this.endpoint,
      metricsEndpoint: this.metricsEndpoint,
      workerUrls: this.workerUrls,
      dockerRunCommand: this.dockerRunCommand,
      imageDigest: this.imageDigest,
    });
  }

  private readonly completeGate: (stdout: pulumi.Output<string>) => void;

  /**
   * The drain step of worker `workerName` (see the header): runs when `specHash` changes, after `after`
   * (the previous worker's rejoin, or the router's start). The worker's container must depend on it.
   */
  drain(workerName: string, workerUrl: pulumi.Input<string>, specHash: string, after: pulumi.Resource): pulumi.Resource {
    const script = pulumi.output(workerUrl).apply((url) =>
      renderDrainScript({ routerUrl: this.plan.hostLocalUrl, workerUrl: url, timeoutSeconds: this.drainTimeoutSeconds }),
    );
    return hostCommand(
      `${this.name}-drain-${workerName}`,
      this.args.connection,
      this.args.hostReady,
      { script, secretLine: this.args.apiKey ?? "", triggers: [specHash, workerUrl] },
      { parent: this, dependsOn: [this.started, after] },
    ).resource;
  }

  /** The rejoin step of a worker: after its readiness gate (`workerEndpoint` resolves then), whenever its container changed. */
  rejoin(workerName: string, workerUrl: pulumi.Input<string>, worker: { readonly endpoint: pulumi.Output<string>; readonly container: docker.Container }): pulumi.Resource {
    const script = pulumi
      .all([workerUrl, worker.endpoint])
      .apply(([url]) => renderRejoinScript({ routerUrl: this.plan.hostLocalUrl, workerUrl: url, timeoutSeconds: this.rejoinTimeoutSeconds }));
    return hostCommand(
      `${this.name}-rejoin-${workerName}`,
      this.args.connection,
      this.args.hostReady,
      { script, secretLine: this.args.apiKey ?? "", triggers: [worker.container.id, workerUrl] },
      { parent: this, dependsOn: [this.started, worker.container] },
    ).resource;
  }

  /** The gate through the router after the last worker's rejoin; `endpoint` resolves after it. */
  complete(lastRejoin: pulumi.Resource, triggers: pulumi.Input<unknown>[]): void {
    const gate = hostCommand(
      `${this.name}-ready`,
      this.args.connection,
      this.args.hostReady,
      {
        script: renderReadinessGateScript({
          baseUrl: this.plan.hostLocalUrl,
          servedModelName: this.args.servedModelName,
          containerName: this.plan.spec.name,
          timeoutSeconds: 600,
        }),
        secretLine: this.args.apiKey ?? "",
        triggers: [this.container.id, ...triggers],
      },
      { parent: this, dependsOn: [lastRejoin] },
    );
    this.completeGate(gate.stdout);
  }
}
