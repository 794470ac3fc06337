import { describe, expect, it } from "vitest";
import type { SampleRequest } from "../../../../components/benchmark/runner/dataset";
import { requestOutput, StreamMeasurement } from "../../../../components/benchmark/runner/streamMeasurement";

const SAMPLE: SampleRequest = { index: 7, prompt: "p", promptLen: 100, expectedOutputLen: 3, tokenMismatch: 0 };
const chunk = (content: string): string => JSON.stringify({ choices: [{ delta: { content } }] });

describe("StreamMeasurement.applyMessage", () => {
  it("takes TTFT from the first token event and each later gap as an ITL", () => {
    const m = new StreamMeasurement(1000);
    expect(m.applyMessage(chunk("a"), 1250)).toBeUndefined();
    m.applyMessage(chunk("b"), 1260);
    m.applyMessage(chunk("c"), 1290);
    expect(m.ttftMs).toBe(250);
    expect(m.itlMs).toEqual([10, 30]);
    expect(m.tokenEvents).toBe(3);
    expect(m.lastEventMs).toBe(1290);
    expect(m.generatedText).toBe("abc");
  });

  it("counts a choice without content as a token event and keeps reasoning text", () => {
    const m = new StreamMeasurement(0);
    m.applyMessage(JSON.stringify({ choices: [{ delta: {} }] }), 5);
    m.applyMessage(JSON.stringify({ choices: [{ delta: { reasoning_content: "think" } }] }), 6);
    expect(m.tokenEvents).toBe(2);
    expect(m.generatedText).toBe("think");
  });

  it("ignores [DONE], empty choices and non-object payloads, and reads usage", () => {
    const m = new StreamMeasurement(0);
    expect(m.applyMessage("[DONE]", 1)).toBeUndefined();
    expect(m.applyMessage("42", 1)).toBeUndefined();
    expect(m.applyMessage(JSON.stringify({ choices: [], usage: { completion_tokens: 9, prompt_tokens: 120 } }), 2)).toBeUndefined();
    expect(m.tokenEvents).toBe(0);
    expect(m.usageCompletion).toBe(9);
    expect(m.usagePrompt).toBe(120);
  });

  it("names malformed JSON and an in-stream error as the request's failure", () => {
    const m = new StreamMeasurement(0);
    expect(m.applyMessage("{not json", 1)).toBe("malformed JSON in SSE message: {not json");
    expect(m.applyMessage(JSON.stringify({ error: { message: "overloaded" } }), 1)).toBe('server error in stream: {"message":"overloaded"}');
  });
});

describe("requestOutput", () => {
  const measured = (): StreamMeasurement => {
    const m = new StreamMeasurement(1000);
    m.applyMessage(chunk("one two"), 1100);
    m.applyMessage(chunk(" three"), 1150);
    return m;
  };

  it("reports a 200 stream with token events as a success with its timings", () => {
    const out = requestOutput(SAMPLE, "req-7", measured(), { httpStatus: 200, failure: "" }, undefined, 5_000);
    expect(out).toMatchObject({ index: 7, requestId: "req-7", success: true, promptLen: 100, ttftMs: 100, itlMs: [50], latencyMs: 150, startMs: 1000, startEpochMs: 6000, error: "" });
    // No usage and no tokenizer: the token events are the output count.
    expect(out.outputTokens).toBe(2);
  });

  it("prefers the server's usage, then the tokenizer's count of the text", () => {
    const counted = requestOutput(SAMPLE, "r", measured(), { httpStatus: 200, failure: "" }, (t) => t.split(" ").length, 0);
    expect(counted.outputTokens).toBe(3);
    const m = measured();
    m.applyMessage(JSON.stringify({ usage: { completion_tokens: 11, prompt_tokens: 130 } }), 1160);
    const withUsage = requestOutput(SAMPLE, "r", m, { httpStatus: 200, failure: "" }, (t) => t.length, 0);
    expect(withUsage.outputTokens).toBe(11);
    expect(withUsage.serverPromptTokens).toBe(130);
  });

  it("fails a 200 stream that carried no token event", () => {
    const out = requestOutput(SAMPLE, "r", new StreamMeasurement(0), { httpStatus: 200, failure: "" }, undefined, 0);
    expect(out.success).toBe(false);
    expect(out.error).toBe("stream ended without a token event");
  });

  it("zeroes the timings and keeps the failure of a request that failed mid-stream", () => {
    const out = requestOutput(SAMPLE, "r", measured(), { httpStatus: 200, failure: "stream closed before the response completed" }, undefined, 0);
    expect(out).toMatchObject({ success: false, outputTokens: 0, ttftMs: 0, itlMs: [], latencyMs: 0, tokenEvents: 2, error: "stream closed before the response completed" });
  });
});
