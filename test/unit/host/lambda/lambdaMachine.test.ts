// LambdaMachine under Pulumi mocks: children, wiring, defaults, secrecy, and that the API key
// never becomes a resource input.
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import type * as LambdaMachineModule from "../../../../components/host/lambdaMachine";
import { TEST_HOST_PRIVATE_KEY, TEST_HOST_PUBLIC_KEY } from "../../../fixtures/hostKeys";
import { installPulumiMocks, type RecordedResource } from "../../../fixtures/pulumiMocks";

let recorded: RecordedResource[] = [];
const API_KEY = "secret_mock_key_5d1c9a";
const GIVEN_PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\ngiven\n-----END OPENSSH PRIVATE KEY-----";

let mod: typeof LambdaMachineModule;

beforeAll(async () => {
  pulumi.runtime.setAllConfig({ "hgx-inference:lambdaApiKey": API_KEY }, ["hgx-inference:lambdaApiKey"]);
  const mocks = await installPulumiMocks({
    stack: "unit",
    organization: "acme",
    outputs: (args) => {
      const extras: Record<string, () => Record<string, unknown>> = {
        "pulumi-nodejs:dynamic/lambda:SshKey": () => ({ keyId: "key-1", publicKeyOpenssh: "ssh-ed25519 AAAA", privateKey: args.inputs.publicKey ? "" : "-----BEGIN OPENSSH PRIVATE KEY-----\ngenerated" }),
        "pulumi-nodejs:dynamic/lambda:Filesystem": () => ({ filesystemId: "fs-1", region: "us-south-1", mountPoint: `/lambda/nfs/${String(args.inputs.fsName)}`, adopted: true }),
        "pulumi-nodejs:dynamic/lambda:FirewallRuleset": () => ({
          rulesetIds: Object.fromEntries(((args.inputs.regions as string[]) ?? []).map((r) => [r, `rs-${r}`])),
          rules: [],
        }),
        "pulumi-nodejs:dynamic/lambda:StackIdentity": () => ({ uid: "0123456789abcdef" }),
        "pulumi-nodejs:dynamic/lambda:HostKeyPair": () => ({ privateKeyOpenssh: TEST_HOST_PRIVATE_KEY, publicKey: `${TEST_HOST_PUBLIC_KEY} m-host` }),
        "pulumi-nodejs:dynamic/lambda:Instance": () => ({
          instanceId: "i-1",
          ip: "198.51.100.7",
          // As the provider does with a filesystem that pins its region (the mock's filesystem lives in us-south-1).
          region: args.inputs.filesystemName ? "us-south-1" : (args.inputs.regions as string[])[0],
          filesystemAttached: !!args.inputs.filesystemName,
          cacheMountPath: args.inputs.filesystemName ? String(args.inputs.filesystemMountPoint) : "",
          priceCentsPerHour: 4592,
          actualHostname: String(args.inputs.hostname),
          status: "active",
          expiresAt: "2030-01-01T00:00:00Z",
          adopted: false,
        }),
      };
      return extras[args.type]?.() ?? {};
    },
  });
  recorded = mocks.resources;
  mod = await import("../../../../components/host/lambdaMachine");
});

function valueOf<T>(o: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}
function isSecret(o: pulumi.Input<unknown>): Promise<boolean> {
  return pulumi.isSecret(pulumi.output(o));
}
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 50));
}

describe("LambdaMachine", () => {
  it("creates key, firewall and instance as children, with a generated key as a secret", async () => {
    const m = new mod.LambdaMachine("gpu", { regions: ["us-east-1", "us-west-1"], firewallAllowlist: ["203.0.113.7/32"] });
    expect(await valueOf(m.ip)).toBe("198.51.100.7");
    await settle();
    const mine = recorded.filter((r) => r.name.startsWith("gpu-"));
    expect(mine.map((r) => `${r.type}|${r.name}`).sort()).toEqual([
      "pulumi-nodejs:dynamic/lambda:FirewallRuleset|gpu-firewall",
      "pulumi-nodejs:dynamic/lambda:HostKeyPair|gpu-host-key",
      "pulumi-nodejs:dynamic/lambda:Instance|gpu-instance",
      "pulumi-nodejs:dynamic/lambda:SshKey|gpu-ssh-key",
      "pulumi-nodejs:dynamic/lambda:StackIdentity|gpu-identity",
    ]);
    // Every name carries the hash of the identity (organization, project, stack, machine, random id).
    expect(mine.find((r) => r.name === "gpu-identity")!.inputs).toMatchObject({ organization: "acme", project: "hgx-inference", stack: "unit", resource: "gpu" });
    expect(mine.find((r) => r.name === "gpu-ssh-key")!.inputs.keyName).toMatch(/^hgx-inference-unit-gpu-key-[0-9a-f]{12}$/);
    expect(mine.find((r) => r.name === "gpu-firewall")!.inputs.rulesetName).toMatch(/^hgx-inference-unit-gpu-fw-[0-9a-f]{12}$/);
    const inst = mine.find((r) => r.name === "gpu-instance")!.inputs;
    expect(inst).toMatchObject({
      resourceName: "gpu",
      organization: "acme",
      project: "hgx-inference",
      stack: "unit",
      stackUid: "0123456789abcdef",
      regions: ["us-east-1", "us-west-1"],
      instanceType: "gpu_8x_b200_sxm6",
      imageFamily: "gpu-base-24-04",
      ttlSeconds: 0,
      waitTimeoutSeconds: 45 * 60,
      hostname: "unit-gpu",
      apiKeyConfigKey: "hgx-inference:lambdaApiKey",
      firewallRulesetIds: { "us-east-1": "rs-us-east-1", "us-west-1": "rs-us-west-1" },
    });
    const fw = mine.find((r) => r.name === "gpu-firewall")!.inputs;
    expect(fw).toMatchObject({ regions: ["us-east-1", "us-west-1"], servingPort: 8000, servingAllowlist: ["203.0.113.7/32"], sshSourceCidrs: ["0.0.0.0/0"] });
    // ICMP at its default (anyone) adds no input, so a ruleset deployed before the setting previews clean.
    expect("icmpSourceCidrs" in fw).toBe(false);

    expect(await valueOf(m.region)).toBe("us-east-1");
    expect(await valueOf(m.hourlyPriceUsd)).toBeCloseTo(45.92);
    expect(await valueOf(m.sshUser)).toBe("ubuntu");
    expect(await valueOf(m.sshPort)).toBe(22);
    expect(await valueOf(m.cacheMountPath)).toBeUndefined();
    expect(m.filesystem).toBeUndefined();
    expect(m.generatedKey).toBe(true);
    expect(await isSecret(m.privateKey)).toBe(true);
    expect(await valueOf(m.privateKey)).toMatch(/generated/);
    expect(m.connection.kind).toBe("ssh");
    expect(await valueOf(m.connection.host)).toBe("198.51.100.7");
    expect(await valueOf(m.connection.user)).toBe("ubuntu");
    expect(await isSecret(m.connection.privateKey)).toBe(true);
    // The host key: generated by the stack, sent as a SECRET user_data (#cloud-config ssh_keys), pinned by the connection.
    const userData = inst.userData as { value?: string } | string;
    expect(typeof userData === "object" && Object.keys(userData)).toContain("4dabf18193072939515e22adb298388d");
    const text = typeof userData === "object" ? String(userData.value) : userData;
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    expect(text).toContain(`ed25519_public: ${TEST_HOST_PUBLIC_KEY} m-host`);
    expect(text).toContain("ssh_deletekeys: true");
    expect(await valueOf(pulumi.output(m.connection.hostKey))).toBe(`${TEST_HOST_PUBLIC_KEY} m-host`);
  });

  it("ICMP narrowed or closed: the ruleset gets the sources as an input", async () => {
    new mod.LambdaMachine("quiet", { regions: ["us-east-1"], icmpSourceCidrs: [] });
    new mod.LambdaMachine("ops", { regions: ["us-east-1"], icmpSourceCidrs: ["203.0.113.0/24"] });
    await settle();
    expect(recorded.find((r) => r.name === "quiet-firewall")!.inputs.icmpSourceCidrs).toEqual([]);
    expect(recorded.find((r) => r.name === "ops-firewall")!.inputs.icmpSourceCidrs).toEqual(["203.0.113.0/24"]);
    expect(() => new mod.LambdaMachine("bad", { regions: ["us-east-1"], icmpSourceCidrs: ["::/0"] })).toThrow(/icmpSourceCidrs: "::\/0" is not an IPv4 CIDR/);
  });

  it("with a filesystem: named after the identity, mounted at the configured path; rulesets where the instance may land", async () => {
    const m = new mod.LambdaMachine("cached", { regions: ["us-east-1"], filesystemName: "hf-cache", pinnedRegionPolicy: "elsewhere" });
    expect(await valueOf(m.region)).toBe("us-south-1");
    await settle();
    const mine = recorded.filter((r) => r.name.startsWith("cached-"));
    const fs = mine.find((r) => r.name === "cached-filesystem")?.inputs;
    expect(fs).toMatchObject({ regions: ["us-east-1"], instanceType: "gpu_8x_b200_sxm6" });
    expect(fs?.fsName).toMatch(/^hf-cache-[0-9a-f]{12}$/);
    // The filesystem's region first, then every preferred region (an empty filesystem moves; `elsewhere` leaves it).
    expect(mine.find((r) => r.name === "cached-firewall")?.inputs.regions).toEqual(["us-south-1", "us-east-1"]);
    expect(mine.find((r) => r.name === "cached-instance")?.inputs).toMatchObject({
      filesystemName: fs?.fsName,
      filesystemMountPoint: "/lambda/nfs/hf-cache",
      pinnedRegionPolicy: "elsewhere",
      pinnedRegionWaitSeconds: 1800,
      localCachePath: "/home/ubuntu/hf-cache",
    });
    expect(await valueOf(m.cacheMountPath)).toBe("/lambda/nfs/hf-cache");
    expect(await valueOf(m.stackId)).toBe("0123456789abcdef");
    expect(m.filesystem).toBeDefined();
  });

  it("with a given key pair: registers the public key and connects with the given private key (secret)", async () => {
    const m = new mod.LambdaMachine("byok", { regions: ["us-east-1"], sshPublicKey: "ssh-ed25519 AAAAC3Nz user@host", sshPrivateKey: pulumi.secret(GIVEN_PRIVATE_KEY) });
    expect(await valueOf(m.privateKey)).toBe(GIVEN_PRIVATE_KEY);
    expect(await isSecret(m.privateKey)).toBe(true);
    expect(m.generatedKey).toBe(false);
    await settle();
    expect(recorded.find((r) => r.name === "byok-ssh-key")?.inputs.publicKey).toBe("ssh-ed25519 AAAAC3Nz user@host");
  });

  it("never puts the API key into any resource input", async () => {
    await settle();
    expect(recorded.length).toBeGreaterThan(0);
    for (const r of recorded) expect(JSON.stringify(r.inputs)).not.toContain(API_KEY);
  });

  it("transform merges last into a child", async () => {
    const m = new mod.LambdaMachine("tx", { regions: ["us-east-1"], transform: { instance: { imageFamily: "lambda-stack-24-04" } } });
    await valueOf(m.ip);
    await settle();
    expect(recorded.find((r) => r.name === "tx-instance")?.inputs.imageFamily).toBe("lambda-stack-24-04");
  });

  it("protect: Pulumi's protect on the instance, the protected tag input, and the price ceiling in cents", async () => {
    const guarded = new mod.LambdaMachine("guarded", { regions: ["us-east-1"], protect: true, maxHourlyPriceUsd: 52.5, ttl: "0" });
    const plain = new mod.LambdaMachine("plain", { regions: ["us-east-1"] });
    await valueOf(guarded.ip);
    await valueOf(plain.ip);
    await settle();
    // Resource options are not in the mock's view; the SDK keeps them on the resource.
    expect((guarded.instance as unknown as { __protect?: boolean }).__protect).toBe(true);
    expect((plain.instance as unknown as { __protect?: boolean }).__protect).toBe(false);
    expect(recorded.find((r) => r.name === "guarded-instance")!.inputs).toMatchObject({ protected: true, maxPriceCentsPerHour: 5250, ttlSeconds: 0 });
    expect(recorded.find((r) => r.name === "plain-instance")!.inputs).not.toHaveProperty("protected");
  });

  it("rejects bad arguments before creating anything, naming the setting", () => {
    expect(() => new mod.LambdaMachine("bad", { regions: [] })).toThrow(/regions: empty; list at least one Lambda region/);
    expect(() => new mod.LambdaMachine("bad2", { regions: ["us-east-1"], servingPort: 22 })).toThrow(/servingPort: 22 must be/);
  });
});
