import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bootImageFrom,
  bootWorkPart,
  bootWorkRuncmd,
  type BootWaitOptions,
  renderBootWaitScript,
  renderBootWorkScript,
  validateBootWork,
} from "../../../components/host/bootWork";
import { renderCloudInit } from "../../../components/host/lambda/cloudInit";
import { parseTimelineMarkers } from "../../../components/serving/timeline";
import { renderWeightsDownloadScript } from "../../../components/serving/weights";
import { installFakeShellClock, type FakeShellClock } from "../../fixtures/fakeShellClock";

const IMAGE_ID = `sha256:${"a".repeat(64)}`;
const REPO_DIGEST = `sha256:${"b".repeat(64)}`;
let root: string;
let clock: FakeShellClock;
/** Fake `docker` (pull answers $FAKE_PULL_RC) and `cloud-init` (status from $FAKE_CLOUD_INIT). */
let toolsBin: string;
/** A `sleep` that advances the fake clock, then runs the scenario's due events (`<second> <shell>` lines in $EVENTS). */
let eventsBin: string;
let runs = 0;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-boot-work-test-"));
  clock = installFakeShellClock(root);
  toolsBin = path.join(root, "tools");
  eventsBin = path.join(root, "events");
  fs.mkdirSync(toolsBin);
  fs.mkdirSync(eventsBin);
  fs.writeFileSync(
    path.join(toolsBin, "docker"),
    `#!/usr/bin/env bash
# What \`docker image inspect --format\` prints for the pulled image: its ID and repo digest.
[ "$1" = image ] && { echo "${IMAGE_ID} lmsysorg/sglang@${REPO_DIGEST}"; exit 0; }
echo "docker $*"
[ "$1" = pull ] && { [ "\${FAKE_PULL_RC:-0}" = 0 ] || echo "Error response from daemon: manifest unknown" >&2; exit "\${FAKE_PULL_RC:-0}"; }
exit 0
`,
    { mode: 0o755 },
  );
  fs.writeFileSync(path.join(toolsBin, "cloud-init"), `#!/usr/bin/env bash\necho "status: \${FAKE_CLOUD_INIT:-running}"\n`, { mode: 0o755 });
  fs.writeFileSync(
    path.join(eventsBin, "sleep"),
    `#!/usr/bin/env bash
"${clock.binDir}/sleep" "$1"
now=$(( $(cat "$FAKE_CLOCK") - ${1_800_000_000} ))
[ -f "\${EVENTS:-}" ] || exit 0
: > "$EVENTS.rest"
while IFS= read -r line; do
  if [ "\${line%% *}" -le "$now" ]; then bash -c "\${line#* }"; else echo "$line" >> "$EVENTS.rest"; fi
done < "$EVENTS"
mv "$EVENTS.rest" "$EVENTS"
`,
    { mode: 0o755 },
  );
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A PATH dir with the tools the wait script uses but no cloud-init. */
function noCloudInitBin(): string {
  const bin = path.join(root, "no-cloud-init");
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(bin);
    for (const tool of ["bash", "cat", "grep", "sed", "tail", "mkdir", "date"]) {
      const real = spawnSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
      fs.symlinkSync(real, path.join(bin, tool));
    }
  }
  return bin;
}

function freshDir(): string {
  return path.join(root, `boot-${runs++}`);
}

interface WaitRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Script seconds on the fake clock. */
  seconds: number;
}

/** Runs the wait script as the serving layer does (`bash -c`), its time virtual; `events` change the dir as time passes. */
function runWait(opts: BootWaitOptions, events: readonly string[] = [], env: Record<string, string> = {}): WaitRun {
  const eventsFile = path.join(root, `events-${runs++}`);
  fs.writeFileSync(eventsFile, events.map((e) => `${e}\n`).join(""));
  const r = spawnSync("bash", ["-c", renderBootWaitScript(opts)], {
    env: { PATH: `${eventsBin}:${clock.binDir}:${toolsBin}:${process.env.PATH}`, EVENTS: eventsFile, HOME: path.join(root, `home-${runs++}`), ...clock.env(), ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, seconds: clock.elapsedSeconds() };
}

/** A boot-work dir as the running boot work leaves it: steps started, pid `pid` (this test process: alive). */
function startedDir(steps: readonly string[] = ["pull", "weights"], pid = process.pid): string {
  const dir = freshDir();
  fs.mkdirSync(dir);
  const log = ["TIMELINE boot_start 2027-01-15T08:00:00Z", ...steps.map((s) => `TIMELINE boot_${s}_start 2027-01-15T08:00:01Z`)];
  fs.writeFileSync(path.join(dir, "boot-work.log"), `${log.join("\n")}\n`);
  for (const s of steps) fs.writeFileSync(path.join(dir, `${s}.started`), "2027-01-15T08:00:01Z\n");
  fs.writeFileSync(path.join(dir, "boot-work.pid"), `${pid}\n`);
  return dir;
}

/** Shell that finishes `step` in `dir` the way the boot work does. */
function finish(dir: string, step: string, at: string): string {
  return `echo "TIMELINE boot_${step}_done ${at}" >> ${dir}/boot-work.log; echo ${at} > ${dir}/${step}.done`;
}

describe("boot work cloud-config part", () => {
  const weightsScript = renderWeightsDownloadScript({
    model: "Qwen/Qwen3.5-397B-A17B",
    revision: "main",
    cacheMount: { kind: "bind", hostPath: "/lambda/nfs/hf/huggingface", containerPath: "/root/.cache/huggingface" },
    containerName: "hgx-inference-dev-hgx-sglang-weights",
  });

  it("writes the boot-work script and the serving layer's own weights script, and starts them detached", () => {
    const part = bootWorkPart({ dir: "/var/lib/hgx-boot", image: "lmsysorg/sglang:v0.5.14", weightsScript });
    expect(part.write_files).toEqual([
      { path: "/var/lib/hgx-boot/boot-work.sh", permissions: "0755", owner: "root:root", content: renderBootWorkScript({ dir: "/var/lib/hgx-boot", image: "lmsysorg/sglang:v0.5.14", weightsScript }) },
      { path: "/var/lib/hgx-boot/weights.sh", permissions: "0755", owner: "root:root", content: weightsScript },
    ]);
    expect(part.runcmd).toEqual([bootWorkRuncmd("/var/lib/hgx-boot")]);
    expect((part.runcmd as string[][])[0].join(" ")).toMatch(/nohup setsid bash .*boot-work\.sh > .*boot-work\.log 2>&1 < \/dev\/null &$/);
  });

  it("merges with another part into one #cloud-config document that parses back to the same files", () => {
    const boot = bootWorkPart({ dir: "/var/lib/hgx-boot", image: "lmsysorg/sglang:v0.5.14", weightsScript });
    const other = { ssh_deletekeys: true, runcmd: [["echo", "first"]], write_files: [{ path: "/etc/x", content: "y\n" }] };
    const text = renderCloudInit([other, boot]);
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const doc = parse(text) as { ssh_deletekeys: boolean; runcmd: string[][]; write_files: { path: string; content: string }[] };
    expect(doc.ssh_deletekeys).toBe(true);
    // Lists concatenate in part order: the other part's entries first.
    expect(doc.runcmd).toEqual([["echo", "first"], bootWorkRuncmd("/var/lib/hgx-boot")]);
    expect(doc.write_files.map((f) => f.path)).toEqual(["/etc/x", "/var/lib/hgx-boot/boot-work.sh", "/var/lib/hgx-boot/weights.sh"]);
    expect(doc.write_files[2].content).toBe(weightsScript);
  });

  it("has no weights file without a weights script, and refuses a bad dir or image naming the value", () => {
    const part = bootWorkPart({ dir: "/tmp/b", image: "img:1" });
    expect((part.write_files as { path: string }[]).map((f) => f.path)).toEqual(["/tmp/b/boot-work.sh"]);
    expect(renderBootWorkScript({ dir: "/tmp/b", image: "img:1" })).not.toContain("weights.sh");
    expect(validateBootWork({ dir: "relative", image: "img:1" })).toEqual([expect.stringContaining('boot-work dir "relative" must be an absolute path')]);
    expect(validateBootWork({ dir: "/a/../b", image: "img:1" })).toHaveLength(1);
    expect(validateBootWork({ dir: "/a b", image: "img 1" })).toHaveLength(2);
    expect(() => bootWorkPart({ dir: "/x;rm", image: "img:1" })).toThrow(/boot-work dir "\/x;rm"/);
  });
});

describe("boot work script on a host", () => {
  function runBootWork(weights: string | undefined, pullRc: number): { dir: string; log: string } {
    const dir = freshDir();
    fs.mkdirSync(dir);
    const script = renderBootWorkScript({ dir, image: "lmsysorg/sglang:v0.5.14", weightsScript: weights });
    fs.writeFileSync(path.join(dir, "boot-work.sh"), script);
    if (weights !== undefined) fs.writeFileSync(path.join(dir, "weights.sh"), weights);
    const r = spawnSync("bash", [path.join(dir, "boot-work.sh")], { env: { PATH: `${toolsBin}:${process.env.PATH}`, FAKE_PULL_RC: String(pullRc) }, encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(0);
    return { dir, log: r.stdout };
  }

  it("pulls and downloads side by side, leaving done markers and TIMELINE lines", () => {
    const { dir, log } = runBootWork('read -r t || true; [ -z "$t" ] && echo "no token on stdin"; echo downloaded', 0);
    const marks = parseTimelineMarkers(log);
    expect(Object.keys(marks).sort()).toEqual(["boot_end", "boot_pull_done", "boot_pull_start", "boot_start", "boot_weights_done", "boot_weights_start"]);
    for (const f of ["pull.started", "pull.done", "weights.started", "weights.done", "boot-work.pid"]) expect(fs.existsSync(path.join(dir, f)), f).toBe(true);
    expect(fs.readFileSync(path.join(dir, "pull.log"), "utf8")).toContain("docker pull lmsysorg/sglang:v0.5.14");
    // What the pull resolved the tag to, for the serving layer (which then pulls exactly that).
    expect(fs.readFileSync(path.join(dir, "pull.image"), "utf8")).toBe(`${IMAGE_ID} lmsysorg/sglang@${REPO_DIGEST}\n`);
    // The download runs with an empty stdin: no token at boot.
    expect(fs.readFileSync(path.join(dir, "weights.log"), "utf8")).toBe("no token on stdin\ndownloaded\n");
  });

  it("records a failed step with its exit code and log, the other step unaffected", () => {
    const { dir, log } = runBootWork("echo ok", 1);
    expect(fs.readFileSync(path.join(dir, "pull.failed"), "utf8").trim()).toBe("1");
    expect(fs.existsSync(path.join(dir, "pull.image"))).toBe(false);
    expect(fs.existsSync(path.join(dir, "pull.done"))).toBe(false);
    expect(fs.readFileSync(path.join(dir, "pull.log"), "utf8")).toContain("manifest unknown");
    expect(fs.existsSync(path.join(dir, "weights.done"))).toBe(true);
    expect(log).toContain("boot work: pull failed (exit 1)");
    expect(parseTimelineMarkers(log).boot_pull_done).toBeUndefined();
  });

  it("runcmd returns while the boot work it started still runs, which then finishes in the background", () => {
    const dir = freshDir();
    fs.mkdirSync(dir);
    // The download holds until the test says go (bounded): runcmd must have returned before that.
    const weights = `for i in $(seq 300); do [ -f ${dir}/go ] && exit 0; sleep 0.1; done; exit 1`;
    fs.writeFileSync(path.join(dir, "boot-work.sh"), renderBootWorkScript({ dir, image: "img:1", weightsScript: weights }));
    fs.writeFileSync(path.join(dir, "weights.sh"), weights);
    const [file, ...args] = bootWorkRuncmd(dir);
    const r = spawnSync(file, args, { env: { PATH: `${toolsBin}:${process.env.PATH}` }, encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(fs.existsSync(path.join(dir, "weights.done"))).toBe(false);
    fs.writeFileSync(path.join(dir, "go"), "");
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(path.join(dir, "weights.done")) && Date.now() < deadline) spawnSync("sleep", ["0.2"]);
    expect(fs.existsSync(path.join(dir, "weights.done"))).toBe(true);
    expect(fs.readFileSync(path.join(dir, "boot-work.log"), "utf8")).toMatch(/TIMELINE boot_weights_done /);
  });
});

describe("boot wait (virtual clock)", () => {
  it("passes at once on a host without boot work", () => {
    const r = runWait({ dir: path.join(root, "never-created") });
    expect(r).toMatchObject({ code: 0, seconds: 0 });
    expect(r.stdout).toContain("BOOT none: no boot work on this host");
  });

  it("passes at once when the boot work is done, printing its timeline", () => {
    const dir = startedDir();
    fs.appendFileSync(path.join(dir, "boot-work.log"), "TIMELINE boot_pull_done 2027-01-15T08:01:00Z\nTIMELINE boot_weights_done 2027-01-15T08:01:30Z\n");
    for (const s of ["pull", "weights"]) fs.writeFileSync(path.join(dir, `${s}.done`), "x");
    const r = runWait({ dir, expected: true });
    expect(r.code).toBe(0);
    expect(r.seconds).toBe(0);
    expect(r.stdout).toContain("BOOT pull done\nBOOT weights done");
    // No resolution recorded (boot work of an older release): no image line, the serving layer resolves.
    expect(r.stdout).not.toContain("BOOT image");
    expect(bootImageFrom(r.stdout, "lmsysorg/sglang:v0.5.14")).toBe("");
    const marks = parseTimelineMarkers(r.stdout);
    expect(marks).toMatchObject({ boot_start: "2027-01-15T08:00:00.000Z", boot_weights_done: "2027-01-15T08:01:30.000Z", boot_wait_start: "2027-01-15T08:00:00.000Z" });
  });

  it("reports what the boot-time pull resolved the image to, which the first replica then pulls", () => {
    const dir = startedDir();
    for (const s of ["pull", "weights"]) fs.writeFileSync(path.join(dir, `${s}.done`), "x");
    fs.writeFileSync(path.join(dir, "pull.image"), `${IMAGE_ID} lmsysorg/sglang@${REPO_DIGEST}\n`);
    const r = runWait({ dir, expected: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`BOOT image ${IMAGE_ID} lmsysorg/sglang@${REPO_DIGEST}\n`);
    expect(bootImageFrom(r.stdout, "lmsysorg/sglang:v0.5.14")).toBe(`lmsysorg/sglang@${REPO_DIGEST}`);
    // A pull that failed is not reported, even with a stale record beside it (the serving layer fetched).
    const failed = startedDir();
    fs.writeFileSync(path.join(failed, "pull.failed"), "1");
    fs.writeFileSync(path.join(failed, "weights.done"), "x");
    fs.writeFileSync(path.join(failed, "pull.image"), `${IMAGE_ID}\n`);
    const home = path.join(root, `home-acked-${runs++}`);
    runWait({ dir: failed, expected: true }, [], { HOME: home });
    const retry = runWait({ dir: failed, expected: true }, [], { HOME: home });
    expect(retry.code).toBe(0);
    expect(retry.stdout).not.toContain("BOOT image");
  });

  it("reads the boot pull's content reference: the one repo digest, the configured repository's of several, else the image ID", () => {
    const line = (rest: string) => `BOOT pull done\nBOOT image ${rest}\n`;
    expect(bootImageFrom(line(`${IMAGE_ID} lmsysorg/sglang@${REPO_DIGEST}`), "lmsysorg/sglang:v0.5.14")).toBe(`lmsysorg/sglang@${REPO_DIGEST}`);
    expect(bootImageFrom(line(`${IMAGE_ID} mirror.example/sglang@${IMAGE_ID} lmsysorg/sglang@${REPO_DIGEST}`), "lmsysorg/sglang:v0.5.14")).toBe(`lmsysorg/sglang@${REPO_DIGEST}`);
    expect(bootImageFrom(line(IMAGE_ID), "hgx/sglang-sim:local")).toBe(IMAGE_ID);
    // Anything else is not trusted as a reference: the serving layer resolves the image itself.
    for (const bad of ["", "latest", `${IMAGE_ID} lmsysorg/sglang:v0.5.14`, `sha256:abc lmsysorg/sglang@${REPO_DIGEST}`, `${IMAGE_ID} $(touch /tmp/x)@${REPO_DIGEST}`]) {
      expect(bootImageFrom(line(bad), "lmsysorg/sglang:v0.5.14"), bad).toBe("");
    }
  });

  it("waits exactly as long as the boot work runs, one progress line a minute", () => {
    const dir = startedDir();
    const r = runWait({ dir, expected: true }, [`70 ${finish(dir, "pull", "2027-01-15T08:01:10Z")}`, `150 ${finish(dir, "weights", "2027-01-15T08:02:30Z")}`]);
    expect(r.code, r.stderr).toBe(0);
    // Polls every 2 s: the weights marker appears at 150 and is seen on that poll.
    expect(r.seconds).toBe(150);
    const progress = r.stdout.split("\n").filter((l) => l.startsWith("PROGRESS "));
    expect(progress).toEqual([
      expect.stringMatching(/^PROGRESS \S+ boot work running: pull weights \(waited 60s\)$/),
      expect.stringMatching(/^PROGRESS \S+ boot work running: weights \(waited 120s\)$/),
    ]);
    expect(parseTimelineMarkers(r.stdout).boot_wait_done).toBe(new Date((1_800_000_000 + 150) * 1000).toISOString());
  });

  it("fails within one poll of a failed boot pull, with the host's log lines and the timeline", () => {
    const dir = startedDir();
    fs.writeFileSync(path.join(dir, "pull.log"), "Pulling from lmsysorg/sglang\nError response from daemon: manifest for lmsysorg/sglang:v9 not found\n");
    const r = runWait({ dir, expected: true }, [`30 echo 1 > ${dir}/pull.failed`]);
    expect(r.code).toBe(1);
    expect(r.seconds).toBe(30);
    expect(r.stderr).toContain("boot wait FAILED after 30s: the boot-time pull on the host failed (exit 1)");
    expect(r.stderr).toContain("manifest for lmsysorg/sglang:v9 not found");
    expect(parseTimelineMarkers(r.stdout).boot_start).toBeDefined();
  });

  it("a failed boot download fails the step without a token, and is left to the serving layer with one", () => {
    const failedWeights = () => {
      const dir = startedDir();
      fs.writeFileSync(path.join(dir, "pull.done"), "x");
      fs.writeFileSync(path.join(dir, "weights.failed"), "1\n");
      fs.writeFileSync(path.join(dir, "weights.log"), "401 Client Error: Unauthorized (gated repo)\n");
      return dir;
    };
    const without = runWait({ dir: failedWeights(), expected: true });
    expect(without.code).toBe(1);
    expect(without.stderr).toContain("401 Client Error");
    const withToken = runWait({ dir: failedWeights(), expected: true, weightsFallback: true });
    expect(withToken.code, withToken.stderr).toBe(0);
    expect(withToken.stdout).toContain(
      "BOOT weights left to the serving layer, which downloads with the stack's HF token: the boot-time weights on the host failed (exit 1) (at boot it runs without a token)",
    );
    expect(withToken.stdout).toContain("  host: 401 Client Error");
  });

  it("a boot failure fails one run; a retry on the same host leaves the step to the serving layer", () => {
    const dir = startedDir();
    fs.writeFileSync(path.join(dir, "pull.failed"), "1\n");
    fs.writeFileSync(path.join(dir, "weights.done"), "x");
    const home = path.join(root, `home-retry-${runs++}`);
    const first = runWait({ dir, expected: true }, [], { HOME: home });
    expect(first.code).toBe(1);
    const retry = runWait({ dir, expected: true }, [], { HOME: home });
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stdout).toContain("BOOT pull left to the serving layer (reported by an earlier run): the boot-time pull on the host failed (exit 1)");
    // Another boot (another boot-work pid) is not covered by that acknowledgement.
    fs.writeFileSync(path.join(dir, "boot-work.pid"), `${process.ppid}\n`);
    expect(runWait({ dir, expected: true }, [], { HOME: home }).code).toBe(1);
  });

  it("fails when the boot work died without a result", () => {
    const dir = startedDir(["pull", "weights"], 99_999_999);
    fs.writeFileSync(path.join(dir, "pull.done"), "x");
    const r = runWait({ dir, expected: true });
    expect(r.code).toBe(1);
    expect(r.seconds).toBeLessThanOrEqual(1);
    expect(r.stderr).toContain("the boot work stopped (pid 99999999 gone) while weights was running");
  });

  it("stops at its bound naming what still runs", () => {
    const dir = startedDir();
    const r = runWait({ dir, expected: true, timeoutSeconds: 300 });
    expect(r.code).toBe(1);
    expect(r.seconds).toBe(300);
    expect(r.stderr).toContain("boot work still running after 300s: pull weights");
  });

  it("on a launched host, waits for cloud-init to start the boot work, and gives up when cloud-init finished without it", () => {
    const dir = freshDir();
    const started = runWait({ dir, expected: true }, [`20 mkdir -p ${dir} && echo x > ${dir}/pull.started && echo x > ${dir}/weights.started && echo ${process.pid} > ${dir}/boot-work.pid`, `40 echo x > ${dir}/pull.done; echo x > ${dir}/weights.done`]);
    expect(started.code, started.stderr).toBe(0);
    expect(started.seconds).toBe(40);
    const none = runWait({ dir: freshDir(), expected: true }, [], { FAKE_CLOUD_INIT: "done" });
    expect(none).toMatchObject({ code: 0, seconds: 0 });
    expect(none.stdout).toContain("BOOT none: cloud-init finished (done) without boot work");
    const late = runWait({ dir: freshDir(), expected: true, appearTimeoutSeconds: 120 });
    expect(late).toMatchObject({ code: 0, seconds: 120 });
    // No cloud-init at all (a host that was never launched with it): nothing will start, no wait.
    const noCloudInit = runWait({ dir: freshDir(), expected: true }, [], { PATH: `${eventsBin}:${clock.binDir}:${noCloudInitBin()}` });
    expect(noCloudInit).toMatchObject({ code: 0, seconds: 0 });
    expect(noCloudInit.stdout).toContain("BOOT none: no cloud-init on this host");
  });

  it("refuses bad options naming them", () => {
    expect(() => renderBootWaitScript({ dir: "/x", pollSeconds: 0 })).toThrow(/pollSeconds 0 must be a positive integer/);
    expect(() => renderBootWaitScript({ dir: "x" })).toThrow(/boot-work dir "x"/);
  });
});
