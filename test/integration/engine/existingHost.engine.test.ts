/**
 * The whole program (`index.ts`) in `existing` host mode under the real Pulumi engine, against the
 * real sshd test host whose login user drives the test rig's Docker engine:
 * - the real command provider runs the host checks over SSH (nvidia-smi and `--gpus all` through the
 *   GPU stand-ins);
 * - the real docker provider reaches the host's engine over `ssh://` (the local ssh binary with the
 *   key file, `docker system dial-stdio` on the far side) and creates the image, volume and container;
 * - the weights step runs the downloader (a stand-in image: no hub here), the readiness gate passes,
 *   and the remote benchmark runs `vllm bench serve` (a stand-in image answering the same command
 *   line and writing the same result file) through the product's own script; then the capacity search runs that
 *   container once per level on the host over SSH (`bench-capacity.ts --runner remote`, the key in its environment).
 * up → preview (no changes) → refresh → destroy; no secret in state, engine output or stored commands.
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CapacitySummary } from "../../../components/benchmark/capacity";
import { createProjectStack, plaintextLeaks, resourceTypes, type EngineStack } from "../../fixtures/pulumi-engine";
import { freePort } from "../../fixtures/net";
import { startSshTestHost, type SshTestHost } from "../../fixtures/ssh-host";
import * as os from "node:os";
import * as path from "node:path";
import { buildHostImages, dockerSshState, existingHostConfig, newSecrets, remoteResultDirCleanup, sshStackConfig, type DeploySecrets, type HostImages } from "./sshStacks";

let host: SshTestHost;
let engine: EngineStack;
let secrets: DeploySecrets;
let port: number;
let images: HostImages;
let xdgCache: string;
const VOLUME = `hgx-engine-existing-cache-${process.pid}`;
const CONTAINER = "hgx-inference-existing-hgx-sglang";

let cleanResults: () => void = () => undefined;

beforeAll(async () => {
  cleanResults = remoteResultDirCleanup();
  host = await startSshTestHost();
  images = await buildHostImages();
  secrets = newSecrets();
  port = await freePort();
  xdgCache = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-engine-existing-xdg-"));
  engine = await createProjectStack({
    stackName: "existing",
    config: {
      ...sshStackConfig(host, images, secrets, port),
      ...existingHostConfig(host),
      "hgx-inference:hfCacheVolume": { value: VOLUME },
    },
    // The capacity search with the remote runner: the vllm (stand-in) container once per level over SSH. SLOs met
    // everywhere, so it measures exactly the bracket levels 2 and 4.
    structuredConfig: {
      "hgx-inference:benchmarkCapacity": { concurrencyRange: "2:4", promptsPerConcurrency: "2" },
      "hgx-inference:benchmarkSlo": { ttft_p99_ms: 60000 },
    },
    envVars: { XDG_CACHE_HOME: xdgCache },
  });
});

afterAll(async () => {
  cleanResults();
  await engine?.dispose().catch(() => undefined);
  await host?.ssh(`docker rm -f ${CONTAINER} >/dev/null 2>&1; docker volume rm -f ${VOLUME} >/dev/null 2>&1; true`);
  await host?.close();
  if (xdgCache) fs.rmSync(xdgCache, { recursive: true, force: true });
});

function keyLines(privateKey: string): Record<string, string> {
  const lines = privateKey.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"));
  return Object.fromEntries(lines.map((l, i) => [`private key line ${i + 1}`, l]));
}

describe("existing-host mode through the real engine", () => {
  it("checks the host over SSH, serves through the docker provider over ssh://, gates and benchmarks remotely", async () => {
    const up = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
    expect(up.summary.result).toBe("succeeded");
    const types = resourceTypes(await engine.stack.exportStack());
    expect(types.filter((t) => t === "command:remote:Command").length).toBeGreaterThanOrEqual(5); // 3 checks, weights, gate, benchmark
    for (const t of ["docker:index/container:Container", "docker:index/volume:Volume", "docker:index/remoteImage:RemoteImage", "pulumi:providers:docker"]) {
      expect(types, t).toContain(t);
    }

    const host_ = up.outputs.host?.value as { instanceId: string; hourlyPriceUsd: number };
    expect(host_.instanceId).toBe(`existing:${host.user}@127.0.0.1:${host.port}`);
    const server = up.outputs.server?.value as { endpoint: string; timeline: { phase: string }[] };
    expect(server.endpoint).toBe(`http://127.0.0.1:${port}`);
    const benchmark = up.outputs.benchmark?.value as { metrics: { completed: number; failed: number; outputThroughput: number }; rawJson: string };
    expect(benchmark.metrics.completed).toBe(32);
    expect(benchmark.metrics.failed).toBe(0);
    expect(benchmark.metrics.outputThroughput).toBeGreaterThan(0);
    // The result file came from the vllm command line (its --save-result format).
    expect(JSON.parse(benchmark.rawJson)).toMatchObject({ backend: "openai-chat", num_prompts: 32 });
    // The capacity search ran the container once per level over SSH (a warm-up, then the measured run with --goodput).
    const capacity = (up.outputs.benchmark?.value as { capacity: CapacitySummary }).capacity;
    expect(capacity.points.map((p) => [p.concurrency, p.completed, p.failed])).toEqual([[2, 4, 0], [4, 8, 0]]);
    expect(capacity).toMatchObject({ maxConcurrency: 4, stop: "range-high-met" });
    expect(capacity.points.every((p) => p.goodput !== null && p.goodput > 0)).toBe(true);
    expect(engine.engineOutput()).toMatch(/vllm bench serve on 127\.0\.0\.1/);

    // The container runs on the host's engine (reached over SSH), with the GPUs requested.
    const inspect = await host.ssh(`docker inspect -f '{{.State.Status}} {{json .HostConfig.DeviceRequests}}' ${CONTAINER}`);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/^running .*"Capabilities":\[\["gpu"\]\]/);
    // The weights step left its completion marker in the cache volume.
    const marker = await host.ssh(`docker run --rm --entrypoint sh -v ${VOLUME}:/cache ${images.downloader} -c 'ls -a /cache/hub/*/'`);
    expect(marker.stdout).toMatch(/\.hgx-download-complete-main/);
    // Long waits reported progress.
    expect(engine.engineOutput()).toMatch(/waiting for \S+\/health: HTTP \d+ after \d+s of \d+s; container=running health=\w+; last log: /);
    // The docker provider pinned the host key through the stack's own known_hosts, in a private dir.
    expect(dockerSshState(xdgCache)).toMatchObject({ dirMode: 0o700, keyMode: 0o600, knownHosts: `[127.0.0.1]:${host.port} ${host.hostPublicKey}\n` });
    // The weights were pre-downloaded: the server container holds no HF token (docker inspect shows env).
    const env = await host.ssh(`docker inspect -f '{{json .Config.Env}}' ${CONTAINER}`);
    expect(env.stdout).not.toContain("HF_TOKEN");
    expect(env.stdout).not.toContain(secrets.hfToken);
  });

  it("previews no changes and refreshes without drift", async () => {
    const preview = await engine.stack.preview({ onOutput: engine.onOutput });
    expect(Object.keys(preview.changeSummary).filter((op) => op !== "same"), JSON.stringify(preview.changeSummary)).toEqual([]);
    const refresh = await engine.stack.refresh({ onOutput: engine.onOutput });
    expect(Object.keys(refresh.summary.resourceChanges ?? {}).filter((op) => op !== "same"), JSON.stringify(refresh.summary.resourceChanges)).toEqual([]);
  });

  it("keeps the SGLang key, the HF token and the SSH key out of state, output and stored commands", async () => {
    const all = { sglangApiKey: secrets.sglangApiKey, hfToken: secrets.hfToken, ...keyLines(host.privateKey) };
    expect(plaintextLeaks(engine.backendText(), all)).toEqual([]);
    expect(plaintextLeaks(engine.engineOutput(), all)).toEqual([]);
  });

  it("destroys everything but the retained cache volume", async () => {
    const destroyed = await engine.stack.destroy({ onOutput: engine.onOutput });
    expect(destroyed.summary.result).toBe("succeeded");
    expect((await engine.stack.exportStack()).deployment.resources ?? []).toHaveLength(0);
    expect((await host.ssh(`docker inspect ${CONTAINER}`)).code).not.toBe(0);
    expect((await host.ssh(`docker volume inspect ${VOLUME}`)).code).toBe(0);
    expect(dockerSshState(xdgCache).files, "destroy left the docker provider's files").toEqual([]);
  });
});
