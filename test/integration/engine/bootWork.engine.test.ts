/**
 * Work starts at first boot, and the timeline proves it: the whole program (`index.ts`) in lambda mode
 * under the real engine, against the Lambda emulator whose instances point at the sshd test host. The
 * emulator runs the launch's `user_data` on that host as cloud-init would (write_files + runcmd) when the
 * instance starts booting. Known durations, from stand-ins:
 *   boot 30 s      the emulator's booting -> active time
 *   pull 60 s      `docker pull` of the (local) simulator image through the test host's docker wrapper
 *   download 90 s  the weights-downloader stand-in's `hf download` delay (a file in the cache)
 *   load 45 s      the simulator's `--sim-load-ms`
 * Serial (boot, then the fetches, then load) that is 30 + 90 + 45 = 165 s; with the fetches started at
 * first boot it is max(30, 60, 90) + 45 = 135 s. The test asserts the order 135 <= deploy < 165 (the
 * deploy cannot be faster than its waits; it must not be as slow as the serial chain), and that the
 * timeline shows the boot-time pull and download overlapping the boot. No other wall-clock bound.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployBreakdown, renderDeployBreakdown } from "../../../components/ops/deployBreakdown";
import type { CriticalPath, TimelinePhase } from "../../../components/serving/timeline";
import { startLambdaEmulator, type LambdaEmulator } from "../../fixtures/lambda-emulator";
import { plaintextLeaks, type EngineStack } from "../../fixtures/pulumi-engine";
import type { RunResult } from "../../fixtures/run";
import { startSshTestHost, type SshTestHost } from "../../fixtures/ssh-host";
import { parse as parseYaml } from "yaml";
import { runCloudConfig } from "../../fixtures/ssh-host/cloudInit";
import { HF_STANDIN_DELAY_FILE } from "../../fixtures/stand-in-images";
import { buildHostImages, createLambdaStack, newSecrets, remoteResultDirCleanup, type DeploySecrets, type HostImages } from "./sshStacks";
import { contentRef, isContentRef } from "../../../components/image";
import { imageReferencesIn } from "../../fixtures/imageReferences";
import { run } from "../../fixtures/ssh-host/docker";

const BOOT_S = 30;
const PULL_S = 60;
const DOWNLOAD_S = 90;
const LOAD_S = 45;
const OVERLAPPED_S = Math.max(BOOT_S, PULL_S, DOWNLOAD_S) + LOAD_S; // 135
const SERIAL_S = BOOT_S + Math.max(PULL_S, DOWNLOAD_S) + LOAD_S; // 165
// Its own stack name: its containers never share a name with another lambda-mode engine test's on the rig.
const STACK = "boot-lambda";
const CONTAINER = `hgx-inference-${STACK}-hgx-sglang`;

let host: SshTestHost;
let images: HostImages;
let emulator: LambdaEmulator;
let engine: EngineStack;
let secrets: DeploySecrets;
let cacheDir: string;
let bootDir: string;
const cloudInitRuns: Promise<RunResult>[] = [];
let cleanResults: () => void = () => undefined;

beforeAll(async () => {
  cleanResults = remoteResultDirCleanup();
  host = await startSshTestHost({ user: "ubuntu", dockerPullSeconds: PULL_S });
  // A run killed before its clean-up leaves this test's own containers behind (nobody else uses these names).
  await host.ssh(`docker rm -f ${CONTAINER} ${CONTAINER}-weights >/dev/null 2>&1; true`);
  emulator = await startLambdaEmulator({
    bootMs: BOOT_S * 1000,
    // First boot: the instance's cloud-init installs the generated host key (ssh_keys) as the test sshd's and
    // runs the launch's user_data (write_files, runcmd) on the host it points at.
    cloudInit: (userData) => {
      const doc = parseYaml(userData) as { ssh_keys?: { ed25519_private?: string }; runcmd?: unknown; write_files?: unknown };
      if (doc.ssh_keys?.ed25519_private) host.installHostKey(doc.ssh_keys.ed25519_private);
      // Every launch carries the host key; only one with boot work has files and commands to run.
      if (doc.runcmd !== undefined || doc.write_files !== undefined) cloudInitRuns.push(runCloudConfig(host.ssh, userData));
    },
  });
  images = await buildHostImages();
  secrets = newSecrets();
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-engine-boot-cache-"));
  // The stand-in `hf download` reads its delay from the cache (the download's HF_HOME).
  fs.mkdirSync(path.join(cacheDir, "huggingface"), { recursive: true });
  fs.writeFileSync(path.join(cacheDir, "huggingface", HF_STANDIN_DELAY_FILE), `${DOWNLOAD_S}\n`);
  // Not created here: cloud-init (the login user on the test host) makes it, as root would on an instance.
  bootDir = path.join(os.tmpdir(), `hgx-engine-boot-work-${process.pid}`);
  engine = await createLambdaStack({
    stackName: STACK,
    host,
    emulator,
    images,
    secrets,
    config: {
      "hgx-inference:hfCachePath": { value: cacheDir },
      "hgx-inference:bootWorkDir": { value: bootDir },
      // The deploy itself is measured: no benchmark after the gate.
      "hgx-inference:benchmarkEnabled": { value: "false" },
    },
    structuredConfig: { "hgx-inference:lambdaRegions": ["us-east-1"], "hgx-inference:sglangExtraArgs": [`--sim-load-ms=${LOAD_S * 1000}`] },
    // The docker provider's key and known_hosts go to this test's cache dir, not the user's.
    envVars: { XDG_CACHE_HOME: fs.mkdtempSync(path.join(os.tmpdir(), "hgx-engine-boot-xdg-")) },
  });
}, 900_000);

afterAll(async () => {
  cleanResults();
  await engine?.dispose().catch(() => undefined);
  await host?.ssh(`docker rm -f ${CONTAINER} ${CONTAINER}-weights >/dev/null 2>&1; rm -rf ${bootDir}; true`);
  if (cacheDir) fs.rmSync(cacheDir, { recursive: true, force: true });
  await host?.close();
  const leaked = emulator?.leakedInstances() ?? [];
  await emulator?.close();
  expect(leaked.map((i) => i.id)).toEqual([]);
});

const seconds = (iso: string | undefined) => Date.parse(iso ?? "") / 1000;

describe("lambda mode with boot work: the slow fetches start at first boot", () => {
  let timeline: TimelinePhase[];
  let critical: CriticalPath;
  /** Launch -> ready with boot work, for the serial run to be compared with (same machine, same run). */
  let overlappedReadyS: number | undefined;

  it(`deploys in max(boot, pull, download) + load (${OVERLAPPED_S} s) after launch, before the serial ${SERIAL_S} s`, async () => {
    const from = engine.events.length;
    const up = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
    const endedAt = Date.now() / 1000;
    expect(up.summary.result).toBe("succeeded");

    // cloud-init ran once, at the launch, and its runcmd returned (the work runs in the background).
    expect(cloudInitRuns).toHaveLength(1);
    const ran = await cloudInitRuns[0]!;
    expect(ran.code, ran.stderr).toBe(0);

    const instance = emulator.state.instances().find((i) => i.status !== "terminated")!;
    const launchedAt = instance.launchedAt / 1000;
    const server = up.outputs.server?.value as { timeline: TimelinePhase[]; criticalPath: CriticalPath };
    timeline = server.timeline;
    critical = server.criticalPath;
    const phase = (name: string) => timeline.find((p) => p.phase === name)!;
    const readyAt = seconds(phase("ready").end);

    const breakdown = deployBreakdown(engine.events.slice(from));
    console.log(
      [
        `deploy: launch -> ready ${(readyAt - launchedAt).toFixed(1)} s, launch -> up finished ${(endedAt - launchedAt).toFixed(1)} s ` +
          `(waits: boot ${BOOT_S} s, pull ${PULL_S} s, download ${DOWNLOAD_S} s, load ${LOAD_S} s; overlapped ${OVERLAPPED_S} s, serial ${SERIAL_S} s)`,
        ...timeline.map((p) => `  ${p.phase.padEnd(16)} ${String(p.seconds ?? "-").padStart(5)} s  ${p.start ?? ""} -> ${p.end ?? ""}`),
        `  criticalPath ${JSON.stringify(critical)}`,
        renderDeployBreakdown(breakdown),
      ].join("\n"),
    );

    // The boot-time fetches took their stand-in durations and overlapped the boot wait: both began
    // before the host was ready (host's clock; this machine's here) and the longer one ended after it.
    const boot = phase("boot");
    const hostReadyAt = seconds(phase("hostReady").end);
    for (const [name, took] of [["bootImagePull", PULL_S], ["bootWeights", DOWNLOAD_S]] as const) {
      const p = phase(name);
      expect(p.seconds, name).toBeGreaterThanOrEqual(took);
      expect(seconds(p.start), name).toBeLessThan(hostReadyAt);
      expect(seconds(p.start), name).toBeGreaterThanOrEqual(seconds(boot.start));
    }
    expect(seconds(phase("bootWeights").end)).toBeGreaterThan(hostReadyAt);
    expect(boot.seconds).toBeGreaterThanOrEqual(BOOT_S);
    // Whole-second stamps on one side of the load (the other is Docker's StartedAt): ±1 s.
    expect(phase("containerHealthy").seconds).toBeGreaterThanOrEqual(LOAD_S - 1);
    // The server's own fetches found the work done: the download skipped (its marker), the image present.
    expect(seconds(phase("weightsPresent").start)).toBeGreaterThanOrEqual(seconds(phase("bootWeights").end));
    expect(phase("weightsPresent").seconds).toBeLessThan(DOWNLOAD_S);

    // One build from the first boot on: the boot-time pull's resolution (`BOOT image`; the rig's images have no
    // registry digest, so an image ID) is what the server pulled and runs, and every image reference in the
    // deployed state names content: the pull, the container, the weights downloader (resolved on the host).
    const srv = up.outputs.server?.value as { imageDigest: string; bootImage: string; downloaderImage: string };
    const refs = imageReferencesIn(await engine.stack.exportStack());
    const shown = { imageDigest: srv.imageDigest, bootImage: srv.bootImage, downloaderImage: srv.downloaderImage, stackImageDigest: up.outputs.imageDigest?.value };
    console.log(`image references: ${JSON.stringify({ ...shown, pulls: [...refs.pulls], containers: [...refs.containers] })}`);
    expect(isContentRef(srv.bootImage), `boot work pulled ${srv.bootImage}`).toBe(true);
    expect(srv.imageDigest).toBe(srv.bootImage);
    expect(up.outputs.imageDigest?.value).toBe(srv.bootImage);
    expect([...refs.pulls.keys()]).toEqual(["hgx-image"]);
    const pull = refs.pulls.get("hgx-image")!;
    expect(pull.pulled).toBe(srv.bootImage);
    expect(contentRef(pull.repoDigest, pull.imageId)).toBe(srv.bootImage);
    expect([...refs.containers.entries()]).toEqual([["hgx-container", pull.imageId]]);
    expect(isContentRef(srv.downloaderImage), `the downloader ran as ${srv.downloaderImage}`).toBe(true);
    expect(srv.downloaderImage).toBe((await run("docker", ["image", "inspect", "--format", "{{.Id}}", images.downloader])).stdout.trim());

    // The longest chain is the boot-time download (unless the host checks on a loaded machine made the
    // boot itself longer), then load; the rest is what the stack added.
    const bootLonger = (boot.seconds ?? 0) > (phase("bootWeights").seconds ?? 0);
    expect(critical.phases.slice(0, bootLonger ? 2 : 1)).toEqual(bootLonger ? ["boot", expect.stringMatching(/^(imagePulled|weightsPresent)$/)] : ["bootWeights"]);
    expect(critical.phases.slice(-2)).toEqual(["containerHealthy", "ready"]);
    expect(critical.phaseSeconds).toBeGreaterThanOrEqual(DOWNLOAD_S + LOAD_S - 1);
    expect(critical.stackAddedSeconds).toBe(critical.totalSeconds - critical.phaseSeconds);

    // No faster than the overlapped waits; how much faster than serial is measured against the serial
    // run below (same machine, same load), not against a fixed bound.
    expect(readyAt - launchedAt).toBeGreaterThanOrEqual(OVERLAPPED_S - 1); // the ready stamp is whole seconds
    overlappedReadyS = readyAt - launchedAt;
  });

  it(`without boot work (bootWorkDir ""), the same deploy is serial: at least boot + download + load (${SERIAL_S} s)`, async () => {
    await engine.stack.destroy({ onOutput: engine.onOutput });
    // A cold cache again (the retained cache would skip the download), and no boot work at the launch.
    fs.rmSync(path.join(cacheDir, "huggingface", "hub"), { recursive: true, force: true });
    await engine.stack.setConfig("hgx-inference:bootWorkDir", { value: "" });
    const from = engine.events.length;
    const up = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
    const endedAt = Date.now() / 1000;
    expect(up.summary.result).toBe("succeeded");
    expect(cloudInitRuns).toHaveLength(1); // no boot work in user_data this time (only the host key)
    const instance = emulator.state.instances().find((i) => i.status !== "terminated")!;
    const launchedAt = instance.launchedAt / 1000;
    const serial = (up.outputs.server?.value as { timeline: TimelinePhase[] }).timeline;
    const readyAt = seconds(serial.find((p) => p.phase === "ready")!.end);
    console.log(
      [
        `serial deploy (no boot work): launch -> ready ${(readyAt - launchedAt).toFixed(1)} s, launch -> up finished ${(endedAt - launchedAt).toFixed(1)} s`,
        ...serial.map((p) => `  ${p.phase.padEnd(16)} ${String(p.seconds ?? "-").padStart(5)} s  ${p.start ?? ""} -> ${p.end ?? ""}`),
        renderDeployBreakdown(deployBreakdown(engine.events.slice(from))),
      ].join("\n"),
    );
    expect(serial.map((p) => p.phase)).not.toContain("boot");
    // The download starts only once the host is ready: boot, then download, then load.
    expect(readyAt - launchedAt).toBeGreaterThanOrEqual(SERIAL_S - 1);
    // What the boot work buys, side by side: the boot's 30 s overlapped. The stack's own overhead is in both
    // runs; half the modelled saving absorbs the run-to-run noise of a loaded machine.
    expect(overlappedReadyS, "the boot-work deploy ran first").toBeDefined();
    const saved = readyAt - launchedAt - overlappedReadyS!;
    console.log(`boot work saved ${saved.toFixed(1)} s launch -> ready (modelled ${SERIAL_S - OVERLAPPED_S} s)`);
    expect(saved).toBeGreaterThanOrEqual((SERIAL_S - OVERLAPPED_S) / 2);
  });

  it("keeps the HF token out of the launch's user_data, the state and the engine output", async () => {
    const all = { lambdaApiKey: emulator.apiKey, sglangApiKey: secrets.sglangApiKey, hfToken: secrets.hfToken };
    expect(plaintextLeaks(engine.backendText(), all)).toEqual([]);
    expect(plaintextLeaks(engine.engineOutput(), all)).toEqual([]);
    // What cloud-init wrote on the host holds no token either.
    const written = await host.ssh(`cat ${bootDir}/*.sh`);
    expect(written.stdout).toContain("hgx boot work");
    expect(written.stdout).not.toContain(secrets.hfToken);
  });
});
