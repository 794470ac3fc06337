/**
 * What one streamed request measured, updated in place as its SSE messages arrive, and the
 * `RequestOutput` it becomes. Kept apart from the socket handling so the per-message rules (what
 * counts as a token event, how TTFT/ITL are taken, what fails a request) are plain functions of
 * their inputs.
 *
 * Hot path: `applyMessage` runs once per SSE message of every request. It mutates this one object
 * (no allocation beyond the JSON parse and the ITL push the measurement needs) and is synchronous.
 */
import type { SampleRequest } from "./dataset";
import type { RequestTiming } from "./stats";

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

interface ChatChunk {
  readonly choices?: unknown;
  readonly usage?: unknown;
  readonly error?: unknown;
}

interface ChoiceDelta {
  readonly delta?: { readonly content?: unknown; readonly reasoning_content?: unknown };
}

interface ChunkUsage {
  readonly completion_tokens?: unknown;
  readonly prompt_tokens?: unknown;
}

export class StreamMeasurement {
  tokenEvents = 0;
  ttftMs = 0;
  lastEventMs = 0;
  readonly itlMs: number[] = [];
  usageCompletion: number | undefined = undefined;
  usagePrompt: number | undefined = undefined;
  generatedText = "";

  /** `st`: performance.now() when the POST went out. */
  constructor(readonly st: number) {}

  /**
   * Applies one SSE payload that arrived at `arrivedMs`. Returns why the request fails (malformed
   * JSON, an in-stream `error` object), or undefined to go on; `[DONE]` and non-object payloads
   * change nothing.
   */
  applyMessage(data: string, arrivedMs: number): string | undefined {
    if (data === "[DONE]") return undefined;
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      return `malformed JSON in SSE message: ${data.slice(0, 200)}`;
    }
    if (msg === null || typeof msg !== "object") return undefined;
    const m = msg as ChatChunk;
    if (m.error !== undefined && m.error !== null) return `server error in stream: ${JSON.stringify(m.error).slice(0, 500)}`;
    if (Array.isArray(m.choices) && m.choices.length > 0) this.tokenEvent(m.choices[0] as ChoiceDelta | null, arrivedMs);
    if (m.usage && typeof m.usage === "object") {
      const u = m.usage as ChunkUsage;
      if (typeof u.completion_tokens === "number") this.usageCompletion = u.completion_tokens;
      if (typeof u.prompt_tokens === "number") this.usagePrompt = u.prompt_tokens;
    }
    return undefined;
  }

  /** The first token event sets TTFT; each later one appends its gap to the ITL list. */
  private tokenEvent(choice: ChoiceDelta | null, arrivedMs: number): void {
    if (this.tokenEvents === 0) this.ttftMs = arrivedMs - this.st;
    else this.itlMs.push(arrivedMs - this.lastEventMs);
    this.lastEventMs = arrivedMs;
    this.tokenEvents++;
    const delta = choice?.delta;
    if (delta) {
      if (typeof delta.content === "string") this.generatedText += delta.content;
      if (typeof delta.reasoning_content === "string") this.generatedText += delta.reasoning_content;
    }
  }
}

/** How the request ended: the status that arrived (if any) and the first failure seen ("" for none). */
export interface RequestEnd {
  readonly httpStatus: number | undefined;
  readonly failure: string;
}

/**
 * The request's record once it ended. Success = HTTP 200, no failure and ≥ 1 token event; a failed
 * request keeps its error text and reports no tokens or timings. Output tokens: the server's
 * `usage`, else `countTokens` of the text (vllm's fallback), else the token events.
 */
export function requestOutput(
  sample: SampleRequest,
  requestId: string,
  m: StreamMeasurement,
  end: RequestEnd,
  countTokens: ((text: string) => number) | undefined,
  timeOrigin: number,
): RequestOutput {
  const error = end.failure || (end.httpStatus === 200 && m.tokenEvents === 0 ? "stream ended without a token event" : "");
  const success = !error && end.httpStatus === 200;
  const outputTokens = m.usageCompletion ?? (countTokens && m.generatedText ? countTokens(m.generatedText) : m.tokenEvents);
  return {
    index: sample.index,
    requestId,
    success,
    // Counted on the client, as pinned vllm 0.18.0 does; the server's count is kept beside it.
    promptLen: sample.promptLen,
    ...(m.usagePrompt !== undefined ? { serverPromptTokens: m.usagePrompt } : {}),
    outputTokens: success ? outputTokens : 0,
    ttftMs: success ? m.ttftMs : 0,
    itlMs: success ? m.itlMs : [],
    latencyMs: success ? m.lastEventMs - m.st : 0,
    startMs: m.st,
    startEpochMs: timeOrigin + m.st,
    tokenEvents: m.tokenEvents,
    generatedText: m.generatedText,
    httpStatus: end.httpStatus,
    error: success ? "" : error,
  };
}
