/**
 * Where a `pulumi up` spent its time, from the engine's own event stream (`pulumi up --event-log`,
 * or the Automation API's `onEvent`): per resource step, the waits on outside conditions (a host
 * booting, an image pull, a download, the server's boot behind the readiness gate, the benchmark),
 * and the rest — the stack's own overhead: program start, provider start-up, engine bookkeeping,
 * short steps. Pure: events in, numbers out.
 *
 * Engine timestamps are whole seconds, so every figure is ±1 s.
 */

/** The fields of an engine event this analysis reads (a subset of `@pulumi/pulumi/automation` EngineEvent). */
export interface EngineEventLike {
  readonly timestamp: number;
  readonly sequence?: number;
  readonly preludeEvent?: unknown;
  readonly summaryEvent?: unknown;
  readonly resourcePreEvent?: { readonly metadata: StepMetadata };
  readonly resOutputsEvent?: { readonly metadata: StepMetadata };
  readonly resOpFailedEvent?: { readonly metadata: StepMetadata };
}

interface StepMetadata {
  readonly urn: string;
  readonly type: string;
  readonly op: string;
}

/**
 * Child roles (the `${name}-<role>` suffix) whose step is a wait on something outside the stack,
 * with what is waited for. Everything else is the stack's own work.
 */
export const WAIT_ROLES: Readonly<Record<string, string>> = {
  instance: "cloud instance boot (launch until active)",
  readiness: "host checks (SSH, Docker, GPUs)",
  wait: "boot work still running (the image pull and weights download cloud-init started at first boot)",
  image: "server image pull",
  weights: "weights download",
  ready: "server boot and readiness gate (/health, /v1/models, one completion)",
  run: "benchmark run",
  capacity: "capacity search",
};

/** One resource step of the update. */
export interface StepSpan {
  /** Resource name (last URN segment). */
  readonly name: string;
  readonly type: string;
  readonly op: string;
  /** Engine timestamps, seconds since the epoch. */
  readonly start: number;
  readonly end: number;
  /** The wait it is (a `WAIT_ROLES` key), or undefined for the stack's own work. */
  readonly waitRole?: string;
  readonly failed: boolean;
}

/** The breakdown of one update. */
export interface DeployBreakdown {
  /** The update's first event, seconds since the epoch. */
  readonly startedAt: number;
  /** First to last event of the update. */
  readonly totalSeconds: number;
  /** From the update's start to the program's first resource after the stack itself (compile + module load + config). */
  readonly programStartSeconds: number;
  /** Steps that did something (no `same`, no read), in start order. */
  readonly steps: readonly StepSpan[];
  /** Wall time covered by at least one wait step (overlapping waits counted once). */
  readonly waitSeconds: number;
  /** `totalSeconds - waitSeconds`: time the stack itself added. */
  readonly overheadSeconds: number;
}

/**
 * The wait role of a resource name: its `-<role>` suffix, or `readiness` for the host checks
 * (`<host>-readiness-<check>`); undefined for the stack's own steps.
 */
export function waitRoleOf(name: string): string | undefined {
  const parts = name.split("-");
  const role = parts[parts.length - 1] ?? "";
  if (Object.hasOwn(WAIT_ROLES, role)) return role;
  return parts.length >= 3 && parts[parts.length - 2] === "readiness" ? "readiness" : undefined;
}

function resourceName(urn: string): string {
  return urn.split("::").pop() ?? urn;
}

/** Total length of the union of intervals. */
export function unionSeconds(intervals: readonly (readonly [number, number])[]): number {
  const sorted = [...intervals].filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let curStart = Number.NEGATIVE_INFINITY;
  let curEnd = Number.NEGATIVE_INFINITY;
  for (const [a, b] of sorted) {
    if (a > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = a;
      curEnd = b;
    } else if (b > curEnd) {
      curEnd = b;
    }
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

/** Pure: the breakdown of one update's events. Throws when the events hold no update. */
export function deployBreakdown(events: readonly EngineEventLike[]): DeployBreakdown {
  if (events.length === 0) throw new Error("no engine events: pass the event log of one `pulumi up` (--event-log FILE)");
  const ordered = [...events].sort((a, b) => (a.sequence ?? 0) - (b.sequence ?? 0) || a.timestamp - b.timestamp);
  const begin = Math.min(...ordered.map((e) => e.timestamp));
  const finish = Math.max(...ordered.map((e) => e.timestamp));
  const open = new Map<string, { start: number; meta: StepMetadata }>();
  const steps: StepSpan[] = [];
  let firstProgramResource: number | undefined;
  for (const e of ordered) {
    const pre = e.resourcePreEvent?.metadata;
    if (pre) {
      if (firstProgramResource === undefined && pre.type !== "pulumi:pulumi:Stack") firstProgramResource = e.timestamp;
      open.set(pre.urn, { start: e.timestamp, meta: pre });
      continue;
    }
    const done = e.resOutputsEvent?.metadata ?? e.resOpFailedEvent?.metadata;
    if (!done) continue;
    const started = open.get(done.urn);
    open.delete(done.urn);
    if (started === undefined || done.op === "same" || done.op === "read") continue;
    const name = resourceName(done.urn);
    // Component resources span their children: their own time is not a wait.
    const waitRole = done.type.startsWith("hgx:") ? undefined : waitRoleOf(name);
    steps.push({
      name,
      type: done.type,
      op: done.op,
      start: started.start,
      end: e.timestamp,
      ...(waitRole !== undefined ? { waitRole } : {}),
      failed: e.resOpFailedEvent !== undefined,
    });
  }
  steps.sort((a, b) => a.start - b.start || a.name.localeCompare(b.name));
  const waitSeconds = unionSeconds(steps.filter((s) => s.waitRole !== undefined).map((s) => [s.start, s.end] as const));
  const totalSeconds = finish - begin;
  return {
    startedAt: begin,
    totalSeconds,
    programStartSeconds: (firstProgramResource ?? finish) - begin,
    steps,
    waitSeconds,
    overheadSeconds: totalSeconds - waitSeconds,
  };
}

/** Human-readable table of a breakdown (one line per step, then the totals). */
export function renderDeployBreakdown(b: DeployBreakdown): string {
  const t0 = b.startedAt;
  const lines = b.steps.map(
    (s) =>
      `${`+${s.start - t0}s`.padStart(7)} ${`${s.end - s.start}s`.padStart(6)}  ${s.op.padEnd(8)} ${s.name.padEnd(28)} ${s.waitRole ? `wait: ${WAIT_ROLES[s.waitRole]}` : s.type.startsWith("hgx:") || s.type === "pulumi:pulumi:Stack" ? "component" : "stack"}${s.failed ? "  FAILED" : ""}`,
  );
  return [
    "  start  took   op       resource                     kind",
    ...lines,
    "",
    `total ${b.totalSeconds} s = waits ${b.waitSeconds} s + the stack's own overhead ${b.overheadSeconds} s (program start ${b.programStartSeconds} s); engine timestamps are whole seconds (±1 s)`,
  ].join("\n");
}

/** Parses an event log (`pulumi up --event-log FILE`: one JSON event per line); blank lines skipped. */
export function parseEventLog(text: string, source = "event log"): EngineEventLike[] {
  const events: EngineEventLike[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new Error(`${source} line ${i + 1} is not JSON: ${line.slice(0, 80)}`);
    }
    if (typeof parsed !== "object" || parsed === null || typeof (parsed as { timestamp?: unknown }).timestamp !== "number") {
      throw new Error(`${source} line ${i + 1} is not an engine event (no numeric "timestamp")`);
    }
    events.push(parsed as EngineEventLike);
  });
  return events;
}

/** CLI: `deploy-breakdown <event-log> [--json]`. Exit 0, or 2 on a usage/input error. */
export async function runDeployBreakdown(argv: readonly string[], io: { out: (l: string) => void; err: (l: string) => void }): Promise<number> {
  const files = argv.filter((a) => !a.startsWith("--"));
  if (files.length !== 1 || argv.some((a) => a.startsWith("--") && a !== "--json")) {
    io.err("usage: deploy-breakdown <event-log.jsonl> [--json]   (the file `pulumi up --event-log FILE` wrote)");
    return 2;
  }
  const { readFileSync } = await import("node:fs");
  const breakdown = deployBreakdown(parseEventLog(readFileSync(files[0], "utf8"), files[0]));
  io.out(argv.includes("--json") ? JSON.stringify(breakdown, null, 2) : renderDeployBreakdown(breakdown));
  return 0;
}
