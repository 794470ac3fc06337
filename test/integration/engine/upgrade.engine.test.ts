/**
 * Must show (issue 21): a restructuring never replaces a user's resources. Stacks deployed by the program of the
 * main before the restructuring (PREVIOUS_MAIN, read from this clone's history with `git archive`) are previewed
 * and then updated by this tree's program, under the real engine, with the same stack config:
 * - the preview proposes no create, replace or delete beyond what the old program's own preview of the same stack
 *   shows (aliases carry every moved URN or type);
 * - an `up` with this tree's program leaves `pulumi stack output --json` as the old program left it (timestamps
 *   aside): nothing re-runs, nothing reads differently.
 * One stack per kind users have: local, an existing SSH host, lambda (the emulator, whose instances are the sshd
 * test host) and a routed local stack of two replicas behind the real SGLang router.
 *
 * PREVIOUS_MAIN moves forward only when a release is cut whose stacks users keep: it names the code whose state
 * this tree must read without a replacement.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ConfigMap, EngineEvent } from "@pulumi/pulumi/automation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { startLambdaEmulator, type LambdaEmulator } from "../../fixtures/lambda-emulator";
import { freeConsecutivePorts, freePort } from "../../fixtures/net";
import { createProjectStack, useProjectSource, type EngineStack } from "../../fixtures/pulumi-engine";
import { buildRouterImage } from "../../fixtures/router-image";
import { buildSimulatorImage } from "../../fixtures/sglang-simulator";
import { run, startSshTestHost, type SshTestHost } from "../../fixtures/ssh-host";
import { buildHostImages, existingHostConfig, lambdaEmulatorConfig, newSecrets, remoteResultDirCleanup, sshStackConfig, type HostImages } from "./sshStacks";

/** The main before issue 21's restructuring (components/config.ts, stack.ts and the host/serving/benchmark layers). */
const PREVIOUS_MAIN = "f2da56a9d7eeefefec7cf9826d9713f06b1d9ad0";

/** Operations that would touch a user's running resources (an `update` in place is allowed, e.g. a provider's code). */
const DESTRUCTIVE = ["create", "replace", "delete", "create-replacement", "delete-replaced", "discard", "import"] as const;

/** Operations the engine reported per resource, keyed `<type>::<name>` (a provider's name alone says little). */
function operationsByUrn(events: readonly EngineEvent[], from: number): Map<string, string[]> {
  const ops = new Map<string, string[]>();
  for (const e of events.slice(from)) {
    const meta = e.resOutputsEvent?.metadata;
    if (!meta) continue;
    const key = `${meta.type}::${meta.urn.split("::").pop() ?? meta.urn}`;
    ops.set(key, [...(ops.get(key) ?? []), meta.op]);
  }
  return ops;
}

/**
 * Output fields that are functions of the time they are read (the running cost so far), not of the deploy: the
 * comparison sets them aside like timestamps.
 */
const TIME_DEPENDENT_FIELDS = ["costSoFarUsd"];

/** `pulumi stack output --json` with every ISO timestamp replaced, so two reads of one deploy compare equal. */
function outputsForComparison(outputs: Record<string, { value: unknown }>): unknown {
  const values = Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value]));
  const text = JSON.stringify(values, (key, value: unknown) => (TIME_DEPENDENT_FIELDS.includes(key) ? "<read time>" : value));
  return JSON.parse(text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, "<timestamp>"));
}

interface UpgradeFigures {
  readonly oldUpS: number;
  readonly preview: Record<string, number>;
  readonly newUpS: number;
}
const figures: Record<string, UpgradeFigures> = {};

/** The destructive steps a preview proposes, per resource, and its change summary. */
async function destructivePreview(engine: EngineStack): Promise<{ steps: string[]; changes: Record<string, number> }> {
  const from = engine.events.length;
  const preview = await engine.stack.preview({ onOutput: engine.onOutput, onEvent: engine.onEvent });
  const steps = [...operationsByUrn(engine.events, from)]
    .filter(([, ops]) => ops.some((op) => (DESTRUCTIVE as readonly string[]).includes(op)))
    .map(([name, ops]) => `${name}: ${ops.filter((op) => op !== "same").join(",")}`);
  return { steps, changes: preview.changeSummary as Record<string, number> };
}

/**
 * The rehearsal on one stack made from PREVIOUS_MAIN's program: up (old) → preview (old: what any preview of this
 * stack shows, e.g. a routed stack's preview-only StackReference to itself brings the built-in `pulumi` provider)
 * → switch to this tree → preview (nothing destructive beyond the old program's own preview) → up (this tree;
 * outputs unchanged) → destroy.
 */
async function rehearseUpgrade(label: string, engine: EngineStack & { projectDir: string }): Promise<void> {
  const t0 = Date.now();
  const before = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
  expect(before.summary.result, engine.engineOutput().slice(-4000)).toBe("succeeded");
  const oldUpS = (Date.now() - t0) / 1000;
  const baseline = await destructivePreview(engine);
  // The old program's own preview touches nothing a user runs (only a preview-time provider, if anything).
  for (const step of baseline.steps) expect(step, `${label}: the old program's own preview`).toMatch(/^pulumi:providers:pulumi::default: create$/);

  useProjectSource(engine.projectDir);
  const upgraded = await destructivePreview(engine);
  expect(upgraded.steps, `${label}: preview under this tree's program`).toEqual(baseline.steps);
  for (const op of DESTRUCTIVE) {
    expect(upgraded.changes[op] ?? 0, `${label}: ${op} in ${JSON.stringify(upgraded.changes)} (old program's preview: ${JSON.stringify(baseline.changes)})`).toBe(baseline.changes[op] ?? 0);
  }

  const t1 = Date.now();
  const after = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
  expect(after.summary.result).toBe("succeeded");
  expect(outputsForComparison(after.outputs), `${label}: stack outputs after the upgrade`).toEqual(outputsForComparison(before.outputs));
  figures[label] = { oldUpS, preview: upgraded.changes, newUpS: (Date.now() - t1) / 1000 };

  const destroyed = await engine.stack.destroy({ onOutput: engine.onOutput });
  expect(destroyed.summary.result).toBe("succeeded");
}

let images: HostImages;
let cleanResults: () => void = () => undefined;
const tempDirs: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

beforeAll(async () => {
  cleanResults = remoteResultDirCleanup();
  [images] = await Promise.all([buildHostImages(), buildRouterImage()]);
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanResults();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  process.stderr.write(`upgrade rehearsal from ${PREVIOUS_MAIN.slice(0, 7)} (s, preview change summary): ${JSON.stringify(figures)}\n`);
});

/** A project stack started from PREVIOUS_MAIN's program, disposed (and its containers/volume removed) after the file. */
async function oldProgramStack(opts: Parameters<typeof createProjectStack>[0], leftovers: { containers: string[]; volume?: string; host?: SshTestHost }): Promise<EngineStack & { projectDir: string }> {
  const engine = await createProjectStack({ ...opts, sourceCommit: PREVIOUS_MAIN });
  cleanups.push(async () => {
    await engine.dispose().catch(() => undefined);
    const rm = `docker rm -f ${leftovers.containers.join(" ")} >/dev/null 2>&1; ${leftovers.volume ? `docker volume rm -f ${leftovers.volume} >/dev/null 2>&1;` : ""} true`;
    if (leftovers.host) await leftovers.host.ssh(rm);
    else {
      await run("docker", ["rm", "-f", ...leftovers.containers]);
      if (leftovers.volume) await run("docker", ["volume", "rm", "-f", leftovers.volume]);
    }
  });
  return engine;
}

describe(`stacks made by the previous main (${PREVIOUS_MAIN.slice(0, 7)}) upgrade without a create, replace or delete`, () => {
  it("local", async () => {
    const stackName = "upgrade-local";
    const volume = `hgx-engine-upgrade-local-${process.pid}`;
    await buildSimulatorImage();
    const engine = await oldProgramStack(
      {
        stackName,
        baseStackFile: "Pulumi.local.yaml",
        config: {
          "hgx-inference:hfCacheVolume": { value: volume },
          "hgx-inference:sglangPort": { value: String(await freePort()) },
          "hgx-inference:benchmarkReportDir": { value: "reports" },
        },
      },
      { containers: [`hgx-inference-${stackName}-hgx-sglang`], volume },
    );
    await rehearseUpgrade("local", engine);
  });

  it("routed: two local replicas behind the real SGLang router", async () => {
    const stackName = "upgrade-routed";
    const volume = `hgx-engine-upgrade-routed-${process.pid}`;
    const engine = await oldProgramStack(
      {
        stackName,
        baseStackFile: "Pulumi.local.yaml",
        config: {
          "hgx-inference:replicas": { value: "2" },
          "hgx-inference:sglangApiKey": { value: newSecrets().sglangApiKey, secret: true },
          "hgx-inference:hfCacheVolume": { value: volume },
          "hgx-inference:sglangPort": { value: String(await freeConsecutivePorts(2)) },
          "hgx-inference:routerPort": { value: String(await freePort()) },
          "hgx-inference:routerMetricsPort": { value: String(await freePort()) },
          "hgx-inference:benchmarkReportDir": { value: "reports" },
        },
      },
      { containers: [`hgx-inference-${stackName}-hgx-sglang`, `hgx-inference-${stackName}-hgx-2-sglang`, `hgx-inference-${stackName}-router`], volume },
    );
    await rehearseUpgrade("routed", engine);
  });

  it("existing SSH host", async () => {
    const stackName = "upgrade-existing";
    const volume = `hgx-engine-upgrade-existing-${process.pid}`;
    const host = await startSshTestHost();
    cleanups.push(() => host.close());
    const config: ConfigMap = {
      ...sshStackConfig(host, images, newSecrets(), await freePort()),
      ...existingHostConfig(host),
      "hgx-inference:hfCacheVolume": { value: volume },
    };
    const engine = await oldProgramStack(
      { stackName, config, envVars: { XDG_CACHE_HOME: tempDir("hgx-engine-upgrade-xdg-") } },
      { containers: [`hgx-inference-${stackName}-hgx-sglang`], volume, host },
    );
    await rehearseUpgrade("existing", engine);
  });

  it("lambda, against the emulator", async () => {
    const stackName = "upgrade-lambda";
    // Lambda's GPU Base image logs in as "ubuntu"; the emulator's cloud-init installs the stack's host key on the sshd.
    const host = await startSshTestHost({ user: "ubuntu" });
    cleanups.push(() => host.close());
    const emulator: LambdaEmulator = await startLambdaEmulator({
      bootMs: 2_000,
      cloudInit: (userData) => {
        const key = (parseYaml(userData) as { ssh_keys?: { ed25519_private?: string } }).ssh_keys?.ed25519_private;
        if (key) host.installHostKey(key);
      },
    });
    cleanups.push(() => emulator.close());
    const engine = await oldProgramStack(
      {
        stackName,
        baseStackFile: "Pulumi.dev.yaml",
        config: {
          ...sshStackConfig(host, images, newSecrets(), await freePort()),
          ...lambdaEmulatorConfig(host, emulator),
          "hgx-inference:lambdaFilesystemName": { value: `hgx-engine-upgrade-fs-${process.pid}` },
          "hgx-inference:lambdaRetainFilesystem": { value: "false" },
          "hgx-inference:hfCachePath": { value: tempDir("hgx-engine-upgrade-cache-") },
        },
        structuredConfig: { "hgx-inference:lambdaRegions": ["us-east-1"] },
        envVars: { XDG_CACHE_HOME: tempDir("hgx-engine-upgrade-xdg-") },
      },
      { containers: [`hgx-inference-${stackName}-hgx-sglang`], host },
    );
    await rehearseUpgrade("lambda", engine);
    // The destroy at the end of the rehearsal terminated the instance: nothing billing is left.
    expect(emulator.leakedInstances().map((i) => i.id)).toEqual([]);
  });
});
