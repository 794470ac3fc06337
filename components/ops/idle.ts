/**
 * Idle teardown from real traffic (issue #22 item 1), the decision only: plain data in, a verdict with its reason and
 * evidence out, so every rule is unit-tested on an injected clock. The I/O (reading /metrics over the pinned SSH
 * connection, keeping the record, destroying through the engine) is the CLI's (scripts/idle.ts, idleCli.ts).
 *
 * Signals, from the pinned releases (names checked in the 0.5.14 wheel and the router 0.3.2 binary by
 * test/unit/conformance/releaseTexts.test.ts):
 * - activity counters: SGLang's `sglang:num_requests_total` (srt/observability/metrics_collector.py:1514, counted when
 *   a request finishes), `sglang:prompt_tokens_total` / `sglang:generation_tokens_total` (:1429, :1434), and the
 *   router's `smg_router_requests_total`. A counter that moved, or went down (the server restarted), is activity.
 * - in flight: `sglang:num_running_reqs`, `sglang:num_queue_reqs` (:268, :274), the router's
 *   `smg_worker_requests_active`. Any of them above 0 is activity now.
 * Health probes are not counted: the router's `smg_http_requests_total` counts them, so it is not read.
 *
 * Rules, in order (the first that applies decides): off -> keep; protected or production stack -> keep; metrics not
 * read -> keep (never tear down blind); requests in flight -> keep; a counter moved -> keep; no earlier reading -> keep
 * (the idle clock starts now); idle for less than `idleTeardownAfter` -> keep; otherwise tear down.
 */
import { parsePrometheusText, sumMetric } from "./prometheusText";

/** Counters whose movement is activity. */
export const ACTIVITY_COUNTERS = ["sglang:num_requests_total", "sglang:prompt_tokens_total", "sglang:generation_tokens_total", "smg_router_requests_total"] as const;
/** Gauges whose positive value is a request in flight. */
export const IN_FLIGHT_GAUGES = ["sglang:num_running_reqs", "sglang:num_queue_reqs", "smg_worker_requests_active"] as const;

/** One endpoint's /metrics text (`source` names it: "router", "server", "server-1", ...). */
export interface MetricsScrape {
  readonly source: string;
  readonly text: string;
}

/** What one reading saw: per `source:metric`, counters' and gauges' sums over their labels. */
export interface ActivitySample {
  /** Epoch ms of the reading (the CLI's clock). */
  readonly atMs: number;
  readonly counters: Readonly<Record<string, number>>;
  readonly inFlight: Readonly<Record<string, number>>;
}

/** What the command keeps between runs (one per stack and backend). */
export interface ActivityRecord {
  readonly stack: string;
  readonly lastSample: ActivitySample;
  /** Last time activity was seen, or the first reading's time when none has been yet. */
  readonly lastActivityAtMs: number;
  /** Why `lastActivityAtMs` was set. */
  readonly lastActivityReason: string;
}

/** Pure: the scrapes of one reading -> a sample. Throws (naming the source) on text that is not Prometheus format. */
export function sampleFromScrapes(scrapes: readonly MetricsScrape[], atMs: number): ActivitySample {
  const counters: Record<string, number> = {};
  const inFlight: Record<string, number> = {};
  for (const { source, text } of scrapes) {
    let scrape;
    try {
      scrape = parsePrometheusText(text);
    } catch (error) {
      throw new Error(`${source} /metrics: ${(error as Error).message}`);
    }
    for (const name of ACTIVITY_COUNTERS) {
      const v = sumMetric(scrape, name);
      if (v !== undefined) counters[`${source}:${name}`] = v;
    }
    for (const name of IN_FLIGHT_GAUGES) {
      const v = sumMetric(scrape, name);
      if (v !== undefined) inFlight[`${source}:${name}`] = v;
    }
  }
  return { atMs, counters, inFlight };
}

export interface IdleInput {
  readonly stack: string;
  readonly nowMs: number;
  /** `idleTeardownAfter` in ms; undefined = off. */
  readonly idleAfterMs: number | undefined;
  /** The stack is protected (config) or a production stack: never torn down this way. */
  readonly protectedReason: string | undefined;
  /** This reading, or undefined when the metrics could not be read (`readError` says why). */
  readonly sample?: ActivitySample;
  readonly readError?: string;
  /** The record the previous run kept (another stack's record is ignored). */
  readonly previous: ActivityRecord | undefined;
}

export type IdleVerdict = "keep" | "teardown";

export interface IdleDecision {
  readonly verdict: IdleVerdict;
  readonly reason: string;
  /** The figures behind the verdict, one line each. */
  readonly evidence: readonly string[];
  /** Milliseconds since the last activity (undefined when nothing could be read). */
  readonly idleForMs?: number;
  /** What to keep for the next run (undefined: keep the previous one unchanged). */
  readonly record?: ActivityRecord;
}

/** "1 h 05 min", "12 min 30 s", "45 s". */
export function formatIdle(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${s} s`;
}

/** The activity a new sample shows against the previous one: in-flight gauges above 0, counters that moved or reset. */
export function activityIn(sample: ActivitySample, previous: ActivitySample | undefined): string[] {
  const seen: string[] = [];
  for (const [key, value] of Object.entries(sample.inFlight)) if (value > 0) seen.push(`${key} = ${value} in flight`);
  if (previous === undefined) return seen;
  for (const [key, value] of Object.entries(sample.counters)) {
    const before = previous.counters[key];
    if (before === undefined) continue;
    if (value > before) seen.push(`${key} ${before} -> ${value}`);
    if (value < before) seen.push(`${key} went down ${before} -> ${value} (server restarted)`);
  }
  return seen;
}

function sampleEvidence(sample: ActivitySample): string[] {
  return [
    ...Object.entries(sample.counters).map(([k, v]) => `${k} = ${v}`),
    ...Object.entries(sample.inFlight).map(([k, v]) => `${k} = ${v}`),
  ];
}

/** Keys the previous reading had and this one lacks: an endpoint not read, so the comparison is incomplete. */
function missingKeys(sample: ActivitySample, previous: ActivitySample): string[] {
  return Object.keys(previous.counters).filter((k) => !(k in sample.counters));
}

/** Pure: the verdict for one run. Requests in flight and recent activity always win over the timer. */
export function decideIdle(input: IdleInput): IdleDecision {
  const previous = input.previous?.stack === input.stack ? input.previous : undefined;
  if (input.idleAfterMs === undefined) return { verdict: "keep", reason: "idleTeardownAfter is not set (idle teardown is off for this stack)", evidence: [] };
  if (input.protectedReason !== undefined) return { verdict: "keep", reason: `never torn down by idleness: ${input.protectedReason}`, evidence: [] };
  const sample = input.sample;
  if (sample === undefined) {
    return { verdict: "keep", reason: `metrics could not be read, so idleness is not proven: ${input.readError ?? "no reading"}`, evidence: [] };
  }
  const evidence = sampleEvidence(sample);
  if (Object.keys(sample.counters).length === 0) {
    return { verdict: "keep", reason: `no request counter in the scrape (${ACTIVITY_COUNTERS.join(", ")}): is --enable-metrics on?`, evidence };
  }
  const activity = activityIn(sample, previous?.lastSample);
  if (activity.length > 0) {
    return { verdict: "keep", reason: `activity: ${activity[0]}`, evidence: [...activity, ...evidence], idleForMs: 0, record: { stack: input.stack, lastSample: sample, lastActivityAtMs: sample.atMs, lastActivityReason: activity.join("; ") } };
  }
  if (previous === undefined || sample.atMs < previous.lastSample.atMs) {
    const why = previous === undefined ? "first reading" : "the clock went back since the last reading";
    return { verdict: "keep", reason: `${why}: the idle clock starts now`, evidence, idleForMs: 0, record: { stack: input.stack, lastSample: sample, lastActivityAtMs: sample.atMs, lastActivityReason: why } };
  }
  const missing = missingKeys(sample, previous.lastSample);
  const record = { ...previous, lastSample: sample };
  if (missing.length > 0) return { verdict: "keep", reason: `this reading lacks ${missing.join(", ")}, which the last one had: activity cannot be ruled out`, evidence, record };
  const idleForMs = input.nowMs - previous.lastActivityAtMs;
  const since = `no request since ${new Date(previous.lastActivityAtMs).toISOString()} (${previous.lastActivityReason}): idle ${formatIdle(idleForMs)}`;
  const full = [since, ...evidence];
  if (idleForMs < input.idleAfterMs) {
    return { verdict: "keep", reason: `idle ${formatIdle(idleForMs)} of ${formatIdle(input.idleAfterMs)}; teardown in ${formatIdle(input.idleAfterMs - idleForMs)} if it stays silent`, evidence: full, idleForMs, record };
  }
  return { verdict: "teardown", reason: `idle ${formatIdle(idleForMs)} >= idleTeardownAfter ${formatIdle(input.idleAfterMs)}`, evidence: full, idleForMs, record };
}
