import { describe, expect, it } from "vitest";
import { backoffDelayMs, envMs, resolveClientOptions } from "../../../../components/host/lambda/client";
import { changedKeys, isIpv4Cidr, objectName, parseDuration, UNKNOWN } from "../../../../components/host/lambda/common";
import {
  AccountError,
  CapacityError,
  errorFromResponse,
  InUseError,
  InvalidApiKeyError,
  InvalidParametersError,
  isRetryable,
  NotFoundError,
  QuotaExceededError,
  RateLimitedError,
  redact,
  ServiceError,
} from "../../../../components/host/lambda/errors";
import { chooseFilesystemRegion } from "../../../../components/host/lambda/filesystem";
import { admissionRules, firewallRules, isAdmissionRule, validateFirewallInputs, withAdmissions } from "../../../../components/host/lambda/firewallRuleset";
import { chooseRegionOrder, expiryFor, hasIdentity, identityTags, instanceTags, validateInstanceInputs } from "../../../../components/host/lambda/instance";
import { defaultHostname, resolveLambdaMachineArgs } from "../../../../components/host/lambdaMachine";
import { instanceInputs } from "./harness";

describe("chooseRegionOrder", () => {
  it("puts preferred regions with capacity first, in preference order, then the rest", () => {
    expect(chooseRegionOrder(["us-east-1", "us-west-1", "us-south-1"], ["us-south-1", "us-west-1"])).toEqual(["us-west-1", "us-south-1", "us-east-1"]);
  });
  it("ignores capacity outside the preference list", () => {
    expect(chooseRegionOrder(["us-east-1"], ["europe-central-1"])).toEqual(["us-east-1"]);
  });
  it("drops duplicates", () => {
    expect(chooseRegionOrder(["us-east-1", "us-east-1"], [])).toEqual(["us-east-1"]);
  });
  it("filesystem creation region: first preferred with capacity, else first preferred", () => {
    expect(chooseFilesystemRegion(["us-east-1", "us-west-1"], ["us-west-1"])).toBe("us-west-1");
    expect(chooseFilesystemRegion(["us-east-1", "us-west-1"], [])).toBe("us-east-1");
  });
});

describe("parseDuration", () => {
  it.each([
    ["45m", 45 * 60_000],
    ["8h", 8 * 3_600_000],
    ["2d", 2 * 86_400_000],
    ["90s", 90_000],
    ["45 minutes", 45 * 60_000],
    ["1h30m", 90 * 60_000],
    ["0", 0],
    ["1.5h", 5_400_000],
  ])("%s", (text, ms) => expect(parseDuration(text, "ttl")).toBe(ms));
  it.each(["", "soon", "10", "5 fortnights", "1h soon"])("rejects %j naming the setting", (text) => {
    expect(() => parseDuration(text, "waitTimeout")).toThrow(/waitTimeout: .* is not a duration; write it like "45m"/);
  });
});

describe("names and tags", () => {
  it("objectName replaces invalid characters and keeps long names unique and bounded", () => {
    expect(objectName(["hgx inference", "dev", "gpu"])).toBe("hgx-inference-dev-gpu");
    const a = objectName(["p".repeat(40), "s".repeat(40), "a"]);
    const b = objectName(["p".repeat(40), "s".repeat(40), "b"]);
    expect(a.length).toBeLessThanOrEqual(64);
    expect(a).not.toBe(b);
  });
  it("defaultHostname satisfies the API's pattern", () => {
    expect(defaultHostname("Dev_Stack", "GPU.Machine")).toMatch(/^[a-z0-9][0-9a-z-]{0,62}$/);
    expect(defaultHostname("x".repeat(80), "y")).toMatch(/^[a-z0-9][0-9a-z-]{0,62}$/);
  });
  it("tags carry project, stack, resource and expiry; keys match the API pattern", () => {
    const id = { organization: "acme", project: "hgx", stack: "dev", resourceName: "gpu", stackUid: "00000000000000aa" };
    const tags = instanceTags(id, "2030-01-01T00:00:00Z");
    for (const t of tags) {
      expect(t.key).toMatch(/^[a-z][a-z0-9-:]+$/);
      expect(t.key.length).toBeLessThanOrEqual(55);
      expect(t.value.length).toBeLessThanOrEqual(128);
    }
    expect(Object.fromEntries(tags.map((t) => [t.key, t.value]))).toMatchObject({
      "hgx:project": "hgx",
      "hgx:stack": "dev",
      "hgx:resource": "gpu",
      "hgx:expires-at": "2030-01-01T00:00:00Z",
    });
    const identity = identityTags(id);
    expect(hasIdentity({ tags }, identity)).toBe(true);
    expect(hasIdentity({ tags }, identityTags({ ...id, stack: "prod" }))).toBe(false);
    // Same organization, project, stack and resource, another backend (another random id): not ours.
    expect(hasIdentity({ tags }, identityTags({ ...id, stackUid: "00000000000000bb" }))).toBe(false);
    expect(hasIdentity({ tags }, identityTags({ ...id, organization: "other-org" }))).toBe(false);
    expect(hasIdentity({}, identity)).toBe(false);
  });
  it("expiryFor", () => {
    expect(expiryFor(0, new Date())).toBe("never");
    expect(expiryFor(3600, new Date("2030-01-01T00:00:00Z"))).toBe("2030-01-01T01:00:00Z");
  });
});

describe("firewall rules", () => {
  it("opens SSH to the given sources and the serving port only to the allowlist", () => {
    const rules = firewallRules(["0.0.0.0/0"], 8000, ["203.0.113.7/32", "10.0.0.0/8"]);
    expect(rules.filter((r) => r.port_range?.[0] === 22).map((r) => r.source_network)).toEqual(["0.0.0.0/0"]);
    expect(rules.filter((r) => r.port_range?.[0] === 8000).map((r) => r.source_network)).toEqual(["203.0.113.7/32", "10.0.0.0/8"]);
    expect(rules.some((r) => r.port_range?.[0] === 8000 && r.source_network === "0.0.0.0/0")).toBe(false);
  });
  it("ICMP from anyone by default (Lambda's policy), from the given sources, or not at all", () => {
    const icmp = (rules: { protocol: string; source_network: string }[]) => rules.filter((r) => r.protocol === "icmp").map((r) => r.source_network);
    expect(icmp(firewallRules(["203.0.113.0/24"], 8000, []))).toEqual(["0.0.0.0/0"]);
    expect(icmp(firewallRules(["203.0.113.0/24"], 8000, [], [], ["203.0.113.0/24", "198.51.100.0/24"]))).toEqual(["203.0.113.0/24", "198.51.100.0/24"]);
    expect(icmp(firewallRules(["203.0.113.0/24"], 8000, [], [], []))).toEqual([]);
    const failures = validateFirewallInputs({ providerVersion: "1", rulesetName: "fw", regions: ["us-east-1"], sshSourceCidrs: ["203.0.113.0/24"], icmpSourceCidrs: ["0.0.0.0"], servingPort: 8000, servingAllowlist: [] });
    expect(failures.map((f) => f.property)).toEqual(["icmpSourceCidrs"]);
  });
  it("an empty allowlist keeps the serving port closed", () => {
    expect(firewallRules(["0.0.0.0/0"], 8000, []).some((r) => r.port_range?.[0] === 8000)).toBe(false);
  });
  it("opens the router's extra ports to the allowlist only, and nothing for an empty allowlist", () => {
    const rules = firewallRules(["0.0.0.0/0"], 8000, ["203.0.113.0/24"], [30000, 29000]);
    for (const port of [8000, 30000, 29000]) expect(rules.filter((r) => r.port_range?.[0] === port).map((r) => r.source_network)).toEqual(["203.0.113.0/24"]);
    expect(firewallRules(["0.0.0.0/0"], 8000, [], [30000]).some((r) => r.port_range?.[0] === 30000)).toBe(false);
    const failures = validateFirewallInputs({ providerVersion: "1", rulesetName: "fw", regions: ["us-east-1"], sshSourceCidrs: [], servingPort: 8000, servingAllowlist: [], extraPorts: [0] });
    expect(failures).toEqual([{ property: "extraPorts", reason: "extraPorts: 0 must be an integer 1-65535" }]);
  });
  it("validation names the field, the value and the fix", () => {
    const failures = validateFirewallInputs({
      providerVersion: "1",
      rulesetName: "fw",
      regions: ["us-east-1"],
      sshSourceCidrs: ["0.0.0.0/0"],
      servingPort: 70000,
      servingAllowlist: ["1.2.3.4"],
    });
    expect(failures.map((f) => f.property).sort()).toEqual(["servingAllowlist", "servingPort"]);
    expect(failures.find((f) => f.property === "servingAllowlist")?.reason).toMatch(/"1\.2\.3\.4" is not an IPv4 CIDR; write it like/);
    expect(isIpv4Cidr("300.1.1.1/8")).toBe(false);
    expect(isIpv4Cidr("10.0.0.0/33")).toBe(false);
  });
  it("admissions: added once, marked, removed only as admissions, the ruleset's own rules untouched", () => {
    const own = firewallRules(["0.0.0.0/0"], 8000, ["203.0.113.0/24"]);
    const router = admissionRules(8000, ["198.51.100.20/32"]);
    expect(router).toEqual([{ protocol: "tcp", port_range: [8000, 8000], source_network: "198.51.100.20/32", description: "admitted after launch: model server port 8000" }]);
    expect(router.every(isAdmissionRule)).toBe(true);
    expect(own.some(isAdmissionRule)).toBe(false);
    const admitted = withAdmissions(own, [], router);
    expect(admitted).toEqual([...own, ...router]);
    // Idempotent: adding again changes nothing.
    expect(withAdmissions(admitted, [], router)).toEqual(admitted);
    // A new router address swaps the old one out in one step.
    const moved = admissionRules(8000, ["198.51.100.21/32"]);
    expect(withAdmissions(admitted, router, moved)).toEqual([...own, ...moved]);
    // Removing never touches an unmarked rule for the same source and port.
    const ownSame = firewallRules(["0.0.0.0/0"], 8000, ["198.51.100.20/32"]);
    expect(withAdmissions([...ownSame, ...router], router, [])).toEqual(ownSame);
  });
});

describe("instance input validation", () => {
  it("accepts good inputs and skips unknown (preview) values", () => {
    expect(validateInstanceInputs(instanceInputs())).toEqual([]);
    expect(validateInstanceInputs(instanceInputs({ sshKeyName: UNKNOWN, regions: [UNKNOWN] }))).toEqual([]);
  });
  it("names bad fields", () => {
    const f = validateInstanceInputs(instanceInputs({ regions: [], hostname: "Bad_Host", waitTimeoutSeconds: -1 }));
    expect(f.map((x) => x.property).sort()).toEqual(["hostname", "regions", "waitTimeoutSeconds"]);
  });
  it("changedKeys treats unknowns as changes and ignores key order", () => {
    expect(changedKeys({ a: { x: 1, y: 2 } }, { a: { y: 2, x: 1 } }, ["a"])).toEqual([]);
    expect(changedKeys<{ a: string }>({ a: "1" }, { a: UNKNOWN }, ["a"])).toEqual(["a"]);
  });
});

describe("errors", () => {
  const d = (code: string, status: number) => ({ code, status, operation: "POST /x", apiMessage: "msg" });
  it.each([
    ["global/invalid-api-key", 401, InvalidApiKeyError, /API key was rejected.*lambdaApiKey.*LAMBDA_API_KEY/],
    ["global/account-inactive", 403, AccountError, /account is inactive/],
    ["global/invalid-address", 403, AccountError, /billing address is invalid/],
    ["global/quota-exceeded", 400, QuotaExceededError, /quota is exhausted.*raise the quota/],
    ["global/invalid-parameters", 400, InvalidParametersError, /rejected the request's parameters/],
    ["instance-operations/launch/insufficient-capacity", 400, CapacityError, /No capacity/],
    ["global/object-does-not-exist", 404, NotFoundError, /does not exist/],
    ["filesystems/filesystem-in-use", 400, InUseError, /still attached/],
    ["provider/internal-unavailable", 503, ServiceError, /transient fault/],
    ["http/429", 429, RateLimitedError, /rate-limiting/],
    ["global/internal-error", 500, ServiceError, /transient fault/],
  ] as const)("%s -> typed error with advice", (code, status, cls, advice) => {
    const e = errorFromResponse(d(code, status));
    expect(e).toBeInstanceOf(cls);
    expect(e.message).toMatch(advice);
    expect(e.message).toContain(code);
  });
  it("retryability follows status and code", () => {
    expect(isRetryable(429, "http/429")).toBe(true);
    expect(isRetryable(502, "http/502")).toBe(true);
    expect(isRetryable(400, "provider/foo")).toBe(true);
    expect(isRetryable(0, "network/ECONNRESET")).toBe(true);
    expect(isRetryable(400, "global/quota-exceeded")).toBe(false);
  });
  it("redact removes the key and any bearer credential", () => {
    expect(redact("key secret_abc123 and Bearer xyz.789", ["secret_abc123"])).toBe("key *** and Bearer ***");
  });
});

describe("client settings", () => {
  it("backoff doubles, is capped and jittered into [ceiling/2, ceiling]", () => {
    const p = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelayMs(1, p, () => 0)).toBe(50);
    expect(backoffDelayMs(1, p, () => 1)).toBe(100);
    expect(backoffDelayMs(3, p, () => 1)).toBe(400);
    expect(backoffDelayMs(10, p, () => 1)).toBe(1000);
    for (let a = 1; a < 12; a++) {
      const v = backoffDelayMs(a, p);
      expect(v).toBeGreaterThanOrEqual(Math.min(1000, 100 * 2 ** (a - 1)) / 2);
      expect(v).toBeLessThanOrEqual(1000);
    }
  });
  it("envMs rejects garbage naming the variable", () => {
    expect(envMs("X", 5, {})).toBe(5);
    expect(envMs("X", 5, { X: "7" })).toBe(7);
    expect(() => envMs("LAMBDA_POLL", 5, { LAMBDA_POLL: "fast" })).toThrow(/LAMBDA_POLL="fast"/);
  });
  it("credentials: stack config first, then env; base URL input, then env, then the public API", () => {
    const config = { get: (k: string) => (k === "p:lambdaApiKey" ? "from-config" : undefined) };
    expect(resolveClientOptions({ stackConfig: config, apiKeyConfigKey: "p:lambdaApiKey", env: { LAMBDA_API_KEY: "from-env" } }).apiKey).toBe("from-config");
    expect(resolveClientOptions({ stackConfig: { get: () => "" }, apiKeyConfigKey: "p:lambdaApiKey", env: { LAMBDA_API_KEY: "from-env" } }).apiKey).toBe("from-env");
    expect(resolveClientOptions({ env: { LAMBDA_API_KEY: "k" } }).baseUrl).toBe("https://cloud.lambda.ai/api/v1");
    expect(resolveClientOptions({ env: { LAMBDA_API_KEY: "k", LAMBDA_API_BASE_URL: "http://127.0.0.1:1/api/v1" } }).baseUrl).toBe("http://127.0.0.1:1/api/v1");
    expect(resolveClientOptions({ baseUrl: "http://x/api/v1", env: { LAMBDA_API_KEY: "k", LAMBDA_API_BASE_URL: "http://y" } }).baseUrl).toBe("http://x/api/v1");
    expect(() => resolveClientOptions({ apiKeyConfigKey: "p:lambdaApiKey", env: {} })).toThrow(/No Lambda Cloud API key found \(looked in stack config "p:lambdaApiKey", env LAMBDA_API_KEY\)/);
  });
});

describe("resolveLambdaMachineArgs", () => {
  const rt = { organization: "acme", project: "hgx-inference", stack: "dev" };
  it("applies the documented defaults", () => {
    const r = resolveLambdaMachineArgs("gpu", { regions: ["us-east-1"] }, rt);
    expect(r).toMatchObject({
      instanceType: "gpu_8x_b200_sxm6",
      imageFamily: "gpu-base-24-04",
      generateKey: true,
      retainFilesystemOnDelete: true,
      firewallAllowlist: [],
      servingPort: 8000,
      sshSourceCidrs: ["0.0.0.0/0"],
      ttlSeconds: 0,
      waitTimeoutSeconds: 45 * 60,
      project: "hgx-inference",
      stack: "dev",
      apiKeyConfigKey: "hgx-inference:lambdaApiKey",
      cacheMountPath: undefined,
    });
    expect(resolveLambdaMachineArgs("gpu", { regions: ["us-east-1"], filesystemName: "hf-cache" }, rt).cacheMountPath).toBe("/lambda/nfs/hf-cache");
  });
  it("lists every problem with setting, value and fix", () => {
    let msg = "";
    try {
      resolveLambdaMachineArgs(
        "gpu",
        { regions: ["useast"], filesystemName: "9cache", firewallAllowlist: ["everyone"], ttl: "forever", sshPublicKey: "ssh-ed25519 AAAA", waitTimeout: "10s" },
        rt,
      );
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/regions: "useast" is not a Lambda region code/);
    expect(msg).toMatch(/filesystemName: "9cache" is invalid; start with a letter/);
    expect(msg).toMatch(/firewallAllowlist: "everyone" is not an IPv4 CIDR/);
    expect(msg).toMatch(/ttl: "forever" is not a duration/);
    expect(msg).toMatch(/sshPrivateKey: missing while sshPublicKey is set/);
    expect(msg).toMatch(/waitTimeout: "10s" is under a minute/);
  });
});

describe("withoutStackTraces", () => {
  it("keeps each method's result, `this` and error class, and drops only the stack", async () => {
    const { withoutStackTraces } = await import("../../../../components/host/lambda/common");
    const { NotFoundError } = await import("../../../../components/host/lambda/errors");
    class Probe {
      configured = "";
      async configure(req: { config: string }) {
        this.configured = req.config;
      }
      async create() {
        return { id: this.configured, outs: {} };
      }
      async delete() {
        throw new NotFoundError({ code: "global/object-does-not-exist", status: 404, operation: "DELETE /x" });
      }
    }
    const inner = new Probe();
    const p = withoutStackTraces(inner as unknown as import("@pulumi/pulumi").dynamic.ResourceProvider) as unknown as Probe;
    await p.configure({ config: "c" });
    expect(await p.create()).toEqual({ id: "c", outs: {} });
    const e = await p.delete().then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e!.message).toMatch(/does not exist/);
    expect(e!.stack).toBe("");
    expect(Object.keys(p).sort()).toEqual(["configure", "create", "delete"]);
  });
});
