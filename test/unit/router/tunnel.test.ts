import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateHostKeyPair } from "../../../components/host/lambda/hostKeyPair";
import {
  renderTunnelAuthorizeScript,
  renderTunnelStartScript,
  renderTunnelStopScript,
  tunnelAuthorizedKeyLine,
  tunnelLocalPort,
  tunnelTag,
  TUNNEL_PORT_BASE,
} from "../../../components/router/tunnel";

const client = generateHostKeyPair("hgx-tunnel-unit");
const worker = generateHostKeyPair("worker-host");
const TAG = tunnelTag("hgx-inference", "dev", "hgx-2");
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Whether process `pid` exists (signal 0 checks without signalling). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs a worker-side script as bash with HOME in a fresh temp dir (seeded with `authorizedKeys` when given). */
function runAuthorize(home: string, script: string) {
  return spawnSync("bash", ["-c", script], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home }, encoding: "utf8", timeout: 10_000 });
}

describe("router tunnel (pure parts)", () => {
  it("gives each replica its own loopback port and a tag from project, stack and worker", () => {
    expect([0, 1, 2].map(tunnelLocalPort)).toEqual([TUNNEL_PORT_BASE, TUNNEL_PORT_BASE + 1, TUNNEL_PORT_BASE + 2]);
    expect(TAG).toBe("hgx-tunnel-hgx-inference-dev-hgx-2");
    expect(() => tunnelTag("p", "dev; rm -rf ~", "w")).toThrow(/must be 1-120 letters/);
    expect(() => tunnelLocalPort(-1)).toThrow(/whole number/);
  });

  it("restricts the worker's authorized key to a forward to its own serving port, no shell", () => {
    const line = tunnelAuthorizedKeyLine(client.publicKey, 8000, TAG);
    const [, base64] = client.publicKey.split(" ");
    expect(line).toBe(`restrict,port-forwarding,permitopen="127.0.0.1:8000",command="/bin/false" ssh-ed25519 ${base64} ${TAG}`);
    expect(() => tunnelAuthorizedKeyLine("ssh-rsa AAAA x", 8000, TAG)).toThrow(/must be "ssh-ed25519 <base64>"/);
    expect(() => tunnelAuthorizedKeyLine(client.publicKey, 70000, TAG)).toThrow(/worker port 70000/);
    expect(() => tunnelAuthorizedKeyLine(client.publicKey, 8000, "evil\nline")).toThrow(/not one tunnelTag makes/);
  });

  it("installs the line once among the user's own keys, replaces it on re-run, removes it when the worker needs no tunnel", () => {
    const home = mkdtempSync(join(tmpdir(), "hgx-tunnel-home-"));
    dirs.push(home);
    const own = `ssh-ed25519 ${worker.publicKey.split(" ")[1]} someone@laptop`;
    spawnSync("mkdir", ["-p", join(home, ".ssh")]);
    writeFileSync(join(home, ".ssh", "authorized_keys"), `${own}\n`);
    const line = tunnelAuthorizedKeyLine(client.publicKey, 8000, TAG);
    for (let i = 0; i < 2; i++) {
      const r = runAuthorize(home, renderTunnelAuthorizeScript({ tag: TAG, line }));
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(join(home, ".ssh", "authorized_keys"), "utf8")).toBe(`${own}\n${line}\n`);
    }
    expect(statSync(join(home, ".ssh", "authorized_keys")).mode & 0o777).toBe(0o600);
    const moved = tunnelAuthorizedKeyLine(client.publicKey, 8001, TAG);
    expect(runAuthorize(home, renderTunnelAuthorizeScript({ tag: TAG, line: moved })).status).toBe(0);
    expect(readFileSync(join(home, ".ssh", "authorized_keys"), "utf8")).toBe(`${own}\n${moved}\n`);
    expect(runAuthorize(home, renderTunnelAuthorizeScript({ tag: TAG })).status).toBe(0);
    expect(readFileSync(join(home, ".ssh", "authorized_keys"), "utf8")).toBe(`${own}\n`);
    expect(() => renderTunnelAuthorizeScript({ tag: TAG, line: `${line}'; touch /tmp/x; '` })).toThrow(/one line ending in its tag/);
  });

  it("starts ssh pinned to the worker's host key, forward-only, with keepalives; no key material in the script", () => {
    const target = { tag: TAG, host: "198.51.100.11", sshPort: 2222, user: "ubuntu", hostKey: worker.publicKey, workerPort: 8000, localPort: 38001 };
    const script = renderTunnelStartScript(target);
    for (const option of ["StrictHostKeyChecking=yes", "GlobalKnownHostsFile=/dev/null", "ExitOnForwardFailure=yes", "ServerAliveInterval=15", "BatchMode=yes", "IdentitiesOnly=yes"])
      expect(script).toContain(`-o ${option}`);
    expect(script).toContain("-N ");
    expect(script).toContain("-L 127.0.0.1:38001:127.0.0.1:8000 ubuntu@198.51.100.11");
    // known_hosts holds exactly the pinned key for [host]:port.
    expect(script).toContain(`'[198.51.100.11]:2222 ssh-ed25519 ${worker.publicKey.split(" ")[1]}'`);
    expect(script).not.toContain("PRIVATE KEY");
    expect(script).not.toContain(client.publicKey.split(" ")[1]);
    // The key arrives on stdin and is written 0600 under a 0700 directory, never on a command line.
    expect(script).toMatch(/umask 077; printf '%s\\n' "\$TUNNEL_KEY" > "\$DIR\/id"/);
    expect(() => renderTunnelStartScript({ ...target, host: "198.51.100.11;touch /tmp/x" })).toThrow(/tunnel host .* must be an address/);
    expect(() => renderTunnelStartScript({ ...target, user: "root -oProxyCommand=x" })).toThrow(/tunnel user .* must be a login name/);
    expect(() => renderTunnelStartScript({ ...target, hostKey: "ssh-ed25519 !!" })).toThrow(/pinned host key for 198.51.100.11 has no base64/);
    expect(() => renderTunnelStartScript({ ...target, localPort: 0 })).toThrow(/local port 0/);
  });

  it("stops only its own supervisor (by the pid file, checked against the loop's path) and removes its directory", () => {
    const home = mkdtempSync(join(tmpdir(), "hgx-tunnel-home-"));
    dirs.push(home);
    const dir = join(home, ".hgx-tunnels", TAG);
    spawnSync("mkdir", ["-p", dir]);
    writeFileSync(join(dir, "loop.sh"), "while :; do sleep 1; done\n");
    // A supervisor stand-in in its own session, as the start script runs it, and an unrelated process.
    const loop = spawnSync("bash", ["-c", `setsid bash ${JSON.stringify(join(dir, "loop.sh"))} </dev/null >/dev/null 2>&1 & echo $!`], { encoding: "utf8" });
    const loopPid = Number(loop.stdout.trim());
    const other = spawnSync("bash", ["-c", "setsid sleep 30 </dev/null >/dev/null 2>&1 & echo $!"], { encoding: "utf8" });
    const otherPid = Number(other.stdout.trim());
    expect(loopPid).toBeGreaterThan(1);
    expect(otherPid).toBeGreaterThan(1);
    try {
      // A pid file pointing at someone else's process is not acted on.
      writeFileSync(join(dir, "pid"), `${otherPid}\n`);
      const stopOther = spawnSync("bash", ["-c", renderTunnelStopScript(TAG)], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home }, input: "\n", encoding: "utf8", timeout: 15_000 });
      expect(stopOther.status, stopOther.stderr).toBe(0);
      expect(alive(otherPid)).toBe(true);
      spawnSync("mkdir", ["-p", dir]);
      writeFileSync(join(dir, "loop.sh"), "while :; do sleep 1; done\n");
      writeFileSync(join(dir, "pid"), `${loopPid}\n`);
      // The loop was started from the earlier loop.sh path, which is the same path: it is ours.
      const stop = spawnSync("bash", ["-c", renderTunnelStopScript(TAG)], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home }, input: "\n", encoding: "utf8", timeout: 15_000 });
      expect(stop.status, stop.stderr).toBe(0);
      expect(stop.stdout).toContain(`tunnel ${TAG}: none`);
      expect(alive(loopPid)).toBe(false);
      expect(spawnSync("test", ["-e", dir]).status).not.toBe(0);
    } finally {
      // process.kill with a negative pid signals exactly that process group. (procps `kill -KILL -<pid>` without `--`
      // reads "-<pid>" as options and can end up signalling -1, every process; never pass a group that way.)
      for (const pid of [loopPid, otherPid])
        if (Number.isInteger(pid) && pid > 1)
          try {
            process.kill(-pid, "SIGKILL");
          } catch {
            // already gone
          }
    }
  });
});
