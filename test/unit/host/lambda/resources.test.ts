// SshKey, Filesystem and FirewallRuleset providers called directly against the emulator.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LAMBDA_PROVIDER_VERSION } from "../../../../components/host/lambda/common";
import { FilesystemProvider, type FilesystemInputs } from "../../../../components/host/lambda/filesystem";
import { FirewallAdmissionProvider, FirewallRulesetProvider, type FirewallRulesetInputs } from "../../../../components/host/lambda/firewallRuleset";
import { InstanceProvider } from "../../../../components/host/lambda/instance";
import { SshKeyProvider } from "../../../../components/host/lambda/sshKey";
import { generateEd25519KeyPair } from "../../../fixtures/lambda-emulator";
import { SteppingClock } from "../../../fixtures/steppingClock";
import { assertClean, FAST_ENV, instanceInputs, rejectionOf, startHarness, type Harness } from "./harness";

let h: Harness;
let errors: unknown[];
/** Shared by the emulator and the providers whose waits a test steps (see the in-use tests). */
let clock: SteppingClock;

beforeEach(async () => {
  clock = new SteppingClock();
  h = await startHarness({ clock: { now: clock.now } });
  errors = [];
});
afterEach(async () => {
  try {
    const leaked = h.emu.leakedInstances().map((i) => i.id);
    expect(leaked).toEqual([]);
    assertClean(h, errors);
  } finally {
    await h.restore();
  }
});

const v = LAMBDA_PROVIDER_VERSION;

describe("SshKeyProvider", () => {
  it("has the API generate a pair; the private key is an output and never logged", async () => {
    const p = new SshKeyProvider();
    const { id, outs } = await p.create({ providerVersion: v, keyName: "hgx-unit-key" });
    expect(outs.privateKey).toMatch(/PRIVATE KEY/);
    expect(outs.publicKeyOpenssh).toMatch(/^ssh-/);
    expect(h.emu.state.sshKeys().map((k) => k.name)).toEqual(["hgx-unit-key"]);
    for (const line of h.lines) expect(line).not.toContain(outs.privateKey.split("\n")[1]);
    await p.delete(id, outs);
    expect(h.emu.state.sshKeys()).toEqual([]);
    await p.delete(id, outs); // already gone: fine
  });

  it("registers a given public key, adopts it on a re-run, refuses a clashing one", async () => {
    const pair = generateEd25519KeyPair("unit@test");
    const p = new SshKeyProvider();
    const first = await p.create({ providerVersion: v, keyName: "given", publicKey: pair.publicKey });
    expect(first.outs.privateKey).toBe("");
    // Re-run after a crash that lost the state write: same name + same key = adopt.
    const again = await p.create({ providerVersion: v, keyName: "given", publicKey: pair.publicKey });
    expect(again.id).toBe(first.id);
    const other = generateEd25519KeyPair("unit@test");
    const e = await rejectionOf(() => p.create({ providerVersion: v, keyName: "given", publicKey: other.publicKey }));
    errors.push(e);
    expect(e.message).toMatch(/already exists in the Lambda account with a different public key/);
    await p.delete(first.id, first.outs);
  });

  it("replaces a generated key whose private half a crashed run lost", async () => {
    h.emu.seed.sshKey("lost");
    const p = new SshKeyProvider();
    const { id, outs } = await p.create({ providerVersion: v, keyName: "lost" });
    expect(outs.privateKey).toMatch(/PRIVATE KEY/);
    expect(h.emu.state.sshKeys().map((k) => k.id)).toEqual([id]);
    await p.delete(id, outs);
  });

  it("check rejects a private key passed as public key; diff replaces on key change; read drops a vanished key", async () => {
    const p = new SshKeyProvider();
    const c = await p.check({ providerVersion: v, keyName: "k" }, { providerVersion: v, keyName: "k", publicKey: "-----BEGIN OPENSSH PRIVATE KEY-----" });
    expect(c.failures?.[0]).toMatchObject({ property: "publicKey" });
    expect(c.failures?.[0].reason).toMatch(/not the private key/);
    const { id, outs } = await p.create({ providerVersion: v, keyName: "k" });
    expect(await p.diff(id, outs, { providerVersion: v, keyName: "k" })).toMatchObject({ changes: false, replaces: [] });
    expect(await p.diff(id, outs, { providerVersion: v, keyName: "k2" })).toMatchObject({ changes: true, replaces: ["keyName"], deleteBeforeReplace: true });
    expect(await p.diff(id, outs, { providerVersion: "2", keyName: "k" })).toMatchObject({ changes: true, replaces: [] });
    const upd = await p.update(id, outs, { providerVersion: "2", keyName: "k" });
    expect(upd.outs?.privateKey).toBe(outs.privateKey);
    expect(upd.outs?.providerVersion).toBe("2");
    expect((await p.read(id, outs)).id).toBe(id);
    await p.delete(id, outs);
    expect((await p.read(id, outs)).id).toBe("");
  });
});

describe("FilesystemProvider", () => {
  const inputs = (over: Partial<FilesystemInputs> = {}): FilesystemInputs => ({
    providerVersion: v,
    fsName: "hf-cache",
    regions: ["us-east-1", "us-west-1"],
    instanceType: "gpu_8x_b200_sxm6",
    ...over,
  });

  it("creates in the first preferred region with capacity, adopts it by name later", async () => {
    h.emu.faults.setCapacity("gpu_8x_b200_sxm6", ["us-west-1"]);
    const p = new FilesystemProvider();
    const { id, outs } = await p.create(inputs());
    expect(outs).toMatchObject({ region: "us-west-1", mountPoint: "/lambda/nfs/hf-cache", adopted: false, filesystemId: id });
    const again = await p.create(inputs({ regions: ["us-south-1"] }));
    expect(again).toMatchObject({ id, outs: { region: "us-west-1", adopted: true } });
    // Region preferences are creation hints: no diff. A new name replaces.
    expect(await p.diff(id, outs, inputs({ regions: ["us-south-1"] }))).toMatchObject({ changes: false });
    expect(await p.diff(id, outs, inputs({ fsName: "other" }))).toMatchObject({ changes: true, replaces: ["fsName"] });
    await p.delete(id, outs);
    expect(h.emu.state.filesystems()).toEqual([]);
    expect((await p.read(id, outs)).id).toBe("");
  });

  it("delete retries while the filesystem is still in use after its instance terminated", async () => {
    h.emu.seed.sshKey("hgx-test-key");
    const fsp = new FilesystemProvider(clock);
    const fs = await fsp.create(inputs());
    const ip = new InstanceProvider(clock);
    const inst = await ip.create(instanceInputs({ filesystemName: "hf-cache" }));
    const holdMs = 300;
    h.emu.faults.filesystemInUseFor(holdMs);
    await ip.delete(inst.id, inst.outs);
    const freedAt = (h.emu.state.instance(inst.id)?.terminatedAt ?? NaN) + holdMs;
    await fsp.delete(fs.id, fs.outs);
    // Deleted at the first attempt after the hold: attempts every poll interval until then.
    expect(clock.now()).toBe(freedAt);
    const pollMs = Number(FAST_ENV.LAMBDA_POLL_INTERVAL_MS);
    const inUse = h.emu.requests().filter((r) => r.errorCode === "filesystems/filesystem-in-use");
    expect(inUse.length).toBe(holdMs / pollMs);
    expect(h.lines.filter((l) => /filesystem "hf-cache" still in use after \d+m \d+s; retrying delete/.test(l)).length).toBe(
      Math.ceil(holdMs / Number(FAST_ENV.LAMBDA_PROGRESS_INTERVAL_MS)) - 1,
    );
    expect(h.emu.state.filesystems()).toEqual([]);
  });

  it("gives up on a filesystem held too long, saying what to do", async () => {
    h.emu.seed.sshKey("hgx-test-key");
    process.env.LAMBDA_IN_USE_TIMEOUT_MS = "150";
    const fsp = new FilesystemProvider(clock);
    const fs = await fsp.create(inputs());
    const ip = new InstanceProvider(clock);
    const inst = await ip.create(instanceInputs({ filesystemName: "hf-cache" }));
    const started = clock.now();
    const e = await rejectionOf(() => fsp.delete(fs.id, fs.outs));
    errors.push(e);
    expect(e.message).toMatch(/still in use after .*terminate the instance that mounts it/);
    // Gave up at the in-use timeout exactly (attempts at 0, 10, ..., 150 ms).
    expect(clock.now() - started).toBe(150);
    await ip.delete(inst.id, inst.outs);
    await fsp.delete(fs.id, fs.outs);
  });
});

describe("FirewallRulesetProvider", () => {
  const inputs = (over: Partial<FirewallRulesetInputs> = {}): FirewallRulesetInputs => ({
    providerVersion: v,
    rulesetName: "hgx-unit-fw",
    regions: ["us-east-1", "us-west-1"],
    sshSourceCidrs: ["0.0.0.0/0"],
    servingPort: 8000,
    servingAllowlist: [],
    ...over,
  });

  it("creates one ruleset per region with SSH open and the serving port closed when the allowlist is empty", async () => {
    const p = new FirewallRulesetProvider();
    const { id, outs } = await p.create(inputs());
    expect(Object.keys(outs.rulesetIds).sort()).toEqual(["us-east-1", "us-west-1"]);
    for (const rs of h.emu.state.firewallRulesets()) {
      expect(rs.rules.some((r) => r.protocol === "tcp" && r.port_range?.[0] === 22 && r.source_network === "0.0.0.0/0")).toBe(true);
      expect(rs.rules.some((r) => r.port_range?.[0] === 8000)).toBe(false);
    }
    // Opening the port to an allowlist is an in-place update.
    const d = await p.diff(id, outs, inputs({ servingAllowlist: ["203.0.113.7/32"] }));
    expect(d).toMatchObject({ changes: true, replaces: [] });
    const upd = await p.update(id, outs, inputs({ servingAllowlist: ["203.0.113.7/32"], regions: ["us-east-1"] }));
    expect(Object.keys(upd.outs?.rulesetIds ?? {})).toEqual(["us-east-1"]);
    const remaining = h.emu.state.firewallRulesets();
    expect(remaining.length).toBe(1);
    expect(remaining[0].rules.filter((r) => r.port_range?.[0] === 8000).map((r) => r.source_network)).toEqual(["203.0.113.7/32"]);
    await p.delete(id, upd.outs!);
    expect(h.emu.state.firewallRulesets()).toEqual([]);
    expect((await p.read(id, upd.outs!)).id).toBe("");
  });

  it("admits a later source after the fact; the ruleset's own updates keep it, its read leaves it out, delete takes it back", async () => {
    const fw = new FirewallRulesetProvider();
    const rs = await fw.create(inputs({ servingAllowlist: ["203.0.113.0/24"] }));
    const adm = new FirewallAdmissionProvider();
    const port8000 = () =>
      h.emu.state.firewallRulesets().map((r) => r.rules.filter((x) => x.port_range?.[0] === 8000).map((x) => x.source_network).sort());
    const a = await adm.create({ providerVersion: v, rulesetIds: rs.outs.rulesetIds, port: 8000, sources: ["198.51.100.20/32"] });
    expect(port8000()).toEqual([
      ["198.51.100.20/32", "203.0.113.0/24"],
      ["198.51.100.20/32", "203.0.113.0/24"],
    ]);
    // The ruleset's own change (another allowlist) keeps the admission; its read reports only its own rules.
    const upd = await fw.update(rs.id, rs.outs, inputs({ servingAllowlist: ["203.0.113.7/32"] }));
    expect(port8000()).toEqual([
      ["198.51.100.20/32", "203.0.113.7/32"],
      ["198.51.100.20/32", "203.0.113.7/32"],
    ]);
    const read = await fw.read(rs.id, upd.outs);
    expect(read.props?.rules.filter((x) => x.port_range?.[0] === 8000).map((x) => x.source_network)).toEqual(["203.0.113.7/32"]);
    expect((await fw.diff(rs.id, read.props!, inputs({ servingAllowlist: ["203.0.113.7/32"] }))).changes).toBe(false);
    // A new address for the admitted host: swapped in place.
    const news = { providerVersion: v, rulesetIds: rs.outs.rulesetIds, port: 8000, sources: ["198.51.100.21/32"] };
    expect(await adm.diff(a.id, a.outs, news)).toMatchObject({ changes: true, replaces: [] });
    const moved = await adm.update(a.id, a.outs, news);
    expect(port8000()).toEqual([
      ["198.51.100.21/32", "203.0.113.7/32"],
      ["198.51.100.21/32", "203.0.113.7/32"],
    ]);
    await adm.delete(a.id, moved.outs);
    expect(port8000()).toEqual([["203.0.113.7/32"], ["203.0.113.7/32"]]);
    // Deleting an admission whose rulesets are already gone is not an error.
    await fw.delete(rs.id, upd.outs!);
    await adm.delete(a.id, moved.outs);
    expect((await adm.check(a.outs, { ...news, sources: ["198.51.100.21"] })).failures).toEqual([
      { property: "sources", reason: 'sources: "198.51.100.21" is not an IPv4 CIDR; write it like "203.0.113.7/32"' },
    ]);
  });

  it("the instance attaches the ruleset of the region it lands in", async () => {
    h.emu.seed.sshKey("hgx-test-key");
    h.emu.faults.setCapacity("gpu_8x_b200_sxm6", ["us-west-1"]);
    const fw = new FirewallRulesetProvider();
    const rs = await fw.create(inputs());
    const ip = new InstanceProvider(clock);
    const inst = await ip.create(instanceInputs({ regions: ["us-east-1", "us-west-1"], firewallRulesetIds: rs.outs.rulesetIds }));
    expect(inst.outs.region).toBe("us-west-1");
    expect(h.emu.state.instance(inst.id)?.firewall_rulesets).toEqual([{ id: rs.outs.rulesetIds["us-west-1"] }]);
    await ip.delete(inst.id, inst.outs);
    await fw.delete(rs.id, rs.outs);
  });
});
