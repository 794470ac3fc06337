import { describe, expect, it } from "vitest";
import { resolveWorkload, SEED_WORKLOAD, workloadKey } from "../../../components/benchmark/workload";

describe("workload", () => {
  it("defaults to the seed workload", () => {
    expect(resolveWorkload()).toEqual({
      inputLen: 8192,
      outputLen: 1024,
      numPrompts: 512,
      maxConcurrency: 32,
      endpoint: "/v1/chat/completions",
      temperature: 0,
      ignoreEos: true,
      percentileMetrics: ["ttft", "tpot", "itl", "e2el"],
      metricPercentiles: [50, 90, 99],
    });
  });

  it("rejects bad values, naming the field and the fix", () => {
    expect(() => resolveWorkload({ numPrompts: 0 })).toThrow(/workload numPrompts.*got 0.*seed uses 512/);
    expect(() => resolveWorkload({ maxConcurrency: 2.5 })).toThrow(/maxConcurrency/);
    expect(() => resolveWorkload({ endpoint: "v1/chat" })).toThrow(/endpoint.*\/v1\/chat\/completions/);
    expect(() => resolveWorkload({ temperature: -1 })).toThrow(/temperature/);
    expect(() => resolveWorkload({ percentileMetrics: ["ttft", "foo" as never] })).toThrow(/percentileMetrics/);
    expect(() => resolveWorkload({ metricPercentiles: [100] })).toThrow(/metricPercentiles/);
  });

  it("workloadKey is stable and changes with every field", () => {
    const key = workloadKey(SEED_WORKLOAD);
    expect(workloadKey(resolveWorkload({}))).toBe(key);
    // key order in the partial does not matter
    expect(workloadKey(resolveWorkload({ maxConcurrency: 32, inputLen: 8192 }))).toBe(key);
    const variants: Partial<typeof SEED_WORKLOAD>[] = [
      { inputLen: 4096 }, { outputLen: 512 }, { numPrompts: 64 }, { maxConcurrency: 8 }, { endpoint: "/v1/completions" },
      { temperature: 0.7 }, { ignoreEos: false }, { percentileMetrics: ["ttft"] }, { metricPercentiles: [99] },
    ];
    const keys = new Set(variants.map((v) => workloadKey(resolveWorkload(v))));
    expect(keys.size).toBe(variants.length);
    expect(keys.has(key)).toBe(false);
  });
});
