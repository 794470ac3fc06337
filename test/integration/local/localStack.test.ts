/**
 * The `local` stack end to end on the real Docker engine, through scripts/local-rehearsal.ts: the
 * config from Pulumi.local.yaml validated as the program does, the serving layer's rendered
 * `docker run` of the simulator image, the readiness gate script, the Benchmark's native command,
 * then the parsed metrics, baseline ratios, cost and report. `down` removes the container and
 * keeps the cache volume.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSimulatorImage } from "../../fixtures/sglang-simulator";

const repoRoot = path.resolve(__dirname, "..", "..", "..");
const CONTAINER = "hgx-inference-local-hgx-sglang";

function rehearsal(...args: string[]) {
  const r = spawnSync("npx", ["tsx", "scripts/local-rehearsal.ts", ...args], { cwd: repoRoot, encoding: "utf8", timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function containerExists(): boolean {
  const r = spawnSync("docker", ["ps", "-a", "--filter", `name=^${CONTAINER}$`, "--format", "{{.Names}}"], { encoding: "utf8" });
  return r.stdout.trim() === CONTAINER;
}

beforeAll(async () => {
  await buildSimulatorImage();
});
afterAll(() => {
  spawnSync("docker", ["rm", "-f", CONTAINER], { stdio: "ignore" });
});

describe("local stack", () => {
  it("comes up, passes the readiness gate, benchmarks the scaled-down workload and reports", () => {
    const up = rehearsal("up");
    expect(up.status, up.stderr.slice(-3000)).toBe(0);
    const outputs = JSON.parse(up.stdout) as {
      server: { endpoint: string; servedModelName: string };
      benchmark: { completed: number; failed: number; outputThroughput: number; ttftMeanMs: number; itlMeanMs: number; reportPath: string; ratios: { outputThroughput: number } };
    };
    expect(outputs.server).toMatchObject({ endpoint: "http://127.0.0.1:18000", servedModelName: "qwen" });
    expect(outputs.benchmark.completed).toBe(32);
    expect(outputs.benchmark.failed).toBe(0);
    expect(outputs.benchmark.outputThroughput).toBeGreaterThan(0);
    expect(outputs.benchmark.ttftMeanMs).toBeGreaterThan(0);
    // The simulator's per-step decode latency is ~20 ms: the measured ITL must reflect it.
    expect(outputs.benchmark.itlMeanMs).toBeGreaterThan(10);
    expect(outputs.benchmark.itlMeanMs).toBeLessThan(60);
    expect(outputs.benchmark.ratios.outputThroughput).toBeGreaterThan(0);
    expect(fs.readFileSync(outputs.benchmark.reportPath, "utf8")).toContain("qwen");
    // The gate's and the runner's progress reached the user.
    expect(up.stderr).toContain("readiness gate");
    expect(up.stderr).toMatch(/requests\s+\[/);
    expect(containerExists()).toBe(true);
  });

  it("down removes the container and keeps the cache volume", () => {
    const down = rehearsal("down");
    expect(down.status, down.stderr).toBe(0);
    expect(containerExists()).toBe(false);
    const volume = spawnSync("docker", ["volume", "inspect", "hgx-local-hf-cache"], { encoding: "utf8" });
    expect(volume.status).toBe(0);
  });
});
