import { describe, expect, it } from "vitest";
import { API_KEY_WRAPPER_SCRIPT } from "../../../components/serving/sglang/engine";
import { firewallRules } from "../../../components/host/lambda/firewallRuleset";
import { expiryFor, instanceTags } from "../../../components/host/lambda/instance";
import {
  containerExposureViolations,
  firewallExposureViolations,
  findExpiry,
  imagePinProblem,
  instanceCostViolations,
  isLambdaInstance,
  isProductionStack,
  parseImageReference,
  pinnedImageViolations,
  snapshotProps,
  stackCostViolations,
  stackExposureViolations,
  stackNameFromUrn,
  ttlBoundViolations,
  ttlViolations,
  UNKNOWN,
  UNKNOWN_SENTINELS,
  type PolicyResourceView,
} from "../../../components/ops/policyRules";

const urn = (stack: string, type: string, name: string) => `urn:pulumi:${stack}::hgx-inference::hgx:host:HgxHost$${type}::${name}`;
const res = (type: string, name: string, props: Record<string, unknown>, stack = "dev"): PolicyResourceView => ({
  type,
  name,
  urn: urn(stack, type, name),
  props,
});
const container = (props: Record<string, unknown>) => res("docker:index/container:Container", "gpu-sglang", props);
const instanceType = "pulumi-nodejs:dynamic:Resource";
/** A real-looking digest: sha256 and 64 hex digits. */
const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;
const instance = (props: Record<string, unknown>, stack = "dev") =>
  res(instanceType, "gpu-instance", { __provider: "exports.handler = ...", instanceTypeName: "gpu_8x_b200_sxm6", regionName: "us-east-3", ...props }, stack);

describe("image references", () => {
  it("splits registry ports, tags and digests", () => {
    expect(parseImageReference("localhost:5000/team/sglang:v0.5.4")).toEqual({ repository: "localhost:5000/team/sglang", tag: "v0.5.4", digest: undefined });
    expect(parseImageReference("localhost:5000/team/sglang")).toEqual({ repository: "localhost:5000/team/sglang", digest: undefined });
    expect(parseImageReference("lmsysorg/sglang@sha256:abc")).toEqual({ repository: "lmsysorg/sglang", digest: "sha256:abc" });
  });
  it("accepts release tags, digests and image ids; refuses latest and untagged", () => {
    expect(imagePinProblem("lmsysorg/sglang:v0.5.4-cu129")).toBeUndefined();
    expect(imagePinProblem(`lmsysorg/sglang:latest@${DIGEST}`)).toBeUndefined();
    expect(imagePinProblem(DIGEST)).toBeUndefined();
    expect(imagePinProblem("lmsysorg/sglang:latest")).toMatch(/latest/);
    expect(imagePinProblem("lmsysorg/sglang:LATEST")).toMatch(/latest/);
    expect(imagePinProblem("localhost:5000/sglang")).toMatch(/no tag/);
    expect(imagePinProblem("")).toMatch(/empty/);
  });
});

describe("pinned-images", () => {
  it("passes a RemoteImage with a release tag and a container on the image id", () => {
    expect(pinnedImageViolations(res("docker:index/remoteImage:RemoteImage", "img", { name: "lmsysorg/sglang:v0.5.4" }))).toEqual([]);
    expect(pinnedImageViolations(container({ image: DIGEST }))).toEqual([]);
  });
  it("names the resource, the image and the fix for latest / untagged images", () => {
    const [m] = pinnedImageViolations(res("docker:index/remoteImage:RemoteImage", "img", { name: "lmsysorg/sglang:latest" }));
    expect(m).toMatch(/'img'.*'lmsysorg\/sglang:latest'.*latest.*Fix: pin 'name'/);
    expect(pinnedImageViolations(container({ image: "lmsysorg/sglang" }))[0]).toMatch(/no tag/);
    expect(pinnedImageViolations(res("hgx:serving:SglangServer", "server", { image: "lmsysorg/sglang:latest" }))).toHaveLength(1);
  });
  it("does not judge an image that is unknown during preview, nor unrelated resources", () => {
    expect(pinnedImageViolations(container({ image: UNKNOWN }))).toEqual([]);
    expect(pinnedImageViolations(res("command:remote:Command", "x", { image: "a:latest" }))).toEqual([]);
  });
});

describe("ttl-outside-prod", () => {
  it("reads the stack name from the URN and recognises production stacks", () => {
    expect(stackNameFromUrn(urn("dev", "t", "n"))).toBe("dev");
    expect(() => stackNameFromUrn("not-a-urn")).toThrow(/not a Pulumi URN/);
    expect(isProductionStack("prod", ["prod", "production"])).toBe(true);
    expect(isProductionStack("acme/hgx/Production", ["prod", "production"])).toBe(true);
    expect(isProductionStack("prod-canary", ["prod", "production"])).toBe(false);
  });
  it("recognises Lambda instances among dynamic resources", () => {
    expect(isLambdaInstance(instance({}))).toBe(true);
    expect(isLambdaInstance(res(instanceType, "key", { name: "k", publicKey: "ssh-ed25519 AAAA" }))).toBe(false);
    expect(isLambdaInstance(res(instanceType, "x", { resourceKind: "lambda:instance" }))).toBe(true);
    expect(isLambdaInstance(res(instanceType, "x", { resourceKind: "lambda:ssh-key", instanceTypeName: "a", regionName: "b" }))).toBe(false);
    expect(isLambdaInstance(res("pulumi-nodejs:dynamic/lambda:Instance", "x", {}))).toBe(true);
    expect(isLambdaInstance(res("pulumi-nodejs:dynamic/lambda:FirewallRuleset", "x", { regions: ["us-east-1"] }))).toBe(false);
  });
  it("passes an instance with an expiry tag or ttl input, in dev", () => {
    expect(ttlViolations(instance({ tags: [{ key: "hgx-expires-at", value: "2030-01-01T00:00:00Z" }] }))).toEqual([]);
    expect(ttlViolations(instance({ tags: { "expires-at": "2030-01-01T00:00:00Z" } }))).toEqual([]);
    expect(ttlViolations(instance({ ttlHours: 8 }))).toEqual([]);
    expect(findExpiry({ tags: UNKNOWN })).toBe(UNKNOWN);
  });
  it("reads the host layer's real inputs and tags (ttlSeconds, hgx:expires-at, \"never\")", () => {
    const real = (props: Record<string, unknown>, stack = "dev") => res("pulumi-nodejs:dynamic/lambda:Instance", "gpu-instance", { instanceType: "gpu_8x_b200_sxm6", ...props }, stack);
    expect(ttlViolations(real({ ttlSeconds: 8 * 3600 }))).toEqual([]);
    expect(ttlViolations(real({ ttlSeconds: 0 }))).toHaveLength(1);
    const id = { organization: "acme", project: "hgx-inference", stack: "dev", resourceName: "gpu", stackUid: "0123456789abcdef" };
    expect(ttlViolations(real({ ttlSeconds: 0, tags: instanceTags(id, expiryFor(3600, new Date())) }))).toEqual([]);
    expect(ttlViolations(real({ ttlSeconds: 0, expiresAt: "never", tags: instanceTags(id, expiryFor(0, new Date())) }))).toHaveLength(1);
    expect(ttlViolations(real({ ttlSeconds: 0 }, "production"))).toEqual([]);
  });
  it("flags a dev instance without expiry and names the stack and the fix; prod is exempt", () => {
    const [m] = ttlViolations(instance({ tags: [{ key: "hgx-project", value: "hgx" }] }));
    expect(m).toMatch(/'gpu-instance'.*'dev'.*no expiry.*Fix: set a lifetime .*lambdaTtl/);
    expect(ttlViolations(instance({}, "prod"))).toEqual([]);
    expect(ttlViolations(instance({}, "live"), ["live"])).toEqual([]);
    expect(ttlViolations(instance({ tags: [{ key: "expires-at", value: "" }] }))).toHaveLength(1);
  });
});

describe("serving-port-requires-api-key", () => {
  const open = { internal: 8000, external: 8000, ip: "0.0.0.0" };
  it("passes a container bound to loopback, or one that requires an API key", () => {
    expect(containerExposureViolations(container({ ports: [{ ...open, ip: "127.0.0.1" }] }))).toEqual([]);
    expect(containerExposureViolations(container({ ports: [open], command: ["python3", "-m", "sglang.launch_server", "--api-key", "s3cret"] }))).toEqual([]);
    expect(containerExposureViolations(container({ ports: [open], command: ["sh", "-c", "exec python3 -m sglang.launch_server --api-key \"$SGLANG_API_KEY\""] }))).toEqual([]);
    expect(containerExposureViolations(container({ ports: [open], envs: ["SGLANG_API_KEY=abc"] }))).toEqual([]);
    expect(containerExposureViolations(container({ ports: [{ internal: 22, external: 2222 }] }))).toEqual([]);
  });
  it("recognises the serving layer's API key wrapper", () => {
    const command = ["sh", "-c", API_KEY_WRAPPER_SCRIPT, "sglang", "--model-path", "Qwen/Qwen3.5-397B-A17B", "--port", "8000"];
    expect(containerExposureViolations(container({ ports: [open], command }))).toEqual([]);
  });
  it("judges the host layer's firewall ruleset from its inputs and its rules", () => {
    const fw = (props: Record<string, unknown>) => res("pulumi-nodejs:dynamic/lambda:FirewallRuleset", "gpu-firewall", props);
    const world = { servingPort: 8000, servingAllowlist: ["0.0.0.0/0"], sshSourceCidrs: ["0.0.0.0/0"] };
    expect(firewallExposureViolations(fw({ ...world, servingApiKeyRequired: false }))[0]).toMatch(
      /servingAllowlist opens port 8000 to the world \(0\.0\.0\.0\/0 reaches every IPv4 address\) while the server requires no API key/,
    );
    expect(firewallExposureViolations(fw({ ...world, servingApiKeyRequired: true }))).toEqual([]);
    expect(firewallExposureViolations(fw(world))).toEqual([]); // undeclared: left to the stack rule
    const keyless = container({ image: "lmsysorg/sglang:v0.5.4", command: ["python3", "-m", "sglang.launch_server"] });
    const withRules = fw({ ...world, rules: firewallRules(["0.0.0.0/0"], 8000, ["0.0.0.0/0"]) });
    expect(stackExposureViolations([withRules, keyless])).toHaveLength(1); // inputs and rules: one finding
    expect(stackExposureViolations([fw({ ...world, servingAllowlist: ["198.51.100.7/32"], rules: firewallRules(["0.0.0.0/0"], 8000, ["198.51.100.7/32"]) }), keyless])).toEqual([]);
  });
  it("flags a container publishing the serving port on all interfaces without a key", () => {
    const msgs = containerExposureViolations(container({ ports: [{ internal: 8000, external: 8000 }], command: ["python3", "-m", "sglang.launch_server"] }));
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatch(/'gpu-sglang' publishes port 8000 on all interfaces.*without an API key.*Fix/);
    expect(containerExposureViolations(container({ ports: [{ internal: 30000, external: 30000, ip: "::" }] }))).toHaveLength(1);
    expect(containerExposureViolations(container({ ports: [{ internal: 8000, external: 8000 }], envs: ["SGLANG_API_KEY="] }))).toHaveLength(1);
  });
  it("flags a world-open firewall rule on the serving port unless the server has a key", () => {
    const firewall = res(instanceType, "gpu-firewall", {
      rules: [
        { protocol: "tcp", port_range: [22, 22], source_network: "0.0.0.0/0" },
        { protocol: "tcp", port_range: [8000, 8000], source_network: "0.0.0.0/0" },
      ],
    });
    const keyless = container({ image: "lmsysorg/sglang:v0.5.4", ports: [{ ...open, ip: "127.0.0.1" }], command: ["python3", "-m", "sglang.launch_server"] });
    const keyed = container({ image: "lmsysorg/sglang:v0.5.4", ports: [{ ...open, ip: "127.0.0.1" }], command: ["python3", "--api-key", "k"] });
    const msgs = stackExposureViolations([firewall, keyless]);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatch(/'gpu-firewall'.*tcp 8000-8000 from 0\.0\.0\.0\/0.*every IPv4 address.*serving port 8000/);
    expect(stackExposureViolations([firewall, keyed])).toEqual([]);
    const narrow = res(instanceType, "gpu-firewall", { rules: [{ protocol: "tcp", port_range: [8000, 8000], source_network: "203.0.113.0/24" }] });
    expect(stackExposureViolations([narrow, keyless])).toEqual([]);
    const allV6 = res(instanceType, "fw6", { rules: [{ protocol: "all", source_network: "::/0" }] });
    expect(stackExposureViolations([allV6], [8000])).toHaveLength(1);
  });
});

describe("max-hourly-cost", () => {
  it("passes an instance under the ceiling and one whose price is not known yet; refuses one with no price at all", () => {
    expect(instanceCostViolations(instance({ priceCentsPerHour: 4592 }), 60)).toEqual([]);
    expect(instanceCostViolations(instance({ priceCentsPerHour: UNKNOWN }), 60)).toEqual([]);
    expect(instanceCostViolations(instance({}), 60)[0]).toMatch(/'gpu-instance' has no price known before launch.*Fix: set `lambdaMaxHourlyPriceUsd`/);
  });
  it("flags an instance above the ceiling with both amounts", () => {
    const [m] = instanceCostViolations(instance({ instanceType: { name: "gpu_8x_b200_sxm6", price_cents_per_hour: 5352 } }), 50);
    expect(m).toMatch(/\$53\.52\/h, above the ceiling of \$50\.00\/h/);
  });
  it("sums the stack's instances", () => {
    const a = { ...instance({ priceCentsPerHour: 4592 }), name: "a" };
    const b = { ...instance({ priceCentsPerHour: 2400 }), name: "b" };
    expect(stackCostViolations([a], 60)).toEqual([]);
    const [m] = stackCostViolations([a, b], 60);
    expect(m).toMatch(/\$69\.92\/h together \(a \$45\.92\/h, b \$24\.00\/h\)/);
  });
});

// Each row: a way around the pack as it stood (all passed before), and what its finding must say.
describe("policy bypasses are violations", () => {
  const fw = (props: Record<string, unknown>) => res("pulumi-nodejs:dynamic/lambda:FirewallRuleset", "gpu-firewall", props);
  const keyless = container({ image: "lmsysorg/sglang:v0.5.4", command: ["python3", "-m", "sglang.launch_server"] });
  const allowlisted = (servingAllowlist: string[]) => firewallExposureViolations(fw({ servingPort: 8000, servingAllowlist, servingApiKeyRequired: false }));
  const ruled = (...sources: string[]) =>
    stackExposureViolations([fw({ rules: sources.map((source_network) => ({ protocol: "tcp", port_range: [8000, 8000], source_network })) }), keyless]);
  const real = (props: Record<string, unknown>) => res("pulumi-nodejs:dynamic/lambda:Instance", "gpu-instance", { instanceType: "gpu_8x_b200_sxm6", maxPriceCentsPerHour: 6000, ...props });
  const now = new Date("2026-01-01T00:00:00Z");
  // 0.0.0.0/1, 128.0.0.0/2, 192.0.0.0/3 ... 255.255.255.254/32: every address but 255.255.255.255.
  const dotted = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
  const worldMinusOne = Array.from({ length: 32 }, (_, i) => `${dotted(2 ** 32 - 2 ** (32 - i))}/${i + 1}`);
  const image = (name: string) => pinnedImageViolations(res("docker:index/remoteImage:RemoteImage", "img", { name }));
  const rows: Array<{ bypass: string; findings: () => string[]; says: RegExp }> = [
    { bypass: "allowlist 0.0.0.0/1 + 128.0.0.0/1 (the union is the world)", findings: () => allowlisted(["0.0.0.0/1", "128.0.0.0/1"]), says: /together reach every IPv4 address/ },
    { bypass: "firewall rules 0.0.0.0/1 + 128.0.0.0/1 on the serving port", findings: () => ruled("0.0.0.0/1", "128.0.0.0/1"), says: /together reach every IPv4 address.*serving port 8000/ },
    { bypass: "allowlist 1.2.3.4/0 (host bits on a /0)", findings: () => allowlisted(["1.2.3.4/0"]), says: /1\.2\.3\.4\/0 reaches every IPv4 address/ },
    { bypass: "allowlist 000.0.0.0/0 (leading zeros)", findings: () => allowlisted(["000.0.0.0/0"]), says: /000\.0\.0\.0\/0 reaches every IPv4 address/ },
    { bypass: "rule source 1.2.3.4/0", findings: () => ruled("1.2.3.4/0"), says: /every IPv4 address/ },
    { bypass: "the world minus one address, in /1 ... /32 pieces", findings: () => allowlisted(worldMinusOne), says: /4294967295 IPv4 addresses, more than one \/8/ },
    { bypass: "rule source ::ffff:0:0/96 (every IPv4 address, IPv4-mapped)", findings: () => ruled("::ffff:0:0/96"), says: /::ffff:0:0\/96 reaches every IPv4 address/ },
    { bypass: "allowlist ::ffff:0.0.0.0/97 + 0.0.0.0/1 together", findings: () => allowlisted(["::ffff:0.0.0.0/97", "128.0.0.0/1"]), says: /together reach every IPv4 address/ },
    { bypass: "rule source 64:ff9b::/96 (NAT64: every IPv4 address)", findings: () => ruled("64:ff9b::/96"), says: /reaches every IPv4 address/ },
    { bypass: "image repo@notadigest", findings: () => image("lmsysorg/sglang@notadigest"), says: /'@notadigest', which is not a digest/ },
    { bypass: "image with a short fake digest", findings: () => image("lmsysorg/sglang:v0.5.4@sha256:abc"), says: /not a digest \(sha256: and 64 lowercase hex digits\)/ },
    { bypass: "image :nightly", findings: () => image("lmsysorg/sglang:nightly"), says: /tag 'nightly', which is not a release version/ },
    { bypass: "image :main", findings: () => image("lmsysorg/sglang:main"), says: /tag 'main'/ },
    { bypass: "bare short image id", findings: () => pinnedImageViolations(container({ image: "sha256:0123456789ab" })), says: /not a release version|no tag/ },
    { bypass: "TTL 100000d as text", findings: () => ttlBoundViolations(real({ ttl: "100000d" }), { now }), says: /is given 100000\.0 days, above the limit of 7\.0 days/ },
    { bypass: "ttlSeconds of 100000 days", findings: () => ttlBoundViolations(real({ ttlSeconds: 100000 * 86_400 }), { now }), says: /100000\.0 days/ },
    { bypass: "expiry tag a year ahead", findings: () => ttlBoundViolations(real({ tags: [{ key: "hgx:expires-at", value: "2027-01-01T00:00:00Z" }] }), { now }), says: /365\.0 days/ },
    { bypass: "an expiry nobody can read", findings: () => ttlBoundViolations(real({ ttl: "whenever" }), { now }), says: /an unreadable expiry/ },
    { bypass: "no price known at preview", findings: () => instanceCostViolations(real({ maxPriceCentsPerHour: undefined })), says: /no price known before launch/ },
    { bypass: "launch ceiling above the policy's", findings: () => instanceCostViolations(real({ maxPriceCentsPerHour: 9000, priceCentsPerHour: 4592 }), 60), says: /\$90\.00\/h, above the ceiling of \$60\.00\/h/ },
  ];
  it.each(rows)("$bypass", ({ findings, says }) => {
    const found = findings();
    expect(found.length).toBeGreaterThan(0);
    expect(found.join("\n")).toMatch(says);
  });
  it("still passes what is legitimately fine", () => {
    expect(allowlisted(["203.0.113.0/24", "198.51.100.7/32"])).toEqual([]);
    expect(ruled("10.0.0.0/8")).toEqual([]);
    expect(ruled("::ffff:203.0.113.0/120")).toEqual([]); // one /24, mapped
    expect(image("lmsysorg/sglang:v0.5.14-cu130")).toEqual([]);
    expect(image("lmsysorg/sglang:0.5.4.post1")).toEqual([]);
    expect(image(`lmsysorg/sglang@${DIGEST}`)).toEqual([]);
    expect(pinnedImageViolations(res("docker:index/remoteImage:RemoteImage", "img", { name: "hgx/sim:nightly-2026" }), "^nightly-\\d{4}$")).toEqual([]);
    expect(ttlBoundViolations(real({ ttlSeconds: 8 * 3600 }), { now })).toEqual([]);
    expect(ttlBoundViolations(res("pulumi-nodejs:dynamic/lambda:Instance", "gpu-instance", { ttl: "100000d" }, "prod"), { now })).toEqual([]);
    expect(ttlBoundViolations(real({ ttlSeconds: UNKNOWN }), { now })).toEqual([]);
    expect(instanceCostViolations(real({}), 60)).toEqual([]);
  });
});

describe("snapshotProps", () => {
  it("turns values that throw on access (the policy proxies' unknowns) into UNKNOWN", () => {
    const inner = new Proxy({ image: "x", ip: "y" } as Record<string, unknown>, {
      get: (t, p) => {
        if (p === "ip") throw new Error("unknown during preview");
        return t[p as string];
      },
    });
    expect(snapshotProps({ a: 1, nested: inner, list: ["04da6b54-80e4-46f7-96ec-b56ff0331ba9"] })).toEqual({
      a: 1,
      nested: { image: "x", ip: UNKNOWN },
      list: [UNKNOWN],
    });
  });
  it("knows every unknown sentinel of the installed @pulumi/policy", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const proxy = require("@pulumi/policy/proxy") as Record<string, unknown>;
    const library = Object.entries(proxy)
      .filter(([k]) => /^unknown\w+Value$/.test(k))
      .map(([, v]) => v as string);
    expect(library.length).toBeGreaterThanOrEqual(7);
    expect(new Set(library)).toEqual(new Set(UNKNOWN_SENTINELS));
  });
});
