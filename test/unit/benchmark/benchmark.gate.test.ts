/**
 * The threshold gate and unreadable results under Pulumi mocks. A failing gate rejects the
 * component's outputs, and the SDK's registerOutputs then rejects too: in `pulumi up` that is
 * exactly what fails the program with the ResourceError's message. Under vitest it would be an
 * unhandled rejection, so this file swaps the process's unhandledRejection listeners for one
 * that records the expected errors (and forwards anything else to vitest's listeners).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as BenchmarkModule from "../../../components/benchmark/benchmark";
import { type BenchmarkMocks, installBenchmarkMocks, seedResultJson, settle, sshBenchmarkArgs } from "./mockHarness";

const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-bench-gate-"));
const EXPECTED = /benchmark missed \d+ threshold|benchmark result could not be read/;
const unhandled: unknown[] = [];
let savedListeners: NodeJS.UnhandledRejectionListener[] = [];

let mocks: BenchmarkMocks;
let mod: typeof BenchmarkModule;

beforeAll(async () => {
  savedListeners = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", (reason, promise) => {
    if (reason instanceof Error && EXPECTED.test(reason.message)) {
      unhandled.push(reason);
      return;
    }
    for (const l of savedListeners) l(reason, promise);
  });
  mocks = await installBenchmarkMocks();
  mod = await import("../../../components/benchmark/benchmark");
});

afterAll(async () => {
  // let the SDK's pending registerOutputs settle before vitest's listeners come back
  await new Promise((r) => setTimeout(r, 200));
  process.removeAllListeners("unhandledRejection");
  for (const l of savedListeners) process.on("unhandledRejection", l);
  fs.rmSync(reportDir, { recursive: true, force: true });
});

describe("threshold gate", () => {
  it("fails with a ResourceError listing EVERY miss, after writing the report", async () => {
    mocks.stdoutByName.set("gated-run", JSON.stringify({ ...JSON.parse(seedResultJson), output_throughput: 950.5, p99_ttft_ms: 7100, failed: 2 }));
    const gated = new mod.Benchmark(
      "gated",
      sshBenchmarkArgs(mocks, { thresholds: { minOutputThroughput: 1100, maxTtftP99Ms: 6000, maxFailedRequests: 0, maxTpotP99Ms: 100 }, reportDir }),
    );
    const err = await settle(gated.passed).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(mocks.pulumi.ResourceError);
    const message = (err as Error).message;
    expect(message).toBe(
      [
        "benchmark missed 3 thresholds:",
        "  - output throughput 950.5 tok/s is below the minimum 1,100 tok/s",
        "  - p99 TTFT 7,100 ms is above the maximum 6,000 ms",
        "  - failed requests 2 of 514 is above the maximum 0",
      ].join("\n"),
    );
    // the other outputs still resolve: metrics stay visible next to the failure
    expect(await settle(gated.thresholdMisses)).toHaveLength(3);
    expect((await settle(gated.metrics)).outputThroughput).toBe(950.5);
    const md = fs.readFileSync(path.join(reportDir, "b200-test-benchmark.md"), "utf8");
    expect(md).toContain("**FAILED**: missed 3 of 4 thresholds:");
  });

  it("surfaces the failure through registerOutputs (what fails `pulumi up`)", async () => {
    const seen = () => unhandled.some((e) => e instanceof Error && /benchmark missed 3 thresholds/.test(e.message));
    for (let i = 0; i < 50 && !seen(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(seen()).toBe(true);
  });
});

describe("unreadable runner output", () => {
  it("rejects the metrics with a ResourceError naming the fix", async () => {
    mocks.stdoutByName.set("garbled-run", "Traceback (most recent call last):\n  RuntimeError: Failed to infer device type\n");
    const garbled = new mod.Benchmark("garbled", sshBenchmarkArgs(mocks, { reportDir }));
    await expect(settle(garbled.metrics)).rejects.toThrow(/benchmark result could not be read: .*not a JSON object.*--save-result/s);
  });
});
