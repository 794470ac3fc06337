/**
 * Promotion gate: a stack (prod) is only deployed when another stack's (dev's) benchmark outputs
 * meet named thresholds. Plain functions for the decision (used by `scripts/promote-check.ts`,
 * which any CI can run) plus `promotionGate` for use inside a Pulumi program with a
 * `pulumi.StackReference`.
 */
import * as pulumi from "@pulumi/pulumi";
import { SEED_BASELINE, type BaselineFigures } from "../benchmark/baseline";

/** One named limit on one benchmark figure. */
export interface PromotionThreshold {
  /** Name printed when the threshold fails, e.g. `min-output-throughput`. */
  readonly name: string;
  /** Dotted path into the benchmark metrics object, e.g. `ttft.p99` or `outputThroughput`. */
  readonly metric: string;
  /** `min`: measured must be >= value; `max`: measured must be <= value. */
  readonly op: "min" | "max";
  readonly value: number;
  /** Unit shown next to the numbers. */
  readonly unit?: string;
}

/** The outcome of one threshold. */
export interface ThresholdResult {
  readonly threshold: PromotionThreshold;
  /** The measured figure; undefined when the outputs did not hold a usable one (counts as a failure). */
  readonly measured?: number;
  readonly passed: boolean;
  /**
   * Why the figure could not be judged: missing, not a finite number, negative (no latency,
   * throughput or count can be), or not measured because no request completed. Always a failure.
   */
  readonly refused?: string;
}

export interface PromotionReport {
  readonly passed: boolean;
  readonly results: readonly ThresholdResult[];
  readonly failures: readonly ThresholdResult[];
  /** Where in the outputs the metrics were found (dotted path, "" for the top level). */
  readonly metricsPath: string;
}

/**
 * Tolerance applied to the seed baseline when no thresholds are given: 10% slower throughput or
 * 10% higher latency than the seed's 8x B200 figures still promotes.
 * @default 0.1
 */
export const DEFAULT_TOLERANCE = 0.1;

/** Names of the default thresholds, which the CLI also accepts as `--<name> <value>` flags. */
export const DEFAULT_THRESHOLD_NAMES = [
  "min-output-throughput",
  "min-total-throughput",
  "max-ttft-mean-ms",
  "max-ttft-p99-ms",
  "max-itl-mean-ms",
  "max-tpot-p99-ms",
  "max-failed-requests",
] as const;
export type DefaultThresholdName = (typeof DEFAULT_THRESHOLD_NAMES)[number];

/** Thresholds derived from a baseline (by default the seed's table) with a relative tolerance. */
export function defaultThresholds(tolerance: number = DEFAULT_TOLERANCE, baseline: BaselineFigures = SEED_BASELINE): PromotionThreshold[] {
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance >= 1) {
    throw new Error(`tolerance must be a fraction in [0, 1), got ${tolerance}. Fix: pass e.g. --tolerance 0.1 for 10%.`);
  }
  const lo = (v: number) => round(v * (1 - tolerance));
  const hi = (v: number) => round(v * (1 + tolerance));
  return [
    { name: "min-output-throughput", metric: "outputThroughput", op: "min", value: lo(baseline.outputThroughput), unit: "tok/s" },
    { name: "min-total-throughput", metric: "totalTokenThroughput", op: "min", value: lo(baseline.totalTokenThroughput), unit: "tok/s" },
    { name: "max-ttft-mean-ms", metric: "ttft.mean", op: "max", value: hi(baseline.ttftMeanMs), unit: "ms" },
    { name: "max-ttft-p99-ms", metric: "ttft.p99", op: "max", value: hi(baseline.ttftP99Ms), unit: "ms" },
    { name: "max-itl-mean-ms", metric: "itl.mean", op: "max", value: hi(baseline.itlMeanMs), unit: "ms" },
    { name: "max-tpot-p99-ms", metric: "tpot.p99", op: "max", value: hi(baseline.tpotP99Ms), unit: "ms" },
    { name: "max-failed-requests", metric: "failed", op: "max", value: 0, unit: "requests" },
  ];
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/**
 * Replaces the values of named thresholds (`{"max-ttft-p99-ms": 6000}`); unknown names are an
 * error that lists the known ones.
 */
export function overrideThresholds(base: readonly PromotionThreshold[], overrides: Readonly<Record<string, number>>): PromotionThreshold[] {
  const known = new Set(base.map((t) => t.name));
  for (const [name, value] of Object.entries(overrides)) {
    if (!known.has(name)) throw new Error(`unknown threshold '${name}'. Fix: use one of ${[...known].join(", ")}, or define it in a thresholds file.`);
    if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`threshold '${name}' must be a number, got ${JSON.stringify(value)}.`);
  }
  return base.map((t) => (overrides[t.name] === undefined ? t : { ...t, value: overrides[t.name] }));
}

/**
 * Reads a thresholds document: either `{"tolerance"?: n, "thresholds"?: {name: value}}` overriding
 * the defaults, or a full list `[{name, metric, op, value, unit?}]`.
 */
export function parseThresholdsDocument(doc: unknown, source = "thresholds file"): PromotionThreshold[] {
  if (Array.isArray(doc)) return doc.map((t, i) => validateThreshold(t, `${source}[${i}]`));
  if (doc && typeof doc === "object") {
    const d = doc as Record<string, unknown>;
    for (const key of Object.keys(d)) {
      if (key !== "tolerance" && key !== "thresholds") throw new Error(`${source}: unknown key '${key}'. Fix: use "tolerance" and/or "thresholds".`);
    }
    const tolerance = d["tolerance"] === undefined ? DEFAULT_TOLERANCE : Number(d["tolerance"]);
    const overrides = (d["thresholds"] ?? {}) as Record<string, number>;
    if (typeof overrides !== "object" || Array.isArray(overrides)) throw new Error(`${source}: "thresholds" must be an object {name: value}.`);
    return overrideThresholds(defaultThresholds(tolerance), overrides);
  }
  throw new Error(`${source}: expected an object {tolerance, thresholds} or a list of thresholds, got ${JSON.stringify(doc)}.`);
}

function validateThreshold(t: unknown, where: string): PromotionThreshold {
  const r = (t ?? {}) as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof r["name"] !== "string" || r["name"] === "") problems.push("name must be a non-empty string");
  if (typeof r["metric"] !== "string" || r["metric"] === "") problems.push("metric must be a dotted path such as ttft.p99");
  if (r["op"] !== "min" && r["op"] !== "max") problems.push(`op must be "min" or "max", got ${JSON.stringify(r["op"])}`);
  if (typeof r["value"] !== "number" || !Number.isFinite(r["value"])) problems.push(`value must be a number, got ${JSON.stringify(r["value"])}`);
  if (problems.length > 0) throw new Error(`${where}: ${problems.join("; ")}.`);
  return { name: r["name"] as string, metric: r["metric"] as string, op: r["op"] as "min" | "max", value: r["value"] as number, unit: typeof r["unit"] === "string" ? r["unit"] : undefined };
}

/** Reads a dotted path (`a.b.0.c`) out of nested objects/arrays. */
export function readPath(obj: unknown, dotted: string): unknown {
  if (dotted === "") return obj;
  let cur: unknown = obj;
  for (const part of dotted.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Candidate places for the benchmark metrics in a stack's outputs, most specific first. */
export const METRICS_PATH_CANDIDATES = ["benchmark.metrics", "metrics", "benchmarkMetrics", "benchmark", ""] as const;

/**
 * Finds the benchmark metrics object in stack outputs: the given path, or the first candidate
 * that holds an `outputThroughput` figure. Errors list the top-level outputs to help the fix.
 */
export function locateMetrics(outputs: Readonly<Record<string, unknown>>, metricsPath?: string): { path: string; metrics: Record<string, unknown> } {
  const paths = metricsPath !== undefined ? [metricsPath] : METRICS_PATH_CANDIDATES;
  for (const p of paths) {
    let v = readPath(outputs, p);
    if (typeof v === "string" && v.trim().startsWith("{")) {
      try {
        v = JSON.parse(v);
      } catch {
        /* not JSON: fall through */
      }
    }
    if (v && typeof v === "object" && !Array.isArray(v) && (metricsPath !== undefined || "outputThroughput" in v)) {
      return { path: p, metrics: v as Record<string, unknown> };
    }
  }
  const where = metricsPath !== undefined ? `at '${metricsPath}'` : `at any of ${METRICS_PATH_CANDIDATES.map((p) => `'${p || "<top level>"}'`).join(", ")}`;
  throw new Error(
    `no benchmark metrics ${where} in the stack outputs (top-level outputs: ${Object.keys(outputs).join(", ") || "none"}). ` +
      "Fix: run the benchmark in the source stack (benchmarkEnabled=true) or pass --metrics-path to where the metrics object is exported.",
  );
}

/**
 * A figure from the outputs, or why it cannot be judged. Every benchmark figure (latency,
 * throughput, count) is ≥ 0: a negative one is a broken result, never a pass of a maximum.
 */
export function readFigure(v: unknown): { value: number } | { refused: string } {
  if (v === undefined || v === null) return { refused: "missing from the outputs" };
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (!Number.isFinite(n)) return { refused: `${JSON.stringify(v)} is not a finite number` };
  if (n < 0) return { refused: `${n} is negative` };
  return { value: n };
}

/** Latency paths (`ttft.p99`, `itl.mean`, …): 0 by convention when nothing completed, so not a measurement then. */
function isLatencyPath(metric: string): boolean {
  return /^(ttft|tpot|itl|e2el)\./.test(metric);
}

/** Checks every threshold against the metrics found in `outputs`. */
export function evaluatePromotion(outputs: Readonly<Record<string, unknown>>, thresholds: readonly PromotionThreshold[], metricsPath?: string): PromotionReport {
  if (thresholds.length === 0) throw new Error("no thresholds to check: a promotion gate without thresholds would pass anything. Fix: omit the thresholds to use the seed defaults.");
  const { path, metrics } = locateMetrics(outputs, metricsPath);
  const completed = readFigure(metrics["completed"]);
  const nothingCompleted = "value" in completed && completed.value === 0;
  const results = thresholds.map((threshold): ThresholdResult => {
    const figure = readFigure(readPath(metrics, threshold.metric));
    if ("refused" in figure) return { threshold, passed: false, refused: figure.refused };
    if (nothingCompleted && isLatencyPath(threshold.metric)) return { threshold, passed: false, refused: "not measured: no request completed" };
    const measured = figure.value;
    const passed = threshold.op === "min" ? measured >= threshold.value : measured <= threshold.value;
    return { threshold, measured, passed };
  });
  const failures = results.filter((r) => !r.passed);
  return { passed: failures.length === 0, results, failures, metricsPath: path };
}

function fmt(v: number | undefined, unit?: string): string {
  if (v === undefined) return "missing";
  const n = Number.isInteger(v) ? v.toString() : v.toFixed(2);
  return unit ? `${n} ${unit}` : n;
}

/** One line per threshold result: `FAIL max-ttft-p99-ms: measured 6120 ms, required <= 5508.8 ms (ttft.p99)`. */
export function formatResult(r: ThresholdResult): string {
  const t = r.threshold;
  const measured = r.refused !== undefined ? `refused (${r.refused})` : `measured ${fmt(r.measured, t.unit)}`;
  return `${r.passed ? "PASS" : "FAIL"} ${t.name}: ${measured}, required ${t.op === "min" ? ">=" : "<="} ${fmt(t.value, t.unit)} (${t.metric})`;
}

/** The full report text: a header line and every threshold, failures first. */
export function formatPromotionReport(report: PromotionReport, source: string): string {
  const head = report.passed
    ? `promotion check PASSED: ${source} meets all ${report.results.length} thresholds`
    : `promotion check FAILED: ${source} misses ${report.failures.length} of ${report.results.length} thresholds`;
  const ordered = [...report.failures, ...report.results.filter((r) => r.passed)];
  return [head, ...ordered.map((r) => `  ${formatResult(r)}`)].join("\n");
}

/** Anything with the outputs of another stack (a `pulumi.StackReference`, or a stand-in in tests). */
export interface StackOutputsSource {
  readonly name?: pulumi.Output<string>;
  readonly outputs: pulumi.Output<Record<string, unknown>>;
}

/** Options of {@link promotionGate}. */
export interface PromotionGateOptions {
  /** Thresholds to check. @default defaultThresholds() (the seed baseline with 10% tolerance) */
  readonly thresholds?: readonly PromotionThreshold[];
  /** Dotted path of the metrics object in the referenced stack's outputs. @default auto-detected */
  readonly metricsPath?: string;
}

/**
 * For a prod program: resolves to the report when the referenced stack's benchmark meets every
 * threshold, and fails the preview/update otherwise with every failing threshold in the message.
 * Make the gated resources depend on it (e.g. feed `gate.passed` into an input, or create them in
 * a program that awaits it) so nothing is deployed from a failing source.
 *
 * @example
 * ```ts
 * const dev = new pulumi.StackReference("acme/hgx-inference/dev");
 * const gate = promotionGate(dev, { thresholds: overrideThresholds(defaultThresholds(), { "max-ttft-p99-ms": 6000 }) });
 * export const promotedFrom = gate.apply(() => "acme/hgx-inference/dev");
 * ```
 */
export function promotionGate(source: StackOutputsSource, options: PromotionGateOptions = {}): pulumi.Output<PromotionReport> {
  const thresholds = options.thresholds ?? defaultThresholds();
  const name = source.name ?? pulumi.output("the referenced stack");
  return pulumi.all([source.outputs, name]).apply(([outputs, stackName]) => {
    const report = evaluatePromotion(outputs ?? {}, thresholds, options.metricsPath);
    if (!report.passed) throw new pulumi.RunError(formatPromotionReport(report, `stack ${stackName}`));
    return report;
  });
}
