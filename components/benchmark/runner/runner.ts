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
import { computeMetrics, type BenchmarkMetrics, type RequestTiming } from "./stats";
import { loadTokenizer, speedUpBpeMerges, type LoadedTokenizer } from "./tokenizer";
import { toVllmResultJson, type VllmResultJson } from "./result";
import { arrivalOffsetsMs, InterruptibleSleeps } from "./arrivals";
import { resolveRunOptions, type BenchmarkRunOptions, type ResolvedRunOptions } from "./options";

export { resolveRunOptions };
export type { BenchmarkRunOptions, ResolvedRunOptions };

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
    dataset = buildDataset(
      loaded,
      options.datasetSpec,
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
