/**
 * When each request arrives under `--request-rate R --burstiness B`, as `vllm bench serve` schedules it: gaps drawn
 * from a gamma distribution with shape B and scale 1/(R·B) (B = 1: a Poisson process; B < 1 burstier; B = ∞ evenly
 * spaced at 1/R), accumulated, then rescaled so the last request arrives at exactly N/R seconds (vllm does this to
 * keep throughput stable across seeds). Rate ∞ sends everything at t = 0.
 * The draws come from the run's seeded generator, so a seed gives the same schedule every time; they are not
 * numpy's bit stream, so the schedule has vllm's distribution, not its exact values.
 */
import { jStat } from "jstat";
import { SeededRandom } from "./dataset";

/** Validates a request rate (> 0, Infinity allowed) and a burstiness (> 0, Infinity allowed). */
export function validateArrivalOptions(requestRate: number, burstiness: number): void {
  if (typeof requestRate !== "number" || Number.isNaN(requestRate) || requestRate <= 0) {
    throw new Error(`requestRate must be > 0 requests per second (Infinity for all at once), got ${String(requestRate)}. Fix: pass --request-rate 4 or --request-rate inf.`);
  }
  if (typeof burstiness !== "number" || Number.isNaN(burstiness) || burstiness <= 0) {
    throw new Error(`burstiness must be > 0 (1 = Poisson), got ${String(burstiness)}. Fix: pass --burstiness 1.`);
  }
}

/**
 * Arrival offsets in milliseconds from the start of the run, one per request, non-decreasing; all 0 at rate ∞.
 */
export function arrivalOffsetsMs(count: number, requestRate: number, burstiness: number, seed: number): number[] {
  validateArrivalOptions(requestRate, burstiness);
  if (!Number.isInteger(count) || count < 0) throw new Error(`arrival count must be a whole number ≥ 0, got ${String(count)}`);
  if (requestRate === Infinity || count === 0) return new Array<number>(count).fill(0);
  const gaps: number[] = [];
  if (burstiness === Infinity) {
    for (let i = 0; i < count; i += 1) gaps.push(1 / requestRate);
  } else {
    const rng = new SeededRandom(seed);
    const uniform = () => (rng.nextUint32() + 0.5) / 0x100000000;
    const scale = 1 / (requestRate * burstiness);
    // jstat's samplers read a module-global uniform source: swap ours in for this synchronous block only.
    const previous = jStat._random_fn;
    jStat.setRandom(uniform);
    try {
      for (let i = 0; i < count; i += 1) gaps.push(jStat.randg(burstiness) * scale);
    } finally {
      jStat.setRandom(previous);
    }
  }
  const offsets: number[] = [];
  let t = 0;
  for (const g of gaps) {
    t += g;
    offsets.push(t);
  }
  const last = offsets[offsets.length - 1];
  const factor = last > 0 ? count / requestRate / last : 1;
  return offsets.map((s) => s * factor * 1000);
}

/** Sleeps that a stop can cut short, so a run ending early never waits for far-off arrivals. */
export class InterruptibleSleeps {
  private readonly pending = new Set<() => void>();
  private stopped = false;
  /** Resolves after `ms` or at `wakeAll`, whichever comes first. */
  sleep(ms: number): Promise<void> {
    if (this.stopped || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.pending.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.pending.add(done);
    });
  }
  /** Ends every sleep now and every later one at once. */
  wakeAll(): void {
    this.stopped = true;
    for (const done of [...this.pending]) done();
  }
}
