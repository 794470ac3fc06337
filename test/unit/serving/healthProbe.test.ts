import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { healthProbeCommand } from "../../../components/serving/containerSpec";
import { FAST_TIMING, type RunningSimulator, startSimulator } from "../../fixtures/sglang-simulator";

// The container's Docker health probe, run here against the simulator through both branches:
// curl (SGLang images ship it) and python3 urllib (fallback for images without curl).
let sim: RunningSimulator | undefined;
let pyOnly: string;

beforeAll(() => {
  pyOnly = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-probe-"));
  const python = ["/usr/bin/python3", "/bin/python3"].find((p) => fs.existsSync(p));
  if (python === undefined) throw new Error("python3 is required for the health-probe fallback test (apt-get install python3)");
  fs.symlinkSync(python, path.join(pyOnly, "python3"));
});
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});
afterAll(() => fs.rmSync(pyOnly, { recursive: true, force: true }));

/** Async on purpose: the simulator runs in this process, so a sync spawn would block its answers. */
function probe(port: number, PATH: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", healthProbeCommand(port, "/health")], { env: { PATH }, stdio: "ignore", timeout: 30_000 });
    child.on("error", reject);
    child.on("close", (code) => resolve(code));
  });
}

describe("container health probe", () => {
  it.each([
    ["curl", () => process.env.PATH ?? ""],
    ["python3 fallback (no curl on PATH)", () => pyOnly],
  ])("%s: non-zero while warming, zero once /health is 200", async (_label, pathOf) => {
    sim = await startSimulator({ timing: { ...FAST_TIMING, loadMs: 60_000, refuseConnectionsMs: 0 }, tokenizer: "estimate" });
    await sim.whenListening;
    expect(await probe(sim.port, pathOf())).not.toBe(0); // 503 while warming
    await sim.close();
    sim = await startSimulator({ timing: FAST_TIMING, tokenizer: "estimate" });
    await sim.whenHealthy;
    expect(await probe(sim.port, pathOf())).toBe(0);
  });

  it("fails when nothing listens", async () => {
    expect(await probe(1, process.env.PATH ?? "")).not.toBe(0);
    expect(await probe(1, pyOnly)).not.toBe(0);
  });
});
