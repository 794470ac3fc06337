/**
 * Pulumi mocks for the whole program: stack config from a stack file plus test secrets, every
 * registered resource recorded (type, name, parent type, inputs as the engine would receive
 * them), plausible outputs for the providers' computed fields, and `call` refusing anything.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { readStackFileConfig } from "../../../components/projectFile";
import { seedResultForCommand } from "../../fixtures/benchmark/results";
import { BOOT_WAIT_LOG, GATE_LOG, WEIGHTS_LOG } from "../../fixtures/serving/scriptLogs";
import { mockedCommandStdout, TEST_HOST_PRIVATE_KEY, TEST_HOST_PUBLIC_KEY } from "../../fixtures/hostKeys";
import { installPulumiMocks, refuseCall, type RecordedResource } from "../../fixtures/pulumiMocks";

const root = path.resolve(__dirname, "..", "..", "..");
const CAPACITY_KNEE12_OUTPUT = fs.readFileSync(path.join(root, "test", "fixtures", "benchmark", "capacity-knee12-output.json"), "utf8");
const PROJECT = "hgx-inference";
/** Pulumi's wire marker for a secret value. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

export type { RecordedResource };

export interface ProgramMocks {
  readonly resources: RecordedResource[];
  value<T>(o: pulumi.Output<T> | undefined): Promise<T>;
  /** Secret labels whose value appears in some resource's inputs outside a secret wrapper. */
  plainInputLeaks(secrets: Record<string, string>): string[];
  /** Resources that receive `value` inside a secret-wrapped input. */
  secretInputHolders(value: string): string[];
}

/** The image ID the mocked local engine has for `name`: one per name, so a test can tell the images apart. */
export function LOCAL_IMAGE_ID(name: string): string {
  return "sha256:" + crypto.createHash("sha256").update(name).digest("hex");
}

/** Outputs the real providers would compute, by resource type and name. */
function computedOutputs(type: string, name: string, inputs: Record<string, unknown>, regionOf: (host: string) => string): Record<string, unknown> {
  if (type.startsWith("command:")) {
    const scanned = mockedCommandStdout(name);
    if (scanned !== undefined) return { stdout: scanned, stderr: "" };
    if (name.endsWith("-run")) return { stdout: seedResultForCommand(inputs.create), stderr: "" };
    // A capacity search's --json output: a known knee of 12 (test/fixtures/benchmark/capacity-knee12-output.json).
    if (name.endsWith("-capacity")) return { stdout: CAPACITY_KNEE12_OUTPUT, stderr: "" };
    if (name.endsWith("-weights")) return { stdout: WEIGHTS_LOG, stderr: "" };
    if (name.endsWith("-boot-wait")) return { stdout: BOOT_WAIT_LOG, stderr: "" };
    if (name.endsWith("-ready")) return { stdout: GATE_LOG, stderr: "" };
    if (name.includes("-readiness-")) return { stdout: `${name}: ok; checked at 2026-01-01T00:00:00Z\n`, stderr: "" };
    return { stdout: "2026-01-01T00:04:00Z\n", stderr: "" };
  }
  if (type === "docker:index/remoteImage:RemoteImage") {
    const name = String(inputs.name);
    // Pulled by image ID: an image of the engine itself, without a registry digest.
    if (/^sha256:[a-f0-9]{64}$/.test(name)) return { imageId: name, repoDigest: "" };
    return { imageId: "sha256:" + "1".repeat(64), repoDigest: name.includes("@") ? name : `${name.split(":")[0]}@sha256:${"2".repeat(64)}` };
  }
  if (type.startsWith("pulumi-nodejs:dynamic")) {
    return {
      instanceId: "0920582c7ff041399e34823a0be62549",
      // One address per machine (`<host>-machine-<role>`): hgx .10, hgx-2 .11, ..., the router's own host .20.
      ip: machineIp(name),
      // Its address on the region's private network: the same last octet in 10.19.0.0/24.
      privateIp: machineIp(name).replace("203.0.113.", "10.19.0."),
      region: regionOf(machineHost(name)),
      instanceType: typeof inputs.instanceType === "string" ? inputs.instanceType : "gpu_8x_b200_sxm6",
      priceCentsPerHour: inputs.instanceType === "gpu_1x_a10" ? 75 : 4592,
      actualHostname: "dev-hgx",
      status: "active",
      expiresAt: "2026-01-01T08:00:00Z",
      adopted: false,
      keyId: "key-1",
      keyName: "dev-hgx",
      publicKeyOpenssh: "ssh-ed25519 AAAAunit",
      privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nunit-generated\n-----END OPENSSH PRIVATE KEY-----\n",
      filesystemId: "fs-1",
      fsName: inputs.name ?? "fs",
      mountPoint: `/lambda/nfs/${String(inputs.name ?? "fs")}`,
      rulesetIds: { "us-east-1": "fw-1" },
      rules: [],
      // StackIdentity's random id; the Instance's filesystem placement (attached, at its mount point).
      uid: "0123456789abcdef",
      // HostKeyPair: the generated host key.
      privateKeyOpenssh: TEST_HOST_PRIVATE_KEY,
      publicKey: `${TEST_HOST_PUBLIC_KEY} dev-hgx-host`,
      filesystemAttached: inputs.filesystemName !== undefined,
      filesystemRegion: "us-east-1",
      cacheMountPath: inputs.filesystemName !== undefined ? String(inputs.filesystemMountPoint) : "",
    };
  }
  return {};
}

/** The forms a secret travels in: as is, and base64-framed on a host script's stdin (`frameSecretStdin`). */
function forms(needle: string): string[] {
  return [needle, Buffer.from(needle, "utf8").toString("base64")];
}

function containsPlain(value: unknown, needle: string): boolean {
  if (typeof value === "string") return forms(needle).some((f) => value.includes(f));
  if (Array.isArray(value)) return value.some((v) => containsPlain(v, needle));
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (SECRET_SIG in o) return false; // a secret-wrapped value is allowed to hold it
    return Object.values(o).some((v) => containsPlain(v, needle));
  }
  return false;
}

function containsSecret(value: unknown, needle: string): boolean {
  if (Array.isArray(value)) return value.some((v) => containsSecret(v, needle));
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (SECRET_SIG in o) return forms(needle).some((f) => JSON.stringify(o.value ?? "").includes(f));
    return Object.values(o).some((v) => containsSecret(v, needle));
  }
  return false;
}

/** The host (`hgx`, `hgx-2`, `router-host`) a dynamic Lambda resource belongs to. */
function machineHost(resourceName: string): string {
  return /^(.*?)-machine(?:-|$)/.exec(resourceName)?.[1] ?? "hgx";
}

/** The mock address of the machine a dynamic Lambda resource belongs to. */
function machineIp(resourceName: string): string {
  const host = machineHost(resourceName);
  const replica = /^hgx(?:-(\d+))?$/.exec(host);
  return `203.0.113.${replica ? 9 + Number(replica[1] ?? 1) : 20}`;
}

export async function installProgramMocks(opts: {
  stack: string;
  /** The stack file the config comes from. @default `Pulumi.<stack>.yaml` */
  stackFile?: string;
  config?: Record<string, string>;
  secretKeys?: string[];
  /** The region each host's instance lands in. @default every host in us-east-1 */
  regionOf?: (host: string) => string;
}): Promise<ProgramMocks> {
  const regionOf = opts.regionOf ?? (() => "us-east-1");
  const config: Record<string, string> = { ...readStackFileConfig(path.join(root, opts.stackFile ?? `Pulumi.${opts.stack}.yaml`)) };
  for (const [k, v] of Object.entries(opts.config ?? {})) config[`${PROJECT}:${k}`] = v;
  pulumi.runtime.setAllConfig(config, (opts.secretKeys ?? []).map((k) => `${PROJECT}:${k}`));

  const harness = await installPulumiMocks({
    project: PROJECT,
    stack: opts.stack,
    outputs: (args) => computedOutputs(args.type, args.name, args.inputs as Record<string, unknown>, regionOf),
    call: (args) => {
      // The local stack names its images by the ID the local engine has for them (`localImageRef`).
      if (args.token === "docker:index/getRemoteImage:getRemoteImage") return { id: LOCAL_IMAGE_ID(String(args.inputs.name)), name: args.inputs.name, repoDigest: "" };
      return refuseCall(args);
    },
  });
  const resources = harness.resources;

  return {
    resources,
    value: harness.value,
    plainInputLeaks: (secrets) =>
      Object.entries(secrets).flatMap(([label, value]) =>
        resources.filter((r) => containsPlain(r.inputs, value)).map((r) => `${label} in ${r.type} ${r.name}`),
      ),
    secretInputHolders: (value) => resources.filter((r) => containsSecret(r.inputs, value)).map((r) => `${r.type} ${r.name}`),
  };
}

/** Waits until every exported output (recursively) has resolved, so all resources registered. */
export async function settle(exports: Record<string, unknown>): Promise<void> {
  const outputs: pulumi.Output<unknown>[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth > 4 || v === null || v === undefined) return;
    if (pulumi.Output.isInstance(v)) outputs.push(v as pulumi.Output<unknown>);
    else if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
    else if (typeof v === "object") Object.values(v as Record<string, unknown>).forEach((x) => walk(x, depth + 1));
  };
  walk(exports, 0);
  await Promise.all(outputs.map((o) => new Promise<void>((resolve) => o.apply(() => resolve()))));
  await new Promise((r) => setTimeout(r, 200));
}

/**
 * Installs the mocks, runs the program (index.ts) once and waits for its outputs: the one way the
 * program tests load it (each test file is its own module graph, so the import runs it afresh).
 */
export async function runProgram(opts: Parameters<typeof installProgramMocks>[0]): Promise<{ mocks: ProgramMocks; program: Record<string, unknown> }> {
  const mocks = await installProgramMocks(opts);
  const program = (await import("../../../index")) as Record<string, unknown>;
  await settle(program);
  return { mocks, program };
}
