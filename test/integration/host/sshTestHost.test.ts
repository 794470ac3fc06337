/**
 * The test rig itself: its own dockerd (reached by every test process through DOCKER_HOST) and the
 * SSH test host whose login users reach that daemon — and only it — without any account added to
 * the machine's /etc. Real processes throughout: dockerd, sshd, ssh, the docker CLI.
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderDockerAccessCheck, renderGpuContainerCheck } from "../../../components/host/readiness";
import { dockerEnv, RIG, RIG_NVIDIA_HOOK_PATH, rigDockerHost, run, startSshTestHost, type SshTestHost } from "../../fixtures/ssh-host";

const hosts: SshTestHost[] = [];
let withDocker: SshTestHost;
let withoutDocker: SshTestHost;

beforeAll(async () => {
  withDocker = await startSshTestHost();
  hosts.push(withDocker);
  withoutDocker = await startSshTestHost({ dockerGroup: false });
  hosts.push(withoutDocker);
});

afterAll(async () => {
  for (const h of hosts) await h.close();
});

describe("the test rig's dockerd", () => {
  it("is what this worker's environment points at, with its own data root and the GPU hook on its PATH only", async () => {
    expect(process.env.DOCKER_HOST).toBe(rigDockerHost());
    expect(rigDockerHost()).toBe(`unix://${RIG.socket}`);
    // Plain `docker`, inheriting the worker's environment, reaches the rig.
    const info = await run("docker", ["info", "--format", "{{.DockerRootDir}} {{.Name}}"]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout.split(" ")[0]).toBe(RIG.dataRoot);
    // dockerd finds the hook stand-in first on its own PATH (the rig's bin dir, in no system path).
    expect(fs.existsSync(RIG_NVIDIA_HOOK_PATH)).toBe(true);
    const pid = Number(fs.readFileSync(RIG.pidFile, "utf8"));
    const dockerdPath = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").find((e) => e.startsWith("PATH="));
    expect(dockerdPath?.slice("PATH=".length).split(":")[0]).toBe(RIG.binDir);
  });

  it("runs `--network host` containers in the machine's network namespace", async () => {
    const listed = await run(
      "docker",
      ["run", "--rm", "--network", "host", withDocker.gpuProbeImage, "sh", "-c", "while read -r l; do echo \"$l\"; done < /proc/net/dev"],
      { env: dockerEnv() },
    );
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain("hgxrig0:"); // the rig's bridge is a host interface
  });
});

describe("the SSH test host on the rig", () => {
  it("gives its docker-group user the rig's daemon, for plain docker and for docker system dial-stdio", async () => {
    const env = await withDocker.ssh('echo "$DOCKER_HOST"; id -nG; docker info --format "{{.DockerRootDir}}"');
    expect(env.code, env.stderr).toBe(0);
    const [dockerHost, groups, rootDir] = env.stdout.trim().split("\n");
    expect(dockerHost).toBe(withDocker.dockerHost);
    expect(groups.split(" ")).toContain("docker");
    expect(rootDir).toBe(RIG.dataRoot);

    // What the docker provider does over ssh://: an HTTP exchange through `docker system dial-stdio`.
    const viaDial = await run(
      "ssh",
      ["-i", withDocker.privateKeyPath, "-p", String(withDocker.port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", `${withDocker.user}@127.0.0.1`, "docker system dial-stdio"],
      { input: "GET /info HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n", timeoutMs: 60_000 },
    );
    expect(viaDial.stdout).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(viaDial.stdout).toContain(`"DockerRootDir":"${RIG.dataRoot}"`);
  });

  it("passes the docker-access and gpu-container readiness checks for that user", async () => {
    const access = await withDocker.ssh(renderDockerAccessCheck());
    expect(access.code, access.stderr).toBe(0);
    expect(access.stdout).toMatch(/^docker-access: ok, user hgxtest reaches Docker /);
    const gpus = await withDocker.ssh(renderGpuContainerCheck({ count: 8, model: "B200", probeImage: withDocker.gpuProbeImage }));
    expect(gpus.code, gpus.stderr).toBe(0);
    expect(gpus.stdout).toMatch(/^gpu-container: ok, a container with --gpus all sees 8 x NVIDIA B200/);
  });

  it("refuses Docker to a user outside the docker group: the docker-access check fails with the fix", async () => {
    const access = await withoutDocker.ssh(renderDockerAccessCheck());
    expect(access.code).not.toBe(0);
    expect(access.stderr).toContain("docker-access: user hgxtest-nodocker cannot use Docker without sudo (permission denied on the Docker socket)");
    expect(access.stderr).toContain(RIG.socket);
  });

  it("adds no account to the machine: the users exist only inside each sshd's namespace", async () => {
    const login = await withDocker.ssh("id -un; echo $HOME; test -w $HOME && echo writable");
    const [user, home, writable] = login.stdout.trim().split("\n");
    expect([user, writable]).toEqual(["hgxtest", "writable"]);
    expect(home).toMatch(/^\/tmp\/hgx-ssh-host-[^/]+\/home\/hgxtest$/);
    // Other test runs on this machine may add their own users meanwhile: look for ours only.
    expect(fs.readFileSync("/etc/passwd", "utf8")).not.toContain(home);
    const rigGid = fs.statSync(RIG.socket).gid;
    expect(fs.readFileSync("/etc/group", "utf8").split("\n").filter((l) => l.split(":")[2] === String(rigGid))).toEqual([]);
  });
});
