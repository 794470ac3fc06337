/**
 * The router's SSH tunnel to a cross-region worker, end to end against the real sshd test host (the worker's
 * host) with this machine as the router's host. Both steps run as the product renders them, through the real
 * stdin wrapper (`STDIN_SCRIPT_COMMAND` + `frameSecretStdin`): the authorize step over SSH on the worker, the
 * start step locally with the stack's generated client key as its secret first line.
 *
 * The worker stand-in is an HTTP server on the worker host's loopback only (127.0.0.1: no other path reaches
 * it) that wants the bearer key and records, for each request, which process holds the other end of its TCP
 * connection (`ss -tnp`, as root). A request with the key to the router's tunnel URL arrives from sshd (the
 * forward's far end), never from a direct connection; a direct request (the control) shows as node itself, so
 * the check can tell the paths apart. Also shown: the key opens no shell and no other destination
 * (`restrict,permitopen`), a host presenting a key other than the pinned one gets nothing (the step fails
 * with the fix), and the supervisor brings the forward back after its ssh dies.
 *
 * Every process started here is stopped by its id (the supervisor's process group from its pid file).
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frameSecretStdin, STDIN_SCRIPT_COMMAND } from "../../../components/host/connection";
import { generateHostKeyPair } from "../../../components/host/lambda/hostKeyPair";
import { knownHostsLine, parseHostPublicKey, type HostPublicKey } from "../../../components/host/hostKey";
import {
  renderTunnelAuthorizeScript,
  renderTunnelStartScript,
  renderTunnelStopScript,
  tunnelAuthorizedKeyLine,
  tunnelTag,
} from "../../../components/router/tunnel";
import { freePort, processOnLocalPort } from "../../fixtures/net";
import { startSshTestHost, type SshTestHost } from "../../fixtures/ssh-host";

const API_KEY = "sk-tunnel-it-0009";
const TAG = tunnelTag("hgx-tunnel-it", `t${process.pid}`, "hgx-2");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-tunnel-it-"));
/** The router host's HOME (where the start step keeps key, known_hosts, supervisor and log). */
const routerHome = path.join(tmp, "router-home");
const client = generateHostKeyPair("hgx-tunnel-it");
const clientKeyPath = path.join(tmp, "client");

interface Hit {
  readonly authorized: boolean;
  /** The process on the other end of the request's connection, from `ss -tnp` ("" when not found). */
  readonly peerProcess: string;
}

let host: SshTestHost;
let hostKey: HostPublicKey;
let worker: http.Server;
let workerPort: number;
let otherServer: http.Server;
let otherPort: number;
const hits: Hit[] = [];
let otherHits = 0;

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

/** The product's stdin wrapper, run here (the router's host) with HOME = routerHome. */
function runLocal(script: string, secret: string, timeoutMs = 120_000) {
  return spawnSync("bash", ["-c", STDIN_SCRIPT_COMMAND], {
    input: frameSecretStdin(secret, script),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: routerHome },
    encoding: "utf8",
    timeout: timeoutMs,
  });
}

/** The product's stdin wrapper, run on the test host over SSH as its login user (the worker's host). */
function runOnWorker(script: string) {
  return spawnSync(
    "ssh",
    [
      "-i", host.privateKeyPath, "-p", String(host.port), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
      "-o", `UserKnownHostsFile=${path.join(tmp, "known_hosts")}`, "-o", "StrictHostKeyChecking=yes",
      `${host.user}@127.0.0.1`, STDIN_SCRIPT_COMMAND,
    ],
    { input: frameSecretStdin("", script), encoding: "utf8", timeout: 60_000 },
  );
}

/** One request as the router sends it (bearer key), bounded. */
async function ask(url: string): Promise<{ status: number } | { error: string }> {
  try {
    const r = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${API_KEY}` }, signal: AbortSignal.timeout(10_000) });
    await r.text();
    return { status: r.status };
  } catch (e) {
    return { error: String((e as Error).cause ?? e) };
  }
}

function supervisorPid(tag: string): number | undefined {
  const text = fs.readFileSync(path.join(routerHome, ".hgx-tunnels", tag, "pid"), "utf8").trim();
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

function startTarget(tag: string, localPort: number, pinned: string) {
  return { tag, host: "127.0.0.1", sshPort: host.port, user: host.user, hostKey: pinned, workerPort, localPort, waitSeconds: 30 };
}

beforeAll(async () => {
  fs.mkdirSync(routerHome, { mode: 0o700 });
  fs.writeFileSync(clientKeyPath, client.privateKeyOpenssh, { mode: 0o600 });
  host = await startSshTestHost({ user: "ubuntu" });
  const parsed = parseHostPublicKey(host.hostPublicKey);
  if ("problem" in parsed) throw new Error(parsed.problem);
  hostKey = parsed;
  fs.writeFileSync(path.join(tmp, "known_hosts"), `${knownHostsLine("127.0.0.1", host.port, hostKey)}\n`);
  worker = http.createServer((req, res) => {
    hits.push({ authorized: req.headers.authorization === `Bearer ${API_KEY}`, peerProcess: processOnLocalPort(req.socket.remotePort ?? 0) });
    res.writeHead(req.headers.authorization === `Bearer ${API_KEY}` ? 200 : 401, { "content-type": "application/json" }).end('{"data":[]}');
  });
  workerPort = await listen(worker);
  otherServer = http.createServer((_req, res) => {
    otherHits++;
    res.end("other");
  });
  otherPort = await listen(otherServer);
}, 120_000);

afterAll(async () => {
  for (const tag of [TAG, `${TAG}-wrong`]) if (fs.existsSync(path.join(routerHome, ".hgx-tunnels", tag))) runLocal(renderTunnelStopScript(tag), "", 30_000);
  worker?.close();
  otherServer?.close();
  await host?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("router tunnel to a cross-region worker (real sshd)", () => {
  it("authorizes the key for the serving port only, forwards the router's request there through sshd, and nothing else", async () => {
    const line = tunnelAuthorizedKeyLine(client.publicKey, workerPort, TAG);
    const authorize = runOnWorker(renderTunnelAuthorizeScript({ tag: TAG, line }));
    expect(authorize.status, authorize.stderr).toBe(0);

    const localPort = await freePort();
    const start = runLocal(renderTunnelStartScript(startTarget(TAG, localPort, host.hostPublicKey)), client.privateKeyOpenssh);
    expect(start.status, `${start.stdout}\n${start.stderr}`).toBe(0);
    expect(start.stdout).toContain(`127.0.0.1:${localPort} -> 127.0.0.1:${host.port} -> 127.0.0.1:${workerPort} (host key pinned)`);
    // The client key is on disk 0600 in a 0700 directory; never in the supervisor's (or ssh's) argv.
    const dir = path.join(routerHome, ".hgx-tunnels", TAG);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, "id")).mode & 0o777).toBe(0o600);
    const pid = supervisorPid(TAG)!;
    const argv = spawnSync("ps", ["-o", "args=", "--ppid", String(pid), "-p", String(pid)], { encoding: "utf8" }).stdout;
    expect(argv).toContain("-o StrictHostKeyChecking=yes");
    expect(argv).not.toContain("PRIVATE KEY");

    // The router's request (key included) through its URL for this worker, and a direct one as the control.
    const routerUrl = `http://127.0.0.1:${localPort}`;
    for (let i = 0; i < 3; i++) expect(await ask(routerUrl)).toEqual({ status: 200 });
    expect(await ask(`http://127.0.0.1:${workerPort}`)).toEqual({ status: 200 });
    console.log(`[tunnel] peers seen by the worker: ${hits.map((h) => h.peerProcess).join(", ")}`);
    expect(hits.slice(0, 3).map((h) => h.authorized)).toEqual([true, true, true]);
    for (const h of hits.slice(0, 3)) expect(h.peerProcess).toMatch(/^sshd/);
    expect(hits[3].peerProcess).toBe("node");

    // The same key: no shell, no other destination.
    const sshWithKey = ["-i", clientKeyPath, "-p", String(host.port), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${path.join(tmp, "known_hosts")}`, "-o", "StrictHostKeyChecking=yes"];
    const shell = spawnSync("ssh", [...sshWithKey, `${host.user}@127.0.0.1`, "echo", "SHELL-OPENED"], { encoding: "utf8", timeout: 30_000 });
    expect(shell.stdout).not.toContain("SHELL-OPENED");
    expect(shell.status).not.toBe(0);
    const sidePort = await freePort();
    const side = spawn("ssh", [...sshWithKey, "-N", "-L", `127.0.0.1:${sidePort}:127.0.0.1:${otherPort}`, `${host.user}@127.0.0.1`], { stdio: "ignore" });
    try {
      let answered: { status: number } | { error: string } = { error: "not tried" };
      for (let i = 0; i < 20; i++) {
        answered = await ask(`http://127.0.0.1:${sidePort}`);
        // Connection refused: the forward is not listening yet; anything else is the answer through it.
        if (!("error" in answered && /ECONNREFUSED/.test(answered.error))) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect("error" in answered, JSON.stringify(answered)).toBe(true);
      expect(otherHits).toBe(0);
    } finally {
      side.kill("SIGTERM");
    }
  });

  it("the supervisor brings the forward back after its ssh dies", async () => {
    const pid = supervisorPid(TAG)!;
    const children = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean).map(Number);
    const sshPid = children.find((c) => /^ssh /.test(spawnSync("ps", ["-o", "args=", "-p", String(c)], { encoding: "utf8" }).stdout.trim()));
    expect(sshPid, `children of ${pid}: ${children.join(", ")}`).toBeDefined();
    process.kill(sshPid!, "SIGKILL");
    const localPort = Number(/-L 127\.0\.0\.1:(\d+):/.exec(fs.readFileSync(path.join(routerHome, ".hgx-tunnels", TAG, "loop.sh"), "utf8"))?.[1]);
    let back: { status: number } | { error: string } = { error: "not tried" };
    // The loop waits 5 s before ssh again; bounded at 30 tries of ~1 s.
    for (let i = 0; i < 30; i++) {
      back = await ask(`http://127.0.0.1:${localPort}`);
      if ("status" in back) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(back).toEqual({ status: 200 });
    expect(fs.readFileSync(path.join(routerHome, ".hgx-tunnels", TAG, "log"), "utf8")).toMatch(/ssh exited/);
    expect(hits.at(-1)!.peerProcess).toMatch(/^sshd/);
  });

  it("refuses a host presenting another key than the pinned one, with the fix, and leaves no loop running", async () => {
    const impostor = generateHostKeyPair("impostor").publicKey;
    const before = hits.length;
    const start = runLocal(renderTunnelStartScript(startTarget(`${TAG}-wrong`, await freePort(), impostor)), client.privateKeyOpenssh);
    expect(start.status).toBe(1);
    expect(start.stderr).toMatch(/Host key verification failed/);
    expect(start.stderr).toMatch(/Fix: .*pinned host key/);
    expect(fs.existsSync(path.join(routerHome, ".hgx-tunnels", `${TAG}-wrong`, "pid"))).toBe(false);
    expect(hits.length).toBe(before);
  });

  it("a worker back in the router's region: the tunnel stops and the worker drops the key", async () => {
    const stop = runLocal(renderTunnelStopScript(TAG), "");
    expect(stop.status, stop.stderr).toBe(0);
    expect(fs.existsSync(path.join(routerHome, ".hgx-tunnels", TAG))).toBe(false);
    const unauthorize = runOnWorker(renderTunnelAuthorizeScript({ tag: TAG }));
    expect(unauthorize.status, unauthorize.stderr).toBe(0);
    const keys = await host.ssh("cat ~/.ssh/authorized_keys");
    expect(keys.stdout).not.toContain(TAG);
  });
});
