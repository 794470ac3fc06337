/**
 * The local host provider: this machine's Docker engine (the `local` stack runs the SGLang simulator
 * there instead of GPUs). No machine to launch, no SSH, no keys of its own.
 */
import * as pulumi from "@pulumi/pulumi";
import type { LocalHostConnection } from "../connection";
import { localDockerHost } from "../dockerEndpoint";
import type { HostBuildCommon, HostFacts, HostProvider } from "../provider";

/** This machine's Docker engine (the `local` stack: a simulator instead of GPUs). */
export interface LocalHostArgs {
  /**
   * Docker endpoint.
   * @default DOCKER_HOST from the environment, else "unix:///var/run/docker.sock"
   */
  readonly dockerHost?: string;
}

/** The local engine has nothing to configure beyond the shared host keys (`gpuCount`, `hourlyPriceUsd`). */
export type LocalHostSettings = Readonly<Record<string, never>>;

function buildLocalHost(_name: string, args: LocalHostArgs, common: HostBuildCommon): HostFacts {
  const connection: LocalHostConnection = { kind: "local", dockerHost: args.dockerHost };
  return {
    connection,
    instanceId: pulumi.output("local"),
    ip: pulumi.output("127.0.0.1"),
    privateIp: pulumi.output(""),
    region: pulumi.output("local"),
    instanceType: pulumi.output("local"),
    hourlyPriceUsd: pulumi.output(common.hourlyPriceUsd ?? 0),
    sshUser: pulumi.output<string | undefined>(undefined),
    sshPort: pulumi.output<number | undefined>(undefined),
    privateKey: pulumi.output<string | undefined>(undefined),
    cacheMountPath: pulumi.output<string | undefined>(undefined),
    readinessTriggers: [],
  };
}

export const LOCAL_HOST: HostProvider<never, LocalHostSettings, LocalHostArgs> = {
  keys: {},
  parse: () => ({}),
  problems: () => [],
  // Checked against the default: the serving port must not take 22 even on this machine.
  sshPort: () => 22,
  bootWorkAtLaunch: false,
  grantDockerGroup: false,
  regionalPrivateNetwork: false,
  hasGpus: false,
  // The local engine is whatever the Docker CLI would reach (DOCKER_HOST, else the default socket); it has no GPUs to check.
  argsFor: (_settings, context) => ({ machine: { dockerHost: localDockerHost() }, hourlyPriceUsd: context.hourlyPriceUsd }),
  build: buildLocalHost,
};
