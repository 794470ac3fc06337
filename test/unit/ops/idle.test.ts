import { describe, expect, it } from "vitest";
import { activityIn, decideIdle, formatIdle, sampleFromScrapes, type ActivityRecord, type IdleInput } from "../../../components/ops/idle";

const MIN = 60_000;
const T0 = Date.parse("2026-12-07T22:00:00Z");

/** /metrics text of a server that finished `requests` requests and has `running` in flight. */
function server(requests: number, running = 0, queued = 0): string {
  return [
    `sglang:num_requests_total{model_name="qwen"} ${requests}`,
    `sglang:prompt_tokens_total{model_name="qwen"} ${requests * 100}`,
    `sglang:generation_tokens_total{model_name="qwen"} ${requests * 10}`,
    `sglang:num_running_reqs{model_name="qwen"} ${running}`,
    `sglang:num_queue_reqs{model_name="qwen"} ${queued}`,
  ].join("\n");
}
const router = (requests: number, active = 0): string => `smg_router_requests_total{route="chat"} ${requests}\nsmg_worker_requests_active{worker="w0"} ${active}\nsmg_http_requests_total 9999`;

function reading(atMs: number, requests: number, opts: { running?: number; routerRequests?: number; routerActive?: number } = {}) {
  return sampleFromScrapes(
    [
      { source: "server", text: server(requests, opts.running ?? 0) },
      { source: "router", text: router(opts.routerRequests ?? requests, opts.routerActive ?? 0) },
    ],
    atMs,
  );
}

function input(over: Partial<IdleInput>): IdleInput {
  return { stack: "dev", nowMs: T0, idleAfterMs: 45 * MIN, protectedReason: undefined, sample: reading(T0, 10), previous: undefined, ...over };
}

/** A record as a run `minutesAgo` minutes before T0 left it, with the last activity `idleMinutes` before T0. */
function record(minutesAgo: number, requests: number, idleMinutes: number, stack = "dev"): ActivityRecord {
  return { stack, lastSample: reading(T0 - minutesAgo * MIN, requests), lastActivityAtMs: T0 - idleMinutes * MIN, lastActivityReason: "server:sglang:num_requests_total 9 -> 10" };
}

describe("sampleFromScrapes", () => {
  it("keys each counter and gauge by its source, ignores health-probe counts, and names a source whose text is not metrics", () => {
    const s = reading(T0, 10, { routerRequests: 4, routerActive: 1 });
    expect(s.counters).toEqual({
      "server:sglang:num_requests_total": 10,
      "server:sglang:prompt_tokens_total": 1000,
      "server:sglang:generation_tokens_total": 100,
      "router:smg_router_requests_total": 4,
    });
    expect(s.inFlight).toEqual({ "server:sglang:num_running_reqs": 0, "server:sglang:num_queue_reqs": 0, "router:smg_worker_requests_active": 1 });
    expect(() => sampleFromScrapes([{ source: "router", text: "502 Bad Gateway" }], T0)).toThrow(/^router \/metrics: metrics line 1/);
  });
});

describe("decideIdle", () => {
  it("tears down after idleTeardownAfter of silence, with the evidence", () => {
    const d = decideIdle(input({ previous: record(10, 10, 46) }));
    expect(d.verdict).toBe("teardown");
    expect(d.reason).toBe("idle 46 min 00 s >= idleTeardownAfter 45 min 00 s");
    expect(d.idleForMs).toBe(46 * MIN);
    expect(d.evidence[0]).toBe("no request since 2026-12-07T21:14:00.000Z (server:sglang:num_requests_total 9 -> 10): idle 46 min 00 s");
    expect(d.evidence).toContain("server:sglang:num_requests_total = 10");
    // The last activity time is kept; only the reading moves on.
    expect(d.record).toMatchObject({ lastActivityAtMs: T0 - 46 * MIN, lastSample: { atMs: T0 } });
  });

  it("keeps a stack silent for less than the setting, saying how long is left", () => {
    const d = decideIdle(input({ previous: record(10, 10, 30) }));
    expect(d).toMatchObject({ verdict: "keep", idleForMs: 30 * MIN });
    expect(d.reason).toBe("idle 30 min 00 s of 45 min 00 s; teardown in 15 min 00 s if it stays silent");
  });

  it("a request in flight wins over the timer, at the server or at the router", () => {
    for (const sample of [reading(T0, 10, { running: 2 }), reading(T0, 10, { routerActive: 1 })]) {
      const d = decideIdle(input({ sample, previous: record(10, 10, 120) }));
      expect(d.verdict).toBe("keep");
      expect(d.reason).toMatch(/^activity: .* in flight$/);
      expect(d.record?.lastActivityAtMs).toBe(T0);
    }
  });

  it("a counter that moved since the last reading wins over the timer and restarts the idle clock", () => {
    const d = decideIdle(input({ sample: reading(T0, 11), previous: record(10, 10, 120) }));
    expect(d.verdict).toBe("keep");
    expect(d.reason).toBe("activity: server:sglang:num_requests_total 10 -> 11");
    expect(d.record).toMatchObject({ lastActivityAtMs: T0, lastSample: { atMs: T0 } });
  });

  it("a counter that went down (server restarted) counts as activity", () => {
    expect(activityIn(reading(T0, 0), reading(T0 - MIN, 10))).toContain("server:sglang:num_requests_total went down 10 -> 0 (server restarted)");
    expect(decideIdle(input({ sample: reading(T0, 0), previous: record(10, 10, 120) })).verdict).toBe("keep");
  });

  it("the first reading never tears down: the idle clock starts at it", () => {
    const d = decideIdle(input({ previous: undefined }));
    expect(d).toMatchObject({ verdict: "keep", reason: "first reading: the idle clock starts now", record: { lastActivityAtMs: T0 } });
  });

  it("another stack's record is ignored (two stacks never affect each other)", () => {
    const d = decideIdle(input({ previous: record(10, 10, 120, "staging") }));
    expect(d.reason).toBe("first reading: the idle clock starts now");
  });

  it("protected and production stacks are never torn down, however long idle", () => {
    const d = decideIdle(input({ protectedReason: "production stack (prod)", previous: record(10, 10, 600) }));
    expect(d).toEqual({ verdict: "keep", reason: "never torn down by idleness: production stack (prod)", evidence: [] });
  });

  it("off without idleTeardownAfter; keeps when the metrics cannot be read or hold no request counter", () => {
    expect(decideIdle(input({ idleAfterMs: undefined, previous: record(10, 10, 600) })).reason).toMatch(/idleTeardownAfter is not set/);
    expect(decideIdle(input({ sample: undefined, readError: "ssh: connection refused", previous: record(10, 10, 600) }))).toMatchObject({
      verdict: "keep",
      reason: "metrics could not be read, so idleness is not proven: ssh: connection refused",
    });
    const noCounters = sampleFromScrapes([{ source: "server", text: "# metrics off\n" }], T0);
    expect(decideIdle(input({ sample: noCounters, previous: record(10, 10, 600) })).reason).toMatch(/no request counter.*--enable-metrics/);
  });

  it("an endpoint missing from this reading (router not read) blocks the teardown", () => {
    const serverOnly = sampleFromScrapes([{ source: "server", text: server(10) }], T0);
    const d = decideIdle(input({ sample: serverOnly, previous: record(10, 10, 600) }));
    expect(d.verdict).toBe("keep");
    expect(d.reason).toMatch(/lacks router:smg_router_requests_total/);
  });

  it("a clock that went back restarts the idle clock instead of inventing idle time", () => {
    const d = decideIdle(input({ sample: reading(T0 - 20 * MIN, 10), previous: record(10, 10, 600) }));
    expect(d.reason).toBe("the clock went back since the last reading: the idle clock starts now");
  });

  it("formatIdle", () => {
    expect([formatIdle(45_000), formatIdle(12.5 * MIN), formatIdle(65 * MIN), formatIdle(-5)]).toEqual(["45 s", "12 min 30 s", "1 h 05 min", "0 s"]);
  });
});
