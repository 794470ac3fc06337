/**
 * HgxHost in each mode under Pulumi mocks: which children exist, their names and parents (from
 * URNs, which carry the parent type chain), what the checks run, the outputs, and that the private
 * key stays a secret. LambdaMachine is replaced by a stand-in component with the documented output
 * shape: its own behaviour is tested by its owner, here only the wiring matters.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type * as HgxHostModule from "../../../components/host/hgxHost";
import type { HgxHostArgs } from "../../../components/host/hgxHost";
import type { SshHostConnection } from "../../../components/host/connection";
import { mockedCommandStdout, TEST_HOST_PUBLIC_KEY } from "../../fixtures/hostKeys";
import { installPulumiMocks, type RecordedResource } from "../../fixtures/pulumiMocks";

let recorded: RecordedResource[] = [];
const CHECKED_AT = "2026-03-04T05:06:07Z";
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-unit-test-key\n-----END OPENSSH PRIVATE KEY-----\n";

vi.mock("../../../components/host/lambdaMachine", async () => {
  const p = await import("@pulumi/pulumi");
  class LambdaMachine extends p.ComponentResource {
    readonly instanceId = p.output("inst-0123");
    readonly ip = p.output("203.0.113.7");
    readonly region = p.output("us-east-3");
    readonly instanceType = p.output("gpu_8x_b200_sxm6");
    readonly hourlyPriceUsd = p.output(45.92);
    readonly sshUser = p.output("ubuntu");
    readonly sshPort = p.output(22);
    readonly privateKey = p.secret("-----BEGIN OPENSSH PRIVATE KEY-----\nlambda-generated\n-----END OPENSSH PRIVATE KEY-----\n");
    readonly cacheMountPath = p.output<string | undefined>("/lambda/nfs/hgx-cache");
    readonly hostPublicKey = p.output(`${TEST_HOST_PUBLIC_KEY} lambda-host`);
    readonly connection: SshHostConnection;
    constructor(name: string, _args: Record<string, unknown>, opts?: pulumi.ComponentResourceOptions) {
      super("hgx:host:LambdaMachine", name, {}, opts);
      this.connection = { kind: "ssh", host: this.ip, port: this.sshPort, user: this.sshUser, privateKey: this.privateKey, hostKey: TEST_HOST_PUBLIC_KEY };
      this.registerOutputs({});
    }
  }
  return { LambdaMachine };
});

let mod: typeof HgxHostModule;

beforeAll(async () => {
  const mocks = await installPulumiMocks({
    project: "hgx",
    stack: "unit",
    outputs: (args) => (args.type.startsWith("command:") ? { stdout: mockedCommandStdout(args.name) ?? `${args.name}: ok, fine; checked at ${CHECKED_AT}\n` } : {}),
  });
  recorded = mocks.resources;
  mod = await import("../../../components/host/hgxHost");
});

function resolve<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((r) => o.apply((v) => r(v)));
}
function resolveInput<T>(i: pulumi.Input<T>): Promise<T> {
  return resolve(pulumi.output(i) as pulumi.Output<T>);
}
/** Registration is asynchronous: wait until every child has reached the mocks. */
async function settled(host: { readyAt: pulumi.Output<string>; readiness: { checks: readonly pulumi.Resource[] } }) {
  await resolve(host.readyAt);
  await Promise.all(host.readiness.checks.map((c) => resolve(c.urn)));
}
const SECRET_SIG = "4dabf18193072939515e22adb298388d"; // Pulumi's wire marker for secret values
/** The value of a (possibly) secret-wrapped input as the mocks receive it, and whether it was secret. */
function unwrap(v: unknown): { secret: boolean; value: Record<string, unknown> } {
  const o = v as Record<string, unknown>;
  return o && SECRET_SIG in o ? { secret: true, value: o.value as Record<string, unknown> } : { secret: false, value: o };
}
const byPrefix = (prefix: string) => recorded.filter((r) => r.name.startsWith(prefix));

describe("existing mode", () => {
  let host: InstanceType<typeof mod.HgxHost>;
  beforeAll(async () => {
    host = new mod.HgxHost("onprem", {
      mode: "existing",
      existing: { address: "192.0.2.10", port: 2222, user: "gpuadmin", privateKey: KEY, cacheMountPath: "/data/hf", hostKey: `[192.0.2.10]:2222 ${TEST_HOST_PUBLIC_KEY}` },
      hourlyPriceUsd: 12.5,
    });
    await settled(host);
  });

  it("creates the readiness component and its three ordered SSH checks, named after the host", async () => {
    const names = byPrefix("onprem").map((r) => `${r.type} ${r.name}`);
    expect(names).toEqual([
      "hgx:host:HgxHost onprem",
      "hgx:host:HostKeyCheck onprem-host-key",
      "hgx:host:HostReadiness onprem-readiness",
      "command:local:Command onprem-host-key-scan",
      "command:remote:Command onprem-readiness-gpu-count",
      "command:remote:Command onprem-readiness-docker-access",
      "command:remote:Command onprem-readiness-gpu-container",
    ]);
  });

  it("parents the checks under readiness under the host", async () => {
    const urns = await Promise.all(host.readiness.checks.map((c) => resolve(c.urn)));
    // A URN names the parent's type: check -> readiness, readiness -> host.
    for (const urn of urns) expect(urn).toMatch(/::hgx:host:HostReadiness\$command:remote:Command::onprem-readiness-/);
    expect(await resolve(host.readiness.urn)).toMatch(/::hgx:host:HgxHost\$hgx:host:HostReadiness::onprem-readiness$/);
  });

  it("connects with the given address, port and user, and keeps dialling while the host boots", async () => {
    const check = byPrefix("onprem-readiness-gpu-count")[0];
    const conn = unwrap(check.inputs.connection);
    expect(conn.secret).toBe(true); // the whole connection reaches the provider as a secret
    expect(conn.value).toMatchObject({ host: "192.0.2.10", port: 2222, user: "gpuadmin", privateKey: KEY, hostKey: TEST_HOST_PUBLIC_KEY, dialErrorLimit: 10 });
  });

  it("runs the rendered bash scripts expecting 8 x B200 and never puts the key in a command line", async () => {
    const checks = byPrefix("onprem-readiness-");
    const commands = checks.filter((c) => c.type === "command:remote:Command");
    expect(commands.map((c) => c.inputs.create)).toEqual(["bash -s", "bash -s", "bash -s"]);
    const creates = commands.map((c) => String(c.inputs.stdin));
    expect(creates[0]).toContain("gpu-count: expected 8 x B200");
    expect(creates[2]).toContain('docker run --rm --gpus all "$image" nvidia-smi -L');
    // The default probe image is pinned by digest (the tag kept for humans).
    expect(creates[2]).toMatch(/image='ubuntu:24\.04@sha256:[a-f0-9]{64}'/);
    for (const c of commands) {
      const { connection: _secretConnection, ...rest } = c.inputs;
      expect(JSON.stringify(rest)).not.toMatch(/unit-test-key/);
    }
    // Existing boxes are not ours to change: no group fixing unless asked.
    expect(creates[1]).toContain("if false && sudo -n true");
  });

  it("keeps the private key secret in every output that carries it", async () => {
    expect(await pulumi.isSecret(host.privateKey)).toBe(true);
    const conn = host.connection as SshHostConnection;
    expect(await pulumi.isSecret(pulumi.output(conn.privateKey))).toBe(true);
    const check = host.readiness.checks[0] as import("@pulumi/command").remote.Command;
    expect(await pulumi.isSecret(check.connection)).toBe(true);
    expect(await pulumi.isSecret(host.sshCommand)).toBe(false);
  });

  it("exposes the host facts, the ready time and a paste-able ssh command without key material", async () => {
    expect(await resolve(host.instanceId)).toBe("existing:gpuadmin@192.0.2.10:2222");
    expect(await resolve(host.ip)).toBe("192.0.2.10");
    expect(await resolve(host.region)).toBe("existing");
    expect(await resolve(host.instanceType)).toBe("existing");
    expect(await resolve(host.hourlyPriceUsd)).toBe(12.5);
    expect(await resolve(host.sshUser)).toBe("gpuadmin");
    expect(await resolve(host.sshPort)).toBe(2222);
    expect(await resolve(host.sshCommand)).toBe("ssh -i ~/.ssh/onprem.pem -p 2222 gpuadmin@192.0.2.10");
    expect(await resolve(host.cacheMountPath)).toBe("/data/hf");
    expect(await resolve(host.gpuCount)).toBe(8);
    expect(await resolve(host.readyAt)).toBe(CHECKED_AT);
    const conn = host.connection as SshHostConnection;
    expect(conn.kind).toBe("ssh");
    expect(await resolveInput(conn.host)).toBe("192.0.2.10");
  });

  it("gates the connection address on readiness, so consumers depend on the checks", async () => {
    const conn = host.connection as SshHostConnection;
    const deps = await (pulumi.output(conn.host) as unknown as { allResources(): Promise<Set<pulumi.Resource>> }).allResources();
    expect([...deps]).toContain(host.readiness.checks[2]);
  });
});

describe("lambda mode", () => {
  let host: InstanceType<typeof mod.HgxHost>;
  beforeAll(async () => {
    host = new mod.HgxHost("lam", { mode: "lambda", lambda: { instanceType: "gpu_8x_h100_sxm5" } as never });
    await settled(host);
  });

  it("creates the machine, then readiness against the machine's connection", async () => {
    expect(byPrefix("lam").map((r) => `${r.type} ${r.name}`)).toEqual([
      "hgx:host:HgxHost lam",
      "hgx:host:LambdaMachine lam-machine",
      "hgx:host:HostKeyCheck lam-host-key",
      "hgx:host:HostReadiness lam-readiness",
      "command:local:Command lam-host-key-scan",
      "command:remote:Command lam-readiness-gpu-count",
      "command:remote:Command lam-readiness-docker-access",
      "command:remote:Command lam-readiness-gpu-container",
    ]);
    expect(await resolve(host.machine!.urn)).toMatch(/::hgx:host:HgxHost\$hgx:host:LambdaMachine::lam-machine$/);
    const conn = unwrap(byPrefix("lam-readiness-gpu-count")[0].inputs.connection);
    expect(conn.secret).toBe(true);
    expect(conn.value).toMatchObject({ host: "203.0.113.7", port: 22, user: "ubuntu", hostKey: TEST_HOST_PUBLIC_KEY });
    // The pre-flight check pins the machine's generated key and re-runs for a new instance.
    const scan = byPrefix("lam-host-key-scan")[0]!.inputs;
    expect(String(scan.create)).toContain("expected=SHA256:");
    expect(scan.triggers).toEqual(["inst-0123"]);
  });

  it("expects the GPUs the instance type names and may fix the docker group on the GPU Base image", () => {
    const creates = byPrefix("lam-readiness-").map((r) => String(r.inputs.stdin));
    expect(creates[0]).toContain("gpu-count: expected 8 x H100");
    expect(creates[1]).toContain("if true && sudo -n true");
  });

  it("re-runs the checks when the instance is replaced", () => {
    const check = byPrefix("lam-readiness-gpu-count")[0];
    expect(check.inputs.triggers).toEqual(["203.0.113.7", 22, "ubuntu", "inst-0123"]);
  });

  it("passes the machine's facts through and keeps its key secret", async () => {
    expect(await resolve(host.instanceId)).toBe("inst-0123");
    expect(await resolve(host.region)).toBe("us-east-3");
    expect(await resolve(host.hourlyPriceUsd)).toBe(45.92);
    expect(await resolve(host.cacheMountPath)).toBe("/lambda/nfs/hgx-cache");
    expect(await resolve(host.sshCommand)).toBe("ssh -i ~/.ssh/lam.pem -p 22 ubuntu@203.0.113.7");
    expect(await pulumi.isSecret(host.privateKey)).toBe(true);
    expect(await resolve(host.gpuCount)).toBe(8);
  });
});

describe("local mode", () => {
  let host: InstanceType<typeof mod.HgxHost>;
  beforeAll(async () => {
    host = new mod.HgxHost("dev", { mode: "local", local: { dockerHost: "unix:///run/user/docker.sock" }, gpus: { count: 8, model: "B200" } });
    await settled(host);
  });

  it("only checks that Docker is reachable, locally", () => {
    const children = byPrefix("dev");
    expect(children.map((r) => `${r.type} ${r.name}`)).toEqual([
      "hgx:host:HgxHost dev",
      "hgx:host:HostReadiness dev-readiness",
      "command:local:Command dev-readiness-docker-access",
    ]);
    const check = children[2].inputs;
    expect(check.create).toBe("bash -s");
    expect(check.environment).toEqual({ DOCKER_HOST: "unix:///run/user/docker.sock" });
    expect(String(check.stdin)).toContain("docker-access:");
  });

  it("reports a local connection, no SSH and no GPUs", async () => {
    expect(host.connection).toEqual({ kind: "local", dockerHost: "unix:///run/user/docker.sock" });
    expect(await resolve(host.sshCommand)).toBeUndefined();
    expect(await resolve(host.privateKey)).toBeUndefined();
    expect(await resolve(host.gpuCount)).toBe(0);
    expect(await resolve(host.hourlyPriceUsd)).toBe(0);
    expect(await resolve(host.readyAt)).toBe(CHECKED_AT);
  });
});

describe("many hosts and bad input", () => {
  it("instantiates N hosts side by side with distinct child names", async () => {
    for (const i of [0, 1, 2]) {
      await settled(new mod.HgxHost(`rep${i}`, { mode: "existing", existing: { address: `10.0.0.${i}`, privateKey: KEY, hostKeyTrust: "tofu" } }));
    }
    const names = recorded.filter((r) => /^rep\d/.test(r.name)).map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter((n) => n.endsWith("-readiness-gpu-count"))).toEqual(["rep0-readiness-gpu-count", "rep1-readiness-gpu-count", "rep2-readiness-gpu-count"]);
  });

  it("refuses missing mode settings with the setting and the fix", () => {
    // As a caller without types would pass them.
    const untyped = (args: object) => args as HgxHostArgs;
    expect(() => new mod.HgxHost("bad1", untyped({ mode: "existing" }))).toThrow(/mode "existing" needs `existing: \{ address, user, privateKey \}`.*sshHost/);
    expect(() => new mod.HgxHost("bad2", untyped({ mode: "lambda" }))).toThrow(/mode "lambda" needs the `lambda` machine settings/);
    expect(() => new mod.HgxHost("bad3", untyped({ mode: "cloud" }))).toThrow(/mode must be one of lambda, existing, local, got 'cloud'/);
    expect(() => new mod.HgxHost("bad4", { mode: "existing", existing: { address: " ", privateKey: KEY } })).toThrow(/existing\.address is empty/);
    expect(() => new mod.HgxHost("bad5", { mode: "local", hourlyPriceUsd: -1 })).toThrow(/hourlyPriceUsd must be a non-negative number.*got -1/);
    expect(() => new mod.HgxHost("bad6", { mode: "existing", existing: { address: "h", privateKey: KEY, hostKey: TEST_HOST_PUBLIC_KEY }, gpus: { count: 0, model: "B200" } })).toThrow(/gpus\.count/);
    // No pinned key and no explicit trust-on-first-use: refused, saying how to get the key.
    expect(() => new mod.HgxHost("bad7", { mode: "existing", existing: { address: "10.1.2.3", privateKey: KEY } })).toThrow(
      /existing\.hostKey \(stack config sshHostKey\) is required.*ssh-keyscan -t ed25519 10\.1\.2\.3/,
    );
  });

  it("derives the GPU expectation from Lambda instance type names", () => {
    expect(mod.gpuExpectationFromInstanceType("gpu_8x_b200_sxm6")).toEqual({ count: 8, model: "B200" });
    expect(mod.gpuExpectationFromInstanceType("gpu_8x_a100_80gb_sxm4")).toEqual({ count: 8, model: "A100" });
    expect(mod.gpuExpectationFromInstanceType("gpu_1x_gh200")).toEqual({ count: 1, model: "GH200" });
    expect(mod.gpuExpectationFromInstanceType("cpu_4x_general")).toBeUndefined();
  });
});
