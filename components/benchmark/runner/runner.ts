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
import { buildDataset, type SampleRequest } from "./dataset";
import { buildChatRequestBody, buildRequestHeaders } from "./request";
import { SseMessageSplitter } from "./sse";
import { computeMetrics, type RunnerMetrics } from "./stats";
import { loadTokenizer, speedUpBpeMerges, type LoadedTokenizer } from "./tokenizer";
import { toVllmResultJson, type VllmResultJson } from "./vllmResultJson";
import { arrivalOffsetsMs, InterruptibleSleeps } from "./arrivals";
import { resolveRunOptions, type BenchmarkRunOptions, type ResolvedRunOptions } from "./options";
import { requestOutput, StreamMeasurement, type RequestOutput } from "./streamMeasurement";

export { resolveRunOptions };
export type { BenchmarkRunOptions, ResolvedRunOptions, RequestOutput };

export interface BenchmarkResult {
  /** The `vllm bench serve --save-result` record (no per-request arrays). */
  readonly json: VllmResultJson;
  readonly metrics: RunnerMetrics;
  readonly requests: readonly RequestOutput[];
  readonly options: ResolvedRunOptions;
  /** When dispatch began. */
  readonly startedAt: Date;
  /** Seconds spent loading the tokenizer and building prompts (not part of `duration`). */
  readonly datasetSeconds: number;
  /** Σ |final prompt length − target| over prompts whose length loop ran out of rounds. */
  readonly tokenMismatchTotal: number;
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

/** The chat request's JSON body for one sample. */
function requestBody(options: ResolvedRunOptions, sample: SampleRequest): string {
  return JSON.stringify(
    buildChatRequestBody({
      servedModelName: options.servedModelName,
      prompt: sample.prompt,
      maxCompletionTokens: sample.expectedOutputLen,
      ignoreEos: options.ignoreEos,
      temperature: options.temperature,
    }),
  );
}

/** Keeps (the start of) a non-200 body and fails the request with it once the response ends. */
function failWithErrorBody(res: http.IncomingMessage, finish: (failure?: string) => void): void {
  let text = "";
  res.on("data", (chunk: string) => {
    if (text.length < MAX_ERROR_BODY_CHARS) text += chunk;
  });
  const fail = () => finish(`HTTP ${res.statusCode} ${res.statusMessage ?? ""}: ${text.slice(0, MAX_ERROR_BODY_CHARS)}`.trim());
  res.on("end", fail);
  res.on("close", fail);
  res.on("error", fail);
}

/** Feeds a 200 response's SSE messages into `m`, each stamped with the arrival of the read that completed it. */
function measureEventStream(
  res: http.IncomingMessage,
  m: StreamMeasurement,
  finish: (failure?: string) => void,
  abort: (reason: string) => void,
): void {
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
    for (const data of payloads) {
      const failure = m.applyMessage(data, arrivedMs);
      if (failure !== undefined) {
        abort(failure);
        return;
      }
    }
  });
  res.on("end", () => finish());
  res.on("error", (e) => finish(`stream error: ${e.message}`));
  res.on("close", () => finish(res.complete ? undefined : "stream closed before the response completed"));
}

/** Sends one streamed request and measures it; always resolves, never rejects. */
function streamRequest(ctx: RunContext, sample: SampleRequest): Promise<RequestOutput> {
  const requestId = `${ctx.options.requestIdPrefix}${sample.index}`;
  const body = requestBody(ctx.options, sample);
  const headers: http.OutgoingHttpHeaders = {
    ...buildRequestHeaders(requestId, ctx.apiKey),
    "Content-Length": Buffer.byteLength(body),
  };

  return new Promise<RequestOutput>((resolve) => {
    let settled = false;
    let httpStatus: number | undefined;
    // `st`: the slot is held (the caller awaited it); the POST goes out right after.
    const m = new StreamMeasurement(performance.now());

    const finish = (failure?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ctx.inFlight.delete(abort);
      resolve(requestOutput(sample, requestId, m, { httpStatus, failure: failure ?? "" }, ctx.countTokens, performance.timeOrigin));
    };
    const abort = (reason: string) => {
      finish(reason);
      req.destroy();
    };

    const { url } = ctx;
    const req = ctx.transport.request(
      { protocol: url.protocol, hostname: url.hostname, port: url.port || undefined, path: `${url.pathname}${url.search}`, method: "POST", agent: ctx.agent, headers },
      (res) => {
        httpStatus = res.statusCode;
        res.setEncoding("utf8");
        if (res.statusCode !== 200) failWithErrorBody(res, finish);
        else measureEventStream(res, m, finish, abort);
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

/** The prompts to send, the resolved options and the tokenizer that built them (none for a prebuilt dataset). */
interface PreparedRun {
  readonly options: ResolvedRunOptions;
  readonly dataset: readonly SampleRequest[];
  readonly tokenizer: LoadedTokenizer | undefined;
  /** Seconds spent loading the tokenizer and building prompts. */
  readonly datasetSeconds: number;
}

/** Loads the tokenizer and builds the prompts (or takes the prebuilt dataset): everything before the first request. */
function prepareRun(opts: BenchmarkRunOptions): PreparedRun {
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
    dataset = buildDataset(
      loaded,
      options.datasetSpec,
      { inputLen: options.inputLen, outputLen: options.outputLen, numPrompts: options.numPrompts, rangeRatio: options.rangeRatio, seed: options.seed },
      opts.onDatasetProgress,
    );
  }
  return { options, dataset, tokenizer: tok, datasetSeconds: (performance.now() - datasetStart) / 1000 };
}

/** The shared request context: one keep-alive agent sized to the concurrency. */
function runContext(options: ResolvedRunOptions, apiKey: string | undefined, tok: LoadedTokenizer | undefined): RunContext {
  const url = new URL(`${options.baseUrl}${options.endpoint}`);
  const transport = url.protocol === "https:" ? https : http;
  return {
    url,
    transport,
    agent: new transport.Agent({ keepAlive: true, maxSockets: options.maxConcurrency }),
    options,
    apiKey,
    countTokens: tok ? (text) => tok.tokenizer.encode(text, { add_special_tokens: false }).length : undefined,
    inFlight: new Set(),
  };
}

/** Every request's record in dataset order, when dispatch began and how long it took. */
interface Dispatched {
  readonly outputs: RequestOutput[];
  readonly startedAt: Date;
  readonly durationMs: number;
}

/**
 * Sends every sample through `maxConcurrency` workers at its arrival time, until all are done or the run
 * stops (caller's abort, total timeout): requests in flight are aborted and the rest recorded as not sent.
 */
async function dispatchAll(
  ctx: RunContext,
  dataset: readonly SampleRequest[],
  signal: AbortSignal | undefined,
  onProgress: ((done: number, total: number) => void) | undefined,
): Promise<Dispatched> {
  const { options } = ctx;
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
  signal?.addEventListener("abort", onAbort);
  if (signal?.aborted) onAbort();
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
    signal?.removeEventListener("abort", onAbort);
    ctx.agent.destroy();
  }
  return { outputs, startedAt, durationMs: performance.now() - runStart };
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
  const { options, dataset, tokenizer, datasetSeconds } = prepareRun(opts);
  const ctx = runContext(options, opts.apiKey, tokenizer);
  const { outputs, startedAt, durationMs } = await dispatchAll(ctx, dataset, opts.signal, onProgress);
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
