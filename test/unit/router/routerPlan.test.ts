import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  COVERED_ROUTER_VERSIONS,
  planRouter,
  renderRouterArgv,
  renderRouterReleaseCheckScript,
  routerWrapperScript,
  workerUrlFor,
  type RouterPlanInput,
} from "../../../components/router/routerPlan";
import { workerRouteFor } from "../../../components/router/tunnel";
import { renderDockerRunCommand, toContainerArgs } from "../../../components/serving/containerSpec";
import { type RawConfig } from "../../../components/config";
import { configProblems as problems } from "../../fixtures/configProblems";
import { hostArgsFor, parseWithLayerChecks, replicaPort, routerArgsFor, routerConfigCheck, routerHostArgsFor, routerSourceCidr, scalingEfficiencyOf } from "../../../components/stack";

const base: RouterPlanInput = {
  image: "lmsysorg/sglang:v0.5.14",
  port: 30000,
  metricsPort: 29000,
  policy: "cache_aware",
  healthCheckIntervalSeconds: 10,
  workerStartupTimeoutSeconds: 5400,
  requestTimeoutSeconds: 7200,
  apiKey: true,
  publish: false,
  containerName: "hgx-inference-dev-router",
  project: "hgx-inference",
  stack: "dev",
};

function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i < 0 ? undefined : argv[i + 1];
}

describe("planRouter", () => {
  it("renders the router with health checks, retries and circuit breakers on, bound to loopback unless published", () => {
    const { plan, errors } = planRouter(base);
    expect(errors).toEqual([]);
    const argv = plan!.argv;
    expect(flag(argv, "--policy")).toBe("cache_aware");
    expect(flag(argv, "--host")).toBe("127.0.0.1");
    expect(flag(argv, "--prometheus-port")).toBe("29000");
    expect(flag(argv, "--health-check-interval-secs")).toBe("10");
    expect(flag(argv, "--health-failure-threshold")).toBe("3");
    expect(Number(flag(argv, "--retry-max-retries"))).toBeGreaterThan(1);
    expect(Number(flag(argv, "--cb-failure-threshold"))).toBeGreaterThan(0);
    expect(argv).not.toContain("--disable-retries");
    expect(argv).not.toContain("--disable-circuit-breaker");
    expect(argv).not.toContain("--disable-health-check");
    expect(flag(renderRouterArgv({ ...base, publish: true }), "--host")).toBe("0.0.0.0");
    expect(plan!.spec.network).toBe("host");
    expect(plan!.spec.ports).toEqual([]);
  });

  it("keeps the key and the worker list out of argv: the wrapper appends them from env at exec time", () => {
    const { plan } = planRouter(base);
    const args = toContainerArgs(plan!.spec, { imageId: "sha256:x", secretEnv: { ROUTER_WORKER_URLS: "http://10.0.0.2:8000", SGLANG_API_KEY: "sk-123" } });
    expect(JSON.stringify(args.command)).not.toContain("sk-123");
    expect(JSON.stringify(args.command)).not.toContain("10.0.0.2");
    expect(args.networkMode).toBe("host");
    expect(routerWrapperScript(true)).toContain('--worker-urls $ROUTER_WORKER_URLS --api-key "$SGLANG_API_KEY"');
    expect(routerWrapperScript(true)).toContain("refusing to start an unauthenticated router");
    expect(routerWrapperScript(false)).not.toContain("--api-key");
    const line = renderDockerRunCommand(plan!.spec);
    expect(line).toContain("--network host");
    expect(line).toContain("-e SGLANG_API_KEY \\");
    expect(line).not.toContain("sk-123");
  });

  it("reports every problem at once", () => {
    const { plan, errors } = planRouter({ ...base, image: "lmsysorg/sglang:latest", port: 80, metricsPort: 80, policy: "fastest" as RouterPlanInput["policy"], healthCheckIntervalSeconds: 0 });
    expect(plan).toBeUndefined();
    expect(errors.join("\n")).toMatch(/not pinned/);
    expect(errors.join("\n")).toMatch(/port 80 must be an integer in 1024-65535/);
    expect(errors.join("\n")).toMatch(/both 80/);
    expect(errors.join("\n")).toMatch(/policy "fastest"/);
    expect(errors.join("\n")).toMatch(/healthCheckIntervalSeconds 0/);
  });

  it("names each problem's setting, so the stack maps it to a config key without reading the text", () => {
    const { problems } = planRouter({ ...base, port: 80, policy: "fastest" as RouterPlanInput["policy"] });
    expect(problems.map((p) => p.key)).toEqual(["port", "policy"]);
    expect(problems[0]).toEqual({ key: "port", message: "router port 80 must be an integer in 1024-65535", fix: "pick a free unprivileged port" });
    const c = parseWithLayerChecks({ hostMode: "local", replicas: "2", sglangImage: "hgx/sglang-sim:local", routerImage: "hgx/sglang-router:local", sglangApiKey: "s" }, { stack: "t" });
    const found = routerConfigCheck({ ...c, router: { ...c.router, port: 80, policy: "fastest" as typeof c.router.policy } });
    expect(found.map((p) => p.key)).toEqual(["routerPort", "routerPolicy"]);
    expect(found[1].message).toMatch(/^router policy "fastest" is not one of .*\. Fix: pick one of them .*: pulumi config set hgx-inference:routerPolicy <value>$/);
  });

  it("reaches the worker on its own host through loopback, the others at their address", () => {
    expect(workerUrlFor("203.0.113.7", 8000, true)).toBe("http://127.0.0.1:8000");
    expect(workerUrlFor("203.0.113.8", 8000, false)).toBe("http://203.0.113.8:8000");
  });

  it("reaches a worker on another Lambda host at its private address in the router's region, through its tunnel from another, never at a public address", () => {
    expect(workerRouteFor({ name: "hgx-2", region: "us-east-1", privateIp: "10.19.0.11" }, "us-east-1", 8000, 38001)).toEqual({ via: "private", url: "http://10.19.0.11:8000" });
    expect(workerRouteFor({ name: "hgx-3", region: "us-west-1", privateIp: "10.20.0.4" }, "us-east-1", 8000, 38002)).toEqual({ via: "tunnel", url: "http://127.0.0.1:38002" });
    // No tunnel built (one region configured) and yet elsewhere: refused with the fix, not reached in clear.
    const across = workerRouteFor({ name: "hgx-3", region: "us-west-1", privateIp: "10.20.0.4" }, "us-east-1", 8000, undefined);
    expect("problem" in across && across.problem).toMatch(/worker hgx-3 is in us-west-1 and the router's host in us-east-1, .*never reaches a worker in clear.*Fix: pulumi config set hgx-inference:lambdaRegions '\["us-east-1","us-west-1"\]'/);
    const none = workerRouteFor({ name: "hgx-2", region: "us-east-1", privateIp: "" }, "us-east-1", 8000, 38001);
    expect("problem" in none && none.problem).toMatch(/worker hgx-2 has no private address .*Fix: pulumi refresh/);
    expect(routerSourceCidr("10.19.0.20")).toBe("10.19.0.20/32");
    expect(() => routerSourceCidr("")).toThrow(/router's host has no private address .*Fix: pulumi refresh/);
  });
});

describe("router settings in the stack config", () => {
  const local: RawConfig = { hostMode: "local", replicas: "2", sglangImage: "hgx/sglang-sim:local", routerImage: "hgx/sglang-router:local", sglangApiKey: "s" };

  it("gives local replicas consecutive ports and defaults the router image to the SGLang image", () => {
    const c = parseWithLayerChecks({ ...local, sglangPort: "18000" }, { stack: "t" });
    expect([0, 1].map((i) => replicaPort(c, i))).toEqual([18000, 18001]);
    const lambda = parseWithLayerChecks({ hostMode: "lambda", lambdaApiKey: "k", replicas: "3", sglangApiKey: "s" }, { stack: "t" });
    expect([0, 1, 2].map((i) => replicaPort(lambda, i))).toEqual([8000, 8000, 8000]);
    expect(lambda.router.image).toBe(lambda.sglang.image);
    const args = routerArgsFor(c, { connection: { kind: "local" }, readyAt: "", gpuCount: 8 }, []);
    expect(args).toMatchObject({ image: "hgx/sglang-router:local", port: 30000, metricsPort: 29000, policy: "cache_aware", healthCheckIntervalSeconds: 10, drainTimeoutSeconds: 600 });
  });

  it("refuses router ports that clash with a worker, SSH or each other, an unknown policy, an unpinned image, and replicas on one existing host", () => {
    const found = problems({ ...local, sglangPort: "18000", routerPort: "18001", routerMetricsPort: "22", routerPolicy: "fastest" });
    expect(found.join("\n")).toMatch(/routerPort: = 18001 is a worker's serving port \(18000, 18001\)/);
    expect(found.join("\n")).toMatch(/routerMetricsPort: = 22 is the host's SSH port/);
    expect(found.join("\n")).toMatch(/routerPolicy/);
    expect(problems({ ...local, routerImage: "hgx/sglang-router:latest" }).join("\n")).toMatch(/routerImage: .*not a pinned image/);
    expect(problems({ hostMode: "existing", sshHost: "10.0.0.1", sshPrivateKey: "k", replicas: "2" }).join("\n")).toMatch(/replicas: = 2 needs one host per replica/);
    // Routed without a key: the workers and the router's /workers API would take anyone's requests.
    expect(problems({ hostMode: "local", replicas: "2" }).join("\n")).toMatch(/sglangApiKey: is required when replicas = 2: .*Fix: pulumi config set --secret hgx-inference:sglangApiKey/);
    expect(problems({ ...local, replicas: "1" }).join("\n")).not.toMatch(/sglangApiKey/);
    // Tunnels listen on the router's host at 38000 + replica index when workers may land in other regions.
    const lambda3 = { hostMode: "lambda", lambdaApiKey: "k", replicas: "3", sglangApiKey: "s", lambdaRegions: JSON.stringify(["us-east-1", "us-west-1"]) };
    expect(problems({ ...lambda3, routerPort: "38001" }).join("\n")).toMatch(/routerPort: = 38001 is one of the router host's tunnel ports \(38000-38002.*Fix: pulumi config set hgx-inference:routerPort/);
    expect(problems({ ...lambda3, routerPort: "38003" })).toEqual([]);
    expect(problems({ ...lambda3, routerPort: "38001", lambdaRegions: JSON.stringify(["us-east-1"]) })).toEqual([]);
    // One replica: no router, so router settings are not checked against anything.
    expect(problems({ ...local, replicas: "1", routerPort: "18000", sglangPort: "18000" })).toEqual([]);
  });
});

describe("scalingEfficiencyOf", () => {
  it("divides the routed throughput by workers × one worker's, and refuses to divide by nothing", () => {
    expect(scalingEfficiencyOf(2400, 1250, 2)).toBe(0.96);
    expect(scalingEfficiencyOf(3900, 1250, 3)).toBe(1.04);
    expect(scalingEfficiencyOf(2400, 0, 2)).toBe(0);
    expect(scalingEfficiencyOf(Number.NaN, 1250, 2)).toBe(0);
  });
});

describe("the router on a host of its own (routerPlacement: own-host)", () => {
  const lambda: RawConfig = { hostMode: "lambda", lambdaApiKey: "k", replicas: "2", routerPlacement: "own-host", lambdaFilesystemName: "hf-cache", sglangApiKey: "s" };

  it("launches a cheap GPU-less-checked instance with the router's ports and no cache filesystem", () => {
    const c = parseWithLayerChecks(lambda, { stack: "t" });
    const args = routerHostArgsFor(c);
    expect(args.mode).toBe("lambda");
    expect(args.gpus).toBe(false);
    expect(args.lambda).toMatchObject({ instanceType: "gpu_1x_a10", servingPort: 30000, extraPorts: [29000], regions: c.lambda?.regions });
    expect(args.lambda!.filesystemName).toBeUndefined();
    expect(args.lambda!.servingSources).toBeUndefined();
    expect(routerHostArgsFor(parseWithLayerChecks({ ...lambda, routerInstanceType: "gpu_1x_a100" }, { stack: "t" })).lambda!.instanceType).toBe("gpu_1x_a100");
  });

  it("keeps the router's ports off every worker and admits the router's host on each worker's serving port", () => {
    const c = parseWithLayerChecks(lambda, { stack: "t" });
    for (const index of [0, 1]) {
      const worker = hostArgsFor(c, index, { routerHostIp: "198.51.100.20" }).lambda!;
      expect(worker.extraPorts, `replica ${index}`).toBeUndefined();
      expect(worker.servingSources, `replica ${index}`).toHaveLength(1);
      expect(worker.filesystemName).toBe("hf-cache");
    }
    // The default placement: the router's ports on the first replica's host.
    const first = parseWithLayerChecks({ ...lambda, routerPlacement: "first-replica" }, { stack: "t" });
    expect(hostArgsFor(first, 0).lambda!.extraPorts).toEqual([30000, 29000]);
    expect(hostArgsFor(first, 1).lambda!.extraPorts).toBeUndefined();
  });

  it("lets the router use the workers' port on its own host, and refuses own-host outside lambda mode or with a bad type", () => {
    expect(problems({ ...lambda, routerPort: "8000" })).toEqual([]);
    expect(problems({ ...lambda, routerPlacement: "first-replica", routerPort: "8000" }).join("\n")).toMatch(/routerPort: = 8000 is a worker's serving port/);
    expect(problems({ ...lambda, routerPlacement: "elsewhere" }).join("\n")).toMatch(/routerPlacement/);
    expect(problems({ ...lambda, routerInstanceType: "a10" }).join("\n")).toMatch(/routerInstanceType: = "a10" is not a Lambda instance type name. Fix: pulumi config set hgx-inference:routerInstanceType gpu_1x_a10/);
    const local = problems({ hostMode: "local", replicas: "2", routerPlacement: "own-host" }).join("\n");
    expect(local).toMatch(/routerPlacement: = "own-host" launches an instance for the router, which only hostMode "lambda" can do \(hostMode is "local"\). Fix: pulumi config set hgx-inference:routerPlacement first-replica/);
    // One replica: no router, so the placement is not checked.
    expect(problems({ hostMode: "local", replicas: "1", routerPlacement: "own-host" })).toEqual([]);
  });
});

describe("the router image's sglang-router release, read on the host before the router starts", () => {
  const dir = mkdtempSync(join(tmpdir(), "hgx-router-release-"));
  // A stand-in `docker` that records its argv and answers like `python3 -c ...` in an image with (or without) the router.
  writeFileSync(join(dir, "docker"), `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/argv"\n[ -n "$FAKE_VERSION" ] || { echo "ModuleNotFoundError" >&2; exit 1; }\necho "$FAKE_VERSION"\n`);
  chmodSync(join(dir, "docker"), 0o755);
  const run = (version: string) => {
    const script = renderRouterReleaseCheckScript({ imageRef: "sha256:abc", configuredImage: "lmsysorg/sglang:v0.5.14", covered: COVERED_ROUTER_VERSIONS });
    const r = spawnSync("bash", ["-c", script], { env: { PATH: `${dir}:/usr/bin:/bin`, FAKE_VERSION: version }, encoding: "utf8", timeout: 10_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, argv: readFileSync(join(dir, "argv"), "utf8").split("\n") };
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("covers exactly the release the conformance suite checked (the generated file's)", () => {
    expect(COVERED_ROUTER_VERSIONS).toEqual(["0.3.2"]);
  });

  it("passes a covered release, probing the pulled image offline with its own entrypoint", () => {
    const r = run("0.3.2");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("ships sglang-router 0.3.2 (covered by the conformance suite)");
    expect(r.argv.slice(0, 7)).toEqual(["run", "--rm", "--network", "none", "--entrypoint", "python3", "sha256:abc"]);
  });

  it("refuses another release, or an image without the router, with the fix", () => {
    const other = run("0.3.3");
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/router image lmsysorg\/sglang:v0\.5\.14 ships sglang-router 0\.3\.3; .*only against sglang-router 0\.3\.2\. Fix: pulumi config set hgx-inference:routerImage/);
    const none = run("");
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/ships no sglang-router; /);
    // A prefix of a covered version is not that version.
    expect(run("0.3").status).toBe(1);
  });
});
