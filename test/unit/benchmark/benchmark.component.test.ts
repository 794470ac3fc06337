/**
 * The Benchmark component under Pulumi mocks: which command resource it creates and with what
 * inputs (full command, triggers, secrecy), and what its outputs resolve to when the command's
 * stdout is a vllm result JSON.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as BenchmarkModule from "../../../components/benchmark/benchmark";
import { renderNativeBenchCommand } from "../../../components/benchmark/nativeCommand";
import { DEFAULT_VLLM_IMAGE, renderRemoteBenchCommand } from "../../../components/benchmark/remoteRunner";
import { BUNDLED_TOKENIZER_ID } from "../../../components/benchmark/runner/tokenizer";
import { resolveWorkload, SEED_WORKLOAD, workloadKey } from "../../../components/benchmark/workload";
import { type BenchmarkMocks, installBenchmarkMocks, localBenchmarkArgs, seedResultJson as fixture, settle, sshBenchmarkArgs, sshTestConnection } from "./mockHarness";
import { firstStdinLine, scriptOf } from "../../fixtures/stdinScript";

const API_KEY = "sk-test-benchmark-key-4f1c9a";
const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----";
const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-bench-component-"));

let mocks: BenchmarkMocks;
let mod: typeof BenchmarkModule;

beforeAll(async () => {
  mocks = await installBenchmarkMocks();
  mod = await import("../../../components/benchmark/benchmark");
});

afterAll(() => fs.rmSync(reportDir, { recursive: true, force: true }));

const byName = (name: string) => mocks.byName(name);
const isRpcSecret = (v: unknown): v is { value: unknown } => mocks.isRpcSecret(v);

const sshConnection = () => sshTestConnection(mocks, PRIVATE_KEY);

describe("remote runner on an SSH host", () => {
  let bench: BenchmarkModule.Benchmark;

  beforeAll(async () => {
    bench = new mod.Benchmark("bench", {
      connection: sshConnection(),
      serverReady: mocks.pulumi.output("ready at 2026-03-01T14:22:33Z"),
      servedModelName: mocks.pulumi.output("qwen"),
      modelPath: "Qwen/Qwen3.5-397B-A17B",
      apiKey: mocks.pulumi.secret(API_KEY),
      serverSpecHash: mocks.pulumi.output("spec-hash-0001"),
      hourlyPriceUsd: mocks.pulumi.output(39.92),
      thresholds: { minOutputThroughput: 1100, maxTtftP99Ms: 6000, maxFailedRequests: 0 },
      reportDir,
    });
    await settle(bench.passed);
  });

  it("creates one remote command, child of the component, named <name>-run", () => {
    const cmd = byName("bench-run");
    expect(cmd.type).toBe("command:remote:Command");
    expect(mocks.recorded.filter((r) => r.type === "hgx:benchmark:Benchmark").map((r) => r.name)).toContain("bench");
  });

  it("runs the full rendered vllm script for the seed workload", () => {
    const cmd = byName("bench-run");
    expect(scriptOf(cmd.inputs)).toBe(
      renderRemoteBenchCommand({ port: 8000, model: "Qwen/Qwen3.5-397B-A17B", servedModelName: "qwen", apiKeyFromStdin: true }),
    );
    expect(cmd.inputs.logging).toBe("stderr");
    expect(cmd.inputs.addPreviousOutputInEnv).toBe(false);
    expect(cmd.inputs.delete).toBeUndefined();
  });

  it("re-runs only on spec hash, workload, runner or image: triggers hold exactly those", () => {
    const cmd = byName("bench-run");
    expect(cmd.inputs.triggers).toEqual(["spec-hash-0001", workloadKey(SEED_WORKLOAD), "remote", DEFAULT_VLLM_IMAGE]);
  });

  it("keeps volatile values out of every stored input (the readiness value, timestamps)", () => {
    const cmd = byName("bench-run");
    const stored = JSON.stringify({ create: cmd.inputs.create, script: scriptOf(cmd.inputs), triggers: cmd.inputs.triggers });
    expect(stored).not.toContain("ready at");
    expect(stored).not.toMatch(/20\d\d-\d\d-\d\d|T\d\d:\d\d/);
  });

  it("passes the API key only as secret stdin, never in the command text", () => {
    const cmd = byName("bench-run");
    expect(String(cmd.inputs.create)).not.toContain(API_KEY);
    expect(scriptOf(cmd.inputs)).not.toContain(API_KEY);
    expect(JSON.stringify(cmd.inputs.triggers)).not.toContain(API_KEY);
    expect(isRpcSecret(cmd.inputs.stdin)).toBe(true);
    expect(firstStdinLine(cmd.inputs)).toBe(API_KEY);
    expect(cmd.inputs.environment).toBeUndefined();
  });

  it("connects with the host connection, private key still secret", () => {
    const wire = byName("bench-run").inputs.connection;
    // the SDK lifts the nested secret (privateKey) to the whole connection object
    expect(isRpcSecret(wire)).toBe(true);
    const conn = (isRpcSecret(wire) ? wire.value : wire) as Record<string, unknown>;
    expect(conn.privateKey).toContain("BEGIN OPENSSH PRIVATE KEY");
    expect(conn.host).toBe("203.0.113.7");
    expect(conn.user).toBe("ubuntu");
    expect(conn.port).toBe(22);
  });

  it("exports typed metrics parsed from the command's stdout", async () => {
    const m = await settle(bench.metrics);
    expect(m.completed).toBe(512);
    expect(m.outputThroughput).toBeCloseTo(1232.53, 2);
    expect(m.ttft.p99).toBe(5008.13);
    expect(m.requestRate).toBe("inf");
    expect("raw" in m).toBe(false);
    expect(JSON.parse(await settle(bench.rawJson))).toEqual(JSON.parse(fixture));
  });

  it("exports the tokenizer vllm recorded (the model's own) and no notes", async () => {
    expect(await settle(bench.tokenizer)).toBe("Qwen/Qwen3.5-397B-A17B");
    expect(await settle(bench.notes)).toEqual([]);
  });

  it("exports ratios, cost and an empty miss list", async () => {
    const ratios = await settle(bench.ratios);
    expect(ratios.outputThroughput).toBeCloseTo(1232.53 / 1232, 4);
    expect(await settle(bench.hourlyCostUsd)).toBe(39.92);
    expect(await settle(bench.costPerMillionOutputTokens)).toBeCloseTo(39.92e6 / (1232.5336 * 3600), 4);
    expect(await settle(bench.costPerMillionTotalTokens)).toBeCloseTo(39.92e6 / (11092.8025 * 3600), 4);
    expect(await settle(bench.thresholdMisses)).toEqual([]);
    expect(await settle(bench.passed)).toBe(true);
  });

  it("writes the report files named after the stack", async () => {
    expect(await settle(bench.reportPath)).toBe(path.join(reportDir, "b200-test-benchmark.md"));
    expect(await settle(bench.reportSvgPath)).toBe(path.join(reportDir, "b200-test-benchmark.svg"));
    const md = fs.readFileSync(path.join(reportDir, "b200-test-benchmark.md"), "utf8");
    expect(md).toContain("**PASSED**: all 3 thresholds met.");
    expect(md).toContain("| output tokens/s | 1,232.5 | 1,232 | 1.00× |");
    expect(md).not.toContain(API_KEY);
    expect(fs.readFileSync(path.join(reportDir, "b200-test-benchmark.svg"), "utf8")).toContain("</svg>");
  });

  it("renders identical inputs for an identical spec (a second `pulumi up` sees no diff)", async () => {
    const again = new mod.Benchmark("bench-again", {
      connection: sshConnection(),
      serverReady: mocks.pulumi.output("ready at a different time"),
      servedModelName: "qwen",
      modelPath: "Qwen/Qwen3.5-397B-A17B",
      apiKey: mocks.pulumi.secret(API_KEY),
      serverSpecHash: "spec-hash-0001",
      hourlyPriceUsd: 39.92,
      reportDir,
    });
    await settle(again.passed);
    const a = byName("bench-run").inputs;
    const b = byName("bench-again-run").inputs;
    expect(b.create).toBe(a.create);
    expect(scriptOf(b)).toBe(scriptOf(a));
    expect(b.triggers).toEqual(a.triggers);
  });

  it("changes its triggers when the spec hash or the workload changes", async () => {
    const changed = new mod.Benchmark("bench-changed", {
      connection: sshConnection(),
      serverReady: "ok",
      servedModelName: "qwen",
      modelPath: "Qwen/Qwen3.5-397B-A17B",
      serverSpecHash: "spec-hash-0002",
      workload: { numPrompts: 64 },
      hourlyPriceUsd: 39.92,
      reportDir,
    });
    await settle(changed.passed);
    const t = byName("bench-changed-run").inputs.triggers as string[];
    expect(t[0]).toBe("spec-hash-0002");
    expect(t[1]).toBe(workloadKey(resolveWorkload({ numPrompts: 64 })));
    expect(scriptOf(byName("bench-changed-run").inputs)).not.toContain("OPENAI_API_KEY");
  });
});

describe("native runner on the local stack", () => {
  let bench: BenchmarkModule.Benchmark;

  beforeAll(async () => {
    bench = new mod.Benchmark(
      "local-bench",
      localBenchmarkArgs({
        port: 30000,
        // the model is not in the cache here: the packaged tokenizer, chosen explicitly
        tokenizer: "bundled",
        apiKey: API_KEY, // a plain string is made secret by the component
        workload: { inputLen: 64, outputLen: 8, numPrompts: 4, maxConcurrency: 2 },
        reportDir,
      }),
    );
    await settle(bench.passed);
  });

  it("creates a local command running the native CLI from the repository root", () => {
    const cmd = byName("local-bench-run");
    expect(cmd.type).toBe("command:local:Command");
    expect(cmd.inputs.create).toBe(
      renderNativeBenchCommand({
        baseUrl: "http://127.0.0.1:30000",
        servedModelName: "qwen",
        model: "Qwen/Qwen3-0.6B",
        tokenizer: "bundled",
        workload: resolveWorkload({ inputLen: 64, outputLen: 8, numPrompts: 4, maxConcurrency: 2 }),
        timeoutSeconds: 120,
      }),
    );
    expect(cmd.inputs.dir).toBe(path.resolve(__dirname, "../../.."));
    expect(fs.existsSync(path.join(String(cmd.inputs.dir), "package.json"))).toBe(true);
    expect(cmd.inputs.triggers).toEqual(["spec-local", workloadKey(resolveWorkload({ inputLen: 64, outputLen: 8, numPrompts: 4, maxConcurrency: 2 })), "native", "native", "tokenizer=bundled"]);
    expect(cmd.inputs.addPreviousOutputInEnv).toBe(false);
  });

  it("hands the API key over as a secret environment variable only", () => {
    const cmd = byName("local-bench-run");
    expect(String(cmd.inputs.create)).not.toContain(API_KEY);
    const env = cmd.inputs.environment;
    // a secret value inside the map makes the whole map secret on the wire
    const plain = isRpcSecret(env) ? (env.value as Record<string, unknown>) : (env as Record<string, unknown>);
    expect(isRpcSecret(env) || isRpcSecret(plain.OPENAI_API_KEY)).toBe(true);
    const key = isRpcSecret(plain.OPENAI_API_KEY) ? plain.OPENAI_API_KEY.value : plain.OPENAI_API_KEY;
    expect(key).toBe(API_KEY);
    expect(cmd.inputs.stdin).toBeUndefined();
  });

  it("exports the tokenizer the prompts were built with, and notes what does not add up", async () => {
    expect(await settle(bench.tokenizer)).toBe(BUNDLED_TOKENIZER_ID);
    // the mocked runner answers with the 512-prompt seed result for this 4-prompt workload
    expect(await settle(bench.notes)).toEqual(["completed 512 + failed 0 = 512, but the workload sent 4 prompts"]);
  });

  it("costs nothing on a free machine", async () => {
    expect(await settle(bench.costPerMillionOutputTokens)).toBe(0);
    expect(await settle(bench.hourlyCostUsd)).toBe(0);
  });
});

describe("threshold gate, lenient", () => {
  it("only warns when failOnThresholdMiss is false", async () => {
    mocks.stdoutByName.set("lenient-run", JSON.stringify({ ...JSON.parse(fixture), output_throughput: 950.5 }));
    const lenient = new mod.Benchmark("lenient", sshBenchmarkArgs(mocks, { thresholds: { minOutputThroughput: 1100 }, failOnThresholdMiss: false, reportDir }));
    expect(await settle(lenient.passed)).toBe(false);
    expect(await settle(lenient.thresholdMisses)).toEqual(["output throughput 950.5 tok/s is below the minimum 1,100 tok/s"]);
  });

});

describe("validation before anything is created", () => {
  const base = () => ({
    serverReady: "ok",
    servedModelName: "qwen",
    modelPath: "m",
    serverSpecHash: "h",
    hourlyPriceUsd: 1,
  });

  it("needs baseUrl for the native runner against an SSH host", () => {
    expect(() => new mod.Benchmark("v1", { ...base(), connection: sshConnection(), runner: "native" })).toThrow(/baseUrl.*SSH tunnel.*runner "remote"/);
  });

  it("rejects a bad runner, port, timeout, workload or threshold, naming the setting", () => {
    expect(() => new mod.Benchmark("v2", { ...base(), connection: { kind: "local" }, runner: "ssh" as never })).toThrow(/runner must be "remote" or "native"/);
    expect(() => new mod.Benchmark("v3", { ...base(), connection: { kind: "local" }, port: 0 })).toThrow(/port must be 1-65535/);
    expect(() => new mod.Benchmark("v4", { ...base(), connection: { kind: "local" }, timeoutSeconds: -5 })).toThrow(/timeoutSeconds/);
    expect(() => new mod.Benchmark("v5", { ...base(), connection: { kind: "local" }, workload: { maxConcurrency: 0 } })).toThrow(/maxConcurrency/);
    expect(() => new mod.Benchmark("v6", { ...base(), connection: { kind: "local" }, thresholds: { maxTtftP99Ms: -1 } })).toThrow(/maxTtftP99Ms/);
  });

  it("refuses the native runner's bundled tokenizer for the remote runner, and takes it for the native one", () => {
    expect(() => new mod.Benchmark("v7", { ...base(), connection: sshConnection(), tokenizer: "bundled" })).toThrow(/tokenizer "bundled" is the native runner's packaged Qwen3 tokenizer; vllm\/vllm-openai:v0\.18\.0 \(vllm bench serve\) cannot load it\. Fix: use runner "native"/);
    // an image standing in for vllm that runs the native runner can load it
    expect(mod.resolveBenchmarkSettings({ ...base(), connection: sshConnection(), tokenizer: "bundled", vllmImage: "hgx-test/vllm-standin:0.18.0" }).tokenizer).toBe("bundled");
    expect(mod.resolveBenchmarkSettings({ ...base(), connection: { kind: "local" }, tokenizer: "bundled" }).tokenizer).toBe("bundled");
    expect(mod.resolveBenchmarkSettings({ ...base(), connection: { kind: "local" }, tokenizer: " " }).tokenizer).toBeUndefined();
  });

  it("defaults the runner from the connection kind", () => {
    const conn = { kind: "local" as const };
    expect(mod.resolveBenchmarkSettings({ ...base(), connection: conn }).runner).toBe("native");
    expect(mod.resolveBenchmarkSettings({ ...base(), connection: sshConnection() }).runner).toBe("remote");
  });
});
