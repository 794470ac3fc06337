/**
 * The \`Benchmark\` component's arguments, their defaults and validation, and its re-run triggers: plain values,
 * settled before any resource is created.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";
import type { HostConnection } from "../host/connection";
import { type BaselineFigures, type BenchmarkThresholds, SEED_BASELINE, validateBaseline, validateThresholds } from "./baseline";
import { validateCapacitySettings, type CapacitySettings } from "./capacityCommand";
import type { ServerProvenanceFacts } from "./provenance";
import type { PlanSettings, RoutedPlanFacts } from "./stackPlan";
import { bundledTokenizerProblem, DEFAULT_HF_CACHE_DIR, DEFAULT_REMOTE_RESULT_DIR, DEFAULT_VLLM_IMAGE } from "./remoteRunner";
import { BUNDLED_TOKENIZER_SPEC } from "./runner/tokenizer";
import { assertRunnerCanRun, BENCHMARK_RUNNERS, type BenchmarkRunnerKind, type BenchmarkWorkload, resolveWorkload, workloadKey } from "./workload";

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
   * What the stack knows of the server that the capacity CLI cannot see (image digest, a hash of its flags, the router's
   * policy and replicas): recorded in `benchmark.capacity.provenance` and its report.
   * @default none (recorded as "not recorded")
   */
  readonly serverProvenance?: pulumi.Input<ServerProvenanceFacts>;
  /**
   * A deployment plan from the capacity search, exported as `benchmark.plan`: the target, the price of one replica's
   * machine per hour, and (behind a router) what the stack measured of the fleet.
   * @default none
   */
  readonly plan?: {
    readonly settings: PlanSettings;
    readonly replicaPriceUsd: pulumi.Input<number>;
    readonly routed?: pulumi.Input<RoutedPlanFacts>;
  };
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
