/**
 * `benchmark.plan` and the capacity result's provenance through the whole program (issue 23, items 2 and 3): the
 * local stack with two replicas behind the router, a capacity search (its output mocked: a known knee of 12) on one
 * worker alone and through the router, and `benchmarkPlan` for 36 users.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { type ProgramMocks, runProgram } from "./programMocks";
import type { CapacitySummary } from "../../../components/benchmark/capacity";
import type { StackPlan } from "../../../components/benchmark/stackPlan";

let mocks: ProgramMocks;
let program: Record<string, unknown>;

beforeAll(async () => {
  ({ mocks, program } = await runProgram({
    stack: "local",
    config: {
      replicas: "2",
      sglangApiKey: "sk-plan-UNIT-secret-0005",
      benchmarkScalingEfficiency: "true",
      benchmarkCapacity: '{"concurrencyRange": "1:64", "promptsPerConcurrency": 10}',
      benchmarkSlo: '{"ttft_p99_ms": 1000}',
      benchmarkPlan: '{"targetUsers": 36, "replicaPriceUsd": 10}',
    },
    secretKeys: ["sglangApiKey"],
  }));
});

const outputOf = <T>(o: unknown) => mocks.value(o as pulumi.Output<T>);

describe("benchmark.plan through the router", () => {
  it("plans from one worker's search with the measured scaling efficiency, at the configured price", async () => {
    const benchmark = program.benchmark as Record<string, unknown>;
    const efficiency = await outputOf<number>(benchmark.scalingEfficiency);
    const plan = await outputOf<StackPlan>(benchmark.plan);
    if ("problem" in plan) throw new Error(plan.problem);
    // Both mocked runs report the same throughput, so the router measured 0.5 of two workers: 36 ÷ (0.5 × 12) = 6.
    expect(efficiency).toBe(0.5);
    expect(plan).toMatchObject({ target: { users: 36 }, perReplicaCapacity: 12, scalingEfficiency: 0.5, scalingEfficiencySource: "measured", replicas: 6, hourlyCostUsd: 60 });
    expect(plan.basis).toMatch(/^one worker's capacity search, with the scaling efficiency measured through the router \(2 replicas\)/);
  });

  it("the capacity results carry what the stack knows of the server: image digest, flags hash, and the router only through it", async () => {
    const routed = await outputOf<CapacitySummary>((program.benchmark as Record<string, unknown>).capacity);
    const single = await outputOf<CapacitySummary>((program.replicas as { benchmark: Record<string, unknown> }[])[0].benchmark.capacity);
    const digest = await outputOf<string>(program.imageDigest);
    expect(routed.provenance).toMatchObject({ imageDigest: digest, serverFlagsHash: expect.stringMatching(/^[0-9a-f]{64}$/), router: { policy: "cache_aware", replicas: 2 } });
    expect(single.provenance).toMatchObject({ imageDigest: digest, serverFlagsHash: routed.provenance?.serverFlagsHash, router: null });
  });

  it("the worker measured alone exports no plan of its own (the router's is the stack's)", async () => {
    const single = (program.replicas as { benchmark: Record<string, unknown> }[])[0].benchmark;
    expect(await outputOf<StackPlan | undefined>(single.plan)).toBeUndefined();
    expect(mocks.resources.filter((r) => r.type === "hgx:benchmark:Benchmark").map((r) => r.name)).toEqual(["hgx", "router"]);
  });
});
