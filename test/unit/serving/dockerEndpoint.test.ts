import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dockerSshHost, dockerSshOpts, LOCAL_DOCKER_HOST, localDockerHost, privateKeyFilePath, writePrivateKeyFile } from "../../../components/serving/dockerEndpoint";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-keyfile-test-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("the local docker endpoint", () => {
  it("is the engine the docker CLI reaches: DOCKER_HOST when set, else the default socket", () => {
    expect(localDockerHost({ DOCKER_HOST: "unix:///run/rig/docker.sock" })).toBe("unix:///run/rig/docker.sock");
    expect(localDockerHost({ DOCKER_HOST: "  " })).toBe(LOCAL_DOCKER_HOST);
    expect(localDockerHost({})).toBe("unix:///var/run/docker.sock");
  });
});

describe("docker endpoint over ssh", () => {
  const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAfake\n-----END OPENSSH PRIVATE KEY-----";

  it("writes the key to a 0600 file named by its hash, with a trailing newline", () => {
    const file = writePrivateKeyFile(key, dir);
    expect(file).toBe(privateKeyFilePath(key, dir));
    expect(path.basename(file)).toMatch(/^hgx-docker-ssh-[0-9a-f]{16}\.key$/);
    expect(path.basename(file)).not.toContain("AAAAfake");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, "utf8")).toBe(`${key}\n`);
  });

  it("is idempotent and repairs permissions; different keys get different files", () => {
    const file = writePrivateKeyFile(key, dir);
    fs.chmodSync(file, 0o644);
    expect(writePrivateKeyFile(key, dir)).toBe(file);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(writePrivateKeyFile(`${key}x`, dir)).not.toBe(file);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("refuses an empty key without echoing anything secret", () => {
    expect(() => writePrivateKeyFile("  ", dir)).toThrow(/private key for the Docker provider is empty/);
  });

  it("host URL and ssh options", () => {
    expect(dockerSshHost("ubuntu", "203.0.113.7", 22)).toBe("ssh://ubuntu@203.0.113.7:22");
    expect(dockerSshHost("ubuntu", "::1", 2222)).toBe("ssh://ubuntu@[::1]:2222");
    const opts = dockerSshOpts("/tmp/k.key");
    expect(opts.slice(0, 2)).toEqual(["-i", "/tmp/k.key"]);
    expect(opts).toContain("IdentitiesOnly=yes");
  });
});
