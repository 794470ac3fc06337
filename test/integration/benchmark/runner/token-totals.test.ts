/**
 * Must-show of issue 11: the native runner and the remote path report equal input and output
 * token totals (and so equal ratios to the seed) for the same prompts.
 *
 * What runs for real: the native runner against the in-process SGLang simulator (which counts
 * `usage.prompt_tokens` as the server sees the prompt: its own tokenization plus the chat
 * template's tokens), and the same prompts sent a second time by an independent SSE client
 * (`test/fixtures/sglang-simulator/sse-client.ts`) standing in for vllm's request function.
 *
 * What is a transcription, not vllm itself: `vllm018Totals`, the token counting of pinned vllm
 * 0.18.0's `calculate_metrics` (vllm/benchmarks/serve.py): over successful requests,
 * `total_input += input_requests[i].prompt_len` (the dataset's client-side length) and
 * `output_len = outputs[i].output_tokens` (usage.completion_tokens), falling back to the
 * tokenizer's count of the generated text when the server sent none. The vllm container cannot
 * run on this machine; its result then goes through the one parser both runners share.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SEED_BASELINE, compareToBaseline } from "../../../../components/benchmark/baseline";
import { parseBenchmarkResult, parseBenchmarkOutput } from "../../../../components/benchmark/resultParser";
import { runBenchmark } from "../../../../components/benchmark/runner";
import { generateRandomDataset, type SampleRequest } from "../../../../components/benchmark/runner/dataset";
import { computeMetrics, type RequestTiming } from "../../../../components/benchmark/runner/stats";
import { loadTokenizer, speedUpBpeMerges, type LoadedTokenizer } from "../../../../components/benchmark/runner/tokenizer";
import { chatBody, FAST_TIMING, startSimulator, streamRequest, type RunningSimulator } from "../../../fixtures/sglang-simulator";
import { seedResult } from "../../../fixtures/benchmark/results";

/** One request as vllm's request function records it (the fields the token counting reads). */
interface VllmRequestOutput {
  readonly success: boolean;
  /** `usage.completion_tokens`; 0 when the stream carried no usage. */
  readonly outputTokens: number;
  readonly generatedText: string;
}

/** vllm 0.18.0's token totals (see the header): client-side prompt lengths, server-side output counts. */
function vllm018Totals(
  inputRequests: readonly Pick<SampleRequest, "promptLen">[],
  outputs: readonly VllmRequestOutput[],
  countTokens: (text: string) => number,
): { totalInput: number; totalOutput: number; completed: number } {
  let totalInput = 0;
  let totalOutput = 0;
  let completed = 0;
  outputs.forEach((o, i) => {
    if (!o.success) return;
    totalOutput += o.outputTokens || countTokens(o.generatedText);
    totalInput += inputRequests[i].promptLen;
    completed++;
  });
  return { totalInput, totalOutput, completed };
}

const INPUT = 192;
const OUTPUT = 12;
const PROMPTS = 10;
const API_KEY = "sim-token-totals";

let sim: RunningSimulator;
let tokenizer: LoadedTokenizer;
let dataset: SampleRequest[];

beforeAll(async () => {
  sim = await startSimulator({ servedModelName: "qwen", timing: FAST_TIMING, apiKey: API_KEY });
  await sim.whenHealthy;
  tokenizer = loadTokenizer();
  speedUpBpeMerges(tokenizer.tokenizer);
  dataset = generateRandomDataset(tokenizer, { inputLen: INPUT, outputLen: OUTPUT, numPrompts: PROMPTS, rangeRatio: 0, seed: 0 });
}, 120_000);

afterAll(async () => {
  await sim?.close();
});

describe("native and remote runner: equal token totals for the same prompts", () => {
  it("the native runner's totals equal vllm 0.18.0's counting of the same prompts sent again; the server's count is kept beside them", async () => {
    const native = await runBenchmark({
      baseUrl: sim.baseUrl,
      servedModelName: "qwen",
      apiKey: API_KEY,
      dataset,
      loadedTokenizer: tokenizer,
      maxConcurrency: 4,
      requestTimeoutMs: 60_000,
      totalTimeoutMs: 120_000,
    });
    expect(native.metrics.failed, native.requests.find((r) => !r.success)?.error).toBe(0);

    // The remote path: the same prompts, through an independent client, counted as vllm 0.18.0 counts.
    const outputs: VllmRequestOutput[] = [];
    for (const sample of dataset) {
      const res = await streamRequest(`${sim.baseUrl}/v1/chat/completions`, chatBody(sample.prompt, sample.expectedOutputLen, { temperature: 0 }), { authorization: `Bearer ${API_KEY}` });
      const usage = res.messages.map((m) => m.json?.usage).find((u) => u);
      const text = res.messages.map((m) => m.json?.choices?.[0]?.delta?.content ?? "").join("");
      outputs.push({ success: res.status === 200 && !res.aborted && res.messages.some((m) => (m.json?.choices.length ?? 0) > 0), outputTokens: usage?.completion_tokens ?? 0, generatedText: text });
    }
    const remote = vllm018Totals(dataset, outputs, (t) => tokenizer.tokenizer.encode(t, { add_special_tokens: false }).length);
    expect(remote.completed).toBe(PROMPTS);

    // Both through the one parser, as the Benchmark reads either runner's stdout.
    const nativeParsed = parseBenchmarkOutput(JSON.stringify(native.json), { numPrompts: PROMPTS });
    const remoteParsed = parseBenchmarkResult({ ...native.json, total_input_tokens: remote.totalInput, total_output_tokens: remote.totalOutput, total_input_tokens_server: null });
    expect(nativeParsed.totalInputTokens).toBe(remoteParsed.totalInputTokens);
    expect(nativeParsed.totalOutputTokens).toBe(remoteParsed.totalOutputTokens);
    expect(nativeParsed.totalInputTokens).toBe(dataset.reduce((s, d) => s + d.promptLen, 0));
    expect(nativeParsed.totalOutputTokens).toBe(PROMPTS * OUTPUT);
    const [rn, rr] = [compareToBaseline(nativeParsed), compareToBaseline(remoteParsed)];
    expect(rn.totalInputTokens).toBe(rr.totalInputTokens);
    expect(rn.totalOutputTokens).toBe(rr.totalOutputTokens);

    // The server's count differs (its chat template adds tokens): kept, not mixed in.
    expect(nativeParsed.totalInputTokensServer).toBe(nativeParsed.totalInputTokens + PROMPTS * FAST_TIMING.chatTemplateTokens);
    expect(native.requests.every((r, i) => r.promptLen === dataset[i].promptLen && r.serverPromptTokens === dataset[i].promptLen + FAST_TIMING.chatTemplateTokens)).toBe(true);
  }, 180_000);

  it("on the seed workload the native counting gives vllm 0.18.0's totals in the seed's result file, so every token ratio to the seed is 1", () => {
    const seed = seedResult();
    // 512 prompts the dataset built at 8192 tokens each (the length loop's target), 1024 output
    // tokens each, and a server that counts ~10,049 prompt tokens per request (another
    // tokenizer plus its chat template: the 5,145,283 the issue measured with the old counting).
    const serverCounts = Array.from({ length: 512 }, (_, i) => 10_049 + (i < 195 ? 1 : 0));
    const requests: RequestTiming[] = serverCounts.map((server, i) => ({
      success: true,
      promptLen: 8192,
      serverPromptTokens: server,
      outputTokens: 1024,
      ttftMs: 1800,
      itlMs: [],
      latencyMs: 26_000,
      startMs: i,
    }));
    const m = computeMetrics(requests, 425_374.2, [99]);
    expect(m.totalInputTokens).toBe(seed.total_input_tokens);
    expect(m.totalOutputTokens).toBe(seed.total_output_tokens);
    expect(m.totalInputTokensServer).toBe(5_145_283);
    expect(m.totalInputTokens / SEED_BASELINE.totalInputTokens).toBe(1);
    expect(m.totalOutputTokens / SEED_BASELINE.totalOutputTokens).toBe(1);
    // the total throughput the seed reports follows from the client-side count
    expect((m.totalInputTokens + m.totalOutputTokens) / m.durationS).toBeCloseTo(Number(seed.total_token_throughput), 1);
  });
});
