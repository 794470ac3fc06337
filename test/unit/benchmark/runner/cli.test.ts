import { describe, expect, it } from "vitest";
import { BenchUsageError, parseBenchArgs, tokenizerFallbackWarning, type BenchCliPlan } from "../../../../scripts/bench";

const base = ["--base-url", "http://127.0.0.1:8000", "--served-model-name", "qwen"];

function plan(args: string[], env: NodeJS.ProcessEnv = {}): BenchCliPlan {
  const p = parseBenchArgs(args, env);
  if (p === "help") throw new Error("unexpected help");
  return p;
}

describe("bench CLI arguments", () => {
  it("maps vllm's flag names onto runner options; unset flags leave the seed defaults", () => {
    const p = plan([...base, "--model", "Qwen/Qwen3.5-397B-A17B", "--random-input-len", "256", "--random-output-len", "32", "--num-prompts", "10",
      "--max-concurrency", "4", "--seed", "3", "--temperature", "0.5", "--percentile-metrics", "ttft,e2el", "--metric-percentiles", "50,99.9",
      "--timeout", "60", "--goodput", "ttft:500", "--goodput", "tpot:50", "--save-result", "--result-dir", "/tmp/x", "--json"]);
    expect(p.run).toMatchObject({ baseUrl: "http://127.0.0.1:8000", servedModelName: "qwen", modelId: "Qwen/Qwen3.5-397B-A17B", inputLen: 256, outputLen: 32,
      numPrompts: 10, maxConcurrency: 4, seed: 3, temperature: 0.5, percentileMetrics: ["ttft", "e2el"], metricPercentiles: [50, 99.9],
      requestTimeoutMs: 60_000, goodput: { ttft: 500, tpot: 50 }, ignoreEos: true });
    expect(p).toMatchObject({ modelForTokenizer: "Qwen/Qwen3.5-397B-A17B", saveResult: true, resultDir: "/tmp/x", jsonOnly: true });
    const d = plan(base);
    expect(d.run.inputLen).toBeUndefined();
    expect(d.run.numPrompts).toBeUndefined();
    expect(d.saveResult).toBe(false);
  });

  it("takes the API key from OPENAI_API_KEY only", () => {
    expect(plan(base, { OPENAI_API_KEY: "sk-1" }).run.apiKey).toBe("sk-1");
    expect(plan(base, {}).run.apiKey).toBeUndefined();
    expect(() => parseBenchArgs([...base, "--api-key", "sk-1"], {})).toThrow(/OPENAI_API_KEY/);
  });

  it("defaults the served model name to --model, like vllm", () => {
    expect(plan(["--base-url", "http://h:1", "--model", "Org/M"]).run.servedModelName).toBe("Org/M");
  });

  it.each([
    [["--served-model-name", "q"], /--base-url is required/],
    [["--base-url", "ftp://x", "--served-model-name", "q"], /--base-url .*http/],
    [["--base-url", "http://h:1"], /--served-model-name/],
    [[...base, "--num-prompts", "0"], /--num-prompts must be a whole number/],
    [[...base, "--max-concurrency", "3.5"], /--max-concurrency/],
    [[...base, "--random-range-ratio", "1"], /--random-range-ratio/],
    [[...base, "--percentile-metrics", "ttft,foo"], /--percentile-metrics.*foo/],
    [[...base, "--metric-percentiles", "100"], /--metric-percentiles/],
    [[...base, "--goodput", "latency:5"], /--goodput/],
    [[...base, "--endpoint", "v1/chat"], /--endpoint/],
    [[...base, "--endpoint", "/v1/completions"], /--endpoint "\/v1\/completions" is not a chat completions path.*Fix: --endpoint \/v1\/chat\/completions/],
    [[...base, "--timeout", "-1"], /--timeout/],
    [[...base, "--bogus"], /Unknown option '--bogus'/],
  ])("rejects %j naming the flag and the fix", (args, pattern) => {
    let error: unknown;
    try {
      parseBenchArgs(args as string[], {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BenchUsageError);
    expect((error as Error).message).toMatch(pattern);
    expect((error as Error).message).toMatch(/Fix:/);
  });

  it("answers --help", () => {
    expect(parseBenchArgs(["--help"], {})).toBe("help");
  });
});

describe("bench CLI tokenizer fallback", () => {
  it("warns loudly, says the numbers are not comparable, names the JSON key and the fix", () => {
    const text = tokenizerFallbackWarning("Qwen/Qwen3.5-397B-A17B is not in the local Hugging Face cache");
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^!{78}$/);
    expect(lines.at(-1)).toMatch(/^!{78}$/);
    expect(text).toContain("WARNING: TOKENIZER FALLBACK: Qwen/Qwen3.5-397B-A17B is not in the local Hugging Face cache.");
    expect(text).toContain("NOT comparable");
    expect(text).toContain('"tokenizer_fallback"');
    expect(text).toContain("--tokenizer <dir|tokenizer.json|bundled>");
  });

  it("takes --tokenizer bundled as an explicit choice (no fallback) and --model alone as a cache lookup", () => {
    const explicit = parseBenchArgs(["--base-url", "http://127.0.0.1:8000", "--served-model-name", "qwen", "--tokenizer", "bundled"]) as BenchCliPlan;
    expect(explicit.run.tokenizer).toBe("bundled");
    expect(explicit.modelForTokenizer).toBeUndefined();
    const byModel = parseBenchArgs(["--base-url", "http://127.0.0.1:8000", "--served-model-name", "qwen", "--model", "Org/M"]) as BenchCliPlan;
    expect(byModel.run.tokenizer).toBeUndefined();
    expect(byModel.modelForTokenizer).toBe("Org/M");
  });
});
