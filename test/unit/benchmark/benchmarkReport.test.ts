import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compareToBaseline, checkThresholds, SEED_BASELINE } from "../../../components/benchmark/baseline";
import { benchmarkCost } from "../../../components/benchmark/cost";
import {
  type BenchmarkReportInput,
  escapeXml,
  renderMarkdownReport,
  renderSvgChart,
  reportPaths,
  writeBenchmarkReport,
} from "../../../components/benchmark/benchmarkReport";
import { parseBenchmarkOutput, parseBenchmarkResult, summarize } from "../../../components/benchmark/resultParser";
import { emptyRunResult } from "../../fixtures/benchmark/results";
import { SEED_WORKLOAD } from "../../../components/benchmark/workload";
import { xmlProblems } from "./xmlCheck";

const seedRun = parseBenchmarkOutput(fs.readFileSync(path.join(__dirname, "../../fixtures/benchmark/vllm-seed-result.json"), "utf8"));

function input(over: Partial<BenchmarkReportInput> = {}, metrics = seedRun): BenchmarkReportInput {
  const thresholds = over.thresholds ?? { minOutputThroughput: 1100, maxTtftP99Ms: 6000 };
  return {
    stackName: "lambda-b200",
    runner: "remote",
    servedModelName: "qwen",
    workload: SEED_WORKLOAD,
    metrics: summarize(metrics),
    baseline: SEED_BASELINE,
    ratios: compareToBaseline(metrics),
    cost: benchmarkCost(metrics, 39.92),
    thresholds,
    thresholdMisses: checkThresholds(metrics, thresholds),
    serverSpecHash: "0123456789abcdef0123",
    ...over,
  };
}

describe("renderMarkdownReport", () => {
  const md = renderMarkdownReport(input());

  it("states the verdict and the run", () => {
    expect(md).toContain("# Benchmark: lambda-b200");
    expect(md).toContain("**PASSED**: all 2 thresholds met.");
    expect(md).toContain("Model `qwen`, runner `remote`, server spec `0123456789ab`, run 20260301-142233.");
    expect(md).toContain("512 prompts, 8192 tokens in / 1024 out, concurrency 32, `/v1/chat/completions`, temperature 0, ignore EOS");
  });

  it("contains the measured figures, the baseline and the ratios", () => {
    expect(md).toContain("| output tokens/s | 1,232.5 | 1,232 | 1.00× |");
    expect(md).toContain("| total tokens/s | 11,092.8 | 11,092 | 1.00× |");
    expect(md).toContain("| TTFT | 1,825.4 | 1,493.9 | 3,120.5 | 5,008.1 | 1,825 | 5,008 |");
    expect(md).toContain("| TPOT | 24 | 24 | 24.9 | 26 | 24 | 26 |");
    expect(md).toContain("| ITL | 24 | 22.4 | 27.9 | 47.1 | 24 | 47 |");
    expect(md).toContain("| E2EL | 26,398.7 | 26,120.4 | 27,902.3 | 30,011.8 | n/a | n/a |");
    expect(md).toContain("| input tokens (client's count, as vllm 0.18.0) | 4,194,304 | 4,194,304 |");
    // vllm records no server count; the tokenizer it recorded is named; a complete result has no notes
    expect(md).not.toContain("server's count");
    expect(md).toContain("Prompts built with the tokenizer `Qwen/Qwen3.5-397B-A17B`.");
    expect(md).not.toContain("## Notes on the result");
    expect(md).toContain("| output tokens | 524,288 | 524,288 |");
    expect(md).toContain("| failed | 0 | |");
  });

  it("contains the cost figures", () => {
    expect(md).toContain("| instance price | $39.92/hour |");
    expect(md).toMatch(/\| per 1M output tokens \| \$9\.00 \|/);
    expect(md).toMatch(/\| per 1M total tokens \| \$0\.9996 \|/);
    expect(md).toContain("| this benchmark run | $4.72 |");
  });

  it("links the chart by its file name", () => {
    expect(md).toContain("](lambda-b200-benchmark.svg)");
  });

  it("lists every miss when thresholds fail", () => {
    const slow = parseBenchmarkResult({ ...seedRun.raw, output_throughput: 800, p99_ttft_ms: 9000 });
    const failing = renderMarkdownReport(input({}, slow));
    expect(failing).toContain("**FAILED**: missed 2 of 2 thresholds:");
    expect(failing).toContain("- output throughput 800 tok/s is below the minimum 1,100 tok/s");
    expect(failing).toContain("- p99 TTFT 9,000 ms is above the maximum 6,000 ms");
  });

  it("says when no thresholds are configured, and renders n/a for missing figures", () => {
    const bare = parseBenchmarkResult(emptyRunResult(4));
    const md2 = renderMarkdownReport(input({ thresholds: {}, thresholdMisses: [] }, bare));
    expect(md2).toContain("No thresholds configured.");
    expect(md2).toContain("| per 1M output tokens | n/a |");
  });

  it("shows the server's input-token count beside the client's, and every note of the reader", () => {
    const native = parseBenchmarkResult({ ...seedRun.raw, total_input_tokens_server: 5_145_283 }, { numPrompts: 600 });
    const text = renderMarkdownReport(input({}, native));
    expect(text).toContain("| input tokens (server's count, chat template included) | 5,145,283 | |");
    expect(text).toContain("## Notes on the result\n\n- completed 512 + failed 0 = 512, but the workload sent 600 prompts\n");
  });

  it("is deterministic (no clock of its own)", () => {
    expect(renderMarkdownReport(input())).toBe(md);
  });
});

describe("renderSvgChart", () => {
  it("is well-formed XML with an svg root", () => {
    const svg = renderSvgChart(input());
    expect(xmlProblems(svg)).toEqual([]);
    expect(svg).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
  });

  it("draws measured and baseline bars for throughput and for each latency mean/p99", () => {
    const svg = renderSvgChart(input());
    const bars = svg.match(/<rect [^>]*><title>[^<]*<\/title><\/rect>/g) ?? [];
    expect(bars).toHaveLength(2 * 2 + 3 * 4);
    expect(svg).toContain("<title>output tok/s output measured: 1,232.5</title>");
    expect(svg).toContain("<title>total tok/s total baseline: 11,092</title>");
    expect(svg).toContain("<title>TTFT p99 measured: 5,008.1</title>");
    expect(svg).toContain("<title>ITL p99 baseline: 47</title>");
    expect(svg).toContain("Latency (ms, log scale)");
  });

  it("escapes names and stays well-formed with zero and missing figures", () => {
    const bare = parseBenchmarkResult(emptyRunResult(4));
    const svg = renderSvgChart(input({ stackName: `a<b>&"c'`, servedModelName: "q&a" }, bare));
    expect(xmlProblems(svg)).toEqual([]);
    expect(svg).toContain("a&lt;b&gt;&amp;&quot;c&apos;");
    expect(svg).toContain(">n/a<");
  });

  it("the checker itself catches broken XML", () => {
    expect(xmlProblems("<svg><g></svg>")).not.toEqual([]);
    expect(xmlProblems('<svg a="1" a="2"/>')).not.toEqual([]);
    expect(xmlProblems("<svg>&</svg>")).not.toEqual([]);
    expect(xmlProblems("<svg x=1/>")).not.toEqual([]);
    expect(xmlProblems("<a/><b/>")).not.toEqual([]);
    expect(escapeXml(`<&>"'`)).toBe("&lt;&amp;&gt;&quot;&apos;");
  });
});

describe("writeBenchmarkReport", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-report-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes <dir>/<stack>-benchmark.md and .svg, creating the directory", () => {
    const target = path.join(dir, "reports", "nested");
    const paths = writeBenchmarkReport(target, input());
    expect(paths).toEqual({ markdown: path.join(target, "lambda-b200-benchmark.md"), svg: path.join(target, "lambda-b200-benchmark.svg") });
    expect(fs.readFileSync(paths.markdown, "utf8")).toBe(renderMarkdownReport(input()));
    expect(xmlProblems(fs.readFileSync(paths.svg, "utf8"))).toEqual([]);
  });

  it("keeps the stack name file-safe", () => {
    expect(reportPaths("reports", "org/proj/dev stack")).toEqual({
      markdown: path.join("reports", "org_proj_dev_stack-benchmark.md"),
      svg: path.join("reports", "org_proj_dev_stack-benchmark.svg"),
    });
  });
});
