import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import {
  dockerSshDir,
  dockerSshFiles,
  dockerSshHost,
  dockerSshOpts,
  LOCAL_DOCKER_HOST,
  localDockerHost,
  removeDockerSshFilesCommand,
  writeDockerSshFiles,
} from "../../../components/host/dockerEndpoint";
import { TEST_HOST_PUBLIC_KEY } from "../../fixtures/hostKeys";

const cache = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-keyfile-test-"));
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

describe("the local docker endpoint", () => {
  it("is the engine the docker CLI reaches: DOCKER_HOST when set, else the default socket", () => {
    expect(localDockerHost({ DOCKER_HOST: "unix:///run/rig/docker.sock" })).toBe("unix:///run/rig/docker.sock");
    expect(localDockerHost({ DOCKER_HOST: "  " })).toBe(LOCAL_DOCKER_HOST);
    expect(localDockerHost({})).toBe("unix:///var/run/docker.sock");
  });
});

describe("docker endpoint over ssh", () => {
  const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAfake\n-----END OPENSSH PRIVATE KEY-----";
  const owner = { organization: "acme", project: "hgx-inference", stack: "dev" };

  it("keeps the files in a per-stack directory under the user's cache dir, not /tmp", () => {
    const dir = dockerSshDir(owner, { XDG_CACHE_HOME: cache }, "/home/u");
    expect(dir.startsWith(path.join(cache, "hgx-inference", "docker-ssh", "hgx-inference-dev-"))).toBe(true);
    expect(dockerSshDir(owner, {}, "/home/u")).toMatch(/^\/home\/u\/\.cache\/hgx-inference\/docker-ssh\/hgx-inference-dev-[0-9a-f]{16}$/);
    // Another organization's `dev`, or dev_1 vs dev-1, never shares the directory.
    expect(dockerSshDir({ ...owner, organization: "other" }, {}, "/h")).not.toBe(dockerSshDir(owner, {}, "/h"));
    expect(dockerSshDir({ ...owner, stack: "dev_1" }, {}, "/h")).not.toBe(dockerSshDir({ ...owner, stack: "dev-1" }, {}, "/h"));
    // A relative XDG_CACHE_HOME is ignored, as the XDG spec says.
    expect(dockerSshDir(owner, { XDG_CACHE_HOME: "rel" }, "/h").startsWith("/h/.cache/")).toBe(true);
  });

  it("writes key and known_hosts 0600 in a 0700 directory, idempotently, repairing permissions", () => {
    const files = dockerSshFiles(dockerSshDir(owner, { XDG_CACHE_HOME: cache }), "hgx");
    writeDockerSshFiles(files, key, `[127.0.0.1]:2222 ${TEST_HOST_PUBLIC_KEY}`);
    expect(fs.statSync(files.dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(files.keyFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(files.knownHostsFile).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(files.keyFile, "utf8")).toBe(`${key}\n`);
    expect(fs.readFileSync(files.knownHostsFile, "utf8")).toBe(`[127.0.0.1]:2222 ${TEST_HOST_PUBLIC_KEY}\n`);
    fs.chmodSync(files.dir, 0o755);
    fs.chmodSync(files.keyFile, 0o644);
    writeDockerSshFiles(files, key, `[127.0.0.1]:2222 ${TEST_HOST_PUBLIC_KEY}`);
    expect(fs.statSync(files.dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(files.keyFile).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(files.dir).sort()).toEqual(["hgx.key", "hgx.known_hosts"]);
  });

  it("the destroy command removes both files and the emptied directory", () => {
    const files = dockerSshFiles(dockerSshDir({ ...owner, stack: "gone" }, { XDG_CACHE_HOME: cache }), "hgx");
    writeDockerSshFiles(files, key, `127.0.0.1 ${TEST_HOST_PUBLIC_KEY}`);
    execFileSync("/bin/sh", ["-c", removeDockerSshFilesCommand(files)]);
    expect(fs.existsSync(files.dir)).toBe(false);
    // Idempotent: a second destroy (or one on a machine that never wrote them) succeeds.
    execFileSync("/bin/sh", ["-c", removeDockerSshFilesCommand(files)]);
  });

  it("refuses an empty key without echoing anything secret", () => {
    const files = dockerSshFiles(path.join(cache, "empty"), "hgx");
    expect(() => writeDockerSshFiles(files, "  ", "h k")).toThrow(/private key for the Docker provider is empty/);
  });

  it("host URL and ssh options pin the host key through the stack's own known_hosts file", () => {
    expect(dockerSshHost("ubuntu", "203.0.113.7", 22)).toBe("ssh://ubuntu@203.0.113.7:22");
    expect(dockerSshHost("ubuntu", "::1", 2222)).toBe("ssh://ubuntu@[::1]:2222");
    const opts = dockerSshOpts({ keyFile: "/c/k.key", knownHostsFile: "/c/k.known_hosts" });
    expect(opts.slice(0, 2)).toEqual(["-i", "/c/k.key"]);
    expect(opts).toContain("IdentitiesOnly=yes");
    expect(opts).toContain("StrictHostKeyChecking=yes");
    expect(opts).toContain("UserKnownHostsFile=/c/k.known_hosts");
    expect(opts).toContain("GlobalKnownHostsFile=/dev/null");
    expect(opts.join(" ")).not.toContain("StrictHostKeyChecking=no");
  });
});
