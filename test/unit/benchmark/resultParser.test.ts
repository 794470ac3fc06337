import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  BenchmarkResultError,
  completionNotes,
  detectResultFormat,
  extractResultObject,
  parseBenchmarkOutput,
  parseBenchmarkResult,
  sanitizePythonJson,
  summarize,
  toNumber,
} from "../../../components/benchmark/resultParser";

import { emptyRunResult, fixtureText, seedResult, seedResultWithout } from "../../fixtures/benchmark/results";

const fixture = fs.readFileSync(path.join(__dirname, "../../fixtures/benchmark/vllm-seed-result.json"), "utf8");

describe("parseBenchmarkOutput on the vllm --save-result fixture", () => {
  const m = parseBenchmarkOutput(fixture);

  it("reads counts, duration and token totals", () => {
    expect(m.completed).toBe(512);
    expect(m.failed).toBe(0);
    expect(m.durationS).toBeCloseTo(425.3742, 4);
    expect(m.totalInputTokens).toBe(4_194_304);
    expect(m.totalOutputTokens).toBe(524_288);
  });

  it("reads throughputs", () => {
    expect(m.outputThroughput).toBeCloseTo(1232.53, 2);
    expect(m.totalTokenThroughput).toBeCloseTo(11092.8, 1);
    expect(m.requestThroughput).toBeCloseTo(1.2036, 4);
  });

  it("reads every latency statistic in ms, including p90 and std", () => {
    expect(m.ttft).toEqual({ mean: 1825.41, median: 1493.87, p90: 3120.52, p99: 5008.13, std: 902.66, percentiles: { "50": 1493.87, "90": 3120.52, "99": 5008.13 } });
    expect(m.tpot.mean).toBe(24.02);
    expect(m.tpot.p99).toBe(26.04);
    expect(m.itl.mean).toBe(24.01);
    expect(m.itl.p99).toBe(47.12);
    expect(m.e2el?.mean).toBe(26398.7);
    expect(m.e2el?.p90).toBe(27902.3);
  });

  it("reads the traffic settings, with request_rate 'inf' kept as \"inf\"", () => {
    expect(m.requestRate).toBe("inf");
    expect(m.maxConcurrency).toBe(32);
    expect(m.numPrompts).toBe(512);
    expect(m.modelId).toBe("Qwen/Qwen3.5-397B-A17B");
    expect(m.backend).toBe("openai-chat");
    expect(m.requestGoodput).toBeUndefined(); // null in the file
    expect(m.maxOutputTokensPerS).toBe(1376);
    expect(m.tokenizerId).toBe("Qwen/Qwen3.5-397B-A17B");
    expect(m.format).toBe("vllm");
    expect(m.notes).toEqual([]);
    expect(m.totalInputTokensServer).toBeUndefined(); // vllm does not record the server's count
  });

  it("keeps the whole object as raw", () => {
    expect(m.raw).toEqual(JSON.parse(fixture));
  });

  it("is self-consistent: throughput = tokens / duration", () => {
    expect(m.outputThroughput).toBeCloseTo(m.totalOutputTokens / m.durationS, 6);
    expect(m.totalTokenThroughput).toBeCloseTo((m.totalInputTokens + m.totalOutputTokens) / m.durationS, 6);
  });
});

/** One row of the strictness table: a result, how it is read, and what must come out. */
interface StrictCase {
  readonly name: string;
  readonly text: string;
  readonly numPrompts?: number;
  /** Every pattern must be in the error message; undefined = the result must parse. */
  readonly error?: readonly RegExp[];
  /** Patterns the notes must contain (one note per pattern), when it parses. */
  readonly notes?: readonly RegExp[];
  readonly check?: (m: ReturnType<typeof parseBenchmarkResult>) => void;
}

const json = (o: Record<string, unknown>) => JSON.stringify(o);
const seedText = (over: Record<string, unknown>) => json({ ...seedResult(), ...over });

const STRICTNESS_TABLE: readonly StrictCase[] = [
  {
    name: "missing key: p99 TTFT (a workload whose percentiles leave out 99)",
    text: json(seedResultWithout("p99_ttft_ms", "p99_tpot_ms", "p99_itl_ms", "p99_e2el_ms")),
    error: [/remote runner \(vllm bench serve format\) is not usable/, /"p99_ttft_ms" \(p99 TTFT\) is missing/, /"p99_tpot_ms" \(p99 TPOT\) is missing/, /"p99_itl_ms" \(p99 ITL\) is missing/, /"p99_e2el_ms" \(p99 E2EL\) is missing/, /Fix: run the benchmark with 99 in --metric-percentiles/],
  },
  {
    name: "missing key: total token throughput and mean ITL",
    text: json(seedResultWithout("total_token_throughput", "mean_itl_ms")),
    error: [/"total_token_throughput" \(input \+ output tokens\/s\) is missing/, /"mean_itl_ms" \(mean ITL\) is missing/, /never read as 0/],
  },
  {
    name: "negative value: ITL and failed",
    text: seedText({ mean_itl_ms: -3, failed: -1 }),
    error: [/"mean_itl_ms" = -3 is negative/, /"failed" = -1 is negative/],
  },
  {
    name: "negative value in an optional figure (p90 TTFT) is refused too",
    text: seedText({ p90_ttft_ms: -0.5 }),
    error: [/"p90_ttft_ms" = -0.5 is negative/],
  },
  {
    name: "non-finite value: Python's bare NaN and Infinity",
    text: fixture.replace('"std_ttft_ms": 902.66', '"std_ttft_ms": NaN').replace('"output_throughput": 1232.5336139333322', '"output_throughput": Infinity'),
    error: [/"std_ttft_ms" = NaN is not a finite number/, /"output_throughput" = Infinity is not a finite number/],
  },
  {
    name: "not a number, not a whole count, zero duration",
    text: seedText({ mean_tpot_ms: "fast", completed: 511.5, duration: 0 }),
    error: [/"mean_tpot_ms" = fast is not a number/, /"completed" = 511.5 is not a whole number/, /"duration" = 0 is not a run length/],
  },
  {
    name: "SGLang bench_serving file: read by its own keys (last line of the JSONL), failed from the prompts sent",
    text: fixtureText("sglang-bench-serving-result.jsonl"),
    numPrompts: 512,
    notes: [/read as an SGLang bench_serving result/, /"failed" is not in this file \(SGLang bench_serving does not record it\); read as the prompts sent 512 − completed 512 = 0/],
    check: (m) => {
      expect(m.format).toBe("sglang");
      expect(m.maxConcurrency).toBe(32);
      expect(m.totalTokenThroughput).toBe(11086.65);
      expect(m.outputThroughput).toBe(1231.85);
      expect(m.failed).toBe(0);
      expect(m.requestRate).toBe("inf");
      expect(m.ttft).toEqual({ mean: 1826.3, median: 1494.2, p99: 5010.7, std: 903.1, percentiles: { "99": 5010.7 } });
      expect(m.itl.percentiles).toEqual({ "95": 31.2, "99": 47.3 });
      expect(m.e2el).toEqual({ mean: 26401.2, median: 26118.9, p90: 27899, p99: 30020.5, std: 1180.4, percentiles: { "90": 27899, "99": 30020.5 } });
      expect(m.tokenizerId).toBeUndefined();
    },
  },
  {
    name: "SGLang file of a release that did not save total_throughput: derived from its totals, said in a note",
    text: fixtureText("sglang-bench-serving-result.jsonl").trim().split("\n")[1].replace(/"total_throughput": [0-9.]+, /, ""),
    numPrompts: 512,
    notes: [/SGLang/, /"total_throughput" is not in this file .* = 11086\.66 tok\/s/, /"failed" is not in this file/],
    check: (m) => expect(m.totalTokenThroughput).toBeCloseTo((4194304 + 524288) / 425.61, 6),
  },
  {
    name: "SGLang file without the number of prompts sent: failed cannot be known",
    text: fixtureText("sglang-bench-serving-result.jsonl"),
    error: [/SGLang bench_serving format/, /"failed" \(failed requests\) is missing \(SGLang bench_serving does not record it\) and cannot be derived/],
  },
  {
    name: "SGLang median-only file: mean and p99 refused, never read as 0",
    text: fixtureText("sglang-bench-serving-median-only.jsonl"),
    numPrompts: 512,
    error: [/SGLang bench_serving format/, /"request_throughput" \(requests\/s\) is missing/, /"mean_ttft_ms" \(mean TTFT\) is missing/, /"p99_ttft_ms" \(p99 TTFT\) is missing/, /"mean_tpot_ms" \(mean TPOT\) is missing/, /"mean_itl_ms" \(mean ITL\) is missing/, /"p99_e2e_latency_ms" \(p99 E2EL\) is missing/],
  },
  {
    name: "old vllm file without failed: read as num_prompts − completed, with a note",
    text: json(seedResultWithout("failed", "max_output_tokens_per_s", "max_concurrent_requests")),
    notes: [/"failed" is not in this file \(this vllm release does not write it\); read as "num_prompts" 512 − completed 512 = 0/],
    check: (m) => {
      expect(m.failed).toBe(0);
      expect(m.format).toBe("vllm");
    },
  },
  {
    name: "old vllm file without failed and with requests missing: the difference is the failed count",
    text: json({ ...seedResultWithout("failed"), completed: 500 }),
    notes: [/read as "num_prompts" 512 − completed 500 = 12/],
    check: (m) => expect(m.failed).toBe(12),
  },
  {
    name: "old vllm file without failed nor num_prompts: refused",
    text: json(seedResultWithout("failed", "num_prompts")),
    error: [/"failed" \(failed requests\) is missing \(this vllm release does not write it\) and cannot be derived: the file has no "num_prompts"/],
  },
  {
    name: "a run where nothing completed parses, and says its latencies measure nothing",
    text: json(emptyRunResult(16)),
    notes: [/no request completed \(16 failed\): the latency statistics are 0 by the runner's convention/],
  },
  {
    name: "a native result built with a fallback tokenizer says so",
    text: seedText({ tokenizer_fallback: "Qwen/Qwen3.5-397B-A17B is not in the local Hugging Face cache" }),
    notes: [/tokenizer fallback: Qwen\/Qwen3\.5-397B-A17B is not in the local Hugging Face cache/],
  },
];

describe("strictness table", () => {
  it.each(STRICTNESS_TABLE.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const read = () => parseBenchmarkOutput(c.text, { source: "remote runner", ...(c.numPrompts !== undefined ? { numPrompts: c.numPrompts } : {}) });
    if (c.error) {
      let err: unknown;
      try {
        read();
      } catch (e) {
        err = e;
      }
      expect(err, "must be refused").toBeInstanceOf(BenchmarkResultError);
      const message = (err as Error).message;
      for (const pattern of c.error) expect(message).toMatch(pattern);
      // one line per problem, each naming its key
      expect((err as BenchmarkResultError).problems.every((p) => /^"[\w.]+"/.test(p))).toBe(true);
      return;
    }
    const m = read();
    expect(m.notes).toHaveLength(c.notes?.length ?? 0);
    c.notes?.forEach((pattern, i) => expect(m.notes[i]).toMatch(pattern));
    c.check?.(m);
  });

  it("tells the formats apart by their keys", () => {
    expect(detectResultFormat(seedResult())).toBe("vllm");
    expect(detectResultFormat(JSON.parse(fixtureText("sglang-bench-serving-median-only.jsonl").replace("Infinity", '"inf"')))).toBe("sglang");
    // a file with keys of both is read as vllm's
    expect(detectResultFormat({ ...seedResult(), total_throughput: 1 })).toBe("vllm");
  });

  it("reads the server's prompt-token count beside the client's when the native runner recorded it", () => {
    const m = parseBenchmarkResult({ ...seedResult(), total_input_tokens_server: 5_145_283 });
    expect(m.totalInputTokens).toBe(4_194_304);
    expect(m.totalInputTokensServer).toBe(5_145_283);
    expect(parseBenchmarkResult({ ...seedResult(), total_input_tokens_server: null }).totalInputTokensServer).toBeUndefined();
  });

  it("notes when completed + failed differ from the prompts the workload sent", () => {
    const m = parseBenchmarkResult(seedResult(), { numPrompts: 600 });
    expect(m.notes).toEqual(["completed 512 + failed 0 = 512, but the workload sent 600 prompts"]);
  });
});

describe("tolerance of form", () => {
  it("ignores extra keys (rtfx, detailed arrays, metadata) but keeps them in raw", () => {
    const m = parseBenchmarkResult({
      ...JSON.parse(fixture),
      rtfx: 0,
      ttfts: [1.1, 2.2],
      itls: [[0.02, 0.03]],
      errors: ["", ""],
      server_args: { tp: 8 },
      some_future_key: "x",
    });
    expect(m.outputThroughput).toBeCloseTo(1232.53, 2);
    expect(m.raw["some_future_key"]).toBe("x");
  });

  it("reads numbers given as strings and p99.9 keys", () => {
    const m = parseBenchmarkResult({
      ...seedResult(),
      completed: "512",
      duration: "425.5",
      failed: "0",
      output_throughput: "1232.0",
      request_rate: "12.5",
      mean_itl_ms: "24",
      median_itl_ms: 22,
      p99_itl_ms: "47",
      "p99.9_itl_ms": "88.25",
      "p99.99_itl_ms": 120,
    });
    expect(m.completed).toBe(512);
    expect(m.durationS).toBe(425.5);
    expect(m.outputThroughput).toBe(1232);
    expect(m.requestRate).toBe(12.5);
    expect(m.itl.percentiles).toEqual({ "50": 22.35, "90": 27.9, "99": 47, "99.9": 88.25, "99.99": 120 });
  });

  it("takes p50 as the median when the median key is absent (the same statistic)", () => {
    const m = parseBenchmarkResult(seedResultWithout("median_ttft_ms"));
    expect(m.ttft.median).toBe(1493.87);
    expect(m.notes).toEqual([]);
  });

  it("leaves E2EL out when the run did not select it, and needs it whole when it did", () => {
    const without = parseBenchmarkResult(seedResultWithout("mean_e2el_ms", "median_e2el_ms", "std_e2el_ms", "p50_e2el_ms", "p90_e2el_ms", "p99_e2el_ms"));
    expect(without.e2el).toBeUndefined();
    expect(() => parseBenchmarkResult(seedResultWithout("mean_e2el_ms"))).toThrow(/"mean_e2el_ms" \(mean E2EL\) is missing/);
  });

  it("accepts Python's bare Infinity for request_rate and the tokens inside strings", () => {
    const text = fixture.replace('"request_rate": "inf"', '"request_rate": Infinity').replace('"label": null', '"label": "NaN Infinity inside a string"');
    const m = parseBenchmarkOutput(text);
    expect(m.requestRate).toBe("inf");
    expect(m.raw["label"]).toBe("NaN Infinity inside a string");
    // summarize makes the value safe for Pulumi state
    const safe = summarize(m);
    expect(JSON.stringify(safe)).not.toMatch(/Infinity|NaN/);
    expect("raw" in safe).toBe(false);
    expect(safe.notes).toEqual([]);
  });

  it("finds the JSON after log lines on stdout", () => {
    const m = parseBenchmarkOutput(`Starting benchmark...\nprogress 100%\n${fixture}`);
    expect(m.completed).toBe(512);
  });

  it("rejects empty output, non-JSON and objects without completed/duration, naming the fix", () => {
    expect(() => parseBenchmarkOutput("   \n")).toThrow(/empty.*stderr/);
    expect(() => parseBenchmarkOutput("Traceback (most recent call last): boom")).toThrow(/not a JSON object.*--save-result/);
    expect(() => parseBenchmarkOutput("[1,2,3]")).toThrow(/not a JSON object/);
    expect(() => parseBenchmarkResult({ output_throughput: 1 })).toThrow(/"completed".*keys seen: output_throughput/);
  });
});

describe("completionNotes", () => {
  it("is empty for a run whose counts add up and that used the tokenizer asked for", () => {
    expect(completionNotes(510, 2, 512, undefined)).toEqual([]);
  });

  it("says when nothing completed, when counts miss the prompts sent, and a tokenizer fallback", () => {
    expect(completionNotes(0, 10, 12, "gpt2 (model tokenizer not cached)")).toEqual([
      "no request completed (10 failed): the latency statistics are 0 by the runner's convention and measure nothing",
      "completed 0 + failed 10 = 10, but the workload sent 12 prompts",
      "tokenizer fallback: gpt2 (model tokenizer not cached)",
    ]);
  });
});

describe("helpers", () => {
  it("toNumber", () => {
    expect(toNumber(3)).toBe(3);
    expect(toNumber("inf")).toBe(Infinity);
    expect(toNumber("-inf")).toBe(-Infinity);
    expect(Number.isNaN(toNumber("NaN"))).toBe(true);
    expect(toNumber("1e3")).toBe(1000);
    expect(toNumber("abc")).toBeUndefined();
    expect(toNumber(null)).toBeUndefined();
    expect(toNumber("")).toBeUndefined();
  });

  it("sanitizePythonJson leaves strings (with escaped quotes) alone", () => {
    const s = '{"a": NaN, "b": "say \\"NaN\\" Infinity", "c": [Infinity, -Infinity]}';
    expect(JSON.parse(sanitizePythonJson(s))).toEqual({ a: "NaN", b: 'say "NaN" Infinity', c: ["Infinity", "-Infinity"] });
  });

  it("extractResultObject prefers the whole text", () => {
    expect(extractResultObject('{"completed":1}')).toEqual({ completed: 1 });
  });
});
