/**
 * The SSH test host's GPU stand-ins, without Docker: the nvidia-smi script's output formats, and the
 * NVIDIA runtime hook run the way runc runs a prestart hook (container state on stdin, bundle on disk).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  GPU_INVENTORY_MARKER,
  HGX_B200_INVENTORY,
  gpuUuid,
  renderNvidiaContainerRuntimeHook,
  renderNvidiaSmi,
} from "../../fixtures/ssh-host/gpuStandIns";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-standins-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function smi(script: string, args: string[]) {
  const file = path.join(root, `smi-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(file, script, { mode: 0o755 });
  return spawnSync("/bin/sh", [file, ...args], { encoding: "utf8" });
}

describe("nvidia-smi stand-in", () => {
  it("lists GPUs like nvidia-smi -L", () => {
    const r = smi(renderNvidiaSmi(HGX_B200_INVENTORY), ["-L"]);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(8);
    expect(lines[0]).toBe(`GPU 0: NVIDIA B200 (UUID: ${gpuUuid(0)})`);
  });

  it("answers --query-gpu in csv with and without header/units", () => {
    const inv = { ...HGX_B200_INVENTORY, count: 2 };
    expect(smi(renderNvidiaSmi(inv), ["--query-gpu=name,memory.total", "--format=csv,noheader"]).stdout).toBe(
      "NVIDIA B200, 183359 MiB\nNVIDIA B200, 183359 MiB\n",
    );
    expect(smi(renderNvidiaSmi(inv), ["--query-gpu=index,memory.total", "--format=csv,nounits"]).stdout).toBe(
      "index, memory.total\n0, 183359\n1, 183359\n",
    );
  });

  it("fails like nvidia-smi on no devices and on unknown fields", () => {
    const none = smi(renderNvidiaSmi({ ...HGX_B200_INVENTORY, count: 0 }), ["-L"]);
    expect([none.status, none.stdout.trim()]).toEqual([6, "No devices were found"]);
    const bad = smi(renderNvidiaSmi(HGX_B200_INVENTORY), ["--query-gpu=bogus", "--format=csv,noheader"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('Field "bogus" is not a valid field to query.');
  });
});

describe("nvidia-container-runtime-hook stand-in", () => {
  const hook = path.join(root, "hook");
  fs.writeFileSync(hook, renderNvidiaContainerRuntimeHook(process.execPath, HGX_B200_INVENTORY), { mode: 0o755 });

  function prestart(env: string[], marker?: object) {
    const bundle = fs.mkdtempSync(path.join(root, "bundle-"));
    fs.mkdirSync(path.join(bundle, "rootfs", "etc", "hgx-test"), { recursive: true });
    if (marker) fs.writeFileSync(path.join(bundle, "rootfs", GPU_INVENTORY_MARKER), JSON.stringify(marker));
    fs.writeFileSync(path.join(bundle, "config.json"), JSON.stringify({ root: { path: "rootfs" }, process: { env } }));
    const r = spawnSync(hook, ["prestart"], { input: JSON.stringify({ id: "c1", pid: 1, bundle }), encoding: "utf8" });
    const injected = path.join(bundle, "rootfs", "usr", "bin", "nvidia-smi");
    return { r, injected, exists: fs.existsSync(injected) };
  }

  it("injects nvidia-smi presenting all GPUs for NVIDIA_VISIBLE_DEVICES=all", () => {
    const { r, injected, exists } = prestart(["PATH=/bin", "NVIDIA_VISIBLE_DEVICES=all"]);
    expect(r.status).toBe(0);
    expect(exists).toBe(true);
    expect(smi(fs.readFileSync(injected, "utf8"), ["-L"]).stdout.trim().split("\n")).toHaveLength(8);
  });

  it("presents only the requested devices (docker run --gpus 2 / device=0,2)", () => {
    const { injected } = prestart(["NVIDIA_VISIBLE_DEVICES=0,2"]);
    expect(smi(fs.readFileSync(injected, "utf8"), ["-L"]).stdout).toBe(
      `GPU 0: NVIDIA B200 (UUID: ${gpuUuid(0)})\nGPU 2: NVIDIA B200 (UUID: ${gpuUuid(2)})\n`,
    );
  });

  it("uses the image's inventory marker and leaves containers without GPUs alone", () => {
    const { injected } = prestart(["NVIDIA_VISIBLE_DEVICES=all"], { ...HGX_B200_INVENTORY, count: 3, model: "NVIDIA H100" });
    expect(smi(fs.readFileSync(injected, "utf8"), ["--query-gpu=name", "--format=csv,noheader"]).stdout).toBe("NVIDIA H100\nNVIDIA H100\nNVIDIA H100\n");
    expect(prestart(["PATH=/bin"]).exists).toBe(false);
    expect(prestart(["NVIDIA_VISIBLE_DEVICES=void"]).exists).toBe(false);
  });

  it("fails the container start on an unknown device, as the real hook does", () => {
    const { r } = prestart(["NVIDIA_VISIBLE_DEVICES=9"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("unknown device 9 (this machine presents 8 GPUs)");
  });
});
