/**
 * `bench:capacity --runner remote --ssh` as a process, stopped by SIGTERM and by SIGHUP (not only Ctrl-C) while a
 * level runs "on the host": the private key's copy is gone, the level's process group (ssh and what it started) is
 * killed, and the benchmark container is removed on the host. The host is this machine: a stand-in `ssh` runs its
 * command with bash here, a stand-in `docker` records its calls and keeps `docker run` busy (a `sleep`).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const repoRoot = path.resolve(__dirname, "..", "..", "..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-capacity-signals-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const bin = path.join(work, "bin");
fs.mkdirSync(bin);
// ssh: records its pid, then runs the last argument (STDIN_SCRIPT_COMMAND) with bash, stdin passed through.
fs.writeFileSync(path.join(bin, "ssh"), '#!/bin/bash\necho $$ >> "$FAKE_SSH_PIDS"\nexec bash -c "${@: -1}"\n', { mode: 0o755 });
// docker: every call logged; `run` writes its pid and sleeps (the level in flight: `timeout` puts it in a process
// group of its own, as on a host, where the ssh client's end does not reach it); `rm -f` ends it, as removing the
// container ends `docker run`.
fs.writeFileSync(
  path.join(bin, "docker"),
  '#!/bin/bash\necho "$*" >> "$FAKE_DOCKER_LOG"\nif [ "$1" = run ]; then echo $$ > "$FAKE_DOCKER_RUN_PID"; exec sleep 300; fi\n' +
    'if [ "$1" = rm ] && [ -s "$FAKE_DOCKER_RUN_PID" ]; then kill "$(cat "$FAKE_DOCKER_RUN_PID")" 2>/dev/null; fi\nexit 0\n',
  { mode: 0o755 },
);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, check: () => boolean, limitMs = 60_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("bench:capacity --runner remote: every stop signal cleans up", () => {
  it.each(["SIGTERM", "SIGHUP"] as const)("%s: key copy removed, process group killed, container removed on the host", async (signal) => {
    const dir = fs.mkdtempSync(path.join(work, `${signal}-`));
    const tmp = path.join(dir, "tmp");
    fs.mkdirSync(tmp);
    const log = path.join(dir, "docker.log");
    const runPid = path.join(dir, "run.pid");
    const sshPids = path.join(dir, "ssh.pids");
    const child = spawn(
      process.execPath,
      [
        path.join(repoRoot, "node_modules/tsx/dist/cli.mjs"), path.join(repoRoot, "scripts/bench-capacity.ts"),
        "--runner", "remote", "--ssh", "ubuntu@127.0.0.1:22", "--base-url", "http://127.0.0.1:9", "--served-model-name", "q",
        "--concurrency-range", "1:2", "--num-prompts", "2", "--random-input-len", "8", "--random-output-len", "4", "--warmup-requests", "0",
      ],
      {
        cwd: repoRoot,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, TMPDIR: tmp, HGX_SSH_PRIVATE_KEY: "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-key\n-----END OPENSSH PRIVATE KEY-----", FAKE_DOCKER_LOG: log, FAKE_DOCKER_RUN_PID: runPid, FAKE_SSH_PIDS: sshPids },
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group, signalled as a whole: a closed terminal (SIGHUP) or a job scheduler's stop
        // (SIGTERM) reaches npm/tsx and the node process running the script alike.
        detached: true,
      },
    );
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    try {
      await until("the level to start on the host", () => fs.existsSync(runPid) && fs.readFileSync(runPid, "utf8").trim() !== "");
      const sleeper = Number(fs.readFileSync(runPid, "utf8").trim());
      const levelSsh = Number(fs.readFileSync(sshPids, "utf8").trim().split("\n")[0]);
      expect(alive(levelSsh)).toBe(true);
      expect(fs.readdirSync(tmp).filter((n) => n.startsWith("hgx-capacity-ssh-"))).toHaveLength(1); // the key's copy, while it runs
      process.kill(-child.pid!, signal);
      await exited;
      expect(stderr).toContain(`bench:capacity: ${signal}; ending the level in flight`);
      expect(fs.readdirSync(tmp).filter((n) => n.startsWith("hgx-capacity-ssh-"))).toEqual([]);
      // The level's ssh (its process group) was killed; the container on the host was removed by a run of its own.
      expect(alive(levelSsh)).toBe(false);
      expect(fs.readFileSync(log, "utf8").trim().split("\n").pop()).toBe("rm -f hgx-benchmark");
      await until("the container's run to end", () => !alive(sleeper), 15_000);
      expect(stderr).toContain("stopped the benchmark container hgx-benchmark on 127.0.0.1");
    } finally {
      if (child.exitCode === null) {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  }, 120_000);
});

describe("abortOnSignals: one stop delivered twice is one stop", () => {
  it("ignores the same signal repeated within the window (tsx relays a group signal again), exits on a later or different one", async () => {
    const { abortOnSignals, REPEATED_SIGNAL_WINDOW_MS } = await import("../../../scripts/bench-capacity");
    let clock = 1_000;
    const exits: number[] = [];
    const lines: string[] = [];
    const { controller, dispose } = abortOnSignals((s) => `stop on ${s}`, (l) => lines.push(l), { now: () => clock, exit: (c) => exits.push(c) });
    try {
      process.emit("SIGTERM", "SIGTERM");
      expect(controller.signal.aborted).toBe(true);
      clock += REPEATED_SIGNAL_WINDOW_MS - 1; // tsx's relay of the same SIGTERM
      process.emit("SIGTERM", "SIGTERM");
      expect(exits).toEqual([]);
      expect(lines).toEqual(["stop on SIGTERM"]);
      clock += 1; // the user's second stop, past the window
      process.emit("SIGTERM", "SIGTERM");
      expect(exits).toEqual([143]);
      process.emit("SIGINT", "SIGINT"); // another signal counts at once
      expect(exits).toEqual([143, 130]);
    } finally {
      dispose();
    }
  });
});
