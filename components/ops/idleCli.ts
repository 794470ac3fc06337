/**
 * `npm run idle -- --stack dev [--confirm]` (scripts/idle.ts): reads the stack's request counters, decides with
 * decideIdle (idle.ts), prints the decision and its evidence, and with `--confirm` destroys the stack's compute through
 * the engine. Every effect goes through `IdleIo`, so the whole decision path is unit-tested with fakes; the real I/O
 * (scripts/idle.ts) is written but not yet exercised by a test (next session: the local and Lambda-mode engine tests).
 */
import { durationMs } from "../duration";
import { PRODUCTION_STACKS } from "../projectFacts";
import type { ConsoleIo } from "./cli";
import { teardownTargets } from "./downTargets";
import { decideIdle, formatIdle, type ActivityRecord, type ActivitySample, type IdleDecision, type MetricsScrape, sampleFromScrapes } from "./idle";
import { isProductionStack } from "./policyRules";

/** What the stack's configuration says about idle teardown. */
export interface IdleSettings {
  /** `idleTeardownAfter` as written (e.g. "45m"); undefined or "" = off. */
  readonly idleTeardownAfter?: string;
  /** `production: true` in config. */
  readonly production?: boolean;
  /** `lambdaProtect: true` in config. */
  readonly protect?: boolean;
}

/** The command's effects, injected. */
export interface IdleIo extends ConsoleIo {
  now(): number;
  readSettings(stack: string): Promise<IdleSettings>;
  /** /metrics of the router and each server, read on the host over the pinned SSH connection. */
  readMetrics(stack: string): Promise<MetricsScrape[]>;
  loadRecord(stack: string): Promise<ActivityRecord | undefined>;
  saveRecord(stack: string, record: ActivityRecord): Promise<void>;
  /** Destroys the stack's compute through the engine, keeping the filesystem/volume and the stack's identity. */
  destroyCompute(stack: string, progress: (line: string) => void): Promise<void>;
  /** Calls `tick` every `ms` until the returned function is called (the progress line while waiting). */
  every(ms: number, tick: () => void): () => void;
}

export interface IdleArgs {
  readonly stack: string;
  readonly confirm: boolean;
  /** `--idle-after`, overriding the stack's setting (e.g. for a by-hand check). */
  readonly idleAfter?: string;
  readonly json: boolean;
}

export const IDLE_USAGE = `usage: npm run idle -- --stack NAME [--confirm] [--idle-after 45m] [--json]
  Reads the stack's request counters (router and servers, over the pinned SSH connection) and decides whether it has
  been idle for idleTeardownAfter. Dry run by default: prints the decision and the evidence. --confirm destroys the
  compute through the engine (the filesystem/volume with the weights and caches stays). Protected and production
  stacks are never torn down this way.`;

const STACK_NAME = /^[A-Za-z0-9_.\-/]{1,100}$/;
/** How often a wait prints that it is still waiting. */
export const PROGRESS_EVERY_MS = 15_000;

/** Parses argv; throws with the flag, the value and the fix. */
export function parseIdleArgs(argv: readonly string[]): IdleArgs | "help" {
  let stack: string | undefined;
  let idleAfter: string | undefined;
  let confirm = false;
  let json = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith("--")) throw new Error(`${arg} needs a value, e.g. ${arg} ${arg === "--stack" ? "dev" : "45m"}`);
      i += 1;
      return v;
    };
    if (arg === "--help" || arg === "-h") return "help";
    else if (arg === "--stack") stack = value();
    else if (arg === "--idle-after") idleAfter = value();
    else if (arg === "--confirm") confirm = true;
    else if (arg === "--json") json = true;
    else throw new Error(`unknown argument "${arg}"; run with --help`);
  }
  if (stack === undefined) throw new Error("--stack is required (the command acts on one stack only), e.g. --stack dev");
  if (!STACK_NAME.test(stack)) throw new Error(`--stack "${stack}" is not a stack name (letters, digits, - _ . /)`);
  if (idleAfter !== undefined && idleAfterMs(idleAfter, "--idle-after") === undefined) throw new Error(`--idle-after "${idleAfter}" is empty; give a duration such as 45m`);
  return { stack, confirm, json, ...(idleAfter !== undefined ? { idleAfter } : {}) };
}

/** A duration setting -> ms (undefined = off); throws naming the setting and the fix. */
export function idleAfterMs(text: string | undefined, setting: string): number | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  const ms = durationMs(text.trim());
  if (ms === undefined || ms <= 0) throw new Error(`${setting} = "${text}" is not a positive duration; write e.g. 45m, 1h or 90s`);
  return ms;
}

/** Why a stack is never torn down by idleness, or undefined. */
export function protectedReason(stack: string, settings: IdleSettings): string | undefined {
  if (isProductionStack(stack, PRODUCTION_STACKS)) return `production stack (named ${stack})`;
  if (settings.production === true) return "production stack (production: true)";
  if (settings.protect === true) return "protected stack (lambdaProtect: true)";
  return undefined;
}

/** Resources the idle teardown keeps beyond what `scripts/down.sh` keeps: the local stack's Docker volume (HF cache). */
export const IDLE_KEPT_TYPES = ["docker:index/volume:Volume"] as const;

/** Pure: the URNs the idle teardown destroys, from `pulumi stack export`: down.sh's targets minus the Docker volumes. */
export function idleTeardownTargets(exported: unknown, opts: { readonly retainFilesystem: boolean }): string[] {
  const resources = (exported as { deployment?: { resources?: Array<{ urn?: unknown; type?: unknown }> } } | null)?.deployment?.resources ?? [];
  const kept = new Set(resources.filter((r) => typeof r.type === "string" && (IDLE_KEPT_TYPES as readonly string[]).includes(r.type)).map((r) => r.urn));
  return teardownTargets(exported, opts).filter((urn) => !kept.has(urn));
}

/** The decision as printed lines. */
export function renderDecision(stack: string, decision: IdleDecision, record: ActivityRecord | undefined): string[] {
  const lines = [`idle: stack ${stack}: ${decision.verdict === "teardown" ? "TEAR DOWN" : "KEEP"} — ${decision.reason}`];
  for (const e of decision.evidence) lines.push(`  ${e}`);
  if (record !== undefined) lines.push(`  last activity: ${new Date(record.lastActivityAtMs).toISOString()} (${record.lastActivityReason})`);
  return lines;
}

/** Runs `work` with a progress line every PROGRESS_EVERY_MS ("still ..., 30 s"). */
async function withProgress<T>(io: IdleIo, what: string, work: () => Promise<T>): Promise<T> {
  const started = io.now();
  io.err(`idle: ${what} ...`);
  const stop = io.every(PROGRESS_EVERY_MS, () => io.err(`idle: still ${what} (${formatIdle(io.now() - started)})`));
  try {
    return await work();
  } finally {
    stop();
  }
}

async function readSample(io: IdleIo, stack: string): Promise<{ sample?: ActivitySample; readError?: string }> {
  try {
    const scrapes = await withProgress(io, `reading /metrics of stack ${stack} over SSH`, () => io.readMetrics(stack));
    return { sample: sampleFromScrapes(scrapes, io.now()) };
  } catch (error) {
    return { readError: error instanceof Error ? error.message : String(error) };
  }
}

/** The command: 0 = decided (kept, dry run, or torn down), 1 = the teardown failed, 2 = bad arguments or settings. */
export async function runIdle(argv: readonly string[], io: IdleIo): Promise<number> {
  let args: IdleArgs;
  let settings: IdleSettings;
  let afterMs: number | undefined;
  try {
    const parsed = parseIdleArgs(argv);
    if (parsed === "help") {
      io.out(IDLE_USAGE);
      return 0;
    }
    args = parsed;
    settings = await io.readSettings(args.stack);
    afterMs = args.idleAfter !== undefined ? idleAfterMs(args.idleAfter, "--idle-after") : idleAfterMs(settings.idleTeardownAfter, "idleTeardownAfter");
  } catch (error) {
    io.err(`idle: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  const reading = await readSample(io, args.stack);
  const previous = await io.loadRecord(args.stack);
  const decision = decideIdle({ stack: args.stack, nowMs: io.now(), idleAfterMs: afterMs, protectedReason: protectedReason(args.stack, settings), previous, ...reading });
  // The record is an observation, kept in a dry run too: the scheduled dry runs are what measure the silence.
  if (decision.record !== undefined) await io.saveRecord(args.stack, decision.record);
  const record = decision.record ?? previous;
  if (args.json) io.out(JSON.stringify({ stack: args.stack, confirm: args.confirm, ...decision, lastActivityAt: record ? new Date(record.lastActivityAtMs).toISOString() : undefined }));
  else for (const line of renderDecision(args.stack, decision, record)) io.out(line);
  if (decision.verdict !== "teardown") return 0;
  if (!args.confirm) {
    io.out(`idle: dry run: would destroy the compute of stack ${args.stack} (the filesystem/volume with the weights and caches stays); pass --confirm to act`);
    return 0;
  }
  return destroy(io, args.stack);
}

async function destroy(io: IdleIo, stack: string): Promise<number> {
  try {
    await withProgress(io, `destroying the compute of stack ${stack} through the engine`, () => io.destroyCompute(stack, (line) => io.err(`  ${line}`)));
  } catch (error) {
    io.err(`idle: teardown of stack ${stack} failed: ${error instanceof Error ? error.message : String(error)}; the stack's state says what is left (pulumi stack --stack ${stack}); run again or use npm run down -- ${stack}`);
    return 1;
  }
  io.out(`idle: compute of stack ${stack} destroyed; the filesystem/volume and the stack's identity stay (the next pulumi up re-creates the compute)`);
  return 0;
}
