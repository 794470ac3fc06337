import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerEnv, rigDockerHost } from "../../fixtures/docker-rig";
import { buildSimulatorImage, SIMULATOR_IMAGE_LOCAL_TAG } from "../../fixtures/sglang-simulator/image";
import { chatBody, streamRequest } from "../../fixtures/sglang-simulator/sse-client";
import { freePort } from "../../fixtures/net";

const run = promisify(execFile);

/** The seed's server flags, verbatim. */
const SEED_FLAGS = [
  "--host", "0.0.0.0", "--port", "8000", "--model-path", "Qwen/Qwen3.5-397B-A17B", "--served-model-name", "qwen",
  "--tool-call-parser", "qwen3_coder", "--reasoning-parser", "qwen3", "--mamba-ssm-dtype", "float32", "--tp-size", "8",
  "--trust-remote-code", "--mem-fraction-static", "0.85",
];

const containers: string[] = [];
let tag = "";
let hfCache = "";

async function docker(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run("docker", args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024, env: dockerEnv() });
}

function containerName(): string {
  const name = `hgx-sim-it-${randomBytes(4).toString("hex")}`;
  containers.push(name);
  return name;
}


/** Polls /health until 200, recording every distinct answer; bounded in time. */
async function waitHealthy(baseUrl: string, timeoutMs: number): Promise<string[]> {
  const seen: string[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const answer = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => String(r.status),
      () => "no-answer",
    );
    if (seen.at(-1) !== answer) seen.push(answer);
    if (answer === "200") return seen;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`/health at ${baseUrl} not 200 within ${timeoutMs} ms; answers seen: ${seen.join(" -> ")}`);
}

beforeAll(async () => {
  await docker("info").catch((err: Error) => {
    throw new Error(`the test rig's Docker engine (${rigDockerHost()}, started by test/globalSetup.ts) is required and not reachable: ${err.message}`);
  });
  const started = Date.now();
  tag = await buildSimulatorImage();
  console.log(`built ${tag} in ${Date.now() - started} ms`);
  hfCache = mkdtempSync(path.join(os.tmpdir(), "hgx-sim-hf-"));
});

afterAll(async () => {
  for (const name of containers) await docker("rm", "-f", name).catch(() => undefined);
  if (hfCache) rmSync(hfCache, { recursive: true, force: true });
});

describe("simulator image", () => {
  it("is tagged by content hash and as :local, and a rebuild reuses the hash tag", async () => {
    expect(tag).toMatch(/^hgx\/sglang-sim:[0-9a-f]{16}$/);
    const ids = await Promise.all([tag, SIMULATOR_IMAGE_LOCAL_TAG].map(async (t) => (await docker("image", "inspect", "--format", "{{.Id}}", t)).stdout.trim()));
    expect(ids[0]).toBe(ids[1]);
    // The same content gives the same tag and the very same image (not a rebuilt copy).
    expect(await buildSimulatorImage()).toBe(tag);
    expect((await docker("image", "inspect", "--format", "{{.Id}}", tag)).stdout.trim()).toBe(ids[0]);
    const size = Number((await docker("image", "inspect", "--format", "{{.Size}}", tag)).stdout.trim());
    expect(size).toBeLessThan(200e6);
  });

  it("runs the seed's `python -m sglang.launch_server ...` command unchanged: health 503 -> 200, models, one stream", async () => {
    const port = await freePort();
    const name = containerName();
    await docker(
      "run", "-d", "--name", name, "-p", `127.0.0.1:${port}:8000`, "--ipc=host",
      "-e", "HF_HOME=/root/.cache/huggingface", "-v", `${hfCache}:/root/.cache/huggingface`,
      "-e", "SIM_LOAD_MS=3000", "-e", "SIM_REFUSE_CONNECTIONS_MS=1000", "-e", "SIM_DECODE_BASE_MS=5",
      tag, "python", "-m", "sglang.launch_server", ...SEED_FLAGS,
    );
    const baseUrl = `http://127.0.0.1:${port}`;
    const seen = await waitHealthy(baseUrl, 60_000);
    expect(seen).toContain("503");
    expect(seen.at(-1)).toBe("200");

    const models = (await (await fetch(`${baseUrl}/v1/models`)).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((m) => m.id)).toEqual(["qwen"]);

    const r = await streamRequest(`${baseUrl}/v1/chat/completions`, chatBody("Explain this stack trace.", 8));
    expect(r.status).toBe(200);
    const chunks = r.messages.filter((m) => m.json).map((m) => m.json!);
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    expect(chunks.filter((c) => c.choices[0]?.delta?.content)).toHaveLength(8);
    expect(chunks.at(-2)!.choices[0]).toMatchObject({ delta: {}, finish_reason: "length" });
    expect(chunks.at(-1)!.choices).toEqual([]);
    expect(chunks.at(-1)!.usage!.completion_tokens).toBe(8);
    expect(r.messages.at(-1)!.data).toBe("[DONE]");

    // The seed's flags reach the server (visible in /server_info) and the logs list those it ignores.
    const info = (await (await fetch(`${baseUrl}/server_info`)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ tp_size: 8, mem_fraction_static: 0.85, tool_call_parser: "qwen3_coder", served_model_name: "qwen" });
    const logs = await docker("logs", name);
    expect(logs.stdout).toContain("accepted without effect: --tool-call-parser qwen3_coder");
    expect(logs.stdout).toContain("tokenizer qwen3");

    // PID 1 handles SIGTERM: a plain `docker stop` ends it cleanly with exit 0 (had it ignored
    // SIGTERM, docker would have killed it after the 10 s grace period: exit 137).
    await docker("stop", "-t", "10", name);
    expect((await docker("inspect", "--format", "{{.State.ExitCode}}", name)).stdout.trim()).toBe("0");
  });

  it("enforces --api-key inside the container and keeps it out of the logs", async () => {
    const port = await freePort();
    const name = containerName();
    const key = `sk-${randomBytes(8).toString("hex")}`;
    await docker("run", "-d", "--name", name, "-p", `127.0.0.1:${port}:8000`, "-e", "SIM_LOAD_MS=500", "-e", "SIM_REFUSE_CONNECTIONS_MS=0",
      tag, "python", "-m", "sglang.launch_server", ...SEED_FLAGS, "--api-key", key, "--enable-metrics");
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitHealthy(baseUrl, 60_000);
    expect((await fetch(`${baseUrl}/v1/models`)).status).toBe(401);
    expect((await fetch(`${baseUrl}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    expect(await (await fetch(`${baseUrl}/metrics`)).text()).toContain("sglang:num_running_reqs");
    const logs = await docker("logs", name);
    expect(logs.stdout + logs.stderr).not.toContain(key);
  });

  it("fails fast, naming the flag, on an invalid value; the shim refuses anything but sglang.launch_server", async () => {
    const name = containerName();
    const bad = await docker("run", "--name", name, tag, "python", "-m", "sglang.launch_server", "--mem-fraction-static", "1.5").then(
      () => "exit 0",
      (err: { code?: number; stderr?: string }) => `exit ${err.code}: ${err.stderr}`,
    );
    expect(bad).toMatch(/^exit 2: .*--mem-fraction-static must be within \(0, 1\), got 1\.5/s);
    const other = containerName();
    const shim = await docker("run", "--name", other, tag, "python", "-c", "print(1)").then(
      () => "exit 0",
      (err: { code?: number; stderr?: string }) => `exit ${err.code}: ${err.stderr}`,
    );
    expect(shim).toMatch(/^exit 2: .*only 'python -m sglang\.launch_server/s);
  });
});
