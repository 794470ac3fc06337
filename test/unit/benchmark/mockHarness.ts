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
