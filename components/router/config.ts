/**
 * The router layer's config slice: the router keys (the schema entries Pulumi.yaml is generated from)
 * and their parser. The checks that need the planner run as `routerConfigCheck` in the stack; the port
 * clashes with the hosts' and workers' ports are config's cross-checks (they span layers).
 */
import type { SettingsReader } from "../configSlice";

export const ROUTER_KEYS = {
  routerImage: { type: "string", default: "", description: "Image that runs `python -m sglang_router.launch_router` (pinned to a release tag or digest); empty = `sglangImage`, whose SGLang release ships the matching `sglang-router` (no extra pull on the first host)." },
  routerPlacement: { type: "string", default: "first-replica", description: "Where the router runs: `first-replica` (host network on the first worker's host: no extra machine) or `own-host` (hostMode lambda: an instance of its own, `routerInstanceType`, so a worker's failure or replacement never takes the endpoint with it)." },
  routerInstanceType: { type: "string", default: "gpu_1x_a10", description: "With `routerPlacement: own-host`: the Lambda instance type of the router's host (the router needs no GPU; this is the cheapest type Lambda lists, about $0.75/h)." },
  routerPort: { type: "integer", default: 30000, description: "Port the router serves clients on (host network on its host): 1024-65535, not the SSH, serving or metrics port." },
  routerMetricsPort: { type: "integer", default: 29000, description: "Port of the router's Prometheus `/metrics` (`router.metricsEndpoint`)." },
  routerPolicy: { type: "string", default: "cache_aware", description: "Router load-balancing policy: `cache_aware` (repeated prefixes stick to the worker that has them cached), `round_robin`, `power_of_two` or `random`." },
  routerHealthCheckInterval: { type: "string", default: "10s", description: "How often the router probes each worker's `/health` (1s-10m); 3 failures take a worker out, 2 successes take it back." },
  routerDrainTimeout: { type: "string", default: "10m", description: "Rolling changes: how long a worker removed from the router may take to finish its in-flight requests before it is replaced anyway (0s-2h)." },
} as const;

export type RouterKey = keyof typeof ROUTER_KEYS;

export const ROUTER_POLICIES = ["cache_aware", "round_robin", "power_of_two", "random"] as const;
export type RouterPolicy = (typeof ROUTER_POLICIES)[number];
export const ROUTER_PLACEMENTS = ["first-replica", "own-host"] as const;
/** `first-replica`: on the first worker's host; `own-host`: on an instance of its own (lambda mode). */
export type RouterPlacement = (typeof ROUTER_PLACEMENTS)[number];

/** SGLang's router in front of the replicas (used only when `replicas` > 1). */
export interface RouterSettings {
  /** Image reference; `sglangImage` when the key is empty. */
  readonly image: string;
  readonly placement: RouterPlacement;
  /** Lambda instance type of the router's own host (`placement: own-host`). */
  readonly instanceType: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly policy: RouterPolicy;
  readonly healthCheckIntervalMs: number;
  readonly drainTimeoutMs: number;
}

/** Reads the router keys (used only when `replicas` > 1); an empty `routerImage` is the serving image. */
export function readRouterSettings(r: SettingsReader<RouterKey>, servingImage: string): RouterSettings {
  return {
    image: r.optionalString("routerImage") !== undefined ? r.imageRef("routerImage") : servingImage,
    placement: r.oneOf("routerPlacement", ROUTER_PLACEMENTS),
    instanceType: r.string("routerInstanceType"),
    port: r.integer("routerPort", 1, 65535),
    metricsPort: r.integer("routerMetricsPort", 1, 65535),
    policy: r.oneOf("routerPolicy", ROUTER_POLICIES),
    healthCheckIntervalMs: r.duration("routerHealthCheckInterval", { min: "1s", max: "10m" }),
    drainTimeoutMs: r.duration("routerDrainTimeout", { allowZero: true, max: "2h" }),
  };
}

