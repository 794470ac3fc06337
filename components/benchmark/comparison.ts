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
 *
 * Never hiding a loss:
 * - a figure one run has and the other lacks (not measured, or none: no level met the SLOs) is a change, not a
 *   skip: lost is "worse", gained is "better", each with a note saying which;
 * - the capacity answer is compared in levels: its noise is the search's own resolution (the answer is the last level
 *   met, with a miss at most one resolution above it), so answers a resolution or more apart differ: 8 → 7 at
 *   resolution 1 is worse;
 * - every comparison states both runs' workloads and refuses, with a note instead of deltas, runs of different
 *   workloads or tokenizers; capacity figures of searches under other SLOs or prompt counts are left out with a
 *   note, and fixed-run figures at another concurrency likewise. A run whose workload is unknown (kept before it was
 *   recorded) is compared with a note saying so.
 */
import type { CapacitySummary, CapacitySummaryPoint } from "./capacity";
import { describeWorkload, workloadIdentity, type WorkloadProvenance } from "./provenance";
import type { BenchmarkSummary } from "./resultParser";

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
  /** The search's answer on its axis: judged against the search's resolution, not a relative noise. */
  readonly answer?: boolean;
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
  { key: "capacity.maxConcurrency", label: "capacity: max concurrency meeting the SLOs", unit: "requests", higherIsBetter: true, defaultNoise: P99_NOISE, answer: true },
  { key: "capacity.maxRequestRate", label: "capacity: max request rate meeting the SLOs", unit: "req/s", higherIsBetter: true, defaultNoise: P99_NOISE, answer: true },
  { key: "capacity.outputTokPerS", label: "capacity: output throughput at the answer", unit: "tok/s", higherIsBetter: true, defaultNoise: THROUGHPUT_NOISE, ciKey: "outputThroughput" },
  { key: "capacity.outputTokPerSPerUser", label: "capacity: output tok/s per user at the answer", unit: "tok/s", higherIsBetter: true, defaultNoise: MEAN_NOISE, ciKey: "tpotMeanMs" },
  { key: "capacity.goodput", label: "capacity: goodput at the answer", unit: "req/s", higherIsBetter: true, defaultNoise: THROUGHPUT_NOISE, ciKey: "requestGoodput" },
];

/** The stated default noise, by figure (relative 95% half-width). */
export const DEFAULT_NOISE: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries(COMPARED_FIGURES.map((f) => [f.key, f.defaultNoise])));

/**
 * What a run measured, as far as comparability goes. Every field may be null (unknown): runs kept in state before it
 * was recorded, or a reference stack without a capacity search.
 */
export interface RunIdentity {
  /** The workload's identity (`workloadIdentity`): runs compare only when equal. */
  readonly workload: string | null;
  /** The workload in words, for the comparison's header. */
  readonly workloadText: string | null;
  /** The tokenizer the prompts were built with (a fallback's name when one was used). */
  readonly tokenizer: string | null;
  /** The fixed run's concurrency (its figures compare only at the same one). */
  readonly concurrency: number | null;
}

/** What a capacity answer was searched under. */
export interface CapacityIdentity {
  /** The axis and SLOs as text (`concurrency; ttft_p99_ms ≤ 3000`): answers compare only when equal. */
  readonly setup: string;
  /** Prompts per level: `all`, or the multiple of the concurrency; null when unknown (no provenance). */
  readonly promptsPerLevel: string | null;
  /** The search's resolution on its axis (the answer's noise); null when unknown. */
  readonly resolution: number | null;
  /** Why the search ended (`resolved`, or a bound: `time-cap`, `range-high-met`, …). */
  readonly stop: string;
}

/** A run reduced to what is compared. */
export interface ComparableRun {
  /** What the run was: e.g. `dev, 2026-11-29 22:10 (spec 3f9a…)`. */
  readonly label: string;
  /** Figure → value; null when the run measured none (e.g. no level met the SLOs); absent when it did not measure it. */
  readonly figures: Readonly<Record<string, number | null>>;
  /** Figure → measured relative 95% half-width (only where repeats measured one). */
  readonly noise: Readonly<Record<string, number>>;
  /** Absent in runs kept before it was recorded: unknown. */
  readonly identity?: RunIdentity;
  /** Present when the run searched capacity (absent in runs kept before it was recorded, too). */
  readonly capacity?: CapacityIdentity;
}

/** The identity of a run from its workload (as provenance records it), tokenizer and fixed concurrency. */
export function runIdentity(workload: WorkloadProvenance | null, tokenizer: string | null, concurrency: number | null): RunIdentity {
  return {
    workload: workload === null ? null : workloadIdentity(workload),
    workloadText: workload === null ? null : describeWorkload(workload),
    tokenizer,
    concurrency,
  };
}

/** The search's axis and SLOs as text (sorted). */
function capacitySetup(c: CapacitySummary): string {
  const slo = c.slo === null ? "no SLOs" : Object.entries(c.slo).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ≤ ${v}`).join(", ");
  return `${c.axis}; ${slo}`;
}

/** Prompts per level from the provenance; null when unknown (another stack's output may predate it: absent). */
function promptsPerLevel(c: CapacitySummary): string | null {
  const w = c.provenance?.workload;
  if (w === undefined) return null;
  return w.promptsPerConcurrency === null ? "all" : `${w.promptsPerConcurrency} × concurrency`;
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
export function comparableRun(label: string, metrics: BenchmarkSummary, capacity?: CapacitySummary | null, identity?: RunIdentity): ComparableRun {
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
    if (capacity.axis === "concurrency") figures["capacity.maxConcurrency"] = num(capacity.maxConcurrency);
    else figures["capacity.maxRequestRate"] = num(capacity.maxRequestRate);
    figures["capacity.outputTokPerS"] = num(capacity.atMax?.outputTokPerS);
    figures["capacity.outputTokPerSPerUser"] = num(capacity.atMax?.outputTokPerSPerUser);
    figures["capacity.goodput"] = num(capacity.atMax?.goodput);
    const fixedFigures = COMPARED_FIGURES.filter((f) => !f.key.startsWith("capacity."));
    const capacityFigures = COMPARED_FIGURES.filter((f) => f.key.startsWith("capacity.") && f.ciKey !== undefined);
    const sameLoad = capacity.points.find((p) => p.concurrency === metrics.maxConcurrency && p.requestRate === "inf");
    const atAnswer = capacity.points.find((p) => (capacity.axis === "concurrency" ? p.concurrency === capacity.maxConcurrency : p.requestRate === capacity.maxRequestRate));
    noise = { ...measuredNoise(sameLoad, "", fixedFigures), ...measuredNoise(atAnswer, "capacity.", capacityFigures) };
  }
  const capacityIdentity: CapacityIdentity | undefined = capacity ? { setup: capacitySetup(capacity), promptsPerLevel: promptsPerLevel(capacity), resolution: num(capacity.resolution), stop: capacity.stop } : undefined;
  return {
    label,
    figures,
    noise,
    identity: identity ?? runIdentity(capacity?.provenance?.workload ?? null, capacity?.provenance?.tokenizer ?? metrics.tokenizerId ?? null, num(metrics.maxConcurrency)),
    ...(capacityIdentity ? { capacity: capacityIdentity } : {}),
  };
}

/** One figure's change from `before` to `after`. */
export interface FigureDelta {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  /** Null when that run lacks the figure (see `note`). */
  readonly before: number | null;
  readonly after: number | null;
  /** after − before; null when either is missing. */
  readonly delta: number | null;
  /** delta / |before|; null when before is 0 or either is missing. */
  readonly relative: number | null;
  /**
   * What the delta is judged against: a relative 95% half-width (`noiseUnit: "relative"`), or, for the capacity
   * answer, the search's resolution in the answer's own unit (`"absolute"`: |delta| ≥ it is a change).
   */
  readonly noise: number;
  readonly noiseUnit: "relative" | "absolute";
  /** "measured" (repeats of either run), "default" (the stated default) or "resolution" (the search's own). */
  readonly noiseSource: "measured" | "default" | "resolution";
  /** True when the delta exceeds the noise, or the figure was lost or gained. */
  readonly exceedsNoise: boolean;
  /** "better" / "worse" beyond the noise (a lost figure is worse, a gained one better), else "within noise". */
  readonly verdict: "better" | "worse" | "within noise";
  /** Why a figure is missing on one side, or what bounds the answer. */
  readonly note?: string;
}

export interface Comparison {
  /** The run compared against. */
  readonly against: string;
  /** Both runs' workloads in words ("unknown" when not recorded). */
  readonly workloads: { readonly before: string; readonly after: string };
  /** Why nothing was compared (different workloads or tokenizers); null when compared. */
  readonly refused: string | null;
  readonly deltas: readonly FigureDelta[];
  /** Figures beyond noise and worse (lost ones included): the short list a reviewer reads first. */
  readonly regressions: readonly string[];
  /** What a reader must know: unknown workloads, figures left out and why, answers that are bounds. */
  readonly notes: readonly string[];
}

const UNKNOWN_WORKLOAD = "unknown (not recorded with this run)";

/** Why the figure is missing in a run: absent (not measured) or null (measured none). */
function missingWhy(f: ComparedFigure, run: ComparableRun): string {
  if (!(f.key in run.figures)) return f.key.startsWith("capacity.") ? "not measured (no capacity search)" : "not measured";
  return f.answer ? "none (no level met the SLOs)" : "none";
}

/** The capacity answer against the search's resolution: answers this far apart or more differ. */
function answerNoise(f: ComparedFigure, a: number, b: number, after: ComparableRun, before: ComparableRun): { noise: number; source: FigureDelta["noiseSource"] } | undefined {
  // The lower answer's resolution: its true knee lies in [answer, answer + resolution).
  const lower = a <= b ? after : before;
  const r = lower.capacity?.resolution ?? null;
  if (r !== null) return { noise: r, source: "resolution" };
  // Unknown resolution (kept before it was recorded): the concurrency search's default, 1; a rate's has no default.
  return f.key === "capacity.maxConcurrency" ? { noise: 1, source: "default" } : undefined;
}

function sameOrUnknown(a: string | number | null | undefined, b: string | number | null | undefined): boolean {
  return a === null || a === undefined || b === null || b === undefined || a === b;
}

/**
 * Every figure either run has, from `before` to `after`; refused (no deltas, a note) when the runs' workloads or
 * tokenizers differ.
 */
export function compareRuns(after: ComparableRun, before: ComparableRun): Comparison {
  const ia = after.identity;
  const ib = before.identity;
  const workloads = { before: ib?.workloadText ?? UNKNOWN_WORKLOAD, after: ia?.workloadText ?? UNKNOWN_WORKLOAD };
  const refuse = (why: string): Comparison => ({ against: before.label, workloads, refused: why, deltas: [], regressions: [], notes: [why] });
  if (!sameOrUnknown(ia?.workload, ib?.workload)) {
    return refuse(`Not compared: the workloads differ (${before.label}: ${workloads.before}; now: ${workloads.after}). Figures of different workloads measure different things. Fix: re-run one of them with the other's workload.`);
  }
  if (!sameOrUnknown(ia?.tokenizer, ib?.tokenizer)) {
    return refuse(`Not compared: the prompts were built with different tokenizers (${before.label}: ${ib?.tokenizer}; now: ${ia?.tokenizer}), so the same lengths are different prompts. Fix: run both with the same --tokenizer (the model's own).`);
  }
  const notes: string[] = [];
  for (const [run, id] of [[before, ib], [after, ia]] as const) {
    if (id?.workload === null || id?.workload === undefined) notes.push(`The workload of ${run === after ? "this run" : run.label} is unknown (not recorded with it): compared as if it were the same.`);
  }
  const skip = new Set<string>();
  if (ia?.concurrency != null && ib?.concurrency != null && ia.concurrency !== ib.concurrency) {
    notes.push(`Fixed-run figures not compared: measured at concurrency ${ib.concurrency} before and ${ia.concurrency} now.`);
    for (const f of COMPARED_FIGURES) if (!f.key.startsWith("capacity.")) skip.add(f.key);
  }
  const ca = after.capacity;
  const cb = before.capacity;
  if (ca !== undefined && cb !== undefined) {
    const differ = ca.setup !== cb.setup ? `before: ${cb.setup}; now: ${ca.setup}` : !sameOrUnknown(ca.promptsPerLevel, cb.promptsPerLevel) ? `prompts per level: ${cb.promptsPerLevel} before, ${ca.promptsPerLevel} now` : undefined;
    if (differ !== undefined) {
      notes.push(`Capacity figures not compared: the searches differ (${differ}).`);
      for (const f of COMPARED_FIGURES) if (f.key.startsWith("capacity.")) skip.add(f.key);
    }
  }
  for (const [run, c] of [[before, cb], [after, ca]] as const) {
    if (c !== undefined && c.stop !== "resolved" && c.stop !== "sweep-only") notes.push(`The capacity answer of ${run === after ? "this run" : run.label} is a bound, not resolved (${c.stop}).`);
  }

  const deltas: FigureDelta[] = [];
  for (const f of COMPARED_FIGURES) {
    if (skip.has(f.key)) continue;
    const a = num(after.figures[f.key]);
    const b = num(before.figures[f.key]);
    const base = { key: f.key, label: f.label, unit: f.unit };
    if (a === null && b === null) continue;
    if (a === null || b === null) {
      // A figure one run has and the other lacks is a change, never a skip: lost is worse, gained better.
      const lost = a === null;
      const note = lost ? `${b} before; now ${missingWhy(f, after)}` : `${missingWhy(f, before)} before; now ${a}`;
      deltas.push({ ...base, before: b, after: a, delta: null, relative: null, noise: 0, noiseUnit: "relative", noiseSource: "default", exceedsNoise: true, verdict: lost ? "worse" : "better", note: `${lost ? "lost" : "gained"}: ${note}` });
      continue;
    }
    const delta = a - b;
    const relative = b === 0 ? null : delta / Math.abs(b);
    const better = f.higherIsBetter ? delta > 0 : delta < 0;
    const levels = f.answer ? answerNoise(f, a, b, after, before) : undefined;
    if (levels !== undefined) {
      const exceedsNoise = Math.abs(delta) >= levels.noise;
      deltas.push({ ...base, before: b, after: a, delta, relative, noise: levels.noise, noiseUnit: "absolute", noiseSource: levels.source, exceedsNoise, verdict: !exceedsNoise ? "within noise" : better ? "better" : "worse" });
      continue;
    }
    const na = after.noise[f.key];
    const nb = before.noise[f.key];
    const measured = na !== undefined || nb !== undefined;
    const noise = Math.sqrt((na ?? f.defaultNoise) ** 2 + (nb ?? f.defaultNoise) ** 2);
    const exceedsNoise = relative === null ? delta !== 0 : Math.abs(relative) > noise;
    deltas.push({
      ...base,
      before: b,
      after: a,
      delta,
      relative,
      noise,
      noiseUnit: "relative",
      noiseSource: measured ? "measured" : "default",
      exceedsNoise,
      verdict: !exceedsNoise ? "within noise" : better ? "better" : "worse",
    });
  }
  return { against: before.label, workloads, refused: null, deltas, regressions: deltas.filter((d) => d.verdict === "worse").map((d) => d.label), notes };
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

/** A Markdown section: one table per comparison, regressions in bold, both workloads and every note stated. */
export function renderComparisonMarkdown(c: BenchmarkComparisons): string {
  const lines = ["## Comparison", ""];
  const cell = (v: number | null) => (v === null ? "—" : fmtValue(v));
  const table = (title: string, cmp: Comparison) => {
    lines.push(`### ${title}: ${cmp.against}`, "");
    lines.push(`Workloads: before ${cmp.workloads.before}; now ${cmp.workloads.after}.`, "");
    if (cmp.refused !== null) {
      lines.push(`**${cmp.refused}**`, "");
      return;
    }
    lines.push(cmp.regressions.length === 0 ? "No figure is worse beyond run-to-run noise." : `**Worse beyond noise: ${cmp.regressions.join(", ")}.**`, "");
    lines.push("| figure | before | now | Δ | Δ % | noise (95%) | verdict |", "|---|---:|---:|---:|---:|---:|---|");
    for (const d of cmp.deltas) {
      const pct = d.relative === null ? "n/a" : `${d.relative >= 0 ? "+" : ""}${(d.relative * 100).toFixed(1)}%`;
      const verdict = `${d.verdict === "worse" ? "**worse**" : d.verdict}${d.note === undefined ? "" : ` (${d.note})`}`;
      const noise =
        d.delta === null ? "n/a" : d.noiseUnit === "absolute" ? `±${fmtValue(d.noise)} ${d.unit} (${d.noiseSource})` : `±${(d.noise * 100).toFixed(1)}% (${d.noiseSource})`;
      const delta = d.delta === null ? "n/a" : `${d.delta >= 0 ? "+" : ""}${fmtValue(d.delta)}`;
      lines.push(`| ${d.label} (${d.unit}) | ${cell(d.before)} | ${cell(d.after)} | ${delta} | ${pct} | ${noise} | ${verdict} |`);
    }
    lines.push("");
    for (const n of cmp.notes) lines.push(`- ${n}`);
    if (cmp.notes.length > 0) lines.push("");
  };
  if (c.previous) table("Against this stack's previous run", c.previous);
  if (c.reference) table("Against the reference stack", c.reference);
  for (const n of c.notes) lines.push(`- ${n}`);
  if (c.notes.length > 0) lines.push("");
  lines.push(
    "Noise: the 95% interval of the capacity search's repeats where measured, else the stated default (5% for throughputs and mean latencies, 10% for p99 latencies); the two runs' noises combine as √(a² + b²). " +
      "The capacity answer is judged in levels: answers the search's resolution or more apart differ. A figure one run lacks is a change (lost: worse; gained: better), never skipped.",
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
