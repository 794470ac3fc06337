/**
 * A benchmark report a pipeline can attach to a pull request: a Markdown summary and an SVG
 * chart (hand-written, no dependencies) of throughput and latency against the baseline.
 * Rendering is pure; `writeBenchmarkReport` is the only function that touches the disk.
 * Reports hold no timestamps of their own, so an unchanged result renders byte-identically.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { BaselineFigures, BaselineRatios, BenchmarkThresholds } from "./baseline";
import type { BenchmarkCost } from "./cost";
import type { BenchmarkSummary, LatencyStats } from "./resultParser";
import type { BenchmarkRunnerKind, BenchmarkWorkload } from "./workload";

export interface BenchmarkReportInput {
  /** Pulumi stack name; also the report files' prefix. */
  readonly stackName: string;
  readonly runner: BenchmarkRunnerKind;
  readonly servedModelName: string;
  readonly workload: BenchmarkWorkload;
  readonly metrics: BenchmarkSummary;
  readonly baseline: BaselineFigures;
  readonly ratios: BaselineRatios;
  readonly cost: BenchmarkCost;
  readonly thresholds: BenchmarkThresholds;
  readonly thresholdMisses: readonly string[];
  /** Identifies the server configuration that was measured. */
  readonly serverSpecHash?: string;
  /** Deltas against the previous run and a reference stack (`renderComparisonMarkdown`), appended as they are. */
  readonly comparisonMarkdown?: string;
}

export interface ReportPaths {
  readonly markdown: string;
  readonly svg: string;
}

/** `<dir>/<stack>-benchmark.md` and `.svg`; the stack name is reduced to file-name-safe characters. */
export function reportPaths(dir: string, stackName: string): ReportPaths {
  const safe = stackName.replace(/[^A-Za-z0-9._-]+/g, "_") || "stack";
  return {
    markdown: path.join(dir, `${safe}-benchmark.md`),
    svg: path.join(dir, `${safe}-benchmark.svg`),
  };
}

/** Thousands separators, at most `digits` decimals; "n/a" for missing or non-finite values. */
export function formatNumber(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "n/a";
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function formatRatio(r: number | null): string {
  return r === null || !Number.isFinite(r) ? "n/a" : `${r.toFixed(2)}×`;
}

function formatUsd(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return "n/a";
  return `$${n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: n < 1 ? 4 : 2 })}`;
}

function thresholdCount(t: BenchmarkThresholds): number {
  return Object.values(t).filter((v) => v !== undefined).length;
}

/** The Markdown summary. */
export function renderMarkdownReport(r: BenchmarkReportInput): string {
  const m = r.metrics;
  const b = r.baseline;
  const w = r.workload;
  const checked = thresholdCount(r.thresholds);
  const status =
    r.thresholdMisses.length > 0
      ? `**FAILED**: missed ${r.thresholdMisses.length} of ${checked} threshold${checked === 1 ? "" : "s"}:\n\n${r.thresholdMisses.map((x) => `- ${x}`).join("\n")}`
      : checked > 0
        ? `**PASSED**: all ${checked} threshold${checked === 1 ? "" : "s"} met.`
        : "No thresholds configured.";
  const latencyRow = (label: string, s: LatencyStats | undefined, baseMean?: number, baseP99?: number): string =>
    s === undefined
      ? `| ${label} | n/a | n/a | n/a | n/a | ${formatNumber(baseMean)} | ${formatNumber(baseP99)} |`
      : `| ${label} | ${formatNumber(s.mean)} | ${formatNumber(s.median)} | ${formatNumber(s.p90)} | ${formatNumber(s.p99)} | ${formatNumber(baseMean)} | ${formatNumber(baseP99)} |`;
  const lines = [
    `# Benchmark: ${r.stackName}`,
    "",
    status,
    "",
    `Model \`${r.servedModelName}\`, runner \`${r.runner}\`${r.serverSpecHash ? `, server spec \`${r.serverSpecHash.slice(0, 12)}\`` : ""}${m.date ? `, run ${m.date}` : ""}.`,
    `Workload: ${w.numPrompts} prompts, ${w.inputLen} tokens in / ${w.outputLen} out, concurrency ${w.maxConcurrency}, \`${w.endpoint}\`, temperature ${w.temperature}${w.ignoreEos ? ", ignore EOS" : ""}.`,
    "",
    "## Throughput",
    "",
    "| metric | measured | baseline | ratio |",
    "|---|---:|---:|---:|",
    `| output tokens/s | ${formatNumber(m.outputThroughput)} | ${formatNumber(b.outputThroughput)} | ${formatRatio(r.ratios.outputThroughput)} |`,
    `| total tokens/s | ${formatNumber(m.totalTokenThroughput)} | ${formatNumber(b.totalTokenThroughput)} | ${formatRatio(r.ratios.totalTokenThroughput)} |`,
    `| requests/s | ${formatNumber(m.requestThroughput, 3)} | | |`,
    "",
    "## Latency (ms)",
    "",
    "| metric | mean | median | p90 | p99 | baseline mean | baseline p99 |",
    "|---|---:|---:|---:|---:|---:|---:|",
    latencyRow("TTFT", m.ttft, b.ttftMeanMs, b.ttftP99Ms),
    latencyRow("TPOT", m.tpot, b.tpotMeanMs, b.tpotP99Ms),
    latencyRow("ITL", m.itl, b.itlMeanMs, b.itlP99Ms),
    ...(m.e2el ? [latencyRow("E2EL", m.e2el)] : []),
    "",
    "## Requests and tokens",
    "",
    "| | measured | baseline |",
    "|---|---:|---:|",
    `| completed | ${formatNumber(m.completed, 0)} | |`,
    `| failed | ${formatNumber(m.failed, 0)} | |`,
    `| duration (s) | ${formatNumber(m.durationS)} | |`,
    `| input tokens (client's count, as vllm 0.18.0) | ${formatNumber(m.totalInputTokens, 0)} | ${formatNumber(b.totalInputTokens, 0)} |`,
    ...(m.totalInputTokensServer !== undefined ? [`| input tokens (server's count, chat template included) | ${formatNumber(m.totalInputTokensServer, 0)} | |`] : []),
    `| output tokens | ${formatNumber(m.totalOutputTokens, 0)} | ${formatNumber(b.totalOutputTokens, 0)} |`,
    "",
    "## Cost",
    "",
    "| | |",
    "|---|---:|",
    `| instance price | ${formatUsd(r.cost.hourlyCostUsd)}/hour |`,
    `| per 1M output tokens | ${formatUsd(r.cost.costPerMillionOutputTokens)} |`,
    `| per 1M total tokens | ${formatUsd(r.cost.costPerMillionTotalTokens)} |`,
    `| this benchmark run | ${formatUsd(r.cost.benchmarkRunCostUsd)} |`,
    "",
    `![throughput and latency against the baseline](${path.basename(reportPaths(".", r.stackName).svg)})`,
    "",
    `Baseline: ${b.source}.`,
    "",
    ...(m.tokenizerId ? [`Prompts built with the tokenizer \`${m.tokenizerId}\`.`, ""] : []),
    ...(m.notes.length > 0 ? ["## Notes on the result", "", ...m.notes.map((n) => `- ${n}`), ""] : []),
    ...(r.comparisonMarkdown ? [r.comparisonMarkdown] : []),
  ];
  return lines.join("\n");
}

/** Escapes text for XML character data and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

const MEASURED_COLOUR = "#2563eb";
const BASELINE_COLOUR = "#9ca3af";
export const FONT = 'font-family="Helvetica, Arial, sans-serif"';

export function num(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

interface Bar {
  readonly value: number | undefined;
  readonly colour: string;
  readonly label: string;
}

interface BarGroup {
  readonly title: string;
  /** Small line under the title naming the bars, e.g. "mean | p99". */
  readonly caption?: string;
  readonly bars: readonly Bar[];
}

/** Vertical grouped bars in a box; `scale` maps a value to a 0..1 height fraction (or undefined: no bar). */
function barPanel(
  x: number,
  y: number,
  width: number,
  height: number,
  title: string,
  groups: readonly BarGroup[],
  scale: (v: number) => number | undefined,
  ticks: readonly { value: number; label: string }[],
): string {
  const parts: string[] = [];
  const plotTop = y + 28;
  const plotBottom = y + height - 34;
  const plotLeft = x + 48;
  const plotRight = x + width - 8;
  const plotH = plotBottom - plotTop;
  parts.push(`<text x="${num(x + width / 2)}" y="${num(y + 16)}" text-anchor="middle" font-size="14" font-weight="bold" ${FONT}>${escapeXml(title)}</text>`);
  for (const t of ticks) {
    const f = scale(t.value);
    if (f === undefined) continue;
    const ty = plotBottom - f * plotH;
    parts.push(`<line x1="${num(plotLeft)}" y1="${num(ty)}" x2="${num(plotRight)}" y2="${num(ty)}" stroke="#e5e7eb" stroke-width="1"/>`);
    parts.push(`<text x="${num(plotLeft - 4)}" y="${num(ty + 4)}" text-anchor="end" font-size="10" fill="#6b7280" ${FONT}>${escapeXml(t.label)}</text>`);
  }
  parts.push(`<line x1="${num(plotLeft)}" y1="${num(plotBottom)}" x2="${num(plotRight)}" y2="${num(plotBottom)}" stroke="#374151" stroke-width="1"/>`);
  const groupW = (plotRight - plotLeft) / Math.max(groups.length, 1);
  groups.forEach((g, gi) => {
    const gx = plotLeft + gi * groupW;
    const barW = Math.min(28, (groupW - 12) / Math.max(g.bars.length, 1));
    const barsW = barW * g.bars.length;
    const start = gx + (groupW - barsW) / 2;
    g.bars.forEach((bar, bi) => {
      const bx = start + bi * barW;
      const f = bar.value === undefined ? undefined : scale(bar.value);
      if (f === undefined || bar.value === undefined) {
        parts.push(`<text x="${num(bx + barW / 2)}" y="${num(plotBottom - 4)}" text-anchor="middle" font-size="9" fill="#6b7280" ${FONT}>n/a</text>`);
        return;
      }
      const h = Math.max(f, 0) * plotH;
      parts.push(
        `<rect x="${num(bx + 1)}" y="${num(plotBottom - h)}" width="${num(barW - 2)}" height="${num(h)}" fill="${bar.colour}"><title>${escapeXml(`${g.title} ${bar.label}: ${formatNumber(bar.value)}`)}</title></rect>`,
      );
      parts.push(`<text x="${num(bx + barW / 2)}" y="${num(plotBottom - h - 3)}" text-anchor="middle" font-size="9" ${FONT}>${escapeXml(formatNumber(bar.value, 0))}</text>`);
    });
    parts.push(`<text x="${num(gx + groupW / 2)}" y="${num(plotBottom + 14)}" text-anchor="middle" font-size="11" ${FONT}>${escapeXml(g.title)}</text>`);
    if (g.caption) {
      parts.push(`<text x="${num(gx + groupW / 2)}" y="${num(plotBottom + 27)}" text-anchor="middle" font-size="9" fill="#6b7280" ${FONT}>${escapeXml(g.caption)}</text>`);
    }
  });
  return parts.join("\n");
}

/** A round step (1, 2, 2.5 or 5 times a power of ten) giving about four intervals up to `max`. */
export function niceStep(max: number): number {
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  const raw = max / 4;
  const exp = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= raw) return m * exp;
  return 10 * exp;
}

/**
 * The SVG chart: throughput (linear scale) and latency mean/p99 for TTFT, TPOT and ITL (log
 * scale, because TTFT is seconds and TPOT tens of milliseconds), measured beside the baseline.
 */
export function renderSvgChart(r: BenchmarkReportInput): string {
  const width = 760;
  const height = 380;
  const m = r.metrics;
  const b = r.baseline;
  const measured = (label: string, value: number | undefined): Bar => ({ value, colour: MEASURED_COLOUR, label: `${label} measured` });
  const base = (label: string, value: number | undefined): Bar => ({ value, colour: BASELINE_COLOUR, label: `${label} baseline` });

  const tpGroups: BarGroup[] = [
    { title: "output tok/s", bars: [measured("output", m.outputThroughput), base("output", b.outputThroughput)] },
    { title: "total tok/s", bars: [measured("total", m.totalTokenThroughput), base("total", b.totalTokenThroughput)] },
  ];
  const tpPeak = Math.max(...tpGroups.flatMap((g) => g.bars.map((x) => (x.value !== undefined && Number.isFinite(x.value) ? x.value : 0))));
  const tpStep = niceStep(tpPeak);
  const tpMax = Math.max(tpStep * Math.ceil(tpPeak / tpStep), tpStep);
  const tpScale = (v: number): number | undefined => (Number.isFinite(v) && v >= 0 ? Math.min(v / tpMax, 1) : undefined);
  const tpTicks: { value: number; label: string }[] = [];
  for (let v = 0; v <= tpMax * 1.0001; v += tpStep) tpTicks.push({ value: v, label: formatNumber(v, 0) });

  const latGroup = (title: string, s: LatencyStats, baseMean: number, baseP99: number): BarGroup => ({
    title,
    caption: "mean | p99",
    bars: [measured("mean", s.mean), base("mean", baseMean), measured("p99", s.p99), base("p99", baseP99)],
  });
  const latGroups = [
    latGroup("TTFT", m.ttft, b.ttftMeanMs, b.ttftP99Ms),
    latGroup("TPOT", m.tpot, b.tpotMeanMs, b.tpotP99Ms),
    latGroup("ITL", m.itl, b.itlMeanMs, b.itlP99Ms),
  ];
  const positives = latGroups.flatMap((g) => g.bars.map((x) => x.value ?? 0)).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...positives, 10))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...positives, lo * 10))));
  const span = Math.log10(hi) - Math.log10(lo);
  // Bars start at the bottom decade: a value at `lo` gets a sliver, not nothing.
  const latScale = (v: number): number | undefined => (Number.isFinite(v) && v > 0 ? Math.max((Math.log10(v) - Math.log10(lo)) / span, 0.01) : undefined);
  const latTicks: { value: number; label: string }[] = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10) latTicks.push({ value: d, label: formatNumber(d, 0) });

  const failed = r.thresholdMisses.length > 0;
  const subtitle = `${r.stackName} · ${r.servedModelName} · ${r.workload.inputLen}/${r.workload.outputLen} × ${r.workload.numPrompts} @ ${r.workload.maxConcurrency} · ${failed ? `${r.thresholdMisses.length} threshold miss(es)` : thresholdCount(r.thresholds) > 0 ? "thresholds met" : "no thresholds"}`;

  const parts = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(`Benchmark of ${r.stackName} against the baseline`)}">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold" ${FONT}>${escapeXml("Benchmark against the baseline")}</text>`,
    `<text x="16" y="42" font-size="11" fill="${failed ? "#b91c1c" : "#374151"}" ${FONT}>${escapeXml(subtitle)}</text>`,
    `<rect x="${width - 220}" y="14" width="12" height="12" fill="${MEASURED_COLOUR}"/>`,
    `<text x="${width - 204}" y="24" font-size="11" ${FONT}>measured</text>`,
    `<rect x="${width - 130}" y="14" width="12" height="12" fill="${BASELINE_COLOUR}"/>`,
    `<text x="${width - 114}" y="24" font-size="11" ${FONT}>baseline</text>`,
    barPanel(8, 56, 260, height - 64, "Throughput (tokens/s)", tpGroups, tpScale, tpTicks),
    barPanel(280, 56, width - 288, height - 64, "Latency (ms, log scale)", latGroups, latScale, latTicks),
    `</svg>`,
  ];
  return parts.join("\n") + "\n";
}

/** Writes both files (creating the directory) and returns their paths. */
export function writeBenchmarkReport(dir: string, r: BenchmarkReportInput): ReportPaths {
  const paths = reportPaths(dir, r.stackName);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(paths.markdown, renderMarkdownReport(r));
  fs.writeFileSync(paths.svg, renderSvgChart(r));
  return paths;
}
