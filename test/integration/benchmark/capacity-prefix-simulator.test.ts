/**
 * The shared-prefix workload through `npm run bench:capacity` (its own process) against the simulator (this process,
 * 127.0.0.1, no rig), with its prefix cache on: every level's measured run sends the shared contexts (rounded to a
 * multiple of them), every warm-up random prompts of the same length, the simulator's cache answers the shared part,
 * and the result records the dataset with its sizes. Issue 23, item 5.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimulator, type RunningSimulator } from "../../fixtures/sglang-simulator";
import { runCapacityCli, type CapacityCliRun } from "../../fixtures/benchmark/capacityCli";
import { parseCapacityOutput } from "../../../components/benchmark/capacityCommand";
import type { CapacitySummary } from "../../../components/benchmark/capacity";

const TIMING = { loadMs: 300, refuseConnectionsMs: 100, prefillBaseMs: 20, prefillPerTokenMs: 0.2, decodeBaseMs: 8, decodePerRunningMs: 0.05, maxRunningRequests: 8 };
const PREFIX = { prefixLen: 512, suffixLen: 32, numPrefixes: 4 };
const OUTPUT = 8;
const PROMPTS = 16;

let sim: RunningSimulator;
let run: CapacityCliRun;
let capacity: CapacitySummary;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-capacity-prefix-"));

beforeAll(async () => {
  sim = await startSimulator({ servedModelName: "qwen", timing: TIMING, tokenizer: "estimate" });
  await sim.whenHealthy;
  run = await runCapacityCli(
    [
      "--base-url", sim.baseUrl,
      "--served-model-name", "qwen",
      "--tokenizer", "bundled",
      "--dataset-name", "prefix_repetition",
      "--prefix-repetition-prefix-len", String(PREFIX.prefixLen),
      "--prefix-repetition-suffix-len", String(PREFIX.suffixLen),
      "--prefix-repetition-num-prefixes", String(PREFIX.numPrefixes),
      "--prefix-repetition-output-len", String(OUTPUT),
      "--num-prompts", String(PROMPTS),
      // Level 2 sends 6 prompts, rounded down to 4 (one per context); level 4 sends 12.
      "--prompts-per-concurrency", "3",
      "--concurrency-range", "2:4",
      "--json",
    ],
    { ...process.env, HF_HOME: path.join(work, "hf") },
    200_000,
  );
  capacity = parseCapacityOutput(run.stdout).capacity;
}, 240_000);

afterAll(async () => {
  await sim?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe("the shared-prefix workload in a capacity sweep", () => {
  it("measures each level with the shared contexts, rounded to a multiple of them", () => {
    expect(run.code, run.stderr).toBe(0);
    expect(capacity.points.map((p) => [p.concurrency, p.completed, p.failed])).toEqual([
      [2, 4, 0],
      [4, 12, 0],
    ]);
    // The prompts are the contexts plus their own part, as vllm counts them on the client.
    for (const p of capacity.points) expect(p.inputTokens / p.completed).toBe(PREFIX.prefixLen + PREFIX.suffixLen);
  });

  it("the server saw the warm-ups and the measured runs, and its prefix cache answered the shared part", async () => {
    const stats = await sim.stats();
    // warm-up (one wave at the level, random prompts) + the measured run, per level
    expect(stats.requestsReceived).toBe(2 + 4 + 4 + 12);
    // Level 4: 12 requests over 4 contexts, 4 in flight. A context misses at its first request, and again only when
    // it was sent beside that first one, before its prefill ended: at worst 4 + 3 misses, so at least 5 hits of ~512
    // tokens out of 22 × 544 prompt tokens (~0.2); 0.1 leaves room for the estimate's token boundaries.
    expect(stats.cachedTokensTotal).toBeGreaterThan(0);
    const hitRate = stats.cachedTokensTotal / stats.promptTokensTotal;
    process.stderr.write(`capacity-prefix-simulator: prefix-hit rate ${hitRate.toFixed(3)} over ${stats.requestsReceived} requests\n`);
    expect(hitRate).toBeGreaterThan(0.1);
  });

  it("records the dataset with its sizes in the provenance", () => {
    expect(capacity.provenance?.workload).toMatchObject({
      dataset: "prefix_repetition (4 shared prefixes of 512 tokens + 32 own)",
      inputLen: PREFIX.prefixLen + PREFIX.suffixLen,
      outputLen: OUTPUT,
      numPrompts: PROMPTS,
    });
  });
});
