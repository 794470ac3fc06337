/**
 * Runs the rendered `docker run` line (the SAME spec the Pulumi container is built from) against
 * the test rig's Docker engine (test/fixtures/docker-rig), with the simulator image standing in for SGLang.
 *
 * Deviations from production, each forced by this machine and applied to the spec (never by
 * editing the rendered text): the image is the simulator's tag; the host port is a free loopback
 * port; `--gpus` is dropped (no GPU/NVIDIA runtime here); the health probe uses `node` because the
 * simulator image ships neither curl nor python's urllib (the real probe is tested against the
 * simulator in test/unit/serving/healthProbe.test.ts); and `memlock` is capped at this machine's
 * hard limit when that is finite (this sandbox refuses to raise RLIMIT_MEMLOCK; GPU hosts allow -1).
 */
import { execFile, spawn } from "node:child_process";
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ContainerSpec, renderDockerRunCommand } from "../../../components/serving/containerSpec";
import { renderReadinessGateScript } from "../../../components/serving/readinessGate";
import { planServing } from "../../../components/serving/servingPlan";
import { dockerEnv, rigDockerHost } from "../../fixtures/docker-rig";
import { buildSimulatorImage } from "../../fixtures/sglang-simulator";
import { streamRequest } from "../../fixtures/sglang-simulator/sse-client";
import { secretStdinLine } from "../../fixtures/stdinScript";

const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const API_KEY = `sk-it-${RUN_ID}`;
const containers: string[] = [];
const volumes: string[] = [];
let simImage: string;
/** memlock this machine permits, in bytes (-1 = unlimited, as on the GPU host). */
let memlockBytes = -1;

function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, SHLVL: "1", ...opts.env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    // A child may exit before reading its stdin; that is not an error here.
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });
}

function docker(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("docker", args, { timeout: 60_000, env: dockerEnv() }, (err, stdout, stderr) => (err ? reject(new Error(`docker ${args[0]} failed: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls until `check` returns a value, bounded by count and time. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < Math.ceil(timeoutMs / everyMs) + 1 && Date.now() < deadline; i++) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

const NODE_PROBE = (port: number) =>
  `node -e "require('http').get('http://127.0.0.1:${port}/health', r => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"`;

/** The production plan (seed preset, API key, named cache volume), adapted to this machine. */
function localSpec(hostPort: number, suffix: string): ContainerSpec {
  const { plan, errors } = planServing({
    image: "lmsysorg/sglang:v0.5.9",
    preset: "seed",
    gpuCount: 8,
    cacheVolumeName: `hgx-it-hf-cache-${RUN_ID}-${suffix}`,
    containerName: `hgx-it-sglang-${RUN_ID}-${suffix}`,
    apiKey: true,
    hfToken: false,
    project: "hgx",
    stack: "it",
  });
  if (plan === undefined) throw new Error(errors.join("\n"));
  const spec = plan.spec;
  containers.push(spec.name);
  volumes.push(...spec.volumes.flatMap((v) => (v.kind === "volume" ? [v.volumeName] : [])));
  return {
    ...spec,
    image: simImage,
    gpus: undefined,
    ports: spec.ports.map((p) => ({ ...p, hostIp: "127.0.0.1", hostPort })),
    healthcheck: { ...spec.healthcheck, test: ["CMD-SHELL", NODE_PROBE(spec.ports[0].containerPort)], intervalSeconds: 1 },
    ulimits: spec.ulimits.map((u) => (u.name === "memlock" && memlockBytes !== -1 ? { ...u, soft: memlockBytes, hard: memlockBytes } : u)),
  };
}

beforeAll(async () => {
  const info = await sh("docker", ["info", "--format", "{{.ServerVersion}}"], { timeoutMs: 30_000 });
  if (info.code !== 0) throw new Error(`the test rig's Docker engine (${rigDockerHost()}, started by test/globalSetup.ts) is not reachable: ${info.stderr}`);
  const hardMemlock = (await sh("bash", ["-c", "ulimit -Hl"])).stdout.trim();
  if (hardMemlock !== "unlimited") memlockBytes = Number(hardMemlock) * 1024;
  simImage = await buildSimulatorImage();
}, 600_000);

afterAll(async () => {
  for (const c of containers) await sh("docker", ["rm", "-f", "-v", c]);
  for (const v of volumes) await sh("docker", ["volume", "rm", "-f", v]);
  const left = await sh("docker", ["ps", "-a", "--filter", `name=${RUN_ID}`, "--format", "{{.Names}}"]);
  expect(left.stdout.trim()).toBe("");
}, 120_000);

describe("the rendered docker run line on the real engine", () => {
  it("unmasked variant: serves /health, /v1/models and a streamed completion, with the cache volume where the spec says", async () => {
    const hostPort = await freeLoopbackPort();
    const spec = localSpec(hostPort, "a");
    const line = renderDockerRunCommand(spec, { secretValues: { SGLANG_API_KEY: API_KEY } });
    const run = await sh("bash", ["-c", line]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    const base = `http://127.0.0.1:${hostPort}`;

    // /health: refuses, then 503, then 200 (bounded wait).
    await until("/health 200", async () => ((await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) })).status === 200 ? true : undefined), 90_000);

    // /v1/models needs the key delivered through the env var -> wrapper -> --api-key.
    const anon = await fetch(`${base}/v1/models`);
    expect(anon.status).toBe(401);
    const models = await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(models.status).toBe(200);
    const body = (await models.json()) as { data: Array<{ id: string }> };
    expect(body.data.map((m) => m.id)).toContain("qwen");

    // A streamed chat completion: role chunk, content, finish chunk, usage chunk, [DONE].
    const stream = await streamRequest(
      `${base}/v1/chat/completions`,
      { model: "qwen", messages: [{ role: "user", content: "hello" }], max_tokens: 8, stream: true, stream_options: { include_usage: true } },
      { authorization: `Bearer ${API_KEY}` },
      30_000,
    );
    expect(stream.status).toBe(200);
    expect(stream.aborted).toBe(false);
    const chunks = stream.messages.filter((m) => m.json !== undefined).map((m) => m.json!);
    expect(chunks[0].choices[0].delta?.role).toBe("assistant");
    expect(chunks.some((c) => (c.choices[0]?.delta?.content ?? "").length > 0)).toBe(true);
    expect(chunks.some((c) => c.choices[0]?.finish_reason !== null && c.choices[0]?.finish_reason !== undefined)).toBe(true);
    expect(chunks[chunks.length - 1].usage?.completion_tokens).toBe(8);
    expect(stream.messages[stream.messages.length - 1].data).toBe("[DONE]");

    // docker inspect: the container is the spec.
    const [inspect] = JSON.parse(await docker("inspect", spec.name)) as Array<{
      Config: { Cmd: string[]; Env: string[]; Labels: Record<string, string> };
      HostConfig: { IpcMode: string; Ulimits: Array<{ Name: string; Soft: number; Hard: number }>; PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>>; RestartPolicy: { Name: string }; LogConfig: { Type: string; Config: Record<string, string> } };
      Mounts: Array<{ Type: string; Name?: string; Destination: string }>;
    }>;
    expect(inspect.Mounts).toEqual([expect.objectContaining({ Type: "volume", Name: spec.volumes[0].kind === "volume" ? spec.volumes[0].volumeName : "", Destination: "/root/.cache/huggingface" })]);
    expect(inspect.Config.Cmd).toEqual([...spec.command]);
    expect(inspect.Config.Cmd.join(" ")).not.toContain(API_KEY);
    expect(inspect.Config.Env).toEqual(expect.arrayContaining(["HF_HOME=/root/.cache/huggingface", "HF_XET_HIGH_PERFORMANCE=1", `SGLANG_API_KEY=${API_KEY}`]));
    expect(inspect.Config.Labels).toMatchObject({ "hgx.project": "hgx", "hgx.stack": "it", "hgx.component": "serving" });
    expect(inspect.HostConfig.IpcMode).toBe("host");
    expect(inspect.HostConfig.Ulimits).toEqual([{ Name: "memlock", Soft: memlockBytes, Hard: memlockBytes }, { Name: "stack", Soft: 67108864, Hard: 67108864 }]);
    expect(inspect.HostConfig.PortBindings["8000/tcp"]).toEqual([{ HostIp: "127.0.0.1", HostPort: String(hostPort) }]);
    expect(inspect.HostConfig.RestartPolicy.Name).toBe("unless-stopped");
    expect(inspect.HostConfig.LogConfig).toEqual({ Type: "json-file", Config: { "max-size": "100m", "max-file": "3" } });

    // Docker's own health status turns healthy.
    await until("docker health=healthy", async () => ((await docker("inspect", "-f", "{{.State.Health.Status}}", spec.name)).trim() === "healthy" ? true : undefined), 60_000, 1000);

    // The readiness gate, as the component runs it (key on stdin), against the real container.
    const gate = await sh("bash", ["-c", renderReadinessGateScript({ baseUrl: base, servedModelName: "qwen", containerName: spec.name, timeoutSeconds: 60, pollIntervalSeconds: 1 })], { input: secretStdinLine(API_KEY) });
    expect(gate.stderr).toBe("");
    expect(gate.code).toBe(0);
    expect(gate.stdout).toMatch(/^TIMELINE container_started \d{4}-/m);
    expect(gate.stdout).toMatch(/^READY model=qwen /m);
  });

  it("masked variant: contains no secret and runs once the key is exported", async () => {
    const hostPort = await freeLoopbackPort();
    const spec = localSpec(hostPort, "b");
    const masked = renderDockerRunCommand(spec);
    expect(masked).not.toContain(API_KEY);
    const run = await sh("bash", ["-c", masked], { env: { SGLANG_API_KEY: API_KEY } });
    expect(run.code).toBe(0);
    const base = `http://127.0.0.1:${hostPort}`;
    await until("/health 200", async () => ((await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) })).status === 200 ? true : undefined), 90_000);
    const models = await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(models.status).toBe(200);
  });

  it("the wrapper refuses to start an unauthenticated server when the key is missing", async () => {
    const hostPort = await freeLoopbackPort();
    const spec = localSpec(hostPort, "c");
    const run = await sh("bash", ["-c", renderDockerRunCommand(spec)], { env: { SGLANG_API_KEY: "" } });
    expect(run.code).toBe(0);
    const exit = await until("container exit", async () => {
      const state = (await docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", spec.name)).trim();
      return state.startsWith("exited") || state.startsWith("restarting") ? state : undefined;
    }, 30_000);
    expect(exit).toMatch(/64$/);
    const logs = await sh("docker", ["logs", spec.name]);
    expect(logs.stderr).toContain("SGLANG_API_KEY is empty: refusing to start an unauthenticated server");
  });
});
