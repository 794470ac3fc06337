/**
 * The shared Pulumi mocks (test/fixtures/pulumiMocks.ts) set up for the Benchmark component tests: command
 * resources answer with a stdout (a vllm result JSON by default, or one set per name). Call
 * `installBenchmarkMocks` in `beforeAll`, then import the component with `await import`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as PulumiModule from "@pulumi/pulumi";
import { seedResultForCommand } from "../../fixtures/benchmark/results";
import { installPulumiMocks, type RecordedResource } from "../../fixtures/pulumiMocks";
import { TEST_HOST_PUBLIC_KEY } from "../../fixtures/hostKeys";
import type { BenchmarkArgs } from "../../../components/benchmark/benchmarkSettings";
import type { SshHostConnection } from "../../../components/host/connection";

export { localBenchmarkArgs } from "../../fixtures/benchmark/componentArgs";

export const seedResultJson = fs.readFileSync(path.join(__dirname, "../../fixtures/benchmark/vllm-seed-result.json"), "utf8");

export type { RecordedResource };

export interface BenchmarkMocks {
  pulumi: typeof PulumiModule;
  recorded: RecordedResource[];
  /** stdout the mocked command resources print, by resource name (default: the seed fixture). */
  stdoutByName: Map<string, string>;
  byName(name: string): RecordedResource;
  isRpcSecret(v: unknown): v is { value: unknown };
}

export async function installBenchmarkMocks(stack = "b200-test"): Promise<BenchmarkMocks> {
  const pulumi = await import("@pulumi/pulumi");
  const stdoutByName = new Map<string, string>();
  const isCommand = (type: string) => type === "command:remote:Command" || type === "command:local:Command";
  const mocks = await installPulumiMocks({
    project: "hgx-test",
    stack,
    outputs: (args) => (isCommand(args.type) ? { stdout: stdoutByName.get(args.name) ?? seedResultForCommand(args.inputs.create), stderr: "" } : {}),
  });
  return { pulumi, recorded: mocks.resources, stdoutByName, byName: mocks.byName, isRpcSecret: mocks.isRpcSecret };
}

/** Resolves an Output, or rejects when an apply in its chain threw (which `apply` cannot observe). */
export function settle<T>(o: PulumiModule.Output<T>): Promise<T> {
  return (o as unknown as { promise(): Promise<T> }).promise();
}

/** An SSH host as `HgxHost` hands it on: the private key a secret, the host key pinned. */
export function sshTestConnection(mocks: BenchmarkMocks, privateKey = "k"): SshHostConnection {
  return { kind: "ssh", host: "203.0.113.7", port: 22, user: "ubuntu", privateKey: mocks.pulumi.secret(privateKey), hostKey: TEST_HOST_PUBLIC_KEY };
}

/** The remote runner's usual arguments: an SSH host serving "qwen" (Qwen3.5-397B-A17B) at $10/h; `over` wins. */
export function sshBenchmarkArgs(mocks: BenchmarkMocks, over: Partial<BenchmarkArgs> = {}): BenchmarkArgs {
  return { connection: sshTestConnection(mocks), serverReady: "ok", servedModelName: "qwen", modelPath: "Qwen/Qwen3.5-397B-A17B", serverSpecHash: "h", hourlyPriceUsd: 10, ...over };
}
