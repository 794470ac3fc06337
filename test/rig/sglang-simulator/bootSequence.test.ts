import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { summarizeBootLog } from "../../../components/serving/bootLog";
import { FAST_TIMING, parseLaunchArgs, resolveTiming, startSimulator, type RunningSimulator } from "../../fixtures/sglang-simulator";
import { compileCacheFromEnv, compileCacheHit, compileMarkerPath, planBoot, writeCompileMarker } from "../../fixtures/sglang-simulator/bootSequence";

const TIMING = resolveTiming({ ...FAST_TIMING, refuseConnectionsMs: 1000, loadMs: 1500, compileMs: 4000 });
const dirs: string[] = [];
const sims: RunningSimulator[] = [];

function cacheDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "sim-compile-"));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  vi.useRealTimers();
  for (const sim of sims.splice(0)) await sim.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The plan's lines as `docker logs --timestamps` would show them, the boot starting at `t0`. */
function asDockerLog(steps: ReadonlyArray<{ atMs: number; line: string }>, readyAtMs: number, t0 = Date.parse("2026-12-07T23:30:00Z")): string {
  const stamp = (ms: number): string => new Date(t0 + ms).toISOString();
  const line = (ms: number, text: string): string => `${stamp(ms)} [${stamp(ms).slice(0, 19).replace("T", " ")}] ${text}`;
  return [...steps.map((s) => line(s.atMs, s.line)), line(readyAtMs, "The server is fired up and ready to roll!")].join("\n");
}

describe("planBoot", () => {
  it("a miss spends the compile time before the capture and delays the port and /health by exactly as much", () => {
    const miss = planBoot(TIMING, { hit: false, markerPath: "/c/m" });
    const hit = planBoot(TIMING, { hit: true, markerPath: "/c/m" });
    expect([miss.listenAtMs, miss.readyAtMs, miss.compileMs]).toEqual([1000 + 4000, 1500 + 4000, 4000]);
    expect([hit.listenAtMs, hit.readyAtMs, hit.compileMs]).toEqual([1000, 1500, 0]);
    expect(miss.steps.map((s) => s.line.split(/[.:]/)[0])).toEqual([
      "Load weight begin",
      "Load weight end",
      "KV Cache is allocated",
      "Memory pool end",
      "simulator",
      "simulator",
      "Capture target decode CUDA graph begin",
      "Capture target decode CUDA graph end",
    ]);
    expect(miss.steps.filter((s) => s.writeMarker).map((s) => s.atMs)).toEqual([700 + 4000]);
    expect(hit.steps.some((s) => s.writeMarker)).toBe(false);
    // Times never run backwards.
    for (const plan of [miss, hit]) expect(plan.steps.map((s) => s.atMs)).toEqual([...plan.steps.map((s) => s.atMs)].sort((a, b) => a - b));
  });

  it("compileMs 0 models no compile: no compile lines and the timing model's own listen/ready times", () => {
    const plan = planBoot({ ...TIMING, compileMs: 0 }, { hit: false });
    expect(plan.steps.some((s) => s.line.startsWith("simulator: compile"))).toBe(false);
    expect([plan.listenAtMs, plan.readyAtMs]).toEqual([1000, 1500]);
  });

  it("prints the lines the stack's boot-log reader turns into phases: cold shows the compile, warm skips it", () => {
    const cold = planBoot(TIMING, { hit: false, markerPath: "/c/m" });
    const warm = planBoot(TIMING, { hit: true, markerPath: "/c/m" });
    const coldSummary = summarizeBootLog(asDockerLog(cold.steps, cold.readyAtMs));
    const warmSummary = summarizeBootLog(asDockerLog(warm.steps, warm.readyAtMs));
    expect(coldSummary.phases.map((p) => [p.phase, p.seconds])).toEqual([
      ["weightsLoad", 0.6],
      ["memoryPool", 0.1],
      ["compile", 4],
      ["cudaGraphCapture", 0.3],
      ["warmup", 0.5],
    ]);
    expect(coldSummary.compileCacheHit).toBe(false);
    expect(warmSummary.compileCacheHit).toBe(true);
    expect(warmSummary.phases.find((p) => p.phase === "compile")?.seconds).toBe(0);
    expect(Date.parse(coldSummary.readyAt!) - Date.parse(warmSummary.readyAt!)).toBe(4000);
  });
});

describe("compile cache marker", () => {
  it("is found only for the key that wrote it, and only with a cache directory", () => {
    const dir = cacheDir();
    const mine = { dir, key: "3f9ac1e07b2d4a55-nvidia-b200" };
    expect(compileCacheHit(mine)).toBe(false);
    writeCompileMarker(mine);
    expect(compileCacheHit(mine)).toBe(true);
    expect(compileCacheHit({ dir, key: "aaaaaaaaaaaaaaaa-nvidia-b200" })).toBe(false);
    expect(compileMarkerPath({ key: "k" })).toBeUndefined();
    writeCompileMarker({ key: "k" });
    expect(compileCacheHit({ key: "k" })).toBe(false);
  });

  it("reads SGLANG_CACHE_DIR and HGX_COMPILE_CACHE_KEY from the environment (empty = unset), through the CLI too", () => {
    expect(compileCacheFromEnv({ SGLANG_CACHE_DIR: "/var/cache/hgx-compile/k/sglang", HGX_COMPILE_CACHE_KEY: "k" })).toEqual({ dir: "/var/cache/hgx-compile/k/sglang", key: "k" });
    expect(compileCacheFromEnv({ SGLANG_CACHE_DIR: "" })).toEqual({});
    const parsed = parseLaunchArgs(["--sim-compile-ms", "250"], { SGLANG_CACHE_DIR: "/c", HGX_COMPILE_CACHE_KEY: "k" });
    expect(parsed.options.timing?.compileMs).toBe(250);
    expect(parsed.options.compileCache).toEqual({ dir: "/c", key: "k" });
    expect(() => parseLaunchArgs(["--sim-compile-ms", "-1"])).toThrow(/compileMs must be a finite number >= 0/);
  });
});

describe("the simulator's boot on its own timers", () => {
  it("first start: compile miss, marker written after the compile time, port later; second start: hit, port at R", async () => {
    // Fake timers: each phase lasts until the test moves time on, so the checks hold however slow the machine is.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    const dir = cacheDir();
    const cache = { dir, key: "3f9ac1e07b2d4a55-nvidia-b200" };
    const marker = compileMarkerPath(cache)!;
    const coldLog: string[] = [];
    const cold = await startSimulator({ timing: TIMING, compileCache: cache, tokenizer: "estimate", log: (l) => coldLog.push(l) });
    sims.push(cold);
    await vi.advanceTimersByTimeAsync(700);
    expect(coldLog.some((l) => l.startsWith("simulator: compile cache miss"))).toBe(true);
    await vi.advanceTimersByTimeAsync(3999);
    expect(existsSync(marker)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(existsSync(marker)).toBe(true);
    expect(cold.phase()).toBe("refusing");
    await vi.advanceTimersByTimeAsync(300);
    await cold.whenListening;
    await vi.advanceTimersByTimeAsync(500);
    await cold.whenHealthy;
    expect(coldLog.at(-1)).toBe("The server is fired up and ready to roll!");
    await cold.close();

    const warmLog: string[] = [];
    const warm = await startSimulator({ timing: TIMING, compileCache: cache, tokenizer: "estimate", log: (l) => warmLog.push(l) });
    sims.push(warm);
    await vi.advanceTimersByTimeAsync(999);
    expect(warm.phase()).toBe("refusing");
    expect(warmLog.filter((l) => l.startsWith("simulator: compile"))).toEqual([
      `simulator: compile cache hit: ${marker}, compile skipped (would take 4.00 s)`,
    ]);
    await vi.advanceTimersByTimeAsync(1);
    await warm.whenListening;
    await vi.advanceTimersByTimeAsync(500);
    await warm.whenHealthy;
  });
});
