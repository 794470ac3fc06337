// InstanceProvider methods called directly against the in-process emulator.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LambdaClient } from "../../../../components/host/lambda/client";
import { CapacityError, InvalidApiKeyError, QuotaExceededError } from "../../../../components/host/lambda/errors";
import { FilesystemProvider } from "../../../../components/host/lambda/filesystem";
import { instanceTags, InstanceProvider, type InstanceOutputs } from "../../../../components/host/lambda/instance";
import { LAMBDA_PROVIDER_VERSION } from "../../../../components/host/lambda/common";
import { assertClean, instanceInputs, rejectionOf, startHarness, type Harness } from "./harness";

const B200 = "gpu_8x_b200_sxm6";
let h: Harness;
let errors: unknown[];
let provider: InstanceProvider;

beforeEach(async () => {
  h = await startHarness();
  h.emu.seed.sshKey("hgx-test-key");
  errors = [];
  provider = new InstanceProvider();
});

afterEach(async () => {
  // Assert before cleaning up, so a leak cannot be hidden by the cleanup itself.
  const leaked = h.emu.leakedInstances().map((i) => i.id);
  h.emu.faults.reset();
  if (leaked.length) await new LambdaClient({ apiKey: h.emu.apiKey, baseUrl: h.emu.baseUrl }).terminateInstances(leaked);
  expect(leaked).toEqual([]);
  assertClean(h, errors);
  await h.restore();
});

async function failure(fn: () => Promise<unknown>): Promise<Error> {
  const e = await rejectionOf(fn);
  errors.push(e);
  return e;
}

function client(): LambdaClient {
  return new LambdaClient({ apiKey: h.emu.apiKey, baseUrl: h.emu.baseUrl });
}

// Launches the API processed: a 429 from the emulator's rate limiter (delivery jitter on a loaded
// machine can beat the test pacing's margin) is, as the vendor's, certainly not processed.
const launches = () =>
  h.emu.requests().filter((r) => r.method === "POST" && r.path.endsWith("/instance-operations/launch") && r.fault !== "rateLimit");

describe("InstanceProvider.create", () => {
  it("launches, waits for active and reports id, ip, region, type, price, hostname, status and tags", async () => {
    const { id, outs } = await provider.create(instanceInputs());
    expect(outs).toMatchObject({ instanceId: id, ip: "127.0.0.1", region: "us-east-1", instanceType: B200, priceCentsPerHour: 4592, status: "active", actualHostname: "unit-gpu", adopted: false });
    const tags = Object.fromEntries((h.emu.state.instance(id)?.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags).toMatchObject({ "hgx:project": "hgx-test", "hgx:stack": "unit", "hgx:resource": "gpu", "hgx:expires-at": outs.expiresAt });
    expect(Date.parse(outs.expiresAt) - Date.now()).toBeGreaterThan(7.9 * 3600_000);
    await provider.delete(id, outs);
    expect(h.emu.state.instance(id)?.status ?? "terminated").toBe("terminated");
  });

  it("fails over on capacity: first preferred region with capacity, then the next on refusal", async () => {
    h.emu.faults.setCapacity(B200, ["us-south-1", "us-west-1"]);
    const first = await provider.create(instanceInputs());
    expect(first.outs.region).toBe("us-west-1");
    expect(launches().length).toBe(1);
    await provider.delete(first.id, first.outs);

    h.emu.faults.refuseLaunchIn("us-west-1", 1);
    const second = await provider.create(instanceInputs());
    expect(second.outs.region).toBe("us-south-1");
    expect(h.lines.some((l) => /no gpu_8x_b200_sxm6 capacity in us-west-1; trying us-south-1 next/.test(l))).toBe(true);
    await provider.delete(second.id, second.outs);
  });

  it("reports no capacity anywhere with the regions tried", async () => {
    h.emu.faults.setCapacity(B200, []);
    const e = await failure(() => provider.create(instanceInputs({ regions: ["us-east-1", "us-west-1"] })));
    expect(e).toBeInstanceOf(CapacityError);
    expect(e.message).toMatch(/No capacity for gpu_8x_b200_sxm6 in us-east-1, us-west-1/);
    expect(launches().length).toBe(2);
  });

  it("a filesystem's region wins over preference and capacity", async () => {
    h.emu.seed.filesystem("hf-cache", "us-south-1");
    const fsProvider = new FilesystemProvider();
    const fs = await fsProvider.create({ providerVersion: LAMBDA_PROVIDER_VERSION, fsName: "hf-cache", regions: ["us-east-1", "us-west-1"], instanceType: B200 });
    expect(fs.outs).toMatchObject({ region: "us-south-1", adopted: true, mountPoint: "/lambda/nfs/hf-cache" });
    const { id, outs } = await provider.create(instanceInputs({ regions: ["us-east-1", "us-west-1"], filesystemName: "hf-cache" }));
    expect(outs.region).toBe("us-south-1");
    expect(h.emu.state.instance(id)?.file_system_names ?? []).toEqual(["hf-cache"]);
    await provider.delete(id, outs);
  });

  it("reports progress at least every progress interval during a slow boot", async () => {
    h.emu.faults.bootSlowMs(400);
    const { id, outs } = await provider.create(instanceInputs());
    const progressLines = h.lines.filter((l) => /is booting after \d+m \d+s \(boot timeout/.test(l));
    expect(progressLines.length).toBeGreaterThanOrEqual(4);
    await provider.delete(id, outs);
  });

  it("terminates an instance that boots unhealthy and says so", async () => {
    h.emu.faults.bootUnhealthy(1);
    const e = await failure(() => provider.create(instanceInputs()));
    expect(e.message).toMatch(/became unhealthy while booting.*terminated so it does not keep billing.*Re-run `pulumi up`/);
    const launched = h.emu.state.instances();
    expect(launched.length).toBe(1);
    expect(launched[0].status).toBe("terminated");
  });

  it("terminates on preemption and on boot timeout", async () => {
    h.emu.faults.bootSlowMs(60_000);
    const e = await failure(() => provider.create(instanceInputs({ waitTimeoutSeconds: 0.3 })));
    expect(e.message).toMatch(/was still "booting" after the boot timeout of 0m 00s|after the boot timeout/);
    expect(e.message).toMatch(/waitTimeout/);
    expect(h.emu.state.instances().every((i) => i.status === "terminated")).toBe(true);

    h.emu.faults.bootSlowMs(300);
    const pending = provider.create(instanceInputs());
    // Preempt it as soon as it exists.
    for (let i = 0; i < 200 && h.emu.state.instances().filter((x) => x.status !== "terminated").length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    const victim = h.emu.state.instances().find((x) => x.status !== "terminated");
    expect(victim).toBeDefined();
    h.emu.faults.forceStatus(victim!.id, "preempted");
    const e2 = await failure(() => pending);
    expect(e2.message).toMatch(/was preempted while booting/);
    expect(h.emu.state.instance(victim!.id)?.status).toBe("terminated");
  });

  it("survives 429 bursts, 5xx and provider/* faults during create and delete", async () => {
    h.emu.faults.throttle(3);
    h.emu.faults.serverErrors(2, { match: { method: "GET", path: "/instances/*" } });
    h.emu.faults.providerErrors(2, { code: "provider/internal-unavailable", match: { method: "GET", path: "/instance-types" } });
    h.emu.faults.providerErrors(1, { code: "provider/internal-unavailable", status: 400, match: { method: "POST", path: "/instance-operations/launch" } });
    const { id, outs } = await provider.create(instanceInputs());
    expect(outs.status).toBe("active");
    h.emu.faults.serverErrors(1, { match: { method: "POST", path: "/instance-operations/terminate" } });
    await provider.delete(id, outs);
    const faults = h.emu.requests().filter((r) => r.fault).length;
    expect(faults).toBeGreaterThanOrEqual(8);
  });

  it("fails clearly on quota and on an expired key", async () => {
    h.emu.faults.quotaExceeded(1);
    expect(await failure(() => provider.create(instanceInputs()))).toBeInstanceOf(QuotaExceededError);
    h.emu.faults.expireKey();
    const e = await failure(() => provider.create(instanceInputs()));
    expect(e).toBeInstanceOf(InvalidApiKeyError);
    expect(e.message).toMatch(/LAMBDA_API_KEY/);
  });

  it("adopts the instance a crashed run launched instead of launching a second", async () => {
    // The crash: launch succeeded (instance tagged with this resource's identity), but the
    // process died before Pulumi recorded the id. Simulated by launching exactly as create does.
    const inputs = instanceInputs();
    const orphanId = await client().launchInstance({
      region_name: "us-west-1",
      instance_type_name: B200,
      ssh_key_names: ["hgx-test-key"],
      image: { family: "gpu-base-24-04" },
      tags: instanceTags(inputs, "2030-01-01T00:00:00Z"),
    });
    const before = launches().length;
    const { id, outs } = await provider.create(inputs);
    expect(id).toBe(orphanId);
    expect(outs.adopted).toBe(true);
    expect(outs.expiresAt).toBe("2030-01-01T00:00:00Z");
    expect(launches().length).toBe(before);
    expect(h.emu.state.instances().length).toBe(1);
    await provider.delete(id, outs);
  });

  it("finds its instance after a lost launch response instead of launching again", async () => {
    h.emu.faults.loseLaunchResponses(1);
    const { id, outs } = await provider.create(instanceInputs());
    expect(outs.adopted).toBe(true);
    expect(launches().length).toBe(1);
    expect(h.emu.state.instances().map((i) => i.id)).toEqual([id]);
    await provider.delete(id, outs);
  });

  it("terminates an unusable instance carrying its identity before launching", async () => {
    const inputs = instanceInputs();
    const stale = await client().launchInstance({
      region_name: "us-east-1",
      instance_type_name: "gpu_8x_h100_sxm5",
      ssh_key_names: ["hgx-test-key"],
      tags: instanceTags(inputs, "never"),
    });
    const { id, outs } = await provider.create(inputs);
    expect(id).not.toBe(stale);
    expect(h.emu.state.instance(stale)?.status).toBe("terminated");
    await provider.delete(id, outs);
  });
});

describe("InstanceProvider delete, read, diff, update", () => {
  it("delete waits through terminate lag until the instance is gone", async () => {
    const { id, outs } = await provider.create(instanceInputs());
    h.emu.faults.terminateLagMs(300);
    const started = Date.now();
    await provider.delete(id, outs);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(h.emu.state.instance(id)?.status).toBe("terminated");
    expect(h.lines.some((l) => /still terminating \d+m \d+s after terminate/.test(l))).toBe(true);
    // Deleting again is fine (already gone).
    await provider.delete(id, outs);
  });

  it("read returns the live instance, and an empty id once it vanished", async () => {
    const { id, outs } = await provider.create(instanceInputs());
    const live = await provider.read(id, outs);
    expect(live.id).toBe(id);
    expect(live.props?.status).toBe("active");
    await client().terminateInstances([id]);
    const gone = await provider.read(id, outs);
    expect(gone.id).toBe("");
    // After terminated -> 404, still empty.
    await new Promise((r) => setTimeout(r, 60));
    expect((await provider.read(id, outs)).id).toBe("");
  });

  it("diff: immutable fields replace (delete first); launch-time settings do not relaunch; version bumps update", async () => {
    const olds = { ...instanceInputs(), instanceId: "x", ip: "1.2.3.4", region: "us-east-1", priceCentsPerHour: 1, actualHostname: "h", status: "active", expiresAt: "never", adopted: false } as InstanceOutputs;
    const d1 = await provider.diff("x", olds, instanceInputs({ instanceType: "gpu_8x_h100_sxm5" }));
    expect(d1).toMatchObject({ changes: true, replaces: ["instanceType"], deleteBeforeReplace: true });
    const d2 = await provider.diff("x", olds, instanceInputs({ ttlSeconds: 99, waitTimeoutSeconds: 99, regions: ["us-east-1"] }));
    expect(d2).toMatchObject({ changes: false, replaces: [] });
    const d3 = await provider.diff("x", olds, instanceInputs({ regions: ["us-west-1"] }));
    expect(d3.replaces).toEqual(["regions"]);
    const d4 = await provider.diff("x", olds, instanceInputs({ providerVersion: "999" }));
    expect(d4).toMatchObject({ changes: true, replaces: [] });
    const d5 = await provider.diff("x", { ...olds, firewallRulesetIds: { "us-east-1": "a" } }, instanceInputs({ firewallRulesetIds: { "us-east-1": "b", "us-west-1": "c" } }));
    expect(d5.replaces).toEqual(["firewallRulesetIds"]);
  });

  it("update (version bump) re-reads the live instance and records the new version", async () => {
    const { id, outs } = await provider.create(instanceInputs());
    const { outs: updated } = await provider.update(id, outs, instanceInputs({ providerVersion: "2", ttlSeconds: 1 }));
    expect(updated).toMatchObject({ providerVersion: "2", instanceId: id, ttlSeconds: outs.ttlSeconds, status: "active" });
    await provider.delete(id, outs);
  });
});
