/**
 * How the Docker provider reaches the engine on the host.
 *
 * Over SSH the provider runs the LOCAL `ssh` binary (`ssh://user@host:port` + `sshOpts`), so the
 * private key and the pinned host key must be FILES. They live in a private directory per stack
 * (0700, under the user's cache dir — `$XDG_CACHE_HOME` or `~/.cache` — never the shared /tmp),
 * named after the stack's identity, with a fixed file name per server, so the provider
 * configuration stored in state stays stable and `pulumi destroy` on the same machine finds them.
 * They are written only during an update (never in preview) and removed when the stack is
 * destroyed (SglangServer's `<name>-docker-ssh-files` command). The paths are not secret; the key
 * content never leaves the file and the Pulumi secret.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { shellQuote } from "../shell";

/** Default Docker endpoint of this machine. */
export const LOCAL_DOCKER_HOST = "unix:///var/run/docker.sock";

/** The engine the Docker CLI on this machine reaches: `DOCKER_HOST` when set, else the default socket. */
export function localDockerHost(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.DOCKER_HOST?.trim();
  return fromEnv ? fromEnv : LOCAL_DOCKER_HOST;
}

/** Who owns the files: the stack's organization, project and stack. */
export interface StackOwner {
  readonly organization: string;
  readonly project: string;
  readonly stack: string;
}

/**
 * The stack's private directory for SSH files (pure): `<cache>/hgx-inference/docker-ssh/<project>-<stack>-<hash>`,
 * the hash over organization/project/stack so two `dev` stacks of different organizations never share it.
 */
export function dockerSshDir(owner: StackOwner, env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): string {
  const cache = env.XDG_CACHE_HOME?.startsWith("/") ? env.XDG_CACHE_HOME : path.join(home, ".cache");
  const hash = crypto.createHash("sha256").update(JSON.stringify([owner.organization, owner.project, owner.stack])).digest("hex").slice(0, 16);
  const readable = `${owner.project}-${owner.stack}`.replace(/[^A-Za-z0-9._-]+/g, "-").slice(0, 64);
  return path.join(cache, "hgx-inference", "docker-ssh", `${readable}-${hash}`);
}

/** The two files of one server's Docker connection. */
export interface DockerSshFiles {
  readonly dir: string;
  readonly keyFile: string;
  readonly knownHostsFile: string;
}

/** File paths for the server `name` in `dir` (pure). */
export function dockerSshFiles(dir: string, name: string): DockerSshFiles {
  const base = name.replace(/[^A-Za-z0-9._-]+/g, "-");
  return { dir, keyFile: path.join(dir, `${base}.key`), knownHostsFile: path.join(dir, `${base}.known_hosts`) };
}

/** Writes `content` with mode 0600 through a private temp name (never a moment with wider permissions), unless identical. */
function writePrivateFile(file: string, content: string): void {
  let current: string | undefined;
  try {
    current = fs.readFileSync(file, "utf8");
  } catch {
    current = undefined;
  }
  if (current !== content) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, content, { mode: 0o600 });
    fs.renameSync(tmp, file);
  }
  fs.chmodSync(file, 0o600);
}

/**
 * Writes the key (trailing newline as OpenSSH requires) and the known_hosts line into the private
 * directory (created 0700, and made 0700 again if someone widened it). Call only outside preview.
 */
export function writeDockerSshFiles(files: DockerSshFiles, privateKey: string, knownHostsLine: string): void {
  if (privateKey.trim() === "") throw new Error("SSH private key for the Docker provider is empty; pass the host's private key (a Pulumi secret)");
  fs.mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(files.dir, 0o700);
  writePrivateFile(files.keyFile, privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`);
  writePrivateFile(files.knownHostsFile, `${knownHostsLine.trim()}\n`);
}

/** Shell command that removes the files, and the directory once empty (run at destroy). */
export function removeDockerSshFilesCommand(files: DockerSshFiles): string {
  return `rm -f ${shellQuote(files.keyFile)} ${shellQuote(files.knownHostsFile)}; rmdir ${shellQuote(files.dir)} 2>/dev/null; true`;
}

/** `ssh://user@host:port` for the Docker provider. */
export function dockerSshHost(user: string, host: string, port: number): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `ssh://${user}@${h}:${port}`;
}

/**
 * Options for the local ssh client: the key file, and the host key pinned through the stack's own
 * known_hosts file only (`StrictHostKeyChecking=yes`; the user's and the system's known_hosts
 * files play no part), so the provider refuses any host that cannot prove it holds that key.
 */
export function dockerSshOpts(files: Pick<DockerSshFiles, "keyFile" | "knownHostsFile">): string[] {
  return [
    "-i", files.keyFile,
    "-o", "IdentitiesOnly=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${files.knownHostsFile}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=15",
    "-o", "ServerAliveInterval=30",
  ];
}
