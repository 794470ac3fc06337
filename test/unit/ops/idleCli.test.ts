import { describe, expect, it } from "vitest";
import type { ActivityRecord, MetricsScrape } from "../../../components/ops/idle";
import { idleTeardownTargets, parseIdleArgs, PROGRESS_EVERY_MS, runIdle, type IdleIo, type IdleSettings } from "../../../components/ops/idleCli";

const MIN = 60_000;
const T0 = Date.parse("2026-12-07T22:00:00Z");

const metrics = (requests: number, running = 0): MetricsScrape[] => [
  { source: "server", text: `sglang:num_requests_total ${requests}\nsglang:num_running_reqs ${running}\nsglang:num_queue_reqs 0` },
];

/** A fake world: a clock moved by hand, one stack's settings and metrics, records per stack, a destroy log. */
function world(opts: { settings?: IdleSettings; metrics?: () => MetricsScrape[] | Promise<MetricsScrape[]>; destroyFails?: boolean } = {}) {
  let now = T0;
  const out: string[] = [];
  const err: string[] = [];
  const records = new Map<string, ActivityRecord>();
  const destroyed: string[] = [];
  const ticks: Array<() => void> = [];
  const io: IdleIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    now: () => now,
    readSettings: async () => opts.settings ?? { idleTeardownAfter: "45m" },
    readMetrics: async () => (opts.metrics ?? (() => metrics(10)))(),
    loadRecord: async (stack) => records.get(stack),
    saveRecord: async (stack, record) => void records.set(stack, record),
    destroyCompute: async (stack, progress) => {
      progress("- lambda:Instance dev-instance deleting");
      // The wait: the progress ticker fires while the destroy runs.
      now += PROGRESS_EVERY_MS;
      for (const tick of ticks) tick();
      if (opts.destroyFails) throw new Error("engine: resource busy");
      destroyed.push(stack);
    },
    every: (ms, tick) => {
      expect(ms).toBe(PROGRESS_EVERY_MS);
      ticks.push(tick);
      return () => void ticks.splice(ticks.indexOf(tick), 1);
    },
  };
  return { io, out, err, records, destroyed, advance: (ms: number) => void (now += ms), ticks };
}

describe("runIdle", () => {
  it("schedule: first run starts the clock, a later silent run past the setting tears down only with --confirm", async () => {
    const w = world();
    expect(await runIdle(["--stack", "dev"], w.io)).toBe(0);
    expect(w.out[0]).toBe("idle: stack dev: KEEP — first reading: the idle clock starts now");
    w.advance(46 * MIN);
    w.out.length = 0;
    expect(await runIdle(["--stack", "dev"], w.io)).toBe(0);
    expect(w.out[0]).toBe("idle: stack dev: TEAR DOWN — idle 46 min 00 s >= idleTeardownAfter 45 min 00 s");
    expect(w.out).toContain("  server:sglang:num_requests_total = 10");
    expect(w.out.at(-1)).toMatch(/^idle: dry run: would destroy the compute of stack dev .*pass --confirm to act$/);
    expect(w.destroyed).toEqual([]);
    expect(await runIdle(["--stack", "dev", "--confirm"], w.io)).toBe(0);
    expect(w.destroyed).toEqual(["dev"]);
    expect(w.err).toContain("  - lambda:Instance dev-instance deleting");
    expect(w.err).toContain("idle: still destroying the compute of stack dev through the engine (15 s)");
    expect(w.ticks).toEqual([]);
  });

  it("a run during traffic keeps the stack, even with --confirm and a long silence before", async () => {
    let requests = 10;
    const w = world({ metrics: () => metrics(requests) });
    await runIdle(["--stack", "dev"], w.io);
    w.advance(120 * MIN);
    requests = 11;
    expect(await runIdle(["--stack", "dev", "--confirm"], w.io)).toBe(0);
    expect(w.out).toContain("idle: stack dev: KEEP — activity: server:sglang:num_requests_total 10 -> 11");
    expect(w.destroyed).toEqual([]);
  });

  it("a protected or production stack is refused however idle", async () => {
    for (const [stack, settings] of [
      ["prod", { idleTeardownAfter: "1m" }],
      ["dev", { idleTeardownAfter: "1m", protect: true }],
      ["dev", { idleTeardownAfter: "1m", production: true }],
    ] as const) {
      const w = world({ settings });
      await runIdle(["--stack", stack], w.io);
      w.advance(600 * MIN);
      await runIdle(["--stack", stack, "--confirm"], w.io);
      expect(w.out.at(-1)).toMatch(/KEEP — never torn down by idleness: (production|protected) stack/);
      expect(w.destroyed).toEqual([]);
    }
  });

  it("unreadable metrics keep the stack and say why; the record stays as it was", async () => {
    let fail = false;
    const w = world({ metrics: () => (fail ? Promise.reject(new Error("ssh: handshake failed")) : metrics(10)) });
    await runIdle(["--stack", "dev"], w.io);
    const before = w.records.get("dev");
    fail = true;
    w.advance(600 * MIN);
    await runIdle(["--stack", "dev", "--confirm"], w.io);
    expect(w.out.find((l) => l.includes("KEEP — metrics could not be read"))).toContain("ssh: handshake failed");
    expect(w.records.get("dev")).toBe(before);
    expect(w.destroyed).toEqual([]);
  });

  it("--idle-after overrides the stack's setting; --json prints the decision with the last activity", async () => {
    const w = world({ settings: {} });
    await runIdle(["--stack", "dev"], w.io);
    expect(w.out[0]).toMatch(/KEEP — idleTeardownAfter is not set/);
    // Off keeps no record: the clock starts with the first run that has a setting.
    expect(w.records.size).toBe(0);
    await runIdle(["--stack", "dev", "--idle-after", "2m"], w.io);
    w.advance(5 * MIN);
    await runIdle(["--stack", "dev", "--idle-after", "2m", "--json"], w.io);
    const json = JSON.parse(w.out.at(-2)!) as { verdict: string; lastActivityAt: string; idleForMs: number };
    expect(json).toMatchObject({ verdict: "teardown", lastActivityAt: "2026-12-07T22:00:00.000Z", idleForMs: 5 * MIN });
  });

  it("a failed teardown exits 1 naming the stack and the way out", async () => {
    const w = world({ destroyFails: true, settings: { idleTeardownAfter: "1m" } });
    await runIdle(["--stack", "dev"], w.io);
    w.advance(2 * MIN);
    expect(await runIdle(["--stack", "dev", "--confirm"], w.io)).toBe(1);
    expect(w.err.at(-1)).toMatch(/teardown of stack dev failed: engine: resource busy; .*npm run down -- dev/);
  });

  it("bad arguments and settings exit 2 naming the flag or setting and the fix", async () => {
    for (const [argv, message, settings] of [
      [[], /--stack is required/, undefined],
      [["--stack"], /--stack needs a value/, undefined],
      [["--stack", "dev", "--idle-after", "soon"], /--idle-after = "soon" is not a positive duration; write e\.g\. 45m/, undefined],
      [["--stack", "dev"], /idleTeardownAfter = "forever" is not a positive duration/, { idleTeardownAfter: "forever" }],
      [["--stack", "dev", "--force"], /unknown argument "--force"/, undefined],
    ] as const) {
      const w = world(settings ? { settings } : {});
      expect(await runIdle(argv, w.io)).toBe(2);
      expect(w.err.at(-1)).toMatch(message);
    }
    expect(parseIdleArgs(["--help"])).toBe("help");
  });
});

describe("idleTeardownTargets", () => {
  it("destroys down.sh's targets but keeps the local stack's Docker volume (the HF and compile caches)", () => {
    const exported = {
      deployment: {
        resources: [
          { urn: "urn:pulumi:local::hgx-inference::pulumi:pulumi:Stack::hgx-inference-local", type: "pulumi:pulumi:Stack", custom: false },
          { urn: "urn:pulumi:local::hgx-inference::docker:index/volume:Volume::hf-cache", type: "docker:index/volume:Volume", custom: true },
          { urn: "urn:pulumi:local::hgx-inference::docker:index/container:Container::sglang", type: "docker:index/container:Container", custom: true },
          { urn: "urn:pulumi:local::hgx-inference::pulumi:providers:docker::default", type: "pulumi:providers:docker", custom: true },
        ],
      },
    };
    expect(idleTeardownTargets(exported, { retainFilesystem: true })).toEqual(["urn:pulumi:local::hgx-inference::docker:index/container:Container::sglang"]);
  });
});
