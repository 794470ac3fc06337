/**
 * Where a cold start's minutes go, read from the server's own log (issue #22 item 3): the SGLang container's
 * `docker logs --timestamps` output becomes boot phases (weights load, memory pool, CUDA-graph capture, FlashInfer
 * autotune, warm-up until "ready to roll") with start, end and duration on the host's clock.
 *
 * The message texts are the pinned release's (SGLang 0.5.14; `BOOT_LOG_SOURCES` names file and line of each, and
 * test/unit/conformance/releaseTexts.test.ts checks they still occur in the cached wheel). SGLang prints no line
 * saying whether a compile/JIT cache was hit (tvm-ffi's "Reused cached JIT module" is DEBUG level; DeepGEMM's
 * "Entering DeepGEMM JIT Pre-Compile session" and "Running FlashInfer autotune with cache" print on every start), so
 * a hit is told by the compile-cache marker (compileCache.ts) or by the simulator's own compile lines.
 *
 * With tensor parallelism every rank prints the same line (`[2026-12-07 23:30:01 TP3] Load weight begin. ...`): a
 * phase starts at its earliest start line over the ranks and ends at its latest end line, since the server waits for
 * the slowest rank. A phase whose lines are missing is left out (or has only a start while the boot is still running).
 */

import type { ReleaseSourceCitation } from "./releaseSource";

/** The phases the log tells, in boot order. */
export const BOOT_LOG_PHASES = ["compile", "weightsLoad", "memoryPool", "cudaGraphCapture", "flashinferAutotune", "warmup"] as const;
export type BootLogPhaseName = (typeof BOOT_LOG_PHASES)[number];

/** What each phase means and which lines bound it. */
export const BOOT_LOG_MEANINGS: Readonly<Record<BootLogPhaseName, string>> = {
  compile: "the simulator's modelled compile phase (its own 'compile cache hit/miss' lines); real SGLang compiles inside capture and warm-up",
  weightsLoad: "'Load weight begin' to 'Load weight end' (earliest begin, latest end over the ranks)",
  memoryPool: "'Load weight end' to 'Memory pool end': KV cache and memory pools sized and allocated",
  cudaGraphCapture: "first 'Capture ... CUDA graph begin' to last 'Capture ... CUDA graph end' (decode, prefill and draft captures)",
  flashinferAutotune: "'Running FlashInfer autotune' to 'FlashInfer autotune completed.' (cached under SGLANG_CACHE_DIR)",
  warmup: "from the last of memory pool end / capture end / autotune end to 'The server is fired up and ready to roll!' (HTTP server up, warm-up request)",
};

/** A recognised line kind. */
export type BootLogMarker =
  | "weightsBegin"
  | "weightsEnd"
  | "memoryPoolEnd"
  | "captureBegin"
  | "captureEnd"
  | "autotuneBegin"
  | "autotuneEnd"
  | "ready"
  | "compileHit"
  | "compileMiss"
  | "compileEnd";

/** Where a marker's text comes from in the pinned release, for the conformance check. */
export interface BootLogSource extends ReleaseSourceCitation {
  readonly marker: BootLogMarker;
}

/** The SGLang 0.5.14 sources of the markers (the simulator's compile markers have none: SGLang prints no such line). */
export const BOOT_LOG_SOURCES: readonly BootLogSource[] = [
  { marker: "weightsBegin", literal: "Load weight begin. ", file: "sglang/srt/model_executor/model_runner.py", line: 1339 },
  { marker: "weightsEnd", literal: "Load weight end. ", file: "sglang/srt/model_executor/model_runner.py", line: 1493 },
  { marker: "memoryPoolEnd", literal: "Memory pool end. ", file: "sglang/srt/model_executor/model_runner_kv_cache_mixin.py", line: 1091 },
  // Decode capture: `Capture {capture_name} {graph_backend[self.device]} begin.` with "CUDA graph" for cuda (line 2542).
  { marker: "captureBegin", literal: "Capture {capture_name} {graph_backend[self.device]} begin. ", file: "sglang/srt/model_executor/model_runner.py", line: 2563 },
  { marker: "captureEnd", literal: "Capture {capture_name} {graph_backend[self.device]} end. ", file: "sglang/srt/model_executor/model_runner.py", line: 2588 },
  // Prefill capture (init_prefill_cuda_graph) spells the backend out.
  { marker: "captureBegin", literal: "Capture {capture_name} CUDA graph begin. ", file: "sglang/srt/model_executor/model_runner.py", line: 2743 },
  { marker: "captureEnd", literal: "Capture {capture_name} CUDA graph end. ", file: "sglang/srt/model_executor/model_runner.py", line: 2753 },
  { marker: "autotuneBegin", literal: "Running FlashInfer autotune", file: "sglang/srt/model_executor/runner/base_runner.py", line: 340 },
  { marker: "autotuneEnd", literal: "FlashInfer autotune completed.", file: "sglang/srt/model_executor/runner/base_runner.py", line: 365 },
  { marker: "ready", literal: "The server is fired up and ready to roll!", file: "sglang/srt/entrypoints/http_server.py", line: 2145 },
];

/** Message patterns, matched against the text after SGLang's `[time prefix] `. */
const MARKER_PATTERNS: ReadonlyArray<readonly [BootLogMarker, RegExp]> = [
  ["weightsBegin", /^Load weight begin\./],
  ["weightsEnd", /^Load weight end\./],
  ["memoryPoolEnd", /^Memory pool end\./],
  // "target decode", "target prefill", "draft decode", ... and "CUDA graph" (also the NPU/CPU graph words).
  ["captureBegin", /^Capture (?:[\w-]+ )*(?:CUDA|cuda|NPU|CPU) graph begin\./],
  ["captureEnd", /^Capture (?:[\w-]+ )*(?:CUDA|cuda|NPU|CPU) graph end\./],
  ["autotuneBegin", /^Running FlashInfer autotune/],
  ["autotuneEnd", /^FlashInfer autotune completed\./],
  ["ready", /^The server is fired up and ready to roll!/],
  // The simulator's compile phase (test/fixtures/sglang-simulator/bootSequence.ts prints these).
  ["compileHit", /^simulator: compile cache hit\b/],
  ["compileMiss", /^simulator: compile cache miss\b/],
  ["compileEnd", /^simulator: compile end\b/],
];

/**
 * A `grep -E` pattern (POSIX ERE, no single quote: safe inside '...') that keeps only the marker lines of
 * `docker logs --timestamps`, for the host-side script that hands the boot log to the stack: the rest of the log
 * (SGLang prints its server_args, API key included, at start) never reaches Pulumi state.
 */
export const BOOT_LOG_GREP =
  "(Load weight (begin|end)\\.|Memory pool end\\.|Capture [a-z -]*(CUDA|cuda|NPU|CPU) graph (begin|end)\\.|Running FlashInfer autotune|FlashInfer autotune completed\\.|The server is fired up and ready to roll!|simulator: compile (cache hit|cache miss|end))";

/** One recognised line. */
export interface BootLogEvent {
  readonly marker: BootLogMarker;
  /** Host clock, epoch milliseconds. */
  readonly atMs: number;
  /** SGLang's rank prefix ("TP3", "DP0 TP3", "" for a single-rank or non-scheduler process). */
  readonly rank: string;
  /** The message after the prefix, for the evidence. */
  readonly message: string;
}

/** Docker's `--timestamps` prefix: RFC 3339 with up to nanoseconds. */
const DOCKER_STAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})\s(.*)$/;
/**
 * SGLang's logging prefix: `[%(asctime)s[.ms] DP0 TP3] ` (sglang/srt/utils/common.py:1369 configure_logger; the
 * rank words from scheduler.py:4133-4145). The simulator's `[2026-12-07 23:30:01] ` is the rank-less case.
 */
const SGLANG_PREFIX = /^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d{3}))?((?: [A-Z_]+\d+)*)\] (.*)$/;

/** Splits docker's timestamp off a line: [epoch ms, rest], or undefined when the line carries none. */
export function splitDockerStamp(line: string): [number, string] | undefined {
  const m = DOCKER_STAMP.exec(line);
  if (!m) return undefined;
  const ms = (m[2] ?? "").padEnd(3, "0").slice(0, 3);
  const at = Date.parse(`${m[1]}.${ms}${m[3]}`);
  return Number.isNaN(at) ? undefined : [at, m[4]];
}

/**
 * One line -> event, or undefined when it is none of the boot markers. The host's clock is docker's timestamp; a
 * line without one falls back to SGLang's own asctime read as UTC (the container's default zone; whole seconds).
 */
export function parseBootLogLine(line: string): BootLogEvent | undefined {
  const stamped = splitDockerStamp(line.replace(/\r$/, ""));
  const body = stamped ? stamped[1] : line.replace(/\r$/, "");
  const prefixed = SGLANG_PREFIX.exec(body);
  const message = prefixed ? prefixed[4] : body;
  const marker = MARKER_PATTERNS.find(([, re]) => re.test(message))?.[0];
  if (marker === undefined) return undefined;
  let atMs = stamped?.[0];
  if (atMs === undefined && prefixed) atMs = Date.parse(`${prefixed[1].replace(" ", "T")}.${prefixed[2] ?? "000"}Z`);
  if (atMs === undefined || Number.isNaN(atMs)) return undefined;
  return { marker, atMs, rank: prefixed ? prefixed[3].trim() : "", message };
}

/** A boot phase on the host's clock. */
export interface BootLogPhase {
  readonly phase: BootLogPhaseName;
  /** ISO-8601 UTC. */
  readonly start?: string;
  readonly end?: string;
  /** end - start in seconds (millisecond precision), when both are known. */
  readonly seconds?: number;
  /** Ranks whose lines bound the phase ("" = no rank prefix), sorted. */
  readonly ranks: readonly string[];
  readonly meaning: string;
}

/** The phases and what else the log told. */
export interface BootLogSummary {
  readonly phases: readonly BootLogPhase[];
  /** When the server logged "ready to roll" (ISO), if it did. */
  readonly readyAt?: string;
  /** From the simulator's compile lines: true = hit, false = miss, undefined = no such line (real SGLang). */
  readonly compileCacheHit?: boolean;
}

function first(events: readonly BootLogEvent[], marker: BootLogMarker): number | undefined {
  const times = events.filter((e) => e.marker === marker).map((e) => e.atMs);
  return times.length === 0 ? undefined : Math.min(...times);
}

function last(events: readonly BootLogEvent[], marker: BootLogMarker): number | undefined {
  const times = events.filter((e) => e.marker === marker).map((e) => e.atMs);
  return times.length === 0 ? undefined : Math.max(...times);
}

function latestOf(...times: Array<number | undefined>): number | undefined {
  const known = times.filter((t): t is number => t !== undefined);
  return known.length === 0 ? undefined : Math.max(...known);
}

/** A phase from its bounds; an end before the start (ranks' lines of two boots mixed) is dropped, not made negative. */
function phaseOf(name: BootLogPhaseName, startMs: number | undefined, endMs: number | undefined, events: readonly BootLogEvent[], markers: readonly BootLogMarker[]): BootLogPhase | undefined {
  // No start line (the phase did not run, or its start scrolled out of a --tail): an end alone says nothing of the duration.
  if (startMs === undefined) return undefined;
  const validEnd = endMs !== undefined && endMs >= startMs ? endMs : undefined;
  const ranks = [...new Set(events.filter((e) => markers.includes(e.marker)).map((e) => e.rank))].sort();
  return {
    phase: name,
    start: new Date(startMs).toISOString(),
    ...(validEnd !== undefined ? { end: new Date(validEnd).toISOString(), seconds: (validEnd - startMs) / 1000 } : {}),
    ranks,
    meaning: BOOT_LOG_MEANINGS[name],
  };
}

/** Pure: the recognised events of a log, in time order. */
export function bootLogEvents(logText: string): BootLogEvent[] {
  const events: BootLogEvent[] = [];
  for (const line of logText.split("\n")) {
    const event = parseBootLogLine(line);
    if (event) events.push(event);
  }
  return events.sort((a, b) => a.atMs - b.atMs);
}

/**
 * The events of the last boot: `docker logs` of a container that restarted holds every boot, and a phase must not
 * span two. A boot starts at a "Load weight begin" that follows any later-phase line (TP ranks begin together).
 */
export function lastBoot(events: readonly BootLogEvent[]): BootLogEvent[] {
  let start = 0;
  let pastLoadBegin = false;
  events.forEach((e, i) => {
    if (e.marker === "weightsBegin" && pastLoadBegin) {
      start = i;
      pastLoadBegin = false;
    } else if (e.marker !== "weightsBegin") pastLoadBegin = true;
  });
  return events.slice(start);
}

/** Pure: `docker logs --timestamps` text -> the last boot's phases in start order, each present only when its lines are. */
export function summarizeBootLog(logText: string): BootLogSummary {
  const ev = lastBoot(bootLogEvents(logText));
  const compileStart = first(ev, "compileMiss") ?? first(ev, "compileHit");
  const compileEnd = first(ev, "compileMiss") !== undefined ? last(ev, "compileEnd") : first(ev, "compileHit");
  const weightsEnd = last(ev, "weightsEnd");
  const poolEnd = last(ev, "memoryPoolEnd");
  const captureEnd = last(ev, "captureEnd");
  const autotuneEnd = last(ev, "autotuneEnd");
  const ready = first(ev, "ready");
  const candidates = [
    phaseOf("compile", compileStart, compileEnd, ev, ["compileHit", "compileMiss", "compileEnd"]),
    phaseOf("weightsLoad", first(ev, "weightsBegin"), weightsEnd, ev, ["weightsBegin", "weightsEnd"]),
    phaseOf("memoryPool", first(ev, "weightsEnd"), poolEnd, ev, ["memoryPoolEnd"]),
    phaseOf("cudaGraphCapture", first(ev, "captureBegin"), captureEnd, ev, ["captureBegin", "captureEnd"]),
    phaseOf("flashinferAutotune", first(ev, "autotuneBegin"), autotuneEnd, ev, ["autotuneBegin", "autotuneEnd"]),
    phaseOf("warmup", latestOf(poolEnd, captureEnd, autotuneEnd), ready, ev, ["ready"]),
  ];
  const hit = first(ev, "compileHit") !== undefined ? true : first(ev, "compileMiss") !== undefined ? false : undefined;
  return {
    // In the order they started (the simulator compiles after the memory pool; ties keep BOOT_LOG_PHASES' order).
    phases: candidates.filter((p): p is BootLogPhase => p !== undefined).sort((a, b) => Date.parse(a.start ?? "") - Date.parse(b.start ?? "")),
    ...(ready !== undefined ? { readyAt: new Date(ready).toISOString() } : {}),
    ...(hit !== undefined ? { compileCacheHit: hit } : {}),
  };
}
