/**
 * Pulumi mocks for the Benchmark component tests: records every resource, answers command
 * resources with a stdout (a vllm result JSON by default), refuses unmocked calls. Call
 * `installBenchmarkMocks` in `beforeAll`, then import the component with `await import`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as PulumiModule from "@pulumi/pulumi";
import { seedResultForCommand } from "../../fixtures/benchmark/results";

export const seedResultJson = fs.readFileSync(path.join(__dirname, "../../fixtures/benchmark/vllm-seed-result.json"), "utf8");

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

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
  const recorded: RecordedResource[] = [];
  const stdoutByName = new Map<string, string>();
  pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        recorded.push({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> });
        const isCommand = args.type === "command:remote:Command" || args.type === "command:local:Command";
        return {
          id: `${args.name}-id`,
          state: { ...args.inputs, ...(isCommand ? { stdout: stdoutByName.get(args.name) ?? seedResultForCommand(args.inputs.create), stderr: "" } : {}) },
        };
      },
      call: (args) => {
        throw new Error(`unexpected call to ${args.token}`);
      },
    },
    "hgx-test",
    stack,
    false,
  );
  return {
    pulumi,
    recorded,
    stdoutByName,
    byName(name) {
      const r = recorded.find((x) => x.name === name);
      if (!r) throw new Error(`no resource named ${name}; got ${recorded.map((x) => `${x.type}/${x.name}`).join(", ")}`);
      return r;
    },
    isRpcSecret(v): v is { value: unknown } {
      return typeof v === "object" && v !== null && (v as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
    },
  };
}

/** Resolves an Output, or rejects when an apply in its chain threw (which `apply` cannot observe). */
export function settle<T>(o: PulumiModule.Output<T>): Promise<T> {
  return (o as unknown as { promise(): Promise<T> }).promise();
}
