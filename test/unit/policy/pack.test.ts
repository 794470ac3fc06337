/**
 * Runs the policy pack the way the Pulumi CLI does — `@pulumi/pulumi/cmd/run-policy-pack` on the
 * `policy/` folder, TypeScript compiled by the SDK's ts-node, dependencies from the root
 * node_modules — and talks to it over the analyzer gRPC protocol on 127.0.0.1. This checks the
 * wiring (names, enforcement levels, config, unknown handling) without needing the CLI itself.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as analyzerGrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as analyzerPb from "@pulumi/pulumi/proto/analyzer_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repoRoot = path.resolve(__dirname, "..", "..", "..");
const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // the engine's wire form of an unknown string

let pack: ChildProcess;
let client: analyzerGrpc.AnalyzerClient;

beforeAll(async () => {
  pack = spawn(process.execPath, [path.join(repoRoot, "node_modules/@pulumi/pulumi/cmd/run-policy-pack"), "127.0.0.1:1", "."], {
    cwd: path.join(repoRoot, "policy"),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  pack.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`policy pack did not start within 60 s; stderr:\n${stderr}`)), 60_000);
    let out = "";
    pack.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(\d+)\s*$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    pack.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`policy pack exited with ${code} before serving; stderr:\n${stderr}`));
    });
  });
  client = new analyzerGrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 90_000);

afterAll(() => {
  client?.close();
  if (pack && pack.exitCode === null) pack.kill("SIGTERM");
});

function resourceMessage<T extends analyzerPb.AnalyzeRequest | analyzerPb.AnalyzerResource>(msg: T, stack: string, type: string, name: string, props: Record<string, unknown>): T {
  msg.setType(type);
  msg.setName(name);
  msg.setUrn(`urn:pulumi:${stack}::hgx-inference::${type}::${name}`);
  msg.setProperties(Struct.fromJavaScript(props as Record<string, never>));
  msg.setOptions(new analyzerPb.AnalyzerResourceOptions());
  return msg;
}

interface Finding {
  policy: string;
  message: string;
  level: number;
}
const toFindings = (res: analyzerPb.AnalyzeResponse): Finding[] =>
  res.getDiagnosticsList().map((d) => ({ policy: d.getPolicyname(), message: d.getMessage(), level: d.getEnforcementlevel() }));

function analyze(stack: string, type: string, name: string, props: Record<string, unknown>): Promise<Finding[]> {
  const req = resourceMessage(new analyzerPb.AnalyzeRequest(), stack, type, name, props);
  return new Promise((resolve, reject) => client.analyze(req, (err, res) => (err ? reject(err) : resolve(toFindings(res)))));
}

function analyzeStack(stack: string, resources: Array<[string, string, Record<string, unknown>]>): Promise<Finding[]> {
  const req = new analyzerPb.AnalyzeStackRequest();
  req.setResourcesList(resources.map(([type, name, props]) => resourceMessage(new analyzerPb.AnalyzerResource(), stack, type, name, props)));
  return new Promise((resolve, reject) => client.analyzeStack(req, (err, res) => (err ? reject(err) : resolve(toFindings(res)))));
}

function configure(config: Record<string, Record<string, unknown>>): Promise<void> {
  const req = new analyzerPb.ConfigureAnalyzerRequest();
  for (const [policy, props] of Object.entries(config)) {
    const pc = new analyzerPb.PolicyConfig();
    pc.setEnforcementlevel(analyzerPb.EnforcementLevel.MANDATORY);
    pc.setProperties(Struct.fromJavaScript(props as Record<string, never>));
    req.getPolicyconfigMap().set(policy, pc);
  }
  return new Promise((resolve, reject) => client.configure(req, (err) => (err ? reject(err) : resolve())));
}

const DYNAMIC = "pulumi-nodejs:dynamic:Resource";
const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;
/** An expiry tag a day ahead (within the pack's 7-day bound). */
const soon = () => [{ key: "hgx-expires-at", value: new Date(Date.now() + 86_400_000).toISOString() }];
const instanceProps = (extra: Record<string, unknown>) => ({
  __provider: "exports.handler = function () {}",
  instanceTypeName: "gpu_8x_b200_sxm6",
  regionName: "us-east-3",
  maxPriceCentsPerHour: 5000,
  ...extra,
});

describe("policy pack served over the analyzer protocol", () => {
  it("refuses a RemoteImage on `latest`, mandatory, and passes a pinned one", async () => {
    const bad = await analyze("dev", "docker:index/remoteImage:RemoteImage", "sglang-image", { name: "lmsysorg/sglang:latest" });
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({ policy: "pinned-images", level: analyzerPb.EnforcementLevel.MANDATORY });
    expect(bad[0].message).toMatch(/lmsysorg\/sglang:latest/);
    expect(await analyze("dev", "docker:index/remoteImage:RemoteImage", "sglang-image", { name: "lmsysorg/sglang:v0.5.4" })).toEqual([]);
    const nightly = await analyze("dev", "docker:index/remoteImage:RemoteImage", "sglang-image", { name: "lmsysorg/sglang:nightly" });
    expect(nightly.map((f) => f.policy)).toEqual(["pinned-images"]);
  });

  it("judges nothing on a container image that is unknown during preview", async () => {
    expect(await analyze("dev", "docker:index/container:Container", "sglang", { image: UNKNOWN_STRING, name: "sglang" })).toEqual([]);
  });

  it("requires an expiry on dev instances only", async () => {
    const noTtl = await analyze("dev", DYNAMIC, "gpu-instance", instanceProps({}));
    expect(noTtl.map((f) => f.policy)).toEqual(["ttl-outside-prod"]);
    expect(await analyze("dev", DYNAMIC, "gpu-instance", instanceProps({ tags: soon() }))).toEqual([]);
    expect(await analyze("prod", DYNAMIC, "gpu-instance", instanceProps({}))).toEqual([]);
    const forever = await analyze("dev", DYNAMIC, "gpu-instance", instanceProps({ ttl: "100000d" }));
    expect(forever.map((f) => f.policy)).toEqual(["ttl-outside-prod"]);
    expect(forever[0].message).toMatch(/100000\.0 days, above the limit of 7\.0 days/);
  });

  it("refuses a container publishing the serving port on all interfaces without an API key", async () => {
    const ports = [{ internal: 8000, external: 8000, ip: "0.0.0.0", protocol: "tcp" }];
    const open = await analyze("dev", "docker:index/container:Container", "sglang", { image: DIGEST, ports, command: ["python3", "-m", "sglang.launch_server"] });
    expect(open.map((f) => f.policy)).toEqual(["serving-port-requires-api-key"]);
    const keyed = await analyze("dev", "docker:index/container:Container", "sglang", {
      image: DIGEST,
      ports,
      command: ["python3", "-m", "sglang.launch_server", "--api-key", "k"],
    });
    expect(keyed).toEqual([]);
  });

  it("flags a world-open firewall on the serving port at stack level", async () => {
    const firewall: [string, string, Record<string, unknown>] = [DYNAMIC, "gpu-firewall", { rules: [{ protocol: "tcp", port_range: [8000, 8000], source_network: "0.0.0.0/0" }] }];
    const server: [string, string, Record<string, unknown>] = ["docker:index/container:Container", "sglang", { image: "lmsysorg/sglang:v0.5.4", command: ["python3", "-m", "sglang.launch_server"] }];
    const findings = await analyzeStack("dev", [firewall, server]);
    expect(findings.map((f) => f.policy)).toEqual(["firewall-serving-port-requires-api-key"]);
    const halves = [DYNAMIC, "gpu-firewall", { rules: ["0.0.0.0/1", "128.0.0.0/1"].map((source_network) => ({ protocol: "tcp", port_range: [8000, 8000], source_network })) }] as typeof firewall;
    expect((await analyzeStack("dev", [halves, server])).map((f) => f.policy)).toEqual(["firewall-serving-port-requires-api-key"]);
  });

  it("applies the hourly cost ceiling from policy config", async () => {
    const priced = instanceProps({ maxPriceCentsPerHour: 4592, tags: soon() });
    const { maxPriceCentsPerHour: _ceiling, ...withoutCeiling } = priced;
    const unpriced = await analyze("dev", DYNAMIC, "gpu-instance", withoutCeiling);
    expect(unpriced.map((f) => f.policy)).toEqual(["max-hourly-cost"]);
    expect(await analyze("dev", DYNAMIC, "gpu-instance", priced)).toEqual([]); // default ceiling $60/h
    await configure({ "max-hourly-cost": { maxUsdPerHour: 40 }, "max-hourly-cost-stack": { maxUsdPerHour: 40 } });
    const over = await analyze("dev", DYNAMIC, "gpu-instance", priced);
    expect(over.map((f) => f.policy)).toEqual(["max-hourly-cost"]);
    expect(over[0].message).toMatch(/\$45\.92\/h.*\$40\.00\/h/);
    const stack = await analyzeStack("dev", [[DYNAMIC, "gpu-instance", priced]]);
    expect(stack.map((f) => f.policy)).toEqual(["max-hourly-cost-stack"]);
  });
});
