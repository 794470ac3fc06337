/**
 * The reaper against the in-process Lambda emulator: instances of several projects, stacks and
 * expiries are launched through the emulator's HTTP API with tags; only the expired ones of this
 * project may be terminated, and only with --confirm.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { formatDuration, ownersFromDeployment, parseExpiry, parseReaperFlags, planReap, reaperFlagsProblem, runReaper, stackInScope, STACK_IDENTITY_TYPE, type OwnerSource, type ReaperOwner } from "../../../components/ops/reaper";
import { expiryFor, instanceTags } from "../../../components/host/lambda/instance";
import { resolveLambdaMachineArgs, type LambdaMachineArgs } from "../../../components/host/lambdaMachine";
import { parseStackConfig, type RawConfig } from "../../../components/config";
import { hostArgsFor } from "../../../components/stack";
import type { Instance, Tag } from "../../../components/host/lambda/types";
import { scaledRateLimit, startLambdaEmulator, withoutRateLimitRetries, type LambdaEmulator } from "../../fixtures/lambda-emulator";

const repoRoot = path.resolve(__dirname, "..", "..", "..");
const PROJECT = "hgx-inference";
const NOW = Date.now();
const iso = (offsetMs: number) => new Date(NOW + offsetMs).toISOString().replace(/\.\d{3}Z$/, "Z");
const HOUR = 3_600_000;

/**
 * Two self-managed backends, A (this test's) and B (a teammate's), each with a `dev` stack: same organization
 * ("organization", every DIY backend's), project and stack name; only the stack id their states hold differs.
 */
const ORG = "organization";
const UID = { dev: "a000000000000001", ci: "a000000000000002", prod: "a000000000000003" } as const;
const UID_B_DEV = "b000000000000001";
/** Backend A as the reaper reads it: its stacks and the identity each one's state records. */
function backend(uids: Readonly<Record<string, string>>, organization = ORG): OwnerSource & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    stacks: async () => Object.keys(uids),
    owners: async (stack) => {
      reads.push(stack);
      return uids[stack] === undefined ? [] : [{ organization, project: PROJECT, stack, uid: uids[stack] }];
    },
  };
}

/** name -> tags; the fleet every emulator test starts from. */
const FLEET: Record<string, Tag[]> = {
  "dev-expired": tags({ project: PROJECT, stack: "dev", expires: iso(-2 * HOUR), ttl: "28800s" }),
  // The teammate's dev on backend B: expired too, and never ours to terminate.
  "dev-expired-backend-b": tags({ project: PROJECT, stack: "dev", expires: iso(-3 * HOUR), ttl: "28800s", uid: UID_B_DEV }),
  // A dev stack id like ours in another organization (same uid: as if copied): not ours either.
  "dev-expired-other-org": tags({ project: PROJECT, stack: "dev", expires: iso(-3 * HOUR), ttl: "28800s", organization: "acme" }),
  "ci-expired": tags({ project: PROJECT, stack: "ci", expires: iso(-5 * 60_000), ttl: "3600s" }),
  "dev-fresh": tags({ project: PROJECT, stack: "dev", expires: iso(6 * HOUR), ttl: "28800s" }),
  "prod-never": tags({ project: PROJECT, stack: "prod", expires: "never" }),
  "dev-no-expiry": tags({ project: PROJECT, stack: "dev" }),
  "dev-garbled": tags({ project: PROJECT, stack: "dev", expires: "tomorrow" }),
  "other-expired": tags({ project: "someone-else", stack: "dev", expires: iso(-48 * HOUR), ttl: "3600s" }),
  "untagged": [],
};
const EXPECTED_TERMINATED = ["ci-expired", "dev-expired"];

function tags(t: { project?: string; stack?: string; expires?: string; ttl?: string; organization?: string; uid?: string }): Tag[] {
  const out: Tag[] = [];
  if (t.project) out.push({ key: "hgx:project", value: t.project });
  if (t.stack) {
    const uid = t.uid ?? UID[t.stack as keyof typeof UID] ?? "f000000000000000";
    out.push({ key: "hgx:organization", value: t.organization ?? ORG }, { key: "hgx:stack", value: t.stack }, { key: "hgx:resource", value: "gpu" }, { key: "hgx:stack-id", value: uid });
  }
  if (t.expires) out.push({ key: "hgx:expires-at", value: t.expires });
  if (t.ttl) out.push({ key: "hgx:ttl", value: t.ttl });
  return out;
}

let emu: LambdaEmulator;
let idsByName: Record<string, string> = {};

async function api<T>(method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(`${emu.baseUrl}${p}`, {
    method,
    headers: { authorization: `Bearer ${emu.apiKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as { data?: T; error?: { code: string } };
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${json.error?.code}`);
  return json.data as T;
}

/** Launches a fleet through the emulator's HTTP API (fresh emulator per test), unpaced: the limiter is off meanwhile. */
async function launchFleet(fleet: Record<string, Tag[]> = FLEET): Promise<void> {
  idsByName = {};
  emu.faults.rateLimit(null);
  for (const [name, t] of Object.entries(fleet)) {
    const { instance_ids } = await api<{ instance_ids: string[] }>("POST", "/instance-operations/launch", {
      region_name: "us-east-1",
      instance_type_name: "gpu_8x_b200_sxm6",
      ssh_key_names: ["reaper-test"],
      name,
      tags: t,
    });
    idsByName[name] = instance_ids[0];
  }
  emu.faults.rateLimit(RATE_LIMIT);
}

const statusOf = (name: string) => emu.state.instance(idsByName[name])!.status;
const terminateRequests = () => emu.requests().filter((r) => r.path.endsWith("/instance-operations/terminate"));
/**
 * Exactly one terminate call was processed. On a loaded machine the pacing may still meet the
 * emulator's limit and a 429 is retried: those retries are the only other terminate requests allowed.
 */
function expectOneTerminateCall(): void {
  const calls = terminateRequests();
  expect(calls.filter((q) => q.status < 400)).toHaveLength(1);
  expect(calls.filter((q) => q.status >= 400).map((q) => q.status)).toEqual(calls.filter((q) => q.status >= 400).map(() => 429));
}
// The vendor's limits compressed 100x; the reaper's client is paced with a margin above them.
const RATE_LIMIT = scaledRateLimit(0.01);
const reaperEnv = () => ({
  ...process.env,
  LAMBDA_API_KEY: emu.apiKey,
  LAMBDA_API_BASE_URL: emu.baseUrl,
  LAMBDA_API_REQUEST_INTERVAL_MS: String(RATE_LIMIT.minIntervalMs * 2),
  LAMBDA_API_LAUNCH_INTERVAL_MS: String(RATE_LIMIT.launchIntervalMs * 1.25),
});

async function reap(argv: string[], env: NodeJS.ProcessEnv = reaperEnv(), ownerSource: OwnerSource = backend(UID)) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runReaper(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env, ownerSource });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("planReap (pure)", () => {
  const inst = (id: string, status: string, t: Tag[]): Instance =>
    ({ id, name: id, status, tags: t, ssh_key_names: [], file_system_names: [], region: { name: "us-east-1" }, instance_type: { name: "gpu_8x_b200_sxm6", price_cents_per_hour: 4592 } }) as unknown as Instance;
  it("terminates only expired instances of the project and counts the others as untouched", () => {
    const plan = planReap(
      [
        inst("a", "active", tags({ project: PROJECT, stack: "dev", expires: iso(-HOUR), ttl: "3600s" })),
        inst("b", "active", tags({ project: PROJECT, stack: "dev", expires: iso(HOUR), ttl: "3600s" })),
        inst("c", "terminating", tags({ project: PROJECT, stack: "dev", expires: iso(-HOUR), ttl: "3600s" })),
        inst("d", "active", tags({ project: "x", expires: iso(-HOUR) })),
        inst("e", "booting", []),
      ],
      { project: PROJECT, now: new Date(NOW) },
    );
    expect(plan.decisions.map((d) => [d.id, d.action])).toEqual([
      ["a", "terminate"],
      ["b", "keep"],
      ["c", "keep"],
    ]);
    expect(plan.decisions.find((d) => d.id === "c")!.reason).toBe("already terminating");
    expect(plan.foreignCount).toBe(2);
    expect(planReap([inst("a", "active", tags({ project: PROJECT, stack: "dev", expires: iso(-HOUR), ttl: "3600s" }))], { project: PROJECT, now: new Date(NOW), stacks: ["ci"] }).decisions).toEqual([]);
    expect(() => planReap([], { project: "", now: new Date() })).toThrow(/--project/);
  });
  it("reads only full ISO times; 'never', absent and garbled expiries keep the instance", () => {
    expect(parseExpiry("2030-01-01T00:00:00Z")).toEqual({ kind: "at", at: new Date("2030-01-01T00:00:00Z") });
    expect(parseExpiry("2030-01-01T00:00:00.123+02:00").kind).toBe("at");
    expect(parseExpiry("never")).toEqual({ kind: "never" });
    expect(parseExpiry(undefined)).toEqual({ kind: "absent" });
    expect(parseExpiry("1700000000")).toEqual({ kind: "invalid" });
    expect(parseExpiry("2030-13-45T99:00:00Z")).toEqual({ kind: "invalid" });
    expect(formatDuration(-(2 * HOUR + 5 * 60_000))).toBe("2h 5m");
    expect(formatDuration(3 * 86_400_000 + HOUR)).toBe("3d 1h");
  });
});

describe("reaper flags (pure)", () => {
  const flags = (...argv: string[]) => {
    const parsed = parseReaperFlags(argv);
    if ("usageError" in parsed) throw new Error(parsed.usageError);
    return parsed;
  };

  it("accepts the scopes a job may act on", () => {
    expect(reaperFlagsProblem(flags("--confirm", "--stack", "dev", "--stack", "ci"))).toBeUndefined();
    expect(reaperFlagsProblem(flags("--confirm", "--all-stacks"))).toBeUndefined();
    expect(reaperFlagsProblem(flags("--stack-id", "0123456789abcdef", "--organization", "acme"))).toBeUndefined();
  });

  it("refuses --confirm without a scope, conflicting scopes and a malformed stack id, naming the flags", () => {
    expect(reaperFlagsProblem(flags("--confirm"))).toMatch(/^reaper: --confirm needs the stacks it may act on/);
    expect(reaperFlagsProblem(flags("--stack", "dev", "--all-stacks"))).toMatch(/either --stack or --all-stacks/);
    expect(reaperFlagsProblem(flags("--stack-id", "XYZ"))).toMatch(/--stack-id "XYZ" is not a stack id/);
    expect(reaperFlagsProblem(flags("--stack-id", "0123456789abcdef", "--any-backend"))).toMatch(/drop --any-backend/);
    expect(reaperFlagsProblem(flags("--organization", "acme"))).toMatch(/--organization goes with --stack-id/);
  });

  it("says an unknown flag is a usage error and where the key comes from", () => {
    expect(parseReaperFlags(["--api-key", "x"])).toEqual({ usageError: expect.stringMatching(/^reaper: .*--api-key.*LAMBDA_API_KEY only/s) });
  });
});

describe("reaper against the Lambda emulator", () => {
  beforeEach(async () => {
    emu = await startLambdaEmulator({ bootMs: 0, terminateMs: 0, rateLimit: RATE_LIMIT });
    emu.seed.sshKey("reaper-test", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxz0v3rW6fJtq4s0wVfXW0m3R3y7Ww0Zq5CwzJ2l7bq reaper@test");
    await launchFleet();
    return async () => emu.close();
  });

  it("dry run: prints the plan and terminates nothing", async () => {
    const r = await reap([]);
    expect(withoutRateLimitRetries(r.err)).toBe("");
    expect(r.code).toBe(0);
    for (const name of EXPECTED_TERMINATED) expect(r.out).toMatch(new RegExp(`would terminate\\s+${idsByName[name]}\\s+${name}`));
    expect(r.out).toMatch(/would terminate 2 expired instances \(\$91\.84\/h\); keeping 4; 2 instances of other projects or without a project tag not touched/);
    expect(r.out).toMatch(/dry run: nothing was terminated/);
    expect(r.out).not.toContain("other-expired");
    expect(r.out).not.toContain("untagged");
    expect(r.out).toMatch(/keep\s+\S+\s+dev-garbled .*unreadable hgx:expires-at 'tomorrow'/);
    expect(terminateRequests()).toEqual([]);
    for (const name of Object.keys(FLEET)) expect(statusOf(name)).toBe("active");
  });

  it("--confirm terminates exactly the expired instances of this project", async () => {
    const r = await reap(["--confirm", "--all-stacks"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/TERMINATE\s+\S+\s+ci-expired/);
    expect(r.out).toMatch(/terminating 2 expired instances/);
    expectOneTerminateCall();
    for (const name of Object.keys(FLEET)) {
      const gone = ["terminating", "terminated"].includes(statusOf(name));
      expect({ name, gone }).toEqual({ name, gone: EXPECTED_TERMINATED.includes(name) });
    }
    // A second run finds nothing left to do.
    const again = await reap(["--confirm", "--all-stacks"]);
    expect(again.out).toMatch(/terminating 0 expired instances/);
    expectOneTerminateCall();
  });

  it("--stack limits the run to one stack; --project to another project's instances", async () => {
    const r = await reap(["--confirm", "--stack", "dev", "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { terminated: string[]; decisions: { id: string; action: string }[] };
    expect(doc.terminated).toEqual([idsByName["dev-expired"]]);
    expect(statusOf("ci-expired")).toBe("active");
    const other = await reap(["--project", "someone-else", "--any-backend"]);
    expect(other.out).toMatch(/would terminate\s+\S+\s+other-expired/);
    expect(statusOf("other-expired")).toBe("active");
  });

  it("reads the key from LAMBDA_API_KEY only and never prints it", async () => {
    const noKey = await reap([], { ...reaperEnv(), LAMBDA_API_KEY: "" });
    expect(noKey.code).toBe(2);
    expect(noKey.err).toMatch(/LAMBDA_API_KEY/);
    const flag = await reap(["--api-key", emu.apiKey]);
    expect(flag.code).toBe(2);
    expect(flag.err).toMatch(/LAMBDA_API_KEY only/);
    expect(flag.err).not.toContain(emu.apiKey);
    const wrong = await reap([], { ...reaperEnv(), LAMBDA_API_KEY: "secret_wrong_key_123" });
    expect(wrong.code).toBe(1);
    expect(wrong.err).not.toContain("secret_wrong_key_123");
    expect(terminateRequests()).toEqual([]);
  });

  it("runs as a process: dry run first, then --confirm", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [path.join(repoRoot, "node_modules/tsx/dist/cli.mjs"), path.join(repoRoot, "scripts/reaper.ts"), ...args],
          { cwd: repoRoot, env: reaperEnv(), timeout: 60_000 },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
        );
      });
    // As a process the reaper would read the stacks through the pulumi CLI; the stack ids name them here.
    const ids = ["--stack-id", UID.dev, "--stack-id", UID.ci, "--organization", ORG];
    const dry = await run(ids);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/would terminate 2 expired instances/);
    expect(terminateRequests()).toEqual([]);
    const real = await run(["--confirm", ...ids]);
    expect(real.code).toBe(0);
    expect(`${real.stdout}${real.stderr}`).not.toContain(emu.apiKey);
    expect(EXPECTED_TERMINATED.map(statusOf).every((s) => s === "terminating" || s === "terminated")).toBe(true);
    expect(statusOf("other-expired")).toBe("active");
    expect(statusOf("untagged")).toBe("active");
    expect(statusOf("dev-expired-backend-b")).toBe("active");
    expect(statusOf("dev-expired-other-org")).toBe("active");
  }, 60_000);

  it("two backends' dev stacks never terminate each other's instances: each reaper acts on its own backend's identity", async () => {
    const a = backend(UID);
    const fromA = await reap(["--confirm", "--stack", "dev", "--json"], reaperEnv(), a);
    expect(fromA.code).toBe(0);
    expect(a.reads).toEqual(["dev"]);
    expect((JSON.parse(fromA.out) as { terminated: string[] }).terminated).toEqual([idsByName["dev-expired"]]);
    expect(statusOf("dev-expired-backend-b")).toBe("active");
    expect(statusOf("dev-expired-other-org")).toBe("active");

    const fromB = await reap(["--confirm", "--stack", "dev"], reaperEnv(), backend({ dev: UID_B_DEV }));
    expect(fromB.code).toBe(0);
    expect(fromB.out).toMatch(/TERMINATE\s+\S+\s+dev-expired-backend-b/);
    expect(fromB.out).toMatch(/\d+ instances of this project belong to other stacks, backends or organizations: not touched/);
    expect(statusOf("dev-expired-other-org")).toBe("active");
    expect(statusOf("ci-expired")).toBe("active");
  });

  it("--stack-id (and --organization) name an identity without the backend; --any-backend is the explicit way to cross backends", async () => {
    const unreachable: OwnerSource = { stacks: async () => Promise.reject(new Error("not logged in")), owners: async () => Promise.reject(new Error("not logged in")) };
    const byId = await reap(["--stack-id", UID.dev, "--organization", "acme"], reaperEnv(), unreachable);
    expect(byId.code).toBe(0);
    expect(byId.out).toMatch(/would terminate\s+\S+\s+dev-expired-other-org/);
    expect(byId.out).not.toMatch(/would terminate\s+\S+\s+dev-expired\s/);
    const noBackend = await reap(["--stack", "dev"], reaperEnv(), unreachable);
    expect(noBackend.code).toBe(2);
    expect(noBackend.err).toContain("cannot read the stacks from the current Pulumi backend: not logged in");
    expect(noBackend.err).toContain("--stack-id <host.stackId output>");
    expect((await reap(["--stack-id", "DEV"])).err).toContain('--stack-id "DEV" is not a stack id (16 lowercase hex digits)');
    expect((await reap(["--organization", "acme", "--stack", "dev"])).code).toBe(2);
    const any = await reap(["--any-backend", "--stack", "dev"], reaperEnv(), unreachable);
    expect(any.err).toContain("--any-backend: matching by project and stack name only");
    expect(any.out).toMatch(/would terminate 3 expired instances/);
    expect(terminateRequests()).toEqual([]);
  });

  it("a qualified stack name (org/project/stack, as CI names it) reads that stack's identity from the backend", async () => {
    const source: OwnerSource = { stacks: async () => [], owners: async (stack) => (stack === "organization/hgx-inference/dev" ? [{ organization: ORG, project: PROJECT, stack: "dev", uid: UID.dev }] : []) };
    const r = await reap(["--confirm", "--stack", "organization/hgx-inference/dev", "--json"], reaperEnv(), source);
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as { terminated: string[] }).terminated).toEqual([idsByName["dev-expired"]]);
  });

  it("a stack without an identity in the backend's state is named, and nothing of it is in scope", async () => {
    const r = await reap(["--confirm", "--stack", "pr-7"]);
    expect(r.code).toBe(0);
    expect(r.err).toContain("stack pr-7 on the current backend has no Lambda identity of project hgx-inference in its state");
    expect(terminateRequests()).toEqual([]);
  });
});

describe("ownersFromDeployment (pulumi stack export)", () => {
  it("takes every StackIdentity's organization, project, stack and uid, and nothing else", () => {
    const identity = (resource: string, uid: string) => ({
      urn: `urn:pulumi:dev::hgx-inference::hgx:host:LambdaMachine$${STACK_IDENTITY_TYPE}::${resource}-identity`,
      type: STACK_IDENTITY_TYPE,
      outputs: { organization: "organization", project: "hgx-inference", stack: "dev", resource, requestedUid: "", uid },
    });
    const exported = {
      version: 3,
      deployment: {
        resources: [
          { urn: "urn:pulumi:dev::hgx-inference::pulumi:pulumi:Stack::hgx-inference-dev", type: "pulumi:pulumi:Stack", outputs: {} },
          identity("hgx-machine", "0123456789abcdef"),
          identity("hgx-2-machine", "fedcba9876543210"),
          { ...identity("broken", "not-a-uid") },
        ],
      },
    };
    const owners: ReaperOwner[] = ownersFromDeployment(exported);
    expect(owners).toEqual([
      { organization: "organization", project: "hgx-inference", stack: "dev", uid: "0123456789abcdef" },
      { organization: "organization", project: "hgx-inference", stack: "dev", uid: "fedcba9876543210" },
    ]);
    expect(ownersFromDeployment({ version: 3, deployment: {} })).toEqual([]);
    expect(ownersFromDeployment(null)).toEqual([]);
  });
});

/**
 * Prod is never reaped by accident. The tags come from the real chain — stack config → hostArgsFor
 * → LambdaMachine's resolved args → the instance's launch tags — and the instances live in the
 * emulator; the reaper runs 12 h and a minute after the launch.
 */
describe("prod is never reaped", () => {
  const LAUNCH = new Date("2026-03-02T08:00:00Z");
  const LATER = new Date(LAUNCH.getTime() + 12 * HOUR + 60_000);
  // Protected stacks may not open SSH to the world, so every stack here lists its operators' network.
  const base: RawConfig = { hostMode: "lambda", lambdaApiKey: "sk-test-not-a-real-key", lambdaSshAllowlist: '["203.0.113.0/24"]' };

  /** The launch tags a stack's config gives its instance (what instance.ts sends to the API). */
  function launchTags(stack: string, raw: RawConfig): Tag[] {
    const args = hostArgsFor(parseStackConfig({ ...base, ...raw }, { stack }));
    if (args.mode !== "lambda") throw new Error("expected lambda mode");
    const cfg = resolveLambdaMachineArgs("hgx", args.lambda as LambdaMachineArgs, { organization: "org-test", project: PROJECT, stack });
    return instanceTags({ organization: cfg.organization, project: cfg.project, stack: cfg.stack, stackUid: "0123456789abcdef", resourceName: "hgx", ttlSeconds: cfg.ttlSeconds, protected: cfg.protect }, expiryFor(cfg.ttlSeconds, LAUNCH));
  }

  const fleet = (): Record<string, Tag[]> => ({
    // prod as configured today: no TTL (none is set), protected because it is prod.
    "prod-no-ttl": launchTags("prod", {}),
    // prod launched by the old default (12 h expiry, no hgx:ttl, no protection): now 12 h old.
    "prod-old-default": tags({ project: PROJECT, stack: "prod", expires: iso(LAUNCH.getTime() - NOW + 12 * HOUR), organization: "org-test", uid: "0123456789abcdef" }),
    // a stack that asks for protection, with an expired explicit TTL.
    "staging-protected": launchTags("staging", { lambdaProtect: "true", lambdaTtl: "2h" }),
    // dev with an explicit 8 h TTL: expired 4 h ago.
    "dev-expired": launchTags("dev", { lambdaTtl: "8h" }),
    // dev launched by the old default: expired too, but nobody chose that expiry.
    "dev-old-default": tags({ project: PROJECT, stack: "dev", expires: iso(LAUNCH.getTime() - NOW + 12 * HOUR), organization: "org-test", uid: "0123456789abcdef" }),
  });

  beforeEach(async () => {
    emu = await startLambdaEmulator({ bootMs: 0, terminateMs: 0 });
    emu.seed.sshKey("reaper-test", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxz0v3rW6fJtq4s0wVfXW0m3R3y7Ww0Zq5CwzJ2l7bq reaper@test");
    await launchFleet(fleet());
    return async () => emu.close();
  });

  async function reapLater(argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const ownerSource = backend({ dev: "0123456789abcdef", prod: "0123456789abcdef", staging: "0123456789abcdef" }, "org-test");
    const code = await runReaper(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env: reaperEnv(), now: () => LATER, ownerSource });
    return { code, out: out.join("\n"), err: err.join("\n") };
  }

  it("the stack config gives prod no expiry and a protected tag; dev gets its explicit TTL", () => {
    const prod = fleet()["prod-no-ttl"];
    expect(prod).toEqual(expect.arrayContaining([{ key: "hgx:expires-at", value: "never" }, { key: "hgx:protected", value: "true" }]));
    expect(prod.find((t) => t.key === "hgx:ttl")).toBeUndefined();
    expect(fleet()["dev-expired"]).toEqual(expect.arrayContaining([{ key: "hgx:ttl", value: "28800s" }, { key: "hgx:expires-at", value: "2026-03-02T16:00:00Z" }]));
    expect(fleet()["dev-expired"].find((t) => t.key === "hgx:protected")).toBeUndefined();
  });

  it("only the dev instance with an expired explicit TTL goes, and only with --confirm", async () => {
    const dry = await reapLater(["--all-stacks"]);
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(new RegExp(`would terminate\\s+${idsByName["dev-expired"]}\\s+dev-expired`));
    expect(dry.out).toMatch(/keep\s+\S+\s+prod-no-ttl .*protected \(hgx:protected=true\)/);
    expect(dry.out).toMatch(/keep\s+\S+\s+prod-old-default .*production stack 'prod'/);
    expect(dry.out).toMatch(/keep\s+\S+\s+staging-protected .*protected/);
    expect(dry.out).toMatch(/keep\s+\S+\s+dev-old-default .*expiry not set explicitly/);
    expect(dry.out).toMatch(/would terminate 1 expired instance .*keeping 4/);
    expect(terminateRequests()).toEqual([]);

    // --confirm without saying which stacks is refused before any API call that changes anything.
    const unscoped = await reapLater(["--confirm"]);
    expect(unscoped.code).toBe(2);
    expect(unscoped.err).toMatch(/--confirm needs the stacks it may act on: --stack <name>/);
    expect(terminateRequests()).toEqual([]);

    const real = await reapLater(["--confirm", "--stack", "dev", "--stack", "prod", "--stack", "staging"]);
    expect(real.code).toBe(0);
    expectOneTerminateCall();
    for (const name of Object.keys(fleet())) {
      const gone = ["terminating", "terminated"].includes(statusOf(name));
      expect({ name, gone }).toEqual({ name, gone: name === "dev-expired" });
    }
  });

  it("a teardown scoped to other stacks leaves dev alone too", async () => {
    const r = await reapLater(["--confirm", "--stack", "pr-42"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/stack pr-42: 0 instance\(s\)/);
    expect(terminateRequests()).toEqual([]);
    expect(statusOf("dev-expired")).toBe("active");
  });

  it("matches bare stack names against qualified stack tags, never the other way round", () => {
    expect(stackInScope("dev", ["dev"])).toBe(true);
    expect(stackInScope("acme/hgx-inference/dev", ["dev"])).toBe(true);
    expect(stackInScope("acme/hgx-inference/dev", ["other/hgx-inference/dev"])).toBe(false);
    expect(stackInScope("dev-1", ["dev"])).toBe(false);
    expect(stackInScope(undefined, ["dev"])).toBe(false);
    expect(stackInScope(undefined, undefined)).toBe(true);
  });
});
