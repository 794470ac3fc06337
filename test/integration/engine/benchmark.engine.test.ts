/**
 * The Benchmark component under the real Pulumi engine, with the native runner against the SGLang
 * simulator: it runs after deploy, does NOT run again on an unchanged `pulumi up`, and runs again
 * when the server spec or the workload changes. The simulator's request counter is the witness.
 * The `command` provider is the real plugin (scripts/pulumi-toolchain.sh).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Benchmark } from "../../../components/benchmark";
import { createEngineStack, plaintextLeaks, type EngineStack } from "../../fixtures/pulumi-engine";
import { FAST_TIMING, startSimulator, type RunningSimulator } from "../../fixtures/sglang-simulator";

const PROJECT = "hgx-bench-engine";
const API_KEY = "sk-bench-engine-test-7f3a";
const WORKLOAD = { inputLen: 64, outputLen: 8, numPrompts: 4, maxConcurrency: 2 };

let sim: RunningSimulator;
let engine: EngineStack;
let reportDir: string;

beforeAll(async () => {
  sim = await startSimulator({ port: 0, servedModelName: "qwen", apiKey: API_KEY, timing: FAST_TIMING, tokenizer: "estimate" });
  await sim.whenHealthy;
  reportDir = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-bench-report-"));
  engine = await createEngineStack({
    projectName: PROJECT,
    stackName: "bench",
    program: async () => {
      const cfg = new pulumi.Config();
      const benchmark = new Benchmark("bench", {
        connection: { kind: "local" },
        serverReady: "ready",
        baseUrl: sim.baseUrl,
        servedModelName: "qwen",
        modelPath: "Qwen/Qwen3.5-397B-A17B",
        // not in this machine's cache: the packaged tokenizer, chosen explicitly
        tokenizer: "bundled",
        apiKey: cfg.requireSecret("apiKey"),
        serverSpecHash: cfg.require("specHash"),
        runner: "native",
        workload: { ...WORKLOAD, numPrompts: cfg.requireNumber("numPrompts") },
        hourlyPriceUsd: 45.92,
        timeoutSeconds: 300,
        reportDir,
      });
      return { metrics: benchmark.metrics, passed: benchmark.passed, costPerMillionOutputTokens: benchmark.costPerMillionOutputTokens };
    },
    config: {
      [`${PROJECT}:apiKey`]: { value: API_KEY, secret: true },
      [`${PROJECT}:specHash`]: { value: "spec-a" },
      [`${PROJECT}:numPrompts`]: { value: String(WORKLOAD.numPrompts) },
    },
  });
});

afterAll(async () => {
  await engine?.dispose();
  await sim?.close();
  if (reportDir) fs.rmSync(reportDir, { recursive: true, force: true });
});

async function completed(): Promise<number> {
  return (await sim.stats()).requestsCompleted;
}

describe("Benchmark under the real engine", () => {
  it("runs once after deploy and exports the metrics", async () => {
    const up = await engine.stack.up({ onOutput: engine.onOutput });
    expect(up.summary.result).toBe("succeeded");
    const metrics = up.outputs.metrics.value as { completed: number; failed: number; outputThroughput: number };
    expect(metrics).toMatchObject({ completed: 4, failed: 0 });
    expect(metrics.outputThroughput).toBeGreaterThan(0);
    expect(up.outputs.costPerMillionOutputTokens.value).toBeGreaterThan(0);
    expect(await completed()).toBe(4);
    expect(plaintextLeaks(engine.backendText() + engine.engineOutput(), { apiKey: API_KEY })).toEqual([]);
  });

  it("does not run again on an unchanged `pulumi up`", async () => {
    const preview = await engine.stack.preview({ onOutput: engine.onOutput });
    expect(preview.changeSummary.replace ?? 0).toBe(0);
    expect(preview.changeSummary.create ?? 0).toBe(0);
    const up = await engine.stack.up({ onOutput: engine.onOutput });
    expect(up.summary.result).toBe("succeeded");
    expect(await completed()).toBe(4);
  });

  it("runs again when the server spec changes, and again when the workload changes", async () => {
    await engine.stack.setConfig(`${PROJECT}:specHash`, { value: "spec-b" });
    await engine.stack.up({ onOutput: engine.onOutput });
    expect(await completed()).toBe(8);

    await engine.stack.setConfig(`${PROJECT}:numPrompts`, { value: "6" });
    const up = await engine.stack.up({ onOutput: engine.onOutput });
    expect((up.outputs.metrics.value as { completed: number }).completed).toBe(6);
    expect(await completed()).toBe(14);
  });
});
