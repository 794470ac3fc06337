import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { renderDrainScript, renderRejoinScript } from "../../../components/router/workerSteps";
import { installFakeShellClock, type FakeShellClock } from "../../fixtures/fakeShellClock";
import { secretStdinLine } from "../../fixtures/stdinScript";

const KEY = 'sk-steps"\\-9f2';

/** The router's workers API as sglang-router 0.3.2 answers it (compact JSON), with the calls it saw. */
class FakeRouter {
  workers: { id: string; url: string; is_healthy: boolean }[] = [];
  calls: string[] = [];
  bodies: string[] = [];
  /** Polls of /workers after which an added worker reports healthy. */
  healthyAfterPolls = 2;
  private polls = 0;
  readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      this.calls.push(`${req.method} ${req.url}`);
      if (req.url === "/health") return res.writeHead(200).end("OK");
      if (req.headers.authorization !== `Bearer ${KEY}`) return res.writeHead(401).end();
      if (req.method === "GET" && req.url === "/workers") {
        this.polls += 1;
        if (this.polls >= this.healthyAfterPolls) for (const w of this.workers) w.is_healthy = true;
        const body = { workers: this.workers.map((w) => ({ ...w, model_id: "qwen", metadata: { served_model_name: "qwen" } })), total: this.workers.length };
        return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
      }
      if (req.method === "DELETE" && req.url?.startsWith("/workers/")) {
        const id = req.url.slice("/workers/".length);
        this.workers = this.workers.filter((w) => w.id !== id);
        return res.writeHead(202).end(JSON.stringify({ status: "accepted", worker_id: id }));
      }
      if (req.method === "POST" && req.url === "/workers") {
        const text = Buffer.concat(chunks).toString();
        this.bodies.push(text);
        const { url } = JSON.parse(text) as { url: string };
        this.polls = 0;
        this.workers.push({ id: `w-${this.workers.length + 1}`, url, is_healthy: false });
        return res.writeHead(202).end(JSON.stringify({ status: "accepted" }));
      }
      res.writeHead(404).end();
    });
  });
}

/** A worker whose /get_load reports `inflight`, which drops by one per poll. */
function fakeWorker(initialInflight: number): { server: http.Server; polls: () => number } {
  let inflight = initialInflight;
  let polls = 0;
  const server = http.createServer((req, res) => {
    if (req.url !== "/get_load") return res.writeHead(404).end();
    polls += 1;
    const body = JSON.stringify([{ dp_rank: 0, num_reqs: inflight, num_waiting_reqs: 0, num_tokens: 0 }]);
    inflight = Math.max(0, inflight - 1);
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  });
  return { server, polls: () => polls };
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

let root: string;
let clock: FakeShellClock;
const servers: http.Server[] = [];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-steps-test-"));
  clock = installFakeShellClock(root);
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Runs a script as the command provider does (key on the first stdin line), on the fake clock. */
function runScript(script: string, key = KEY): Promise<{ code: number; stdout: string; stderr: string; seconds: number }> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-c", script], { env: { ...process.env, ...clock.env(), PATH: `${clock.binDir}:${process.env.PATH}` } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr, seconds: clock.elapsedSeconds() }));
    child.stdin.end(secretStdinLine(key));
  });
}

async function setup(inflight: number) {
  const router = new FakeRouter();
  servers.push(router.server);
  const routerUrl = await listen(router.server);
  const worker = fakeWorker(inflight);
  servers.push(worker.server);
  const workerUrl = await listen(worker.server);
  return { router, routerUrl, worker, workerUrl };
}

describe("drain", () => {
  it("removes the worker from the router and waits until its in-flight requests finished", async () => {
    const { router, routerUrl, worker, workerUrl } = await setup(3);
    router.workers = [{ id: "a", url: workerUrl, is_healthy: true }, { id: "b", url: "http://127.0.0.1:1", is_healthy: true }];
    const r = await runScript(renderDrainScript({ routerUrl, workerUrl, timeoutSeconds: 60 }));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(router.calls).toContain("DELETE /workers/a");
    expect(router.workers.map((w) => w.id)).toEqual(["b"]);
    // 3, 2, 1 in flight, then 0: four polls, one (virtual) second apart.
    expect(worker.polls()).toBe(4);
    expect(r.stdout).toContain("has no request in flight");
    expect(r.stdout).toMatch(/DRAINED worker=http:\/\/127\.0\.0\.1:\d+ seconds=3/);
  });

  it("stops waiting at the drain timeout and says so", async () => {
    const { router, routerUrl, workerUrl } = await setup(1000);
    router.workers = [{ id: "a", url: workerUrl, is_healthy: true }];
    const r = await runScript(renderDrainScript({ routerUrl, workerUrl, timeoutSeconds: 20 }));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/drain timeout \(20s\): .* still has \d+ request\(s\) in flight; replacing it anyway/);
    expect(r.seconds).toBe(20);
  });

  it("is a no-op for a worker the router does not list and that does not run (first deploy)", async () => {
    const { router, routerUrl } = await setup(0);
    const r = await runScript(renderDrainScript({ routerUrl, workerUrl: "http://127.0.0.1:9", timeoutSeconds: 60 }));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("is not registered in the router: nothing to drain");
    expect(router.calls.filter((c) => c.startsWith("DELETE"))).toEqual([]);
  });

  it("fails, naming the router, when it never answers", async () => {
    const r = await runScript(renderDrainScript({ routerUrl: "http://127.0.0.1:9", workerUrl: "http://127.0.0.1:8", timeoutSeconds: 5 }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("router http://127.0.0.1:9 not answering /health");
  });
});

describe("rejoin", () => {
  it("registers a missing worker with the API key in the body and waits until the router reports it healthy", async () => {
    const { router, routerUrl, workerUrl } = await setup(0);
    router.healthyAfterPolls = 3;
    const r = await runScript(renderRejoinScript({ routerUrl, workerUrl, timeoutSeconds: 60 }));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(router.bodies.map((b) => JSON.parse(b))).toEqual([{ url: workerUrl, api_key: KEY }]);
    expect(r.stdout).toMatch(/REJOINED worker=/);
    // The key went in a body file, never on a command line the script printed.
    expect(r.stdout).not.toContain(KEY);
  });

  it("leaves a listed worker alone (idempotent) and fails at its timeout when it never turns healthy", async () => {
    const { router, routerUrl, workerUrl } = await setup(0);
    router.workers = [{ id: "a", url: workerUrl, is_healthy: true }];
    const ok = await runScript(renderRejoinScript({ routerUrl, workerUrl, timeoutSeconds: 60 }));
    expect(ok.code).toBe(0);
    expect(router.bodies).toEqual([]);

    router.workers = [];
    router.healthyAfterPolls = Number.MAX_SAFE_INTEGER;
    const stuck = await runScript(renderRejoinScript({ routerUrl, workerUrl, timeoutSeconds: 30 }));
    expect(stuck.code).not.toBe(0);
    expect(stuck.stderr).toMatch(/not healthy in the router after 30s \(state: false\)/);
    expect(stuck.seconds).toBe(30);
  });

  it("refuses URLs with a path or shell characters", () => {
    expect(() => renderRejoinScript({ routerUrl: "http://127.0.0.1:1/x", workerUrl: "http://127.0.0.1:2", timeoutSeconds: 1 })).toThrow(/without a path/);
    expect(() => renderDrainScript({ routerUrl: "http://127.0.0.1:1", workerUrl: "http://a;b:2", timeoutSeconds: 1 })).toThrow(/without a path/);
  });
});
