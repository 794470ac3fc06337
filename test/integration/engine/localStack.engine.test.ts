/**
 * The whole program — `index.ts` on the `local` stack (Pulumi.local.yaml) — under the real Pulumi
 * engine: the real CLI, Node.js language host, docker and command providers, the SGLang simulator
 * image on the test rig's Docker engine, the native benchmark against it.
 *
 * up → preview (no changes) → unchanged up (the benchmark does not re-run) → refresh → a flag change
 * (the container is replaced and the benchmark re-runs) → destroy (the container goes, the cache
 * volume stays). A secret API key is set, and must appear in no state file, no engine output and no
 * command line the state stores. On the same backend: the policy pack under a real
 * `pulumi preview --policy-pack`, and a prod program whose `promotionGate` reads this stack's outputs
 * through a real StackReference.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { promotionGate, type PromotionThreshold } from "../../../components/ops/promotion";
import { createEngineStack, createProjectStack, operationsByResource, plaintextLeaks, resourceTypes, setStructuredConfig, type EngineStack } from "../../fixtures/pulumi-engine";
import { freePort } from "../../fixtures/net";
import { buildSimulatorImage } from "../../fixtures/sglang-simulator";
import { run } from "../../fixtures/ssh-host/docker";

const STACK = "local";
const API_KEY = `sk-local-engine-${randomBytes(6).toString("hex")}`;
// Unique per run, so a crashed earlier run's leftovers cannot satisfy an assertion.
const VOLUME = `hgx-engine-local-cache-${process.pid}`;
const CONTAINER = "hgx-inference-local-hgx-sglang";

let engine: EngineStack & { projectDir: string };
// Not the stack file's 18000: `scripts/local.sh up` may have the user's own local stack there.
let port: number;

interface Outputs {
  server: { endpoint: string; servedModelName: string; dockerRunCommand: string; apiKey: unknown };
  benchmark: {
    metrics: { completed: number; failed: number; outputThroughput: number; ttft: { mean: number }; itl: { mean: number } };
    ratios: { outputThroughput: number };
    reportPath: string;
    rawJson: string;
    passed: boolean;
  };
  host: { instanceId: string; region: string };
}

async function generationTokensServed(endpoint: string): Promise<number> {
  const res = await fetch(`${endpoint}/metrics`);
  const text = await res.text();
  const line = text.split("\n").find((l) => l.startsWith("sglang:generation_tokens_total"));
  if (!line) throw new Error(`no sglang:generation_tokens_total in ${endpoint}/metrics`);
  return Number(line.split(/\s+/).pop());
}

async function containerState(): Promise<{ exists: boolean; id: string; args: string }> {
  const r = await run("docker", ["inspect", "-f", "{{.Id}} {{json .Args}}", CONTAINER]);
  if (r.code !== 0) return { exists: false, id: "", args: "" };
  const [id, ...rest] = r.stdout.trim().split(" ");
  return { exists: true, id: id ?? "", args: rest.join(" ") };
}

beforeAll(async () => {
  await buildSimulatorImage();
  await run("docker", ["rm", "-f", CONTAINER]);
  port = await freePort();
  engine = await createProjectStack({
    stackName: STACK,
    baseStackFile: "Pulumi.local.yaml",
    config: {
      "hgx-inference:sglangApiKey": { value: API_KEY, secret: true },
      "hgx-inference:hfCacheVolume": { value: VOLUME },
      "hgx-inference:sglangPort": { value: String(port) },
      "hgx-inference:benchmarkReportDir": { value: "reports" },
    },
    // /metrics on, so the simulator's token counter can witness whether the benchmark ran again.
    structuredConfig: { "hgx-inference:sglangFlags": { "enable-metrics": true } },
  });
});

afterAll(async () => {
  await engine?.dispose().catch(() => undefined);
  await run("docker", ["rm", "-f", CONTAINER]);
  await run("docker", ["volume", "rm", "-f", VOLUME]);
});

describe("the local stack through the real engine", () => {
  let first: Outputs;

  it("comes up: container, volume, readiness gate, benchmark outputs and report", async () => {
    const up = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
    expect(up.summary.result).toBe("succeeded");
    const outputs = Object.fromEntries(Object.entries(up.outputs).map(([k, v]) => [k, v.value])) as unknown as Outputs;
    first = outputs;

    // Every layer ran through the real providers.
    const types = new Set(resourceTypes(await engine.stack.exportStack()));
    for (const t of ["docker:index/container:Container", "docker:index/volume:Volume", "docker:index/remoteImage:RemoteImage", "command:local:Command", "pulumi:providers:docker"]) {
      expect(types, t).toContain(t);
    }

    expect(outputs.host).toMatchObject({ instanceId: "local", region: "local" });
    expect(outputs.server.endpoint).toBe(`http://127.0.0.1:${port}`);
    expect(outputs.server.servedModelName).toBe("qwen");
    expect(outputs.benchmark.metrics.completed).toBe(32);
    expect(outputs.benchmark.metrics.failed).toBe(0);
    expect(outputs.benchmark.metrics.outputThroughput).toBeGreaterThan(0);
    expect(outputs.benchmark.metrics.ttft.mean).toBeGreaterThan(0);
    expect(outputs.benchmark.ratios.outputThroughput).toBeGreaterThan(0);
    const report = path.resolve(engine.projectDir, outputs.benchmark.reportPath);
    expect(fs.readFileSync(report, "utf8")).toContain("qwen");

    const container = await containerState();
    expect(container.exists).toBe(true);
    expect((await run("docker", ["volume", "inspect", VOLUME])).code).toBe(0);
    // The endpoint answers, and only with the key.
    const denied = await fetch(`${outputs.server.endpoint}/v1/models`);
    expect(denied.status).toBe(401);
    const allowed = await fetch(`${outputs.server.endpoint}/v1/models`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(allowed.status).toBe(200);

    // Progress of the long steps reached the user.
    expect(engine.engineOutput()).toMatch(/waiting for \S+\/health: HTTP \d+ after \d+s of \d+s; container=running health=\w+; last log: /);
    expect(engine.engineOutput()).toContain("report reports/");
  });

  it("previews an unchanged stack as unchanged, and an unchanged up does not re-run the benchmark", async () => {
    const preview = await engine.stack.preview({ onOutput: engine.onOutput });
    const changes = Object.keys(preview.changeSummary).filter((op) => op !== "same");
    expect(changes, JSON.stringify(preview.changeSummary)).toEqual([]);

    const served = await generationTokensServed(first.server.endpoint);
    const from = engine.events.length;
    const again = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
    expect(Object.keys(again.summary.resourceChanges ?? {})).toEqual(["same"]);
    expect(await generationTokensServed(first.server.endpoint)).toBe(served);
    expect(again.outputs.benchmark?.value.rawJson).toBe(first.benchmark.rawJson);
    expect([...operationsByResource(engine.events, from).values()].flat().every((op) => op === "same")).toBe(true);
  });

  it("passes the policy pack under a real preview, and fails it with the policy's message on a violating config", async () => {
    const policyPack = path.join(engine.projectDir, "policy");
    // The local stack's config for the pack: the same rules, plus the simulator image this machine builds (tag `local`).
    const policyPackConfigs = [path.join(policyPack, "config.local.json")];
    const clean = await engine.stack.preview({ policyPacks: [policyPack], policyPackConfigs, onOutput: engine.onOutput });
    expect(Object.keys(clean.changeSummary).filter((op) => op !== "same")).toEqual([]);

    await engine.stack.setAllConfig({
      "hgx-inference:sglangImage": { value: "hgx/sglang-sim:latest" },
      "hgx-inference:sglangAllowLatest": { value: "true" },
    });
    try {
      const printed: string[] = [];
      const violating = await engine.stack.preview({ policyPacks: [policyPack], policyPackConfigs, onOutput: (l) => printed.push(l) }).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(violating, "the preview must fail on the policy violation").toBeInstanceOf(Error);
      expect(`${violating?.message}\n${printed.join("")}`).toMatch(/pinned-images[\s\S]*latest/);
    } finally {
      await engine.stack.setAllConfig({
        "hgx-inference:sglangImage": { value: "hgx/sglang-sim:local" },
        "hgx-inference:sglangAllowLatest": { value: "false" },
      });
    }
  });

  it("gates a prod program on this stack's outputs through a real StackReference", async () => {
    const gateWith = async (stackName: string, thresholds: PromotionThreshold[]) => {
      const prod = await createEngineStack({
        projectName: "hgx-inference-prod",
        stackName,
        backendDir: engine.backendDir,
        program: async () => {
          const source = new pulumi.StackReference(`organization/hgx-inference/${STACK}`);
          const gate = promotionGate(source, { thresholds });
          return { passed: gate.apply((r) => r.passed), checked: gate.apply((r) => r.results.length) };
        },
      });
      try {
        return await prod.stack.up({ onOutput: prod.onOutput }).then(
          (r) => ({ ok: true as const, passed: r.outputs.passed?.value as boolean, checked: r.outputs.checked?.value as number, output: prod.engineOutput() }),
          (err: Error) => ({ ok: false as const, message: `${err.message}\n${prod.engineOutput()}` }),
        );
      } finally {
        await prod.dispose().catch(() => undefined);
      }
    };
    const passing = await gateWith("prod-pass", [
      { name: "min-output-throughput", metric: "outputThroughput", op: "min", value: 1, unit: "tok/s" },
      { name: "max-failed-requests", metric: "failed", op: "max", value: 0, unit: "requests" },
    ]);
    expect(passing).toMatchObject({ ok: true, passed: true, checked: 2 });
    const failing = await gateWith("prod-fail", [{ name: "min-output-throughput", metric: "outputThroughput", op: "min", value: 1e9, unit: "tok/s" }]);
    expect(failing.ok).toBe(false);
    expect(failing.ok ? "" : failing.message).toMatch(/min-output-throughput/);
  });

  it("refreshes without finding drift", async () => {
    const refresh = await engine.stack.refresh({ onOutput: engine.onOutput });
    expect(refresh.summary.result).toBe("succeeded");
    const changes = Object.keys(refresh.summary.resourceChanges ?? {}).filter((op) => op !== "same");
    expect(changes, JSON.stringify(refresh.summary.resourceChanges)).toEqual([]);
  });

  it("replaces the container and re-runs the benchmark when a flag changes", async () => {
    const before = await containerState();
    await setStructuredConfig(engine.stack, "hgx-inference:sglangFlags", { "enable-metrics": true, "mem-fraction-static": 0.8 });
    const from = engine.events.length;
    const up = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent });
    expect(up.summary.result).toBe("succeeded");
    const ops = operationsByResource(engine.events, from);
    expect(ops.get("hgx-container")).toEqual(expect.arrayContaining(["replace"]));
    expect(ops.get("hgx-run")?.some((op) => op === "replace" || op === "create-replacement" || op === "update")).toBe(true);
    const after = await containerState();
    expect(after.exists).toBe(true);
    expect(after.id).not.toBe(before.id);
    // The seed's --mem-fraction-static is 0.85: the container now runs with the override.
    expect(after.args).toMatch(/--mem-fraction-static\W+0\.8\b/);
    expect(up.outputs.benchmark?.value.rawJson).not.toBe(first.benchmark.rawJson);
    expect(up.outputs.benchmark?.value.metrics.completed).toBe(32);
  });

  it("keeps every secret out of state, engine output and stored command lines", async () => {
    // (Not `exportStack()`: the Automation API exports with --show-secrets.)
    expect(plaintextLeaks(engine.backendText(), { apiKey: API_KEY })).toEqual([]);
    expect(engine.backendText()).toContain("ciphertext");
    expect(plaintextLeaks(engine.engineOutput(), { apiKey: API_KEY })).toEqual([]);
    // The container's command line carries a reference to the key, never the key.
    const container = await containerState();
    expect(container.args).not.toContain(API_KEY);
  });

  it("destroys the container and keeps the cache volume", async () => {
    const destroyed = await engine.stack.destroy({ onOutput: engine.onOutput });
    expect(destroyed.summary.result).toBe("succeeded");
    expect((await engine.stack.exportStack()).deployment.resources ?? []).toHaveLength(0);
    expect((await containerState()).exists).toBe(false);
    expect((await run("docker", ["volume", "inspect", VOLUME])).code).toBe(0);
  });

  it("fails within seconds when Docker cannot start the server container, whatever the startup timeout", async () => {
    // The host port is taken (a listener of this test): Docker creates the container and then
    // cannot start it. With a 90 min startup timeout, the update must still end at once, with
    // Docker's error, and never start the readiness gate.
    const blocker = net.createServer();
    const blockedPort = await freePort();
    await new Promise<void>((resolve) => blocker.listen(blockedPort, "127.0.0.1", resolve));
    const from = engine.events.length;
    try {
      await engine.stack.setAllConfig({
        "hgx-inference:sglangPort": { value: String(blockedPort) },
        "hgx-inference:sglangStartupTimeout": { value: "90m" },
      });
      const error = await engine.stack.up({ onOutput: engine.onOutput, onEvent: engine.onEvent }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error, "up must fail").toBeDefined();
      expect(String(error?.message)).toMatch(/address already in use|port is already allocated/);
      const events = engine.events.slice(from);
      const started = (name: string) => events.find((e) => e.resourcePreEvent?.metadata.urn.endsWith(`::${name}`));
      const containerStart = started("hgx-container");
      expect(containerStart, "the container was attempted").toBeDefined();
      expect(started("hgx-ready"), "no readiness wait after a failed start").toBeUndefined();
      // From the container's attempt to the end of the update, in the engine's own timestamps.
      const seconds = Math.max(...events.map((e) => e.timestamp)) - (containerStart?.timestamp ?? 0);
      console.log(`failed container start ended the update ${seconds} s after the container step began`);
      expect(seconds).toBeLessThan(90 * 60 / 10); // a tenth of the timeout: far from running it out
    } finally {
      blocker.close();
      await run("docker", ["rm", "-f", CONTAINER]);
    }
  });
});
