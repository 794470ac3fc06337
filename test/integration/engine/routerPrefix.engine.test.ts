/**
 * The shared-prefix coding workload (issue 23, item 5) on the local stack with `replicas: 2` through the REAL SGLang
 * router, `cache_aware` against `round_robin` side by side in one run: the same benchmark (`benchmarkWorkload
 * coding-prefix`, scaled down) through the router under each policy, each worker's prefix cache flushed before each,
 * and the simulator's own prefix-cache counters (`/sim/stats`) read per worker around each run.
 *
 * Sizes: 16 contexts of 1536 tokens, each request one of them + 128 tokens of its own, 64 prompts (4 per context),
 * 8 clients, 16 tokens out; a worker runs 4 requests at once. With every prefix cached once, cache_aware can send a
 * context's 4 requests to one worker (1 miss each: 16 misses), round_robin alternates them over both (2 misses
 * each: 32), so the prefix-hit rate and TTFT differ by the routing alone. At the simulator's seed timing a miss
 * prefills ~1670 tokens (~520 ms) and a hit ~140 (~215 ms).
 *
 * Figures (TTFT p50/p99, output tok/s, hit rate per worker and overall) are printed for the README.
 * Written for the engine suite; it builds its own stack (`router-prefix`), containers and volume.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProjectStack, setStructuredConfig, type EngineStack } from "../../fixtures/pulumi-engine";
import { freeConsecutivePorts, freePort } from "../../fixtures/net";
import { buildSimulatorImage } from "../../fixtures/sglang-simulator";
import { buildRouterImage } from "../../fixtures/router-image";
import { run } from "../../fixtures/ssh-host/docker";

const STACK = "router-prefix";
const API_KEY = `sk-router-prefix-${randomBytes(6).toString("hex")}`;
const VOLUME = `hgx-engine-router-prefix-cache-${process.pid}`;
const WORKERS = [`hgx-inference-${STACK}-hgx-sglang`, `hgx-inference-${STACK}-hgx-2-sglang`];
const ROUTER = `hgx-inference-${STACK}-router`;
const PREFIX = { prefixLen: 1536, suffixLen: 128, numPrefixes: 16 };
const PROMPTS = 64;
const auth = { authorization: `Bearer ${API_KEY}` };

let engine: EngineStack & { projectDir: string };
let workerPort: number;
let routerPort: number;

interface LatencyStats {
  mean: number;
  median: number;
  p99: number;
}
interface Outputs {
  benchmark: { metrics: { completed: number; failed: number; outputThroughput: number; ttft: LatencyStats }; capacity?: unknown };
}
interface CacheCounters {
  promptTokensTotal: number;
  cachedTokensTotal: number;
  requestsReceived: number;
}

/** One policy's run: the benchmark's figures and the prefix cache's, per worker and overall. */
interface PolicyRun {
  readonly policy: string;
  readonly ttftP50Ms: number;
  readonly ttftP99Ms: number;
  readonly outputTokPerS: number;
  readonly completed: number;
  readonly failed: number;
  readonly hitRatePerWorker: number[];
  readonly requestsPerWorker: number[];
  readonly hitRate: number;
}

async function counters(): Promise<CacheCounters[]> {
  return Promise.all(
    [0, 1].map(async (i) => {
      const res = await fetch(`http://127.0.0.1:${workerPort + i}/sim/stats`, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`worker ${i} /sim/stats answered ${res.status}`);
      return (await res.json()) as CacheCounters;
    }),
  );
}

/** Empties both workers' prefix caches (SGLang's /flush_cache), so each policy starts cold. */
async function flushCaches(): Promise<void> {
  for (const i of [0, 1]) {
    const res = await fetch(`http://127.0.0.1:${workerPort + i}/flush_cache`, { method: "POST", headers: auth, signal: AbortSignal.timeout(10_000) });
    expect(res.status, `flush worker ${i}`).toBe(200);
  }
}

/** A worker that does not exist yet: nothing counted, nothing cached. */
const NOTHING_YET: CacheCounters = { promptTokensTotal: 0, cachedTokensTotal: 0, requestsReceived: 0 };

/**
 * `pulumi up` with `policy`, the benchmark through the router re-run by it (its trigger holds the policy); the cache
 * counters' deltas around it. The first up creates the workers (empty caches, counters from zero); before a later one
 * both caches are flushed, so each policy starts cold.
 */
async function runPolicy(policy: "cache_aware" | "round_robin", first: boolean): Promise<PolicyRun> {
  await engine.stack.setConfig("hgx-inference:routerPolicy", { value: policy });
  if (!first) await flushCaches();
  const before = first ? [NOTHING_YET, NOTHING_YET] : await counters();
  const up = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
  expect(up.summary.result, policy).toBe("succeeded");
  const after = await counters();
  const outputs = Object.fromEntries(Object.entries(up.outputs).map(([k, v]) => [k, v.value])) as unknown as Outputs;
  const m = outputs.benchmark.metrics;
  const prompt = after.map((a, i) => a.promptTokensTotal - before[i].promptTokensTotal);
  const cached = after.map((a, i) => a.cachedTokensTotal - before[i].cachedTokensTotal);
  return {
    policy,
    ttftP50Ms: m.ttft.median,
    ttftP99Ms: m.ttft.p99,
    outputTokPerS: m.outputThroughput,
    completed: m.completed,
    failed: m.failed,
    hitRatePerWorker: prompt.map((p, i) => (p === 0 ? 0 : cached[i] / p)),
    requestsPerWorker: after.map((a, i) => a.requestsReceived - before[i].requestsReceived),
    hitRate: cached.reduce((a, b) => a + b, 0) / Math.max(1, prompt.reduce((a, b) => a + b, 0)),
  };
}

beforeAll(async () => {
  await Promise.all([buildSimulatorImage(), buildRouterImage()]);
  await run("docker", ["rm", "-f", ...WORKERS, ROUTER]);
  workerPort = await freeConsecutivePorts(2);
  routerPort = await freePort();
  const metricsPort = await freePort();
  engine = await createProjectStack({
    stackName: STACK,
    baseStackFile: "Pulumi.local.yaml",
    config: {
      "hgx-inference:replicas": { value: "2" },
      "hgx-inference:sglangApiKey": { value: API_KEY, secret: true },
      "hgx-inference:hfCacheVolume": { value: VOLUME },
      "hgx-inference:sglangPort": { value: String(workerPort) },
      "hgx-inference:routerPort": { value: String(routerPort) },
      "hgx-inference:routerMetricsPort": { value: String(metricsPort) },
      "hgx-inference:routerHealthCheckInterval": { value: "1s" },
      "hgx-inference:benchmarkReportDir": { value: "reports" },
      "hgx-inference:benchmarkWorkload": { value: "coding-prefix" },
      "hgx-inference:benchmarkNumPrompts": { value: String(PROMPTS) },
      "hgx-inference:benchmarkConcurrency": { value: "8" },
      "hgx-inference:benchmarkOutputLen": { value: "16" },
    },
  });
  await setStructuredConfig(engine.stack, "hgx-inference:benchmarkPrefixRepetition", PREFIX);
  // No admission cap below the 8 clients: TTFT then differs by prefill alone (a hit skips the shared part), not by
  // queueing behind a busy worker, which cache-aware stickiness would add at a small cap.
});

afterAll(async () => {
  await engine?.stack.destroy({ onOutput: engine.onOutput }).catch(() => undefined);
  await engine?.dispose().catch(() => undefined);
  await run("docker", ["rm", "-f", ...WORKERS, ROUTER]);
  await run("docker", ["volume", "rm", "-f", VOLUME]);
});

describe("coding-prefix through the real router: cache_aware against round_robin", () => {
  const runs: PolicyRun[] = [];

  it("runs the same shared-prefix benchmark under each policy, every request answered", async () => {
    runs.push(await runPolicy("cache_aware", true));
    runs.push(await runPolicy("round_robin", false));
    const table = [
      "| policy | TTFT p50 ms | TTFT p99 ms | output tok/s | prefix-hit rate (worker 1 / 2) | overall | requests per worker |",
      "|---|---|---|---|---|---|---|",
      ...runs.map(
        (r) =>
          `| ${r.policy} | ${r.ttftP50Ms.toFixed(0)} | ${r.ttftP99Ms.toFixed(0)} | ${r.outputTokPerS.toFixed(1)} | ${r.hitRatePerWorker.map((h) => h.toFixed(2)).join(" / ")} | ${r.hitRate.toFixed(2)} | ${r.requestsPerWorker.join(" / ")} |`,
      ),
    ].join("\n");
    console.log(`[router-prefix] ${PROMPTS} prompts, ${PREFIX.numPrefixes} shared prefixes of ${PREFIX.prefixLen} tokens + ${PREFIX.suffixLen} own, 8 clients:\n${table}`);
    for (const r of runs) {
      expect(r.completed, r.policy).toBe(PROMPTS);
      expect(r.failed, r.policy).toBe(0);
      // Both workers served: neither policy sent everything to one.
      expect(Math.min(...r.requestsPerWorker), r.policy).toBeGreaterThan(0);
    }
  });

  it("cache_aware keeps contexts on the worker that has them: more prefix hits than round_robin", () => {
    const [aware, robin] = runs;
    expect(aware.policy).toBe("cache_aware");
    // Round robin sends every context to both workers: each misses it once per worker (4 prompts a context: at most
    // 1/2 hits); cache_aware sends a context back where it was computed (at most 3/4).
    expect(aware.hitRate).toBeGreaterThan(robin.hitRate + 0.1);
    // TTFT is printed above, not asserted: with 64 requests and at least half of them hits under either policy, the
    // median is a hit under both (215 vs 216 ms in the run the README quotes), and a loaded machine moves p99 more
    // than the policy does. The hit rate is what the policy decides.
    // The shared part is most of each prompt: some hits under either policy (the cache works at all).
    expect(robin.hitRate).toBeGreaterThan(0);
  });
});
