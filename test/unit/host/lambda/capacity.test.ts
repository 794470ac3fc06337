// Capacity and the filesystem, against the emulator: the capacity list names us-east-1, but
// launches there are refused; capacity really is in us-west-1. An empty filesystem created by
// this deployment moves there with the launch; one from an earlier deployment (it may hold the
// weights) pins us-east-1, and the policy decides: wait there (bounded), or go elsewhere without it.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { freshFilesystems, LAMBDA_PROVIDER_VERSION } from "../../../../components/host/lambda/common";
import { CapacityError } from "../../../../components/host/lambda/errors";
import { FilesystemProvider } from "../../../../components/host/lambda/filesystem";
import {
  cachePathFor,
  capacityAdvice,
  filesystemSituation,
  InstanceProvider,
  launchSteps,
  waitAttempts,
  type InstanceInputs,
} from "../../../../components/host/lambda/instance";
import { assertClean, instanceInputs, rejectionOf, startHarness, type Harness } from "./harness";

const B200 = "gpu_8x_b200_sxm6";
const FS = "hf-cache-0123456789ab";
let h: Harness;
let errors: unknown[];

beforeEach(async () => {
  h = await startHarness();
  h.emu.seed.sshKey("hgx-test-key");
  process.env.LAMBDA_CAPACITY_RETRY_MS = "20";
  errors = [];
});
afterEach(async () => {
  delete process.env.LAMBDA_CAPACITY_RETRY_MS;
  const leaked = h.emu.leakedInstances().map((i) => i.id);
  expect(leaked).toEqual([]);
  assertClean(h, errors);
  await h.restore();
});

const fsInputs = { providerVersion: LAMBDA_PROVIDER_VERSION, fsName: FS, regions: ["us-east-1", "us-west-1"], instanceType: B200 };
const withFs = (over: Partial<InstanceInputs> = {}): InstanceInputs =>
  instanceInputs({ regions: ["us-east-1", "us-west-1"], filesystemName: FS, filesystemMountPoint: "/lambda/nfs/hf-cache", ...over });
const instancesIn = (region: string) => h.emu.state.instances().filter((i) => i.region.name === region);

describe("refused in the listed region, capacity really elsewhere", () => {
  it("an empty filesystem created by this deployment moves to where the launch succeeds", async () => {
    h.emu.faults.refuseLaunchIn("us-east-1", 100);
    const fsp = new FilesystemProvider();
    const fs = await fsp.create(fsInputs);
    expect(fs.outs).toMatchObject({ region: "us-east-1", adopted: false });

    const p = new InstanceProvider();
    const { id, outs } = await p.create(withFs());
    expect(outs).toMatchObject({ region: "us-west-1", filesystemAttached: true, filesystemRegion: "us-west-1", cacheMountPath: "/lambda/nfs/hf-cache" });
    const live = h.emu.state.filesystems().filter((f) => f.name === FS);
    expect(live.map((f) => f.region.name)).toEqual(["us-west-1"]);
    expect(h.emu.state.instance(id)?.file_system_names).toEqual([FS]);
    expect(h.lines.some((l) => /filesystem "hf-cache-0123456789ab" was created empty by this deployment in us-east-1, where the launch was refused: moving it to us-west-1/.test(l))).toBe(true);
    expect(h.lines.some((l) => /moves on to the next one by itself/.test(l))).toBe(false);
    // Mounted now: never "empty" again in this process.
    expect(freshFilesystems().has(live[0].id)).toBe(false);

    // The filesystem resource finds its moved filesystem by its (identity-carrying) name.
    const healed = await fsp.read(fs.id, fs.outs);
    expect(healed).toMatchObject({ id: live[0].id, props: { region: "us-west-1", filesystemId: live[0].id } });
    await p.delete(id, outs);
    await fsp.delete(fs.id, fs.outs);
    expect(h.emu.state.filesystems()).toEqual([]);
  });

  it("a retained filesystem (may hold weights) with policy wait: retries in its region until capacity appears, never moves it", async () => {
    const seeded = h.emu.seed.filesystem(FS, "us-east-1");
    h.emu.faults.refuseLaunchIn("us-east-1", 2);
    const { id, outs } = await new InstanceProvider().create(withFs({ pinnedRegionPolicy: "wait", pinnedRegionWaitSeconds: 30 }));
    expect(outs).toMatchObject({ region: "us-east-1", filesystemAttached: true, filesystemId: seeded.id, cacheMountPath: "/lambda/nfs/hf-cache" });
    const waits = h.lines.filter((l) => /no gpu_8x_b200_sxm6 capacity in us-east-1, where filesystem "hf-cache-0123456789ab" \(which may hold the weights\) lives; lambdaPinnedRegionPolicy is "wait": trying again/.test(l));
    expect(waits).toHaveLength(2);
    expect(waits[0]).toMatch(/attempt 1\/\d+/);
    expect(h.emu.state.filesystems().map((f) => [f.id, f.region.name])).toEqual([[seeded.id, "us-east-1"]]);
    expect(h.emu.state.instances().map((i) => i.region.name)).toEqual(["us-east-1"]);
    await new InstanceProvider().delete(id, outs);
  });

  it("policy wait is bounded: the error says the filesystem pins the region and how to get out", async () => {
    h.emu.seed.filesystem(FS, "us-east-1");
    h.emu.faults.refuseLaunchIn("us-east-1", 1000);
    const e = await rejectionOf(() => new InstanceProvider().create(withFs({ pinnedRegionPolicy: "wait", pinnedRegionWaitSeconds: 0.3 })));
    errors.push(e);
    expect(e).toBeInstanceOf(CapacityError);
    expect(e.message).toMatch(/Filesystem "hf-cache-0123456789ab" \(which may hold the weights\) pins the launch to us-east-1/);
    expect(e.message).toMatch(/raise lambdaPinnedRegionWait, or set lambdaPinnedRegionPolicy to "elsewhere"/);
    const attempts = h.emu.requests().filter((r) => r.path.endsWith("/instance-operations/launch") && r.errorCode === "instance-operations/launch/insufficient-capacity");
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(h.emu.state.instances()).toEqual([]);
    expect(h.emu.state.filesystems().map((f) => f.region.name)).toEqual(["us-east-1"]);
  });

  it("a retained filesystem with policy elsewhere: launches where capacity is, without it; the cache path becomes local", async () => {
    const seeded = h.emu.seed.filesystem(FS, "us-east-1");
    h.emu.faults.refuseLaunchIn("us-east-1", 1000);
    const { id, outs } = await new InstanceProvider().create(withFs({ pinnedRegionPolicy: "elsewhere" }));
    expect(outs).toMatchObject({ region: "us-west-1", filesystemAttached: false, filesystemId: "", cacheMountPath: "/home/ubuntu/hf-cache" });
    expect(h.emu.state.instance(id)?.file_system_names).toEqual([]);
    expect(h.emu.state.filesystems().map((f) => [f.id, f.region.name])).toEqual([[seeded.id, "us-east-1"]]);
    expect(
      h.lines.some((l) =>
        /lambdaPinnedRegionPolicy is "elsewhere": trying us-west-1 WITHOUT the filesystem, so the weights go to local disk at \/home\/ubuntu\/hf-cache/.test(l),
      ),
    ).toBe(true);
    await new InstanceProvider().delete(id, outs);
  });

  it("a filesystem created earlier in this process but already mounted once is not moved", async () => {
    const fsp = new FilesystemProvider();
    const fs = await fsp.create(fsInputs);
    const first = await new InstanceProvider().create(withFs());
    await new InstanceProvider().delete(first.id, first.outs);
    h.emu.faults.refuseLaunchIn("us-east-1", 1000);
    const e = await rejectionOf(() => new InstanceProvider().create(withFs({ pinnedRegionWaitSeconds: 0.1 })));
    errors.push(e);
    expect(e.message).toMatch(/pins the launch to us-east-1/);
    expect(h.emu.state.filesystems().map((f) => [f.id, f.region.name])).toEqual([[fs.id, "us-east-1"]]);
    expect(instancesIn("us-west-1")).toEqual([]);
    await fsp.delete(fs.id, fs.outs);
  });
});

describe("placement (pure)", () => {
  const pref = ["us-east-1", "us-west-1", "us-south-1"];
  it("launchSteps: none, fresh, pinned-wait, pinned-elsewhere", () => {
    expect(launchSteps(pref, ["us-west-1"], { kind: "none" }, "wait").map((s) => s.region)).toEqual(["us-west-1", "us-east-1", "us-south-1"]);
    expect(launchSteps(pref, ["us-east-1"], { kind: "fresh", region: "us-east-1" }, "wait")).toEqual([
      { region: "us-east-1", withFilesystem: true },
      { region: "us-west-1", withFilesystem: true },
      { region: "us-south-1", withFilesystem: true },
    ]);
    expect(launchSteps(pref, ["us-west-1"], { kind: "pinned", region: "us-south-1" }, "wait")).toEqual([{ region: "us-south-1", withFilesystem: true }]);
    expect(launchSteps(pref, ["us-west-1"], { kind: "pinned", region: "us-south-1" }, "elsewhere")).toEqual([
      { region: "us-south-1", withFilesystem: true },
      { region: "us-west-1", withFilesystem: false },
      { region: "us-east-1", withFilesystem: false },
    ]);
  });
  it("filesystemSituation: fresh only if this process created it and it is not in use", () => {
    const fs = { id: "a", region: { name: "us-east-1" }, is_in_use: false };
    expect(filesystemSituation(undefined, new Set())).toEqual({ kind: "none" });
    expect(filesystemSituation(fs, new Set(["a"]))).toEqual({ kind: "fresh", region: "us-east-1" });
    expect(filesystemSituation(fs, new Set())).toEqual({ kind: "pinned", region: "us-east-1" });
    expect(filesystemSituation({ ...fs, is_in_use: true }, new Set(["a"]))).toEqual({ kind: "pinned", region: "us-east-1" });
  });
  it("waitAttempts, cachePathFor and the advice", () => {
    expect(waitAttempts(1_800_000, 60_000)).toBe(31);
    expect(waitAttempts(0, 60_000)).toBe(1);
    expect(cachePathFor({ filesystemName: "f" }, true)).toBe("/lambda/nfs/f");
    expect(cachePathFor({ filesystemName: "f", filesystemMountPoint: "/lambda/nfs/x" }, true)).toBe("/lambda/nfs/x");
    expect(cachePathFor({ filesystemName: "f", localCachePath: "/data/c" }, false)).toBe("/data/c");
    expect(cachePathFor({}, false)).toBe("");
    expect(capacityAdvice({ kind: "fresh", region: "us-east-1" }, "wait", "f", ["us-east-1", "us-west-1"], 60)).toMatch(/now lives in us-west-1/);
    expect(capacityAdvice({ kind: "none" }, "wait", "", ["us-east-1"], 60)).not.toMatch(/by itself/);
  });
});
