/**
 * The whole program on the `local` stack with `replicas: 2` under Pulumi mocks: two workers on
 * consecutive ports, the router component with its container on the host network, the rolling steps
 * per worker, one benchmark through the router, and the API key only inside secret inputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { LOCAL_IMAGE_ID, type ProgramMocks, runProgram } from "./programMocks";
import { scriptOf } from "../../fixtures/stdinScript";

const KEY = "sk-routed-UNIT-secret-0004";
let mocks: ProgramMocks;
let program: Record<string, unknown>;

beforeAll(async () => {
  ({ mocks, program } = await runProgram({ stack: "local", config: { replicas: "2", sglangApiKey: KEY }, secretKeys: ["sglangApiKey"] }));
});

describe("index.ts on the local stack with two replicas", () => {
  it("builds two workers, the router and its rolling steps, and one benchmark through the router", () => {
    const names = (type: string) => mocks.resources.filter((r) => r.type === type).map((r) => r.name);
    expect(names("hgx:serving:SglangServer")).toEqual(["hgx", "hgx-2"]);
    expect(names("hgx:router:SglangRouter")).toEqual(["router"]);
    expect(names("hgx:benchmark:Benchmark")).toEqual(["router"]);
    const commands = names("command:local:Command");
    for (const step of ["router-release", "router-started", "router-drain-hgx", "router-rejoin-hgx", "router-drain-hgx-2", "router-rejoin-hgx-2", "router-ready", "router-run"])
      expect(commands, step).toContain(step);
    const containers = mocks.resources.filter((r) => r.type === "docker:index/container:Container");
    expect(containers.map((c) => c.inputs.name)).toEqual(["hgx-inference-local-router", "hgx-inference-local-hgx-sglang", "hgx-inference-local-hgx-2-sglang"]);
    expect(containers[1].inputs.ports).toEqual([expect.objectContaining({ external: 18000, ip: "127.0.0.1" })]);
    expect(containers[2].inputs.ports).toEqual([expect.objectContaining({ external: 18001, ip: "127.0.0.1" })]);
  });

  it("runs the router image on the host network with the key and worker list only in secret env", () => {
    const router = mocks.resources.find((r) => r.name === "router-container")!;
    expect(router.inputs.networkMode).toBe("host");
    const cmd = (router.inputs.command as string[]).join(" ");
    expect(cmd).toContain("python -m sglang_router.launch_router");
    expect(cmd).toContain("--policy cache_aware");
    expect(cmd).not.toContain(KEY);
    const image = mocks.resources.find((r) => r.name === "router-image")!;
    expect(image.inputs.name).toBe(LOCAL_IMAGE_ID("hgx/sglang-router:local"));
    // The image's sglang-router release is read on the host before the router starts.
    const release = mocks.resources.find((r) => r.name === "router-release")!;
    expect(JSON.stringify(release.inputs)).toContain("import importlib.metadata as m");
    expect(mocks.plainInputLeaks({ sglangApiKey: KEY })).toEqual([]);
    expect(mocks.secretInputHolders(KEY)).toEqual(expect.arrayContaining(["docker:index/container:Container router-container"]));
  });

  it("drains and rejoins each worker at the URL the router uses, and benchmarks the router's port", async () => {
    const drain = mocks.resources.find((r) => r.name === "router-drain-hgx-2")!;
    const script = scriptOf(drain.inputs);
    expect(script).toContain("WORKER=http://127.0.0.1:18001");
    expect(script).toContain("ROUTER=http://127.0.0.1:30000");
    const run = mocks.resources.find((r) => r.name === "router-run")!;
    expect(String(run.inputs.create)).toContain("--base-url http://127.0.0.1:30000");
    const router = program.router as Record<string, pulumi.Output<unknown>>;
    expect(await mocks.value(router.endpoint)).toBe("http://127.0.0.1:30000");
    expect(await mocks.value(router.metricsEndpoint)).toBe("http://127.0.0.1:29000/metrics");
  });

  it("every worker pulls the image ID the local engine has for the tag, and every worker reports that one build", async () => {
    const pulls = mocks.resources.filter((r) => r.type === "docker:index/remoteImage:RemoteImage").map((r) => [r.name, r.inputs.name]);
    const digest = LOCAL_IMAGE_ID("hgx/sglang-sim:local");
    expect(pulls).toEqual(expect.arrayContaining([["hgx-image", digest], ["hgx-2-image", digest], ["router-image", LOCAL_IMAGE_ID("hgx/sglang-router:local")]]));
    expect(await mocks.value(program.imageDigest as pulumi.Output<string>)).toBe(digest);
    const replicas = program.replicas as { server: { imageDigest: pulumi.Output<string> } }[];
    expect(await Promise.all(replicas.map((r) => mocks.value(r.server.imageDigest)))).toEqual([digest, digest]);
  });
});
