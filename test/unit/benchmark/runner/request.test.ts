import { describe, expect, it } from "vitest";
import { buildChatRequestBody, buildRequestHeaders } from "../../../../components/benchmark/runner/request";

describe("request", () => {
  it("builds vllm's openai-chat body exactly, key order included", () => {
    const body = buildChatRequestBody({ servedModelName: "qwen", prompt: "hi there", maxCompletionTokens: 1024, ignoreEos: true, temperature: 0 });
    expect(JSON.stringify(body)).toBe(
      '{"model":"qwen","messages":[{"role":"user","content":[{"type":"text","text":"hi there"}]}],' +
        '"max_completion_tokens":1024,"stream":true,"stream_options":{"include_usage":true},"ignore_eos":true,"temperature":0}',
    );
  });

  it("omits temperature when none is pinned", () => {
    const body = buildChatRequestBody({ servedModelName: "m", prompt: "p", maxCompletionTokens: 1, ignoreEos: false, temperature: undefined });
    expect(body).not.toHaveProperty("temperature");
    expect(body.ignore_eos).toBe(false);
  });

  it("sets exactly Content-Type and x-request-id, plus Authorization with a key", () => {
    expect(buildRequestHeaders("bench-1-7")).toEqual({ "Content-Type": "application/json", "x-request-id": "bench-1-7" });
    expect(buildRequestHeaders("r0", "sk-test")).toEqual({ "Content-Type": "application/json", "x-request-id": "r0", Authorization: "Bearer sk-test" });
    expect(buildRequestHeaders("r0", "")).not.toHaveProperty("Authorization");
  });
});
