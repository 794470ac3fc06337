/**
 * `benchmark.plan`: the deployment plan (`deploymentPlan.ts`) as the stack makes it after its capacity search, from
 * `benchmarkPlan` (a target and, optionally, a price per replica-hour) and what the stack measured:
 * - one replica (no router): its own search is one replica's capacity; the price is its machine's live price;
 * - behind a router, with one worker measured alone (`benchmarkScalingEfficiency`): that worker's search is one
 *   replica's capacity, and the scaling efficiency the two runs measured is the fleet's;
 * - behind a router otherwise: the routed search divided by the replicas (its routing losses at that size included).
 * Pure; a plan that cannot be made (no level met the SLOs, a target the search cannot answer) is an output naming why,
 * not a failed update: the measurement itself succeeded.
 */
import type { CapacitySummary, CapacitySummaryPoint } from "./capacity";
import { deploymentPlan, type DeploymentPlan, type PlanTarget } from "./deploymentPlan";

/** What `benchmarkPlan` asks for. */
export interface PlanSettings {
  readonly target: PlanTarget;
  /** Dollars per replica-hour; undefined = the live price of one replica's machine. */
  readonly replicaPriceUsd?: number;
}

/** What a routed stack measured besides the routed search. */
export interface RoutedPlanFacts {
  readonly replicas: number;
  /** Routed throughput ÷ (replicas × one worker's), when one worker was measured alone. */
  readonly scalingEfficiency: number | undefined;
  /** That worker's own capacity search, when it ran one. */
  readonly singleCapacity: CapacitySummary | undefined;
}

/** The plan and what it was computed from, or why there is none. */
export type StackPlan = (DeploymentPlan & { readonly basis: string }) | { readonly problem: string };

const perReplica = (v: number, r: number) => v / r;

/** One replica's share of a routed search: every load and throughput figure ÷ replicas, latencies as measured. */
export function perReplicaSummary(s: CapacitySummary, replicas: number): CapacitySummary {
  if (!Number.isInteger(replicas) || replicas < 1) throw new Error(`replicas must be a whole number ≥ 1, got ${String(replicas)}`);
  const scaleNull = (v: number | null) => (v === null ? null : perReplica(v, replicas));
  const point = (p: CapacitySummaryPoint): CapacitySummaryPoint => ({
    ...p,
    concurrency: perReplica(p.concurrency, replicas),
    requestRate: p.requestRate === "inf" ? "inf" : perReplica(p.requestRate, replicas),
    completed: perReplica(p.completed, replicas),
    failed: perReplica(p.failed, replicas),
    inputTokens: perReplica(p.inputTokens, replicas),
    outputTokens: perReplica(p.outputTokens, replicas),
    requestsPerS: perReplica(p.requestsPerS, replicas),
    outputTokPerS: perReplica(p.outputTokPerS, replicas),
    totalTokPerS: perReplica(p.totalTokPerS, replicas),
    goodput: scaleNull(p.goodput),
  });
  return {
    ...s,
    maxConcurrency: scaleNull(s.maxConcurrency),
    maxRequestRate: scaleNull(s.maxRequestRate),
    firstMissing: scaleNull(s.firstMissing),
    atMax:
      s.atMax === null
        ? null
        : { ...s.atMax, outputTokPerS: perReplica(s.atMax.outputTokPerS, replicas), totalTokPerS: perReplica(s.atMax.totalTokPerS, replicas), goodput: scaleNull(s.atMax.goodput) },
    points: s.points.map(point),
    resolution: scaleNull(s.resolution),
  };
}

/** The stack's plan; `capacity` is this benchmark's search (undefined: none ran, which the config check refuses). */
export function stackDeploymentPlan(capacity: CapacitySummary | undefined, settings: PlanSettings, livePriceUsd: number, routed?: RoutedPlanFacts): StackPlan {
  const replicaHourlyPriceUsd = settings.replicaPriceUsd ?? livePriceUsd;
  const priceNote = settings.replicaPriceUsd === undefined ? "price per replica-hour: one replica's machine at its live price" : "price per replica-hour: benchmarkPlan.replicaPriceUsd";
  try {
    if (routed === undefined) {
      if (capacity === undefined) return { problem: "no capacity search ran. Fix: set benchmarkCapacity (and benchmarkSlo)." };
      return { ...deploymentPlan({ capacity, target: settings.target, replicaHourlyPriceUsd }), basis: `this replica's capacity search; ${priceNote}` };
    }
    if (routed.singleCapacity !== undefined && routed.scalingEfficiency !== undefined && routed.scalingEfficiency > 0) {
      return {
        ...deploymentPlan({ capacity: routed.singleCapacity, target: settings.target, replicaHourlyPriceUsd, scalingEfficiency: routed.scalingEfficiency }),
        basis: `one worker's capacity search, with the scaling efficiency measured through the router (${routed.replicas} replicas); ${priceNote}`,
      };
    }
    if (capacity === undefined) return { problem: "no capacity search ran through the router. Fix: set benchmarkCapacity (and benchmarkSlo)." };
    const plan = deploymentPlan({ capacity: perReplicaSummary(capacity, routed.replicas), target: settings.target, replicaHourlyPriceUsd });
    return {
      ...plan,
      notes: [
        `One replica's capacity = the routed search's ÷ ${routed.replicas} replicas (its routing losses at ${routed.replicas} included); measure one worker alone with benchmarkScalingEfficiency for a per-replica search and a measured efficiency.`,
        ...plan.notes.filter((n) => !n.startsWith("Scaling efficiency assumed 1")),
      ],
      basis: `the routed capacity search ÷ ${routed.replicas} replicas; ${priceNote}`,
    };
  } catch (e) {
    return { problem: (e as Error).message };
  }
}
