// InstanceProvider methods called directly against the in-process emulator. Provider and emulator
// share a virtual clock, so boots, terminations, timeouts and progress lines follow their exact
// schedule whatever the machine's load (HTTP still runs for real).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LambdaClient } from "../../../../components/host/lambda/client";
import { CapacityError, InvalidApiKeyError, QuotaExceededError } from "../../../../components/host/lambda/errors";
import { FilesystemProvider } from "../../../../components/host/lambda/filesystem";
import { instanceTags, InstanceProvider, type InstanceInputs, type InstanceOutputs } from "../../../../components/host/lambda/instance";
import { LAMBDA_PROVIDER_VERSION } from "../../../../components/host/lambda/common";
import { SteppingClock } from "../../../fixtures/steppingClock";
import { assertClean, FAST_ENV, instanceInputs, rejectionOf, startHarness, type Harness } from "./harness";

const B200 = "gpu_8x_b200_sxm6";
const POLL_MS = Number(FAST_ENV.LAMBDA_POLL_INTERVAL_MS);
const PROGRESS_MS = Number(FAST_ENV.LAMBDA_PROGRESS_INTERVAL_MS);
let h: Harness;
let clock: SteppingClock;
let errors: unknown[];
let provider: InstanceProvider;
/** Instances the provider handed to the test and the test has not deleted yet. */
let held: Map<string, InstanceOutputs>;

beforeEach(async () => {
  clock = new SteppingClock();
  h = await startHarness({ clock: { now: clock.now } });
  h.emu.seed.sshKey("hgx-test-key");
  errors = [];
  held = new Map();
  provider = new InstanceProvider(clock);
});

afterEach(async () => {
  try {
    // An instance the test still holds is not a leak: an assertion failed before the test deleted
    // it. Delete it here, so one failure does not also leave an instance behind.
    for (const [id, outs] of held) await provider.delete(id, outs).catch((e: unknown) => errors.push(e));
    // Then anything else still alive is the provider's leak: assert before cleaning it up.
    const leaked = h.emu.leakedInstances().map((i) => i.id);
    h.emu.faults.reset();
    if (leaked.length) await client().terminateInstances(leaked);
    expect(leaked).toEqual([]);
    assertClean(h, errors);
  } finally {
    await h.restore();
  }
});

async function create(inputs: InstanceInputs = instanceInputs()): Promise<{ id: string; outs: InstanceOutputs }> {
  const made = await provider.create(inputs);
  held.set(made.id, made.outs);
  return made;
}

async function remove(id: string, outs: InstanceOutputs): Promise<void> {
  await provider.delete(id, outs);
  held.delete(id);
}

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
  it("launches, waits for active and reports id, ip, private ip, region, type, price, hostname, status and tags", async () => {
    const launchedAt = clock.now();
    const { id, outs } = await create(instanceInputs());
    expect(outs).toMatchObject({ instanceId: id, ip: "127.0.0.1", region: "us-east-1", instanceType: B200, priceCentsPerHour: 4592, status: "active", actualHostname: "unit-gpu", adopted: false });
    // The router in the same region reaches this instance there (the API's private_ip).
    expect(outs.privateIp).toMatch(/^10\.19\.\d+\.\d+$/);
    const tags = Object.fromEntries((h.emu.state.instance(id)?.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags).toMatchObject({ "hgx:project": "hgx-test", "hgx:stack": "unit", "hgx:resource": "gpu", "hgx:expires-at": outs.expiresAt });
    // ttl 8 h from the launch, to the second.
    expect(Date.parse(outs.expiresAt)).toBe(Math.floor((launchedAt + 8 * 3600_000) / 1000) * 1000);
    await remove(id, outs);
    expect(h.emu.state.instance(id)?.status ?? "terminated").toBe("terminated");
  });

  it("refuses to launch a type priced above maxPriceCentsPerHour; launches at or under it with the reaper's tags", async () => {
    const e = await failure(() => provider.create(instanceInputs({ maxPriceCentsPerHour: 4000 })));
    expect(e.message).toMatch(/"gpu_8x_b200_sxm6" costs \$45\.92\/h, above the ceiling of \$40\.00\/h; nothing was launched\. Fix: raise the ceiling \(stack config lambdaMaxHourlyPriceUsd\)/);
    expect(launches()).toHaveLength(0);
    const { id, outs } = await provider.create(instanceInputs({ maxPriceCentsPerHour: 4592, protected: true, ttlSeconds: 3600 }));
    const tags = Object.fromEntries((h.emu.state.instance(id)?.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags).toMatchObject({ "hgx:protected": "true", "hgx:ttl": "3600s" });
    await provider.delete(id, outs);
  });

  it("fails over on capacity: first preferred region with capacity, then the next on refusal", async () => {
    h.emu.faults.setCapacity(B200, ["us-south-1", "us-west-1"]);
    const first = await create(instanceInputs());
    expect(first.outs.region).toBe("us-west-1");
    expect(launches().length).toBe(1);
    await remove(first.id, first.outs);

    h.emu.faults.refuseLaunchIn("us-west-1", 1);
    const second = await create(instanceInputs());
    expect(second.outs.region).toBe("us-south-1");
    expect(h.lines.some((l) => /no gpu_8x_b200_sxm6 capacity in us-west-1; trying us-south-1 next/.test(l))).toBe(true);
    await remove(second.id, second.outs);
  });

  it("reports no capacity anywhere with the regions tried", async () => {
    h.emu.faults.setCapacity(B200, []);
    const e = await failure(() => create(instanceInputs({ regions: ["us-east-1", "us-west-1"] })));
    expect(e).toBeInstanceOf(CapacityError);
    expect(e.message).toMatch(/No capacity for gpu_8x_b200_sxm6 in us-east-1, us-west-1/);
    expect(launches().length).toBe(2);
  });

  it("a filesystem's region wins over preference and capacity", async () => {
    h.emu.seed.filesystem("hf-cache", "us-south-1");
    const fsProvider = new FilesystemProvider();
    const fs = await fsProvider.create({ providerVersion: LAMBDA_PROVIDER_VERSION, fsName: "hf-cache", regions: ["us-east-1", "us-west-1"], instanceType: B200 });
    expect(fs.outs).toMatchObject({ region: "us-south-1", adopted: true, mountPoint: "/lambda/nfs/hf-cache" });
    const { id, outs } = await create(instanceInputs({ regions: ["us-east-1", "us-west-1"], filesystemName: "hf-cache" }));
    expect(outs.region).toBe("us-south-1");
    expect(h.emu.state.instance(id)?.file_system_names ?? []).toEqual(["hf-cache"]);
    await remove(id, outs);
  });

  it("polls every poll interval and reports progress every progress interval during a slow boot", async () => {
    const bootMs = 400;
    h.emu.faults.bootSlowMs(bootMs);
    const launchedAt = clock.now();
    const { id, outs } = await create(instanceInputs());
    // Active exactly when the boot ended, polled at 0, 10, ..., 400 ms: 41 polls, 40 sleeps.
    expect(clock.now() - launchedAt).toBe(bootMs);
    expect(clock.sleeps).toEqual(Array(bootMs / POLL_MS).fill(POLL_MS));
    expect(h.emu.requests().filter((r) => r.method === "GET" && r.path.endsWith(`/instances/${id}`)).length).toBe(bootMs / POLL_MS + 1);
    // One line at 40, 80, ..., 360 ms (at 400 it is active): 9.
    const progressLines = h.lines.filter((l) => /is booting after \d+m \d+s \(boot timeout/.test(l));
    expect(progressLines.length).toBe(Math.ceil(bootMs / PROGRESS_MS) - 1);
    await remove(id, outs);
  });

  it("terminates an instance that boots unhealthy and says so", async () => {
    h.emu.faults.bootUnhealthy(1);
    const e = await failure(() => create(instanceInputs()));
    expect(e.message).toMatch(/became unhealthy while booting.*terminated so it does not keep billing.*Re-run `pulumi up`/);
    const launched = h.emu.state.instances();
    expect(launched.length).toBe(1);
    expect(launched[0].status).toBe("terminated");
  });

  it("terminates on preemption and on boot timeout", async () => {
    h.emu.faults.bootSlowMs(60_000);
    const e = await failure(() => create(instanceInputs({ waitTimeoutSeconds: 0.3 })));
    expect(e.message).toMatch(/was still "booting" after the boot timeout of 0m 00s/);
    expect(e.message).toMatch(/raise lambdaBootTimeout \(now 0m 00s\)/);
    expect(e.message).not.toMatch(/waitTimeout|\(regions\)/);
    expect(h.emu.state.instances().every((i) => i.status === "terminated")).toBe(true);
    // Given up exactly at the timeout: the terminate went out 300 ms after the launch.
    const at = (suffix: string) => h.emu.requests().find((r) => r.method === "POST" && r.path.endsWith(suffix))?.at ?? NaN;
    expect(at("/instance-operations/terminate") - at("/instance-operations/launch")).toBe(300);

    // A boot that would outlast the test: the instance stays booting until the test preempts it.
    h.emu.faults.bootSlowMs(24 * 3600_000);
    const pending = create(instanceInputs({ waitTimeoutSeconds: 24 * 3600 }));
    const alive = () => h.emu.state.instances().find((x) => x.status !== "terminated");
    for (let turns = 0; turns < 100_000 && !alive(); turns++) await new Promise((r) => setImmediate(r));
    const victim = alive();
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
    const { id, outs } = await create(instanceInputs());
    expect(outs.status).toBe("active");
    h.emu.faults.serverErrors(1, { match: { method: "POST", path: "/instance-operations/terminate" } });
    await remove(id, outs);
    const faults = h.emu.requests().filter((r) => r.fault).length;
    expect(faults).toBeGreaterThanOrEqual(8);
  });

  it("fails clearly on quota and on an expired key", async () => {
    h.emu.faults.quotaExceeded(1);
    expect(await failure(() => create(instanceInputs()))).toBeInstanceOf(QuotaExceededError);
    h.emu.faults.expireKey();
    const e = await failure(() => create(instanceInputs()));
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
    const { id, outs } = await create(inputs);
    expect(id).toBe(orphanId);
    expect(outs.adopted).toBe(true);
    expect(outs.expiresAt).toBe("2030-01-01T00:00:00Z");
    expect(launches().length).toBe(before);
    expect(h.emu.state.instances().length).toBe(1);
    await remove(id, outs);
  });

  it("terminates an instance with its identity launched while it booted (a killed run's provider), keeping its own", async () => {
    h.emu.faults.bootSlowMs(400);
    const inputs = instanceInputs();
    const creating = create(inputs);
    // Launched once create's own launch is out: the adopt-before-launch lookup cannot have seen it.
    for (let i = 0; i < 200 && launches().length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    const extraId = await client().launchInstance({
      region_name: "us-west-1",
      instance_type_name: B200,
      ssh_key_names: ["hgx-test-key"],
      image: { family: "gpu-base-24-04" },
      tags: instanceTags(inputs, "2030-01-01T00:00:00Z"),
    });
    const { id, outs } = await creating;
    expect(id).not.toBe(extraId);
    expect(outs.adopted).toBe(false);
    expect(h.emu.state.instance(extraId)?.status).toMatch(/^terminat/);
    expect(h.emu.state.instances().filter((i) => i.status !== "terminated" && i.status !== "terminating").map((i) => i.id)).toEqual([id]);
    expect(h.lines.join("\n")).toContain(`terminating extra instance ${extraId}`);
    await remove(id, outs);
  });

  it("finds its instance after a lost launch response instead of launching again", async () => {
    h.emu.faults.loseLaunchResponses(1);
    const { id, outs } = await create(instanceInputs());
    expect(outs.adopted).toBe(true);
    expect(launches().length).toBe(1);
    expect(h.emu.state.instances().map((i) => i.id)).toEqual([id]);
    await remove(id, outs);
  });

  it("terminates an unusable instance carrying its identity before launching", async () => {
    const inputs = instanceInputs();
    const stale = await client().launchInstance({
      region_name: "us-east-1",
      instance_type_name: "gpu_8x_h100_sxm5",
      ssh_key_names: ["hgx-test-key"],
      tags: instanceTags(inputs, "never"),
    });
    const { id, outs } = await create(inputs);
    expect(id).not.toBe(stale);
    expect(h.emu.state.instance(stale)?.status).toBe("terminated");
    await remove(id, outs);
  });
});

describe("InstanceProvider delete, read, diff, update", () => {
  it("delete waits through terminate lag until the instance is gone", async () => {
    const { id, outs } = await create(instanceInputs());
    const lagMs = 300;
    h.emu.faults.terminateLagMs(lagMs);
    const started = clock.now();
    await remove(id, outs);
    // Returned at the first poll that saw it terminated: exactly when the lag ended.
    expect(clock.now() - started).toBe(lagMs);
    expect(h.emu.state.instance(id)?.status).toBe("terminated");
    // A line at 40, 80, ..., 280 ms: 7.
    expect(h.lines.filter((l) => /still terminating \d+m \d+s after terminate/.test(l)).length).toBe(Math.ceil(lagMs / PROGRESS_MS) - 1);
    // Deleting again is fine (already gone).
    await remove(id, outs);
  });

  it("read returns the live instance, and an empty id once it vanished", async () => {
    const { id, outs } = await create(instanceInputs());
    const live = await provider.read(id, outs);
    expect(live.id).toBe(id);
    expect(live.props?.status).toBe("active");
    await client().terminateInstances([id]);
    held.delete(id);
    const gone = await provider.read(id, outs);
    expect(gone.id).toBe("");
    // After terminated -> 404, still empty.
    clock.advance(h.emu.state.settings().terminateMs);
    expect((await client().getInstance(id).catch((e: Error) => e.name))).toBe("NotFoundError");
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
    const { id, outs } = await create(instanceInputs());
    const { outs: updated } = await provider.update(id, outs, instanceInputs({ providerVersion: "2", ttlSeconds: 1 }));
    expect(updated).toMatchObject({ providerVersion: "2", instanceId: id, ttlSeconds: outs.ttlSeconds, status: "active" });
    await remove(id, outs);
  });
});
