/**
 * The whole program (index.ts) under Pulumi mocks, on the dev stack's settings (lambda mode):
 * the resource tree host → server → benchmark, names and parents, the docker container's full
 * spec, the benchmark's command, the exported outputs, and that no secret from config reaches a
 * plain input of any resource. Config and mocks are set before the program is imported.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { type ProgramMocks, runProgram } from "./programMocks";
import { parse } from "yaml";
import { renderBootWaitScript } from "../../../components/host/bootWork";
import { scriptOf } from "../../fixtures/stdinScript";
import { BOOT_IMAGE_DIGEST, DOWNLOADER_REPO_DIGEST, WEIGHTS_COMMIT } from "../../fixtures/serving/scriptLogs";

const SECRETS = {
  lambdaApiKey: "sk-lambda-UNIT-secret-0001",
  hfToken: "hf_UNITsecretTOKEN0002",
  sglangApiKey: "sglang-UNIT-secret-0003",
};

let mocks: ProgramMocks;
let program: Record<string, unknown>;

beforeAll(async () => {
  ({ mocks, program } = await runProgram({
    stack: "dev",
    config: { lambdaApiKey: SECRETS.lambdaApiKey, hfToken: SECRETS.hfToken, sglangApiKey: SECRETS.sglangApiKey },
    secretKeys: ["lambdaApiKey", "hfToken", "sglangApiKey"],
  }));
  // Registering each dynamic resource serializes its provider (seconds each on a loaded machine).
}, 60_000);

describe("index.ts on the dev stack (lambda mode)", () => {
  it("builds host → server → benchmark with the documented tokens, names and parents", () => {
    const byType = (t: string) => mocks.resources.filter((r) => r.type === t).map((r) => r.name);
    expect(byType("hgx:host:HgxHost")).toEqual(["hgx"]);
    expect(byType("hgx:host:LambdaMachine")).toEqual(["hgx-machine"]);
    expect(byType("hgx:host:HostReadiness")).toEqual(["hgx-readiness"]);
    expect(byType("hgx:serving:SglangServer")).toEqual(["hgx"]);
    expect(byType("hgx:benchmark:Benchmark")).toEqual(["hgx"]);
    expect(byType("docker:index/container:Container")).toHaveLength(1);
    expect(byType("docker:index/remoteImage:RemoteImage")).toHaveLength(1);
    // Every child's name starts with its component's name (`${name}-<role>`).
    for (const r of mocks.resources.filter((x) => !x.type.startsWith("pulumi:"))) expect(r.name.startsWith("hgx")).toBe(true);
    // The dynamic Lambda resources are the machine component's children (`hgx-machine-<role>`).
    const dynamic = mocks.resources.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/lambda:"));
    expect(dynamic.length).toBeGreaterThanOrEqual(4);
    for (const r of dynamic) expect(r.name.startsWith("hgx-machine-")).toBe(true);
    // The one other dynamic resource: the benchmark's run history (state only), the benchmark's child.
    expect(mocks.resources.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic") && !dynamic.includes(r)).map((r) => `${r.type} ${r.name}`)).toEqual([
      "pulumi-nodejs:dynamic/benchmark:BenchmarkHistory hgx-history",
    ]);
  });

  it("runs the seed's SGLang command line in the container with the API key wrapper, all GPUs and the HF cache on the filesystem", () => {
    const container = mocks.resources.find((r) => r.type === "docker:index/container:Container")!;
    const cmd = (container.inputs.command as string[]).join(" ");
    expect(cmd).toContain(
      "--host 0.0.0.0 --port 8000 --model-path Qwen/Qwen3.5-397B-A17B --served-model-name qwen --tool-call-parser qwen3_coder " +
        "--reasoning-parser qwen3 --mamba-ssm-dtype float32 --tp-size 8 --trust-remote-code --mem-fraction-static 0.85",
    );
    expect(container.inputs.gpus).toBe("all");
    expect(container.inputs.ipcMode).toBe("host");
    expect(container.inputs.volumes).toEqual([
      expect.objectContaining({ hostPath: "/lambda/nfs/hgx-dev-hf-cache/huggingface", containerPath: "/root/.cache/huggingface" }),
    ]);
    // The port is published on loopback only: the dev stack's allowlist is empty.
    expect(container.inputs.ports).toEqual([expect.objectContaining({ internal: 8000, external: 8000, ip: "127.0.0.1" })]);
  });

  it("benchmarks with vllm bench serve on the host, with the seed workload", () => {
    const bench = mocks.resources.find((r) => r.type === "command:remote:Command" && r.name === "hgx-run")!;
    const create = scriptOf(bench.inputs);
    for (const fragment of ["--backend openai-chat", "--endpoint /v1/chat/completions", "--dataset-name random", "--random-input-len 8192", "--random-output-len 1024", "--num-prompts 512", "--max-concurrency 32", "--served-model-name qwen"]) {
      expect(create).toContain(fragment);
    }
  });

  it("exports the host, server and benchmark outputs", async () => {
    const host = program.host as Record<string, pulumi.Output<unknown>>;
    const server = program.server as Record<string, pulumi.Output<unknown>>;
    const benchmark = program.benchmark as Record<string, pulumi.Output<unknown>>;
    expect(await mocks.value(host.region)).toBe("us-east-1");
    expect(await mocks.value(host.hourlyPriceUsd)).toBeCloseTo(45.92);
    // The generated key pair's private half, which sshCommand's key file must hold: exported, as a secret.
    expect(await pulumi.isSecret(host.sshPrivateKey)).toBe(true);
    expect(String(await mocks.value(host.sshPrivateKey)).length).toBeGreaterThan(0);
    expect(await mocks.value(host.sshCommand)).toMatch(/^ssh -i ~\/\.ssh\/hgx\.pem /);
    expect(await mocks.value(server.servedModelName)).toBe("qwen");
    // The `docker run` of what runs: the build by digest, SGLang loading the recorded commit.
    expect(await mocks.value(server.dockerRunCommand)).toContain(BOOT_IMAGE_DIGEST);
    expect(await mocks.value(server.dockerRunCommand)).toContain(`--revision ${WEIGHTS_COMMIT}`);
    const metrics = (await mocks.value(benchmark.metrics)) as { outputThroughput: number };
    expect(Math.round(metrics.outputThroughput)).toBe(1233);
    expect(await mocks.value(benchmark.costPerMillionOutputTokens)).toBeGreaterThan(0);
    // no tokenizer configured: the model's own, as vllm records it
    expect(await mocks.value(benchmark.tokenizer)).toBe("Qwen/Qwen3.5-397B-A17B");
    expect(await mocks.value(benchmark.notes)).toEqual([]);
    expect(await pulumi.isSecret(server.apiKey)).toBe(true);
  });

  it("puts no configured secret into any resource's plain inputs", () => {
    const leaks = mocks.plainInputLeaks(SECRETS);
    expect(leaks).toEqual([]);
    // ...while the secrets do reach the resources that need them, as secrets.
    expect(mocks.secretInputHolders(SECRETS.sglangApiKey).length).toBeGreaterThan(0);
    expect(mocks.secretInputHolders(SECRETS.hfToken).length).toBeGreaterThan(0);
  });

  it("does not write the stack's API key into any input at all (the provider reads it from config)", () => {
    expect(mocks.secretInputHolders(SECRETS.lambdaApiKey)).toEqual([]);
    expect(fs.existsSync(path.resolve(__dirname, "../../../Pulumi.dev.yaml"))).toBe(true);
  });
});

describe("the benchmark reads the tokenizer from the server's own cache", () => {
  it("mounts the persistent filesystem's cache into the vllm container", () => {
    const bench = mocks.resources.find((r) => r.type === "command:remote:Command" && r.name === "hgx-run")!;
    expect(scriptOf(bench.inputs)).toContain("-v /lambda/nfs/hgx-dev-hf-cache/huggingface:/root/.cache/huggingface");
  });
});

describe("boot work: the launch starts the slow fetches, the server waits for them", () => {
  it("launches with secret user_data whose cloud-config starts the pinned image pull and the server's own weights download, without the HF token", () => {
    const instance = mocks.resources.find((r) => r.type === "pulumi-nodejs:dynamic/lambda:Instance")!;
    const userData = instance.inputs.userData as { value?: unknown } & Record<string, unknown>;
    expect(Object.keys(userData)).toContain("4dabf18193072939515e22adb298388d");
    const text = String(userData.value);
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const doc = parse(text) as { write_files: { path: string; content: string }[]; runcmd: string[][] };
    expect(doc.write_files.map((f) => f.path)).toEqual(["/var/lib/hgx-boot/boot-work.sh", "/var/lib/hgx-boot/weights.sh"]);
    expect(doc.write_files[0].content).toContain("IMAGE=lmsysorg/sglang:v0.5.14");
    // The very script the server's weights step runs (same container name, cache and marker).
    const weightsStep = mocks.resources.find((r) => r.type === "command:remote:Command" && r.name === "hgx-weights")!;
    expect(doc.write_files[1].content).toBe(scriptOf(weightsStep.inputs));
    expect(doc.runcmd).toHaveLength(1);
    expect(text).not.toContain(SECRETS.hfToken);
  });

  it("pulls exactly what the boot-time pull resolved the tag to, and records it, the build and the downloader as digests", async () => {
    const image = mocks.resources.find((r) => r.type === "docker:index/remoteImage:RemoteImage")!;
    expect(image.inputs.name).toBe(BOOT_IMAGE_DIGEST);
    const server = program.server as Record<string, pulumi.Output<string>>;
    expect(await mocks.value(server.bootImage)).toBe(BOOT_IMAGE_DIGEST);
    expect(await mocks.value(server.imageDigest)).toBe(BOOT_IMAGE_DIGEST);
    expect(await mocks.value(program.imageDigest as pulumi.Output<string>)).toBe(BOOT_IMAGE_DIGEST);
    expect(await mocks.value(server.downloaderImage)).toBe(DOWNLOADER_REPO_DIGEST);
    // The default downloader is pinned by digest, the tag kept for humans.
    expect(scriptOf(mocks.resources.find((r) => r.name === "hgx-weights")!.inputs)).toMatch(/^IMAGE='?python:3\.12-slim@sha256:[a-f0-9]{64}'?$/m);
  });

  it("with hfRevision a branch, SGLang loads the commit the weights step recorded (pinned in state), not the branch", async () => {
    const container = mocks.resources.find((r) => r.type === "docker:index/container:Container")!;
    const command = (await mocks.value(pulumi.output(container.inputs.command as pulumi.Input<string[]>))).join(" ");
    expect(command).toContain(`--revision ${WEIGHTS_COMMIT}`);
    expect(command.match(/--revision/g)).toHaveLength(1);
  });

  it("waits in the boot-work dir before the server's own pull and download, falling back to the token download", () => {
    const wait = mocks.resources.find((r) => r.type === "command:remote:Command" && r.name === "hgx-boot-wait")!;
    expect(scriptOf(wait.inputs)).toBe(renderBootWaitScript({ dir: "/var/lib/hgx-boot", expected: true, weightsFallback: true }));
  });
});

