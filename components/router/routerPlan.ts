/**
 * The router's plan: plain config -> the router container (one `ContainerSpec`, so the Pulumi container
 * and the human `docker run` line come from the same description) and the worker URLs it fronts. Pure;
 * called by config validation and by the `SglangRouter` component.
 *
 * The router is SGLang's own (`python -m sglang_router.launch_router`, PyPI `sglang-router`, the
 * "SGLang Model Gateway"). Two values never reach the stored argv:
 * - the API key (clients must send it; the router forwards it to the workers): like the server, a
 *   `sh -c` wrapper appends `--api-key "$SGLANG_API_KEY"` at exec time from a secret env var;
 * - the worker URLs: they hold the workers' addresses, known only once the hosts exist, so they travel
 *   in `ROUTER_WORKER_URLS` (plain env) and the wrapper word-splits them into `--worker-urls`. The
 *   router re-registers every worker from this list whenever it restarts; the rolling steps add and
 *   remove workers at runtime through its workers API (`POST /workers`, `DELETE /workers/{id}`).
 */
import { createHash } from "node:crypto";
import { healthProbeCommand, type ContainerSpec } from "../serving/containerSpec";
import { parseImageRef } from "../image";
import { SGLANG_RELEASE_CHOICES } from "../serving/sglang/args";
import { problem, renderProblem, type Problem } from "../serving/problem";

/**
 * The sglang-router releases whose argument parsing the conformance suite (scripts/conformance, run by
 * `npm test`) checks this project's router argv against. Which `sglang-router` an SGLang image ships is not
 * known in advance (some ship none), so the deploy reads it inside the chosen image before the router starts
 * (`renderRouterReleaseCheckScript`) and refuses any other.
 */
export const COVERED_ROUTER_VERSIONS: readonly string[] = [SGLANG_RELEASE_CHOICES.versions["sglang-router"]];

/**
 * Host script: the `sglang-router` version inside `imageRef` (a pulled image's id), checked against the
 * covered releases. Exit 0 and the version on stdout when covered; otherwise exit 1 with the fix. Runs with no
 * network and its own entrypoint, so nothing of the router starts.
 */
export function renderRouterReleaseCheckScript(input: { imageRef: string; configuredImage: string; covered: readonly string[] }): string {
  const covered = input.covered.join(" ");
  const probe = `import importlib.metadata as m; print(m.version("sglang-router"))`;
  return [
    "set -u",
    `version="$(docker run --rm --network none --entrypoint python3 '${input.imageRef}' -c '${probe}' 2>/dev/null | tail -n 1)" || version=""`,
    `case " ${covered} " in`,
    `  *" $version "*) [ -n "$version" ] && { echo "router image ${input.configuredImage} ships sglang-router $version (covered by the conformance suite)"; exit 0; } ;;`,
    "esac",
    `echo "router image ${input.configuredImage} ships \${version:+sglang-router }\${version:-no sglang-router}; this project's router argv is conformance-checked only against sglang-router ${covered}. ` +
      `Fix: pulumi config set hgx-inference:routerImage <an image with sglang-router ${covered}> (bash scripts/build-router-image.sh builds one from the pinned wheel), ` +
      `or cover that release: pin it in scripts/router-image/requirements.txt, bash scripts/conformance/lock.sh <sglang> <router>, bash scripts/conformance/regenerate-choices.sh, npm test" >&2`,
    "exit 1",
  ].join("\n");
}

/** Env var with the space-separated worker URLs the wrapper passes as `--worker-urls`. */
export const WORKER_URLS_ENV = "ROUTER_WORKER_URLS";
/** Env var with the API key (the same name the server uses, so one secret feeds both). */
export const ROUTER_API_KEY_ENV = "SGLANG_API_KEY";
const WRAPPER_ARGV0 = "sglang-router-launch";

/** The wrapper: worker URLs and (optionally) the key are appended at exec time, from env. */
export function routerWrapperScript(apiKey: boolean): string {
  const urls = `[ -n "$${WORKER_URLS_ENV}" ] || { echo "${WORKER_URLS_ENV} is empty: no workers to route to" >&2; exit 64; }; `;
  if (!apiKey) return `${urls}exec python -m sglang_router.launch_router "$@" --worker-urls $${WORKER_URLS_ENV}`;
  return (
    urls +
    `[ -n "$${ROUTER_API_KEY_ENV}" ] || { echo "${ROUTER_API_KEY_ENV} is empty: refusing to start an unauthenticated router" >&2; exit 64; }; ` +
    `exec python -m sglang_router.launch_router "$@" --worker-urls $${WORKER_URLS_ENV} --api-key "$${ROUTER_API_KEY_ENV}"`
  );
}

export const ROUTER_POLICY_NAMES = ["cache_aware", "round_robin", "power_of_two", "random"] as const;

/** Plain inputs of the router plan. */
export interface RouterPlanInput {
  readonly image: string;
  /** Client port (host network). */
  readonly port: number;
  /** Prometheus port (host network). */
  readonly metricsPort: number;
  readonly policy: (typeof ROUTER_POLICY_NAMES)[number];
  /** Seconds between the router's `/health` probes of each worker. */
  readonly healthCheckIntervalSeconds: number;
  /** How long the router keeps trying to register a worker that is still booting (the server's startup timeout). */
  readonly workerStartupTimeoutSeconds: number;
  /** How long one proxied request may take (the benchmark's longest request fits). */
  readonly requestTimeoutSeconds: number;
  /** Whether clients must send the API key. */
  readonly apiKey: boolean;
  /** Bind 0.0.0.0 (a firewall allowlist reaches it) instead of 127.0.0.1. */
  readonly publish: boolean;
  readonly containerName: string;
  readonly project: string;
  readonly stack: string;
}

export interface RouterPlan {
  readonly spec: ContainerSpec;
  /** The Python module's flags, without worker URLs and key (what the wrapper receives as "$@"). */
  readonly argv: readonly string[];
  readonly hostLocalUrl: string;
  readonly metricsHostLocalUrl: string;
}

/** Router flags: health checks, retries and circuit breakers explicitly on, with their values stated. */
export function renderRouterArgv(input: RouterPlanInput): string[] {
  const bind = input.publish ? "0.0.0.0" : "127.0.0.1";
  return [
    "--host", bind,
    "--port", String(input.port),
    "--policy", input.policy,
    "--prometheus-host", bind,
    "--prometheus-port", String(input.metricsPort),
    // A worker failing 3 probes in a row leaves the rotation; 2 passes bring it back.
    "--health-check-endpoint", "/health",
    "--health-check-interval-secs", String(input.healthCheckIntervalSeconds),
    "--health-check-timeout-secs", "20",
    "--health-failure-threshold", "3",
    "--health-success-threshold", "2",
    // A request that fails on one worker (connection refused, 5xx, 429) is retried, on another worker.
    "--retry-max-retries", "5",
    "--retry-initial-backoff-ms", "50",
    "--retry-max-backoff-ms", "5000",
    // 5 failures open a worker's circuit: no traffic for 30 s, then a probe request.
    "--cb-failure-threshold", "5",
    "--cb-success-threshold", "2",
    "--cb-timeout-duration-secs", "30",
    "--cb-window-duration-secs", "60",
    "--worker-startup-timeout-secs", String(input.workerStartupTimeoutSeconds),
    "--worker-startup-check-interval", "5",
    "--request-timeout-secs", String(input.requestTimeoutSeconds),
    "--log-level", "info",
  ];
}

/** Which router setting a problem is about: the inputs the plan checks. */
export type RouterProblemKey = keyof Pick<
  RouterPlanInput,
  "image" | "port" | "metricsPort" | "policy" | "healthCheckIntervalSeconds" | "workerStartupTimeoutSeconds" | "requestTimeoutSeconds"
>;
export type RouterProblem = Problem<RouterProblemKey>;

/** Pure validation of everything the plan renders, structured. */
export function routerPlanProblems(input: RouterPlanInput): RouterProblem[] {
  const problems: RouterProblem[] = [];
  const ref = parseImageRef(input.image);
  if (!/^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/.test(input.image) || ((ref.tag === undefined || ref.tag === "latest") && ref.digest === undefined)) {
    problems.push(
      problem("image", `router image "${input.image}" is not pinned (repository:tag or @sha256:digest, no latest)`, `pin a release, e.g. "lmsysorg/sglang:v${SGLANG_RELEASE_CHOICES.versions.sglang}" (optionally "@sha256:<digest>")`),
    );
  }
  for (const [name, port] of [["port", input.port], ["metricsPort", input.metricsPort]] as const)
    if (!(Number.isInteger(port) && port >= 1024 && port <= 65535)) problems.push(problem(name, `router ${name} ${port} must be an integer in 1024-65535`, "pick a free unprivileged port"));
  if (input.port === input.metricsPort) problems.push(problem("metricsPort", `router port and metricsPort are both ${input.port}`, "give the metrics their own port"));
  if (!(ROUTER_POLICY_NAMES as readonly string[]).includes(input.policy))
    problems.push(problem("policy", `router policy "${input.policy}" is not one of ${ROUTER_POLICY_NAMES.join(", ")}`, "pick one of them (cache_aware keeps a prompt prefix on one worker)"));
  for (const [name, v] of [
    ["healthCheckIntervalSeconds", input.healthCheckIntervalSeconds],
    ["workerStartupTimeoutSeconds", input.workerStartupTimeoutSeconds],
    ["requestTimeoutSeconds", input.requestTimeoutSeconds],
  ] as const)
    if (!(Number.isInteger(v) && v >= 1)) problems.push(problem(name, `router ${name} ${v} must be a whole number of seconds >= 1`, "use whole seconds, at least 1"));
  return problems;
}

/** The router plan's problems as printed. */
export function validateRouterPlan(input: RouterPlanInput): string[] {
  return routerPlanProblems(input).map(renderProblem);
}

/** A router plan, or every problem that stopped it. */
export interface RouterPlanResult {
  readonly plan?: RouterPlan;
  /** The problems, structured (the stack maps `key` to its config key). */
  readonly problems: RouterProblem[];
  /** The problems as printed (`renderProblem`). */
  readonly errors: string[];
}

/** Builds the plan or reports every problem. */
export function planRouter(input: RouterPlanInput): RouterPlanResult {
  const problems = routerPlanProblems(input);
  if (problems.length > 0) return { problems, errors: problems.map(renderProblem) };
  const argv = renderRouterArgv(input);
  const spec: ContainerSpec = {
    name: input.containerName,
    image: input.image,
    command: ["sh", "-c", routerWrapperScript(input.apiKey), WRAPPER_ARGV0, ...argv],
    env: {},
    // The worker list is plain but known late (host addresses): supplied with the secrets.
    secretEnvNames: [WORKER_URLS_ENV, ...(input.apiKey ? [ROUTER_API_KEY_ENV] : [])],
    gpus: undefined,
    ipcMode: "private",
    shmSizeMb: undefined,
    ulimits: [],
    volumes: [],
    ports: [],
    // Host network: the router reaches its own host's worker on 127.0.0.1 and clients reach it on the host's ports.
    network: "host",
    restart: "unless-stopped",
    labels: { "hgx.project": input.project, "hgx.stack": input.stack, "hgx.component": "router" },
    healthcheck: {
      // The router answers /health itself, as the workers do.
      test: ["CMD-SHELL", healthProbeCommand(input.port, "/health")],
      intervalSeconds: 10,
      timeoutSeconds: 10,
      retries: 3,
      startPeriodSeconds: 60,
    },
    logOpts: { "max-size": "100m", "max-file": "3" },
    stopGraceSeconds: 30,
  };
  return {
    problems: [],
    errors: [],
    plan: {
      spec,
      argv,
      hostLocalUrl: `http://127.0.0.1:${input.port}`,
      metricsHostLocalUrl: `http://127.0.0.1:${input.metricsPort}/metrics`,
    },
  };
}

/** A worker as the router sees it: the router's own host reaches its worker on loopback. */
export function workerUrlFor(workerHost: string, port: number, onRouterHost: boolean): string {
  return `http://${onRouterHost ? "127.0.0.1" : workerHost}:${port}`;
}

/** Hash of what restarts the router (image and flags; the worker list is judged separately). */
export function routerSpecHash(plan: RouterPlan): string {
  return createHash("sha256").update(JSON.stringify([plan.spec.image, plan.spec.command])).digest("hex").slice(0, 16);
}
