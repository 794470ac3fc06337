/**
 * The readiness scripts, executed with bash against stand-in binaries: a PATH holding only the
 * stand-ins (nvidia-smi, docker, sudo, sg) and the few system tools the scripts use, so "not on
 * PATH" cases are real and no system docker/nvidia-smi leaks in.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_GPU_PROBE_IMAGE,
  parseCheckedAt,
  readinessChecks,
  renderDockerAccessCheck,
  renderGpuContainerCheck,
  renderGpuCountCheck,
  shQuote,
  validateGpuExpectation,
} from "../../../components/host/readiness";
import { HGX_B200_INVENTORY, renderNvidiaSmi, type GpuInventory } from "../../fixtures/ssh-host/gpuStandIns";

const TOOLS = ["bash", "sh", "date", "tr", "sed", "cut", "sort", "uniq", "awk", "wc", "grep", "timeout", "id", "head", "cat"];
let root: string;
let toolsDir: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-readiness-"));
  toolsDir = path.join(root, "tools");
  fs.mkdirSync(toolsDir);
  for (const tool of TOOLS) {
    const real = execFileSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
    fs.symlinkSync(real, path.join(toolsDir, tool));
  }
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

let caseNo = 0;
/** Runs `script` with bash; PATH = the given stand-ins + the system tools above. */
function runScript(script: string, standIns: Record<string, string>) {
  const dir = path.join(root, `case-${++caseNo}`);
  fs.mkdirSync(dir);
  for (const [name, body] of Object.entries(standIns)) fs.writeFileSync(path.join(dir, name), body, { mode: 0o755 });
  const r = spawnSync(path.join(toolsDir, "bash"), ["-c", script], {
    encoding: "utf8",
    env: { PATH: `${dir}:${toolsDir}`, HOME: root },
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, dir };
}

const b200 = (count: number): GpuInventory => ({ ...HGX_B200_INVENTORY, count });
const h100: GpuInventory = { ...HGX_B200_INVENTORY, model: "NVIDIA H100 80GB HBM3", memoryMiB: 81559 };
const expect8xB200 = { count: 8, model: "B200" };

/** A `docker` stand-in: `info` per `info`, `run` prints what the container's nvidia-smi would. */
function dockerStandIn(opts: { info?: "ok" | "denied" | "down"; run?: { inventory: GpuInventory } | { fail: string } }): string {
  const info = opts.info ?? "ok";
  const infoBody =
    info === "ok"
      ? `echo 20.10.24`
      : info === "denied"
        ? `echo 'permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock' >&2; exit 1`
        : `echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 1`;
  let runBody = `echo "unexpected docker run" >&2; exit 99`;
  if (opts.run && "inventory" in opts.run) {
    runBody = `echo "$@" > "\${0%/*}/run-args"; exec "\${0%/*}/container-nvidia-smi" -L`;
  } else if (opts.run) {
    runBody = `echo ${shQuote(opts.run.fail)} >&2; exit 125`;
  }
  return `#!/bin/bash\ncase "$1" in\n  info) ${infoBody} ;;\n  run) ${runBody} ;;\n  *) exit 2 ;;\nesac\n`;
}

function containerStandIns(inventory: GpuInventory): Record<string, string> {
  return { docker: dockerStandIn({ run: { inventory } }), "container-nvidia-smi": renderNvidiaSmi(inventory) };
}

describe("gpu-count", () => {
  const script = renderGpuCountCheck(expect8xB200);

  it("passes with 8x B200 and reports what it saw plus the time", () => {
    const r = runScript(script, { "nvidia-smi": renderNvidiaSmi(b200(8)) });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^gpu-count: ok, nvidia-smi listed 8 x NVIDIA B200; checked at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
    expect(parseCheckedAt(r.stdout)).toMatch(/Z$/);
  });

  it("fails naming the check, the expectation and the count seen", () => {
    const r = runScript(script, { "nvidia-smi": renderNvidiaSmi(b200(7)) });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("gpu-count: expected 8 x B200, nvidia-smi listed 7: 7 x NVIDIA B200");
  });

  it("fails on the wrong model even with the right count", () => {
    const r = runScript(script, { "nvidia-smi": renderNvidiaSmi(h100) });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("gpu-count: expected 8 x B200, nvidia-smi listed 8 but 8 are not B200: 8 x NVIDIA H100 80GB HBM3");
  });

  it("matches the model as a word: a GB200 is not a B200", () => {
    const r = runScript(script, { "nvidia-smi": renderNvidiaSmi({ ...HGX_B200_INVENTORY, model: "NVIDIA GB200" }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("are not B200: 8 x NVIDIA GB200");
  });

  it("summarizes a mixed board", () => {
    const mixed = `#!/bin/bash\nfor i in 1 2 3 4 5 6 7; do echo "NVIDIA B200"; done; echo "NVIDIA H100 80GB HBM3"\n`;
    const r = runScript(script, { "nvidia-smi": mixed });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("gpu-count: expected 8 x B200, nvidia-smi listed 8 but 1 are not B200: 7 x NVIDIA B200, 1 x NVIDIA H100 80GB HBM3");
  });

  it("fails when nvidia-smi is missing", () => {
    const r = runScript(script, {});
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gpu-count: expected 8 x B200, but nvidia-smi is not on PATH .*NVIDIA driver is not installed/);
  });

  it("fails with nvidia-smi's own message when the driver errors", () => {
    const broken = `#!/bin/bash\necho "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."\nexit 9\n`;
    const r = runScript(script, { "nvidia-smi": broken });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      "gpu-count: expected 8 x B200, nvidia-smi failed (exit 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
    );
  });

  it("treats 'No devices were found' as a failure", () => {
    const r = runScript(script, { "nvidia-smi": renderNvidiaSmi(b200(0)) });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("gpu-count: expected 8 x B200, nvidia-smi failed (exit 6): No devices were found");
  });
});

describe("docker-access", () => {
  it("passes when docker info answers", () => {
    const r = runScript(renderDockerAccessCheck(), { docker: dockerStandIn({}) });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^docker-access: ok, user \S+ reaches Docker 20\.10\.24 without sudo; checked at \S+Z\n$/);
  });

  it("fails on a refused socket with the usermod fix", () => {
    const r = runScript(renderDockerAccessCheck(), { docker: dockerStandIn({ info: "denied" }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^docker-access: user (\S+) cannot use Docker without sudo \(permission denied on the Docker socket\): .*Fix: sudo usermod -aG docker \1, then reconnect/);
  });

  it("does not touch groups unless asked, even when sudo works", () => {
    const r = runScript(renderDockerAccessCheck({ grantDockerGroup: false }), {
      docker: dockerStandIn({ info: "denied" }),
      sudo: `#!/bin/bash\nprintf "%s\\n" "$*" >> "\${0%/*}/sudo-log"\n`,
    });
    expect(r.code).toBe(1);
    expect(fs.existsSync(path.join(r.dir, "sudo-log"))).toBe(false);
  });

  it("adds the user to the docker group through passwordless sudo when asked", () => {
    const r = runScript(renderDockerAccessCheck({ grantDockerGroup: true }), {
      docker: dockerStandIn({ info: "denied" }),
      sudo: `#!/bin/bash\nprintf "%s\\n" "$*" >> "\${0%/*}/sudo-log"\n`,
      sg: `#!/bin/bash\n[ "$1" = docker ] && [ "$2" = -c ] && echo 20.10.24\n`,
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^docker-access: ok, user (\S+) reaches Docker 20\.10\.24 without sudo \(added \1 to the docker group\); checked at/);
    expect(fs.readFileSync(path.join(r.dir, "sudo-log"), "utf8")).toMatch(/^-n true\n-n usermod -aG docker \S+\n$/);
  });

  it("still fails with the fix when sudo needs a password", () => {
    const r = runScript(renderDockerAccessCheck({ grantDockerGroup: true }), {
      docker: dockerStandIn({ info: "denied" }),
      sudo: `#!/bin/bash\necho "sudo: a password is required" >&2; exit 1\n`,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Fix: sudo usermod -aG docker");
  });

  it("tells a stopped engine apart from a refused user", () => {
    const r = runScript(renderDockerAccessCheck(), { docker: dockerStandIn({ info: "down" }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^docker-access: the Docker engine is not running for user \S+: Cannot connect .* Fix: sudo systemctl start docker/);
  });

  it("fails when docker is not installed", () => {
    const r = runScript(renderDockerAccessCheck(), {});
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^docker-access: expected Docker for user \S+, but docker is not on PATH/);
  });
});

describe("gpu-container", () => {
  const script = renderGpuContainerCheck({ ...expect8xB200, probeImage: "hgx-test/probe:1" });

  it("passes when the container sees the GPUs, running exactly docker run --rm --gpus all IMAGE nvidia-smi -L", () => {
    const r = runScript(script, containerStandIns(b200(8)));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^gpu-container: ok, a container with --gpus all sees 8 x NVIDIA B200; checked at \S+Z\n$/);
    expect(fs.readFileSync(path.join(r.dir, "run-args"), "utf8").trim()).toBe("run --rm --gpus all hgx-test/probe:1 nvidia-smi -L");
  });

  it("fails when the container sees fewer GPUs", () => {
    const r = runScript(script, containerStandIns(b200(7)));
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      "gpu-container: expected 8 x B200 in a container (docker run --rm --gpus all hgx-test/probe:1 nvidia-smi -L), it listed 7: 7 x NVIDIA B200",
    );
  });

  it("fails on the wrong model", () => {
    const r = runScript(script, containerStandIns(h100));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("it listed 8 but 8 are not B200: 8 x NVIDIA H100 80GB HBM3");
  });

  it("explains a missing NVIDIA Container Toolkit", () => {
    const fail = `docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].`;
    const r = runScript(script, { docker: dockerStandIn({ run: { fail } }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gpu-container: expected 8 x B200 in a container \(.*\), docker run failed \(exit 125\): docker: Error response .*\[\[gpu\]\]\.\. Fix: install the NVIDIA Container Toolkit/);
  });

  it("explains the NVML-after-daemon-reload failure", () => {
    const r = runScript(script, { docker: dockerStandIn({ run: { fail: "Failed to initialize NVML: Unknown Error" } }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Containers lost the GPUs");
    expect(r.stderr).toContain("native.cgroupdriver=cgroupfs");
  });

  it("explains a container without nvidia-smi (runtime hook did not run)", () => {
    const fail = 'docker: Error response from daemon: failed to create shim task: OCI runtime create failed: exec: "nvidia-smi": executable file not found in $PATH: unknown.';
    const r = runScript(script, { docker: dockerStandIn({ run: { fail } }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("The NVIDIA runtime hook did not put nvidia-smi into the container");
  });

  it("explains an image that cannot be pulled", () => {
    const r = runScript(script, { docker: dockerStandIn({ run: { fail: "docker: Error response from daemon: pull access denied for hgx-test/probe" } }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("The image could not be pulled");
  });
});

describe("delivery as `bash -s` with the script on stdin (how HostReadiness runs it)", () => {
  it("keeps working when a tool in the script reads stdin", () => {
    // This nvidia-smi swallows stdin: without the script's own </dev/null it would eat the rest.
    const greedy = `#!/bin/bash\ncat >/dev/null\n${renderNvidiaSmi(b200(8)).split("\n").slice(1).join("\n")}`;
    const dir = path.join(root, "stdin-case");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "nvidia-smi"), greedy, { mode: 0o755 });
    const r = spawnSync(path.join(toolsDir, "bash"), ["-s"], {
      input: renderGpuCountCheck(expect8xB200),
      encoding: "utf8",
      env: { PATH: `${dir}:${toolsDir}`, HOME: root },
      timeout: 20_000,
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^gpu-count: ok, nvidia-smi listed 8 x NVIDIA B200; checked at/);
  });
});

describe("check list and validation", () => {
  it("runs gpu-count, docker-access, gpu-container in that order for GPU hosts", () => {
    const checks = readinessChecks({ gpus: expect8xB200 });
    expect(checks.map((c) => c.name)).toEqual(["gpu-count", "docker-access", "gpu-container"]);
    expect(checks[2].script).toContain(`image=${shQuote(DEFAULT_GPU_PROBE_IMAGE)}`);
  });

  it("only checks Docker when GPU checks are off", () => {
    expect(readinessChecks({ gpus: false }).map((c) => c.name)).toEqual(["docker-access"]);
  });

  it("rejects bad expectations naming the setting, the value and an example", () => {
    expect(() => validateGpuExpectation({ count: 0, model: "B200" })).toThrow(/gpus\.count .* got 0; e\.g\. 8/);
    expect(() => validateGpuExpectation({ count: 8, model: "B200'; rm -rf /" })).toThrow(/gpus\.model .* got 'B200'; rm -rf \/'/);
    expect(() => validateGpuExpectation({ count: 8, model: "B200", probeImage: "$(evil)" })).toThrow(/gpus\.probeImage must be a Docker image reference, got '\$\(evil\)'/);
  });

  it("quotes model and image so the scripts stay well-formed", () => {
    const r = runScript(renderGpuCountCheck({ count: 8, model: "RTX PRO 6000" }), {
      "nvidia-smi": renderNvidiaSmi({ ...HGX_B200_INVENTORY, model: "NVIDIA RTX PRO 6000 Blackwell" }),
    });
    expect(r.code).toBe(0);
  });

  it("parseCheckedAt refuses output without a time", () => {
    expect(parseCheckedAt("gpu-count: ok, x; checked at 2026-01-02T03:04:05Z\n")).toBe("2026-01-02T03:04:05Z");
    expect(() => parseCheckedAt("hello")).toThrow(/no 'checked at <time>' line.*hello/);
  });
});
