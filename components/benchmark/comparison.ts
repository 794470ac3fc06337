/**
 * Comparing a benchmark run with another: this stack's previous run (kept in state by `BenchmarkHistory`) or another
 * stack's outputs (a StackReference). Pure: a run is reduced to named figures plus what is known of their noise, and
 * each shared figure gets a delta, marked where it exceeds run-to-run noise.
 *
 * Noise, per figure, as a relative 95% half-width:
 * - measured, where the run has it: the capacity search's 95% Student-t interval over repeats (`--repeats ≥ 2`) at
 *   the answer (for the capacity figures) and at the fixed run's own concurrency (for the fixed run's figures);
 * - otherwise the stated default, `DEFAULT_NOISE`: 5% for throughputs and mean latencies, 10% for p99 latencies
 *   (a tail moves more between runs of the same server) and for the capacity answer itself.
 * The two runs' noises combine as √(a² + b²); a delta beyond that, relative to the other run's value, is marked.
 */
import type { CapacitySummary, CapacitySummaryPoint } from "./capacity";
import type { BenchmarkSummary } from "./results";

/** One figure compared: its name in outputs, what it means, its unit and which way is better. */
export interface ComparedFigure {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  readonly higherIsBetter: boolean;
  /** Relative 95% half-width assumed when the run measured none. */
  readonly defaultNoise: number;
  /** The capacity point field whose 95% interval measures this figure's noise, if any. */
  readonly ciKey?: string;
}

const THROUGHPUT_NOISE = 0.05;
const MEAN_NOISE = 0.05;
const P99_NOISE = 0.1;

/** The figures compared, in report order. */
export const COMPARED_FIGURES: readonly ComparedFigure[] = [
  { key: "outputThroughput", label: "output throughput", unit: "tok/s", higherIsBetter: true, defaultNoise: THROUGHPUT_NOISE, ciKey: "outputThroughput" },
  { key: "totalTokenThroughput", label: "total throughput", unit: "tok/s", higherIsBetter: true, defaultNoise: THROUGHPUT_NOISE, ciKey: "totalTokenThroughput" },
  { key: "requestThroughput", label: "request throughput", unit: "req/s", higherIsBetter: true, defaultNoise: THROUGHPUT_NOISE, ciKey: "requestThroughput" },
  { key: "ttftMeanMs", label: "TTFT mean", unit: "ms", higherIsBetter: false, defaultNoise: MEAN_NOISE, ciKey: "ttftMeanMs" },
  { key: "ttftP99Ms", label: "TTFT p99", unit: "ms", higherIsBetter: false, defaultNoise: P99_NOISE, ciKey: "ttftP99Ms" },
  { key: "tpotMeanMs", label: "TPOT mean", unit: "ms", higherIsBetter: false, defaultNoise: MEAN_NOISE, ciKey: "tpotMeanMs" },
  { key: "tpotP99Ms", label: "TPOT p99", unit: "ms", higherIsBetter: false, defaultNoise: P99_NOISE, ciKey: "tpotP99Ms" },
  { key: "itlMeanMs", label: "ITL mean", unit: "ms", higherIsBetter: false, defaultNoise: MEAN_NOISE, ciKey: "itlMeanMs" },
  { key: "itlP99Ms", label: "ITL p99", unit: "ms", higherIsBetter: false, defaultNoise: P99_NOISE, ciKey: "itlP99Ms" },
  { key: "capacity.maxConcurrency", label: "capacity: max concurrency meeting the SLOs", unit: "requests", higherIsBetter: true, defaultNoise: P99_NOISE },
  { key: "capacity.outputTokPerS", label: "capacity: output throughput at the answer", unit: "tok/s", higherIsBetter: true, defaultNoise: THROUGHPUT_NOISE, ciKey: "outputThroughput" },
  { key: "capacity.outputTokPerSPerUser", label: "capacity: output tok/s per user at the answer", unit: "tok/s", higherIsBetter: true, defaultNoise: MEAN_NOISE, ciKey: "tpotMeanMs" },
  { key: "capacity.goodput", label: "capacity: goodput at the answer", unit: "req/s", higherIsBetter: true, defaultNoise: THROUGHPUT_NOISE, ciKey: "requestGoodput" },
];

/** The stated default noise, by figure (relative 95% half-width). */
export const DEFAULT_NOISE: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries(COMPARED_FIGURES.map((f) => [f.key, f.defaultNoise])));

/** A run reduced to what is compared. */
export interface ComparableRun {
  /** What the run was: e.g. `dev, 2026-11-29 22:10 (spec 3f9a…)`. */
  readonly label: string;
  /** Figure → value; null when the run did not measure it. */
  readonly figures: Readonly<Record<string, number | null>>;
  /** Figure → measured relative 95% half-width (only where repeats measured one). */
  readonly noise: Readonly<Record<string, number>>;
}

/** Relative half-width of a `[low, high]` interval around its centre; undefined when it says nothing. */
function relativeHalfWidth(ci: readonly [number, number] | undefined): number | undefined {
  if (!ci) return undefined;
  const centre = (ci[0] + ci[1]) / 2;
  if (!(Math.abs(centre) > 0) || !Number.isFinite(ci[0]) || !Number.isFinite(ci[1])) return undefined;
  return Math.abs(ci[1] - ci[0]) / 2 / Math.abs(centre);
}

function measuredNoise(point: CapacitySummaryPoint | undefined, prefix: string, keys: readonly ComparedFigure[]): Record<string, number> {
  const out: Record<string, number> = {};
  if (!point) return out;
  for (const f of keys) {
    const ci = f.ciKey === undefined ? undefined : point.ci95[f.ciKey];
    const rel = relativeHalfWidth(ci);
    if (rel !== undefined) out[`${prefix}${f.key.replace(/^capacity\./, "")}`] = rel;
  }
  return out;
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/**
 * A run from its fixed benchmark and (optionally) its capacity search. Noise is measured where the search repeated
 * levels: at the fixed run's concurrency for the fixed figures, at the answer for the capacity figures.
 */
export function comparableRun(label: string, metrics: BenchmarkSummary, capacity?: CapacitySummary | null): ComparableRun {
  const figures: Record<string, number | null> = {
    outputThroughput: num(metrics.outputThroughput),
    totalTokenThroughput: num(metrics.totalTokenThroughput),
    requestThroughput: num(metrics.requestThroughput),
    ttftMeanMs: num(metrics.ttft?.mean),
    ttftP99Ms: num(metrics.ttft?.p99),
    tpotMeanMs: num(metrics.tpot?.mean),
    tpotP99Ms: num(metrics.tpot?.p99),
    itlMeanMs: num(metrics.itl?.mean),
    itlP99Ms: num(metrics.itl?.p99),
  };
  let noise: Record<string, number> = {};
  if (capacity) {
    figures["capacity.maxConcurrency"] = num(capacity.maxConcurrency);
    figures["capacity.outputTokPerS"] = num(capacity.atMax?.outputTokPerS);
    figures["capacity.outputTokPerSPerUser"] = num(capacity.atMax?.outputTokPerSPerUser);
    figures["capacity.goodput"] = num(capacity.atMax?.goodput);
    const fixedFigures = COMPARED_FIGURES.filter((f) => !f.key.startsWith("capacity."));
    const capacityFigures = COMPARED_FIGURES.filter((f) => f.key.startsWith("capacity.") && f.ciKey !== undefined);
    const sameLoad = capacity.points.find((p) => p.concurrency === metrics.maxConcurrency && p.requestRate === "inf");
    const atAnswer = capacity.points.find((p) => p.concurrency === capacity.maxConcurrency);
    noise = { ...measuredNoise(sameLoad, "", fixedFigures), ...measuredNoise(atAnswer, "capacity.", capacityFigures) };
  }
  return { label, figures, noise };
}

/** One figure's change from `before` to `after`. */
export interface FigureDelta {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  readonly before: number;
  readonly after: number;
  readonly delta: number;
  /** delta / |before|; null when before is 0. */
  readonly relative: number | null;
  /** The combined relative 95% noise the delta is judged against. */
  readonly noise: number;
  /** Where the noise came from: "measured" (repeats of either run) or "default". */
  readonly noiseSource: "measured" | "default";
  /** True when |delta| exceeds the noise (relative to `before`). */
  readonly exceedsNoise: boolean;
  /** "better" / "worse" beyond the noise, else "within noise". */
  readonly verdict: "better" | "worse" | "within noise";
}

export interface Comparison {
  /** The run compared against. */
  readonly against: string;
  readonly deltas: readonly FigureDelta[];
  /** Figures beyond noise and worse: the short list a reviewer reads first. */
  readonly regressions: readonly string[];
}

/** Deltas of every figure both runs measured, from `before` to `after`. */
export function compareRuns(after: ComparableRun, before: ComparableRun): Comparison {
  const deltas: FigureDelta[] = [];
  for (const f of COMPARED_FIGURES) {
    const a = after.figures[f.key];
    const b = before.figures[f.key];
    if (typeof a !== "number" || typeof b !== "number") continue;
    const na = after.noise[f.key];
    const nb = before.noise[f.key];
    const measured = na !== undefined || nb !== undefined;
    const noise = Math.sqrt((na ?? f.defaultNoise) ** 2 + (nb ?? f.defaultNoise) ** 2);
    const delta = a - b;
    const relative = b === 0 ? null : delta / Math.abs(b);
    const exceedsNoise = relative === null ? delta !== 0 : Math.abs(relative) > noise;
    const better = f.higherIsBetter ? delta > 0 : delta < 0;
    deltas.push({
      key: f.key,
      label: f.label,
      unit: f.unit,
      before: b,
      after: a,
      delta,
      relative,
      noise,
      noiseSource: measured ? "measured" : "default",
      exceedsNoise,
      verdict: !exceedsNoise ? "within noise" : better ? "better" : "worse",
    });
  }
  return { against: before.label, deltas, regressions: deltas.filter((d) => d.verdict === "worse").map((d) => d.label) };
}

/** The `benchmark.comparison` output: against the previous run of this stack and against another stack. */
export interface BenchmarkComparisons {
  /** Null on the first run of the stack (nothing kept yet). */
  readonly previous: Comparison | null;
  /** Null without `benchmarkCompareStack`, or when that stack has no benchmark output. */
  readonly reference: Comparison | null;
  /** Why a comparison is missing, when it is. */
  readonly notes: readonly string[];
}

function fmtValue(v: number): string {
  if (Number.isInteger(v)) return v.toFixed(0);
  const abs = Math.abs(v);
  return abs >= 100 ? v.toFixed(0) : abs >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** A Markdown section: one table per comparison, regressions in bold. */
export function renderComparisonMarkdown(c: BenchmarkComparisons): string {
  const lines = ["## Comparison", ""];
  const table = (title: string, cmp: Comparison) => {
    lines.push(`### ${title}: ${cmp.against}`, "");
    lines.push(cmp.regressions.length === 0 ? "No figure is worse beyond run-to-run noise." : `**Worse beyond noise: ${cmp.regressions.join(", ")}.**`, "");
    lines.push("| figure | before | now | Δ | Δ % | noise ±% (95%) | verdict |", "|---|---:|---:|---:|---:|---:|---|");
    for (const d of cmp.deltas) {
      const pct = d.relative === null ? "n/a" : `${d.relative >= 0 ? "+" : ""}${(d.relative * 100).toFixed(1)}%`;
      const verdict = d.verdict === "worse" ? "**worse**" : d.verdict;
      lines.push(
        `| ${d.label} (${d.unit}) | ${fmtValue(d.before)} | ${fmtValue(d.after)} | ${d.delta >= 0 ? "+" : ""}${fmtValue(d.delta)} | ${pct} | ${(d.noise * 100).toFixed(1)} (${d.noiseSource}) | ${verdict} |`,
      );
    }
    lines.push("");
  };
  if (c.previous) table("Against this stack's previous run", c.previous);
  if (c.reference) table("Against the reference stack", c.reference);
  for (const n of c.notes) lines.push(`- ${n}`);
  if (c.notes.length > 0) lines.push("");
  lines.push(
    "Noise: the 95% interval of the capacity search's repeats where measured, else the stated default (5% for throughputs and mean latencies, 10% for p99 latencies and the capacity answer); the two runs' noises combine as √(a² + b²).",
    "",
  );
  return lines.join("\n");
}

/**
 * The reference run from another stack's `benchmark` output (as `index.ts` exports it: `metrics`, and `capacity`
 * when that stack searched); undefined with a reason when the output is not there or not a benchmark.
 */
export function comparableFromStackOutput(stackName: string, output: unknown): { run: ComparableRun } | { problem: string } {
  const o = output as { metrics?: BenchmarkSummary; capacity?: CapacitySummary | null } | undefined;
  if (!o || typeof o !== "object" || !o.metrics || typeof o.metrics !== "object" || typeof o.metrics.outputThroughput !== "number") {
    return { problem: `stack ${stackName} has no benchmark.metrics output (not deployed yet, or not this project)` };
  }
  const when = typeof o.metrics.date === "string" ? `, ${o.metrics.date}` : "";
  return { run: comparableRun(`stack ${stackName}${when}`, o.metrics, o.capacity ?? null) };
}
