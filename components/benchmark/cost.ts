/**
 * What the measured throughput costs at the instance's live price: the host layer reports
 * cents per hour (Lambda's `price_cents_per_hour`), the stack outputs dollars.
 */
import type { BenchmarkMetrics } from "./resultParser";

export interface BenchmarkCost {
  /** Instance price, US dollars per hour. */
  readonly hourlyCostUsd: number;
  /** Dollars per million output tokens at the measured output throughput; null if nothing was produced. */
  readonly costPerMillionOutputTokens: number | null;
  /** Dollars per million input + output tokens at the measured total throughput; null if nothing was processed. */
  readonly costPerMillionTotalTokens: number | null;
  /** What the benchmark run itself cost (its duration at the hourly price). */
  readonly benchmarkRunCostUsd: number;
}

/** Validates an hourly price: a finite number >= 0 (0 for this machine, the `local` stack). */
export function validateHourlyPrice(usdPerHour: number): number {
  if (typeof usdPerHour !== "number" || !Number.isFinite(usdPerHour) || usdPerHour < 0) {
    throw new Error(`benchmark hourlyPriceUsd must be a finite number of dollars >= 0, got ${JSON.stringify(usdPerHour)}. Fix: pass the instance's price_cents_per_hour / 100 (0 for the local stack).`);
  }
  return usdPerHour;
}

/** Lambda's price unit (cents per hour) to dollars per hour. */
export function centsPerHourToUsd(centsPerHour: number): number {
  if (typeof centsPerHour !== "number" || !Number.isFinite(centsPerHour) || centsPerHour < 0) {
    throw new Error(`instance price must be a finite number of cents per hour >= 0, got ${JSON.stringify(centsPerHour)}.`);
  }
  return centsPerHour / 100;
}

/**
 * Dollars per million tokens at `tokensPerSecond` when the machine costs `usdPerHour`:
 * an hour produces `tokensPerSecond * 3600` tokens, so one million cost `usdPerHour * 1e6 / (tps * 3600)`.
 * null when the throughput is not a positive finite number.
 */
export function costPerMillionTokens(usdPerHour: number, tokensPerSecond: number): number | null {
  validateHourlyPrice(usdPerHour);
  if (!Number.isFinite(tokensPerSecond) || tokensPerSecond <= 0) return null;
  return (usdPerHour * 1_000_000) / (tokensPerSecond * 3600);
}

export function benchmarkCost(m: BenchmarkMetrics, usdPerHour: number): BenchmarkCost {
  validateHourlyPrice(usdPerHour);
  const duration = Number.isFinite(m.durationS) && m.durationS > 0 ? m.durationS : 0;
  return {
    hourlyCostUsd: usdPerHour,
    costPerMillionOutputTokens: costPerMillionTokens(usdPerHour, m.outputThroughput),
    costPerMillionTotalTokens: costPerMillionTokens(usdPerHour, m.totalTokenThroughput),
    benchmarkRunCostUsd: (usdPerHour * duration) / 3600,
  };
}
