/**
 * Must show (issue 23, item 4): a request-rate search, through `npm run bench:capacity --request-rate-range` as its own
 * process, against the SGLang simulator (in this process, on 127.0.0.1: no rig), answers the rate where the queueing
 * model says the TTFT SLO breaks, within one step of the search's resolution.
 *
 * The ground truth is the simulator's own scheduler replaying the runner's seeded gamma arrivals
 * (`expectedRateCapacity`), level by level with the seed the runner drew for that level (`levelSeeds`): open-loop
 * arrivals of 64 requests make the knee depend on the draw (between 16 and 19 req/s here over six seeds), so the
 * same draw is what makes the answer checkable. The model: 8 requests run at once, a generation takes ~0.52 s
 * (saturation ~15.4 req/s); p99 TTFT climbs ~150 ms per req/s near the SLO (800 ms), so the machine's jitter
 * (tens of ms) can flip only a level within a step of the edge.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimulator, type RunningSimulator } from "../../fixtures/sglang-simulator";
import { expectedRateCapacity, expectedRateLevel, saturationRate } from "../../fixtures/sglang-simulator/capacity";
import { runCapacityCli, type CapacityCliRun } from "../../fixtures/benchmark/capacityCli";
import { levelSeeds } from "../../../components/benchmark/capacityNative";
import { parseCapacityOutput } from "../../../components/benchmark/capacityCommand";
import type { CapacitySummary } from "../../../components/benchmark/capacity";

const TIMING = { loadMs: 300, refuseConnectionsMs: 100, prefillBaseMs: 40, prefillPerTokenMs: 0.01, decodeBaseMs: 15, decodePerRunningMs: 0.05, maxRunningRequests: 8 };
const WORKLOAD = { inputTokens: 64, outputTokens: 32, numPrompts: 64 };
const SLO = { ttftP99Ms: 800 };
const RANGE = { low: 8, high: 32 };
const RESOLUTION = 1;
const WARMUP = 4;

let sim: RunningSimulator;
let run: CapacityCliRun;
let capacity: CapacitySummary;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-capacity-rate-"));

beforeAll(async () => {
  sim = await startSimulator({ servedModelName: "qwen", timing: TIMING, tokenizer: "estimate" });
  await sim.whenHealthy;
  run = await runCapacityCli(
    [
      "--base-url", sim.baseUrl,
      "--served-model-name", "qwen",
      "--tokenizer", "bundled",
      "--random-input-len", String(WORKLOAD.inputTokens),
      "--random-output-len", String(WORKLOAD.outputTokens),
      "--num-prompts", String(WORKLOAD.numPrompts),
      "--slo", `ttft_p99_ms=${SLO.ttftP99Ms}`,
      "--request-rate-range", `${RANGE.low}:${RANGE.high}`,
      "--burstiness", "1",
      "--resolution", String(RESOLUTION),
      "--warmup-requests", String(WARMUP),
      "--json",
    ],
    { ...process.env, HF_HOME: path.join(work, "hf") },
    280_000,
  );
  capacity = parseCapacityOutput(run.stdout).capacity;
}, 300_000);

afterAll(async () => {
  await sim?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

/** The measured seed of each measured rate (the n-th level measured draws levelSeeds(0, n)). */
function seedByRate(s: CapacitySummary): Map<number, number> {
  return new Map(s.points.map((p) => [p.requestRate as number, levelSeeds(0, p.order).measured]));
}

describe("request-rate search against the simulator's queueing model", () => {
  it("the model has a knee inside the range: admitted at once well below saturation, queued above it", () => {
    const mu = saturationRate(sim.timing, WORKLOAD);
    expect(mu).toBeGreaterThan(RANGE.low);
    expect(mu).toBeLessThan(RANGE.high);
    expect(expectedRateLevel(sim.timing, SLO, { ...WORKLOAD, seed: 2 }, RANGE.low).misses).toEqual([]);
    expect(expectedRateLevel(sim.timing, SLO, { ...WORKLOAD, seed: 2 }, RANGE.high).misses).not.toEqual([]);
  });

  it("answers the rate where the model says the SLO breaks, within one step, resolved", () => {
    const ctx = `stderr:\n${run.stderr}`;
    expect(run.code, ctx).toBe(0);
    expect(capacity.axis).toBe("requestRate");
    expect(capacity.stop, ctx).toBe("resolved");
    expect(capacity.resolution).toBe(RESOLUTION);
    expect(capacity.maxConcurrency).toBeNull();
    const seeds = seedByRate(capacity);
    const expected = expectedRateCapacity(sim.timing, SLO, WORKLOAD, [...seeds.keys()], (rate) => seeds.get(rate) as number);
    process.stderr.write(
      `capacity-rate-simulator: answer ${capacity.maxRequestRate} req/s, model ${expected.maxRate} (levels ${capacity.points.map((p) => `${p.requestRate}:${p.ttftP99Ms.toFixed(0)}ms`).join(" ")}; model ${expected.levels.map((l) => `${l.requestRate}:${l.p99TtftMs.toFixed(0)}ms`).join(" ")})\n`,
    );
    expect(capacity.maxRequestRate, ctx).not.toBeNull();
    expect(Math.abs((capacity.maxRequestRate as number) - expected.maxRate), ctx).toBeLessThanOrEqual(RESOLUTION);
    // The search's own bracket: the pass and the miss around the answer are one resolution apart.
    expect((capacity.firstMissing as number) - (capacity.maxRequestRate as number)).toBeLessThanOrEqual(RESOLUTION);
  });

  it("every level was open loop at its rate: Poisson arrivals, no client cap, the level's prompts all sent", async () => {
    expect(capacity.points.slice(0, 3).map((p) => p.requestRate)).toEqual([8, 16, 32]);
    for (const p of capacity.points) {
      expect(p).toMatchObject({ burstiness: 1, concurrency: WORKLOAD.numPrompts, completed: WORKLOAD.numPrompts, failed: 0 });
      // An open-loop run lasts at least its arrivals' span: the rate was honoured, not sent all at once.
      expect(p.durationS).toBeGreaterThan((WORKLOAD.numPrompts / (p.requestRate as number)) * 0.5);
    }
    const stats = await sim.stats();
    expect(stats.requestsReceived).toBe(capacity.points.length * (WARMUP + WORKLOAD.numPrompts));
  });
});
