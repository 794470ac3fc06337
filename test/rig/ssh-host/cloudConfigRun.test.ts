/**
 * The test fixtures that stand in for a Lambda instance's first boot: the cloud-config runner (what
 * cloud-init does with write_files + runcmd) and the SSH test host's `docker pull` stand-in.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootWorkPart } from "../../../components/host/bootWork";
import { renderCloudInit } from "../../../components/host/lambda/cloudInit";
import { renderCloudConfigRun, runCloudConfig } from "../../fixtures/ssh-host/cloudInit";
import type { RunResult } from "../../fixtures/run";
import { renderDockerPullStandIn } from "../../fixtures/ssh-host";

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-cloud-config-run-"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("cloud-config runner (test fixture)", () => {
  it("writes the files with their content and mode, then runs runcmd in order (argv and sh -c)", () => {
    const dir = path.join(root, "a");
    const tricky = "line with 'quotes' and $HOME and `ticks`\n\\n no expansion\n";
    const userData = renderCloudInit([
      { write_files: [{ path: `${dir}/x/one.sh`, permissions: "0755", content: tricky }], runcmd: [["sh", "-c", `echo first >> ${dir}/order`]] },
      { ssh_deletekeys: true, runcmd: [`echo second >> ${dir}/order`] },
    ]);
    const { script, otherKeys } = renderCloudConfigRun(userData);
    expect(otherKeys).toEqual(["ssh_deletekeys"]);
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(`${dir}/x/one.sh`, "utf8")).toBe(tricky);
    expect(fs.statSync(`${dir}/x/one.sh`).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(`${dir}/order`, "utf8")).toBe("first\nsecond\n");
  });

  it("runs the boot-work part: its script lands where runcmd starts it", () => {
    const dir = path.join(root, "boot");
    const { script } = renderCloudConfigRun(renderCloudInit([bootWorkPart({ dir, image: "img:1" })]));
    const bin = path.join(root, "bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, "docker"), "#!/bin/sh\necho \"docker $*\"\n", { mode: 0o755 });
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(r.status, r.stderr).toBe(0);
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(path.join(dir, "pull.done")) && Date.now() < deadline) spawnSync("sleep", ["0.2"]);
    expect(fs.readFileSync(path.join(dir, "pull.log"), "utf8")).toBe("docker pull img:1\n");
  });

  it("refuses what is not a cloud-config map or writes outside an absolute path", () => {
    expect(() => renderCloudConfigRun("#!/bin/sh\necho hi\n")).toThrow(/not a #cloud-config/);
    expect(() => renderCloudConfigRun("#cloud-config\nwrite_files:\n  - path: rel/x\n")).toThrow(/absolute path/);
    expect(() => renderCloudConfigRun("#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 'rw'\n")).toThrow(/not octal/);
  });
});

describe("docker pull stand-in of the SSH test host", () => {
  it("takes its seconds, then succeeds for an image the engine holds and fails like a missing manifest otherwise; the rest passes through", () => {
    const real = path.join(root, "real-docker");
    fs.writeFileSync(real, `#!/bin/sh\nif [ "$1 $2" = "image inspect" ]; then [ "$3" = present:1 ]; exit $?; fi\necho "real docker $*"\n`, { mode: 0o755 });
    const wrapper = path.join(root, "docker");
    fs.writeFileSync(wrapper, renderDockerPullStandIn(real, 7), { mode: 0o755 });
    // A fake sleep records what the pull waited.
    const bin = path.join(root, "sleep-bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, "sleep"), `#!/bin/sh\necho "$1" >> ${root}/slept\n`, { mode: 0o755 });
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const ok = spawnSync(wrapper, ["pull", "--quiet", "present:1"], { encoding: "utf8", env });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain("Downloaded newer image for present:1");
    const missing = spawnSync(wrapper, ["pull", "absent:2"], { encoding: "utf8", env });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("manifest for absent:2 not found");
    expect(fs.readFileSync(`${root}/slept`, "utf8")).toBe("7\n7\n");
    expect(spawnSync(wrapper, ["ps", "-a"], { encoding: "utf8", env }).stdout).toBe("real docker ps -a\n");
    expect(() => renderDockerPullStandIn(real, -1)).toThrow(/dockerPullSeconds -1/);
  });
});

describe("runCloudConfig over ssh", () => {
  const doc = "#cloud-config\nruncmd:\n  - [echo, hi]\n";
  const scripted = (results: RunResult[]) => {
    const calls: string[] = [];
    const ssh = async (command: string) => {
      calls.push(command);
      return results[Math.min(calls.length - 1, results.length - 1)]!;
    };
    return { calls, ssh };
  };
  const refused: RunResult = { code: 255, stdout: "", stderr: "ssh: connect to host 127.0.0.1 port 2222: Connection refused\n" };

  it("tries again while sshd rebinds after its host key changed (refused: nothing ran), bounded", async () => {
    const rebinding = scripted([refused, refused, { code: 0, stdout: "hi\n", stderr: "" }]);
    expect(await runCloudConfig(rebinding.ssh, doc)).toEqual({ code: 0, stdout: "hi\n", stderr: "" });
    expect(rebinding.calls).toHaveLength(3);
    const down = scripted([refused]);
    expect((await runCloudConfig(down.ssh, doc, 3)).code).toBe(255);
    expect(down.calls).toHaveLength(3);
  });

  it("never repeats a run that reached the host", async () => {
    const denied = scripted([{ code: 255, stdout: "", stderr: "Permission denied (publickey).\n" }]);
    expect((await runCloudConfig(denied.ssh, doc)).code).toBe(255);
    expect(denied.calls).toHaveLength(1);
    const failed = scripted([{ code: 1, stdout: "", stderr: "boom\n" }]);
    expect((await runCloudConfig(failed.ssh, doc)).code).toBe(1);
    expect(failed.calls).toHaveLength(1);
  });
});
