/**
 * Server-sent events framing for streamed OpenAI-compatible responses.
 *
 * The byte stream is cut into messages at blank lines; each message's `data:` lines are joined
 * with "\n" and handed back as one payload. Comment lines (starting with ":") and fields other
 * than `data` (`event:`, `id:`, `retry:`) carry nothing a benchmark needs and are dropped.
 * `[DONE]` is returned like any payload: the caller decides what it means.
 *
 * Timing contract: `push(text)` returns every message that the pushed text COMPLETED, so a
 * caller that stamps the time once per received chunk gives each message the arrival time of
 * the read that delivered its terminating blank line. Several messages in one TCP read share
 * that read's timestamp, and a message split across reads is stamped when its last piece
 * arrives. This is what `vllm bench serve` measures too (it parses each read and stamps every
 * message while iterating over that read's messages, microseconds apart).
 */

/** Line endings are normalised to "\n" before framing; SSE allows CRLF, LF and lone CR. */
const CARRIAGE_RETURNS = /\r\n?/g;

/** Largest message (bytes of text) accepted before the stream is declared broken. */
export const DEFAULT_MAX_SSE_MESSAGE_CHARS = 16 * 1024 * 1024;

export class SseMessageSplitter {
  private buffer = "";
  /** A trailing "\r" is held back: the "\n" of a CRLF pair may arrive in the next read. */
  private pendingCarriageReturn = false;

  constructor(private readonly maxMessageChars: number = DEFAULT_MAX_SSE_MESSAGE_CHARS) {}

  /**
   * Appends decoded text and returns the data payloads of the messages it completed, in order.
   * Throws when a single message grows past the size limit (a stream that never frames).
   */
  push(text: string): string[] {
    if (this.pendingCarriageReturn) {
      text = "\r" + text;
      this.pendingCarriageReturn = false;
    }
    if (text.indexOf("\r") !== -1) {
      if (text.charCodeAt(text.length - 1) === 13) {
        this.pendingCarriageReturn = true;
        text = text.slice(0, -1);
      }
      text = text.replace(CARRIAGE_RETURNS, "\n");
    }
    // Search from one character before the old end: a "\n\n" may straddle the two reads.
    const searchFrom = Math.max(0, this.buffer.length - 1);
    this.buffer += text;
    let boundary = this.buffer.indexOf("\n\n", searchFrom);
    if (boundary === -1) {
      if (this.buffer.length > this.maxMessageChars) {
        throw new Error(`SSE message exceeds ${this.maxMessageChars} characters without a blank line`);
      }
      return [];
    }
    const payloads: string[] = [];
    let start = 0;
    while (boundary !== -1) {
      const payload = dataOf(this.buffer.slice(start, boundary));
      if (payload !== undefined) payloads.push(payload);
      start = boundary + 2;
      boundary = this.buffer.indexOf("\n\n", start);
    }
    this.buffer = this.buffer.slice(start);
    return payloads;
  }

  /** Text received after the last complete message (a stream cut mid-message leaves some). */
  get remainder(): string {
    return this.buffer;
  }
}

/** Joined `data` field of one message, or undefined when it has none (comments only, pings). */
export function dataOf(message: string): string | undefined {
  // Fast path for the overwhelmingly common single-line `data: {...}` message.
  if (message.startsWith("data:") && message.indexOf("\n") === -1) {
    return message.charCodeAt(5) === 32 ? message.slice(6) : message.slice(5);
  }
  let data: string[] | undefined;
  for (const line of message.split("\n")) {
    if (line.length === 0 || line.charCodeAt(0) === 58 /* ":" comment */) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== "data") continue;
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    (data ??= []).push(value);
  }
  return data?.join("\n");
}
