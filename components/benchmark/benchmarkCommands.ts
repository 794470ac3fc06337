/**
 * The `Benchmark` component's command resources: the fixed run (the pinned `vllm bench serve` container on the
 * host, or the native runner on the Pulumi machine) and the capacity search after it. The command texts come from
 * small pure builders here; the component only wires them.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { remoteConnectionArgs, stdinScript } from "../host/connection";
import { knownHostsLine, parseHostPublicKey } from "../host/hostKey";
import type { BenchmarkArgs, ResolvedBenchmarkSettings } from "./benchmarkSettings";
import { formatPlan, type CapacityPlan, type CapacitySummary } from "./capacity";
import { capacityKey, capacityPlanForStack, parseCapacityOutput, renderNativeCapacityCommand, type CapacitySettings, type NativeCapacityCommandOptions } from "./capacityCommand";
import { SSH_KEY_ENV, SSH_KNOWN_HOSTS_ENV } from "./capacityRemote";
import { capacityReportPaths, writeCapacityReport } from "./capacityReport";
import { validateHourlyPrice } from "./cost";
import { withServerProvenance } from "./provenance";
import { renderNativeBenchCommand } from "./nativeCommand";
import type { RemoteBenchCommandOptions } from "./remoteRunner";
import { renderRemoteBenchCommand } from "./remoteRunner";

/** What every command of one benchmark shares: its re-run triggers, the readiness signal and the (secret) API key. */
export interface BenchmarkCommandInputs {
  readonly triggers: pulumi.Input<string>[];
  /** An ordering signal: its value is consumed and never embedded. */
  readonly ready: pulumi.Output<string>;
  readonly apiKey: pulumi.Output<string> | undefined;
}

/** The remote runner's script settings for this model. */
export function remoteBenchOptions(s: ResolvedBenchmarkSettings, servedModelName: string, modelPath: string, apiKeyFromStdin: boolean): RemoteBenchCommandOptions {
  return {
    image: s.vllmImage,
    port: s.port,
    model: modelPath,
    ...(s.tokenizer === undefined ? {} : { tokenizer: s.tokenizer }),
    servedModelName,
    workload: s.workload,
    hfCacheDir: s.hfCacheDir,
    resultDir: s.remoteResultDir,
    timeoutSeconds: s.timeoutSeconds,
    apiKeyFromStdin,
    docker: s.docker,
  };
}

/** The fixed run on the host: the script on stdin behind a short command line; the key (if any) is its first stdin line. */
function createRemoteRun(name: string, args: BenchmarkArgs, s: ResolvedBenchmarkSettings, inputs: BenchmarkCommandInputs, parent: pulumi.Resource): command.remote.Command | command.local.Command {
  const script = pulumi
    .all([args.servedModelName, args.modelPath, inputs.ready])
    .apply(([servedModelName, modelPath]) => renderRemoteBenchCommand(remoteBenchOptions(s, servedModelName, modelPath, inputs.apiKey !== undefined)));
  const { create, stdin } = stdinScript(script, inputs.apiKey);
  const common = {
    create,
    stdin,
    triggers: inputs.triggers,
    // The container's console (progress, summary table) goes to stderr; stdout is the JSON only.
    logging: "stderr" as const,
    addPreviousOutputInEnv: false,
  };
  if (args.connection.kind === "ssh") {
    return new command.remote.Command(`${name}-run`, { connection: remoteConnectionArgs(args.connection), ...common, ...args.transform?.remoteCommand }, { parent });
  }
  return new command.local.Command(`${name}-run`, { ...common, ...args.transform?.localCommand }, { parent });
}

/** The fixed run with the native runner on the Pulumi machine; the key by environment only. */
function createNativeRun(name: string, args: BenchmarkArgs, s: ResolvedBenchmarkSettings, inputs: BenchmarkCommandInputs, parent: pulumi.Resource): command.local.Command {
  const baseUrl = args.baseUrl ?? `http://127.0.0.1:${s.port}`;
  const cli = pulumi.all([baseUrl, args.servedModelName, args.modelPath, inputs.ready]).apply(([url, servedModelName, modelPath]) =>
    renderNativeBenchCommandFor(s, url, servedModelName, modelPath),
  );
  return new command.local.Command(
    `${name}-run`,
    {
      create: cli,
      dir: s.repoDir,
      interpreter: ["/bin/sh", "-c"],
      triggers: inputs.triggers,
      logging: "stderr",
      addPreviousOutputInEnv: false,
      ...(inputs.apiKey === undefined ? {} : { environment: { OPENAI_API_KEY: inputs.apiKey } }),
      ...args.transform?.localCommand,
    },
    { parent },
  );
}

function renderNativeBenchCommandFor(s: ResolvedBenchmarkSettings, baseUrl: string, servedModelName: string, modelPath: string): string {
  return renderNativeBenchCommand({ baseUrl, servedModelName, model: modelPath, tokenizer: s.tokenizer ?? modelPath, workload: s.workload, timeoutSeconds: s.timeoutSeconds });
}

/** The fixed benchmark run (`${name}-run`), remote or native as the settings say. */
export function createRunCommand(name: string, args: BenchmarkArgs, s: ResolvedBenchmarkSettings, inputs: BenchmarkCommandInputs, parent: pulumi.Resource): command.remote.Command | command.local.Command {
  return s.runner === "remote" ? createRemoteRun(name, args, s, inputs, parent) : createNativeRun(name, args, s, inputs, parent);
}

/** Where the search reaches the server: the remote runner on the host's loopback (like the fixed remote run), the native one at baseUrl. */
export function capacityBaseUrl(s: Pick<ResolvedBenchmarkSettings, "runner" | "port">, baseUrl: pulumi.Input<string> | undefined): pulumi.Input<string> {
  return s.runner === "remote" ? `http://127.0.0.1:${s.port}` : (baseUrl ?? `http://127.0.0.1:${s.port}`);
}

/** The capacity CLI's settings; with the remote runner, how it reaches the host's docker (over SSH for an SSH host). */
export function capacityCommandOptions(
  s: ResolvedBenchmarkSettings,
  capacity: CapacitySettings,
  baseUrl: string,
  servedModelName: string,
  modelPath: string,
  ssh: { user: string; host: string; port: number } | undefined,
): NativeCapacityCommandOptions {
  return {
    baseUrl,
    servedModelName,
    model: modelPath,
    tokenizer: s.tokenizer ?? modelPath,
    workload: s.workload,
    capacity,
    levelTimeoutSeconds: s.timeoutSeconds,
    ...(s.runner === "remote" ? { remote: { ...(ssh ? { ssh } : {}), vllmImage: s.vllmImage, docker: s.docker, hfCacheDir: s.hfCacheDir, resultDir: s.remoteResultDir } } : {}),
  };
}

/** Secrets reach the capacity CLI by environment only (stored encrypted in state, never on its command line). */
function capacityEnvironment(args: BenchmarkArgs, s: ResolvedBenchmarkSettings, apiKey: pulumi.Output<string> | undefined, parent: pulumi.Resource): Record<string, pulumi.Input<string>> {
  const conn = args.connection;
  return {
    ...(apiKey === undefined ? {} : { OPENAI_API_KEY: apiKey }),
    ...(s.runner === "remote" && conn.kind === "ssh"
      ? {
          [SSH_KEY_ENV]: pulumi.secret(conn.privateKey),
          // The host key the providers pinned: the CLI's own ssh checks it strictly.
          [SSH_KNOWN_HOSTS_ENV]: pulumi.all([conn.hostKey, conn.host, conn.port]).apply(([hostKey, host, port]) => {
            const key = parseHostPublicKey(hostKey);
            if ("problem" in key) throw new pulumi.ResourceError(`the host's pinned key ${key.problem}`, parent, true);
            return knownHostsLine(host, port, key);
          }),
        }
      : {}),
  };
}

/** The capacity search's resources and outputs; all undefined without `capacity`. */
export interface CapacitySearchOutputs {
  readonly command: command.local.Command | undefined;
  readonly summary: pulumi.Output<CapacitySummary | undefined>;
  readonly plan: pulumi.Output<CapacityPlan | undefined>;
  readonly reportPath: pulumi.Output<string | undefined>;
}

export function noCapacitySearch(): CapacitySearchOutputs {
  return { command: undefined, summary: pulumi.output(undefined), plan: pulumi.output(undefined), reportPath: pulumi.output(undefined) };
}

/** Writes the capacity report (Markdown, SVG and PNG charts) and says in `pulumi up` where, and why any PNG is missing. */
function writeCapacityReportLogged(reportDir: string, stackName: string, capacity: CapacitySummary, resource: pulumi.Resource): void {
  const written = writeCapacityReport(reportDir, stackName, capacity);
  if (!written.png.written) pulumi.log.warn(`capacity report: no PNG charts: ${written.png.problem}`, resource);
  const markdown = capacityReportPaths(reportDir, stackName).markdown;
  const answer = capacity.axis === "concurrency" ? `max concurrency ${capacity.maxConcurrency ?? "none"}` : `max request rate ${capacity.maxRequestRate ?? "none"}/s (resolution ${capacity.resolution ?? "unknown"})`;
  pulumi.log.info(`capacity: ${answer} (${capacity.stop}), ${capacity.points.length} levels; report ${markdown}`, resource);
}

/**
 * The capacity search (`${name}-capacity`) after the fixed run, its plan (logged at preview), its parsed answer and
 * its report (written outside preview).
 */
export function createCapacitySearch(
  name: string,
  args: BenchmarkArgs,
  s: ResolvedBenchmarkSettings,
  capacity: CapacitySettings,
  inputs: BenchmarkCommandInputs & { readonly runCommand: pulumi.Resource; readonly stackName: string },
  parent: pulumi.Resource,
): CapacitySearchOutputs {
  const conn = args.connection;
  const ssh =
    s.runner === "remote" && conn.kind === "ssh" ? pulumi.all([conn.user, conn.host, conn.port]).apply(([user, host, port]) => ({ user, host, port })) : pulumi.output(undefined);
  const cli = pulumi
    .all([capacityBaseUrl(s, args.baseUrl), args.servedModelName, args.modelPath, ssh, inputs.ready])
    .apply(([url, servedModelName, modelPath, sshTarget]) => renderNativeCapacityCommand(capacityCommandOptions(s, capacity, url, servedModelName, modelPath, sshTarget)));
  const environment = capacityEnvironment(args, s, inputs.apiKey, parent);
  const capacityCommand = new command.local.Command(
    `${name}-capacity`,
    {
      create: cli,
      dir: s.repoDir,
      interpreter: ["/bin/sh", "-c"],
      triggers: [...inputs.triggers, capacityKey(capacity)],
      logging: "stderr",
      addPreviousOutputInEnv: false,
      ...(Object.keys(environment).length === 0 ? {} : { environment }),
      ...args.transform?.localCommand,
    },
    // After the fixed run: two load generators at once would measure each other.
    { parent, dependsOn: [inputs.runCommand] },
  );
  const plan = pulumi.output(args.hourlyPriceUsd).apply((price) => {
    const p = capacityPlanForStack(capacity, s.workload, validateHourlyPrice(price));
    if (pulumi.runtime.isDryRun()) pulumi.log.info(`capacity search ${formatPlan(p, price)}`, parent);
    return p;
  });
  const parsed = pulumi.all([capacityCommand.stdout, args.serverProvenance]).apply(([stdout, server]) => {
    let out: ReturnType<typeof parseCapacityOutput>;
    try {
      out = parseCapacityOutput(stdout);
    } catch (err) {
      throw new pulumi.ResourceError(`capacity result could not be read: ${(err as Error).message}`, parent);
    }
    // The image, flags and router the CLI cannot see, from the stack.
    return { ...out, capacity: { ...out.capacity, provenance: withServerProvenance(out.capacity.provenance, server) } };
  });
  const capacityPaths = capacityReportPaths(s.reportDir, inputs.stackName);
  const reportPath = parsed.apply((p) => {
    if (!pulumi.runtime.isDryRun()) writeCapacityReportLogged(s.reportDir, inputs.stackName, p.capacity, parent);
    return capacityPaths.markdown;
  });
  return { command: capacityCommand, summary: parsed.apply((p) => p.capacity), plan, reportPath };
}
