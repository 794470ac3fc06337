/**
 * Startup timeline of the serving layer, assembled from timestamps the scripts print
 * (`TIMELINE <event> <iso>` lines) and from resource outputs. Plain data so a report can show
 * where a cold boot spent its time.
 */

/** Phases, in order (the boot phases only appear when the host ran boot work, see BOOT_PHASES). */
export const TIMELINE_PHASES = ["hostReady", "imagePulled", "weightsPresent", "containerHealthy", "ready"] as const;
/** Phases of a host launched with boot work (components/host/bootWork.ts): they begin before Pulumi connects. */
export const BOOT_PHASES = ["boot", "bootImagePull", "bootWeights", "bootWait"] as const;
export type TimelinePhaseName = (typeof TIMELINE_PHASES)[number] | (typeof BOOT_PHASES)[number];

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
  boot: "from the boot work's start on the host (cloud-init, first boot) until the host layer's readiness time: the instance boot, `active`, SSH and the host checks",
  bootImagePull: "the image pull cloud-init started at first boot (`docker pull` of the pinned image), on the host's clock",
  bootWeights: "the weights download cloud-init started at first boot (the same script and marker as weightsPresent, without a token), on the host's clock",
  bootWait: "the serving layer's wait for boot work still running, from host ready until nothing was left to wait for",
  hostReady: "host layer's readiness time (SSH, Docker and GPUs usable); end only",
  imagePulled: "SGLang image present on the host: from host ready (or the end of the boot wait) to the pull finishing (marker taken right after the pull resource completed)",
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
  /** stdout of the boot wait (renderBootWaitScript): the boot work's TIMELINE lines and its own. */
  readonly bootWaitLog?: string;
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

/** Pure: the five phases in order, preceded by the boot phases when the host ran boot work. */
export function buildTimeline(src: TimelineSources): TimelinePhase[] {
  const hostReady = asIsoTime(src.hostReadyAt);
  const pulled = asIsoTime(src.imagePulledAt?.trim());
  const weights = parseTimelineMarkers(src.weightsLog);
  const gate = parseTimelineMarkers(src.gateLog);
  const boot = parseTimelineMarkers(src.bootWaitLog);
  const bootPhases =
    boot.boot_start === undefined
      ? []
      : [
          phase("boot", boot.boot_start, hostReady),
          phase("bootImagePull", boot.boot_pull_start, boot.boot_pull_done),
          phase("bootWeights", boot.boot_weights_start, boot.boot_weights_done),
          phase("bootWait", boot.boot_wait_start, boot.boot_wait_done),
        ];
  return [
    ...bootPhases,
    phase("hostReady", undefined, hostReady),
    // After boot work the stack's own pull starts when the wait ended.
    phase("imagePulled", boot.boot_wait_done ?? hostReady, pulled),
    phase("weightsPresent", weights.weights_start, weights.weights_done),
    phase("containerHealthy", gate.container_started, gate.health_ok),
    phase("ready", gate.health_ok, gate.ready),
  ];
}

/** The longest chain of a deploy's startup and what the stack added to it. */
export interface CriticalPath {
  /** Phases on the longest chain, in order. */
  readonly phases: readonly TimelinePhaseName[];
  /** From the boot work's start (else host ready) to ready, on the host's clock. */
  readonly totalSeconds: number;
  /** Sum of the chain's phase durations: the time the deploy had to wait for. */
  readonly phaseSeconds: number;
  /**
   * `totalSeconds - phaseSeconds`: gaps between one phase ending and the next starting — time the
   * stack itself added (scheduling, provider start-up, polling granularity).
   */
  readonly stackAddedSeconds: number;
}

type Timed = TimelinePhase & { seconds: number };
const timed = (p: TimelinePhase | undefined): p is Timed => p?.seconds !== undefined;

/**
 * Pure: the longest chain into the container start, then container healthy → ready. The chains are
 * the fetches the stack ran after the host was ready (after `boot` when the host booted with boot work,
 * else after the `hostReady` instant), the fetches boot work ran from first boot, and the boot itself:
 * so with boot work the path is max(boot, pull, download) + load; without, max(pull, download) + load.
 * Undefined when a phase on it has no times (e.g. a stack output from before a phase was recorded).
 */
export function criticalPath(timeline: readonly TimelinePhase[]): CriticalPath | undefined {
  const byName = new Map(timeline.map((p) => [p.phase, p]));
  const hostReadyAt = byName.get("hostReady")?.end;
  const readyAt = byName.get("ready")?.end;
  const healthy = byName.get("containerHealthy");
  const ready = byName.get("ready");
  if (hostReadyAt === undefined || readyAt === undefined || !timed(healthy) || !timed(ready)) return undefined;
  const boot = byName.get("boot");
  const head: Timed[] = timed(boot) ? [boot] : [];
  const chains: Timed[][] = [
    ...[byName.get("imagePulled"), byName.get("weightsPresent")].filter(timed).map((f) => [...head, f]),
    ...[byName.get("bootImagePull"), byName.get("bootWeights")].filter(timed).map((f) => [f]),
    head,
  ];
  const sum = (c: readonly Timed[]) => c.reduce((n, p) => n + p.seconds, 0);
  // Longest first; on a tie the earlier-listed chain (the stack's own fetch) is named.
  const longest = chains.reduce((best, c) => (sum(c) > sum(best) ? c : best), chains[0]);
  const names = longest.map((p) => p.phase);
  const phases: TimelinePhaseName[] = [...(timed(boot) ? [] : ["hostReady" as const]), ...names, "containerHealthy", "ready"];
  const origin = timed(boot) && boot.start !== undefined ? boot.start : hostReadyAt;
  const totalSeconds = Math.round((Date.parse(readyAt) - Date.parse(origin)) / 1000);
  const phaseSeconds = sum(longest) + healthy.seconds + ready.seconds;
  return { phases, totalSeconds, phaseSeconds, stackAddedSeconds: totalSeconds - phaseSeconds };
}
