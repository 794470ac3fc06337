/**
 * The request `vllm bench serve --backend openai-chat` sends, byte for byte in field order:
 * the prompt as one text part of one user message, streaming with a final usage chunk.
 */

export interface ChatRequestParams {
  /** `--served-model-name`: what the server calls the model. */
  readonly servedModelName: string;
  readonly prompt: string;
  /** `max_completion_tokens`. */
  readonly maxCompletionTokens: number;
  /** Keep generating past end-of-sequence so every request yields exactly its output length. */
  readonly ignoreEos: boolean;
  /** Pinned sampling temperature; undefined sends none (what recent vllm releases do unasked). */
  readonly temperature: number | undefined;
}

export interface ChatRequestBody {
  model: string;
  messages: Array<{ role: "user"; content: Array<{ type: "text"; text: string }> }>;
  max_completion_tokens: number;
  stream: true;
  stream_options: { include_usage: true };
  ignore_eos: boolean;
  temperature?: number;
}

export function buildChatRequestBody(p: ChatRequestParams): ChatRequestBody {
  const body: ChatRequestBody = {
    model: p.servedModelName,
    messages: [{ role: "user", content: [{ type: "text", text: p.prompt }] }],
    max_completion_tokens: p.maxCompletionTokens,
    stream: true,
    stream_options: { include_usage: true },
    ignore_eos: p.ignoreEos,
  };
  if (p.temperature !== undefined) body.temperature = p.temperature;
  return body;
}

/**
 * Headers the runner sets (the HTTP client adds Host, Content-Length and Connection).
 * The API key only ever travels in this header; it is never logged or stored.
 */
export function buildRequestHeaders(requestId: string, apiKey?: string): Record<string, string> {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "x-request-id": requestId,
  };
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  return headers;
}
