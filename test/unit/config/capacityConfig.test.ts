import { describe, expect, it } from "vitest";
import { parseStackConfig, type RawConfig } from "../../../components/config";
import { benchmarkArgsFor } from "../../../components/stack";
import { configProblems } from "../../fixtures/configProblems";

const local: RawConfig = { hostMode: "local", benchmarkRunner: "native" };

const problems = (raw: RawConfig) => configProblems(raw);

describe("benchmarkCapacity and benchmarkSlo", () => {
  it("off by default", () => {
    expect(parseStackConfig(local, { stack: "t" }).benchmark.capacity).toBeUndefined();
  });

  it("reads the search settings and the SLOs; the stack passes the machine's GPU count", () => {
    const c = parseStackConfig(
      {
        ...local,
        gpuCount: "4",
        benchmarkCapacity: JSON.stringify({ concurrencyRange: "8:256", promptsPerConcurrency: 8, repeats: "2", maxDuration: "2h" }),
        benchmarkSlo: JSON.stringify({ ttft_p99_ms: 3000, itl_p99_ms: "50" }),
      },
      { stack: "t" },
    );
    expect(c.benchmark.capacity).toEqual({
      concurrencyRange: { low: 8, high: 256 },
      slo: { ttftP99Ms: 3000, itlP99Ms: 50 },
      promptsPerConcurrency: 8,
      repeats: 2,
      resolution: undefined,
      warmupRequests: undefined,
      maxDurationS: 7200,
    });
    const args = benchmarkArgsFor(c, {
      host: { connection: { kind: "local" }, hourlyPriceUsd: 0 },
      server: { endpoint: "http://127.0.0.1:18000", servedModelName: "qwen", specHash: "h" },
    });
    expect(args.capacity).toMatchObject({ gpus: 4, concurrencyRange: { low: 8, high: 256 } });
  });

  it("reads a request-rate search: dimension rate, its range in req/s, burstiness and client slots", () => {
    const c = parseStackConfig(
      { ...local, benchmarkCapacity: JSON.stringify({ dimension: "rate", rateRange: "0.5:16", burstiness: "0.5", maxConcurrency: 64, resolution: 0.25 }), benchmarkSlo: JSON.stringify({ ttft_p99_ms: 3000 }) },
      { stack: "t" },
    );
    expect(c.benchmark.capacity).toEqual({ dimension: "rate", rateRange: { low: 0.5, high: 16 }, burstiness: 0.5, maxConcurrency: 64, resolution: 0.25, slo: { ttftP99Ms: 3000 } });
    expect(problems({ ...local, benchmarkCapacity: JSON.stringify({ dimension: "rate", rateRange: "1:4" }) })).toEqual([]);
  });

  it.each([
    [{ benchmarkCapacity: '{"dimension": "rate", "rateRange": "4:1"}' }, "benchmarkCapacity.rateRange: = \"4:1\" is not LOW:HIGH requests/s"],
    [{ benchmarkCapacity: '{"dimension": "rate"}' }, "benchmarkCapacity.rateRange: = undefined is not LOW:HIGH requests/s"],
    [{ benchmarkCapacity: '{"dimension": "rate", "rateRange": "1:4", "burstiness": 0}' }, "benchmarkCapacity.burstiness: = 0 must be a number > 0"],
    [{ benchmarkCapacity: '{"dimension": "rate", "rateRange": "1:4", "concurrencyRange": "1:8"}' }, "benchmarkCapacity.concurrencyRange: = \"1:8\" does not apply to a rate search"],
    [{ benchmarkCapacity: '{"concurrencyRange": "1:8", "burstiness": 2}' }, "benchmarkCapacity.burstiness: = 2 does not apply to a concurrency search"],
    [{ benchmarkCapacity: '{"dimension": "tokens", "concurrencyRange": "1:8"}' }, "benchmarkCapacity.dimension: = \"tokens\" is not concurrency or rate"],
    [{ benchmarkCapacity: '{"concurrencyRange": "256:8"}' }, "benchmarkCapacity.concurrencyRange: = \"256:8\" is not LOW:HIGH"],
    [{ benchmarkCapacity: '{"concurrencyRange": "1:8", "repeats": 0}' }, "benchmarkCapacity.repeats: = 0 must be a whole number >= 1"],
    [{ benchmarkCapacity: '{"concurrencyRange": "1:8", "levels": 3}' }, "benchmarkCapacity.levels: = 3 is not a known setting"],
    [{ benchmarkCapacity: '{"concurrencyRange": "1:8", "maxDuration": "soon"}' }, "benchmarkCapacity.maxDuration: = \"soon\" is not a positive duration"],
    [{ benchmarkCapacity: '["1:8"]' }, "benchmarkCapacity: = [\"1:8\"] is not an object"],
    [{ benchmarkCapacity: '{"concurrencyRange": "1:8"}', benchmarkSlo: '{"ttft_p99": 3}' }, "benchmarkSlo.ttft_p99: = 3 is not a known SLO"],
    [{ benchmarkCapacity: '{"concurrencyRange": "1:8"}', benchmarkSlo: '{"ttft_p99_ms": -3}' }, "benchmarkSlo.ttft_p99_ms: = -3 must be a number of milliseconds > 0"],
    [{ benchmarkSlo: '{"ttft_p99_ms": 3000}' }, "benchmarkSlo: is set but benchmarkCapacity is not"],
  ])("refuses %j naming the key, the value and the fix", (extra, message) => {
    const found = problems({ ...local, ...extra });
    expect(found.some((p) => p.startsWith(message) && p.includes("Fix:")), found.join("\n")).toBe(true);
  });

  it("runs with the remote runner too (the pinned vllm container once per level)", () => {
    const found = problems({ hostMode: "lambda", lambdaApiKey: "sk-x", benchmarkCapacity: '{"concurrencyRange": "8:64"}', benchmarkSlo: '{"ttft_p99_ms": 3000}' });
    expect(found.filter((p) => p.startsWith("benchmarkCapacity") || p.startsWith("benchmarkSlo")), found.join("\n")).toEqual([]);
  });
});

describe("benchmarkCompareStack", () => {
  it("off by default; a stack name (stack, project/stack, org/project/stack) is read as it is", () => {
    expect(parseStackConfig(local, { stack: "t" }).benchmark.compareStack).toBeUndefined();
    for (const name of ["prod", "hgx-inference/prod", "my-org/hgx-inference/prod.v2"]) {
      expect(parseStackConfig({ ...local, benchmarkCompareStack: name }, { stack: "t" }).benchmark.compareStack).toBe(name);
    }
  });

  it.each(["a/b/c/d", "org/hgx inference/prod", "prod/"])("refuses %j naming the key and the fix", (name) => {
    const found = problems({ ...local, benchmarkCompareStack: name });
    expect(found.some((p) => p.startsWith(`benchmarkCompareStack: = ${JSON.stringify(name)} is not a stack name`) && p.includes("Fix:")), found.join("\n")).toBe(true);
  });

  it("the Benchmark gets the reference's benchmark output with the stack name", () => {
    const c = parseStackConfig({ ...local, benchmarkCompareStack: "org/hgx-inference/prod" }, { stack: "t" });
    const fakeReference = { getOutput: (name: string) => `output:${name}` } as unknown as Parameters<typeof benchmarkArgsFor>[2];
    const args = benchmarkArgsFor(c, { host: { connection: { kind: "local" }, hourlyPriceUsd: 0 }, server: { endpoint: "http://127.0.0.1:18000", servedModelName: "qwen", specHash: "h" } }, fakeReference);
    expect(args.compareWith).toEqual({ stackName: "org/hgx-inference/prod", benchmarkOutput: "output:benchmark" });
  });
});
