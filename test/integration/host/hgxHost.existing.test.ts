/**
 * HgxHost in `existing` mode with the REAL Pulumi engine (Automation API, local file backend,
 * passphrase secrets) against a REAL sshd on loopback whose user drives the real Docker engine.
 * GPUs are stand-ins (see test/fixtures/ssh-host); everything between the program and them is real,
 * the command provider included.
 */
import * as pulumi from "@pulumi/pulumi";
import { afterAll, describe, expect, it } from "vitest";
import { HgxHost } from "../../../components/host/hgxHost";
import { createEngineStack, plaintextLeaks, type EngineStack } from "../../fixtures/pulumi-engine";
import { startSshTestHost, type SshTestHost, type SshTestHostOptions } from "../../fixtures/ssh-host";

const PROJECT = "hgx-host-it";
const hosts: SshTestHost[] = [];
const stacks: EngineStack[] = [];

afterAll(async () => {
  for (const s of stacks) await s.dispose().catch(() => undefined);
  for (const h of hosts) await h.close();
});

async function hostWith(opts: SshTestHostOptions = {}): Promise<SshTestHost> {
  const h = await startSshTestHost(opts);
  hosts.push(h);
  return h;
}

/** A stack deploying one HgxHost against `host`; the key travels as a secret stack config value. */
async function stackFor(host: SshTestHost, stackName: string): Promise<EngineStack> {
  const program = async () => {
    const cfg = new pulumi.Config(PROJECT);
    const gpuHost = new HgxHost("box", {
      mode: "existing",
      existing: { address: host.host, port: host.port, user: host.user, privateKey: cfg.requireSecret("sshPrivateKey"), hostKey: host.hostPublicKey },
      gpus: { count: 8, model: "B200", probeImage: host.gpuProbeImage },
      hourlyPriceUsd: 3.5,
    });
    return {
      readyAt: gpuHost.readyAt,
      gpuCount: gpuHost.gpuCount,
      sshCommand: gpuHost.sshCommand,
      instanceId: gpuHost.instanceId,
      hourlyPriceUsd: gpuHost.hourlyPriceUsd,
      privateKey: gpuHost.privateKey,
      report: gpuHost.readiness.report,
    };
  };
  const stack = await createEngineStack({
    projectName: PROJECT,
    stackName,
    program,
    config: { [`${PROJECT}:sshPrivateKey`]: { value: host.privateKey, secret: true } },
  });
  stacks.push(stack);
  return stack;
}

/** Every line of the key's body: the state stores the key with escaped newlines, so scan by line. */
function keyLines(privateKey: string): Record<string, string> {
  const lines = privateKey.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"));
  return Object.fromEntries(lines.map((l, i) => [`private key line ${i + 1}`, l]));
}

describe("HgxHost existing mode on the real engine", () => {
  it("deploys against a ready host, exports the facts, leaks no key, and destroys cleanly", async () => {
    const host = await hostWith();
    const engine = await stackFor(host, "ready");
    const before = Date.now();
    const up = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
    expect(up.summary.result).toBe("succeeded");

    const outputs = up.outputs;
    expect(Date.parse(outputs.readyAt.value)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
    expect(outputs.gpuCount.value).toBe(8);
    expect(outputs.hourlyPriceUsd.value).toBe(3.5);
    expect(outputs.instanceId.value).toBe(`existing:${host.user}@127.0.0.1:${host.port}`);
    expect(outputs.report.value).toMatch(/^gpu-count: ok, nvidia-smi listed 8 x NVIDIA B200; checked at \S+\n/);
    expect(outputs.report.value).toMatch(/\ngpu-container: ok, a container with --gpus all sees 8 x NVIDIA B200; checked at \S+$/);
    expect(outputs.privateKey.secret).toBe(true);
    expect(outputs.sshCommand.secret).toBe(false);
    expect(outputs.sshCommand.value).toBe(`ssh -i ~/.ssh/box.pem -p ${host.port} ${host.user}@127.0.0.1`);

    // The printed command works once the key file is where it says.
    const [, ...rest] = String(outputs.sshCommand.value).replace("~/.ssh/box.pem", host.privateKeyPath).split(" ");
    const { run } = await import("../../fixtures/ssh-host/docker");
    const login = await run("ssh", ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", ...rest, "id -un"]);
    expect(login.stdout.trim()).toBe(host.user);

    // The key is neither in the state (nor its backups/history) nor in anything the engine printed.
    const secrets = keyLines(host.privateKey);
    expect(Object.keys(secrets).length).toBeGreaterThan(0);
    expect(plaintextLeaks(engine.backendText(), secrets)).toEqual([]);
    expect(plaintextLeaks(engine.engineOutput(), secrets)).toEqual([]);
    const state = await engine.stack.exportStack();
    const checkTypes = (state.deployment.resources ?? []).map((r: { type: string }) => r.type);
    expect(checkTypes.filter((t: string) => t === "command:remote:Command")).toHaveLength(3);

    // A second up changes nothing: the checks are not re-run against an unchanged host.
    const again = await engine.stack.up({ onOutput: engine.onOutput });
    expect(again.summary.resourceChanges).toEqual({ same: expect.any(Number) });
    expect(again.outputs.readyAt.value).toBe(outputs.readyAt.value);

    const destroyed = await engine.stack.destroy({ onOutput: engine.onOutput });
    expect(destroyed.summary.result).toBe("succeeded");
    const after = await engine.stack.exportStack();
    expect(after.deployment.resources ?? []).toHaveLength(0);
    expect(plaintextLeaks(engine.backendText(), secrets)).toEqual([]);
  });

  it("fails the update with the gpu-count message when the host presents 7 GPUs, and destroys cleanly", async () => {
    const host = await hostWith({ gpuCount: 7 });
    const engine = await stackFor(host, "seven");
    const err = await engine.stack.up({ onOutput: engine.onOutput }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const text = `${err?.message}\n${engine.engineOutput()}`;
    expect(text).toContain("gpu-count: expected 8 x B200, nvidia-smi listed 7: 7 x NVIDIA B200");
    // The later checks never ran: they depend on the first.
    expect(text).not.toContain("gpu-container:");
    expect(plaintextLeaks(text, keyLines(host.privateKey))).toEqual([]);

    const destroyed = await engine.stack.destroy({ onOutput: engine.onOutput });
    expect(destroyed.summary.result).toBe("succeeded");
    expect((await engine.stack.exportStack()).deployment.resources ?? []).toHaveLength(0);
  });

  it("fails with the gpu-container message when containers do not see the host's GPUs", async () => {
    const host = await hostWith({ containerGpuCount: 6 });
    const engine = await stackFor(host, "container");
    const err = await engine.stack.up({ onOutput: engine.onOutput }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(`${err?.message}\n${engine.engineOutput()}`).toContain(
      `gpu-container: expected 8 x B200 in a container (docker run --rm --gpus all ${host.gpuProbeImage} nvidia-smi -L), it listed 6: 6 x NVIDIA B200`,
    );
  });
});
