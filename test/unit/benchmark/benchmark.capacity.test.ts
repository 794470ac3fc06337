/**
 * The Benchmark component's capacity search under Pulumi mocks: the command it creates (text, triggers, key in the
 * environment only), and the outputs and report it derives from the command's `--json` stdout.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as BenchmarkModule from "../../../components/benchmark/benchmark";
import { capacityKey, capacityPlanForStack, nativeCapacityArgs, parseCapacityOutput, renderNativeCapacityCommand, type CapacitySettings } from "../../../components/benchmark/capacityCommand";
import { searchCapacity, summarizeCapacity } from "../../../components/benchmark/capacity";
import { resolveWorkload, workloadKey } from "../../../components/benchmark/workload";
import { type BenchmarkMocks, installBenchmarkMocks, localBenchmarkArgs, settle } from "./mockHarness";
import type { BenchmarkArgs } from "../../../components/benchmark/benchmarkSettings";
import { TEST_HOST_PUBLIC_KEY } from "../../fixtures/hostKeys";

const API_KEY = "sk-test-capacity-key-90ab";
const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-capacity-component-"));
const WORKLOAD = { inputLen: 64, outputLen: 8, numPrompts: 16, maxConcurrency: 2 };
const RANGE = { low: 1, high: 8 };
const CAPACITY: CapacitySettings = { concurrencyRange: RANGE, slo: { ttftP99Ms: 100, itlP99Ms: 40 }, promptsPerConcurrency: 4, maxDurationS: 600, gpus: 2 };

let mocks: BenchmarkMocks;
let mod: typeof BenchmarkModule;
let bench: BenchmarkModule.Benchmark;
let stdout: string;

/** The capacity-searching local benchmark these tests build (spec "spec-cap" at $12/h); `over` wins. */
const capArgs = (over: Partial<BenchmarkArgs>): BenchmarkArgs =>
  localBenchmarkArgs({ port: 30000, serverSpecHash: "spec-cap", hourlyPriceUsd: 12, workload: WORKLOAD, reportDir, capacity: CAPACITY, ...over });

beforeAll(async () => {
  mocks = await installBenchmarkMocks("cap-test");
  mod = await import("../../../components/benchmark/benchmark");
  const r = await searchCapacity({
    slo: CAPACITY.slo,
    range: RANGE,
    gpus: 2,
    measure: async (l) => ({
      completed: 4 * l.concurrency, failed: 0, durationS: 1, totalInputTokens: 4 * l.concurrency * 64, totalOutputTokens: 4 * l.concurrency * 16, requestThroughput: 4, outputThroughput: 50 * l.concurrency, totalTokenThroughput: 400 * l.concurrency, requestGoodput: 3,
      ttftMeanMs: 20, ttftP99Ms: l.concurrency > 5 ? 300 : 30, tpotMeanMs: 10, tpotP99Ms: 12, itlMeanMs: 10, itlP99Ms: 15, e2elMeanMs: 100, e2elP99Ms: 120,
    }),
  });
  stdout = `${JSON.stringify({ plan: capacityPlanForStack(CAPACITY, resolveWorkload(WORKLOAD), 0), capacity: summarizeCapacity(r) })}\n`;
  mocks.stdoutByName.set("cap-capacity", stdout);
  bench = new mod.Benchmark("cap", capArgs({ apiKey: API_KEY }));
  await settle(bench.passed);
  await settle(bench.capacityReportPath);
});

afterAll(() => fs.rmSync(reportDir, { recursive: true, force: true }));

describe("capacity search in the Benchmark component", () => {
  it("runs bench-capacity.ts as its own local command after the fixed run, re-run by server, workload or settings", () => {
    const cmd = mocks.byName("cap-capacity");
    expect(cmd.type).toBe("command:local:Command");
    const expected = renderNativeCapacityCommand({ baseUrl: "http://127.0.0.1:30000", servedModelName: "qwen", model: "Qwen/Qwen3-0.6B", workload: resolveWorkload(WORKLOAD), capacity: CAPACITY, levelTimeoutSeconds: 120 });
    expect(cmd.inputs.create).toBe(expected);
    expect(cmd.inputs.create).toContain("npx tsx scripts/bench-capacity.ts --base-url http://127.0.0.1:30000");
    expect(cmd.inputs.create).toContain("--concurrency-range 1:8 --slo ttft_p99_ms=100 --slo itl_p99_ms=40 --prompts-per-concurrency 4 --max-duration 600 --gpus 2 --no-progress --json");
    expect(cmd.inputs.create).not.toContain("--max-concurrency");
    expect(cmd.inputs.create).not.toContain(API_KEY);
    expect(cmd.inputs.triggers).toEqual(["spec-cap", workloadKey(resolveWorkload(WORKLOAD)), "native", "native", capacityKey(CAPACITY)]);
    expect(JSON.stringify(cmd.inputs.environment)).toContain(API_KEY);
    expect(mocks.isRpcSecret(cmd.inputs.environment) || mocks.isRpcSecret((cmd.inputs.environment as Record<string, unknown>).OPENAI_API_KEY)).toBe(true);
  });

  it("exports the answer, every point, the plan, and writes the report with its charts", async () => {
    const capacity = await settle(bench.capacity);
    expect(capacity?.maxConcurrency).toBe(5);
    expect(capacity?.points.map((p) => p.concurrency)).toEqual([1, 2, 4, 8, 6, 5]);
    expect(capacity?.atMax).toMatchObject({ outputTokPerS: 250, outputTokPerSPerGpu: 125, goodput: 3 });
    const plan = await settle(bench.capacityPlan);
    expect(plan?.bracketLevels.map((l) => l.x)).toEqual([1, 2, 4, 8]);
    const md = await settle(bench.capacityReportPath);
    expect(md).toBe(path.join(reportDir, "cap-test-capacity.md"));
    expect(fs.readFileSync(String(md), "utf8")).toContain("**5** concurrent requests");
    expect(fs.existsSync(path.join(reportDir, "cap-test-capacity-latency.svg"))).toBe(true);
    expect(fs.existsSync(path.join(reportDir, "cap-test-capacity-throughput.svg"))).toBe(true);
  });

  it("no capacity setting: no command, undefined outputs", async () => {
    const plain = new mod.Benchmark("plain", {
      connection: { kind: "local" }, serverReady: "ready", servedModelName: "qwen", modelPath: "m", serverSpecHash: "s", hourlyPriceUsd: 0, workload: WORKLOAD, reportDir,
    });
    expect(await settle(plain.capacity)).toBeUndefined();
    expect(mocks.recorded.some((r) => r.name === "plain-capacity")).toBe(false);
  });

  it("with the remote runner on an SSH host: the pinned vllm container once per level over ssh, the key in the environment only", async () => {
    const privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUtest-key-line-42\n-----END OPENSSH PRIVATE KEY-----\n";
    const ssh = { kind: "ssh" as const, host: "203.0.113.7", port: 2222, user: "ubuntu", privateKey, hostKey: TEST_HOST_PUBLIC_KEY };
    mocks.stdoutByName.set("rcap-capacity", stdout);
    const remote = new mod.Benchmark("rcap", {
      connection: ssh, serverReady: "ready", port: 30000, servedModelName: "qwen", modelPath: "Qwen/Qwen3.5-397B-A17B", apiKey: API_KEY, serverSpecHash: "spec-cap",
      hourlyPriceUsd: 12, workload: WORKLOAD, timeoutSeconds: 120, reportDir, capacity: CAPACITY, vllmImage: "vllm/vllm-openai:v0.18.0",
    });
    expect(await settle(remote.capacity)).toMatchObject({ maxConcurrency: 5 });
    const cmd = mocks.byName("rcap-capacity");
    expect(cmd.type).toBe("command:local:Command");
    expect(cmd.inputs.create).toBe(
      renderNativeCapacityCommand({
        baseUrl: "http://127.0.0.1:30000", servedModelName: "qwen", model: "Qwen/Qwen3.5-397B-A17B", workload: resolveWorkload(WORKLOAD), capacity: CAPACITY, levelTimeoutSeconds: 120,
        remote: { ssh: { user: "ubuntu", host: "203.0.113.7", port: 2222 }, vllmImage: "vllm/vllm-openai:v0.18.0", docker: "docker", hfCacheDir: "~/.cache/huggingface", resultDir: "/var/tmp/hgx-benchmark" },
      }),
    );
    expect(cmd.inputs.create).toContain("--runner remote --ssh ubuntu@203.0.113.7:2222 --vllm-image vllm/vllm-openai:v0.18.0");
    expect(cmd.inputs.create).not.toContain("test-key-line-42");
    expect(cmd.inputs.create).not.toContain(API_KEY);
    const env = cmd.inputs.environment as Record<string, unknown>;
    expect(JSON.stringify(env)).toContain("test-key-line-42");
    expect(mocks.isRpcSecret(env) || mocks.isRpcSecret(env.HGX_SSH_PRIVATE_KEY)).toBe(true);
    expect(cmd.inputs.triggers).toContain(capacityKey(CAPACITY));
  });

  it("compares the run with a reference stack's outputs (previous: none kept yet under mocks) and says so in the report", async () => {
    const reference = { metrics: { ...(await settle(bench.metrics)), outputThroughput: 2000 }, capacity: { ...(await settle(bench.capacity)), maxConcurrency: 5 } };
    mocks.stdoutByName.set("ref-capacity", stdout);
    const withRef = new mod.Benchmark("ref", capArgs({ compareWith: { stackName: "org/hgx-inference/prod", benchmarkOutput: reference } }));
    const comparison = await settle(withRef.comparison);
    expect(comparison.previous).toBeNull();
    expect(comparison.reference?.against).toMatch(/^stack org\/hgx-inference\/prod, \d/);
    expect(comparison.reference?.deltas.find((d) => d.key === "outputThroughput")).toMatchObject({ before: 2000, verdict: "worse" });
    expect(comparison.reference?.deltas.find((d) => d.key === "capacity.maxConcurrency")).toMatchObject({ before: 5, after: 5, verdict: "within noise" });
    expect(mocks.byName("ref-history").type).toBe("pulumi-nodejs:dynamic/benchmark:BenchmarkHistory");
    const md = fs.readFileSync(String(await settle(withRef.reportPath)), "utf8");
    expect(md).toContain("### Against the reference stack: stack org/hgx-inference/prod, ");
    expect(md).toContain("**Worse beyond noise: output throughput");
  });

  it("caps the search's total time at the benchmark timeout unless maxDuration says otherwise", () => {
    const base = { connection: { kind: "local" as const }, serverReady: "r", servedModelName: "q", modelPath: "m", serverSpecHash: "s", hourlyPriceUsd: 0, timeoutSeconds: 900 };
    expect(mod.resolveBenchmarkSettings({ ...base, capacity: { concurrencyRange: { low: 1, high: 8 }, slo: undefined } }).capacity?.maxDurationS).toBe(900);
    expect(mod.resolveBenchmarkSettings({ ...base, capacity: CAPACITY }).capacity?.maxDurationS).toBe(600);
  });

  it("refuses bad settings before creating anything", () => {
    expect(() =>
      mod.resolveBenchmarkSettings({ connection: { kind: "local" }, serverReady: "r", servedModelName: "q", modelPath: "m", serverSpecHash: "s", hourlyPriceUsd: 0, capacity: { ...CAPACITY, repeats: 0 } }),
    ).toThrow(/benchmarkCapacity\.repeats must be a whole number ≥ 1/);
  });

  it("reads the CLI's output and refuses anything else", () => {
    expect(parseCapacityOutput(`log line\n${stdout}`).capacity.maxConcurrency).toBe(5);
    expect(() => parseCapacityOutput('{"completed": 3}')).toThrow(/plan is missing[^]*capacity is missing/);
    expect(nativeCapacityArgs({ baseUrl: "http://h:1", servedModelName: "q", model: "m", workload: resolveWorkload(WORKLOAD), capacity: { concurrencyRange: { low: 2, high: 4 }, slo: undefined }, levelTimeoutSeconds: 60 })).not.toContain("--slo");
  });
});
