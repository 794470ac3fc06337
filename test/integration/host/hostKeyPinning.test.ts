/**
 * Host-key pinning against the real sshd test host, on the real Pulumi engine with the real command
 * and docker providers:
 * - the right pinned key (or its fingerprint) connects: the pre-flight check passes, the command
 *   provider's readiness checks run with `hostKey`, and the docker provider (local `ssh` with the
 *   stack's own known_hosts, StrictHostKeyChecking=yes) creates a volume on the host's engine;
 * - a different key is refused by the pre-flight check at its first answer, with a message naming
 *   the host and saying the key did not match; nothing logs in (sshd's own log is the witness);
 * - the connections themselves refuse a wrong key too (no pre-flight): the command provider with
 *   "host key mismatch", the docker provider with "Host key verification failed";
 * - trust on first use records the key the host presented.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { remoteConnectionArgs } from "../../../components/host/connection";
import { HgxHost, type ExistingHostArgs } from "../../../components/host/hgxHost";
import { hostKeyFingerprint, knownHostsLine, parseHostPublicKey, type HostPublicKey } from "../../../components/host/hostKey";
import { dockerSshFiles, dockerSshHost, dockerSshOpts, writeDockerSshFiles } from "../../../components/host/dockerEndpoint";
import { createEngineStack, type EngineStack } from "../../fixtures/pulumi-engine";
import { startSshTestHost, type SshTestHost } from "../../fixtures/ssh-host";

const PROJECT = "hgx-hostkey-it";
let host: SshTestHost;
const stacks: EngineStack[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-hostkey-it-"));
/** A key the host does not hold. */
let otherKey: string;

beforeAll(async () => {
  host = await startSshTestHost();
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(tmp, "other")]);
  otherKey = fs.readFileSync(path.join(tmp, "other.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
});

afterAll(async () => {
  for (const s of stacks) await s.dispose().catch(() => undefined);
  await host?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function parsed(line: string): HostPublicKey {
  const k = parseHostPublicKey(line);
  if ("problem" in k) throw new Error(k.problem);
  return k;
}

async function stack(name: string, program: () => Promise<Record<string, unknown>>): Promise<EngineStack> {
  const s = await createEngineStack({ projectName: PROJECT, stackName: name, program, config: { [`${PROJECT}:sshPrivateKey`]: { value: host.privateKey, secret: true } } });
  stacks.push(s);
  return s;
}

/** HgxHost in existing mode against the test host with the given pin. */
function hgxHostProgram(pin: Pick<ExistingHostArgs, "hostKey" | "hostKeyTrust">) {
  return async () => {
    const cfg = new pulumi.Config(PROJECT);
    const h = new HgxHost("box", {
      mode: "existing",
      existing: { address: host.host, port: host.port, user: host.user, privateKey: cfg.requireSecret("sshPrivateKey"), ...pin },
      gpus: { count: 8, model: "B200", probeImage: host.gpuProbeImage },
      // Short bounds: the test host answers at once; a wrong key must fail at the first answer anyway.
      hostKeyScan: { attempts: 3, timeoutSeconds: 5, intervalSeconds: 1 },
    });
    return { readyAt: h.readyAt, hostKey: h.hostKey, report: h.readiness.report };
  };
}

/** The docker provider as SglangServer builds it (same functions), pinning `pinnedKey`, creating one volume. */
function dockerProgram(pinnedKey: string, volume: string, dir: string) {
  return async () => {
    const cfg = new pulumi.Config(PROJECT);
    const files = dockerSshFiles(dir, "box");
    const sshOpts = cfg.requireSecret("sshPrivateKey").apply((k) => {
      if (!pulumi.runtime.isDryRun()) writeDockerSshFiles(files, k, knownHostsLine(host.host, host.port, parsed(pinnedKey)));
      return dockerSshOpts(files);
    });
    const provider = new docker.Provider("engine", { host: dockerSshHost(host.user, host.host, host.port), sshOpts: pulumi.unsecret(sshOpts) });
    const v = new docker.Volume("cache", { name: volume }, { provider });
    return { volume: v.name };
  };
}

describe("host-key pinning against the sshd test host", () => {
  it("the right key connects: pre-flight check, command provider checks and docker provider over ssh://", async () => {
    const engine = await stack("right", hgxHostProgram({ hostKey: host.hostPublicKey }));
    const up = await engine.stack.up({ onOutput: engine.onOutput });
    expect(up.summary.result).toBe("succeeded");
    expect(up.outputs.hostKey?.value).toBe(host.hostPublicKey);
    expect(up.outputs.report?.value).toMatch(/gpu-container: ok/);

    // The fingerprint (as ssh-keygen -lf prints it) pins just as well.
    const byFingerprint = await stack("fingerprint", hgxHostProgram({ hostKey: hostKeyFingerprint(parsed(host.hostPublicKey)) }));
    const upFp = await byFingerprint.stack.up({ onOutput: byFingerprint.onOutput });
    expect(upFp.outputs.hostKey?.value).toBe(host.hostPublicKey);

    const volume = `hgx-hostkey-it-${process.pid}`;
    const dockerStack = await stack("docker-right", dockerProgram(host.hostPublicKey, volume, path.join(tmp, "docker-right")));
    const upDocker = await dockerStack.stack.up({ onOutput: dockerStack.onOutput });
    expect(upDocker.summary.result).toBe("succeeded");
    expect((await host.ssh(`docker volume inspect ${volume}`)).code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, "docker-right", "box.known_hosts"), "utf8")).toBe(`[127.0.0.1]:${host.port} ${host.hostPublicKey}\n`);
    await dockerStack.stack.destroy({ onOutput: dockerStack.onOutput });
    expect((await host.ssh(`docker volume inspect ${volume}`)).code).not.toBe(0);
  });

  it("a different key is refused by the pre-flight check at once, naming the host; nothing logs in", async () => {
    const engine = await stack("wrong", hgxHostProgram({ hostKey: otherKey }));
    const logins = (host.sshdLog().match(/Accepted publickey/g) ?? []).length;
    const err = await engine.stack.up({ onOutput: engine.onOutput }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err, "up must fail").toBeDefined();
    const out = engine.engineOutput();
    expect(out).toContain(`host key check FAILED for 127.0.0.1:${host.port}`);
    expect(out).toContain(
      `presented ssh-ed25519 ${hostKeyFingerprint(parsed(host.hostPublicKey))}, which did not match the pinned key ${hostKeyFingerprint(parsed(otherKey))}`,
    );
    // Refused on the first scan that got an answer: no waiting for SSH, no provider dial retries.
    // (The script's own text may be quoted in the error: match only the expanded progress line.)
    expect(out).not.toMatch(/does not answer SSH yet \(attempt \d+\//);
    expect(out).not.toMatch(/Dial \d+\/\d+ failed: retrying/);
    // No readiness check ran: sshd accepted no login during the run.
    expect((host.sshdLog().match(/Accepted publickey/g) ?? []).length).toBe(logins);
  });

  it("the connections refuse a wrong key by themselves: command provider and docker provider", async () => {
    const cmd = await stack("cmd-wrong", async () => {
      const cfg = new pulumi.Config(PROJECT);
      const c = new command.remote.Command("probe", {
        create: "echo reached",
        connection: { ...remoteConnectionArgs({ kind: "ssh", host: host.host, port: host.port, user: host.user, privateKey: cfg.requireSecret("sshPrivateKey"), hostKey: otherKey }), dialErrorLimit: 2 },
      });
      return { out: c.stdout };
    });
    const cmdErr = await cmd.stack.up({ onOutput: cmd.onOutput }).then(() => undefined, (e: unknown) => e as Error);
    expect(cmdErr).toBeDefined();
    expect(cmd.engineOutput()).toMatch(/host key mismatch/);
    expect(cmd.engineOutput()).not.toContain("reached");

    const volume = `hgx-hostkey-it-wrong-${process.pid}`;
    const dk = await stack("docker-wrong", dockerProgram(otherKey, volume, path.join(tmp, "docker-wrong")));
    const dkErr = await dk.stack.up({ onOutput: dk.onOutput }).then(() => undefined, (e: unknown) => e as Error);
    expect(dkErr).toBeDefined();
    expect(dk.engineOutput()).toMatch(/Host key verification failed/);
    expect((await host.ssh(`docker volume inspect ${volume}`)).code).not.toBe(0);
  });

  it("trust on first use (explicit opt-in) records the key the host presented", async () => {
    const engine = await stack("tofu", hgxHostProgram({ hostKeyTrust: "tofu" }));
    const up = await engine.stack.up({ onOutput: engine.onOutput });
    expect(up.outputs.hostKey?.value).toBe(host.hostPublicKey);
    expect(engine.engineOutput()).toContain(`trusting 127.0.0.1:${host.port} on first use: ${hostKeyFingerprint(parsed(host.hostPublicKey))}`);
  });
});
