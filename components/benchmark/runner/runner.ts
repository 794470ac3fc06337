/**
 * The native benchmark runner: `vllm bench serve --backend openai-chat --dataset-name random
 * --request-rate inf` semantics in one Node process, fast enough never to be the bottleneck.
 *
 * - Every request exists at t = 0 and waits for one of `maxConcurrency` slots (a FIFO pool:
 *   request i starts once i − maxConcurrency has finished, like vllm's semaphore).
 * - `st` is taken after the slot is acquired, just before the POST.
 * - Each SSE message is stamped with the arrival time of the read that completed it (see sse.ts).
 * - A message with non-empty `choices` is a token event (content is not inspected); the first
 *   sets TTFT, each later one appends the gap to the ITL list; `usage` sets the output token
 *   count and the server's prompt count (`serverPromptTokens`); latency = last token event − st.
 * - Input tokens are counted on the client, from the prompt length the dataset built (as pinned
 *   vllm 0.18.0 does), so both runners report the same `total_input_tokens` for the same prompts.
 * - Success = HTTP 200, a cleanly ended stream and ≥ 1 token event. Anything else — non-200,
 *   connection refused or reset, a stream cut mid-way, malformed JSON, an in-stream `error`
 *   object, a per-request or overall timeout — is a failed request with its error text kept,
 *   never an exception. Every loop is bounded by the number of prompts and by the timeouts.
 */
import * as http from "node:http";
import * as https from "node:https";
import { randomBytes } from "node:crypto";
import { generateRandomDataset, type SampleRequest } from "./dataset";
import { buildChatRequestBody, buildRequestHeaders } from "./request";
import { SseMessageSplitter } from "./sse";
import { computeMetrics, type BenchmarkMetrics, type GoodputSlo, type PercentileMetric, type RequestTiming } from "./stats";
import { loadTokenizer, speedUpBpeMerges, type LoadedTokenizer } from "./tokenizer";
import { toVllmResultJson, type VllmResultJson } from "./result";
import { arrivalOffsetsMs, InterruptibleSleeps, validateArrivalOptions } from "./arrivals";

export interface BenchmarkRunOptions {
  /** Server root, e.g. `http://127.0.0.1:8000` (vllm `--base-url`). */
  readonly baseUrl: string;
  /** Path appended to `baseUrl` (`--endpoint`). @default "/v1/chat/completions" */
  readonly endpoint?: string;
  /** Sent as the request's `model` (`--served-model-name`). */
  readonly servedModelName: string;
  /** Recorded as `model_id` (`--model`, e.g. `Qwen/Qwen3.5-397B-A17B`). @default servedModelName */
  readonly modelId?: string;
  /**
   * Tokenizer for the random prompts: a directory with `tokenizer.json`, the file itself, or an
   * `Org/Name` id present in the local Hugging Face cache. @default the bundled Qwen3 tokenizer
   */
  readonly tokenizer?: string;
  /** Prompt tokens per request (`--random-input-len`). @default 8192 */
  readonly inputLen?: number;
  /** Completion tokens per request, `max_completion_tokens` (`--random-output-len`). @default 1024 */
  readonly outputLen?: number;
  /** Requests in the run (`--num-prompts`). @default 512 */
  readonly numPrompts?: number;
  /** Requests in flight at most; also the connection pool size (`--max-concurrency`). @default 32 */
  readonly maxConcurrency?: number;
  /** Length spread in [0, 1) (`--random-range-ratio`). @default 0 */
  readonly rangeRatio?: number;
  /** Dataset seed (`--seed`). @default 0 */
  readonly seed?: number;
  /** Pinned sampling temperature; `null` sends none. @default 0 */
  readonly temperature?: number | null;
  /** Send `ignore_eos` so every request yields its full output length. @default true */
  readonly ignoreEos?: boolean;
  /** Bearer token (the CLI reads it from OPENAI_API_KEY). Never logged, never in the result. */
  readonly apiKey?: string;
  /** One request may take at most this long, from `st` to the end of its stream. @default 1_800_000 (30 minutes) */
  readonly requestTimeoutMs?: number;
  /** The whole run (dispatch to last end) may take at most this long. @default 10_800_000 (3 hours) */
  readonly totalTimeoutMs?: number;
  /** Metrics to report statistics for (`--percentile-metrics`). @default ["ttft", "tpot", "itl"] */
  readonly percentileMetrics?: readonly PercentileMetric[];
  /** Percentiles to report (`--metric-percentiles`). @default [99] */
  readonly metricPercentiles?: readonly number[];
  /** Recorded as `label`. @default "openai-chat" (vllm's endpoint type) */
  readonly label?: string;
  /** Request ids are `<prefix><index>`. @default "bench-<8 random hex>-" */
  readonly requestIdPrefix?: string;
  /** SLOs in ms for `request_goodput` (`--goodput`). @default none (goodput reported as null) */
  readonly goodput?: GoodputSlo;
  /**
   * Requests per second (`--request-rate`): arrivals follow vllm's gamma process (see arrivals.ts), each then waits
   * for a concurrency slot. @default Infinity (all requests at t = 0, the seed's setting)
   */
  readonly requestRate?: number;
  /** Gamma shape of the inter-arrival gaps (`--burstiness`): 1 = Poisson. Ignored at rate Infinity. @default 1 */
  readonly burstiness?: number;
  /** Prompts to send instead of generating the random dataset (tests, replays). @default generated */
  readonly dataset?: readonly SampleRequest[];
  /** An already loaded tokenizer (skips loading `tokenizer`). @default loaded from `tokenizer` */
  readonly loadedTokenizer?: LoadedTokenizer;
  /**
   * Why the prompts were built with a tokenizer other than the model's (the CLI's fallback when
   * the model is not in the local cache); recorded as `tokenizer_fallback` in the result so no
   * reader takes the numbers for the model's own. @default none (the tokenizer was chosen)
   */
  readonly tokenizerFallback?: string;
  /** Called after each prompt is built. @default none */
  readonly onDatasetProgress?: (done: number, total: number) => void;
  /** Aborting ends the run early: in-flight requests fail, unsent ones fail unsent. @default none */
  readonly signal?: AbortSignal;
}

/** Options after defaults, as recorded in the result (no API key: only whether one was used). */
export interface ResolvedRunOptions {
  readonly baseUrl: string;
  readonly endpoint: string;
  readonly servedModelName: string;
  readonly modelId: string;
  readonly tokenizerId: string;
  readonly tokenizerFallback: string | undefined;
  readonly inputLen: number;
  readonly outputLen: number;
  readonly numPrompts: number;
  readonly maxConcurrency: number;
  readonly rangeRatio: number;
  readonly seed: number;
  readonly temperature: number | undefined;
  readonly ignoreEos: boolean;
  readonly usesApiKey: boolean;
  readonly requestTimeoutMs: number;
  readonly totalTimeoutMs: number;
  readonly percentileMetrics: readonly PercentileMetric[];
  readonly metricPercentiles: readonly number[];
  readonly label: string;
  readonly requestIdPrefix: string;
  readonly goodput: GoodputSlo | undefined;
  readonly requestRate: number;
  readonly burstiness: number;
}

/** What happened to one request. Times are milliseconds. */
export interface RequestOutput extends RequestTiming {
  readonly index: number;
  readonly requestId: string;
  /** `st` as wall-clock epoch ms (performance.timeOrigin + st), for cross-process comparisons. */
  readonly startEpochMs: number;
  /** Messages with non-empty `choices` received. */
  readonly tokenEvents: number;
  /** Concatenated `delta.content` and `delta.reasoning_content`. */
  readonly generatedText: string;
  /** HTTP status, when a response arrived. */
  readonly httpStatus: number | undefined;
  /** Why the request failed; "" on success. */
  readonly error: string;
}

export interface BenchmarkResult {
  /** The `vllm bench serve --save-result` record (no per-request arrays). */
  readonly json: VllmResultJson;
  readonly metrics: BenchmarkMetrics;
  readonly requests: readonly RequestOutput[];
  readonly options: ResolvedRunOptions;
  /** When dispatch began. */
  readonly startedAt: Date;
  /** Seconds spent loading the tokenizer and building prompts (not part of `duration`). */
  readonly datasetSeconds: number;
  /** Σ |final prompt length − target| over prompts whose length loop ran out of rounds. */
  readonly tokenMismatchTotal: number;
}

const DEFAULTS = {
  endpoint: "/v1/chat/completions",
  inputLen: 8192,
  outputLen: 1024,
  numPrompts: 512,
  maxConcurrency: 32,
  rangeRatio: 0,
  seed: 0,
  temperature: 0,
  ignoreEos: true,
  requestTimeoutMs: 30 * 60_000,
  totalTimeoutMs: 3 * 3_600_000,
  percentileMetrics: ["ttft", "tpot", "itl"] as readonly PercentileMetric[],
  metricPercentiles: [99] as readonly number[],
  label: "openai-chat",
} as const;

const PERCENTILE_METRICS: readonly PercentileMetric[] = ["ttft", "tpot", "itl", "e2el"];

function positiveInteger(name: string, flag: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, got ${String(value)}. Fix: set ${flag} to a whole number ≥ 1.`);
  }
  return value;
}

/** Fills defaults and validates; errors name the option, the value and the fix. */
export function resolveRunOptions(opts: BenchmarkRunOptions, tokenizerId: string): ResolvedRunOptions {
  let url: URL;
  try {
    url = new URL(opts.baseUrl);
  } catch {
    throw new Error(`baseUrl ${JSON.stringify(opts.baseUrl)} is not a URL. Fix: pass --base-url like http://127.0.0.1:8000.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`baseUrl must use http or https, got ${JSON.stringify(url.protocol)}. Fix: pass --base-url like http://127.0.0.1:8000.`);
  }
  const endpoint = opts.endpoint ?? DEFAULTS.endpoint;
  if (!endpoint.startsWith("/")) {
    throw new Error(`endpoint must start with "/", got ${JSON.stringify(endpoint)}. Fix: pass --endpoint /v1/chat/completions.`);
  }
  // It builds vllm's openai-chat request body only: any other API would get a body it does not take.
  if (!endpoint.endsWith("chat/completions")) {
    throw new Error(
      `endpoint ${JSON.stringify(endpoint)} is not a chat completions path: this runner sends chat requests only (vllm's openai-chat body). ` +
        "Fix: pass --endpoint /v1/chat/completions, or run vllm bench serve (the remote runner) for /v1/completions.",
    );
  }
  if (!opts.servedModelName) {
    throw new Error(`servedModelName is empty. Fix: pass --served-model-name with the name the server serves (e.g. qwen).`);
  }
  const percentileMetrics = opts.percentileMetrics ?? DEFAULTS.percentileMetrics;
  for (const m of percentileMetrics) {
    if (!PERCENTILE_METRICS.includes(m)) {
      throw new Error(`percentile metric ${JSON.stringify(m)} is unknown. Fix: use a comma list of ${PERCENTILE_METRICS.join(",")}.`);
    }
  }
  const metricPercentiles = opts.metricPercentiles ?? DEFAULTS.metricPercentiles;
  for (const p of metricPercentiles) {
    if (!Number.isFinite(p) || p <= 0 || p >= 100) {
      throw new Error(`metric percentile ${String(p)} is outside (0, 100). Fix: use values like 50,90,99.`);
    }
  }
  const rangeRatio = opts.rangeRatio ?? DEFAULTS.rangeRatio;
  if (!(rangeRatio >= 0 && rangeRatio < 1)) {
    throw new Error(`rangeRatio must be in [0, 1), got ${String(rangeRatio)}. Fix: use 0 for fixed lengths.`);
  }
  const temperature = opts.temperature === null ? undefined : (opts.temperature ?? DEFAULTS.temperature);
  if (temperature !== undefined && !(temperature >= 0 && Number.isFinite(temperature))) {
    throw new Error(`temperature must be a finite number ≥ 0, got ${String(temperature)}. Fix: use 0 for comparable runs.`);
  }
  validateArrivalOptions(opts.requestRate ?? Infinity, opts.burstiness ?? 1);
  const seed = opts.seed ?? DEFAULTS.seed;
  if (!Number.isInteger(seed) || seed < 0) {
    throw new Error(`seed must be a non-negative integer, got ${String(seed)}. Fix: pass --seed 0.`);
  }
  return {
    baseUrl: opts.baseUrl.replace(/\/+$/, ""),
    endpoint,
    servedModelName: opts.servedModelName,
    modelId: opts.modelId ?? opts.servedModelName,
    tokenizerId,
    tokenizerFallback: opts.tokenizerFallback,
    inputLen: positiveInteger("inputLen", "--random-input-len", opts.inputLen ?? DEFAULTS.inputLen),
    outputLen: positiveInteger("outputLen", "--random-output-len", opts.outputLen ?? DEFAULTS.outputLen),
    numPrompts: positiveInteger("numPrompts", "--num-prompts", opts.dataset?.length ?? opts.numPrompts ?? DEFAULTS.numPrompts),
    maxConcurrency: positiveInteger("maxConcurrency", "--max-concurrency", opts.maxConcurrency ?? DEFAULTS.maxConcurrency),
    rangeRatio,
    seed,
    temperature,
    ignoreEos: opts.ignoreEos ?? DEFAULTS.ignoreEos,
    usesApiKey: !!opts.apiKey,
    requestTimeoutMs: positiveInteger("requestTimeoutMs", "--timeout", opts.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs),
    totalTimeoutMs: positiveInteger("totalTimeoutMs", "--total-timeout", opts.totalTimeoutMs ?? DEFAULTS.totalTimeoutMs),
    percentileMetrics: [...percentileMetrics],
    metricPercentiles: [...metricPercentiles],
    label: opts.label ?? DEFAULTS.label,
    requestIdPrefix: opts.requestIdPrefix ?? `bench-${randomBytes(4).toString("hex")}-`,
    goodput: opts.goodput,
    requestRate: opts.requestRate ?? Infinity,
    burstiness: opts.burstiness ?? 1,
  };
}

/** Everything a request needs that is shared across the run. */
interface RunContext {
  readonly url: URL;
  readonly transport: typeof http | typeof https;
  readonly agent: http.Agent;
  readonly options: ResolvedRunOptions;
  readonly apiKey: string | undefined;
  /** Counts completion tokens from text when the server sent no usage (vllm's fallback). */
  readonly countTokens: ((text: string) => number) | undefined;
  /** Abort hooks of the requests in flight, so an overall stop can end them. */
  readonly inFlight: Set<(reason: string) => void>;
}

/** Most bytes of a non-200 body kept as error text. */
const MAX_ERROR_BODY_CHARS = 2048;

/** Sends one streamed request and measures it; always resolves, never rejects. */
function streamRequest(ctx: RunContext, sample: SampleRequest): Promise<RequestOutput> {
  const requestId = `${ctx.options.requestIdPrefix}${sample.index}`;
  const body = JSON.stringify(
    buildChatRequestBody({
      servedModelName: ctx.options.servedModelName,
      prompt: sample.prompt,
      maxCompletionTokens: sample.expectedOutputLen,
      ignoreEos: ctx.options.ignoreEos,
      temperature: ctx.options.temperature,
    }),
  );
  const headers: http.OutgoingHttpHeaders = {
    ...buildRequestHeaders(requestId, ctx.apiKey),
    "Content-Length": Buffer.byteLength(body),
  };

  return new Promise<RequestOutput>((resolve) => {
    let settled = false;
    let error = "";
    let httpStatus: number | undefined;
    let tokenEvents = 0;
    let ttftMs = 0;
    let lastEventMs = 0;
    const itlMs: number[] = [];
    let usageCompletion: number | undefined;
    let usagePrompt: number | undefined;
    let generatedText = "";
    // `st`: the slot is held (the caller awaited it); the POST goes out right after.
    const st = performance.now();

    const finish = (failure?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ctx.inFlight.delete(abort);
      if (failure && !error) error = failure;
      if (!error && httpStatus === 200 && tokenEvents === 0) error = "stream ended without a token event";
      const success = !error && httpStatus === 200;
      const outputTokens =
        usageCompletion ?? (ctx.countTokens && generatedText ? ctx.countTokens(generatedText) : tokenEvents);
      resolve({
        index: sample.index,
        requestId,
        success,
        // Counted on the client, as pinned vllm 0.18.0 does; the server's count is kept beside it.
        promptLen: sample.promptLen,
        ...(usagePrompt !== undefined ? { serverPromptTokens: usagePrompt } : {}),
        outputTokens: success ? outputTokens : 0,
        ttftMs: success ? ttftMs : 0,
        itlMs: success ? itlMs : [],
        latencyMs: success ? lastEventMs - st : 0,
        startMs: st,
        startEpochMs: performance.timeOrigin + st,
        tokenEvents,
        generatedText,
        httpStatus,
        error: success ? "" : error,
      });
    };
    const abort = (reason: string) => {
      finish(reason);
      req.destroy();
    };

    const onMessage = (data: string, arrivedMs: number): boolean => {
      if (data === "[DONE]") return true;
      let msg: unknown;
      try {
        msg = JSON.parse(data);
      } catch {
        abort(`malformed JSON in SSE message: ${data.slice(0, 200)}`);
        return false;
      }
      if (msg === null || typeof msg !== "object") return true;
      const m = msg as { choices?: unknown; usage?: unknown; error?: unknown; object?: unknown };
      if (m.error !== undefined && m.error !== null) {
        abort(`server error in stream: ${JSON.stringify(m.error).slice(0, 500)}`);
        return false;
      }
      if (Array.isArray(m.choices) && m.choices.length > 0) {
        if (tokenEvents === 0) ttftMs = arrivedMs - st;
        else itlMs.push(arrivedMs - lastEventMs);
        lastEventMs = arrivedMs;
        tokenEvents++;
        const delta = (m.choices[0] as { delta?: { content?: unknown; reasoning_content?: unknown } } | null)?.delta;
        if (delta) {
          if (typeof delta.content === "string") generatedText += delta.content;
          if (typeof delta.reasoning_content === "string") generatedText += delta.reasoning_content;
        }
      }
      if (m.usage && typeof m.usage === "object") {
        const u = m.usage as { completion_tokens?: unknown; prompt_tokens?: unknown };
        if (typeof u.completion_tokens === "number") usageCompletion = u.completion_tokens;
        if (typeof u.prompt_tokens === "number") usagePrompt = u.prompt_tokens;
      }
      return true;
    };

    const req = ctx.transport.request(
      {
        protocol: ctx.url.protocol,
        hostname: ctx.url.hostname,
        port: ctx.url.port || undefined,
        path: `${ctx.url.pathname}${ctx.url.search}`,
        method: "POST",
        agent: ctx.agent,
        headers,
      },
      (res) => {
        httpStatus = res.statusCode;
        res.setEncoding("utf8");
        if (res.statusCode !== 200) {
          let text = "";
          res.on("data", (chunk: string) => {
            if (text.length < MAX_ERROR_BODY_CHARS) text += chunk;
          });
          const fail = () => finish(`HTTP ${res.statusCode} ${res.statusMessage ?? ""}: ${text.slice(0, MAX_ERROR_BODY_CHARS)}`.trim());
          res.on("end", fail);
          res.on("close", fail);
          res.on("error", fail);
          return;
        }
        const splitter = new SseMessageSplitter();
        res.on("data", (chunk: string) => {
          // One timestamp per read: every message this read completes arrived now.
          const arrivedMs = performance.now();
          let payloads: string[];
          try {
            payloads = splitter.push(chunk);
          } catch (e) {
            abort((e as Error).message);
            return;
          }
          for (const data of payloads) if (!onMessage(data, arrivedMs)) return;
        });
        res.on("end", () => finish());
        res.on("error", (e) => finish(`stream error: ${e.message}`));
        res.on("close", () => finish(res.complete ? undefined : "stream closed before the response completed"));
      },
    );
    req.on("error", (e: NodeJS.ErrnoException) => finish(`request error: ${e.code ?? ""} ${e.message}`.trim()));
    const timer = setTimeout(() => abort(`request timed out after ${ctx.options.requestTimeoutMs} ms`), ctx.options.requestTimeoutMs);
    ctx.inFlight.add(abort);
    req.end(body);
  });
}

/** A request that never left because the run stopped first. */
function unsent(ctx: RunContext, sample: SampleRequest, reason: string): RequestOutput {
  return {
    index: sample.index,
    requestId: `${ctx.options.requestIdPrefix}${sample.index}`,
    success: false,
    promptLen: sample.promptLen,
    outputTokens: 0,
    ttftMs: 0,
    itlMs: [],
    latencyMs: 0,
    startMs: performance.now(),
    startEpochMs: Date.now(),
    tokenEvents: 0,
    generatedText: "",
    httpStatus: undefined,
    error: `not sent: ${reason}`,
  };
}

/**
 * Runs the benchmark and returns its metrics, per-request records and the vllm-format JSON.
 * Never throws for server-side failures (they are failed requests); throws only for invalid
 * options or an unloadable tokenizer, before anything is sent.
 */
export async function runBenchmark(
  opts: BenchmarkRunOptions,
  onProgress?: (done: number, total: number) => void,
): Promise<BenchmarkResult> {
  const datasetStart = performance.now();
  // A prebuilt dataset needs no tokenizer (outputs without usage then count token events).
  const tok = opts.loadedTokenizer ?? (opts.dataset ? undefined : loadTokenizer(opts.tokenizer));
  const options = resolveRunOptions(opts, tok?.id ?? opts.tokenizer ?? "prebuilt dataset");
  let dataset: readonly SampleRequest[];
  if (opts.dataset) {
    dataset = opts.dataset;
  } else {
    const loaded = tok as LoadedTokenizer;
    speedUpBpeMerges(loaded.tokenizer);
    dataset = generateRandomDataset(
      loaded,
      { inputLen: options.inputLen, outputLen: options.outputLen, numPrompts: options.numPrompts, rangeRatio: options.rangeRatio, seed: options.seed },
      opts.onDatasetProgress,
    );
  }
  const datasetSeconds = (performance.now() - datasetStart) / 1000;

  const url = new URL(`${options.baseUrl}${options.endpoint}`);
  const transport = url.protocol === "https:" ? https : http;
  const agent = new transport.Agent({ keepAlive: true, maxSockets: options.maxConcurrency });
  const ctx: RunContext = {
    url,
    transport,
    agent,
    options,
    apiKey: opts.apiKey,
    countTokens: tok ? (text) => tok.tokenizer.encode(text, { add_special_tokens: false }).length : undefined,
    inFlight: new Set(),
  };

  const total = dataset.length;
  const outputs: RequestOutput[] = new Array(total);
  let stopReason: string | undefined;
  const arrivalSleeps = new InterruptibleSleeps();
  const stopAll = (reason: string) => {
    if (stopReason) return;
    stopReason = reason;
    for (const abort of [...ctx.inFlight]) abort(reason);
    arrivalSleeps.wakeAll();
  };
  const onAbort = () => stopAll("run aborted by the caller");
  opts.signal?.addEventListener("abort", onAbort);
  if (opts.signal?.aborted) onAbort();
  const totalTimer = setTimeout(() => stopAll(`total timeout of ${options.totalTimeoutMs} ms reached`), options.totalTimeoutMs);

  // Arrival times (all 0 at rate ∞): a worker that takes request i waits for its arrival, then sends it.
  const arrivals = arrivalOffsetsMs(total, options.requestRate, options.burstiness, options.seed);
  let next = 0;
  let done = 0;
  const startedAt = new Date();
  const runStart = performance.now();
  const worker = async () => {
    // Bounded: each pass consumes one index of a fixed-size list.
    while (next < total) {
      const position = next++;
      const sample = dataset[position];
      if (!stopReason) await arrivalSleeps.sleep(runStart + arrivals[position] - performance.now());
      outputs[position] = stopReason
        ? unsent(ctx, sample, stopReason)
        : await streamRequest(ctx, sample);
      done++;
      onProgress?.(done, total);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(options.maxConcurrency, total) }, worker));
  } finally {
    clearTimeout(totalTimer);
    opts.signal?.removeEventListener("abort", onAbort);
    agent.destroy();
  }
  const durationMs = performance.now() - runStart;

  const metrics = computeMetrics(outputs, durationMs, options.metricPercentiles, options.goodput);
  const partial = {
    metrics,
    requests: outputs,
    options,
    startedAt,
    datasetSeconds,
    tokenMismatchTotal: dataset.reduce((sum, s) => sum + Math.abs(s.tokenMismatch), 0),
  };
  return { ...partial, json: toVllmResultJson(partial) };
}
