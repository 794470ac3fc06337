/**
 * The whole program on the dev stack's settings (lambda mode) with `replicas: 2` and
 * `routerPlacement: own-host` under Pulumi mocks: a third, small instance for the router (no GPU
 * checks, no cache filesystem), both workers reached at their addresses and admitting only the
 * router's host (after launch) and the allowlist, and the benchmark run from the router's host at the price of
 * every machine behind the endpoint.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { type ProgramMocks, runProgram } from "./programMocks";
import { scriptOf } from "../../fixtures/stdinScript";
import { BOOT_IMAGE_DIGEST, WEIGHTS_COMMIT } from "../../fixtures/serving/scriptLogs";

const KEY = "sk-router-host-UNIT-secret-0005";
const ALLOWLIST = "198.51.100.0/24";
// programMocks: hgx .10, hgx-2 .11, the router's own host .20.
const ROUTER_IP = "203.0.113.20";
const ROUTER_PRIVATE_IP = "10.19.0.20";
let mocks: ProgramMocks;
let program: Record<string, unknown>;

beforeAll(async () => {
  ({ mocks, program } = await runProgram({
    stack: "dev",
    config: {
      lambdaApiKey: "sk-lambda-UNIT-0006",
      sglangApiKey: KEY,
      replicas: "2",
      routerPlacement: "own-host",
      lambdaFirewallAllowlist: JSON.stringify([ALLOWLIST]),
      // The model pinned to one commit: both workers download it and SGLang loads it.
      hfRevision: WEIGHTS_COMMIT,
    },
    secretKeys: ["lambdaApiKey", "sglangApiKey"],
  }));
  // Three machines' dynamic resources are serialized on registration (seconds each on a loaded machine).
}, 120_000);

const named = (mocksList: ProgramMocks, name: string) => {
  const found = mocksList.resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource named ${name}; have ${mocksList.resources.map((r) => r.name).join(", ")}`);
  return found;
};

describe("index.ts with the router on a host of its own (lambda)", () => {
  it("launches a small instance for the router with no GPU checks and no cache filesystem", () => {
    const byType = (t: string) => mocks.resources.filter((r) => r.type === t).map((r) => r.name);
    expect(byType("hgx:host:HgxHost")).toEqual(["router-host", "hgx", "hgx-2"]);
    expect(byType("hgx:host:LambdaMachine")).toEqual(["router-host-machine", "hgx-machine", "hgx-2-machine"]);
    const instance = named(mocks, "router-host-machine-instance");
    expect(instance.inputs.instanceType).toBe("gpu_1x_a10");
    expect(instance.inputs.filesystemName).toBeUndefined();
    expect(named(mocks, "hgx-machine-instance").inputs.instanceType).toBe("gpu_8x_b200_sxm6");
    expect(mocks.resources.filter((r) => r.name.startsWith("router-host-machine-filesystem"))).toEqual([]);
    const checks = mocks.resources.filter((r) => r.name.startsWith("router-host-readiness-")).map((r) => r.name);
    expect(checks.length).toBeGreaterThan(0);
    expect(checks.filter((n) => /gpu/.test(n))).toEqual([]);
    expect(mocks.resources.filter((r) => r.name.startsWith("hgx-readiness-") && /gpu/.test(r.name)).length).toBeGreaterThan(0);
  });

  it("opens the router's ports on its host to the allowlist, and each worker's serving port only to the allowlist and the router's host", () => {
    const router = named(mocks, "router-host-machine-firewall").inputs;
    expect(router).toMatchObject({ servingPort: 30000, extraPorts: [29000], servingAllowlist: [ALLOWLIST] });
    for (const worker of ["hgx", "hgx-2"]) {
      // The ruleset attached at launch holds the allowlist; the router's /32 is admitted once its host has an
      // address, by a resource of its own, so no worker's launch waits for the router's host.
      const fw = named(mocks, `${worker}-machine-firewall`).inputs;
      expect(fw.servingPort, worker).toBe(8000);
      expect(fw.servingAllowlist, worker).toEqual([ALLOWLIST]);
      expect(fw.extraPorts, worker).toBeUndefined();
      const admission = named(mocks, `${worker}-machine-admission`);
      expect(admission.type).toBe("pulumi-nodejs:dynamic/lambda:FirewallAdmission");
      // At its private address: the router's traffic to the workers never leaves the region's private network.
      expect(admission.inputs).toMatchObject({ port: 8000, sources: [`${ROUTER_PRIVATE_IP}/32`] });
      expect(JSON.stringify(admission.inputs)).not.toContain(ROUTER_IP);
    }
    expect(mocks.resources.filter((r) => r.name === "router-host-machine-admission")).toEqual([]);
  });

  it("reaches both workers at their private addresses (none through loopback or a public one) and benchmarks from the router's host", async () => {
    expect(scriptOf(named(mocks, "router-drain-hgx").inputs)).toContain("WORKER=http://10.19.0.10:8000");
    expect(scriptOf(named(mocks, "router-drain-hgx-2").inputs)).toContain("WORKER=http://10.19.0.11:8000");
    const workers = (program.router as { workers: { routerUrl: pulumi.Output<string> }[] }).workers;
    expect(await Promise.all(workers.map((w) => mocks.value(w.routerUrl)))).toEqual(["http://10.19.0.10:8000", "http://10.19.0.11:8000"]);
    // The router container's worker list (secret env) holds the private URLs; no resource gets a worker's public one.
    expect(mocks.secretInputHolders("http://10.19.0.11:8000")).toContain("docker:index/container:Container router-container");
    for (const publicUrl of ["http://203.0.113.10:8000", "http://203.0.113.11:8000"]) {
      expect(mocks.secretInputHolders(publicUrl), publicUrl).toEqual([]);
      expect(mocks.plainInputLeaks({ publicUrl }), publicUrl).toEqual([]);
    }
    const run = named(mocks, "router-run");
    expect(run.type).toBe("command:remote:Command");
    // The connection is a secret input (it holds the private key): its recorded form wraps the value.
    expect(JSON.stringify(run.inputs.connection)).toContain(`"host":"${ROUTER_IP}"`);
    const outputs = program.router as Record<string, pulumi.Output<unknown>> & { host: Record<string, pulumi.Output<unknown>> };
    expect(await mocks.value(outputs.host.ip)).toBe(ROUTER_IP);
    expect(await mocks.value(outputs.host.instanceType)).toBe("gpu_1x_a10");
    expect(await mocks.value(outputs.host.hourlyPriceUsd)).toBe(0.75);
    // The cost per token is priced at both workers and the router's host: 2 x $45.92 + $0.75.
    const benchmark = program.benchmark as Record<string, pulumi.Output<unknown>>;
    expect(await mocks.value(benchmark.hourlyCostUsd)).toBeCloseTo(92.59, 2);
    expect(mocks.plainInputLeaks({ sglangApiKey: KEY })).toEqual([]);
  });

  it("the router on the SGLang image and the second worker pull the first worker's digest: one build behind the endpoint", async () => {
    const pullOf = (name: string) => named(mocks, name).inputs.name;
    // The first worker pulls what its host's boot-time pull resolved the tag to; the rest pull what it got.
    const digest = BOOT_IMAGE_DIGEST;
    expect(pullOf("hgx-image")).toBe(digest);
    expect(pullOf("hgx-2-image")).toBe(digest);
    expect(pullOf("router-image")).toBe(digest);
    expect(await mocks.value(program.imageDigest as pulumi.Output<string>)).toBe(digest);
    // Both workers' weights steps reported one commit: the stack's weightsCommit.
    expect(await mocks.value(program.weightsCommit as pulumi.Output<string>)).toBe(WEIGHTS_COMMIT);
  });

  it("a pinned hfRevision reaches every worker's download and SGLang's --revision", () => {
    for (const worker of ["hgx", "hgx-2"]) {
      expect(scriptOf(named(mocks, `${worker}-weights`).inputs)).toContain(`REVISION=${WEIGHTS_COMMIT}\n`);
      expect((named(mocks, `${worker}-container`).inputs.command as string[]).join(" ")).toContain(`--revision ${WEIGHTS_COMMIT}`);
    }
  });
});
