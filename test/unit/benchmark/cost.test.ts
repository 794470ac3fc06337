import { describe, expect, it } from "vitest";
import { benchmarkCost, centsPerHourToUsd, costPerMillionTokens, validateHourlyPrice } from "../../../components/benchmark/cost";
import { parseBenchmarkResult } from "../../../components/benchmark/resultParser";
import { seedResult } from "../../fixtures/benchmark/results";
// The simulator's seeded PRNG (mulberry32) keeps the property loops reproducible without fast-check.
import { seededRandom as prng } from "../../fixtures/sglang-simulator/faults";

const RUNS = 2000;

function close(a: number, b: number, rel = 1e-9): boolean {
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-12);
}

describe("cost arithmetic, worked example", () => {
  it("prices the seed throughput: $39.92/h at 1,232 output tok/s is ~$9.00 per 1M output tokens", () => {
    expect(centsPerHourToUsd(3992)).toBe(39.92);
    expect(costPerMillionTokens(39.92, 1232)).toBeCloseTo(39.92 / (1232 * 3600 / 1e6), 12);
    expect(costPerMillionTokens(39.92, 1232)).toBeCloseTo(9.0007, 4);
    expect(costPerMillionTokens(39.92, 11092)).toBeCloseTo(0.99971, 4);
  });

  it("benchmarkCost combines the three figures and the run's own cost", () => {
    const m = parseBenchmarkResult({ ...seedResult(), duration: 425.5, output_throughput: 1232, total_token_throughput: 11092 });
    const c = benchmarkCost(m, 39.92);
    expect(c.hourlyCostUsd).toBe(39.92);
    expect(c.costPerMillionOutputTokens).toBeCloseTo(9.0007, 4);
    expect(c.costPerMillionTotalTokens).toBeCloseTo(0.99971, 4);
    expect(c.benchmarkRunCostUsd).toBeCloseTo(39.92 * 425.5 / 3600, 12);
  });

  it("is null for no throughput and 0 for a free machine", () => {
    expect(costPerMillionTokens(10, 0)).toBeNull();
    expect(costPerMillionTokens(10, Number.NaN)).toBeNull();
    expect(costPerMillionTokens(10, Infinity)).toBeNull();
    expect(costPerMillionTokens(0, 1000)).toBe(0);
  });

  it("rejects bad prices, naming the setting and the fix", () => {
    expect(() => validateHourlyPrice(-1)).toThrow(/hourlyPriceUsd.*price_cents_per_hour \/ 100/);
    expect(() => validateHourlyPrice(Number.NaN)).toThrow(/hourlyPriceUsd/);
    expect(() => centsPerHourToUsd(-3)).toThrow(/cents per hour/);
    expect(() => costPerMillionTokens(Infinity, 1)).toThrow(/hourlyPriceUsd/);
  });
});

describe("cost arithmetic, properties (seeded loop)", () => {
  it("round-trips: cost x tokens-per-hour / 1e6 = hourly price", () => {
    const rnd = prng(1);
    for (let i = 0; i < RUNS; i++) {
      const price = rnd() * 200;
      const tps = 0.001 + rnd() * 1e6;
      const c = costPerMillionTokens(price, tps);
      expect(c).not.toBeNull();
      expect(close((c as number) * tps * 3600 / 1e6, price), `price ${price} tps ${tps}`).toBe(true);
    }
  });

  it("scales linearly with price and inversely with throughput", () => {
    const rnd = prng(2);
    for (let i = 0; i < RUNS; i++) {
      const price = 0.01 + rnd() * 100;
      const tps = 1 + rnd() * 50_000;
      const k = 0.1 + rnd() * 10;
      const base = costPerMillionTokens(price, tps) as number;
      expect(close(costPerMillionTokens(price * k, tps) as number, base * k)).toBe(true);
      expect(close(costPerMillionTokens(price, tps * k) as number, base / k)).toBe(true);
    }
  });

  it("total-token cost never exceeds output-token cost (total >= output throughput)", () => {
    const rnd = prng(3);
    for (let i = 0; i < RUNS; i++) {
      const price = rnd() * 100;
      const out = 1 + rnd() * 10_000;
      const total = out * (1 + rnd() * 20);
      const m = parseBenchmarkResult({ ...seedResult(), duration: 1 + rnd() * 1000, output_throughput: out, total_token_throughput: total });
      const c = benchmarkCost(m, price);
      expect((c.costPerMillionTotalTokens as number) <= (c.costPerMillionOutputTokens as number) * (1 + 1e-12)).toBe(true);
    }
  });

  it("the run's cost equals the output tokens it produced at the per-token price", () => {
    const rnd = prng(4);
    for (let i = 0; i < RUNS; i++) {
      const price = 0.01 + rnd() * 100;
      const duration = 1 + rnd() * 5000;
      const outputTokens = Math.floor(1 + rnd() * 1e7);
      const m = parseBenchmarkResult({
        ...seedResult(),
        duration,
        total_output_tokens: outputTokens,
        output_throughput: outputTokens / duration,
        total_token_throughput: (outputTokens * 9) / duration,
      });
      const c = benchmarkCost(m, price);
      expect(close(c.benchmarkRunCostUsd, ((c.costPerMillionOutputTokens as number) * outputTokens) / 1e6, 1e-9)).toBe(true);
      expect(close(c.benchmarkRunCostUsd, ((c.costPerMillionTotalTokens as number) * outputTokens * 9) / 1e6, 1e-9)).toBe(true);
    }
  });

  it("cents to dollars is a division by 100 for every whole-cent price", () => {
    const rnd = prng(5);
    for (let i = 0; i < RUNS; i++) {
      const cents = Math.floor(rnd() * 1_000_000);
      expect(Math.round(centsPerHourToUsd(cents) * 100)).toBe(cents);
    }
  });
});
