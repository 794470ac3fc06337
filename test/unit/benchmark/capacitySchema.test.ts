import { describe, expect, it } from "vitest";
import { parseCapacityOutput } from "../../../components/benchmark/capacityCommand";
import { planCapacitySearch, searchCapacity, summarizeCapacity, type PointMetrics } from "../../../components/benchmark/capacity";
import type { CapacityProvenance } from "../../../components/benchmark/provenance";

const PROVENANCE: CapacityProvenance = {
  workload: { dataset: "random", inputLen: 64, outputLen: 8, rangeRatio: 0, numPrompts: 16, promptsPerConcurrency: 4, ignoreEos: true, seed: 0 },
  model: "Qwen/Qwen3-0.6B",
  servedModelName: "qwen",
  tokenizer: "Qwen/Qwen3-0.6B",
  tokenizerFallback: null,
  imageDigest: "lmsysorg/sglang@sha256:0123",
  serverFlagsHash: "ab".repeat(32),
  router: { policy: "cache_aware", replicas: 2 },
  runner: { name: "native", version: "0.1.0" },
  date: "2026-12-07T20:00:00.000Z",
};

const metricsAt = (c: number): PointMetrics => ({
  completed: 8, failed: 0, durationS: 1, totalInputTokens: 512, totalOutputTokens: 64, requestThroughput: 8, outputThroughput: 64 * c, totalTokenThroughput: 576 * c, requestGoodput: 3,
  ttftMeanMs: 20, ttftP99Ms: c > 5 ? 300 : 30, tpotMeanMs: 10, tpotP99Ms: 12, itlMeanMs: 10, itlP99Ms: 15, e2elMeanMs: 100, e2elP99Ms: 120,
});

async function output(provenance: CapacityProvenance | null = PROVENANCE): Promise<Record<string, unknown>> {
  const r = await searchCapacity({ slo: { ttftP99Ms: 100 }, range: { low: 1, high: 8 }, measure: async (l) => metricsAt(l.concurrency) });
  const plan = planCapacitySearch({ range: { low: 1, high: 8 }, workload: { inputLen: 64, outputLen: 8, numPrompts: 16, warmupRequests: 0 } });
  return JSON.parse(JSON.stringify({ plan, capacity: summarizeCapacity(r, provenance) })) as Record<string, unknown>;
}

describe("parseCapacityOutput: as strict as a single run's result", () => {
  it("reads the CLI's output back whole, resolution and provenance included", async () => {
    const o = await output();
    const parsed = parseCapacityOutput(`progress line\n${JSON.stringify(o)}`);
    expect(parsed.capacity.maxConcurrency).toBe(5);
    expect(parsed.capacity.resolution).toBe(1);
    expect(parsed.capacity.provenance).toEqual(PROVENANCE);
  });

  it('refuses {"maxConcurrency":"eight"} naming the field, the type and the value', async () => {
    const o = await output();
    (o.capacity as Record<string, unknown>).maxConcurrency = "eight";
    expect(() => parseCapacityOutput(JSON.stringify(o))).toThrow(/capacity\.maxConcurrency must be integer or null, got "eight"/);
  });

  it("names every wrong field at once, deep ones by their path", async () => {
    const o = await output();
    const c = o.capacity as { points: Record<string, unknown>[]; provenance: { workload: Record<string, unknown> }; stop: unknown };
    c.points[1].ttftP99Ms = "30";
    c.provenance.workload.inputLen = 6.5;
    c.stop = "done";
    let message = "";
    try {
      parseCapacityOutput(JSON.stringify(o), "run.json");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^run\.json is not a capacity result/);
    expect(message).toContain('capacity.points[1].ttftP99Ms must be number, got "30"');
    expect(message).toContain("capacity.provenance.workload.inputLen must be integer, got 6.5");
    expect(message).toMatch(/capacity\.stop must be one of "resolved", .*got "done"/);
    expect(message).toMatch(/Fix: /);
  });

  it("refuses a missing field by name (the old check let a bare {plan, capacity.points} through)", async () => {
    const o = await output();
    delete (o.capacity as Record<string, unknown>).atMax;
    expect(() => parseCapacityOutput(JSON.stringify(o))).toThrow(/capacity\.atMax is missing/);
    expect(() => parseCapacityOutput(JSON.stringify({ plan: o.plan, capacity: { points: [] } }))).toThrow(/capacity\.axis is missing/);
    expect(() => parseCapacityOutput('{"completed": 3}')).toThrow(/plan is missing[^]*capacity is missing/);
  });

  it("an old file without resolution or provenance parses with both unknown (null)", async () => {
    const o = await output();
    const c = o.capacity as Record<string, unknown>;
    delete c.resolution;
    delete c.provenance;
    const parsed = parseCapacityOutput(JSON.stringify(o));
    expect(parsed.capacity.resolution).toBeNull();
    expect(parsed.capacity.provenance).toBeNull();
  });

  it("provenance.gpus: a whole count or null reads back, absent (older files) is unknown, a wrong type is named", async () => {
    for (const gpus of [8, null]) {
      const parsed = parseCapacityOutput(JSON.stringify(await output({ ...PROVENANCE, gpus })));
      expect(parsed.capacity.provenance?.gpus).toBe(gpus);
    }
    expect(parseCapacityOutput(JSON.stringify(await output())).capacity.provenance?.gpus ?? null).toBeNull();
    const zero = JSON.stringify(await output({ ...PROVENANCE, gpus: 0 }));
    expect(() => parseCapacityOutput(zero)).toThrow(/capacity\.provenance\.gpus/);
    const wrong = await output();
    ((wrong.capacity as { provenance: Record<string, unknown> }).provenance).gpus = "eight";
    expect(() => parseCapacityOutput(JSON.stringify(wrong))).toThrow(/capacity\.provenance\.gpus[^]*"eight"/);
  });
});
