/**
 * The reaper: finds this project's Lambda instances whose `hgx:expires-at` tag lies in the past
 * and terminates them — the safety net for dev stacks nobody tore down. Plain planning logic plus
 * a command line (`scripts/reaper.ts`) with injectable I/O.
 *
 * Safety rules, in order: an instance without this project's `hgx:project` tag is never touched
 * (nor listed); one outside the stacks asked for is neither; a protected one (`hgx:protected=true`)
 * or one of a production stack is kept; one whose lifetime its stack did not set explicitly (no
 * `hgx:ttl` tag: launched before that tag existed, when every stack got a default 12 h) is kept;
 * one without an expiry, with "never", or with an unreadable expiry is kept; only an expiry
 * strictly before now marks it for termination; nothing is terminated without `--confirm`, and
 * `--confirm` needs the stacks named (`--stack`, repeatable) or `--all-stacks`.
 */
import { parseArgs } from "node:util";
import { PRODUCTION_STACKS, PROJECT } from "../config";
import { DEFAULT_REQUEST_INTERVAL_MS, envMs, LambdaClient, resolveClientOptions } from "../host/lambda/client";
import { TAG_EXPIRES, TAG_PROJECT, TAG_PROTECTED, TAG_RESOURCE, TAG_STACK, TAG_TTL } from "../host/lambda/instance";
import type { Instance } from "../host/lambda/types";
import { isProductionStack } from "./policy-rules";

export type ReapAction = "terminate" | "keep";

/** What the reaper decided for one instance of this project, and why. */
export interface ReapDecision {
  readonly action: ReapAction;
  readonly reason: string;
  readonly id: string;
  readonly name: string;
  readonly stack: string;
  readonly resource: string;
  readonly status: string;
  readonly instanceType: string;
  readonly region: string;
  /** Raw value of the expiry tag ("" when absent). */
  readonly expiresAt: string;
  readonly priceCentsPerHour?: number;
}

export interface ReapPlan {
  readonly decisions: readonly ReapDecision[];
  /** Instances on the account that belong to other projects or carry no project tag (never touched). */
  readonly foreignCount: number;
}

export interface ReapOptions {
  /** Value of the `hgx:project` tag to act on. */
  readonly project: string;
  readonly now: Date;
  /**
   * Restrict to these stacks (`hgx:stack` tag; a bare name also matches the last part of a
   * qualified `org/project/stack` tag). @default every stack of the project
   */
  readonly stacks?: readonly string[];
  /** Stacks never reaped whatever their tags say. @default PRODUCTION_STACKS (prod, production) */
  readonly productionStacks?: readonly string[];
}

/** Whether an instance's stack tag is one of the stacks asked for. */
export function stackInScope(stackTag: string | undefined, stacks: readonly string[] | undefined): boolean {
  if (stacks === undefined) return true;
  if (stackTag === undefined) return false;
  const last = stackTag.split("/").pop();
  return stacks.some((s) => s === stackTag || (!s.includes("/") && s === last));
}

const GONE = new Set(["terminating", "terminated"]);

function tag(i: Pick<Instance, "tags">, key: string): string | undefined {
  return i.tags?.find((t) => t.key === key)?.value;
}

/** Human duration, coarse: `3h 5m`, `2d 4h`, `45s`. */
export function formatDuration(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

/** Parses an expiry tag value; "never" and unreadable values come back as such. */
export function parseExpiry(value: string | undefined): { kind: "absent" } | { kind: "never" } | { kind: "invalid" } | { kind: "at"; at: Date } {
  if (value === undefined || value.trim() === "") return { kind: "absent" };
  const v = value.trim();
  if (v.toLowerCase() === "never") return { kind: "never" };
  // Only full ISO date-times: a bare number or date could be read in more than one way.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(v)) return { kind: "invalid" };
  const at = new Date(v);
  return Number.isNaN(at.getTime()) ? { kind: "invalid" } : { kind: "at", at };
}

/** Decides, for every instance of the project, whether it is terminated. */
export function planReap(instances: readonly Instance[], opts: ReapOptions): ReapPlan {
  if (!opts.project) throw new Error("the project to reap is empty. Fix: pass --project <name> (the value of the hgx:project tag).");
  const ours = instances.filter((i) => tag(i, TAG_PROJECT) === opts.project);
  const inScope = ours.filter((i) => stackInScope(tag(i, TAG_STACK), opts.stacks));
  const productionStacks = opts.productionStacks ?? PRODUCTION_STACKS;
  const decisions = inScope.map((i): ReapDecision => {
    const expiresAt = tag(i, TAG_EXPIRES) ?? "";
    const base = {
      id: i.id,
      name: i.name ?? "",
      stack: tag(i, TAG_STACK) ?? "",
      resource: tag(i, TAG_RESOURCE) ?? "",
      status: i.status,
      instanceType: i.instance_type?.name ?? "",
      region: i.region?.name ?? "",
      expiresAt,
      priceCentsPerHour: i.instance_type?.price_cents_per_hour,
    };
    if (GONE.has(i.status)) return { ...base, action: "keep", reason: `already ${i.status}` };
    if (tag(i, TAG_PROTECTED) === "true") return { ...base, action: "keep", reason: `protected (${TAG_PROTECTED}=true)` };
    if (base.stack !== "" && isProductionStack(base.stack, productionStacks)) return { ...base, action: "keep", reason: `production stack '${base.stack}'` };
    const e = parseExpiry(tag(i, TAG_EXPIRES));
    if (e.kind === "at" && !tag(i, TAG_TTL)) {
      return { ...base, action: "keep", reason: `expiry not set explicitly (no ${TAG_TTL} tag: an old default, not its stack's choice)` };
    }
    switch (e.kind) {
      case "absent":
        return { ...base, action: "keep", reason: `no ${TAG_EXPIRES} tag` };
      case "never":
        return { ...base, action: "keep", reason: "expiry is 'never'" };
      case "invalid":
        return { ...base, action: "keep", reason: `unreadable ${TAG_EXPIRES} '${expiresAt}' (left alone)` };
      case "at": {
        const left = e.at.getTime() - opts.now.getTime();
        return left < 0
          ? { ...base, action: "terminate", reason: `expired ${formatDuration(left)} ago` }
          : { ...base, action: "keep", reason: `expires in ${formatDuration(left)}` };
      }
    }
  });
  // Expired first, then by stack and name, so the table reads top-down as "what happens".
  decisions.sort((a, b) => (a.action === b.action ? 0 : a.action === "terminate" ? -1 : 1) || a.stack.localeCompare(b.stack) || a.name.localeCompare(b.name));
  return { decisions, foreignCount: instances.length - ours.length };
}

/** Fixed-width table of the decisions (no secrets: ids, names, tags, prices only). */
export function formatReapTable(plan: ReapPlan, confirm: boolean): string {
  const header = ["ACTION", "ID", "NAME", "STACK", "STATUS", "TYPE", "REGION", "EXPIRES", "REASON"];
  const rows = plan.decisions.map((d) => [
    d.action === "terminate" ? (confirm ? "TERMINATE" : "would terminate") : "keep",
    d.id,
    d.name,
    d.stack,
    d.status,
    d.instanceType,
    d.region,
    d.expiresAt || "-",
    d.reason,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((v, c) => (c === cells.length - 1 ? v : v.padEnd(widths[c]))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/** One-paragraph summary: counts, the hourly spend that stops, what was left untouched. */
export function summarizePlan(plan: ReapPlan, confirm: boolean): string {
  const doomed = plan.decisions.filter((d) => d.action === "terminate");
  const cents = doomed.reduce((s, d) => s + (d.priceCentsPerHour ?? 0), 0);
  const verb = confirm ? "terminating" : "would terminate";
  const lines = [
    `${verb} ${doomed.length} expired instance${doomed.length === 1 ? "" : "s"} ($${(cents / 100).toFixed(2)}/h); keeping ${plan.decisions.length - doomed.length}; ` +
      `${plan.foreignCount} instance${plan.foreignCount === 1 ? "" : "s"} of other projects or without a project tag not touched.`,
  ];
  if (!confirm && doomed.length > 0) lines.push("dry run: nothing was terminated. Re-run with --confirm to terminate the instances marked above.");
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

export const REAPER_USAGE = `Usage: tsx scripts/reaper.ts [--confirm] [--project <name>] (--stack <name>... | --all-stacks) [--json]

Lists this project's Lambda Cloud instances (tag ${TAG_PROJECT}) and terminates those whose ${TAG_EXPIRES}
tag lies in the past and whose lifetime their stack set explicitly (${TAG_TTL} tag). Dry run by default:
prints what it would do and terminates nothing. Never touched: instances of other projects or without
the project tag, protected ones (${TAG_PROTECTED}=true), those of production stacks (${PRODUCTION_STACKS.join(", ")}).

  --confirm          actually terminate the expired instances (needs --stack or --all-stacks)
  --project <name>   value of the ${TAG_PROJECT} tag (default: ${PROJECT})
  --stack <name>     only instances of this stack (${TAG_STACK} tag); repeat for several
  --all-stacks       every stack of the project (explicit, so a scheduled job cannot forget --stack)
  --json             print the plan as JSON
  --help

Environment: LAMBDA_API_KEY (required; never read from flags), LAMBDA_API_BASE_URL (optional, e.g. a local emulator).`;

/** The slice of the Lambda client the reaper uses. */
export interface ReaperClient {
  listInstances(): Promise<Instance[]>;
  terminateInstances(ids: string[]): Promise<Instance[]>;
}

export interface ReaperIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** Environment to read LAMBDA_API_KEY / LAMBDA_API_BASE_URL from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => Date;
  /** Injected for tests. @default a LambdaClient built from the environment */
  readonly createClient?: (env: NodeJS.ProcessEnv) => ReaperClient;
}

/** The production client: credentials and pacing from the environment only. */
export function clientFromEnv(env: NodeJS.ProcessEnv): ReaperClient {
  const { apiKey, baseUrl } = resolveClientOptions({ env });
  return new LambdaClient({
    apiKey,
    baseUrl,
    requestIntervalMs: envMs("LAMBDA_API_REQUEST_INTERVAL_MS", DEFAULT_REQUEST_INTERVAL_MS, env),
    log: (line) => process.stderr.write(`${line}\n`),
  });
}

/** Runs the reaper; resolves to the exit code (0 ok, 1 API failure, 2 usage). */
export async function runReaper(argv: readonly string[], io: ReaperIo): Promise<number> {
  let values: { confirm: boolean; project?: string; stack?: string[]; "all-stacks": boolean; json: boolean; help: boolean };
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        confirm: { type: "boolean", default: false },
        project: { type: "string" },
        stack: { type: "string", multiple: true },
        "all-stacks": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    }).values as typeof values;
  } catch (e) {
    io.err(`reaper: ${(e as Error).message}. The API key is read from LAMBDA_API_KEY only.\n\n${REAPER_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(REAPER_USAGE);
    return 0;
  }
  const stacks = values.stack;
  if (stacks !== undefined && values["all-stacks"]) {
    io.err(`reaper: give either --stack or --all-stacks, not both.\n\n${REAPER_USAGE}`);
    return 2;
  }
  if (values.confirm && stacks === undefined && !values["all-stacks"]) {
    io.err(
      `reaper: --confirm needs the stacks it may act on: --stack <name> (repeat for several) for the stacks this job owns, or --all-stacks.\n\n${REAPER_USAGE}`,
    );
    return 2;
  }
  const env = io.env ?? process.env;
  const project = values.project ?? PROJECT;
  let client: ReaperClient;
  try {
    client = (io.createClient ?? clientFromEnv)(env);
  } catch (e) {
    io.err(`reaper: ${(e as Error).message}`);
    return 2;
  }
  try {
    const instances = await client.listInstances();
    const plan = planReap(instances, { project, now: (io.now ?? (() => new Date()))(), stacks });
    const doomed = plan.decisions.filter((d) => d.action === "terminate").map((d) => d.id);
    let terminated: string[] = [];
    if (values.confirm && doomed.length > 0) {
      terminated = (await client.terminateInstances(doomed)).map((i) => i.id);
    }
    if (values.json) {
      io.out(JSON.stringify({ project, stacks: stacks ?? null, confirm: values.confirm, ...plan, terminated }, null, 2));
    } else {
      io.out(`project ${project}${stacks ? `, stack${stacks.length === 1 ? "" : "s"} ${stacks.join(", ")}` : ""}: ${plan.decisions.length} instance(s)`);
      if (plan.decisions.length > 0) io.out(formatReapTable(plan, values.confirm));
      io.out(summarizePlan(plan, values.confirm));
      if (values.confirm && doomed.length > 0) io.out(`terminate requested for: ${terminated.join(", ") || "(none acknowledged)"}`);
    }
    const missing = doomed.filter((id) => values.confirm && !terminated.includes(id));
    if (missing.length > 0) {
      io.err(`reaper: the API did not acknowledge terminating ${missing.join(", ")}; check the dashboard and re-run.`);
      return 1;
    }
    return 0;
  } catch (e) {
    io.err(`reaper: ${(e as Error).message}`);
    return 1;
  }
}
