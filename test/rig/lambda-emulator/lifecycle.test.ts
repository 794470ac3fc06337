// State transitions and bookkeeping: boot, restart, terminate, filesystem and ruleset use,
// leak detection, options, seeding, and the request log's handling of the API key.
// The emulator runs on a virtual clock that only the test moves: each transition is checked at its
// exact time, whatever the machine's load.
import { createHash } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startLambdaEmulator, type ApiFilesystem, type ApiFirewallRuleset, type ApiInstance, type EmulatorOptions, type LambdaEmulator } from "../../fixtures/lambda-emulator";
import { SteppingClock } from "../../fixtures/steppingClock";
import { call, data, errorCode } from "./http";

let clock: SteppingClock;
beforeEach(() => {
  clock = new SteppingClock();
});
const started: LambdaEmulator[] = [];
async function start(opts: EmulatorOptions = {}): Promise<LambdaEmulator> {
  // Raw, unpaced requests: the vendor rate limit is off (it has its own tests in faults.test.ts).
  const emu = await startLambdaEmulator({ clock: { now: clock.now }, rateLimit: null, ...opts });
  started.push(emu);
  return emu;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((e) => e.close()));
});

async function launch(emu: LambdaEmulator, extra: Record<string, unknown> = {}): Promise<string> {
  if (!emu.state.sshKeys().some((k) => k.name === "lc-key")) emu.seed.sshKey("lc-key");
  const res = await call(emu, "POST", "/instance-operations/launch", {
    region_name: "us-east-1",
    instance_type_name: "gpu_8x_b200_sxm6",
    ssh_key_names: ["lc-key"],
    ...extra,
  });
  return data<{ instance_ids: string[] }>(res).instance_ids[0];
}

async function instance(emu: LambdaEmulator, id: string): Promise<ApiInstance> {
  return data<ApiInstance>(await call(emu, "GET", `/instances/${id}`));
}

describe("instance lifecycle", () => {
  it("boots: booting without ip, then active with the configured ip", async () => {
    const emu = await start({ bootMs: 150, instanceIp: "127.0.0.9" });
    const id = await launch(emu, { name: "box" });
    const first = await instance(emu, id);
    expect(first.status).toBe("booting");
    expect(first.ip).toBeUndefined();
    expect(first.actions.restart.available).toBe(false);
    clock.advance(149);
    const still = await instance(emu, id);
    expect(still.status).toBe("booting");
    expect(still.ip).toBeUndefined();
    clock.advance(1);
    const active = await instance(emu, id);
    expect(active.status).toBe("active");
    expect(active.ip).toBe("127.0.0.9");
    expect(active.actions.terminate.available).toBe(true);
  });

  it("restart sends an active instance back to booting, keeping its ip", async () => {
    const emu = await start({ bootMs: 30 });
    const id = await launch(emu);
    clock.advance(30);
    expect((await instance(emu, id)).status).toBe("active");
    const res = data<{ restarted_instances: ApiInstance[] }>(await call(emu, "POST", "/instance-operations/restart", { instance_ids: [id] }));
    expect(res.restarted_instances[0]).toMatchObject({ id, status: "booting", ip: "127.0.0.1" });
    clock.advance(29);
    expect((await instance(emu, id)).status).toBe("booting");
    clock.advance(1);
    expect((await instance(emu, id)).status).toBe("active");
  });

  it("terminates: terminating, then terminated = 404 and gone from the list, kept in history", async () => {
    const emu = await start({ bootMs: 0, terminateMs: 200 });
    const id = await launch(emu);
    expect(emu.leakedInstances().map((i) => i.id)).toEqual([id]);
    const t = data<{ terminated_instances: ApiInstance[] }>(await call(emu, "POST", "/instance-operations/terminate", { instance_ids: [id] }));
    expect(t.terminated_instances[0].status).toBe("terminating");
    expect(emu.leakedInstances()).toEqual([]);
    expect((await instance(emu, id)).status).toBe("terminating");
    // Terminating again while terminating is accepted and changes nothing.
    const again = await call(emu, "POST", "/instance-operations/terminate", { instance_ids: [id] });
    expect(again.status).toBe(200);
    clock.advance(199);
    expect((await instance(emu, id)).status).toBe("terminating");
    clock.advance(1);
    const gone = await call(emu, "GET", `/instances/${id}`);
    expect(errorCode(gone)).toBe("global/object-does-not-exist");
    expect(data<ApiInstance[]>(await call(emu, "GET", "/instances"))).toEqual([]);
    const history = emu.state.instance(id);
    expect(history?.status).toBe("terminated");
    expect((history?.terminatedAt ?? 0) - (history?.terminateRequestedAt ?? 0)).toBe(200);
    // Terminated instances cannot be terminated again.
    expect((await call(emu, "POST", "/instance-operations/terminate", { instance_ids: [id] })).status).toBe(404);
  });

  it("a filesystem is in use until its instance is terminated plus the configured hold, then deletable", async () => {
    const emu = await start({ bootMs: 0, terminateMs: 20, filesystemInUseAfterTerminateMs: 200 });
    const fs = emu.seed.filesystem("lc-fs", "us-east-1");
    const id = await launch(emu, { file_system_names: ["lc-fs"] });
    const listed = data<ApiFilesystem[]>(await call(emu, "GET", "/file-systems"));
    expect(listed[0].is_in_use).toBe(true);
    expect(errorCode(await call(emu, "DELETE", `/filesystems/${fs.id}`))).toBe("filesystems/filesystem-in-use");
    await call(emu, "POST", "/instance-operations/terminate", { instance_ids: [id] });
    clock.advance(20);
    expect(emu.state.instance(id)?.status).toBe("terminated");
    // Terminated, but the hold has not passed yet.
    expect(errorCode(await call(emu, "DELETE", `/filesystems/${fs.id}`))).toBe("filesystems/filesystem-in-use");
    clock.advance(199);
    expect(errorCode(await call(emu, "DELETE", `/filesystems/${fs.id}`))).toBe("filesystems/filesystem-in-use");
    clock.advance(1);
    expect((await call(emu, "DELETE", `/filesystems/${fs.id}`)).status).toBe(200);
    expect(emu.state.filesystems()).toEqual([]);
  });

  it("mounts a filesystem by id at a custom mount point", async () => {
    const emu = await start({ bootMs: 0 });
    const fs = emu.seed.filesystem("lc-data", "us-east-1");
    const id = await launch(emu, { file_system_mounts: [{ file_system_id: fs.id, mount_point: "/data/weights" }] });
    const inst = await instance(emu, id);
    expect(inst.file_system_names).toEqual(["lc-data"]);
    expect(inst.file_system_mounts).toEqual([{ file_system_id: fs.id, mount_point: "/data/weights" }]);
  });

  it("a firewall ruleset lists its instances and is deletable once they are terminated", async () => {
    const emu = await start({ bootMs: 0, terminateMs: 10 });
    const rs = emu.seed.firewallRuleset("lc-rs", "us-east-1", [
      { protocol: "tcp", port_range: [22, 22], source_network: "0.0.0.0/0", description: "ssh" },
    ]);
    const id = await launch(emu, { firewall_rulesets: [{ id: rs.id }] });
    expect(data<ApiFirewallRuleset>(await call(emu, "GET", `/firewall-rulesets/${rs.id}`)).instance_ids).toEqual([id]);
    expect((await instance(emu, id)).firewall_rulesets).toEqual([{ id: rs.id }]);
    expect(errorCode(await call(emu, "DELETE", `/firewall-rulesets/${rs.id}`))).toBe("firewall-rulesets/firewall-ruleset-in-use");
    await call(emu, "POST", "/instance-operations/terminate", { instance_ids: [id] });
    clock.advance(9);
    expect(errorCode(await call(emu, "DELETE", `/firewall-rulesets/${rs.id}`))).toBe("firewall-rulesets/firewall-ruleset-in-use");
    clock.advance(1);
    expect((await call(emu, "DELETE", `/firewall-rulesets/${rs.id}`)).status).toBe(200);
  });

  it("rename changes only the name; the name is not unique", async () => {
    const emu = await start({ bootMs: 0 });
    const a = await launch(emu, { name: "same", tags: [{ key: "hgx:stack", value: "dev" }] });
    const b = await launch(emu, { name: "same" });
    expect(a).not.toBe(b);
    const renamed = data<ApiInstance>(await call(emu, "POST", `/instances/${a}`, { name: "other" }));
    expect(renamed).toMatchObject({ id: a, name: "other", tags: [{ key: "hgx:stack", value: "dev" }] });
    expect((await instance(emu, b)).name).toBe("same");
  });

  it("defaults to the gpu-base image and accepts an image id from the same region only", async () => {
    const emu = await start({ bootMs: 0 });
    const images = data<{ id: string; family: string; region: { name: string } }[]>(await call(emu, "GET", "/images"));
    const id = await launch(emu);
    expect(emu.state.instance(id)?.image.family).toBe("gpu-base-24-04");
    const east = images.find((i) => i.region.name === "us-east-1" && i.family === "ubuntu-24-04");
    const west = images.find((i) => i.region.name === "us-west-1");
    const withId = await launch(emu, { image: { id: east?.id } });
    expect(emu.state.instance(withId)?.image).toEqual({ id: east?.id, family: "ubuntu-24-04" });
    emu.seed.sshKey("k2");
    const wrong = await call(emu, "POST", "/instance-operations/launch", {
      region_name: "us-east-1",
      instance_type_name: "gpu_8x_b200_sxm6",
      ssh_key_names: ["k2"],
      image: { id: west?.id },
    });
    expect(errorCode(wrong)).toBe("global/object-does-not-exist");
  });
});

describe("options, inspection and secrets", () => {
  it("capacity and prices come from options", async () => {
    const emu = await start({
      bootMs: 0,
      capacity: { gpu_8x_b200_sxm6: ["us-south-1"] },
      priceCentsPerHour: { gpu_8x_b200_sxm6: 5352 },
    });
    const types = data<Record<string, { instance_type: { price_cents_per_hour: number }; regions_with_capacity_available: { name: string }[] }>>(
      await call(emu, "GET", "/instance-types"),
    );
    expect(types.gpu_8x_b200_sxm6.instance_type.price_cents_per_hour).toBe(5352);
    expect(types.gpu_8x_b200_sxm6.regions_with_capacity_available.map((r) => r.name)).toEqual(["us-south-1"]);
    expect(types.gpu_8x_h100_sxm5.regions_with_capacity_available.length).toBeGreaterThan(1);
    emu.seed.sshKey("k");
    const body = { instance_type_name: "gpu_8x_b200_sxm6", ssh_key_names: ["k"] };
    const refused = await call(emu, "POST", "/instance-operations/launch", { ...body, region_name: "us-east-1" });
    expect(errorCode(refused)).toBe("instance-operations/launch/insufficient-capacity");
    const ok = await call(emu, "POST", "/instance-operations/launch", { ...body, region_name: "us-south-1" });
    const id = data<{ instance_ids: string[] }>(ok).instance_ids[0];
    expect((await instance(emu, id)).instance_type.price_cents_per_hour).toBe(5352);
  });

  it("rejects bad options with the setting, the value and the fix", async () => {
    await expect(startLambdaEmulator({ regions: ["mars-1"] })).rejects.toThrow(/regions: 'mars-1' is not a Lambda region; use one of .*us-east-1/);
    await expect(startLambdaEmulator({ capacity: { gpu_nope: [] } })).rejects.toThrow(/capacity: unknown instance type 'gpu_nope'/);
    await expect(startLambdaEmulator({ bootMs: -1 })).rejects.toThrow(/bootMs/);
  });

  it("serves only the configured regions", async () => {
    const emu = await start({ regions: ["us-east-1", "europe-central-1"] });
    const res = await call(emu, "POST", "/filesystems", { name: "x", region: "us-west-1" });
    expect(errorCode(res)).toBe("global/invalid-parameters");
    const images = data<{ region: { name: string } }[]>(await call(emu, "GET", "/images"));
    expect(new Set(images.map((i) => i.region.name))).toEqual(new Set(["us-east-1", "europe-central-1"]));
  });

  it("request log records method, path, status and timing but never the key; private keys and user_data are not kept", async () => {
    const emu = await start({ apiKey: "secret_test_key_123", bootMs: 0 });
    const gen = data<{ private_key: string }>(await call(emu, "POST", "/ssh-keys", { name: "k" }));
    await call(emu, "GET", "/instances", undefined, { authorization: "Bearer secret_wrong_456" });
    const id = await launch(emu, { user_data: "#cloud-config\nHF_TOKEN=hf_secret_789\n", ssh_key_names: ["k"] });
    await call(emu, "GET", `/instances/${id}?x=1`);
    const log = emu.requests();
    expect(log.map((e) => [e.method, e.path, e.status])).toEqual([
      ["POST", "/api/v1/ssh-keys", 200],
      ["GET", "/api/v1/instances", 401],
      ["POST", "/api/v1/instance-operations/launch", 200],
      ["GET", `/api/v1/instances/${id}`, 200],
    ]);
    expect(log[1].errorCode).toBe("global/invalid-api-key");
    for (const e of log) {
      expect(e.at).toBeGreaterThan(0);
      expect(e.durationMs).toBeGreaterThanOrEqual(0);
    }
    const everything = JSON.stringify({ log, state: await (await fetch(`${emu.origin}/_emulator/state`)).json() });
    for (const secret of ["secret_test_key_123", "secret_wrong_456", "hf_secret_789", gen.private_key.split("\n")[1]]) {
      expect(everything).not.toContain(secret);
    }
    expect(emu.state.instance(id)?.userDataBytes).toBe(Buffer.byteLength("#cloud-config\nHF_TOKEN=hf_secret_789\n"));
  });

  it("records a launch's cloud-init user_data by its public facts and hands it to the cloud-init hook", async () => {
    const seen: Array<{ userData: string; id: string }> = [];
    const emu = await start({ bootMs: 0, cloudInit: (userData, id) => seen.push({ userData, id }) });
    const userData = "#cloud-config\nssh_deletekeys: true\nssh_keys:\n  ed25519_private: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n    c2VjcmV0\n    -----END OPENSSH PRIVATE KEY-----\n  ed25519_public: ssh-ed25519 AAAAC3Nza host\n";
    const id = await launch(emu, { user_data: userData });
    expect(seen).toEqual([{ userData, id }]);
    expect(emu.state.instance(id)?.userData).toEqual({
      bytes: Buffer.byteLength(userData),
      sha256: createHash("sha256").update(userData).digest("hex"),
      cloudConfig: true,
      keys: ["ssh_deletekeys", "ssh_keys"],
      sshHostPublicKey: "ssh-ed25519 AAAAC3Nza host",
    });
    // The private half is never kept (state view, control endpoint).
    expect(JSON.stringify(await (await fetch(`${emu.origin}/_emulator/state`)).json())).not.toContain("c2VjcmV0");
    // Not cloud-config: recorded as such; no user_data: no record, no hook call.
    const plain = await launch(emu, { user_data: "#!/bin/sh\necho hi\n" });
    expect(emu.state.instance(plain)?.userData).toMatchObject({ cloudConfig: false, keys: [] });
    const none = await launch(emu);
    expect(emu.state.instance(none)?.userData).toBeUndefined();
    expect(seen).toHaveLength(2);
    // Over the 1 MB the OpenAPI file allows: refused.
    const res = await call(emu, "POST", "/instance-operations/launch", {
      region_name: "us-east-1", instance_type_name: "gpu_8x_b200_sxm6", ssh_key_names: ["lc-key"], user_data: "x".repeat(1024 * 1024 + 1),
    });
    expect(errorCode(res)).toBe("global/invalid-parameters");
  });

  it("filesystems are capped at 24 per account (global/quota-exceeded)", async () => {
    const emu = await start();
    for (let i = 0; i < 24; i++) emu.seed.filesystem(`fs${i}`, "us-east-1");
    expect(errorCode(await call(emu, "POST", "/filesystems", { name: "one-more", region: "us-east-1" }))).toBe("global/quota-exceeded");
  });

  it("state views are copies", async () => {
    const emu = await start({ bootMs: 0 });
    const id = await launch(emu, { name: "orig" });
    const view = emu.state.instance(id);
    if (view) view.name = "mutated";
    expect((await instance(emu, id)).name).toBe("orig");
  });

  it("unknown routes and methods answer vendor-shaped errors", async () => {
    const emu = await start();
    const missing = await call(emu, "GET", "/nope");
    expect(missing.status).toBe(404);
    const wrongMethod = await call(emu, "DELETE", "/instances");
    expect(wrongMethod.status).toBe(405);
    expect(errorCode(wrongMethod)).toBe("global/method-not-allowed");
  });

  it("close() stops the server even with a delayed response pending", async () => {
    const emu = await startLambdaEmulator({ rateLimit: null });
    emu.faults.delayResponses(5_000, 1);
    // Started before the request, so it fires before the emulator's own delay would: if close()
    // waited for the held response, this would win the race (ordering, not a time limit).
    const stop = new AbortController();
    const heldResponseDue = delay(5_000, "close waited for the held response", { signal: stop.signal }).catch(() => "cancelled");
    const pending = call(emu, "GET", "/instances").catch((e: unknown) => e);
    await delay(20); // lets the request reach the emulator (if it has not yet, close() is tested without it: no false failure)
    const first = await Promise.race([emu.close().then(() => "closed"), heldResponseDue]);
    stop.abort();
    expect(first).toBe("closed");
    expect(await pending).toBeInstanceOf(Error);
  });
});
