import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  DEFAULT_LAUNCH_INTERVAL_MS,
  DEFAULT_REQUEST_INTERVAL_MS,
  LAMBDA_RATE_LIMITS,
  LambdaClient,
  PACING_MARGIN_MS,
  reserveSlot,
  sharedPacer,
} from "../../../../components/host/lambda/client";
import { startLambdaEmulator, VENDOR_RATE_LIMIT } from "../../../fixtures/lambda-emulator";
import {
  AccountError,
  CapacityError,
  InvalidApiKeyError,
  InvalidParametersError,
  NotFoundError,
  QuotaExceededError,
  RateLimitedError,
  ServiceError,
} from "../../../../components/host/lambda/errors";
import { SteppingClock } from "../../../fixtures/steppingClock";
import { assertClean, rejectionOf, startHarness, TEST_RATE_LIMIT, type Harness } from "./harness";

let h: Harness;
let errors: unknown[];

beforeEach(async () => {
  h = await startHarness();
  errors = [];
});
afterEach(async () => {
  vi.restoreAllMocks();
  resetPacer(); // a virtual clock's slots must not hold up the next test's real one
  try {
    // Terminate anything a test launched, then check nothing leaked and the key never showed.
    h.emu.faults.reset();
    const c = new LambdaClient({ apiKey: h.emu.apiKey, baseUrl: h.emu.baseUrl });
    const live = (await c.listInstances()).map((i) => i.id);
    if (live.length) await c.terminateInstances(live);
    assertClean(h, errors);
  } finally {
    await h.restore();
  }
});

function resetPacer(): void {
  Object.assign(sharedPacer(), { nextRequestAt: 0, nextLaunchAt: 0 });
}

/** A virtual clock for one test's clients, with the process-wide pacer emptied so no earlier slot carries over. */
function steppingClock(): SteppingClock {
  resetPacer();
  // The harness emulator measures its rate limit in real time, while a client on a virtual clock
  // sends its paced requests in a real-time burst: the limit is exercised on one shared virtual
  // clock in "pacing with a margin" below instead.
  h.emu.faults.rateLimit(null);
  return new SteppingClock();
}

// These tests assert exact request sequences: the client paces 6x the emulator's (compressed)
// 1 request/s limit, so delivery jitter on a loaded machine cannot add a rate-limit 429 of its own.
function client(over: Partial<ConstructorParameters<typeof LambdaClient>[0]> = {}): LambdaClient {
  return new LambdaClient({ apiKey: h.emu.apiKey, baseUrl: h.emu.baseUrl, requestIntervalMs: TEST_RATE_LIMIT.minIntervalMs * 6, ...over });
}

async function failure(fn: () => Promise<unknown>): Promise<Error> {
  const e = await rejectionOf(fn);
  errors.push(e);
  return e;
}

const launchBody = (region = "us-east-1") => ({
  region_name: region,
  instance_type_name: "gpu_8x_b200_sxm6",
  ssh_key_names: ["k"],
  image: { family: "gpu-base-24-04" },
});

describe("LambdaClient against the emulator", () => {
  it("sends Bearer auth and reads instance types with prices and capacity", async () => {
    const types = await client().listInstanceTypes();
    expect(types.gpu_8x_b200_sxm6.instance_type.price_cents_per_hour).toBe(4592);
    expect(types.gpu_8x_b200_sxm6.regions_with_capacity_available.length).toBeGreaterThan(0);
    expect(h.emu.requests().every((r) => r.auth === "bearer")).toBe(true);
  });

  it("survives a 429 burst with backoff, and every client in the process backs off together", async () => {
    h.emu.faults.throttle(4);
    const types = await client().listInstanceTypes();
    expect(Object.keys(types)).toContain("gpu_8x_b200_sxm6");
    const statuses = h.emu.requests().map((r) => r.status);
    expect(statuses).toEqual([429, 429, 429, 429, 200]);
    // Retry notices were logged without the key.
    expect(h.lines.filter((l) => l.includes("retry")).length).toBe(4);
  });

  it("survives 5xx and provider/* faults", async () => {
    h.emu.faults.serverErrors(2, { status: 502 });
    h.emu.faults.providerErrors(2, { code: "provider/internal-unavailable" });
    expect(Array.isArray(await client().listInstances())).toBe(true);
    expect(h.emu.requests().map((r) => r.status)).toEqual([502, 502, 503, 503, 200]);
  });

  it("gives up after the attempt budget with a message saying what to do", async () => {
    h.emu.faults.serverErrors(50);
    const e = await failure(() => client({ retry: { maxAttempts: 3, baseDelayMs: 1 } }).listInstances());
    expect(e).toBeInstanceOf(ServiceError);
    expect(e.message).toMatch(/gave up after 3 attempt\(s\)/);
    expect(e.message).toMatch(/status\.lambda\.ai/);
    expect(h.emu.requests().length).toBe(3);
  });

  it("gives up when the total time budget would be exceeded", async () => {
    h.emu.faults.throttle(50);
    const clock = steppingClock();
    vi.spyOn(Math, "random").mockReturnValue(1); // no jitter: every backoff is its ceiling
    const started = clock.now();
    // Pacing gap below the first backoff, so the only sleeps are the backoffs.
    const e = await failure(() => client({ clock, requestIntervalMs: 1, retry: { maxAttempts: 100, baseDelayMs: 40, maxTotalMs: 300 } }).listInstances());
    expect(e).toBeInstanceOf(RateLimitedError);
    // Backoffs 40, 80, 160 ms fit in 300 ms; the next (320) would end at 600: given up after 4 attempts, at 280 ms.
    expect(clock.sleeps.filter((ms) => ms > 0)).toEqual([40, 80, 160]);
    expect(clock.now() - started).toBe(280);
    expect(e.message).toMatch(/gave up after 4 attempt\(s\)/);
    expect(h.emu.requests().length).toBe(4);
  });

  it("maps an expired key to a fatal error that says how to fix it, without the key", async () => {
    h.emu.faults.expireKey();
    const e = await failure(() => client().listInstances());
    expect(e).toBeInstanceOf(InvalidApiKeyError);
    expect(e.message).toMatch(/API key was rejected.*pulumi config set --secret lambdaApiKey/);
    expect(h.emu.requests().length).toBe(1); // fatal: no retries
    expect(JSON.stringify(e)).not.toContain(h.emu.apiKey);
    expect(Object.values(e).join(" ")).not.toContain(h.emu.apiKey);
  });

  it("maps quota, inactive account and invalid parameters", async () => {
    h.emu.seed.sshKey("k");
    h.emu.faults.quotaExceeded(1);
    expect(await failure(() => client().launchInstance(launchBody()))).toBeInstanceOf(QuotaExceededError);
    h.emu.faults.accountInactive(true);
    expect(await failure(() => client().listInstances())).toBeInstanceOf(AccountError);
    h.emu.faults.accountInactive(false);
    const bad = await failure(() => client().launchInstance({ ...launchBody(), hostname: "Not_Valid" }));
    expect(bad).toBeInstanceOf(InvalidParametersError);
    expect(bad.message).toMatch(/hostname/);
  });

  it("maps capacity refusals with the region, and missing objects to NotFoundError", async () => {
    h.emu.seed.sshKey("k");
    h.emu.faults.refuseLaunchIn("us-east-1", 1);
    const e = (await failure(() => client().launchInstance(launchBody("us-east-1")))) as CapacityError;
    expect(e).toBeInstanceOf(CapacityError);
    expect(e.region).toBe("us-east-1");
    expect(await failure(() => client().getInstance("0123456789abcdef0123456789abcdef"))).toBeInstanceOf(NotFoundError);
  });

  it("never retries an ambiguous launch failure (the caller checks for the instance first)", async () => {
    h.emu.seed.sshKey("k");
    h.emu.faults.loseLaunchResponses(1);
    const e = await failure(() => client().launchInstance(launchBody()));
    expect(e).toBeInstanceOf(ServiceError);
    expect(h.emu.requests().filter((r) => r.path.endsWith("/launch")).length).toBe(1);
    // The instance exists although the response was lost: afterEach terminates it.
    expect((await client().listInstances()).length).toBe(1);
  });

  it("wraps network errors without leaking the request config", async () => {
    const dead = new LambdaClient({ apiKey: h.emu.apiKey, baseUrl: "http://127.0.0.1:9/api/v1", retry: { maxAttempts: 2, baseDelayMs: 1 } });
    const e = await failure(() => dead.listInstances());
    expect(e).toBeInstanceOf(ServiceError);
    expect(e.message).toMatch(/network\/ECONNREFUSED/);
    expect((e as unknown as { config?: unknown }).config).toBeUndefined();
    expect((e as unknown as { cause?: unknown }).cause).toBeUndefined();
  });

  it("paces all clients of the process through one shared schedule; launches at least the launch interval apart", async () => {
    h.emu.seed.sshKey("k");
    // On a virtual clock each request goes out when its pacing sleep wakes: the wake times are the send times.
    const clock = steppingClock();
    const opts = { requestIntervalMs: 60, launchIntervalMs: 250, clock };
    const a = client(opts);
    const b = client(opts);
    const t0 = clock.now();
    await Promise.all([a.listSshKeys(), b.listSshKeys(), a.listSshKeys(), b.listSshKeys()]);
    expect(clock.wakes.map((t) => t - t0)).toEqual([0, 60, 120, 180]);
    expect(h.emu.requests().length).toBe(4);
    const before = clock.wakes.length;
    await Promise.all([a.launchInstance(launchBody()), b.launchInstance(launchBody())]);
    const launches = clock.wakes.slice(before);
    expect(launches).toHaveLength(2);
    // The first launch takes the next request slot; the second waits out the launch interval.
    expect(launches[0]).toBe(t0 + 4 * 60);
    expect(launches[1] - launches[0]).toBe(250);
    expect(h.emu.requests().filter((r) => r.path.endsWith("/launch")).map((r) => r.status)).toEqual([200, 200]);
    expect(sharedPacer()).toBe((globalThis as unknown as Record<symbol, unknown>)[Symbol.for("hgx.lambda-cloud.pacer")]);
  });

  it("does not expose the key on the client object", () => {
    const c = client();
    expect(JSON.stringify(c)).not.toContain(h.emu.apiKey);
    expect(Object.values(c).join(" ")).not.toContain(h.emu.apiKey);
  });
});

describe("pacing with a margin (virtual clock: the vendor's real limits, no real waiting)", () => {
  const launch = { region_name: "us-east-1", instance_type_name: "gpu_8x_b200_sxm6", ssh_key_names: ["k"], image: { family: "gpu-base-24-04" } };

  /**
   * Two launches from one client against the emulator enforcing 1 launch per 12 s, the first one
   * delivered `jitterMs` late (as a slow network hop would): the second, paced from its send time,
   * then arrives less than the pacing interval after the first arrived.
   */
  async function twoLaunches(launchIntervalMs: number, jitterMs: number) {
    const clock = new SteppingClock(Date.UTC(2026, 0, 1));
    const emu = await startLambdaEmulator({ clock, rateLimit: VENDOR_RATE_LIMIT, bootMs: 0, terminateMs: 0 });
    try {
      emu.seed.sshKey("k");
      emu.faults.delayResponses(jitterMs, 1, { method: "POST", path: "/instance-operations/launch" });
      const c = new LambdaClient({
        apiKey: emu.apiKey,
        baseUrl: emu.baseUrl,
        clock,
        pacer: { nextRequestAt: 0, nextLaunchAt: 0 },
        requestIntervalMs: DEFAULT_REQUEST_INTERVAL_MS,
        launchIntervalMs,
        retry: { maxAttempts: 6, baseDelayMs: 1000, maxTotalMs: 180_000 },
        log: () => undefined,
      });
      const start = clock.now();
      const ids = [await c.launchInstance(launch), await c.launchInstance(launch)];
      const elapsed = clock.now() - start;
      await c.terminateInstances(ids);
      const log = emu.requests().filter((r) => r.path.endsWith("/launch"));
      return { elapsed, rateLimited: log.filter((r) => r.fault === "rateLimit").length, leaked: emu.leakedInstances().length };
    } finally {
      await emu.close();
    }
  }

  it("exactly 12,000 ms apart: a 400 ms late first launch makes the second arrive early (429, another 12 s)", async () => {
    const r = await twoLaunches(LAMBDA_RATE_LIMITS.launchIntervalMs, 400);
    expect(r.rateLimited).toBe(1);
    expect(r.elapsed).toBeGreaterThanOrEqual(24_000);
    expect(r.leaked).toBe(0);
  });

  it("the default 13,000 ms absorbs the same jitter: no 429, one interval", async () => {
    expect(DEFAULT_LAUNCH_INTERVAL_MS).toBe(LAMBDA_RATE_LIMITS.launchIntervalMs + PACING_MARGIN_MS.launch);
    const r = await twoLaunches(DEFAULT_LAUNCH_INTERVAL_MS, 400);
    expect(r.rateLimited).toBe(0);
    expect(r.elapsed).toBeLessThan(14_000);
    expect(r.leaked).toBe(0);
  });

  it("reserveSlot: requests and launches keep their intervals from the schedule, not from the caller", () => {
    const pacer = { nextRequestAt: 0, nextLaunchAt: 0 };
    const gaps = { requestIntervalMs: 1_200, launchIntervalMs: 13_000 };
    expect(reserveSlot(pacer, 100, true, gaps)).toBe(100);
    expect(reserveSlot(pacer, 100, false, gaps)).toBe(1_300);
    expect(reserveSlot(pacer, 200, true, gaps)).toBe(13_100);
    expect(pacer).toEqual({ nextRequestAt: 14_300, nextLaunchAt: 26_100 });
    expect(reserveSlot(pacer, 50_000, true, gaps)).toBe(50_000);
  });
});
