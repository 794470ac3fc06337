/**
 * The threshold gate under the REAL Pulumi engine (Automation API, local file backend): a miss
 * must fail `pulumi up` with a message listing every miss, and a pass must export the outputs.
 * The command provider is not needed here: a small component feeds a stored result through the
 * same `evaluateBenchmark` + `thresholdGate` the Benchmark component uses.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, describe, expect, it } from "vitest";
import { type BenchmarkThresholds, SEED_BASELINE } from "../../../components/benchmark/baseline";
import { evaluateBenchmark, thresholdGate } from "../../../components/benchmark/benchmark";
import { createEngineStack, type EngineStack } from "../../fixtures/pulumi-engine";

const fixture = fs.readFileSync(path.join(__dirname, "../../fixtures/benchmark/vllm-seed-result.json"), "utf8");

class GateHarness extends pulumi.ComponentResource {
  readonly passed: pulumi.Output<boolean>;
  readonly misses: pulumi.Output<string[]>;
  constructor(name: string, stdout: string, thresholds: BenchmarkThresholds) {
    super("hgxtest:benchmark:GateHarness", name, {}, {});
    const evaluation = pulumi.output(stdout).apply((o) => evaluateBenchmark(o, 39.92, { baseline: SEED_BASELINE, thresholds }));
    this.misses = evaluation.apply((e) => e.thresholdMisses);
    this.passed = thresholdGate(evaluation, pulumi.output(true), true, this);
    this.registerOutputs({ passed: this.passed, misses: this.misses });
  }
}

let thresholds: BenchmarkThresholds = {};
let engine: EngineStack | undefined;

function program() {
  return async () => {
    const gate = new GateHarness("gate", fixture, thresholds);
    return { passed: gate.passed, misses: gate.misses };
  };
}

afterAll(async () => {
  await engine?.dispose();
});

describe("threshold gate in pulumi up", () => {
  it("passes and exports the outputs when every threshold is met", async () => {
    engine = await createEngineStack({ projectName: "hgx-gate-test", program: async () => program()() });
    thresholds = { minOutputThroughput: 1100, maxTtftP99Ms: 6000, maxFailedRequests: 0 };
    const up = await engine.stack.up({ onOutput: engine.onOutput });
    expect(up.summary.result).toBe("succeeded");
    expect(up.outputs.passed.value).toBe(true);
    expect(up.outputs.misses.value).toEqual([]);
  });

  it("fails the update with every miss in the message", async () => {
    if (!engine) throw new Error("engine stack missing");
    thresholds = { minOutputThroughput: 2000, maxTtftP99Ms: 4000, maxTpotP99Ms: 20, maxFailedRequests: 0 };
    const err = await engine.stack.up({ onOutput: engine.onOutput }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err, "pulumi up should have failed").toBeInstanceOf(Error);
    const printed = engine.engineOutput();
    for (const line of [
      "benchmark missed 3 thresholds:",
      "- output throughput 1,232.5 tok/s is below the minimum 2,000 tok/s",
      "- p99 TTFT 5,008.1 ms is above the maximum 4,000 ms",
      "- p99 TPOT 26 ms is above the maximum 20 ms",
    ]) {
      expect(printed, line).toContain(line);
    }
    // attached to the component, not an anonymous program crash, and without a stack trace
    expect(printed).toMatch(/hgxtest:benchmark:GateHarness \(gate\):\n\s+error: benchmark missed 3 thresholds:/);
    expect(printed).not.toContain("applyHelperAsync");
    const history = await engine.stack.history();
    expect(history[0].result).toBe("failed");
  });
});
