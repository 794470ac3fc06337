/**
 * The Benchmark component's capacity search for real: its stored command (`npx tsx scripts/bench-capacity.ts …
 * --json`, key in the environment) runs after the fixed run against the in-process simulator with an admission
 * knee at 12, and `capacity`, `capacityPlan` and the report with its charts come from that run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as BenchmarkModule from "../../../components/benchmark/benchmark";
import { expectedCapacity, startSimulator, type RunningSimulator } from "../../fixtures/sglang-simulator";
import { installLocalCommandMocks, type LocalCommandMocks, settle } from "./localCommandMocks";
import { localBenchmarkArgs } from "../../fixtures/benchmark/componentArgs";

const API_KEY = "sk-it-capacity-31c0";
const TIMING = { loadMs: 300, refuseConnectionsMs: 100, prefillBaseMs: 40, prefillPerTokenMs: 0.01, decodeBaseMs: 15, decodePerRunningMs: 0.05, maxRunningRequests: 12 };
const WORKLOAD = { inputLen: 64, outputLen: 32, numPrompts: 48, maxConcurrency: 4 };
const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-capacity-component-"));

let sim: RunningSimulator;
let mocks: LocalCommandMocks;
let bench: BenchmarkModule.Benchmark;

beforeAll(async () => {
  sim = await startSimulator({ servedModelName: "qwen", timing: TIMING, tokenizer: "estimate", apiKey: API_KEY });
  await sim.whenHealthy;
  mocks = await installLocalCommandMocks({
    stack: "local",
    baseEnv: { ...process.env, HF_HOME: path.join(work, "hf"), OPENAI_API_KEY: "" },
    timeoutMs: 840_000,
  });
  const mod = await import("../../../components/benchmark/benchmark");
  bench = new mod.Benchmark(
    "bench",
    localBenchmarkArgs({
      baseUrl: sim.baseUrl,
      // No hub here: the runner's packaged tokenizer, chosen explicitly (a stack run never falls back).
      tokenizer: "bundled",
      apiKey: API_KEY,
      serverSpecHash: "spec-capacity",
      workload: WORKLOAD,
      reportDir: path.join(work, "reports"),
      capacity: { concurrencyRange: { low: 4, high: 32 }, slo: { ttftP99Ms: 300, itlP99Ms: 120 }, maxDurationS: 600, gpus: 8 },
    }),
  );
  await settle(bench.capacityReportPath);
}, 900_000);

afterAll(async () => {
  await sim?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe("capacity search through the Benchmark component", () => {
  it("ran the fixed run, then the capacity command, key from the environment only", () => {
    expect(mocks.executed.map((e) => e.name)).toEqual(["bench-run", "bench-capacity"]);
    const cap = mocks.executed[1];
    expect(cap.exitCode, cap.stderr).toBe(0);
    expect(cap.create).toContain("npx tsx scripts/bench-capacity.ts --base-url " + sim.baseUrl);
    expect(cap.create).not.toContain(API_KEY);
    expect(cap.environment.OPENAI_API_KEY).toBe(API_KEY);
    expect(cap.stderr).toContain("bench:capacity: level 1: concurrency 4");
    expect(cap.stderr).not.toContain(API_KEY);
  });

  it("exports the knee (within one level of the answer known in advance) and every point", async () => {
    const capacity = await settle(bench.capacity);
    const expected = expectedCapacity(sim.timing, { ttftP99Ms: 300, itlP99Ms: 120 }, { inputTokens: 64, outputTokens: 32, numPrompts: 48 }, 32).maxConcurrency;
    const ctx = mocks.executed[1]?.stderr ?? "";
    expect(Math.abs((capacity?.maxConcurrency ?? -10) - expected), ctx).toBeLessThanOrEqual(1);
    expect(capacity?.points.length, ctx).toBe((ctx.match(/^bench:capacity: level \d+:/gm) ?? []).length);
    expect((await settle(bench.capacityPlan))?.bracketLevels.map((l) => l.x)).toEqual([4, 8, 16, 32]);
  });

  it("wrote the capacity report, its two charts and a PNG of each", async () => {
    const md = String(await settle(bench.capacityReportPath));
    expect(fs.readFileSync(md, "utf8")).toContain("# Capacity: local");
    for (const chart of ["local-capacity-latency", "local-capacity-throughput"]) {
      expect(fs.readFileSync(path.join(path.dirname(md), `${chart}.svg`), "utf8")).toContain("</svg>");
      // PNG signature: resvg rendered it (fonts-dejavu-core, from scripts/setup-machine.sh, gives it its text)
      expect(fs.readFileSync(path.join(path.dirname(md), `${chart}.png`)).subarray(0, 4).toString("latin1")).toBe("\x89PNG");
    }
  });
});
