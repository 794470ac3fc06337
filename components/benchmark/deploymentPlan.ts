/**
 * From "how many users does one replica hold" to "what do I deploy for my traffic": given a target (concurrent users,
 * or requests per second) and the measured capacity curve under the SLOs, the replicas needed, what they cost per
 * hour, what a million tokens cost at that operating point, and the headroom left.
 *
 * The model, stated so the figures can be checked by hand:
 * - one replica holds `C` = the search's answer (max concurrency meeting the SLOs; for a rate target, the request
 *   rate it sustains there: the answer of a rate search, or the request throughput at the concurrency answer);
 * - `R` replicas behind the router hold `R × e × C`, where `e` is the scaling efficiency a router run measured
 *   (`benchmark.scalingEfficiency` = routed throughput ÷ (replicas × one worker's)); without one, e = 1, said so;
 * - replicas = ⌈target ÷ (e × C)⌉; headroom = R × e × C ÷ target − 1;
 * - the operating point: each replica carries target ÷ (R × e) in one-replica terms; its throughput there is read off
 *   the measured curve (linear between measured levels that met the SLOs, through 0 below the first), and the fleet's
 *   is R × e × that (for a rate target: target × tokens per request at the answer);
 * - $/h = price per replica-hour × R; $/1M tokens = $/h × 10⁶ ÷ (fleet tokens/s × 3600).
 * Pure: the CLI (`bench:capacity --target-users N`) and, later, a stack output call it the same way.
 */
import type { CapacitySummary, CapacitySummaryPoint } from "./capacity";

export type PlanTarget = { readonly users: number } | { readonly requestsPerS: number };

export interface DeploymentPlanInput {
  /** The capacity search of one replica (the CLI's `capacity`, or the `benchmark.capacity` output). */
  readonly capacity: CapacitySummary;
  readonly target: PlanTarget;
  /** US dollars per replica-hour (Lambda's price_cents_per_hour / 100); 0 prices nothing. */
  readonly replicaHourlyPriceUsd: number;
  /** Measured scaling efficiency of a routed fleet, in (0, 1.5]; undefined assumes 1 (and says so). */
  readonly scalingEfficiency?: number;
}

export interface DeploymentPlan {
  /** What was asked: `{users}` concurrent, or `{requestsPerS}`. */
  readonly target: PlanTarget;
  /** The SLOs the capacity was measured under (command-line names). */
  readonly slo: Readonly<Record<string, number>>;
  /** One replica's capacity under the SLOs, in the target's unit. */
  readonly perReplicaCapacity: number;
  readonly unit: "concurrent users" | "req/s";
  readonly scalingEfficiency: number;
  readonly scalingEfficiencySource: "measured" | "assumed";
  readonly replicas: number;
  /** R × e × C, in the target's unit. */
  readonly fleetCapacity: number;
  /** fleetCapacity ÷ target − 1: the share of the target the fleet can absorb beyond it (0 = exactly at the knee). */
  readonly headroom: number;
  /** The load each replica carries, in one-replica terms (≤ perReplicaCapacity). */
  readonly perReplicaLoad: number;
  /** The fleet's throughput at the target. */
  readonly outputTokPerS: number;
  readonly totalTokPerS: number;
  readonly replicaHourlyPriceUsd: number;
  /** Price per replica-hour × replicas. */
  readonly hourlyCostUsd: number;
  /** At the operating point; null when the fleet produces nothing (no price makes sense). */
  readonly costPerMillionOutputTokens: number | null;
  readonly costPerMillionTotalTokens: number | null;
  /** Assumptions and bounds a reader must know. */
  readonly notes: readonly string[];
}

function positive(name: string, v: number, fix: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a number > 0, got ${JSON.stringify(v)}. Fix: ${fix}`);
  return v;
}

/** y at x on the polyline through (0, 0) and the points (sorted by x); the last segment's slope beyond the end. */
export function interpolate(points: readonly { readonly x: number; readonly y: number }[], x: number): number {
  const pts = [{ x: 0, y: 0 }, ...[...points].sort((a, b) => a.x - b.x)];
  for (let i = 1; i < pts.length; i += 1) {
    const a = pts[i - 1];
    const b = pts[i];
    if (x <= b.x) return b.x === a.x ? b.y : a.y + ((b.y - a.y) * (x - a.x)) / (b.x - a.x);
  }
  return pts[pts.length - 1].y;
}

const BOUND_WHY: Partial<Record<CapacitySummary["stop"], string>> = {
  "range-high-met": "the top of the searched range still met the SLOs",
  "time-cap": "the time cap stopped the search",
  interrupted: "the search was interrupted",
};

/** The fleet's efficiency factor and the notes on where it came from; throws on a price or efficiency out of range. */
function planAssumptions(input: DeploymentPlanInput): { price: number; e: number; measured: boolean; notes: string[] } {
  const c = input.capacity;
  const notes: string[] = [];
  if (c.slo === null) throw new Error("a deployment plan needs a capacity search under SLOs; this one only swept levels. Fix: run bench:capacity with --slo ttft_p99_ms=… (and itl_p99_ms=…).");
  const price = input.replicaHourlyPriceUsd;
  if (typeof price !== "number" || !Number.isFinite(price) || price < 0) {
    throw new Error(`the price per replica-hour must be a number of dollars ≥ 0, got ${JSON.stringify(price)}. Fix: e.g. --replica-price-usd 39.92.`);
  }
  const measured = input.scalingEfficiency !== undefined;
  const e = measured ? positive("the scaling efficiency", input.scalingEfficiency as number, "pass benchmark.scalingEfficiency from a router run (routed ÷ replicas × one worker's), e.g. 0.92.") : 1;
  if (e > 1.5) throw new Error(`the scaling efficiency must be at most 1.5, got ${e}. Fix: it is routed throughput ÷ (replicas × one worker's), about 0.8–1.`);
  if (!measured) notes.push("Scaling efficiency assumed 1 (replicas add capacity linearly): no router run measured it. Measure it with benchmarkScalingEfficiency and pass --scaling-efficiency.");
  else if (e > 1) notes.push(`Scaling efficiency ${e} > 1: the fleet measured more than replicas × one worker (prefix-cache hits through the router, or noise).`);
  if (c.stop !== "resolved" && BOUND_WHY[c.stop] !== undefined) {
    notes.push(`The per-replica capacity is a lower bound (${BOUND_WHY[c.stop]}): the plan may have more replicas than needed.`);
  }
  if (c.nonMonotone) notes.push("A level above the first miss met the SLOs again (noise or a non-monotone server): the capacity is the conservative answer below the miss.");
  return { price, e, measured, notes };
}

/** Where the fleet runs for a target: replicas, the load each carries, and the fleet's throughput there. */
interface OperatingPoint {
  readonly perReplica: number;
  readonly unit: DeploymentPlan["unit"];
  readonly target: number;
  readonly replicas: number;
  readonly perReplicaLoad: number;
  readonly outputTokPerS: number;
  readonly totalTokPerS: number;
}

function replicasFor(target: number, e: number, perReplica: number): number {
  return Math.max(1, Math.ceil(target / (e * perReplica) - 1e-9));
}

/** A concurrent-users target: capacity and throughput read off the concurrency curve. */
function usersOperatingPoint(c: CapacitySummary, users: number, e: number): OperatingPoint {
  const target = positive("--target-users", users, "e.g. --target-users 100 (concurrent users, each with one request in flight).");
  if (c.axis !== "concurrency") throw new Error("--target-users needs a concurrency search (this one searched the request rate). Fix: use --target-rate, or search with --concurrency-range.");
  if (c.maxConcurrency === null) {
    throw new Error("no level met the SLOs: one replica holds no users at these SLOs, so no number of replicas does. Fix: relax the SLOs or search lower (--concurrency-range 1:…).");
  }
  const perReplica = c.maxConcurrency;
  const replicas = replicasFor(target, e, perReplica);
  const perReplicaLoad = target / (replicas * e);
  // Throughput at the load each replica carries, from the levels that met the SLOs up to the answer.
  const curve = c.points.filter((p) => p.meetsSlo && p.concurrency <= perReplica);
  const at = (f: (p: CapacitySummaryPoint) => number) => interpolate(curve.map((p) => ({ x: p.concurrency, y: f(p) })), perReplicaLoad);
  return {
    perReplica,
    unit: "concurrent users",
    target,
    replicas,
    perReplicaLoad,
    outputTokPerS: replicas * e * at((p) => p.outputTokPerS),
    totalTokPerS: replicas * e * at((p) => p.totalTokPerS),
  };
}

/** A request-rate target: the rate one replica sustains (a rate search's answer, or the throughput at the concurrency answer). */
function rateOperatingPoint(c: CapacitySummary, requestsPerS: number, e: number, notes: string[]): OperatingPoint {
  const target = positive("--target-rate", requestsPerS, "e.g. --target-rate 20 (requests per second).");
  const passing = c.points.filter((p) => p.meetsSlo);
  let perReplica: number;
  let knee: CapacitySummaryPoint | undefined;
  if (c.axis === "requestRate") {
    if (c.maxRequestRate === null) throw new Error("no request rate met the SLOs: no number of replicas does. Fix: relax the SLOs or search lower rates.");
    perReplica = c.maxRequestRate;
    knee = passing.find((p) => p.requestRate === c.maxRequestRate);
  } else {
    if (c.maxConcurrency === null) throw new Error("no level met the SLOs: one replica sustains no rate at these SLOs, so no number of replicas does. Fix: relax the SLOs or search lower (--concurrency-range 1:…).");
    knee = passing.find((p) => p.concurrency === c.maxConcurrency);
    if (knee === undefined) throw new Error(`the answer's point (concurrency ${c.maxConcurrency}) is not among the measured points. Fix: re-run the search; the result is inconsistent.`);
    perReplica = knee.requestsPerS;
    notes.push(
      `Rate capacity per replica = the request throughput at the concurrency answer (${perReplica.toFixed(2)} req/s, closed loop). Open-loop (Poisson) arrivals queue more at the same mean rate: a --request-rate-range search answers the rate directly.`,
    );
  }
  if (knee === undefined || !(knee.completed > 0)) throw new Error("the answer's point has no completed requests to take tokens per request from. Fix: re-run the search.");
  const replicas = replicasFor(target, e, perReplica);
  // At a given request rate the fleet serves exactly that many requests' tokens per second.
  return {
    perReplica,
    unit: "req/s",
    target,
    replicas,
    perReplicaLoad: target / (replicas * e),
    outputTokPerS: target * (knee.outputTokens / knee.completed),
    totalTokPerS: target * ((knee.inputTokens + knee.outputTokens) / knee.completed),
  };
}

/** The plan; throws naming what is missing (no SLOs, no level met them, a target the search cannot answer). */
export function deploymentPlan(input: DeploymentPlanInput): DeploymentPlan {
  const { price, e, measured, notes } = planAssumptions(input);
  const c = input.capacity;
  const op = "users" in input.target ? usersOperatingPoint(c, input.target.users, e) : rateOperatingPoint(c, input.target.requestsPerS, e, notes);
  const { replicas, perReplica, target } = op;
  const fleetCapacity = replicas * e * perReplica;
  const headroom = fleetCapacity / target - 1;
  if (headroom < 0.1) {
    const withOneMore = ((replicas + 1) * e * perReplica) / target - 1;
    notes.push(`Headroom ${(headroom * 100).toFixed(0)}%: the fleet runs at its SLO knee at the target, and a burst above it misses the SLOs (${replicas + 1} replicas give ${(withOneMore * 100).toFixed(0)}%).`);
  }
  if (price === 0) notes.push("No price per replica-hour given: the $ figures are 0. Fix: --replica-price-usd (or --hourly-price-usd).");
  const hourlyCostUsd = price * replicas;
  const perMillion = (tps: number) => (tps > 0 && Number.isFinite(tps) ? (hourlyCostUsd * 1_000_000) / (tps * 3600) : null);
  return {
    target: input.target,
    slo: c.slo ?? {},
    perReplicaCapacity: perReplica,
    unit: op.unit,
    scalingEfficiency: e,
    scalingEfficiencySource: measured ? "measured" : "assumed",
    replicas,
    fleetCapacity,
    headroom,
    perReplicaLoad: op.perReplicaLoad,
    outputTokPerS: op.outputTokPerS,
    totalTokPerS: op.totalTokPerS,
    replicaHourlyPriceUsd: price,
    hourlyCostUsd,
    costPerMillionOutputTokens: perMillion(op.outputTokPerS),
    costPerMillionTotalTokens: perMillion(op.totalTokPerS),
    notes,
  };
}

/** The plan as lines a reader can check against the model above. */
export function formatDeploymentPlan(p: DeploymentPlan): string {
  const f = (v: number, d = 1) => (Number.isInteger(v) ? String(v) : v.toFixed(d));
  const usd = (v: number | null) => (v === null ? "n/a" : `$${v < 1 ? v.toFixed(4) : v.toFixed(2)}`);
  const target = "users" in p.target ? `${p.target.users} concurrent users` : `${p.target.requestsPerS} req/s`;
  const slo = Object.entries(p.slo).map(([k, v]) => `${k} ≤ ${v}`).join(", ");
  return [
    `deployment plan for ${target} under ${slo}:`,
    `  one replica holds ${f(p.perReplicaCapacity, 2)} ${p.unit}; scaling efficiency ${p.scalingEfficiency} (${p.scalingEfficiencySource})`,
    `  replicas: ${p.replicas} (fleet holds ${f(p.fleetCapacity, 2)} ${p.unit}; headroom ${(p.headroom * 100).toFixed(0)}%; each replica at ${f(p.perReplicaLoad, 2)} of ${f(p.perReplicaCapacity, 2)})`,
    `  throughput at the target: ${p.outputTokPerS.toFixed(1)} output tok/s, ${p.totalTokPerS.toFixed(1)} total tok/s`,
    `  cost: ${usd(p.hourlyCostUsd)}/h (${usd(p.replicaHourlyPriceUsd)} × ${p.replicas}); ${usd(p.costPerMillionOutputTokens)} per 1M output tokens, ${usd(p.costPerMillionTotalTokens)} per 1M total tokens`,
    ...p.notes.map((n) => `  note: ${n}`),
  ].join("\n");
}
