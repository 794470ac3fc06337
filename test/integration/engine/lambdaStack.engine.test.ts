/**
 * The whole program (`index.ts`) in `lambda` mode under the real Pulumi engine: the Lambda Cloud API
 * is the emulator (kept to the vendor's OpenAPI file), whose instances point at the real sshd test
 * host. One `up` runs machine (SSH key, filesystem, firewall, instance), host checks, server and
 * benchmark; preview shows no changes; refresh finds no drift; destroy terminates the instance and
 * keeps the filesystem, which the next deploy re-attaches (with the stack's id set as lambdaStackId,
 * the way back after a bare destroy) instead of creating another. The emulator enforces the vendor's rate limits at real
 * time (1 request/s, 1 launch/12 s) against the product's own pacing (1.2 s, 13 s).
 *
 * Host keys: the stack generates the instance's SSH host key and sends it in the launch's cloud-init
 * `user_data`; the emulator's stand-in for the instance's cloud-init installs `ssh_keys` as the test
 * sshd's host key (writes it and reloads sshd), as cloud-init does on a real instance. Every
 * connection pins the generated key, so the deploy succeeds only because the key travelled that way.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { startLambdaEmulator, type LambdaEmulator } from "../../fixtures/lambda-emulator";
import { dockerSshState } from "./sshStacks";
import { freePort } from "../../fixtures/net";
import { createProjectStack, plaintextLeaks, resourceTypes, type EngineStack } from "../../fixtures/pulumi-engine";
import { startSshTestHost, type SshTestHost } from "../../fixtures/ssh-host";
import { buildHostImages, newSecrets, remoteResultDirCleanup, sshStackConfig, type DeploySecrets } from "./sshStacks";

const FILESYSTEM = `hgx-engine-fs-${process.pid}`;
const CONTAINER = "hgx-inference-lambda-hgx-sglang";

let host: SshTestHost;
let emulator: LambdaEmulator;
let engine: EngineStack;
let secrets: DeploySecrets;
let cacheDir: string;
let xdgCache: string;
/** Host private keys the stack sent in user_data (to scan state and output for them). */
const sentHostKeys: string[] = [];

let cleanResults: () => void = () => undefined;

beforeAll(async () => {
  cleanResults = remoteResultDirCleanup();
  // Lambda's GPU Base image logs in as "ubuntu", which LambdaMachine uses: the test host offers that user.
  host = await startSshTestHost({ user: "ubuntu" });
  emulator = await startLambdaEmulator({
    bootMs: 2_000,
    // The instance's cloud-init: ssh_keys from user_data become the host key of the sshd the instance points at.
    cloudInit: (userData) => {
      const doc = parseYaml(userData) as { ssh_keys?: { ed25519_private?: string } };
      const key = doc.ssh_keys?.ed25519_private;
      if (!key) return;
      sentHostKeys.push(key);
      host.installHostKey(key);
    },
  });
  const images = await buildHostImages();
  secrets = newSecrets();
  // The weights go to a directory of this test, not to /lambda/nfs on this machine.
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-engine-lambda-cache-"));
  xdgCache = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-engine-lambda-xdg-"));
  engine = await createProjectStack({
    stackName: "lambda",
    baseStackFile: "Pulumi.dev.yaml",
    config: {
      ...sshStackConfig(host, images, secrets, await freePort()),
      "hgx-inference:lambdaApiKey": { value: emulator.apiKey, secret: true },
      "hgx-inference:lambdaApiUrl": { value: emulator.baseUrl },
      "hgx-inference:lambdaSshPublicKey": { value: host.publicKey },
      "hgx-inference:lambdaSshPrivateKey": { value: host.privateKey, secret: true },
      "hgx-inference:lambdaSshPort": { value: String(host.port) },
      "hgx-inference:lambdaFilesystemName": { value: FILESYSTEM },
      "hgx-inference:hfCachePath": { value: cacheDir },
    },
    structuredConfig: { "hgx-inference:lambdaRegions": ["us-east-1", "us-west-1"] },
    // The docker provider's key and known_hosts go to this test's cache dir, not the user's.
    envVars: { XDG_CACHE_HOME: xdgCache },
  });
});

afterAll(async () => {
  cleanResults();
  await engine?.dispose().catch(() => undefined);
  await host?.ssh(`docker rm -f ${CONTAINER} >/dev/null 2>&1; true`);
  if (cacheDir) fs.rmSync(cacheDir, { recursive: true, force: true });
  if (xdgCache) fs.rmSync(xdgCache, { recursive: true, force: true });
  await host?.close();
  const leaked = emulator?.leakedInstances() ?? [];
  await emulator?.close();
  expect(leaked.map((i) => i.id)).toEqual([]);
});

/** Launches the emulator's rate limiter refused: the 1 s launch margin leaves none (other requests retry if jitter beats 0.2 s). */
function rateLimited() {
  return emulator.requests().filter((r) => r.fault === "rateLimit" && r.path.endsWith("/instance-operations/launch")).map((r) => `${r.method} ${r.path}`);
}

function keyLines(privateKey: string): Record<string, string> {
  const lines = privateKey.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"));
  return Object.fromEntries(lines.map((l, i) => [`private key line ${i + 1}`, l]));
}

describe("lambda mode through the real engine against the emulator", () => {
  let filesystemId: string;
  let stackId: string;

  it("launches, checks, serves and benchmarks in one up", async () => {
    const up = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
    expect(up.summary.result).toBe("succeeded");
    const live = emulator.state.instances().filter((i) => i.status !== "terminated");
    expect(live).toHaveLength(1);
    expect(live[0]).toMatchObject({ status: "active", region: { name: "us-east-1" } });
    const filesystems = emulator.state.filesystems();
    // Named after the stack's identity: `<lambdaFilesystemName>-<hash>`.
    expect(filesystems.map((f) => f.name)).toEqual([expect.stringMatching(new RegExp(`^${FILESYSTEM}-[0-9a-f]{12}$`))]);
    filesystemId = filesystems[0]!.id;

    const hostOut = up.outputs.host?.value as { instanceId: string; region: string; hourlyPriceUsd: number; stackId: string };
    stackId = hostOut.stackId;
    expect(stackId).toMatch(/^[0-9a-f]{16}$/);
    expect(rateLimited()).toEqual([]);
    expect(hostOut.instanceId).toBe(live[0]!.id);
    expect(hostOut.region).toBe("us-east-1");
    expect(hostOut.hourlyPriceUsd).toBeGreaterThan(0);
    const benchmark = up.outputs.benchmark?.value as { metrics: { completed: number; failed: number }; costPerMillionOutputTokens: number };
    expect(benchmark.metrics).toMatchObject({ completed: 32, failed: 0 });
    expect(benchmark.costPerMillionOutputTokens).toBeGreaterThan(0);

    // The host key travelled in user_data (recorded: size, hash, public half) and every connection pinned it.
    expect(sentHostKeys).toHaveLength(1);
    expect(live[0]!.userData).toMatchObject({ cloudConfig: true, keys: expect.arrayContaining(["ssh_keys", "ssh_deletekeys"]) });
    expect(live[0]!.userData?.sshHostPublicKey?.split(" ").slice(0, 2).join(" ")).toBe(host.hostPublicKey);
    expect((up.outputs.host?.value as { hostKey: string }).hostKey).toBe(host.hostPublicKey);
    expect(engine.engineOutput()).not.toMatch(/StrictHostKeyChecking=no/);
    const files = dockerSshState(xdgCache);
    expect(files).toMatchObject({ dirMode: 0o700, keyMode: 0o600 });
    expect(files.knownHosts).toBe(`[127.0.0.1]:${host.port} ${host.hostPublicKey}\n`);

    const types = resourceTypes(await engine.stack.exportStack());
    expect(types).toEqual(expect.arrayContaining(["docker:index/container:Container", "command:remote:Command"]));
    // The Lambda dynamic resources carry their own type tokens (pulumi-nodejs:dynamic/lambda:<Type>).
    expect(types.filter((t) => t.startsWith("pulumi-nodejs:dynamic/lambda:")).sort()).toEqual(
      expect.arrayContaining([
        "pulumi-nodejs:dynamic/lambda:Filesystem",
        "pulumi-nodejs:dynamic/lambda:FirewallRuleset",
        "pulumi-nodejs:dynamic/lambda:Instance",
        "pulumi-nodejs:dynamic/lambda:SshKey",
        "pulumi-nodejs:dynamic/lambda:StackIdentity",
      ]),
    );
  });

  it("previews no changes (writing no key file) and refreshes without drift", async () => {
    // A witness line in known_hosts: an update would rewrite the file (different content), a preview must not.
    const marked = dockerSshState(xdgCache).markKnownHosts();
    const preview = await engine.stack.preview({ onOutput: engine.onOutput });
    expect(marked.stillMarked(), "preview rewrote the docker provider's files").toBe(true);
    marked.unmark();
    expect(Object.keys(preview.changeSummary).filter((op) => op !== "same"), JSON.stringify(preview.changeSummary)).toEqual([]);
    const refresh = await engine.stack.refresh({ onOutput: engine.onOutput });
    expect(Object.keys(refresh.summary.resourceChanges ?? {}).filter((op) => op !== "same"), JSON.stringify(refresh.summary.resourceChanges)).toEqual([]);
  });

  it("destroys to zero instances, keeps the filesystem, and the next deploy re-attaches it with the stack's id", async () => {
    await engine.stack.destroy({ onOutput: engine.onOutput });
    expect(emulator.state.instances().filter((i) => i.status !== "terminated")).toEqual([]);
    expect(emulator.state.filesystems().map((f) => f.id)).toEqual([filesystemId]);
    expect(dockerSshState(xdgCache).files, "destroy left the docker provider's files").toEqual([]);
    // The way back after a full destroy: the identity's id set as the stack's lambdaStackId.
    await engine.stack.setConfig("hgx-inference:lambdaStackId", { value: stackId });

    const again = await engine.stack.up({ onOutput: engine.onOutput });
    expect(again.summary.result).toBe("succeeded");
    expect(emulator.state.filesystems().map((f) => f.id)).toEqual([filesystemId]);
    await engine.stack.destroy({ onOutput: engine.onOutput });
    expect(emulator.state.instances().filter((i) => i.status !== "terminated")).toEqual([]);
  });

  it("keeps the API key, the SGLang key, the HF token and the SSH key out of state and output", async () => {
    const hostKeyLines = Object.fromEntries(sentHostKeys.flatMap((k, i) => Object.entries(keyLines(k)).map(([label, line]) => [`host key ${i + 1} ${label}`, line])));
    expect(Object.keys(hostKeyLines).length).toBeGreaterThan(0);
    const all = { lambdaApiKey: emulator.apiKey, sglangApiKey: secrets.sglangApiKey, hfToken: secrets.hfToken, ...keyLines(host.privateKey), ...hostKeyLines };
    expect(plaintextLeaks(engine.backendText(), all)).toEqual([]);
    expect(plaintextLeaks(engine.engineOutput(), all)).toEqual([]);
  });
});
