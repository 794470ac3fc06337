import * as pulumi from "@pulumi/pulumi";

/**
 * How the serving and benchmark layers reach the machine that runs the containers.
 * Produced by the host layer (`HgxHost`), consumed by everything downstream, so that the
 * same serving component runs on a Lambda instance, an existing SSH host or this machine.
 */
export type HostConnection = SshHostConnection | LocalHostConnection;

/** A host reached over SSH (a Lambda instance or an existing on-prem box). */
export interface SshHostConnection {
  readonly kind: "ssh";
  /** Address (IP or DNS name) the SSH client connects to. */
  readonly host: pulumi.Input<string>;
  /** SSH port. @default 22 */
  readonly port: pulumi.Input<number>;
  /** Login user; on Lambda's GPU Base image this is `ubuntu`. */
  readonly user: pulumi.Input<string>;
  /** Private key (OpenSSH or PEM). Always a Pulumi secret. */
  readonly privateKey: pulumi.Input<string>;
  /**
   * The host's public key (`ssh-ed25519 <base64> [comment]`), pinned by every connection: the
   * command provider's `hostKey` and the Docker provider's known_hosts. Not a secret. The host
   * layer resolves it only after the pre-flight check (HostKeyCheck) saw the host present it.
   */
  readonly hostKey: pulumi.Input<string>;
}

/** This machine: commands run locally and Docker is the local engine (the `local` stack). */
export interface LocalHostConnection {
  readonly kind: "local";
  /** Docker endpoint. @default DOCKER_HOST from the environment, else "unix:///var/run/docker.sock" */
  readonly dockerHost?: string;
}

/** Arguments for `command.remote.Command`'s `connection` from an SSH host connection. */
export function remoteConnectionArgs(conn: SshHostConnection) {
  return {
    host: conn.host,
    port: conn.port,
    user: conn.user,
    privateKey: conn.privateKey,
    // Pinned: the provider refuses any other key (x/crypto/ssh FixedHostKey).
    hostKey: conn.hostKey,
    // The provider retries every dial error, a host-key mismatch too. Waiting for a fresh instance's
    // SSH is the pre-flight HostKeyCheck's job (it fails a wrong key at once, naming the host), so
    // a few dials cover a restarting sshd without turning a mismatch into minutes of retries.
    dialErrorLimit: 10,
    perDialTimeout: 15,
  };
}

/**
 * How a bash script runs on a host through the command provider: the script goes in on stdin and
 * the command line stays this short constant, so a failing step's error shows what failed (its
 * output), not a 2-3 KB script quoted three times; the first stdin line — a secret such as the HF
 * token or the API key, base64-framed by `frameSecretStdin`, or empty — is handed on to the
 * script's own stdin, where its prologue decodes it (`bashReadSecretLine` in shell.ts).
 */
export const STDIN_SCRIPT_COMMAND = `bash -c 'IFS= read -r first; script=$(cat); printf "%s\\n" "$first" | bash -c "$script"'`;

/**
 * The stdin `STDIN_SCRIPT_COMMAND` reads: the secret base64-encoded on the first line, then the
 * script. Base64 has no line break, so a value with one (a token pasted over two lines) can never
 * end the first line early and have its rest run as the script, nor land in the inner `bash -c`'s
 * argv (`ps`). An empty secret is an empty line.
 */
export function frameSecretStdin(secret: string, script: string): string {
  return `${Buffer.from(secret, "utf8").toString("base64")}\n${script}`;
}

/**
 * `create` and `stdin` for a script run by `STDIN_SCRIPT_COMMAND`. With a secret first line the
 * whole stdin is a Pulumi secret (the script with it); without one the script stays readable in state.
 */
export function stdinScript(
  script: pulumi.Input<string>,
  secretFirstLine?: pulumi.Input<string>,
): { readonly create: string; readonly stdin: pulumi.Output<string> } {
  const stdin = pulumi.all([script, secretFirstLine ?? ""]).apply(([s, first]) => frameSecretStdin(first, s));
  return { create: STDIN_SCRIPT_COMMAND, stdin: secretFirstLine === undefined ? stdin : pulumi.secret(stdin) };
}
