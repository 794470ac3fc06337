/**
 * Startup timeline of the serving layer, assembled from timestamps the scripts print
 * (`TIMELINE <event> <iso>` lines) and from resource outputs. Plain data so a report can show
 * where a cold boot spent its time.
 */

/** Phases, in order. */
export const TIMELINE_PHASES = ["hostReady", "imagePulled", "weightsPresent", "containerHealthy", "ready"] as const;
export type TimelinePhaseName = (typeof TIMELINE_PHASES)[number];

/** One phase; times are ISO-8601 UTC, `undefined` when the phase did not report one. */
export interface TimelinePhase {
  readonly phase: TimelinePhaseName;
  readonly start?: string;
  readonly end?: string;
  /** end - start in seconds, when both are known. */
  readonly seconds?: number;
  /** What the phase means and where its times come from. */
  readonly meaning: string;
}

/** What each phase means (documented once, carried into the output). */
export const TIMELINE_MEANINGS: Readonly<Record<TimelinePhaseName, string>> = {
  hostReady: "host layer's readiness time (SSH, Docker and GPUs usable); end only",
  imagePulled: "SGLang image present on the host: from host ready to the pull finishing (marker taken right after the pull resource completed)",
  weightsPresent: "weights in the HF cache: the download script's start and end (seconds when the cache was already complete)",
  containerHealthy: "server container started (docker State.StartedAt) until the readiness gate first saw /health 200 (weight load + CUDA graphs + warm-up)",
  ready: "from /health 200 until /v1/models listed the served name and a chat completion succeeded",
};

/** `TIMELINE <event> <iso>` lines -> event -> iso (last one wins). */
export function parseTimelineMarkers(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (text ?? "").split(/\r?\n/)) {
    const m = /^TIMELINE ([a-z_]+) (\S+)\s*$/.exec(line.trim());
    if (m && !Number.isNaN(Date.parse(m[2]))) out[m[1]] = new Date(m[2]).toISOString();
  }
  return out;
}

/** An ISO time if `value` parses as one, else undefined (hostReady may be any dependency string). */
export function asIsoTime(value: string | undefined): string | undefined {
  if (value === undefined || !/^\d{4}-\d{2}-\d{2}T/.test(value)) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/** Sources for `buildTimeline`. */
export interface TimelineSources {
  readonly hostReadyAt?: string;
  /** stdout of the image-pulled marker (a single ISO time). */
  readonly imagePulledAt?: string;
  /** stdout of the weights download script. */
  readonly weightsLog?: string;
  /** stdout of the readiness gate. */
  readonly gateLog?: string;
}

function phase(name: TimelinePhaseName, start: string | undefined, end: string | undefined): TimelinePhase {
  const seconds = start !== undefined && end !== undefined ? Math.round((Date.parse(end) - Date.parse(start)) / 1000) : undefined;
  return {
    phase: name,
    ...(start !== undefined ? { start } : {}),
    ...(end !== undefined ? { end } : {}),
    ...(seconds !== undefined ? { seconds } : {}),
    meaning: TIMELINE_MEANINGS[name],
  };
}

/** Pure: the five phases in order. */
export function buildTimeline(src: TimelineSources): TimelinePhase[] {
  const hostReady = asIsoTime(src.hostReadyAt);
  const pulled = asIsoTime(src.imagePulledAt?.trim());
  const weights = parseTimelineMarkers(src.weightsLog);
  const gate = parseTimelineMarkers(src.gateLog);
  return [
    phase("hostReady", undefined, hostReady),
    phase("imagePulled", hostReady, pulled),
    phase("weightsPresent", weights.weights_start, weights.weights_done),
    phase("containerHealthy", gate.container_started, gate.health_ok),
    phase("ready", gate.health_ok, gate.ready),
  ];
}

/** The longest chain of a deploy's startup and what the stack added to it. */
export interface CriticalPath {
  /** Phases on the longest chain, in order (the slower of the image pull and the weights download). */
  readonly phases: readonly TimelinePhaseName[];
  /** From host ready to ready, on the host's clock. */
  readonly totalSeconds: number;
  /** Sum of the chain's phase durations: the time the deploy had to wait for. */
  readonly phaseSeconds: number;
  /**
   * `totalSeconds - phaseSeconds`: gaps between one phase ending and the next starting — time the
   * stack itself added (scheduling, provider start-up, polling granularity).
   */
  readonly stackAddedSeconds: number;
}

/**
 * Pure: the critical path host ready → max(image pull, weights) → container healthy → ready.
 * Undefined when a phase on it has no times (e.g. a stack output from before a phase was recorded).
 */
export function criticalPath(timeline: readonly TimelinePhase[]): CriticalPath | undefined {
  const byName = new Map(timeline.map((p) => [p.phase, p]));
  const hostReadyAt = byName.get("hostReady")?.end;
  const readyAt = byName.get("ready")?.end;
  const pull = byName.get("imagePulled");
  const weights = byName.get("weightsPresent");
  const healthy = byName.get("containerHealthy");
  const ready = byName.get("ready");
  if (hostReadyAt === undefined || readyAt === undefined || healthy?.seconds === undefined || ready?.seconds === undefined) return undefined;
  // The slower of the two parallel fetches gates the container; a missing one did not run.
  const fetches = [pull, weights].filter((p): p is TimelinePhase & { seconds: number } => p?.seconds !== undefined);
  const slowest = fetches.sort((a, b) => (b.end ?? "").localeCompare(a.end ?? ""))[0];
  const phases: TimelinePhaseName[] = ["hostReady", ...(slowest ? [slowest.phase] : []), "containerHealthy", "ready"];
  const totalSeconds = Math.round((Date.parse(readyAt) - Date.parse(hostReadyAt)) / 1000);
  const phaseSeconds = (slowest?.seconds ?? 0) + healthy.seconds + ready.seconds;
  return { phases, totalSeconds, phaseSeconds, stackAddedSeconds: totalSeconds - phaseSeconds };
}
