/**
 * Running things on a host once it is ready: a bash script (over SSH, or on this machine for the
 * local engine) and the Docker provider for the host's engine. The serving layer and the router
 * both start their containers and steps through these.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { type HostConnection, remoteConnectionArgs, stdinScript } from "./connection";
import { dockerSshDir, dockerSshFiles, dockerSshHost, dockerSshOpts, localDockerHost, removeDockerSshFilesCommand, writeDockerSshFiles } from "./dockerEndpoint";
import { knownHostsLine, parseHostPublicKey } from "./hostKey";
import { currentOrganization } from "./lambdaMachine";

/** Fields of a command child that `transform` may override. */
export type HostCommandTransform = Partial<
  Pick<command.local.CommandArgs, "create" | "update" | "delete" | "environment" | "stdin" | "triggers" | "logging" | "addPreviousOutputInEnv">
>;

/**
 * The Docker provider for a host's engine, reached once the host is ready (the router uses it too). Over SSH the
 * ssh binary needs FILES for the key and the pinned host key; the paths (not the key) are what the provider stores.
 * They are written only in an update, in the stack's private dir, and removed at destroy by the
 * `${name}-docker-ssh-files` command (deleted after the provider, which depends on it).
 */
export function hostDockerProvider(
  name: string,
  conn: HostConnection,
  hostReady: pulumi.Output<string>,
  parent: pulumi.Resource,
  transform?: Partial<docker.ProviderArgs>,
): docker.Provider {
  if (conn.kind !== "ssh") {
    return new docker.Provider(`${name}-docker-provider`, { host: hostReady.apply(() => conn.dockerHost ?? localDockerHost()), ...transform }, { parent });
  }
  const files = dockerSshFiles(dockerSshDir({ organization: currentOrganization(), project: pulumi.getProject(), stack: pulumi.getStack() }), name);
  const sshFilesCleanup = new command.local.Command(
    `${name}-docker-ssh-files`,
    { create: "true", delete: removeDockerSshFilesCommand(files), logging: "none" },
    { parent },
  );
  const sshOpts = pulumi.all([conn.privateKey, conn.hostKey, conn.host, conn.port]).apply(([privateKey, hostKey, host, port]) => {
    const key = parseHostPublicKey(hostKey);
    if ("problem" in key) throw new pulumi.ResourceError(`the host's pinned key ${key.problem}`, parent, true);
    if (!pulumi.runtime.isDryRun()) writeDockerSshFiles(files, privateKey, knownHostsLine(host, port, key));
    return dockerSshOpts(files);
  });
  return new docker.Provider(
    `${name}-docker-provider`,
    {
      host: pulumi.all([conn.user, conn.host, conn.port, hostReady]).apply(([u, h, p]) => dockerSshHost(u, h, p)),
      sshOpts: pulumi.unsecret(sshOpts),
      ...transform,
    },
    { parent, dependsOn: [sshFilesCleanup] },
  );
}

/** Runs a bash script on the host: remote.Command over SSH, local.Command here (the router's steps use it too). */
export function hostCommand(
  name: string,
  conn: HostConnection,
  hostReady: pulumi.Input<string>,
  args: {
    script: pulumi.Input<string>;
    /** First line of the script's stdin (a secret, e.g. the HF token or the API key); empty when absent. */
    secretLine: pulumi.Input<string>;
    triggers?: pulumi.Input<unknown>[];
    transform?: HostCommandTransform;
  },
  opts: pulumi.CustomResourceOptions,
): { resource: pulumi.CustomResource; stdout: pulumi.Output<string> } {
  // The same text runs under either provider; the script waits for the host through its input.
  const { create, stdin } = stdinScript(pulumi.all([args.script, hostReady]).apply(([s]) => s), args.secretLine);
  const common = {
    create,
    stdin,
    triggers: args.triggers,
    logging: "stdoutAndStderr" as const,
    addPreviousOutputInEnv: false,
    ...args.transform,
  };
  if (conn.kind === "ssh") {
    const c = new command.remote.Command(name, { ...common, connection: remoteConnectionArgs(conn) }, opts);
    return { resource: c, stdout: c.stdout };
  }
  const c = new command.local.Command(name, common, opts);
  return { resource: c, stdout: c.stdout };
}
