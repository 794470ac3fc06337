/**
 * The reference runner: `vllm bench serve` from a pinned `vllm/vllm-openai` image, run on the
 * GPU host itself (loopback to the server, so the network between Pulumi and the host is not
 * measured). Pure functions rendering the shell script a `remote.Command` (or `local.Command`)
 * runs; the script prints nothing but the result JSON on stdout.
 */
import { assertRunnerCanRun, type BenchmarkWorkload, datasetArgs, SEED_WORKLOAD, vllmBackendForEndpoint } from "./workload";

/**
 * The vllm release whose `bench serve` is the reference. Pinned (never `latest`) so results
 * are comparable between runs; v0.18.0 is a published `vllm/vllm-openai` tag recent enough for
 * the Qwen3.5 tokenizer. Override with the Benchmark's `vllmImage`.
 */
export const DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.18.0";

/** Where results land on the host; /var/tmp survives reboots but needs no root. */
export const DEFAULT_REMOTE_RESULT_DIR = "/var/tmp/hgx-benchmark";

/** Hugging Face cache on the host, shared with the serving container so the tokenizer is local. */
export const DEFAULT_HF_CACHE_DIR = "~/.cache/huggingface";

export const DEFAULT_BENCH_CONTAINER_NAME = "hgx-benchmark";

export interface RemoteBenchCommandOptions {
  /** Image with the `vllm` CLI. @default DEFAULT_VLLM_IMAGE */
  readonly image?: string;
  /** Port the server listens on, on the host's loopback. */
  readonly port: number;
  /** Tokenizer source for the random dataset (`--model`): a hub id or an absolute path on the host. */
  readonly model: string;
  /** Name the server answers to (`--served-model-name`, the request's `model`). */
  readonly servedModelName: string;
  /** Tokenizer for the random dataset when not the model's (`--tokenizer`): a hub id or an absolute path on the host. @default model */
  readonly tokenizer?: string;
  /** @default SEED_WORKLOAD */
  readonly workload?: BenchmarkWorkload;
  /** Host directory (or Docker volume name) mounted as the container's HF cache. `~/` is the login user's home. @default "~/.cache/huggingface" */
  readonly hfCacheDir?: string;
  /** Host directory the result file is written to. @default "/var/tmp/hgx-benchmark" */
  readonly resultDir?: string;
  /** Result file name. @default resultFilename(servedModelName, workload) */
  readonly resultFilename?: string;
  /** Hard limit on the benchmark container, seconds. @default 3600 */
  readonly timeoutSeconds?: number;
  /** Hard limit on pulling the image when it is not on the host yet, seconds. @default 1800 */
  readonly pullTimeoutSeconds?: number;
  /** Read the API key from the first stdin line and hand it to the container by name. @default false */
  readonly apiKeyFromStdin?: boolean;
  /**
   * Give the container the GPUs' NVML: vllm's CLI detects its platform at start-up and fails on
   * a host where it finds none (vllm-project/vllm#23967), even though the client computes nothing.
   * @default true
   */
  readonly gpus?: boolean;
  /** @default "hgx-benchmark" */
  readonly containerName?: string;
  /** Docker CLI invocation, e.g. `sudo docker` where the login user is not in the docker group. @default "docker" */
  readonly docker?: string;
  /** Extra `vllm bench serve` arguments appended last (escape hatch). @default [] */
  readonly extraBenchArgs?: readonly string[];
}

export { shellQuote } from "../shell";
import { bashReadSecretLine, shellQuote } from "../shell";

/** A host path for the shell, with a leading `~/` expanded through `$HOME` (which quoting would not). */
export function shellPath(p: string): string {
  if (p === "~") return '"$HOME"';
  if (p.startsWith("~/")) return `"$HOME"/${shellQuote(p.slice(2))}`;
  return shellQuote(p);
}

/**
 * Why a remote run cannot use the tokenizer `"bundled"` (the native runner's packaged Qwen3
 * tokenizer) with this image, or undefined when it can: the real `vllm/vllm-openai` images cannot
 * load it; an image standing in for vllm that runs the native runner (the test rig's) can.
 */
export function bundledTokenizerProblem(image: string): string | undefined {
  const repository = image.split("@")[0].replace(/:[^/:]*$/, "");
  if (repository !== "vllm/vllm-openai" && !repository.endsWith("/vllm/vllm-openai")) return undefined;
  return `tokenizer "bundled" is the native runner's packaged Qwen3 tokenizer; ${image} (vllm bench serve) cannot load it`;
}

/** Deterministic result file name: a re-run overwrites the previous result of the same workload. */
export function resultFilename(servedModelName: string, w: BenchmarkWorkload): string {
  const name = servedModelName.replace(/[^A-Za-z0-9._-]+/g, "_");
  return `${name}-${w.inputLen}in-${w.outputLen}out-${w.numPrompts}x${w.maxConcurrency}.json`;
}

function positiveSeconds(setting: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`benchmark ${setting} must be a whole number of seconds >= 1, got ${String(v)}.`);
  return v;
}

/** The arguments after `vllm` (i.e. `bench serve …`) for a workload; the container sees `/results`. */
export function vllmBenchServeArgs(opts: {
  port: number;
  model: string;
  tokenizer?: string;
  servedModelName: string;
  workload: BenchmarkWorkload;
  resultFilename: string;
  extraBenchArgs?: readonly string[];
}): string[] {
  const w = opts.workload;
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) {
    throw new Error(`benchmark port must be 1-65535, got ${String(opts.port)}. Fix: pass the port the server listens on (8000 in the seed).`);
  }
  if (!opts.servedModelName) throw new Error("benchmark servedModelName is empty. Fix: pass the server's --served-model-name (\"qwen\" in the seed).");
  if (!opts.model) throw new Error("benchmark modelPath is empty. Fix: pass the model id whose tokenizer the random dataset uses (e.g. Qwen/Qwen3.5-397B-A17B).");
  // An endpoint no backend posts to, or ignoreEos false (which vllm would override), is refused here, not by vllm after the deploy.
  assertRunnerCanRun(w, "remote");
  const backend = vllmBackendForEndpoint(w.endpoint) ?? "openai-chat";
  const tokenizer = opts.tokenizer !== undefined && opts.tokenizer !== opts.model ? ["--tokenizer", opts.tokenizer] : [];
  return [
    "bench", "serve",
    "--backend", backend,
    "--base-url", `http://127.0.0.1:${opts.port}`,
    "--endpoint", w.endpoint,
    "--model", opts.model,
    ...tokenizer,
    "--served-model-name", opts.servedModelName,
    ...datasetArgs(w),
    "--num-prompts", String(w.numPrompts),
    "--max-concurrency", String(w.maxConcurrency),
    "--temperature", String(w.temperature),
    // Always true here (assertRunnerCanRun); vllm 0.18.0 would set it for the random dataset anyway.
    "--ignore-eos",
    "--percentile-metrics", w.percentileMetrics.join(","),
    "--metric-percentiles", w.metricPercentiles.map(String).join(","),
    "--save-result",
    "--result-dir", "/results",
    "--result-filename", opts.resultFilename,
    ...(opts.extraBenchArgs ?? []),
  ];
}

/**
 * The whole script: pull the pinned image if missing (bounded), run the benchmark under a hard
 * `timeout` with its console output sent to stderr, remove the container if it was cut short,
 * then print the result file on stdout. The API key, when used, comes from stdin and reaches
 * the container by variable name only, so it is never part of this text (which lands in state).
 */
export function renderRemoteBenchCommand(o: RemoteBenchCommandOptions): string {
  const workload = o.workload ?? SEED_WORKLOAD;
  const image = o.image ?? DEFAULT_VLLM_IMAGE;
  if (!/^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/.test(image) || image.endsWith(":latest") || !/[:@]/.test(image.split("/").pop() ?? "")) {
    throw new Error(`benchmark vllmImage must be a pinned image reference like ${DEFAULT_VLLM_IMAGE}, got ${JSON.stringify(image)}. Fix: name an explicit release tag or digest (not latest).`);
  }
  const timeout = positiveSeconds("timeoutSeconds", o.timeoutSeconds ?? 3600);
  const pullTimeout = positiveSeconds("pullTimeoutSeconds", o.pullTimeoutSeconds ?? 1800);
  const container = o.containerName ?? DEFAULT_BENCH_CONTAINER_NAME;
  const docker = o.docker ?? "docker";
  const resultDir = o.resultDir ?? DEFAULT_REMOTE_RESULT_DIR;
  const filename = o.resultFilename ?? resultFilename(o.servedModelName, workload);
  if (filename.includes("/") || filename.startsWith(".")) throw new Error(`benchmark result file name must be a plain file name, got ${JSON.stringify(filename)}.`);
  const resultFile = `${resultDir.replace(/\/+$/, "")}/${filename}`;
  const bundledProblem = o.tokenizer === "bundled" ? bundledTokenizerProblem(image) : undefined;
  if (bundledProblem) throw new Error(`benchmark ${bundledProblem}. Fix: leave the tokenizer unset (the model's own) or name a hub id / host path.`);
  const img = shellQuote(image);

  const mounts = ["-v", `${shellPath(o.hfCacheDir ?? DEFAULT_HF_CACHE_DIR)}:/root/.cache/huggingface`, "-v", `${shellPath(resultDir)}:/results`];
  // A model given as a host path is mounted read-only at the same path so --model resolves in the container.
  for (const hostPath of new Set([o.model, o.tokenizer ?? o.model])) {
    if (hostPath.startsWith("/")) mounts.push("-v", `${shellQuote(hostPath)}:${shellQuote(hostPath)}:ro`);
  }

  const run = [
    "timeout", "--kill-after=30", String(timeout),
    docker, "run", "--rm", "--name", shellQuote(container), "--network", "host",
    ...((o.gpus ?? true) ? ["--gpus", "all"] : []),
    "--entrypoint", "vllm",
    ...mounts,
    ...(o.apiKeyFromStdin ? ["-e", "OPENAI_API_KEY"] : []),
    img,
    ...vllmBenchServeArgs({
      port: o.port,
      model: o.model,
      tokenizer: o.tokenizer,
      servedModelName: o.servedModelName,
      workload,
      resultFilename: filename,
      extraBenchArgs: o.extraBenchArgs,
    }).map(shellQuote),
  ].join(" ");

  const lines = [
    "set -u",
    ...(o.apiKeyFromStdin ? [bashReadSecretLine("OPENAI_API_KEY").trimEnd(), "export OPENAI_API_KEY"] : []),
    `mkdir -p ${shellPath(resultDir)}`,
    `rm -f ${shellPath(resultFile)}`,
    `${docker} rm -f ${shellQuote(container)} >/dev/null 2>&1 || true`,
    `if ! ${docker} image inspect ${img} >/dev/null 2>&1; then`,
    `  echo "pulling ${image} (first benchmark on this host)" >&2`,
    `  timeout ${pullTimeout} ${docker} pull ${img} >&2 || { echo "docker pull ${image} failed or took longer than ${pullTimeout} s" >&2; exit 1; }`,
    "fi",
    `${run} >&2`,
    "status=$?",
    'if [ "$status" -ne 0 ]; then',
    `  ${docker} rm -f ${shellQuote(container)} >/dev/null 2>&1`,
    `  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then echo "vllm bench serve did not finish within ${timeout} s and was stopped" >&2; fi`,
    '  echo "vllm bench serve failed with exit status $status" >&2',
    '  exit "$status"',
    "fi",
    `cat ${shellPath(resultFile)}`,
  ];
  return lines.join("\n") + "\n";
}
