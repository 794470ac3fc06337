/**
 * The lambda host provider: a Lambda Cloud instance launched for the stack (see ../lambdaMachine.ts),
 * its host key pinned from the key pair this stack generated for it.
 */
import * as pulumi from "@pulumi/pulumi";
import { LambdaMachine, type LambdaMachineArgs } from "../lambdaMachine";
import { HostKeyCheck } from "../hostKeyCheck";
import { parseHostPublicKey, type HostKeyPin } from "../hostKey";
import type { GpuExpectation } from "../readiness";
import type { HostArgsContext, HostBuildCommon, HostFacts, HostProvider } from "../provider";
import { gpuCountOfInstanceType, LAMBDA_HOST_KEYS, lambdaProblems, parseLambdaSettings, type LambdaHostKey, type LambdaSettings } from "./config";
import { instanceTypeGpus } from "./names";
import { PROJECT } from "../../projectFacts";

/** GPUs implied by a Lambda instance type name (`gpu_<N>x_<model>[_<variant>...]`). */
export function gpuExpectationFromInstanceType(instanceType: string): GpuExpectation | undefined {
  const gpus = instanceTypeGpus(instanceType);
  return gpus && { count: gpus.count, model: gpus.model.toUpperCase() };
}

/** The router host's private address as the serving-port rule's source; without one there is no private path to admit. */
export function routerSourceCidr(privateIp: string): string {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(privateIp))
    throw new Error(`the router's host has no private address from the Lambda API (private_ip ${JSON.stringify(privateIp)}), so no worker can admit it off the internet. Fix: pulumi refresh (re-reads the instance), then pulumi up`);
  return `${privateIp}/32`;
}

/** Whole seconds as the machine's duration strings (`"2700s"`). */
function seconds(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}

/** The machine settings every lambda host of the stack shares (workers and the router's own host). */
function lambdaMachineArgs(l: LambdaSettings, context: HostArgsContext): LambdaMachineArgs {
  return {
    regions: l.regions,
    instanceType: l.instanceType,
    imageFamily: l.imageFamily,
    sshPublicKey: l.sshPublicKey,
    sshPrivateKey: l.sshPrivateKey.present ? l.sshPrivateKey.value : undefined,
    firewallAllowlist: l.firewallAllowlist,
    sshSourceCidrs: l.sshAllowlist,
    icmpSourceCidrs: l.icmpAllowlist,
    servingPort: context.servingPort,
    ttl: l.ttlMs === undefined ? "0" : seconds(l.ttlMs),
    waitTimeout: seconds(l.bootTimeoutMs),
    maxHourlyPriceUsd: l.maxHourlyPriceUsd,
    // Production stacks are always protected (see parseLambdaSettings): never reaped, never destroyed by accident.
    protect: l.protect,
    pinnedRegionPolicy: l.pinnedRegionPolicy,
    pinnedRegionWait: seconds(l.pinnedRegionWaitMs),
    stackId: l.stackId,
    apiBaseUrl: l.apiUrl,
    apiKeyConfigKey: `${context.project}:lambdaApiKey`,
    tags: { project: context.project, stack: context.stack },
    sshPort: l.sshPort,
  };
}

/** One worker's instance: the shared machine settings plus its cache filesystem, ports and boot work. */
function workerArgs(l: LambdaSettings, context: HostArgsContext): LambdaMachineArgs {
  return {
    ...lambdaMachineArgs(l, context),
    filesystemName: l.filesystemName,
    retainFilesystemOnDelete: l.retainFilesystem,
    ...(context.extraPorts ? { extraPorts: context.extraPorts } : {}),
    ...(context.routerHostIp !== undefined ? { servingSources: [pulumi.output(context.routerHostIp).apply(routerSourceCidr)] } : {}),
    ...(context.cloudInitParts ? { cloudInitParts: context.cloudInitParts } : {}),
  };
}

/** The launched instance, its host-key check and the facts `HgxHost` exports. */
function buildLambdaHost(name: string, args: LambdaMachineArgs, common: HostBuildCommon, parent: pulumi.Resource): HostFacts {
  const machine = new LambdaMachine(`${name}-machine`, args, { parent });
  const pin = machine.hostPublicKey.apply((k): HostKeyPin => {
    const key = parseHostPublicKey(k);
    if ("problem" in key) throw new pulumi.ResourceError(`generated host key ${key.problem}`, parent, true);
    return { kind: "key", key };
  });
  const check = new HostKeyCheck(
    `${name}-host-key`,
    {
      host: machine.ip,
      port: machine.sshPort,
      pin,
      pinSource: "the host key this stack generated for the instance and delivered through cloud-init user_data",
      limits: common.hostKeyScan,
      triggers: [machine.instanceId],
    },
    { parent },
  );
  return {
    connection: { ...machine.connection, hostKey: check.hostKey },
    instanceId: machine.instanceId,
    ip: machine.ip,
    privateIp: machine.privateIp,
    region: machine.region,
    instanceType: machine.instanceType,
    hourlyPriceUsd: machine.hourlyPriceUsd,
    sshUser: machine.sshUser,
    sshPort: machine.sshPort,
    privateKey: pulumi.secret(machine.privateKey),
    cacheMountPath: pulumi.output(machine.cacheMountPath),
    readinessTriggers: [machine.instanceId],
    // A worker behind a router on another host is ready once the firewall admits that host too.
    admitted: machine.servingAdmitted,
    machine,
  };
}

export const LAMBDA_HOST: HostProvider<LambdaHostKey, LambdaSettings, LambdaMachineArgs> = {
  keys: LAMBDA_HOST_KEYS,
  parse: parseLambdaSettings,
  problems: lambdaProblems,
  gpuCount: (l) => gpuCountOfInstanceType(l.instanceType) ?? 0,
  // Launched instances listen on 22 for the checks' purposes (`lambdaSshPort` only moves an emulator's test hosts).
  sshPort: () => 22,
  cacheMountPath: (l) => (l.filesystemName ? `/lambda/nfs/${l.filesystemName}` : undefined),
  servingAllowlist: (l) => l.firewallAllowlist,
  crossRegion: (l) => l.regions.length > 1,
  bootWorkAtLaunch: true,
  // Lambda's GPU Base image may need the docker group granted to `ubuntu`.
  regionalPrivateNetwork: true,
  hasGpus: true,
  grantDockerGroup: true,
  argsFor: (l, context) => {
    // The GPUs are read from the instance type (config refuses a name that encodes none).
    const gpus = gpuExpectationFromInstanceType(l.instanceType);
    return { machine: workerArgs(l, context), gpus: gpus && { ...gpus, probeImage: context.gpus.probeImage } };
  },
  routerHostProblems: (_l, routerInstanceType) =>
    gpuCountOfInstanceType(routerInstanceType) === undefined
      ? [{ key: "routerInstanceType", message: `= "${routerInstanceType}" is not a Lambda instance type name. Fix: pulumi config set ${PROJECT}:routerInstanceType gpu_1x_a10 (the form gpu_<N>x_<model>)` }]
      : [],
  // Its own host needs no GPU check and no cache filesystem; its firewall opens the router's ports.
  routerHostArgs: (l, context) => ({ ...lambdaMachineArgs(l, context), instanceType: context.routerInstanceType, extraPorts: context.extraPorts }),
  defaultGpus: (args) => (typeof args.instanceType === "string" ? gpuExpectationFromInstanceType(args.instanceType) : undefined),
  validate: (name, args) => {
    if (!args) throw new Error(`HgxHost ${name}: mode "lambda" needs the \`lambda\` machine settings (instance type, regions, API key...)`);
  },
  build: buildLambdaHost,
};
