/**
 * The capacity report: a Markdown page with every measured point and two hand-written SVG charts,
 * - p99 latency (TTFT, ITL, TPOT, E2EL; log scale) against concurrency (log2 scale, as the levels double), with each
 *   SLO as a dashed line in its metric's colour and the answer marked;
 * - output tokens/s per user (1000 / mean TPOT) against output tokens/s per GPU (per server when the GPU count is
 *   not recorded): the interactivity/throughput trade-off, one point per level, labelled with its concurrency.
 * Rendering is pure; `writeCapacityReport` is the only function that touches the disk, and it also writes a PNG of
 * each chart (rendered by resvg with a font loaded from a file, for a PR comment, which cannot show an SVG).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { CapacitySummary, CapacitySummaryPoint } from "./capacity";
import { escapeXml, FONT, formatNumber, niceStep, num } from "./benchmarkReport";
import { formatDeploymentPlan, type DeploymentPlan } from "./deploymentPlan";
import { provenanceMarkdown } from "./provenance";
import { renderPng, type PngOptions, type PngOutcome } from "./chartPng";

export interface CapacityReportPaths {
  readonly markdown: string;
  readonly latencySvg: string;
  readonly throughputSvg: string;
  readonly latencyPng: string;
  readonly throughputPng: string;
}

/** `<dir>/<stack>-capacity.md`, `-capacity-latency.svg`, `-capacity-throughput.svg` and a `.png` beside each SVG. */
export function capacityReportPaths(dir: string, stackName: string): CapacityReportPaths {
  const safe = stackName.replace(/[^A-Za-z0-9._-]+/g, "_") || "stack";
  return {
    markdown: path.join(dir, `${safe}-capacity.md`),
    latencySvg: path.join(dir, `${safe}-capacity-latency.svg`),
    throughputSvg: path.join(dir, `${safe}-capacity-throughput.svg`),
    latencyPng: path.join(dir, `${safe}-capacity-latency.png`),
    throughputPng: path.join(dir, `${safe}-capacity-throughput.png`),
  };
}

/**
 * The GPU count behind the measured server when it is known (recorded in the provenance), else null: a per-GPU
 * figure divided by an assumed count would be a wrong figure that looks right.
 */
export function knownGpus(s: CapacitySummary): number | null {
  const g = s.provenance?.gpus;
  return typeof g === "number" && Number.isInteger(g) && g >= 1 ? g : null;
}

const SERIES = [
  { key: "ttftP99Ms", slo: "ttft_p99_ms", label: "p99 TTFT", colour: "#2563eb" },
  { key: "itlP99Ms", slo: "itl_p99_ms", label: "p99 ITL", colour: "#d97706" },
  { key: "tpotP99Ms", slo: "tpot_p99_ms", label: "p99 TPOT", colour: "#059669" },
  { key: "e2elP99Ms", slo: "e2el_p99_ms", label: "p99 E2EL", colour: "#7c3aed" },
] as const;

const MISS_COLOUR = "#dc2626";

interface Frame {
  readonly left: number;
  readonly top: number;
  readonly right: number;
  readonly bottom: number;
}

/** A log10 axis spanning whole decades around the values. */
function logAxis(values: readonly number[]): { lo: number; hi: number; at: (v: number) => number; ticks: number[] } {
  const positive = values.filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...positive, 1))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...positive, lo * 10))));
  const span = Math.log10(hi) - Math.log10(lo);
  const ticks: number[] = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10) ticks.push(d);
  return { lo, hi, at: (v) => (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span, ticks };
}

function header(width: number, height: number, label: string): string[] {
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(label)}">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
}

function text(x: number, y: number, s: string, attrs = ""): string {
  return `<text x="${num(x)}" y="${num(y)}" ${attrs} ${FONT}>${escapeXml(s)}</text>`;
}

function subtitle(s: CapacitySummary): string {
  const slo = s.slo ? Object.entries(s.slo).map(([k, v]) => `${k} ≤ ${formatNumber(v, 0)}`).join(", ") : "no SLOs";
  const answer = s.axis === "concurrency" ? `max concurrency ${s.maxConcurrency ?? "none"}` : `max request rate ${s.maxRequestRate ?? "none"}/s`;
  return `${answer}${s.resolved ? "" : ` (${s.stop})`} · ${slo} · ${s.points.length} levels measured`;
}

interface Box {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

const overlaps = (a: Box, b: Box): boolean => !(a.x1 < b.x0 || a.x0 > b.x1 || a.y1 < b.y0 || a.y0 > b.y1);

/** Estimated width of a label: DejaVu Sans (the PNG's font; Helvetica/Arial are narrower) digits are 0.64 em, bold 0.7 em. */
export function labelWidth(label: string, fontSize: number, bold = false): number {
  return label.length * fontSize * (bold ? 0.7 : 0.64);
}

/**
 * Rows for axis tick labels centred at `x` (sorted by x): each goes in the first row where it clears the previous
 * label by `gap` px, so crowded levels (the bisection's, near the knee) are staggered, never dropped.
 */
export function staggerTickLabels(items: readonly { readonly x: number; readonly label: string }[], fontSize = 10, gap = 3): number[] {
  const rowEnds: number[] = [];
  return items.map(({ x, label }) => {
    const half = labelWidth(label, fontSize) / 2;
    let row = rowEnds.findIndex((end) => x - half > end + gap);
    if (row < 0) row = rowEnds.push(-Infinity) - 1;
    rowEnds[row] = x + half;
    return row;
  });
}

/**
 * The first of `candidates` where `label` covers nothing in `taken` and stays inside the frame (else the first: a
 * label must be somewhere); its box is added to `taken`.
 */
function clearSpot<A extends "start" | "middle" | "end">(candidates: readonly { x: number; y: number; anchor: A }[], label: string, fontSize: number, bold: boolean, taken: Box[], frame: Frame): { x: number; y: number; anchor: A } {
  const w = labelWidth(label, fontSize, bold);
  const boxOf = (c: { x: number; y: number; anchor: A }): Box => {
    const x0 = c.anchor === "start" ? c.x : c.anchor === "end" ? c.x - w : c.x - w / 2;
    return { x0, x1: x0 + w, y0: c.y - fontSize * 0.8, y1: c.y + fontSize * 0.25 };
  };
  const inside = (b: Box) => b.x0 >= frame.left && b.x1 <= frame.right && b.y0 >= frame.top && b.y1 <= frame.bottom;
  const chosen = candidates.find((c) => inside(boxOf(c)) && taken.every((t) => !overlaps(boxOf(c), t))) ?? candidates[0];
  taken.push(boxOf(chosen));
  return chosen;
}

interface PlacedLabel {
  readonly x: number;
  readonly y: number;
  readonly text: string;
  readonly anchor: "start" | "middle" | "end";
  /** How far from its point (px): a far label gets a leader line. */
  readonly distance: number;
  readonly box: Box;
}

/**
 * Places point labels so that none covers another label, a data point or an obstacle (the legend): tries positions
 * around the point at growing distances and gives up on a label that fits nowhere (its point keeps a tooltip).
 */
class LabelPlacer {
  private readonly taken: Box[] = [];
  constructor(private readonly frame: Frame) {}
  /** Marks an area no label may cover. */
  block(box: Box): void {
    this.taken.push(box);
  }
  place(x: number, y: number, label: string, fontSize: number, bold = false): PlacedLabel | undefined {
    const w = labelWidth(label, fontSize, bold);
    const ascent = fontSize * 0.8;
    const descent = fontSize * 0.25;
    for (const d of [8, 13, 20, 30, 44, 62]) {
      const candidates = [
        { dx: d, dy: -d / 2 - 2, anchor: "start" as const },
        { dx: d, dy: d / 2 + ascent, anchor: "start" as const },
        { dx: -d, dy: -d / 2 - 2, anchor: "end" as const },
        { dx: -d, dy: d / 2 + ascent, anchor: "end" as const },
        { dx: 0, dy: -d - 2, anchor: "middle" as const },
        { dx: 0, dy: d + ascent, anchor: "middle" as const },
      ];
      for (const c of candidates) {
        const tx = x + c.dx;
        const ty = y + c.dy;
        const x0 = c.anchor === "start" ? tx : c.anchor === "end" ? tx - w : tx - w / 2;
        const box = { x0, x1: x0 + w, y0: ty - ascent, y1: ty + descent };
        const inside = box.x0 >= this.frame.left + 2 && box.x1 <= this.frame.right - 2 && box.y0 >= this.frame.top + 2 && box.y1 <= this.frame.bottom - 2;
        if (inside && this.taken.every((b) => !overlaps(box, b))) {
          this.taken.push(box);
          return { x: tx, y: ty, text: label, anchor: c.anchor, distance: d, box };
        }
      }
    }
    return undefined;
  }
}

/** The latency chart's legend, right of the frame: a line per series that has points or an SLO, and the miss marker. */
function latencyLegend(s: CapacitySummary, f: Frame, hasPoints: (k: (typeof SERIES)[number]) => boolean): string[] {
  const parts: string[] = [];
  SERIES.forEach((k, i) => {
    const legendY = f.top + 8 + i * 34;
    const limit = s.slo?.[k.slo];
    if (!hasPoints(k) && limit === undefined) return;
    parts.push(`<line x1="${f.right + 12}" y1="${legendY}" x2="${f.right + 32}" y2="${legendY}" stroke="${k.colour}" stroke-width="2"/>`);
    parts.push(text(f.right + 38, legendY + 4, k.label, 'font-size="11"'));
    if (limit !== undefined) {
      parts.push(`<line x1="${f.right + 12}" y1="${legendY + 14}" x2="${f.right + 32}" y2="${legendY + 14}" stroke="${k.colour}" stroke-width="1.5" stroke-dasharray="6 4"/>`);
      parts.push(text(f.right + 38, legendY + 18, "its SLO", 'font-size="10" fill="#6b7280"'));
    }
  });
  const legendBottom = f.top + 8 + SERIES.length * 34;
  parts.push(`<circle cx="${f.right + 22}" cy="${legendBottom}" r="4" fill="#ffffff" stroke="${MISS_COLOUR}" stroke-width="2"/>`);
  parts.push(text(f.right + 38, legendBottom + 4, "over its SLO", 'font-size="10" fill="#6b7280"'));
  return parts;
}

/** The answer's dashed line at `x` and its label, kept off the points (`taken`) with a white halo. */
function capacityLine(max: number, x: number, f: Frame, taken: Box[]): string[] {
  const parts: string[] = [];
  parts.push(`<line x1="${num(x)}" y1="${f.top}" x2="${num(x)}" y2="${f.bottom}" stroke="#111827" stroke-width="1.5" stroke-dasharray="2 3"/>`);
  const nearRight = x > f.right - 90;
  const sides = nearRight ? [{ dx: -4, anchor: "end" as const }, { dx: 4, anchor: "start" as const }] : [{ dx: 4, anchor: "start" as const }, { dx: -4, anchor: "end" as const }];
  // At the foot of the line first, with a white halo: the top is where the latencies past the knee pile up.
  const spot = clearSpot(
    [f.bottom - 6, f.top + 14, f.bottom - 22, f.top + 30, (f.top + f.bottom) / 2].flatMap((y) => sides.map((side) => ({ x: x + side.dx, y, anchor: side.anchor }))),
    `capacity ${formatNumber(max, 2)}`, 11, true, taken, f,
  );
  parts.push(text(spot.x, spot.y, `capacity ${formatNumber(max, 2)}`, `font-size="11" font-weight="bold" paint-order="stroke" stroke="#ffffff" stroke-width="3"${spot.anchor === "start" ? "" : ` text-anchor="${spot.anchor}"`}`));
  return parts;
}

/** p99 latencies against the searched load, with the SLO lines and the answer. */
export function renderLatencyChart(s: CapacitySummary, title = "Latency against load"): string {
  const width = 760;
  const left = 70;
  const right = width - 150;
  const xOf = (p: CapacitySummaryPoint) => (s.axis === "concurrency" ? p.concurrency : p.requestRate === "inf" ? NaN : p.requestRate);
  const points = [...s.points].filter((p) => Number.isFinite(xOf(p))).sort((a, b) => xOf(a) - xOf(b));
  const xs = points.map(xOf);
  // A margin of a quarter level either side, so the end points do not sit on the frame.
  const xLo = xs.length > 0 ? Math.min(...xs) / 1.25 : 1;
  const xHi = xs.length > 0 ? Math.max(...xs) * 1.25 : 2;
  const xAt = (v: number) => left + ((Math.log2(v) - Math.log2(xLo)) / Math.max(Math.log2(xHi) - Math.log2(xLo), 1e-9)) * (right - left);
  // Every measured level (the answer among them) gets its tick label; crowded ones go on further rows, which the
  // chart grows downwards to hold.
  const ticks = [...new Set(xs)].sort((a, b) => a - b).map((x) => ({ value: x, x: xAt(x), label: formatNumber(x, 2) }));
  const tickRows = staggerTickLabels(ticks);
  const TICK_ROW = 12;
  const height = 420 + Math.max(0, ...tickRows) * TICK_ROW;
  const f: Frame = { left, top: 70, right, bottom: height - 50 };
  const sloValues = s.slo ? Object.values(s.slo) : [];
  const values = points.flatMap((p) => SERIES.map((k) => p[k.key] ?? NaN)).concat(sloValues);
  const y = logAxis(values);
  const yAt = (v: number) => f.bottom - y.at(v) * (f.bottom - f.top);

  const parts = header(width, height, `${title}: ${subtitle(s)}`);
  parts.push(text(16, 24, title, 'font-size="16" font-weight="bold"'));
  parts.push(text(16, 42, subtitle(s), 'font-size="11" fill="#374151"'));
  // grid and axes
  for (const t of y.ticks) {
    parts.push(`<line x1="${f.left}" y1="${num(yAt(t))}" x2="${f.right}" y2="${num(yAt(t))}" stroke="#e5e7eb"/>`);
    parts.push(text(f.left - 6, yAt(t) + 4, formatNumber(t, 0), 'font-size="10" fill="#6b7280" text-anchor="end"'));
  }
  ticks.forEach((t, i) => {
    parts.push(`<line x1="${num(t.x)}" y1="${f.top}" x2="${num(t.x)}" y2="${f.bottom}" stroke="#f3f4f6"/>`);
    parts.push(`<line x1="${num(t.x)}" y1="${f.bottom}" x2="${num(t.x)}" y2="${f.bottom + 3}" stroke="#6b7280"/>`);
    parts.push(text(t.x, f.bottom + 14 + tickRows[i] * TICK_ROW, t.label, 'font-size="10" fill="#6b7280" text-anchor="middle"'));
  });
  parts.push(`<rect x="${f.left}" y="${f.top}" width="${f.right - f.left}" height="${f.bottom - f.top}" fill="none" stroke="#374151"/>`);
  parts.push(text((f.left + f.right) / 2, height - 14, s.axis === "concurrency" ? "concurrency (log scale)" : "request rate, req/s (log scale)", 'font-size="11" text-anchor="middle"'));
  parts.push(text(18, (f.top + f.bottom) / 2, "ms (log scale)", `font-size="11" text-anchor="middle" transform="rotate(-90 18 ${num((f.top + f.bottom) / 2)})"`));
  // Series, SLO lines, legend. Series with an SLO are drawn last, so their over-the-limit markers stay visible where
  // another series coincides (ITL = TPOT when every decode step carries one token).
  const seriesPoints = (k: (typeof SERIES)[number]) => points.filter((p) => typeof p[k.key] === "number" && (p[k.key] as number) > 0);
  // The answer's and the SLOs' labels keep off every point (r 4, stroke 2, a pixel spare) and off each other.
  const taken: Box[] = SERIES.flatMap((k) => seriesPoints(k).map((p) => ({ x: xAt(xOf(p)), y: yAt(p[k.key] as number) }))).map(({ x, y }) => ({ x0: x - 6, y0: y - 6, x1: x + 6, y1: y + 6 }));
  const max = s.axis === "concurrency" ? s.maxConcurrency : s.maxRequestRate;
  if (max !== null) parts.push(...capacityLine(max, xAt(max), f, taken));
  const drawOrder = [...SERIES].sort((a, b) => Number(s.slo?.[a.slo] !== undefined) - Number(s.slo?.[b.slo] !== undefined));
  for (const k of drawOrder) {
    const pts = seriesPoints(k);
    const limit = s.slo?.[k.slo];
    if (pts.length > 0) {
      const d = pts.map((p, j) => `${j === 0 ? "M" : "L"}${num(xAt(xOf(p)))},${num(yAt(p[k.key] as number))}`).join(" ");
      parts.push(`<path d="${d}" fill="none" stroke="${k.colour}" stroke-width="2"/>`);
      for (const p of pts) {
        const cx = xAt(xOf(p));
        const cy = yAt(p[k.key] as number);
        const missed = limit !== undefined && (p[k.key] as number) > limit;
        parts.push(
          `<circle cx="${num(cx)}" cy="${num(cy)}" r="4" fill="${missed ? "#ffffff" : k.colour}" stroke="${missed ? MISS_COLOUR : k.colour}" stroke-width="2"><title>${escapeXml(`${k.label} at ${formatNumber(xOf(p), 2)}: ${formatNumber(p[k.key] as number)} ms${missed ? " (over the SLO)" : ""}`)}</title></circle>`,
        );
      }
    }
    if (limit !== undefined) {
      parts.push(`<line x1="${f.left}" y1="${num(yAt(limit))}" x2="${f.right}" y2="${num(yAt(limit))}" stroke="${k.colour}" stroke-width="1.5" stroke-dasharray="6 4"/>`);
      const label = `${k.slo} ${formatNumber(limit, 0)}`;
      const y = yAt(limit);
      const spot = clearSpot(
        [{ x: f.left + 4, y: y - 4, anchor: "start" as const }, { x: f.left + 4, y: y + 12, anchor: "start" as const }, { x: f.right - 4, y: y - 4, anchor: "end" as const }, { x: f.right - 4, y: y + 12, anchor: "end" as const }, { x: (f.left + f.right) / 2, y: y - 4, anchor: "middle" as const }, { x: (f.left + f.right) / 2, y: y + 12, anchor: "middle" as const }],
        label, 10, false, taken, f,
      );
      parts.push(text(spot.x, spot.y, label, `font-size="10" fill="${k.colour}"${spot.anchor === "start" ? "" : ` text-anchor="${spot.anchor}"`}`));
    }
  }
  parts.push(...latencyLegend(s, f, (k) => seriesPoints(k).length > 0));
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

/** The throughput chart's point radius, and the answer's ring around its point. */
const POINT_R = 4.5;
const RING_R = 9;

/** The throughput chart's legend at `legend` (top right): meets, misses, the answer's ring. */
function throughputLegend(legend: { x: number; y: number }): string[] {
  return [
    `<circle cx="${legend.x}" cy="${legend.y}" r="${POINT_R}" fill="#2563eb" stroke="#2563eb" stroke-width="2"/>`,
    text(legend.x + 10, legend.y + 4, "meets the SLOs", 'font-size="10"'),
    `<circle cx="${legend.x}" cy="${legend.y + 18}" r="${POINT_R}" fill="#ffffff" stroke="${MISS_COLOUR}" stroke-width="2"/>`,
    text(legend.x + 10, legend.y + 22, "misses an SLO", 'font-size="10"'),
    `<circle cx="${legend.x}" cy="${legend.y + 36}" r="${RING_R - 3}" fill="#ffffff" stroke="#111827" stroke-width="2"/>`,
    text(legend.x + 10, legend.y + 40, "the capacity answer", 'font-size="10"'),
  ];
}

/** Each point's level label, placed clear of points and other labels (far ones tied back by a thin line). */
function placePointLabels(
  points: readonly CapacitySummaryPoint[],
  axis: CapacitySummary["axis"],
  isMax: (p: CapacitySummaryPoint) => boolean,
  at: (p: CapacitySummaryPoint) => { x: number; y: number },
  labels: LabelPlacer,
): { leaders: string[]; texts: string[] } {
  const leaders: string[] = [];
  const texts: string[] = [];
  // The answer's label first, so it is never the one crowded out; if even it fits nowhere, it goes under the title.
  for (const p of [...points].sort((a, b) => Number(isMax(b)) - Number(isMax(a)))) {
    const label = axis === "concurrency" ? `c=${p.concurrency}` : `${p.requestRate}/s`;
    const atMax = isMax(p);
    const { x: cx, y: cy } = at(p);
    const placed = labels.place(cx, cy, atMax ? `${label} (capacity)` : label, 10, atMax);
    if (placed) {
      const b = placed.box;
      if (placed.distance >= 20) {
        // A far label is tied to its point by a thin line, drawn under the points.
        const lx = Math.min(Math.max(cx, b.x0), b.x1);
        const ly = Math.min(Math.max(cy, b.y0), b.y1);
        leaders.push(`<line x1="${num(cx)}" y1="${num(cy)}" x2="${num(lx)}" y2="${num(ly)}" stroke="#9ca3af" stroke-width="0.75"/>`);
      }
      texts.push(text(placed.x, placed.y, placed.text, `font-size="10"${placed.anchor === "start" ? "" : ` text-anchor="${placed.anchor}"`}${atMax ? ' font-weight="bold"' : ""}`));
    } else if (atMax) {
      texts.push(text(16, 58, `capacity: ${label} (the ringed point)`, 'font-size="11" font-weight="bold"'));
    }
  }
  return { leaders, texts };
}

/**
 * Output tokens/s per user against output tokens/s per GPU, one labelled point per level, the answer ringed. Per GPU
 * only when the GPU count is recorded (`knownGpus`); otherwise per server, and the axis says so.
 */
export function renderThroughputChart(s: CapacitySummary, title?: string): string {
  const width = 760;
  const height = 420;
  const f: Frame = { left: 80, top: 70, right: width - 40, bottom: height - 50 };
  const gpus = knownGpus(s);
  const chartTitle = title ?? `Throughput per user against throughput per ${gpus === null ? "server" : "GPU"}`;
  const xOf = (p: CapacitySummaryPoint) => (gpus === null ? p.outputTokPerS : p.outputTokPerS / gpus);
  const points = [...s.points].sort((a, b) => a.concurrency - b.concurrency || (a.requestRate === "inf" ? 1 : b.requestRate === "inf" ? -1 : a.requestRate - b.requestRate));
  const xMaxRaw = Math.max(...points.map(xOf), 1);
  const yMaxRaw = Math.max(...points.map((p) => p.outputTokPerSPerUser), 1);
  const xStep = niceStep(xMaxRaw);
  const yStep = niceStep(yMaxRaw);
  const xMax = xStep * Math.ceil(xMaxRaw / xStep);
  const yMax = yStep * Math.ceil(yMaxRaw / yStep);
  const xAt = (v: number) => f.left + (v / xMax) * (f.right - f.left);
  const yAt = (v: number) => f.bottom - (v / yMax) * (f.bottom - f.top);

  const parts = header(width, height, `${chartTitle}: ${subtitle(s)}`);
  parts.push(text(16, 24, chartTitle, 'font-size="16" font-weight="bold"'));
  parts.push(text(16, 42, subtitle(s), 'font-size="11" fill="#374151"'));
  for (let v = 0; v <= yMax * 1.0001; v += yStep) {
    parts.push(`<line x1="${f.left}" y1="${num(yAt(v))}" x2="${f.right}" y2="${num(yAt(v))}" stroke="#e5e7eb"/>`);
    parts.push(text(f.left - 6, yAt(v) + 4, formatNumber(v, 1), 'font-size="10" fill="#6b7280" text-anchor="end"'));
  }
  for (let v = 0; v <= xMax * 1.0001; v += xStep) {
    parts.push(`<line x1="${num(xAt(v))}" y1="${f.top}" x2="${num(xAt(v))}" y2="${f.bottom}" stroke="#f3f4f6"/>`);
    parts.push(text(xAt(v), f.bottom + 14, formatNumber(v, 1), 'font-size="10" fill="#6b7280" text-anchor="middle"'));
  }
  parts.push(`<rect x="${f.left}" y="${f.top}" width="${f.right - f.left}" height="${f.bottom - f.top}" fill="none" stroke="#374151"/>`);
  const xTitle = gpus === null ? "output tokens/s per server (GPU count not recorded: pass --gpus for per GPU)" : `output tokens/s per GPU (${gpus} GPUs)`;
  parts.push(text((f.left + f.right) / 2, height - 14, xTitle, 'font-size="11" text-anchor="middle"'));
  parts.push(text(20, (f.top + f.bottom) / 2, "output tokens/s per user (1000 / mean TPOT)", `font-size="11" text-anchor="middle" transform="rotate(-90 20 ${num((f.top + f.bottom) / 2)})"`));
  if (points.length > 1) {
    const d = points.map((p, j) => `${j === 0 ? "M" : "L"}${num(xAt(xOf(p)))},${num(yAt(p.outputTokPerSPerUser))}`).join(" ");
    parts.push(`<path d="${d}" fill="none" stroke="#9ca3af" stroke-width="1.5"/>`);
  }
  const max = s.axis === "concurrency" ? s.maxConcurrency : s.maxRequestRate;
  const isMax = (p: CapacitySummaryPoint) => max !== null && (s.axis === "concurrency" ? p.concurrency === max : p.requestRate === max);
  // The legend, top right: labels keep out of it.
  const legend = { x: f.right - 150, y: f.top + 14 };
  const labels = new LabelPlacer(f);
  labels.block({ x0: legend.x - 8, y0: legend.y - 8, x1: f.right, y1: legend.y + 44 });
  // No label may cover a point, nor the answer's ring.
  for (const p of points) {
    const r = (isMax(p) ? RING_R + 1 : POINT_R) + 1.5;
    const cx = xAt(xOf(p));
    const cy = yAt(p.outputTokPerSPerUser);
    labels.block({ x0: cx - r, y0: cy - r, x1: cx + r, y1: cy + r });
  }
  const { leaders, texts } = placePointLabels(points, s.axis, isMax, (p) => ({ x: xAt(xOf(p)), y: yAt(p.outputTokPerSPerUser) }), labels);
  // The answer's ring first, under every point: a neighbour level measured close to it stays visible.
  for (const p of points.filter(isMax)) {
    parts.push(`<circle cx="${num(xAt(xOf(p)))}" cy="${num(yAt(p.outputTokPerSPerUser))}" r="${RING_R}" fill="none" stroke="#111827" stroke-width="2" class="capacity-marker"/>`);
  }
  parts.push(...leaders);
  for (const p of points) {
    const judged = s.slo !== null;
    const fill = !judged || p.meetsSlo ? "#2563eb" : "#ffffff";
    const stroke = !judged || p.meetsSlo ? "#2563eb" : MISS_COLOUR;
    const perX = gpus === null ? "tok/s/server" : "tok/s/GPU";
    parts.push(
      `<circle cx="${num(xAt(xOf(p)))}" cy="${num(yAt(p.outputTokPerSPerUser))}" r="${POINT_R}" fill="${fill}" stroke="${stroke}" stroke-width="2"><title>${escapeXml(`concurrency ${p.concurrency}, rate ${p.requestRate}: ${formatNumber(xOf(p))} ${perX}, ${formatNumber(p.outputTokPerSPerUser)} tok/s/user${judged ? (p.meetsSlo ? ", meets the SLOs" : ", misses an SLO") : ""}${isMax(p) ? " (the capacity answer)" : ""}`)}</title></circle>`,
    );
  }
  parts.push(...texts);
  parts.push(...throughputLegend(legend));
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

/**
 * The answer in words: concurrent requests, or requests/s with the arrival process the rate search used (gamma
 * arrivals of that burstiness, the client slots) and the step it resolved to, so "4.5 req/s" is not read as exact.
 */
export function capacityAnswerMarkdown(s: CapacitySummary): string {
  if (s.axis === "concurrency") return `**${s.maxConcurrency ?? "none"}** concurrent requests`;
  const first = s.points[0];
  const arrivals = first === undefined ? "" : `${first.burstiness === 1 ? "Poisson arrivals" : `gamma arrivals, burstiness ${formatNumber(first.burstiness, 2)}`}, at most ${first.concurrency} in flight`;
  const resolution = s.resolution === null ? "" : `resolution ${formatNumber(s.resolution, 3)} req/s`;
  const detail = [arrivals, resolution].filter((x) => x !== "").join("; ");
  return `**${s.maxRequestRate ?? "none"}** requests/s${detail === "" ? "" : ` (${detail})`}`;
}

/** The Markdown page: the answer, the figures there, every point, the provenance, the deployment plan, the charts. */
export function renderCapacityMarkdown(s: CapacitySummary, stackName: string, deployment?: DeploymentPlan): string {
  const paths = capacityReportPaths(".", stackName);
  const answer = capacityAnswerMarkdown(s);
  const at = s.atMax;
  const gpus = knownGpus(s);
  const rows = s.points.map(
    (p) =>
      `| ${p.order} | ${p.concurrency} | ${p.requestRate} | ${formatNumber(p.ttftP99Ms)} | ${formatNumber(p.itlP99Ms)} | ${formatNumber(p.tpotP99Ms)} | ${formatNumber(p.e2elP99Ms)} | ${formatNumber(p.outputTokPerS)} | ${formatNumber(p.totalTokPerS)} | ${formatNumber(p.outputTokPerSPerUser)} | ${formatNumber(p.goodput, 2)} | ${p.failed} | ${s.slo === null ? "-" : p.meetsSlo ? "met" : `missed: ${p.misses.join("; ")}`} |`,
  );
  return [
    `# Capacity: ${stackName}`,
    "",
    s.slo
      ? `Highest load meeting ${Object.entries(s.slo).map(([k, v]) => `${k} ≤ ${formatNumber(v, 0)}`).join(" and ")}: ${answer}${s.resolved ? "" : ` (${s.stop}: not resolved to the search's resolution)`}${s.nonMonotone ? "; a level above a miss met the SLOs again (noise?), the answer stays below the miss" : ""}.`
      : "A sweep without SLOs: nothing judged.",
    "",
    ...(at
      ? [
          `At that load: ${formatNumber(at.outputTokPerS)} output tok/s, ${formatNumber(at.totalTokPerS)} total tok/s, ${formatNumber(at.outputTokPerSPerUser)} tok/s per user${gpus === null ? "" : `, ${formatNumber(at.outputTokPerS / gpus)} output tok/s per GPU (${gpus} GPUs)`}${at.goodput === null ? "" : `, goodput ${formatNumber(at.goodput, 2)} req/s`}.`,
          "",
        ]
      : []),
    "| # | concurrency | rate | p99 TTFT | p99 ITL | p99 TPOT | p99 E2EL | out tok/s | total tok/s | tok/s/user | goodput | failed | SLO |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ...rows,
    "",
    `Latencies in ms, measured in the order of \`#\`; ${s.points.length} levels in ${formatNumber(s.elapsedS / 60)} min${s.resolution === null ? "" : `; resolution ${s.resolution}`}.`,
    "",
    "## Provenance",
    "",
    ...provenanceMarkdown(s.provenance),
    "",
    ...(deployment ? ["## Deployment plan", "", "```", formatDeploymentPlan(deployment), "```", ""] : []),
    `![latency against load](${path.basename(paths.latencySvg)})`,
    "",
    `![throughput per user against throughput per ${gpus === null ? "server" : "GPU"}](${path.basename(paths.throughputSvg)})`,
    "",
    `PNG copies (for a PR comment): ${path.basename(paths.latencyPng)}, ${path.basename(paths.throughputPng)}.`,
    "",
  ].join("\n");
}

/** What `writeCapacityReport` wrote: the paths, and the PNGs or why there are none. */
export interface WrittenCapacityReport extends CapacityReportPaths {
  readonly png: { readonly written: true } | { readonly written: false; readonly problem: string };
}

/**
 * Writes the Markdown, the two SVG charts and a PNG of each (creating the directory). A missing font leaves the
 * PNGs out (the outcome says why and how to fix it) rather than failing the report.
 */
export function writeCapacityReport(dir: string, stackName: string, s: CapacitySummary, deployment?: DeploymentPlan, png: PngOptions = {}): WrittenCapacityReport {
  const paths = capacityReportPaths(dir, stackName);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(paths.markdown, renderCapacityMarkdown(s, stackName, deployment));
  const charts = [
    { svg: renderLatencyChart(s), svgPath: paths.latencySvg, pngPath: paths.latencyPng },
    { svg: renderThroughputChart(s), svgPath: paths.throughputSvg, pngPath: paths.throughputPng },
  ];
  let problem: string | undefined;
  for (const c of charts) {
    fs.writeFileSync(c.svgPath, c.svg);
    const out: PngOutcome = renderPng(c.svg, png);
    if ("png" in out) fs.writeFileSync(c.pngPath, out.png);
    else {
      // A PNG from an earlier run would not match this report.
      fs.rmSync(c.pngPath, { force: true });
      problem = out.problem;
    }
  }
  return { ...paths, png: problem === undefined ? { written: true } : { written: false, problem } };
}
