// Each injected fault: what the client sees, how many times, and that it then clears.
// The emulator runs on a virtual clock that only the test moves, so every timing fault is checked
// at its exact boundary whatever the machine's load.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startLambdaEmulator, type ApiInstance, type EmulatorOptions, type LambdaEmulator } from "../../fixtures/lambda-emulator";
import { SteppingClock } from "../../fixtures/steppingClock";
import { call, data, errorCode, type ApiResponse } from "./http";

let clock: SteppingClock;
beforeEach(() => {
  clock = new SteppingClock();
});
const started: LambdaEmulator[] = [];
async function start(opts: EmulatorOptions = {}): Promise<LambdaEmulator> {
  // Raw, unpaced requests: the vendor rate limit is off here except where a test turns it on.
  const emu = await startLambdaEmulator({ bootMs: 0, terminateMs: 0, clock: { now: clock.now }, rateLimit: null, ...opts });
  emu.seed.sshKey("f-key");
  started.push(emu);
  return emu;
}
afterEach(async () => {
  for (const emu of started.splice(0)) {
    await emu.close();
  }
});

const LAUNCH = { region_name: "us-east-1", instance_type_name: "gpu_8x_b200_sxm6", ssh_key_names: ["f-key"] };
const launch = (emu: LambdaEmulator, extra: Record<string, unknown> = {}): Promise<ApiResponse> =>
  call(emu, "POST", "/instance-operations/launch", { ...LAUNCH, ...extra });
const launchedId = (res: ApiResponse): string => data<{ instance_ids: string[] }>(res).instance_ids[0];

async function statuses(emu: LambdaEmulator, n: number, path = "/instances"): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await call(emu, "GET", path)).status);
  return out;
}

describe("counted request faults", () => {
  it("throttle(n): n x 429 with an empty body, then normal", async () => {
    const emu = await start();
    emu.faults.throttle(2);
    const first = await call(emu, "GET", "/instances");
    expect([first.status, first.text]).toEqual([429, ""]);
    expect(await statuses(emu, 2)).toEqual([429, 200]);
    expect(emu.requests().map((r) => r.fault)).toEqual(["throttle", "throttle", undefined]);
  });

  it("a match limits a fault to one endpoint", async () => {
    const emu = await start();
    emu.faults.throttle(1, { method: "POST", path: "/instance-operations/launch" });
    expect(await statuses(emu, 1)).toEqual([200]);
    expect((await launch(emu)).status).toBe(429);
    expect((await launch(emu)).status).toBe(200);
    emu.faults.serverErrors(1, { match: { path: "/instances*" } });
    expect((await call(emu, "GET", "/instance-types")).status).toBe(200);
    expect((await call(emu, "GET", "/instances/abc")).status).toBe(500);
  });

  it("serverErrors(n): global/internal-error with the chosen 5xx, and no side effect on launch", async () => {
    const emu = await start();
    emu.faults.serverErrors(2, { status: 502 });
    for (let i = 0; i < 2; i++) {
      const res = await launch(emu);
      expect([res.status, errorCode(res)]).toEqual([502, "global/internal-error"]);
    }
    expect(emu.state.instances()).toEqual([]);
    expect((await launch(emu)).status).toBe(200);
    expect(() => emu.faults.serverErrors(1, { status: 404 })).toThrow(/5xx/);
  });

  it("providerErrors(n): provider/* code, 503 by default, custom code allowed", async () => {
    const emu = await start();
    emu.faults.providerErrors(1);
    emu.faults.providerErrors(1, { code: "provider/network-unavailable", status: 502 });
    const a = await call(emu, "GET", "/instance-types");
    const b = await call(emu, "GET", "/instance-types");
    expect([a.status, errorCode(a)]).toEqual([503, "provider/internal-unavailable"]);
    expect([b.status, errorCode(b)]).toEqual([502, "provider/network-unavailable"]);
    expect((await call(emu, "GET", "/instance-types")).status).toBe(200);
    expect(() => emu.faults.providerErrors(1, { code: "global/x" })).toThrow(/provider\//);
  });

  it("delayResponses(ms, n): the next n answers arrive late", async () => {
    const emu = await start();
    emu.faults.delayResponses(300, 1);
    // A real delay (a slow network is real time): never shorter than asked.
    const t0 = performance.now();
    expect((await call(emu, "GET", "/instances")).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(299);
    expect((await call(emu, "GET", "/instances")).status).toBe(200);
    // Only the first answer was held back.
    expect(emu.requests().map((r) => r.fault)).toEqual(["delayResponses", undefined]);
  });

  it("rejects nonsense counts", async () => {
    const emu = await start();
    expect(() => emu.faults.throttle(-1)).toThrow(/non-negative integer/);
    expect(() => emu.faults.quotaExceeded(1.5)).toThrow(/non-negative integer/);
    expect(() => emu.faults.bootSlowMs(Number.NaN)).toThrow(/milliseconds/);
    expect(() => emu.faults.setCapacity("gpu_nope", [])).toThrow(/unknown instance type 'gpu_nope'/);
  });
});

describe("account faults", () => {
  it("expireKey(): every call 401 until restoreKey()", async () => {
    const emu = await start();
    emu.faults.expireKey();
    for (const res of [await call(emu, "GET", "/instances"), await launch(emu)]) {
      expect([res.status, errorCode(res)]).toEqual([401, "global/invalid-api-key"]);
    }
    emu.faults.restoreKey();
    expect(await statuses(emu, 1)).toEqual([200]);
  });

  it("accountInactive(): 403 global/account-inactive until switched off", async () => {
    const emu = await start();
    emu.faults.accountInactive();
    const res = await launch(emu);
    expect([res.status, errorCode(res)]).toEqual([403, "global/account-inactive"]);
    emu.faults.accountInactive(false);
    expect((await launch(emu)).status).toBe(200);
  });

  it("quotaExceeded(n): n launches refused with global/quota-exceeded", async () => {
    const emu = await start();
    emu.faults.quotaExceeded(1);
    expect(errorCode(await launch(emu))).toBe("global/quota-exceeded");
    expect((await launch(emu)).status).toBe(200);
  });
});

describe("capacity faults", () => {
  it("setCapacity(type, []): sold out everywhere, listed with []", async () => {
    const emu = await start();
    emu.faults.setCapacity("gpu_8x_b200_sxm6", []);
    const types = data<Record<string, { regions_with_capacity_available: unknown[] }>>(await call(emu, "GET", "/instance-types"));
    expect(types.gpu_8x_b200_sxm6.regions_with_capacity_available).toEqual([]);
    expect(errorCode(await launch(emu))).toBe("instance-operations/launch/insufficient-capacity");
    emu.faults.setCapacity("gpu_8x_b200_sxm6", ["us-east-1"]);
    expect((await launch(emu)).status).toBe(200);
  });

  it("refuseLaunchIn(region, n): listed as available, launch still refused n times, other regions fine", async () => {
    const emu = await start();
    emu.faults.refuseLaunchIn("us-east-1", 2);
    const types = data<Record<string, { regions_with_capacity_available: { name: string }[] }>>(await call(emu, "GET", "/instance-types"));
    expect(types.gpu_8x_b200_sxm6.regions_with_capacity_available.map((r) => r.name)).toContain("us-east-1");
    expect((await launch(emu, { region_name: "us-west-1" })).status).toBe(200);
    expect(errorCode(await launch(emu))).toBe("instance-operations/launch/insufficient-capacity");
    expect(errorCode(await launch(emu))).toBe("instance-operations/launch/insufficient-capacity");
    expect((await launch(emu)).status).toBe(200);
  });

  it("refuseLaunchIn(region, n, type) only affects that type", async () => {
    const emu = await start();
    emu.faults.refuseLaunchIn("us-east-1", 1, "gpu_8x_h100_sxm5");
    expect((await launch(emu)).status).toBe(200);
    expect(errorCode(await launch(emu, { instance_type_name: "gpu_8x_h100_sxm5" }))).toBe("instance-operations/launch/insufficient-capacity");
  });

  it("setPrice changes the listed price and new instances' price", async () => {
    const emu = await start();
    emu.faults.setPrice("gpu_8x_b200_sxm6", 3992);
    const id = launchedId(await launch(emu));
    expect(data<ApiInstance>(await call(emu, "GET", `/instances/${id}`)).instance_type.price_cents_per_hour).toBe(3992);
  });
});

describe("lifecycle faults", () => {
  it("bootSlowMs(ms): instances stay booting longer", async () => {
    const emu = await start({ bootMs: 5 });
    emu.faults.bootSlowMs(200);
    const id = launchedId(await launch(emu));
    const status = async () => data<ApiInstance>(await call(emu, "GET", `/instances/${id}`)).status;
    clock.advance(199);
    expect(await status()).toBe("booting");
    clock.advance(1);
    expect(await status()).toBe("active");
  });

  it("bootUnhealthy(n): the next n instances end their boot unhealthy; restart heals", async () => {
    const emu = await start({ bootMs: 10 });
    emu.faults.bootUnhealthy(1);
    const bad = launchedId(await launch(emu));
    const good = launchedId(await launch(emu));
    const status = async (id: string) => data<ApiInstance>(await call(emu, "GET", `/instances/${id}`)).status;
    expect(await status(bad)).toBe("booting");
    clock.advance(10);
    expect(await status(bad)).toBe("unhealthy");
    expect(await status(good)).toBe("active");
    await call(emu, "POST", "/instance-operations/restart", { instance_ids: [bad] });
    expect(await status(bad)).toBe("booting");
    clock.advance(10);
    expect(await status(bad)).toBe("active");
  });

  it("terminateLagMs(ms): terminating lasts that long", async () => {
    const emu = await start();
    emu.faults.terminateLagMs(200);
    const id = launchedId(await launch(emu));
    await call(emu, "POST", "/instance-operations/terminate", { instance_ids: [id] });
    clock.advance(199);
    expect(data<ApiInstance>(await call(emu, "GET", `/instances/${id}`)).status).toBe("terminating");
    clock.advance(1);
    expect((await call(emu, "GET", `/instances/${id}`)).status).toBe(404);
  });

  it("filesystemInUseFor(ms): delete refused for that long after terminated", async () => {
    const emu = await start();
    const fs = emu.seed.filesystem("f-fs", "us-east-1");
    emu.faults.filesystemInUseFor(100);
    const id = launchedId(await launch(emu, { file_system_names: ["f-fs"] }));
    await call(emu, "POST", "/instance-operations/terminate", { instance_ids: [id] });
    expect((await call(emu, "GET", `/instances/${id}`)).status).toBe(404);
    expect(errorCode(await call(emu, "DELETE", `/filesystems/${fs.id}`))).toBe("filesystems/filesystem-in-use");
    clock.advance(99);
    expect(errorCode(await call(emu, "DELETE", `/filesystems/${fs.id}`))).toBe("filesystems/filesystem-in-use");
    clock.advance(1);
    expect((await call(emu, "DELETE", `/filesystems/${fs.id}`)).status).toBe(200);
  });

  it("loseLaunchResponses(n): the instance exists although the launch answered 500", async () => {
    const emu = await start();
    emu.faults.loseLaunchResponses(1);
    const res = await launch(emu, { name: "adopt-me", tags: [{ key: "hgx:run", value: "r1" }] });
    expect([res.status, errorCode(res)]).toEqual([500, "global/internal-error"]);
    const list = data<ApiInstance[]>(await call(emu, "GET", "/instances"));
    expect(list.map((i) => i.name)).toEqual(["adopt-me"]);
    expect(emu.leakedInstances()).toHaveLength(1);
    expect(emu.requests().at(-2)?.fault).toBe("loseLaunchResponses");
  });

  it("forceStatus(id, status): e.g. preempted or unhealthy while active", async () => {
    const emu = await start();
    const id = launchedId(await launch(emu));
    emu.faults.forceStatus(id, "preempted");
    expect(data<ApiInstance>(await call(emu, "GET", `/instances/${id}`)).status).toBe("preempted");
    emu.faults.forceStatus(id, "unhealthy");
    expect(data<ApiInstance>(await call(emu, "GET", `/instances/${id}`)).status).toBe("unhealthy");
    expect(() => emu.faults.forceStatus("nope", "active")).toThrow(/no instance 'nope'/);
  });
});

describe("rate limiting", () => {
  it("is on by default with the vendor's limits; null turns it off", async () => {
    const on = await startLambdaEmulator({ bootMs: 0, terminateMs: 0 });
    started.push(on);
    expect(await statuses(on, 2)).toEqual([200, 429]);
    const off = await start();
    expect(await statuses(off, 5)).toEqual([200, 200, 200, 200, 200]);
  });

  it("when on: requests closer than minIntervalMs and launches closer than launchIntervalMs get 429", async () => {
    const emu = await start({ rateLimit: { minIntervalMs: 100, launchIntervalMs: 300 } });
    expect(await statuses(emu, 2)).toEqual([200, 429]); // t = 0
    clock.advance(99);
    expect(await statuses(emu, 1)).toEqual([429]); // a refused request does not restart the interval
    clock.advance(1);
    expect(await statuses(emu, 1)).toEqual([200]); // t = 100
    clock.advance(100);
    expect((await launch(emu)).status).toBe(200); // t = 200: first launch
    clock.advance(100);
    const tooSoon = await launch(emu); // t = 300: request interval passed, launch interval not
    expect([tooSoon.status, tooSoon.text]).toEqual([429, ""]);
    clock.advance(100);
    expect(await statuses(emu, 1)).toEqual([200]); // t = 400
    clock.advance(100);
    expect((await launch(emu)).status).toBe(200); // t = 500: 300 after the first launch
  });

  it("on the vendor's limits: exact 1 s / 12 s boundaries on a manual clock", async () => {
    // On the manual clock: time moves only when the test says, so no machine load can flip the outcome.
    const emu = await start({ rateLimit: { minIntervalMs: 1_000, launchIntervalMs: 12_000 } });
    expect(await statuses(emu, 2)).toEqual([200, 429]);
    clock.advance(1_000);
    expect((await launch(emu)).status).toBe(200);
    clock.advance(11_999);
    const tooSoon = await launch(emu);
    expect([tooSoon.status, tooSoon.text]).toEqual([429, ""]);
    clock.advance(1);
    expect((await launch(emu)).status).toBe(200);
    clock.advance(999);
    expect(await statuses(emu, 1)).toEqual([429]);
    clock.advance(1);
    expect(await statuses(emu, 1)).toEqual([200]);
    expect(emu.requests().map((r) => r.fault ?? "ok")).toEqual(["ok", "rateLimit", "ok", "rateLimit", "ok", "rateLimit", "ok"]);
  });

  it("can be switched on and off at run time", async () => {
    const emu = await start();
    emu.faults.rateLimit({ minIntervalMs: 1_000, launchIntervalMs: 1_000 });
    expect(await statuses(emu, 2)).toEqual([200, 429]);
    emu.faults.rateLimit(null);
    expect(await statuses(emu, 2)).toEqual([200, 200]);
  });
});

describe("reset and the control endpoint", () => {
  it("reset() clears faults and restores the starting timings and capacity", async () => {
    const emu = await start({ bootMs: 7 });
    emu.faults.throttle(5);
    emu.faults.expireKey();
    emu.faults.bootSlowMs(1_000);
    emu.faults.setCapacity("gpu_8x_b200_sxm6", []);
    emu.faults.reset();
    expect(emu.state.settings().bootMs).toBe(7);
    expect((await launch(emu)).status).toBe(200);
  });

  it("POST /_emulator/faults drives the same methods out of process; GET /_emulator/* inspects", async () => {
    const emu = await start();
    const post = (body: unknown): Promise<Response> =>
      fetch(`${emu.origin}/_emulator/faults`, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(5_000) });
    expect((await post({ fault: "throttle", args: [1] })).status).toBe(200);
    expect((await post({ fault: "providerErrors", args: [1, { code: "provider/internal-unavailable" }] })).status).toBe(200);
    expect(await statuses(emu, 3)).toEqual([429, 503, 200]);
    // The control endpoint needs no API key, so it still works after expireKey.
    expect((await post({ fault: "expireKey" })).status).toBe(200);
    expect(await statuses(emu, 1)).toEqual([401]);
    expect((await post({ fault: "restoreKey" })).status).toBe(200);

    const unknown = await post({ fault: "formatDisk" });
    expect(unknown.status).toBe(400);
    const badArgs = await post({ fault: "throttle", args: [-3] });
    expect(badArgs.status).toBe(400);
    expect(JSON.stringify(await badArgs.json())).toMatch(/non-negative integer/);

    const id = launchedId(await launch(emu));
    const leaked = (await (await fetch(`${emu.origin}/_emulator/leaked`)).json()) as { data: { id: string }[] };
    expect(leaked.data.map((i) => i.id)).toEqual([id]);
    const state = (await (await fetch(`${emu.origin}/_emulator/state`)).json()) as { data: { instances: unknown[]; sshKeys: unknown[] } };
    expect(state.data.instances).toHaveLength(1);
    expect(state.data.sshKeys).toHaveLength(1);
    const log = (await (await fetch(`${emu.origin}/_emulator/requests`)).json()) as { data: { path: string }[] };
    expect(log.data.at(-1)?.path).toBe("/api/v1/instance-operations/launch");
    await call(emu, "POST", "/instance-operations/terminate", { instance_ids: [id] });
    expect(emu.leakedInstances()).toEqual([]);
  });
});
