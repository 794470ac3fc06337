/**
 * How the Docker provider reaches the engine on the host.
 *
 * Over SSH the provider runs the LOCAL `ssh` binary (`ssh://user@host:port` + `sshOpts`), so the
 * private key must be a FILE: it is written under `os.tmpdir()` with mode 0600, named by a hash
 * of the key so the same key maps to the same path on every run (the provider configuration
 * stored in state then stays stable, and `pulumi destroy` on the same machine finds the file).
 * The path is not secret; the key content never leaves the file and the Pulumi secret.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Default Docker endpoint of this machine. */
export const LOCAL_DOCKER_HOST = "unix:///var/run/docker.sock";

/** The engine the Docker CLI on this machine reaches: `DOCKER_HOST` when set, else the default socket. */
export function localDockerHost(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.DOCKER_HOST?.trim();
  return fromEnv ? fromEnv : LOCAL_DOCKER_HOST;
}

/** The key file path for a key (pure: no I/O). */
export function privateKeyFilePath(privateKey: string, dir: string = os.tmpdir()): string {
  const digest = crypto.createHash("sha256").update(privateKey).digest("hex").slice(0, 16);
  return path.join(dir, `hgx-docker-ssh-${digest}.key`);
}

/**
 * Writes the key (0600, trailing newline as OpenSSH requires) unless an identical file exists,
 * and returns its path.
 */
export function writePrivateKeyFile(privateKey: string, dir: string = os.tmpdir()): string {
  if (privateKey.trim() === "") throw new Error("SSH private key for the Docker provider is empty; pass the host's private key (a Pulumi secret)");
  const file = privateKeyFilePath(privateKey, dir);
  const content = privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`;
  let current: string | undefined;
  try {
    current = fs.readFileSync(file, "utf8");
  } catch {
    current = undefined;
  }
  if (current !== content) {
    // Write to a private temp name then rename: never a moment with wider permissions.
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, content, { mode: 0o600 });
    fs.renameSync(tmp, file);
  }
  fs.chmodSync(file, 0o600);
  return file;
}

/** `ssh://user@host:port` for the Docker provider. */
export function dockerSshHost(user: string, host: string, port: number): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `ssh://${user}@${h}:${port}`;
}

/**
 * Options for the local ssh client. Host keys are not pinned (consistent with the command
 * provider's connection, which has no `hostKey` either): a fresh cloud instance has a new key.
 */
export function dockerSshOpts(keyFile: string): string[] {
  return [
    "-i", keyFile,
    "-o", "IdentitiesOnly=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=15",
    "-o", "ServerAliveInterval=30",
  ];
}
