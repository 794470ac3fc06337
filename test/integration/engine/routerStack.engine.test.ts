/**
 * `replicas: 2` on the local stack through the real engine: two SGLang simulator containers and the REAL
 * SGLang router (PyPI's pinned `sglang-router` wheel, packaged into an image from local files by
 * scripts/build-router-image.sh) on the test rig's Docker engine, one endpoint, the benchmark through it.
 *
 * up → requests spread over both workers, a repeated prefix sticks to one (cache-aware) → a worker killed
 * under a bounded load: the router takes it out, failures counted and bounded, the restarted worker taken
 * back → a spec change rolled out worker by worker under a bounded load: zero failed requests → destroy.
 * Figures (spread, failures, rollout duration) are printed for the report.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProjectStack, operationsByResource, plaintextLeaks, setStructuredConfig, type EngineStack } from "../../fixtures/pulumi-engine";
import { freeConsecutivePorts, freePort } from "../../fixtures/net";
import { buildSimulatorImage } from "../../fixtures/sglang-simulator";
import { buildRouterImage } from "../../fixtures/router-image";
import { startLoadLoop } from "../../fixtures/loadLoop";
import { run } from "../../fixtures/ssh-host/docker";
import { scalingEfficiencyOf } from "../../../components/stack";
import { contentRef, isContentRef, pinnedPullRef } from "../../../components/image";
import { imageReferencesIn } from "../../fixtures/imageReferences";

// Its own stack name, so its containers never share a name with the local stack's engine test (or a run beside it).
const STACK = "router-local";
const API_KEY = `sk-router-engine-${randomBytes(6).toString("hex")}`;
const VOLUME = `hgx-engine-router-cache-${process.pid}`;
const WORKERS = [`hgx-inference-${STACK}-hgx-sglang`, `hgx-inference-${STACK}-hgx-2-sglang`];
const ROUTER = `hgx-inference-${STACK}-router`;
/** Requests a worker runs at once: half the smoke benchmark's 8 clients. */
const MAX_RUNNING = 4;
const auth = { authorization: `Bearer ${API_KEY}` };

let engine: EngineStack & { projectDir: string };
let workerPort: number;
let routerPort: number;
let metricsPort: number;

interface Outputs {
  router: { endpoint: string; metricsEndpoint: string; workers: { name: string; endpoint: string; routerUrl: string }[] };
  benchmark: { metrics: { completed: number; failed: number; outputThroughput: number }; scalingEfficiency?: number };
  replicas: { server: { endpoint: string; imageDigest: string }; benchmark?: { metrics: { completed: number; outputThroughput: number } } }[];
  imageDigest: string;
}

/** Requests each worker received so far (the simulator's own counter; it restarts at 0 with the container). */
async function received(): Promise<number[]> {
  return Promise.all(
    [0, 1].map(async (i) => {
      const res = await fetch(`http://127.0.0.1:${workerPort + i}/sim/stats`, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
      return res?.ok ? ((await res.json()) as { requestsReceived: number }).requestsReceived : 0;
    }),
  );
}

/** The router's view of one worker: healthy, unhealthy, or not listed. */
async function routerHealth(workerUrl: string): Promise<"healthy" | "unhealthy" | "absent"> {
  const res = await fetch(`http://127.0.0.1:${routerPort}/workers`, { headers: auth, signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { workers: { url: string; is_healthy: boolean }[] };
  const w = body.workers.find((x) => x.url === workerUrl);
  return w === undefined ? "absent" : w.is_healthy ? "healthy" : "unhealthy";
}

/** Polls `check` once a second until it holds; bounded by `attempts`. Returns the attempts used. */
async function eventually(what: string, check: () => Promise<boolean>, attempts = 180): Promise<number> {
  for (let i = 1; i <= attempts; i++) {
    if (await check().catch(() => false)) return i;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`${what}: not reached after ${attempts} polls`);
}

async function chat(content: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${routerPort}/v1/chat/completions`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ model: "qwen", messages: [{ role: "user", content }], max_tokens: 4 }),
    signal: AbortSignal.timeout(60_000),
  });
  await res.text();
  return res.status;
}

/** A long text of random words: prompts that share nothing but what the caller puts in front. */
function words(n: number): string {
  return Array.from({ length: n }, () => Math.random().toString(36).slice(2, 8)).join(" ");
}

async function containerId(name: string): Promise<string> {
  return (await run("docker", ["inspect", "-f", "{{.Id}}", name])).stdout.trim();
}

beforeAll(async () => {
  await Promise.all([buildSimulatorImage(), buildRouterImage()]);
  await run("docker", ["rm", "-f", ...WORKERS, ROUTER]);
  // Two consecutive ports for the workers (the local engine gives replica i sglangPort + i).
  workerPort = await freeConsecutivePorts(2);
  routerPort = await freePort();
  metricsPort = await freePort();
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
      // Fast probes, so a dead worker leaves the rotation within seconds here.
      "hgx-inference:routerHealthCheckInterval": { value: "1s" },
      "hgx-inference:benchmarkReportDir": { value: "reports" },
      // The first worker alone too, before the run through the router: scaling efficiency as an output.
      "hgx-inference:benchmarkScalingEfficiency": { value: "true" },
    },
  });
  // A worker runs at most 4 requests at once (the rest queue, as SGLang's scheduler does), so the benchmark's
  // 8 clients saturate one worker and two behind the router serve about twice as much.
  await setStructuredConfig(engine.stack, "hgx-inference:sglangFlags", { "max-running-requests": MAX_RUNNING });
});

afterAll(async () => {
  await engine?.dispose().catch(() => undefined);
  await run("docker", ["rm", "-f", ...WORKERS, ROUTER]);
  await run("docker", ["volume", "rm", "-f", VOLUME]);
});

describe("two replicas behind the real SGLang router, through the real engine", () => {
  let outputs: Outputs;

  it("comes up with one endpoint that spreads requests and keeps a repeated prefix on one worker", async () => {
    const up = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
    expect(up.summary.result).toBe("succeeded");
    outputs = Object.fromEntries(Object.entries(up.outputs).map(([k, v]) => [k, v.value])) as unknown as Outputs;
    expect(outputs.router.endpoint).toBe(`http://127.0.0.1:${routerPort}`);
    expect(outputs.router.metricsEndpoint).toBe(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(outputs.router.workers.map((w) => w.routerUrl)).toEqual([`http://127.0.0.1:${workerPort}`, `http://127.0.0.1:${workerPort + 1}`]);
    expect(outputs.replicas.map((r) => r.server.endpoint)).toEqual(outputs.router.workers.map((w) => w.endpoint));
    // The benchmark ran through the router.
    expect(outputs.benchmark.metrics.completed).toBe(32);
    expect(outputs.benchmark.metrics.failed).toBe(0);
    // Scaling efficiency: the router's output tokens/s over twice the first worker's, measured alone first.
    const single = outputs.replicas[0].benchmark!.metrics;
    expect(single.completed).toBe(32);
    expect(outputs.replicas[1].benchmark).toBeUndefined();
    expect(outputs.benchmark.scalingEfficiency).toBe(scalingEfficiencyOf(outputs.benchmark.metrics.outputThroughput, single.outputThroughput, 2));
    console.log(
      `[router] output tok/s: one worker alone ${single.outputThroughput.toFixed(0)}, two behind the router ${outputs.benchmark.metrics.outputThroughput.toFixed(0)}; ` +
        `scaling efficiency ${outputs.benchmark.scalingEfficiency}`,
    );
    // One worker saturated by 8 clients (4 run, 4 queue), two serve all 8 at once: close to twice one worker's
    // throughput. Bounds wide enough for the run-to-run noise of a loaded machine, and clear of the 0.5 that
    // a router adding nothing (or serializing the workers) would give.
    expect(outputs.benchmark.scalingEfficiency).toBeGreaterThan(0.7);
    expect(outputs.benchmark.scalingEfficiency).toBeLessThan(1.25);

    // One build behind the endpoint: every image reference in the deployed state is a digest, the workers'
    // are equal, and the second worker pulled what the first resolved (the router runs its own image here).
    // The local engine's images have no registry digest: each pull names the image ID (main pulled the tag).
    const refs = imageReferencesIn(await engine.stack.exportStack());
    console.log(`[router] image references: ${JSON.stringify({ pulls: [...refs.pulls], containers: [...refs.containers] })}`);
    const [first, second, routerImage] = ["hgx-image", "hgx-2-image", "router-image"].map((n) => refs.pulls.get(n)!);
    expect([...refs.pulls.keys()].sort()).toEqual(["hgx-2-image", "hgx-image", "router-image"]);
    for (const [name, pull] of refs.pulls) expect(isContentRef(pull.pulled), `${name} pulled ${pull.pulled}`).toBe(true);
    expect(first.pulled).toBe(first.imageId);
    expect(routerImage.pulled).toBe(routerImage.imageId);
    expect(second.pulled).toBe(pinnedPullRef(first.pulled, first.repoDigest, first.imageId));
    expect(second.imageId).toBe(first.imageId);
    expect([...refs.containers.keys()].sort()).toEqual(["hgx-2-container", "hgx-container", "router-container"]);
    for (const [name, image] of refs.containers) expect(isContentRef(image), `${name} runs ${image}`).toBe(true);
    expect(refs.containers.get("hgx-container")).toBe(first.imageId);
    expect(refs.containers.get("hgx-2-container")).toBe(first.imageId);
    expect(refs.containers.get("router-container")).toBe(routerImage.imageId);
    expect(isContentRef(outputs.imageDigest)).toBe(true);
    expect(outputs.imageDigest).toBe(contentRef(first.repoDigest, first.imageId));
    expect(outputs.replicas.map((r) => r.server.imageDigest)).toEqual([outputs.imageDigest, outputs.imageDigest]);
    const afterBenchmark = await received();
    console.log(`[router] after up (gates + benchmark of 32 through the router): requests per worker ${afterBenchmark.join(" / ")}`);

    // The router requires the key; the real router's Prometheus series are there.
    const anonymous = await fetch(`${outputs.router.endpoint}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "qwen", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
    });
    expect(anonymous.status).toBe(401);
    const metrics = await (await fetch(outputs.router.metricsEndpoint)).text();
    expect(metrics).toMatch(/smg_worker_health\{worker="http:\/\/127\.0\.0\.1:\d+"\} 1/);
    expect(metrics).toContain('policy="cache_aware"');

    // Distinct prompts (nothing shared from the first character on): both workers take some.
    const before = await received();
    const distinct = await Promise.all(Array.from({ length: 24 }, () => chat(words(60))));
    expect(distinct.every((s) => s === 200)).toBe(true);
    const spread = (await received()).map((n, i) => n - before[i]);
    console.log(`[router] 24 distinct prompts: ${spread.join(" / ")} per worker`);
    expect(spread[0] + spread[1]).toBe(24);
    expect(Math.min(...spread)).toBeGreaterThan(0);

    // One long shared prefix with short distinct tails, one after another: all on one worker.
    const prefix = words(80);
    const before2 = await received();
    for (let i = 0; i < 12; i++) expect(await chat(`${prefix} question ${i}`)).toBe(200);
    const sticky = (await received()).map((n, i) => n - before2[i]);
    console.log(`[router] 12 prompts with one shared prefix: ${sticky.join(" / ")} per worker`);
    expect(sticky.sort((a, b) => a - b)).toEqual([0, 12]);
  });

  it("takes a killed worker out under load, bounds the failures, and takes it back once restarted", async () => {
    const victim = outputs.router.workers[1].routerUrl;
    const load = startLoadLoop({ baseUrl: outputs.router.endpoint, apiKey: API_KEY, model: "qwen", concurrency: 4, maxRequests: 5000, requestTimeoutMs: 60_000 });
    try {
      await eventually("load flowing", async () => load.snapshot().ok >= 20);
      const atKill = load.snapshot();
      expect((await run("docker", ["kill", WORKERS[1]])).code).toBe(0);
      const pollsOut = await eventually("router marks the killed worker unhealthy", async () => (await routerHealth(victim)) !== "healthy");
      const out = load.snapshot();
      // Keep the load on the survivor for a while: the router must not keep sending to the dead worker.
      const survivorBase = load.snapshot().ok;
      await eventually("load served by the survivor", async () => load.snapshot().ok >= survivorBase + 40);
      const whileOut = load.snapshot();
      expect(whileOut.failed).toBe(out.failed);

      expect((await run("docker", ["start", WORKERS[1]])).code).toBe(0);
      const pollsBack = await eventually("router takes the restarted worker back", async () => (await routerHealth(victim)) === "healthy");
      // The restarted simulator counts from 0: traffic reaching it again proves it is back in rotation.
      await eventually("restarted worker serves requests", async () => (await received())[1] > 0);
      const result = await load.stop();
      const failedAroundKill = result.failed - atKill.failed;
      console.log(
        `[router] worker killed under load (concurrency 4): ${result.sent} sent, ${result.failed} failed (${failedAroundKill} after the kill: ${JSON.stringify(result.failures.slice(0, 3))}); ` +
          `out of rotation after ${pollsOut} polls of 1 s, back after ${pollsBack}; ${whileOut.ok - survivorBase} served by the survivor alone without a failure`,
      );
      // Bounded: at most the requests in flight on the dead worker when it died, plus the ones sent to it
      // before the router's probes or its circuit breaker took it out (retries send most of them elsewhere).
      expect(failedAroundKill).toBeLessThanOrEqual(Math.max(4, Math.ceil(0.1 * (result.sent - atKill.sent))));
      expect(result.ok).toBeGreaterThan(result.failed * 10);
    } finally {
      await load.stop();
    }
  });

  it("rolls a spec change out one worker at a time with zero failed requests", async () => {
    const ids = await Promise.all(WORKERS.map(containerId));
    const routerId = await containerId(ROUTER);
    await setStructuredConfig(engine.stack, "hgx-inference:sglangFlags", { "max-running-requests": 64 });
    const load = startLoadLoop({ baseUrl: outputs.router.endpoint, apiKey: API_KEY, model: "qwen", concurrency: 4, maxRequests: 20_000, requestTimeoutMs: 60_000 });
    const from = engine.events.length;
    const outputFrom = engine.engineOutput().length;
    const started = Date.now();
    let result;
    try {
      await eventually("load flowing", async () => load.snapshot().ok >= 10);
      const up = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
      expect(up.summary.result).toBe("succeeded");
    } finally {
      result = await load.stop();
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(`[router] rolling spec change: ${result.sent} requests during the rollout, ${result.failed} failed; pulumi up took ${seconds.toFixed(1)} s`);
    expect(result.failures).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(0);

    // Both workers replaced, the router kept (same container), in the order drain → replace → rejoin, worker by worker.
    const after = await Promise.all(WORKERS.map(containerId));
    expect(after[0]).not.toBe(ids[0]);
    expect(after[1]).not.toBe(ids[1]);
    expect(await containerId(ROUTER)).toBe(routerId);
    expect((await run("docker", ["inspect", "-f", "{{json .Args}}", WORKERS[1]])).stdout).toMatch(/--max-running-requests\W+64/);
    const ops = operationsByResource(engine.events, from);
    expect(ops.get("hgx-container")).toEqual(expect.arrayContaining(["replace"]));
    expect(ops.get("hgx-2-container")).toEqual(expect.arrayContaining(["replace"]));
    const out = engine.engineOutput().slice(outputFrom);
    const firstRejoined = out.indexOf("REJOINED worker=http://127.0.0.1:" + workerPort);
    const secondDrainStart = out.lastIndexOf(`removed http://127.0.0.1:${workerPort + 1}`);
    expect(firstRejoined).toBeGreaterThan(0);
    expect(secondDrainStart).toBeGreaterThan(firstRejoined);
  });

  it("keeps the key out of state, engine output and the router's stored command line", async () => {
    expect(plaintextLeaks(engine.backendText(), { apiKey: API_KEY })).toEqual([]);
    expect(plaintextLeaks(engine.engineOutput(), { apiKey: API_KEY })).toEqual([]);
    expect((await run("docker", ["inspect", "-f", "{{json .Args}}", ROUTER])).stdout).not.toContain(API_KEY);
  });

  it("destroys the router and both workers", async () => {
    const destroyed = await engine.stack.destroy({ onOutput: engine.onOutput });
    expect(destroyed.summary.result).toBe("succeeded");
    for (const name of [...WORKERS, ROUTER]) expect((await run("docker", ["inspect", name])).code).not.toBe(0);
  });
});
