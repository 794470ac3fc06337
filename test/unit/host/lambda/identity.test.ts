// Stack identity: several stacks deployed concurrently against ONE emulated Lambda account (the
// dynamic providers called directly, as the engine would, in LambdaMachine's order). Two stacks
// named `dev` on different backends (different random ids), `dev` in another organization, and
// `dev_1`, `dev.1`, `dev-1`: none adopts, terminates, deletes or rewrites another's instance, SSH
// key, filesystem or firewall ruleset — not on a crash re-run, not on destroy.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LAMBDA_PROVIDER_VERSION, objectName } from "../../../../components/host/lambda/common";
import { FilesystemProvider, type FilesystemOutputs } from "../../../../components/host/lambda/filesystem";
import { FirewallRulesetProvider, type FirewallRulesetOutputs } from "../../../../components/host/lambda/firewallRuleset";
import {
  identityHash,
  identityKey,
  lambdaObjectNames,
  nameWithHash,
  NAME_LIMITS,
  StackIdentityProvider,
  uidAfterUpdate,
  UID_PATTERN,
  validateIdentityInputs,
  type StackIdentityValue,
} from "../../../../components/host/lambda/identity";
import { hasIdentity, identityTags, InstanceProvider, type InstanceInputs, type InstanceOutputs } from "../../../../components/host/lambda/instance";
import { SshKeyProvider, type SshKeyOutputs } from "../../../../components/host/lambda/sshKey";
import { assertClean, startHarness, type Harness } from "./harness";

const v = LAMBDA_PROVIDER_VERSION;
const REGIONS = ["us-east-1", "us-west-1"];
const B200 = "gpu_8x_b200_sxm6";

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  assertClean(h);
  await h.restore();
});

/** One stack's deployment, made by the providers in LambdaMachine's order. */
interface Deployed {
  label: string;
  identity: StackIdentityValue;
  key: { id: string; outs: SshKeyOutputs };
  fs: { id: string; outs: FilesystemOutputs };
  fw: { id: string; outs: FirewallRulesetOutputs };
  inst: { id: string; outs: InstanceOutputs };
  instInputs: InstanceInputs;
}

async function deploy(label: string, organization: string, stack: string): Promise<Deployed> {
  const ident = await new StackIdentityProvider().create({ organization, project: "hgx-inference", stack, resource: "hgx" });
  const identity: StackIdentityValue = { organization, project: "hgx-inference", stack, resource: "hgx", uid: ident.outs.uid };
  const names = lambdaObjectNames(identity, "hf-cache");
  const key = await new SshKeyProvider().create({ providerVersion: v, keyName: names.keyName });
  const fs = await new FilesystemProvider().create({ providerVersion: v, fsName: names.filesystemName!, regions: REGIONS, instanceType: B200 });
  const fw = await new FirewallRulesetProvider().create({
    providerVersion: v,
    rulesetName: names.rulesetName,
    regions: [fs.outs.region, ...REGIONS.filter((r) => r !== fs.outs.region)],
    sshSourceCidrs: ["0.0.0.0/0"],
    servingPort: 8000,
    servingAllowlist: [],
  });
  const instInputs: InstanceInputs = {
    providerVersion: v,
    resourceName: "hgx",
    organization,
    project: "hgx-inference",
    stack,
    stackUid: identity.uid,
    instanceName: names.instanceName,
    regions: REGIONS,
    instanceType: B200,
    imageFamily: "gpu-base-24-04",
    sshKeyName: names.keyName,
    filesystemName: names.filesystemName,
    filesystemMountPoint: "/lambda/nfs/hf-cache",
    firewallRulesetIds: fw.outs.rulesetIds,
    ttlSeconds: 3600,
    waitTimeoutSeconds: 30,
  };
  const inst = await new InstanceProvider().create(instInputs);
  return { label, identity, key, fs, fw, inst, instInputs };
}

async function destroy(d: Deployed): Promise<void> {
  await new InstanceProvider().delete(d.inst.id, d.inst.outs);
  await new FirewallRulesetProvider().delete(d.fw.id, d.fw.outs);
  await new FilesystemProvider().delete(d.fs.id, d.fs.outs);
  await new SshKeyProvider().delete(d.key.id, d.key.outs);
}

/** What the account holds for `d`, read from the emulator's state (not through the providers). */
function holdings(h: Harness, d: Deployed) {
  return {
    instance: h.emu.state.instance(d.inst.id)?.status,
    key: h.emu.state.sshKeys().find((k) => k.id === d.key.id)?.public_key,
    fs: h.emu.state.filesystems().find((f) => f.id === d.fs.id)?.name,
    rulesets: h.emu.state
      .firewallRulesets()
      .filter((r) => Object.values(d.fw.outs.rulesetIds).includes(r.id))
      .map((r) => `${r.id}:${r.name}:${JSON.stringify(r.rules)}`)
      .sort(),
  };
}

describe("stack identity against one shared account", () => {
  it("the old scheme collided: `dev_1`, `dev.1`, `dev-1` made the same names and `dev` on two backends the same tags", () => {
    // What the names were before (project-stack-machine-role): the reason for the hash.
    const old = ["dev_1", "dev.1", "dev-1"].map((stack) => objectName(["hgx-inference", stack, "hgx", "key"]));
    expect(new Set(old).size).toBe(1);
    const base = { organization: "organization", project: "hgx-inference", stack: "dev", resource: "hgx" };
    const a = lambdaObjectNames({ ...base, uid: "00000000000000aa" });
    const b = lambdaObjectNames({ ...base, uid: "00000000000000bb" });
    expect(a.keyName).not.toBe(b.keyName);
    const now = ["dev_1", "dev.1", "dev-1"].map((stack) => lambdaObjectNames({ ...base, stack, uid: "00000000000000aa" }).keyName);
    expect(new Set(now).size).toBe(3);
  });

  it("six stacks deployed concurrently, re-run after a crash, then destroyed one by one: nobody touches another's objects", async () => {
    const stacks: [string, string, string][] = [
      ["dev (backend A)", "organization", "dev"],
      ["dev (backend B)", "organization", "dev"],
      ["dev (org acme)", "acme", "dev"],
      ["dev_1", "organization", "dev_1"],
      ["dev.1", "organization", "dev.1"],
      ["dev-1", "organization", "dev-1"],
    ];
    const deployed = await Promise.all(stacks.map(([label, org, stack]) => deploy(label, org, stack)));

    // Distinct objects everywhere: 6 instances, 6 keys, 6 filesystems, 12 rulesets.
    expect(new Set(deployed.map((d) => d.inst.id)).size).toBe(6);
    expect(new Set(deployed.map((d) => d.key.outs.keyName)).size).toBe(6);
    expect(new Set(deployed.map((d) => d.fs.outs.fsName)).size).toBe(6);
    expect(h.emu.state.sshKeys()).toHaveLength(6);
    expect(h.emu.state.filesystems()).toHaveLength(6);
    expect(h.emu.state.firewallRulesets()).toHaveLength(12);
    expect(h.emu.state.instances().filter((i) => i.status === "active")).toHaveLength(6);
    for (const d of deployed) {
      const live = h.emu.state.instance(d.inst.id)!;
      expect(d.inst.outs.adopted, d.label).toBe(false);
      expect(hasIdentity(live, identityTags(d.instInputs)), d.label).toBe(true);
      expect(live.ssh_key_names).toEqual([d.key.outs.keyName]);
      expect(live.file_system_names).toEqual([d.fs.outs.fsName]);
      expect(live.firewall_rulesets).toEqual([{ id: d.fw.outs.rulesetIds[live.region.name] }]);
      // Nobody else's identity matches this instance.
      for (const other of deployed.filter((o) => o !== d)) expect(hasIdentity(live, identityTags(other.instInputs)), `${other.label} vs ${d.label}`).toBe(false);
    }

    // A crash re-run of every stack at once (state lost after the API calls): each adopts exactly its own.
    const before = deployed.map((d) => holdings(h, d));
    const rerun = await Promise.all(
      deployed.map(async (d) => ({
        inst: await new InstanceProvider().create(d.instInputs),
        fs: await new FilesystemProvider().create({ providerVersion: v, fsName: d.fs.outs.fsName, regions: REGIONS, instanceType: B200 }),
        fw: await new FirewallRulesetProvider().create({ ...d.fw.outs }),
      })),
    );
    for (const [i, d] of deployed.entries()) {
      expect(rerun[i].inst.id, d.label).toBe(d.inst.id);
      expect(rerun[i].inst.outs.adopted).toBe(true);
      expect(rerun[i].fs.id).toBe(d.fs.id);
      expect(rerun[i].fw.outs.rulesetIds).toEqual(d.fw.outs.rulesetIds);
    }
    expect(deployed.map((d) => holdings(h, d))).toEqual(before);
    expect(h.emu.requests().filter((r) => r.path.endsWith("/instance-operations/terminate"))).toEqual([]);
    expect(h.emu.requests().filter((r) => r.path.endsWith("/instance-operations/launch") && r.status === 200)).toHaveLength(6);

    // Destroy one stack at a time: the others keep everything, unchanged.
    for (const [i, d] of deployed.entries()) {
      const others = deployed.slice(i + 1);
      const othersBefore = others.map((o) => holdings(h, o));
      await destroy(d);
      expect(holdings(h, d)).toEqual({ instance: "terminated", key: undefined, fs: undefined, rulesets: [] });
      expect(others.map((o) => holdings(h, o)), `after destroying ${d.label}`).toEqual(othersBefore);
    }
    expect(h.emu.state.sshKeys()).toEqual([]);
    expect(h.emu.state.filesystems()).toEqual([]);
    expect(h.emu.state.firewallRulesets()).toEqual([]);
    expect(h.emu.leakedInstances()).toEqual([]);
  });
});

describe("identity (pure)", () => {
  const id: StackIdentityValue = { organization: "acme", project: "hgx-inference", stack: "dev", resource: "hgx", uid: "0123456789abcdef" };

  it("the hash covers every field and cannot be fooled by moving a separator", () => {
    const hashes = new Set([
      identityHash(id),
      identityHash({ ...id, organization: "acme2" }),
      identityHash({ ...id, project: "hgx" }),
      identityHash({ ...id, stack: "dev2" }),
      identityHash({ ...id, resource: "hgx-2" }),
      identityHash({ ...id, uid: "0123456789abcdee" }),
    ]);
    expect(hashes.size).toBe(6);
    expect(identityKey({ ...id, organization: "a/b", project: "c" })).not.toBe(identityKey({ ...id, organization: "a", project: "b/c" }));
    expect(identityHash(id)).toMatch(/^[0-9a-f]{12}$/);
  });

  it("names stay within Lambda's limits and patterns for any stack name", () => {
    for (const stack of ["dev", "x".repeat(100), "Dev_Stack.v2"]) {
      const n = lambdaObjectNames({ ...id, stack }, "f".repeat(60));
      expect(n.keyName.length).toBeLessThanOrEqual(NAME_LIMITS.sshKey);
      expect(n.rulesetName.length).toBeLessThanOrEqual(NAME_LIMITS.firewallRuleset);
      expect(n.instanceName.length).toBeLessThanOrEqual(NAME_LIMITS.instance);
      expect(n.filesystemName!.length).toBeLessThanOrEqual(NAME_LIMITS.filesystem);
      expect(n.filesystemName).toMatch(/^[a-zA-Z]+[0-9a-zA-Z-]*$/);
      expect(n.keyName.endsWith(`-${identityHash({ ...id, stack })}`)).toBe(true);
    }
    expect(nameWithHash(["___"], "abc", 10)).toBe("abc");
  });

  it("the uid is generated once, kept on update, replaced only by an explicit request", async () => {
    const p = new StackIdentityProvider();
    const a = await p.create({ organization: "o", project: "p", stack: "s", resource: "r" });
    const b = await p.create({ organization: "o", project: "p", stack: "s", resource: "r" });
    expect(a.outs.uid).toMatch(UID_PATTERN);
    expect(b.outs.uid).not.toBe(a.outs.uid);
    expect(await p.diff(a.id, a.outs, { organization: "o", project: "p", stack: "s", resource: "r" })).toMatchObject({ changes: false, replaces: [] });
    const renamed = { organization: "o", project: "p", stack: "s2", resource: "r" };
    expect(await p.diff(a.id, a.outs, renamed)).toMatchObject({ changes: true, replaces: [] });
    expect((await p.update(a.id, a.outs, renamed)).outs.uid).toBe(a.outs.uid);
    expect(uidAfterUpdate(a.outs, { ...renamed, requestedUid: "00000000000000ff" })).toBe("00000000000000ff");
    const taken = await p.create({ organization: "o", project: "p", stack: "s", resource: "r", requestedUid: "00000000000000ff" });
    expect(taken.outs.uid).toBe("00000000000000ff");
    expect(validateIdentityInputs({ organization: "o", project: "p", stack: "s", resource: "r", requestedUid: "nope" })[0]).toMatchObject({ property: "requestedUid" });
  });
});
