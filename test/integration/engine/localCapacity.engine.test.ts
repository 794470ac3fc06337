/**
 * Must show (issue 11): the capacity sweep on the local stack through `pulumi up` — the whole program (`index.ts` on
 * Pulumi.local.yaml) under the real engine, the SGLang simulator image on the rig's Docker engine with an admission
 * knee (`--max-running-requests 8`: a 9th request waits a whole generation, ~1.5 s, in the queue), and the native
 * runner's search for the highest concurrency meeting p99 TTFT ≤ 1 s.
 *
 * preview (the plan: levels, worst-case duration, at preview) → up (fixed run, then the search; `benchmark.capacity`,
 * the capacity report and its two charts; no previous run to compare yet) → up with another resolution (the search
 * re-runs, the fixed run does not; `benchmark.comparison.previous` holds the deltas, the report its table) → destroy.
 *
 * The knee: up to 8 every request is admitted at once (TTFT = the ~0.3 s prefill plus overhead); from 9 on, the p99
 * request waited for a whole generation (~1.5 s). The SLO sits between, ~0.6 s from both, so a loaded machine does not
 * flip a verdict unless it stalls for that long; the answer is asserted within one level of 8.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CapacitySummary } from "../../../components/benchmark/capacity";
import type { BenchmarkComparisons } from "../../../components/benchmark/comparison";
import { createProjectStack, setStructuredConfig, type EngineStack } from "../../fixtures/pulumi-engine";
import { freePort } from "../../fixtures/net";
import { buildSimulatorImage, DEFAULT_TIMING, expectedCapacity, resolveTiming } from "../../fixtures/sglang-simulator";
import { run } from "../../fixtures/ssh-host/docker";

const VOLUME = `hgx-engine-local-capacity-${process.pid}`;
const CONTAINER = "hgx-inference-local-hgx-sglang";
const KNEE = 8;
const CAPACITY = { concurrencyRange: "2:32", promptsPerConcurrency: "2", maxDuration: "15m" };
// An `up` here may legitimately run as long as the search's own cap (15 min) plus the fixed run and the container's
// start: its test timeout sits above that, so a slow search on a loaded machine ends as the stack's `time-cap` answer
// (a readable failure of the assertions below) and never as a vitest timeout that leaves the stack locked.
const UP_TIMEOUT_MS = 25 * 60_000;

interface Outputs {
  benchmark: {
    metrics: { completed: number };
    capacity: CapacitySummary;
    capacityReportPath: string;
    reportPath: string;
    comparison: BenchmarkComparisons;
  };
}

let engine: EngineStack & { projectDir: string };
const timings: Record<string, number> = {};

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await f();
  } finally {
    timings[label] = (Date.now() - t0) / 1000;
  }
}

const outputsOf = (o: Record<string, { value: unknown }>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.value])) as unknown as Outputs;

beforeAll(async () => {
  await buildSimulatorImage();
  await run("docker", ["rm", "-f", CONTAINER]);
  const port = await freePort();
  engine = await createProjectStack({
    stackName: "local",
    baseStackFile: "Pulumi.local.yaml",
    config: {
      "hgx-inference:hfCacheVolume": { value: VOLUME },
      "hgx-inference:sglangPort": { value: String(port) },
      "hgx-inference:benchmarkReportDir": { value: "reports" },
    },
    structuredConfig: {
      "hgx-inference:sglangFlags": { "max-running-requests": KNEE },
      "hgx-inference:benchmarkCapacity": CAPACITY,
      "hgx-inference:benchmarkSlo": { ttft_p99_ms: 1000 },
    },
  });
});

afterAll(async () => {
  // Figures for the lead (wall time of each phase on this machine, with its load at the time).
  process.stderr.write(`local capacity engine test timings (s): ${JSON.stringify(timings)}\n`);
  await engine?.dispose().catch(() => undefined);
  await run("docker", ["rm", "-f", CONTAINER]);
  await run("docker", ["volume", "rm", "-f", VOLUME]);
});

describe("the capacity sweep on the local stack through pulumi up", () => {
  let first: Outputs;

  it("previews the plan: levels, worst-case duration and the time cap", async () => {
    const printed: string[] = [];
    const preview = await timed("preview", () => engine.stack.preview({ onOutput: (l) => printed.push(l) }));
    expect(preview.changeSummary.create).toBeGreaterThan(0);
    const text = printed.join("");
    expect(text).toMatch(/capacity search plan: concurrency levels 2 \(~[\d.]+ min\), 4 \(~[\d.]+ min\), 8 \(~[\d.]+ min\), 16 \(~[\d.]+ min\), 32 \(~[\d.]+ min\), then up to \d+ bisection level\(s\)/);
    expect(text).toMatch(/plan: worst case [\d.]+ min .*; cap 15\.0 min/);
  });

  it("the answer is known in advance: the simulator's own replay of the smoke workload puts it at the knee", () => {
    const model = resolveTiming({ ...DEFAULT_TIMING, maxRunningRequests: KNEE });
    expect(expectedCapacity(model, { ttftP99Ms: 1000 }, { inputTokens: 512, outputTokens: 64, numPrompts: 32 }, 32).maxConcurrency).toBe(KNEE);
  });

  it("comes up with benchmark.capacity: the knee within one level, every point, and the report with its two charts", async () => {
    const up = await timed("first up", () => engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent }));
    expect(up.summary.result).toBe("succeeded");
    first = outputsOf(up.outputs);
    const c = first.benchmark.capacity;
    timings["first search (its own clock)"] = c.elapsedS;
    timings["first search levels"] = c.points.length;
    const ctx = JSON.stringify(c.points.map((p) => [p.concurrency, Math.round(p.ttftP99Ms), p.meetsSlo]));
    expect(c.stop, ctx).toBe("resolved");
    expect(Math.abs((c.maxConcurrency ?? 0) - KNEE), ctx).toBeLessThanOrEqual(1);
    expect(c.points.slice(0, 4).map((p) => p.concurrency)).toEqual([2, 4, 8, 16]);
    for (const p of c.points) {
      expect(p).toMatchObject({ completed: 2 * p.concurrency, failed: 0 });
      // well clear of the knee, the verdict cannot be noise
      if (p.concurrency <= KNEE - 2) expect(p.meetsSlo, ctx).toBe(true);
      if (p.concurrency >= 2 * KNEE) expect(p.meetsSlo, ctx).toBe(false);
    }
    expect(c.atMax?.outputTokPerS).toBeGreaterThan(0);
    expect(c.atMax?.goodput).toBeGreaterThan(0);
    // Issue 23: read back strictly, with the search's resolution and its provenance (the stack passes --tokenizer: no fallback).
    expect(c.resolution).toBe(1);
    expect(c.provenance).toMatchObject({
      workload: { dataset: "random", inputLen: 512, outputLen: 64, numPrompts: 32, promptsPerConcurrency: 2, ignoreEos: true },
      tokenizerFallback: null,
      runner: { name: "native" },
    });

    const md = path.resolve(engine.projectDir, first.benchmark.capacityReportPath);
    const report = fs.readFileSync(md, "utf8");
    expect(report).toContain(`**${c.maxConcurrency}** concurrent requests`);
    for (const svg of ["local-capacity-latency.svg", "local-capacity-throughput.svg"]) {
      const text = fs.readFileSync(path.join(path.dirname(md), svg), "utf8");
      expect(text).toMatch(/^(<\?xml[^>]*>\s*)?<svg[\s\S]*<\/svg>\s*$/);
      expect(report).toContain(svg);
    }
    // For looking at the charts as pictures (the test's project directory is removed afterwards).
    const keep = process.env.HGX_KEEP_CAPACITY_REPORT;
    if (keep) fs.cpSync(path.dirname(md), keep, { recursive: true });

    // First run of the stack: nothing to compare with yet, and the report says so.
    expect(first.benchmark.comparison.previous).toBeNull();
    expect(first.benchmark.comparison.notes.join(" ")).toContain("No previous run");
    expect(engine.engineOutput()).toMatch(/capacity: max concurrency \d+ \(resolved\), \d+ levels; report reports\/local-capacity\.md/);
  }, UP_TIMEOUT_MS);

  it("re-runs only the search when its settings change, and compares the run with the previous one", async () => {
    await setStructuredConfig(engine.stack, "hgx-inference:benchmarkCapacity", { ...CAPACITY, resolution: "2" });
    const up = await timed("second up (search only)", () => engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent }));
    expect(up.summary.result).toBe("succeeded");
    // The fixed run was not repeated (the same measurement, date included); the search was.
    const second = outputsOf(up.outputs);
    timings["second search (its own clock)"] = second.benchmark.capacity.elapsedS;
    expect(second.benchmark.metrics).toEqual(first.benchmark.metrics);
    expect(second.benchmark.capacity.elapsedS).not.toBe(first.benchmark.capacity.elapsedS);

    const previous = second.benchmark.comparison.previous;
    expect(previous).not.toBeNull();
    const answer = previous?.deltas.find((d) => d.key === "capacity.maxConcurrency");
    expect(answer).toMatchObject({ before: first.benchmark.capacity.maxConcurrency, after: second.benchmark.capacity.maxConcurrency });
    // The fixed run is the same measurement: zero deltas, within noise.
    expect(previous?.deltas.find((d) => d.key === "outputThroughput")).toMatchObject({ delta: 0, verdict: "within noise" });
    // Issue 23: the same workload on both sides (stated, not refused); the answer judged against the lower answer's resolution.
    expect(previous?.refused).toBeNull();
    expect(previous?.workloads).toEqual({ before: "random 512 in / 64 out, 32 prompts", after: "random 512 in / 64 out, 32 prompts" });
    expect(answer).toMatchObject({ noiseUnit: "absolute", noiseSource: "resolution" });
    const report = fs.readFileSync(path.resolve(engine.projectDir, second.benchmark.reportPath), "utf8");
    expect(report).toContain("### Against this stack's previous run: local");
    expect(report).toContain("capacity: max concurrency meeting the SLOs");
    expect(report).toContain("Workloads: before random 512 in / 64 out, 32 prompts; now random 512 in / 64 out, 32 prompts.");
    const keep = process.env.HGX_KEEP_CAPACITY_REPORT;
    if (keep) fs.cpSync(path.dirname(path.resolve(engine.projectDir, second.benchmark.reportPath)), keep, { recursive: true });
  }, UP_TIMEOUT_MS);

  it("destroys everything but the cache volume", async () => {
    const destroyed = await timed("destroy", () => engine.stack.destroy({ onOutput: engine.onOutput }));
    expect(destroyed.summary.result).toBe("succeeded");
    expect((await engine.stack.exportStack()).deployment.resources ?? []).toHaveLength(0);
  });
});
