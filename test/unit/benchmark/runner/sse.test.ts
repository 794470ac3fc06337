import { describe, expect, it } from "vitest";
import { dataOf, SseMessageSplitter } from "../../../../components/benchmark/runner/sse";

describe("SseMessageSplitter", () => {
  it("holds a message split across reads until its blank line arrives", () => {
    const s = new SseMessageSplitter();
    expect(s.push('data: {"a"')).toEqual([]);
    expect(s.push(":1}\n")).toEqual([]);
    expect(s.push("\n")).toEqual(['{"a":1}']);
    expect(s.remainder).toBe("");
  });

  it("returns every message completed by one read, in order", () => {
    const s = new SseMessageSplitter();
    expect(s.push("data: 1\n\ndata: 2\n\ndata: 3")).toEqual(["1", "2"]);
    expect(s.push("\n\n")).toEqual(["3"]);
  });

  it("finds a blank line that straddles two reads", () => {
    const s = new SseMessageSplitter();
    expect(s.push("data: a\n")).toEqual([]);
    expect(s.push("\ndata: b\n\n")).toEqual(["a", "b"]);
  });

  it("drops comments and comment-only messages (pings)", () => {
    const s = new SseMessageSplitter();
    expect(s.push(": ping\n\n:keepalive\ndata: x\n\n")).toEqual(["x"]);
  });

  it("hands [DONE] back as a payload for the caller to recognise", () => {
    expect(new SseMessageSplitter().push("data: [DONE]\n\n")).toEqual(["[DONE]"]);
  });

  it("accepts CRLF line endings, also with the CR and LF in different reads", () => {
    const s = new SseMessageSplitter();
    expect(s.push("data: a\r\n\r\ndata: b\r\n")).toEqual(["a"]);
    expect(s.push("\r")).toEqual([]);
    expect(s.push("\ndata: c\r\n\r\n")).toEqual(["b", "c"]);
  });

  it("accepts lone CR line endings (a final CR waits for the next read: it may start a CRLF)", () => {
    const s = new SseMessageSplitter();
    expect(s.push("data: a\r\rdata: b\r\r")).toEqual(["a"]);
    expect(s.push("data: c\r\r")).toEqual(["b"]);
  });

  it("joins multi-line data, strips one optional space, ignores other fields", () => {
    expect(dataOf("data: a\ndata:b\ndata:  c")).toBe("a\nb\n c");
    expect(dataOf("event: token\nid: 7\ndata: z")).toBe("z");
    expect(dataOf("event: only")).toBeUndefined();
    expect(dataOf("data")).toBe("");
  });

  it("throws when a message grows past the limit without a blank line", () => {
    const s = new SseMessageSplitter(16);
    expect(() => s.push("data: 0123456789abcdef")).toThrow(/exceeds 16 characters/);
  });
});
