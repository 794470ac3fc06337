/**
 * The reaper: finds this project's Lambda instances whose `hgx:expires-at` tag lies in the past
 * and terminates them — the safety net for dev stacks nobody tore down. Plain planning logic plus
 * a command line (`scripts/reaper.ts`) with injectable I/O.
 *
 * Safety rules, in order: an instance without this project's `hgx:project` tag is never touched
 * (nor listed); one outside the stacks asked for is neither, and "a stack" is its full identity —
 * organization, project, stack name and the random stack id its state holds — as the current
 * backend records it, so another backend's (or organization's) `dev` is never in scope; a protected one (`hgx:protected=true`)
 * or one of a production stack is kept; one whose lifetime its stack did not set explicitly (no
 * `hgx:ttl` tag: launched before that tag existed, when every stack got a default 12 h) is kept;
 * one without an expiry, with "never", or with an unreadable expiry is kept; only an expiry
 * strictly before now marks it for termination; nothing is terminated without `--confirm`, and
 * `--confirm` needs the stacks named (`--stack`, repeatable) or `--all-stacks`.
 */
import { execFile } from "node:child_process";
import { parseArgs } from "node:util";
import { DEFAULT_REQUEST_INTERVAL_MS, envMs, LambdaClient, resolveClientOptions } from "../host/lambda/client";
import { UID_PATTERN } from "../host/lambda/identity";
import { TAG_EXPIRES, TAG_ORGANIZATION, TAG_PROJECT, TAG_PROTECTED, TAG_RESOURCE, TAG_STACK, TAG_STACK_ID, TAG_TTL } from "../host/lambda/instance";
import type { Instance } from "../host/lambda/types";
import { PRODUCTION_STACKS, PROJECT } from "../projectFacts";
import { isProductionStack } from "./policyRules";

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
  /** Instances of this project whose identity is none of the owners asked for: other backends, organizations or stacks (never touched). */
  readonly otherOwnerCount: number;
}

/**
 * Who owns an instance, as its tags say and its stack's state records (a `StackIdentity` resource's
 * outputs): two `dev` stacks on two backends differ in `uid`, two organizations in `organization`.
 */
export interface ReaperOwner {
  /** Undefined only for `--stack-id` without `--organization`: the id alone then identifies the stack. */
  readonly organization?: string;
  readonly project: string;
  /** Undefined only for `--stack-id`. */
  readonly stack?: string;
  /** The random stack id (`hgx:stack-id`, the `host.stackId` output). */
  readonly uid: string;
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
  /**
   * Only instances whose organization, project, stack and stack id tags equal one of these. Undefined =
   * match by project and stack name alone (`--any-backend`: it crosses backends and organizations).
   */
  readonly owners?: readonly ReaperOwner[];
}

/** Whether an instance's identity tags are exactly one of `owners`'. */
export function ownedBy(i: Pick<Instance, "tags">, owners: readonly ReaperOwner[]): boolean {
  const t = (key: string) => tag(i, key);
  return owners.some(
    (o) =>
      t(TAG_PROJECT) === o.project &&
      t(TAG_STACK_ID) === o.uid &&
      (o.organization === undefined || t(TAG_ORGANIZATION) === o.organization) &&
      (o.stack === undefined || t(TAG_STACK) === o.stack),
  );
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
  const owned = opts.owners === undefined ? ours : ours.filter((i) => ownedBy(i, opts.owners!));
  const inScope = owned.filter((i) => stackInScope(tag(i, TAG_STACK), opts.stacks));
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
  return { decisions, foreignCount: instances.length - ours.length, otherOwnerCount: ours.length - owned.length };
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
  if (plan.otherOwnerCount > 0)
    lines.push(`${plan.otherOwnerCount} instance${plan.otherOwnerCount === 1 ? "" : "s"} of this project belong to other stacks, backends or organizations: not touched.`);
  if (!confirm && doomed.length > 0) lines.push("dry run: nothing was terminated. Re-run with --confirm to terminate the instances marked above.");
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

export const REAPER_USAGE = `Usage: tsx scripts/reaper.ts [--confirm] [--project <name>] (--stack <name>... | --all-stacks) [--json]
       tsx scripts/reaper.ts [--confirm] --stack-id <id>... [--organization <org>] [--stack <name>...]
       tsx scripts/reaper.ts [--confirm] --any-backend (--stack <name>... | --all-stacks)

Lists this project's Lambda Cloud instances (tag ${TAG_PROJECT}) and terminates those whose ${TAG_EXPIRES}
tag lies in the past and whose lifetime their stack set explicitly (${TAG_TTL} tag). Dry run by default:
prints what it would do and terminates nothing. A stack is its identity on the CURRENT Pulumi backend: run
from the project directory, logged in (pulumi login / PULUMI_BACKEND_URL) to the backend that deployed it;
the reaper reads each stack's state (pulumi stack export) for its organization and stack id and acts only on
instances tagged with exactly those (${TAG_ORGANIZATION}, ${TAG_STACK}, ${TAG_STACK_ID}), so another backend's
or organization's stack of the same name is never touched. Never touched either: instances of other
projects or without the project tag, protected ones (${TAG_PROTECTED}=true), those of production stacks
(${PRODUCTION_STACKS.join(", ")}).

  --confirm             actually terminate the expired instances (needs --stack, --all-stacks or --stack-id)
  --project <name>      value of the ${TAG_PROJECT} tag (default: ${PROJECT})
  --stack <name>        only this stack of the current backend; repeat for several
  --all-stacks          every stack of the project on the current backend (pulumi stack ls)
  --stack-id <id>       instead of the backend: instances with this ${TAG_STACK_ID} (a stack's host.stackId output); repeatable
  --organization <org>  with --stack-id: and this ${TAG_ORGANIZATION} ("organization" on self-managed backends)
  --any-backend         match by project and stack name only, across every backend and organization on the account
  --json                print the plan as JSON
  --help

Environment: LAMBDA_API_KEY (required; never read from flags), LAMBDA_API_BASE_URL (optional, e.g. a local emulator);
the pulumi CLI's own (PULUMI_BACKEND_URL, PULUMI_ACCESS_TOKEN) to read the stacks' state.`;

/** Where the owners of a backend's stacks come from: the current Pulumi backend, or a test's stand-in. */
export interface OwnerSource {
  /** The project's stacks on the backend. */
  stacks(): Promise<string[]>;
  /** The Lambda identities a stack's state records (one per machine); [] when it has none. */
  owners(stack: string): Promise<ReaperOwner[]>;
}

/** Token of the identity resource whose outputs name a machine's owner (components/host/lambda/identity.ts). */
export const STACK_IDENTITY_TYPE = "pulumi-nodejs:dynamic/lambda:StackIdentity";

/** The owners a `pulumi stack export` document records: every StackIdentity resource's outputs. */
export function ownersFromDeployment(exported: unknown): ReaperOwner[] {
  const resources = (exported as { deployment?: { resources?: unknown } } | null)?.deployment?.resources;
  if (!Array.isArray(resources)) return [];
  const owners: ReaperOwner[] = [];
  for (const r of resources as { type?: unknown; outputs?: Record<string, unknown> }[]) {
    if (r?.type !== STACK_IDENTITY_TYPE) continue;
    const o = r.outputs ?? {};
    const [organization, project, stack, uid] = [o.organization, o.project, o.stack, o.uid];
    if (typeof organization === "string" && typeof project === "string" && typeof stack === "string" && typeof uid === "string" && UID_PATTERN.test(uid))
      owners.push({ organization, project, stack, uid });
  }
  return owners;
}

/** Runs the pulumi CLI (bounded: 2 minutes), resolving with stdout; rejects with the end of stderr. */
function runPulumi(args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("pulumi", [...args, "--non-interactive"], { cwd: opts.cwd, env: opts.env, timeout: 120_000, maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pulumi ${args.join(" ")} failed: ${(String(stderr).trim().split("\n").slice(-3).join(" | ") || err.message).slice(0, 600)}`));
      else resolve(String(stdout));
    });
  });
}

/** The current backend, through the pulumi CLI in `cwd` (the project directory). */
export function pulumiOwnerSource(opts: { cwd: string; env: NodeJS.ProcessEnv }): OwnerSource {
  return {
    stacks: async () => {
      const listed = JSON.parse(await runPulumi(["stack", "ls", "--json"], opts)) as { name?: unknown }[];
      return listed.map((x) => x.name).filter((n): n is string => typeof n === "string");
    },
    owners: async (stack) => ownersFromDeployment(JSON.parse(await runPulumi(["stack", "export", "--stack", stack], opts))),
  };
}

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
  /** The backend the stacks are read from. @default the pulumi CLI in `cwd` */
  readonly ownerSource?: OwnerSource;
  /** The project directory the pulumi CLI runs in. @default process.cwd() */
  readonly cwd?: string;
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

/** The reaper's command line, parsed. */
export interface ReaperFlags {
  confirm: boolean;
  project?: string;
  stack?: string[];
  "all-stacks": boolean;
  "stack-id"?: string[];
  organization?: string;
  "any-backend": boolean;
  json: boolean;
  help: boolean;
}

/** Parses the flags; a flag it does not know (or a positional) is a usage error, said with the usage. */
export function parseReaperFlags(argv: readonly string[]): ReaperFlags | { readonly usageError: string } {
  try {
    return parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        confirm: { type: "boolean", default: false },
        project: { type: "string" },
        stack: { type: "string", multiple: true },
        "all-stacks": { type: "boolean", default: false },
        "stack-id": { type: "string", multiple: true },
        organization: { type: "string" },
        "any-backend": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    }).values as ReaperFlags;
  } catch (e) {
    return { usageError: `reaper: ${(e as Error).message}. The API key is read from LAMBDA_API_KEY only.\n\n${REAPER_USAGE}` };
  }
}

/** The first combination of flags the reaper refuses, as the message to print; undefined when they go together. */
export function reaperFlagsProblem(values: ReaperFlags): string | undefined {
  const stacks = values.stack;
  const stackIds = values["stack-id"];
  if (stacks !== undefined && values["all-stacks"]) return `reaper: give either --stack or --all-stacks, not both.\n\n${REAPER_USAGE}`;
  if (values.confirm && stacks === undefined && !values["all-stacks"] && stackIds === undefined) {
    return `reaper: --confirm needs the stacks it may act on: --stack <name> (repeat for several) for the stacks this job owns, or --all-stacks.\n\n${REAPER_USAGE}`;
  }
  const badIds = (stackIds ?? []).filter((id) => !UID_PATTERN.test(id));
  if (badIds.length > 0) {
    return `reaper: --stack-id ${badIds.map((id) => JSON.stringify(id)).join(", ")} is not a stack id (16 lowercase hex digits). Fix: copy it from \`pulumi stack output host.stackId\`.`;
  }
  if (stackIds !== undefined && (values["any-backend"] || values["all-stacks"])) {
    return `reaper: --stack-id names the stacks itself; drop --any-backend / --all-stacks.\n\n${REAPER_USAGE}`;
  }
  if (values.organization !== undefined && stackIds === undefined) {
    return `reaper: --organization goes with --stack-id (with --stack the organization comes from the backend's state).\n\n${REAPER_USAGE}`;
  }
  return undefined;
}

/** Whose machines are in scope: undefined owners = match by project and stack name alone (`--any-backend`). */
interface ReaperScope {
  readonly owners: ReaperOwner[] | undefined;
  /** Owners read from the backend name their stacks exactly; `--stack` may then be qualified (org/project/stack). */
  readonly fromBackend: boolean;
}

/** The owners from `--stack-id`, from the backend's state of the named (or every) stack, or none (`--any-backend`); undefined when the backend cannot be read (said on `io.err`). */
async function reaperScope(values: ReaperFlags, project: string, io: ReaperIo, env: NodeJS.ProcessEnv): Promise<ReaperScope | undefined> {
  const stackIds = values["stack-id"];
  if (stackIds !== undefined) {
    return { owners: stackIds.map((uid) => ({ project, uid, ...(values.organization === undefined ? {} : { organization: values.organization }) })), fromBackend: false };
  }
  if (values["any-backend"]) {
    io.err("reaper: --any-backend: matching by project and stack name only, across every backend and organization on this account.");
    return { owners: undefined, fromBackend: false };
  }
  const source = io.ownerSource ?? pulumiOwnerSource({ cwd: io.cwd ?? process.cwd(), env });
  try {
    const owners: ReaperOwner[] = [];
    for (const name of values.stack ?? (await source.stacks())) {
      const found = (await source.owners(name)).filter((o) => o.project === project);
      if (found.length === 0) io.err(`reaper: stack ${name} on the current backend has no Lambda identity of project ${project} in its state (never deployed, or destroyed): nothing of it is in scope.`);
      owners.push(...found);
    }
    return { owners, fromBackend: true };
  } catch (e) {
    io.err(
      `reaper: cannot read the stacks from the current Pulumi backend: ${(e as Error).message}\n` +
        "Fix: run from the project directory, logged in to the backend that deployed the stack (pulumi login / PULUMI_BACKEND_URL); " +
        "or name the instances' stack id: --stack-id <host.stackId output> [--organization <org>]; --any-backend matches by stack name alone.",
    );
    return undefined;
  }
}

/** Plans against the account's instances, terminates the doomed ones with `--confirm`, prints the outcome; the exit code. */
async function reap(client: ReaperClient, values: ReaperFlags, project: string, scope: ReaperScope, io: ReaperIo): Promise<number> {
  const stacks = values.stack;
  const { owners } = scope;
  const instances = await client.listInstances();
  const plan = planReap(instances, { project, now: (io.now ?? (() => new Date()))(), stacks: scope.fromBackend ? undefined : stacks, owners });
  const doomed = plan.decisions.filter((d) => d.action === "terminate").map((d) => d.id);
  let terminated: string[] = [];
  if (values.confirm && doomed.length > 0) {
    terminated = (await client.terminateInstances(doomed)).map((i) => i.id);
  }
  if (values.json) {
    io.out(JSON.stringify({ project, stacks: stacks ?? null, owners: owners ?? null, confirm: values.confirm, ...plan, terminated }, null, 2));
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
}

/** Runs the reaper; resolves to the exit code (0 ok, 1 API failure, 2 usage). */
export async function runReaper(argv: readonly string[], io: ReaperIo): Promise<number> {
  const values = parseReaperFlags(argv);
  if ("usageError" in values) {
    io.err(values.usageError);
    return 2;
  }
  if (values.help) {
    io.out(REAPER_USAGE);
    return 0;
  }
  const problem = reaperFlagsProblem(values);
  if (problem !== undefined) {
    io.err(problem);
    return 2;
  }
  const env = io.env ?? process.env;
  const project = values.project ?? PROJECT;
  const scope = await reaperScope(values, project, io, env);
  if (scope === undefined) return 2;
  let client: ReaperClient;
  try {
    client = (io.createClient ?? clientFromEnv)(env);
  } catch (e) {
    io.err(`reaper: ${(e as Error).message}`);
    return 2;
  }
  try {
    return await reap(client, values, project, scope, io);
  } catch (e) {
    io.err(`reaper: ${(e as Error).message}`);
    return 1;
  }
}
