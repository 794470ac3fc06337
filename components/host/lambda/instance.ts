// Dynamic resource: one Lambda Cloud instance. Launch picks a region by preference and capacity
// and fails over on insufficient capacity, placing the filesystem (an empty one moves with the
// launch; one that may hold weights pins its region, and `pinnedRegionPolicy` says whether to wait
// there or go elsewhere without it). An instance already carrying exactly this resource's identity
// tags (organization, project, stack, resource, random stack id) is adopted instead of launching
// a second one (the API has no idempotency token, so a crash between launch and the state write
// would otherwise leave a billing orphan). Create
// waits for `active`; a boot that ends unhealthy, terminated, preempted or late is terminated.
import * as pulumi from "@pulumi/pulumi";
import {
  API_ROUTING_KEYS,
  changedKeys,
  plain,
  clientFor,
  containsUnknown,
  formatElapsed,
  freshFilesystems,
  LAMBDA_PROVIDER_VERSION,
  progress,
  regionFailures,
  systemClock,
  waitSettings,
  type LambdaCommonArgs,
  type LambdaCommonInputs,
  type StackConfigView,
  withoutStackTraces,
  type WaitClock,
} from "./common";
import { CapacityError, isLambdaError } from "./errors";
import type { LambdaClient } from "./client";
import type { Filesystem as ApiFilesystem, Instance as ApiInstance, InstanceStatus, InstanceTypesItem, LaunchRequest, Tag } from "./types";

export interface InstanceInputs extends LambdaCommonInputs {
  /** Pulumi resource name; part of the identity tags. */
  resourceName: string;
  /** Pulumi organization, project and stack; part of the identity tags. */
  organization: string;
  project: string;
  stack: string;
  /** The identity's random id (StackIdentity), kept in state; part of the identity tags. */
  stackUid: string;
  /** Instance name shown in the dashboard (max 64, not unique). */
  instanceName: string;
  /** Regions in preference order. */
  regions: string[];
  instanceType: string;
  /** OS image family, e.g. `gpu-base-24-04`. */
  imageFamily: string;
  /** Name of the registered SSH key (exactly one). */
  sshKeyName: string;
  /** Persistent filesystem to attach (its Lambda name); its live region pins the launch. */
  filesystemName?: string;
  /** Where the filesystem is mounted on the instance (under /home, /lambda/nfs or /data). @default /lambda/nfs/<filesystemName> */
  filesystemMountPoint?: string;
  /**
   * When the filesystem's region refuses the launch and the filesystem may hold weights: `wait`
   * retries there (bounded by `pinnedRegionWaitSeconds`), `elsewhere` launches in another region
   * without it (weights then go to `localCachePath`). A filesystem created empty in this
   * deployment is simply moved to the next region instead.
   */
  pinnedRegionPolicy?: PinnedRegionPolicy;
  /** How long `wait` keeps retrying the pinned region. @default 1800 */
  pinnedRegionWaitSeconds?: number;
  /** The cache path when the instance runs without its filesystem. @default /home/ubuntu/hf-cache */
  localCachePath?: string;
  /** Firewall ruleset id per region; the one of the launch region is attached. */
  firewallRulesetIds?: Record<string, string>;
  /** Instance hostname (`^[a-z0-9][0-9a-z-]{0,62}$`); absent = the API's default. */
  hostname?: string;
  /** Lifetime written into the `hgx:expires-at` tag for the reaper; 0 = never. Applies at launch. */
  ttlSeconds: number;
  /** How long create waits for `active` before terminating. Applies at launch. */
  waitTimeoutSeconds: number;
  /**
   * Ceiling on the instance type's price in US cents per hour: the launch refuses a type priced
   * above it (the policy pack's cost rule reads it at preview). Absent = no ceiling. Applies at launch.
   */
  maxPriceCentsPerHour?: number;
  /** Writes `hgx:protected=true`, which the reaper honours (set with Pulumi's `protect`). Applies at launch. */
  protected?: boolean;
  /**
   * cloud-init `user_data` (`#cloud-config`, see cloudInit.ts). Holds the host's private key: always a
   * secret input, never logged. Applies at launch (not diffed: changing it must not relaunch).
   */
  userData?: string;
}

export interface InstanceOutputs extends InstanceInputs {
  instanceId: string;
  ip: string;
  /** The address on the region's private network ("" when the API gives none): a router in the same region reaches the worker there. */
  privateIp: string;
  region: string;
  /** Hourly price read from the API at launch, in US cents. */
  priceCentsPerHour: number;
  /** Hostname reported by the API. */
  actualHostname: string;
  status: InstanceStatus;
  /** ISO time in the `hgx:expires-at` tag, or "never". */
  expiresAt: string;
  /** Whether create adopted an instance launched by an earlier, interrupted run. */
  adopted: boolean;
  /** Whether the filesystem is attached (false: none configured, or launched elsewhere without it). */
  filesystemAttached: boolean;
  /** Id and region of the attached filesystem ("" when none is attached). */
  filesystemId: string;
  filesystemRegion: string;
  /** Where the HF cache lives on the host: the filesystem's mount, `localCachePath` without it, "" with no filesystem configured. */
  cacheMountPath: string;
}

export const PINNED_REGION_POLICIES = ["wait", "elsewhere"] as const;
export type PinnedRegionPolicy = (typeof PINNED_REGION_POLICIES)[number];

/** Local-disk cache path used when the filesystem cannot come along. */
export const DEFAULT_LOCAL_CACHE_PATH = "/home/ubuntu/hf-cache";
const MOUNT_POINT = /^(\/home|\/lambda\/nfs|\/data)[/a-zA-Z0-9-]*$/;

export const TAG_ORGANIZATION = "hgx:organization";
export const TAG_STACK_ID = "hgx:stack-id";
export const TAG_PROJECT = "hgx:project";
export const TAG_STACK = "hgx:stack";
export const TAG_RESOURCE = "hgx:resource";
export const TAG_EXPIRES = "hgx:expires-at";
export const TAG_MANAGED_BY = "hgx:managed-by";
/** The lifetime the stack set explicitly (`28800s`); absent when it set none. The reaper requires it. */
export const TAG_TTL = "hgx:ttl";
/** `true` on instances nothing may reap (production stacks, `lambdaProtect`). */
export const TAG_PROTECTED = "hgx:protected";

const TAG_VALUE_MAX = 128;

type IdentityFields = Pick<InstanceInputs, "organization" | "project" | "stack" | "resourceName" | "stackUid">;

/**
 * The identity of an instance, as tags: organization, project, stack, resource name and the
 * stack's random id. Only an instance carrying all five exactly is this resource's.
 */
export function identityTags(i: IdentityFields): Tag[] {
  return [
    { key: TAG_ORGANIZATION, value: i.organization.slice(0, TAG_VALUE_MAX) },
    { key: TAG_PROJECT, value: i.project.slice(0, TAG_VALUE_MAX) },
    { key: TAG_STACK, value: i.stack.slice(0, TAG_VALUE_MAX) },
    { key: TAG_RESOURCE, value: i.resourceName.slice(0, TAG_VALUE_MAX) },
    { key: TAG_STACK_ID, value: i.stackUid.slice(0, TAG_VALUE_MAX) },
  ];
}

/**
 * All launch tags: identity + expiry (ISO time, or "never") + who manages it, and, when set, the
 * explicit lifetime and the protection mark the reaper reads.
 */
export function instanceTags(
  i: IdentityFields & Partial<Pick<InstanceInputs, "ttlSeconds" | "protected">>,
  expiresAt: string,
): Tag[] {
  return [
    ...identityTags(i),
    { key: TAG_EXPIRES, value: expiresAt },
    { key: TAG_MANAGED_BY, value: "pulumi" },
    ...(i.ttlSeconds ? [{ key: TAG_TTL, value: `${Math.round(i.ttlSeconds)}s` }] : []),
    ...(i.protected ? [{ key: TAG_PROTECTED, value: "true" }] : []),
  ];
}

/** Expiry for the `hgx:expires-at` tag: ISO time `ttlSeconds` after `now`, or "never" for 0. */
export function expiryFor(ttlSeconds: number, now: Date): string {
  if (!ttlSeconds) return "never";
  return new Date(now.getTime() + ttlSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Whether an instance carries all of the given identity tags. */
export function hasIdentity(instance: Pick<ApiInstance, "tags">, identity: readonly Tag[]): boolean {
  const tags = instance.tags ?? [];
  return identity.every((want) => tags.some((t) => t.key === want.key && t.value === want.value));
}

/**
 * Launch order without a filesystem: the preferred regions that list capacity first, in
 * preference order; the other preferred regions follow, since the capacity list is only a hint
 * and windows are short.
 */
export function chooseRegionOrder(preference: readonly string[], capacity: readonly string[]): string[] {
  const unique = preference.filter((r, i) => preference.indexOf(r) === i);
  return [...unique.filter((r) => capacity.includes(r)), ...unique.filter((r) => !capacity.includes(r))];
}

/** What the launch may do with the filesystem. */
export type FilesystemSituation =
  | { readonly kind: "none" }
  /** Created empty by this deployment and never mounted: it may be moved to where capacity is. */
  | { readonly kind: "fresh"; readonly region: string }
  /** May hold weights (adopted, or from an earlier deployment): it pins the region. */
  | { readonly kind: "pinned"; readonly region: string };

/** Fresh only when this process created it, nothing ever mounted it, and the API agrees it is unused. */
export function filesystemSituation(fs: Pick<ApiFilesystem, "id" | "region" | "is_in_use"> | undefined, freshIds: ReadonlySet<string>): FilesystemSituation {
  if (!fs) return { kind: "none" };
  return freshIds.has(fs.id) && !fs.is_in_use ? { kind: "fresh", region: fs.region.name } : { kind: "pinned", region: fs.region.name };
}

/** One launch attempt: the region, and whether the filesystem comes along (moved there first if fresh). */
export interface LaunchStep {
  readonly region: string;
  readonly withFilesystem: boolean;
}

/**
 * The launch attempts in order. No filesystem: every preferred region (see chooseRegionOrder). A
 * fresh filesystem: its region first, then the others, the filesystem following the launch. A
 * pinned one: its region only (`wait`), or its region and then the others without it (`elsewhere`).
 */
export function launchSteps(preference: readonly string[], capacity: readonly string[], fs: FilesystemSituation, policy: PinnedRegionPolicy): LaunchStep[] {
  const order = chooseRegionOrder(preference, capacity);
  if (fs.kind === "none") return order.map((region) => ({ region, withFilesystem: false }));
  const others = order.filter((r) => r !== fs.region);
  if (fs.kind === "fresh") return [fs.region, ...others].map((region) => ({ region, withFilesystem: true }));
  const home = { region: fs.region, withFilesystem: true };
  return policy === "wait" ? [home] : [home, ...others.map((region) => ({ region, withFilesystem: false }))];
}

const HOSTNAME = /^[a-z0-9][0-9a-z-]{0,62}$/;

export function validateInstanceInputs(news: InstanceInputs): { property: string; reason: string }[] {
  const failures: { property: string; reason: string }[] = [];
  const known = (v: unknown) => !containsUnknown(v);
  failures.push(
    ...regionFailures(news.regions, "regions must list at least one Lambda region in preference order, e.g. [\"us-east-1\", \"us-west-1\"]"),
  );
  if (known(news.instanceType) && !/^[a-z0-9_]+$/.test(news.instanceType ?? "")) {
    failures.push({ property: "instanceType", reason: `instanceType "${news.instanceType ?? ""}" is not an instance type name like "gpu_8x_b200_sxm6"` });
  }
  if (known(news.imageFamily) && !news.imageFamily) {
    failures.push({ property: "imageFamily", reason: "imageFamily must name an image family, e.g. \"gpu-base-24-04\"" });
  }
  if (known(news.sshKeyName) && !news.sshKeyName) {
    failures.push({ property: "sshKeyName", reason: "sshKeyName must name a registered SSH key" });
  }
  if (news.hostname !== undefined && known(news.hostname) && !HOSTNAME.test(news.hostname)) {
    failures.push({ property: "hostname", reason: `hostname "${news.hostname}" must match ^[a-z0-9][0-9a-z-]{0,62}$ (lowercase letters, digits, "-")` });
  }
  if (known(news.instanceName) && (news.instanceName ?? "").length > 64) {
    failures.push({ property: "instanceName", reason: `instanceName must be at most 64 characters, got ${news.instanceName.length}` });
  }
  if (news.pinnedRegionPolicy !== undefined && known(news.pinnedRegionPolicy) && !PINNED_REGION_POLICIES.includes(news.pinnedRegionPolicy)) {
    failures.push({ property: "pinnedRegionPolicy", reason: `pinnedRegionPolicy "${String(news.pinnedRegionPolicy)}" must be one of ${PINNED_REGION_POLICIES.join(", ")}` });
  }
  if (news.filesystemMountPoint && known(news.filesystemMountPoint) && !MOUNT_POINT.test(news.filesystemMountPoint)) {
    failures.push({ property: "filesystemMountPoint", reason: `filesystemMountPoint "${news.filesystemMountPoint}" must lie under /home, /lambda/nfs or /data (letters, digits, "-", "/")` });
  }
  if (news.localCachePath && known(news.localCachePath) && !news.localCachePath.startsWith("/")) {
    failures.push({ property: "localCachePath", reason: `localCachePath "${news.localCachePath}" must be an absolute path` });
  }
  for (const p of ["ttlSeconds", "waitTimeoutSeconds", "pinnedRegionWaitSeconds", "maxPriceCentsPerHour"] as const) {
    const v = news[p];
    if ((p === "pinnedRegionWaitSeconds" || p === "maxPriceCentsPerHour") && v === undefined) continue;
    if (known(v) && (typeof v !== "number" || !Number.isFinite(v) || v < 0)) {
      failures.push({ property: p, reason: `${p} must be a non-negative number${p === "maxPriceCentsPerHour" ? " of US cents per hour" : " of seconds"}, got ${String(v)}` });
    }
  }
  return failures;
}

/** Instances carrying this resource's identity that are not dead, oldest listing order kept. */
async function findOwnInstances(client: LambdaClient, inputs: InstanceInputs): Promise<ApiInstance[]> {
  const identity = identityTags(inputs);
  return (await client.listInstances()).filter((i) => hasIdentity(i, identity) && i.status !== "terminated" && i.status !== "terminating");
}

/** Terminates and waits until the instance is gone (404) or `terminated`, bounded by time. */
async function terminateAndWait(client: LambdaClient, id: string, label: string, clock: WaitClock): Promise<void> {
  const { terminateTimeoutMs, pollMs, progressMs } = waitSettings();
  try {
    await client.terminateInstances([id]);
  } catch (e) {
    if (isLambdaError(e, "not-found")) return;
    throw e;
  }
  const started = clock.now();
  let lastReport = started;
  for (let polls = 0; polls < 100_000; polls++) {
    let status: InstanceStatus;
    try {
      status = (await client.getInstance(id)).status;
    } catch (e) {
      if (isLambdaError(e, "not-found")) return;
      throw e;
    }
    if (status === "terminated") return;
    const elapsed = clock.now() - started;
    if (elapsed >= terminateTimeoutMs) {
      throw new Error(
        `Lambda instance ${label} is still "${status}" ${formatElapsed(elapsed)} after terminate was requested; it may still bill. ` +
          `Check the Lambda dashboard and terminate it there if needed, then re-run. Raise LAMBDA_TERMINATE_TIMEOUT_MS to wait longer.`,
      );
    }
    if (clock.now() - lastReport >= progressMs) {
      progress(`instance ${label} still ${status} ${formatElapsed(elapsed)} after terminate`);
      lastReport = clock.now();
    }
    await clock.sleep(Math.min(pollMs, terminateTimeoutMs - elapsed));
  }
}

/** The filesystem facts recorded at launch (state written before these fields existed: none). */
function recordedFilesystem(o: Partial<InstanceOutputs>): FilesystemOutcome {
  return o.filesystemAttached ? { attached: true, id: o.filesystemId ?? "", region: o.filesystemRegion ?? "" } : NO_FILESYSTEM;
}

function labelOf(i: { id: string; instance_type?: { name: string }; region?: { name: string } }): string {
  return `${i.id} (${i.instance_type?.name ?? "?"} in ${i.region?.name ?? "?"})`;
}

/**
 * Waits for `active` with an IP. On `unhealthy`, `terminated`, `terminating`, `preempted` or
 * timeout the instance is terminated (so it stops billing) and the error says what happened.
 */
async function waitForActive(client: LambdaClient, id: string, timeoutMs: number, label: string, clock: WaitClock): Promise<ApiInstance> {
  const { pollMs, progressMs } = waitSettings();
  const started = clock.now();
  let lastReport = started;
  let last: ApiInstance | undefined;
  for (let polls = 0; polls < 1_000_000; polls++) {
    let failure: string | undefined;
    try {
      last = await client.getInstance(id);
    } catch (e) {
      if (!isLambdaError(e, "not-found")) throw e;
      failure = "disappeared from the API while booting";
    }
    if (last && !failure) {
      if (last.status === "active" && last.ip) return last;
      if (last.status === "unhealthy") failure = "became unhealthy while booting (a known HGX failure mode)";
      else if (last.status === "preempted") failure = "was preempted while booting";
      else if (last.status === "terminated" || last.status === "terminating") failure = `was ${last.status} while booting (outside this deployment?)`;
    }
    const elapsed = clock.now() - started;
    if (!failure && elapsed >= timeoutMs) {
      failure = `was still "${last?.status ?? "unknown"}" after the boot timeout of ${formatElapsed(timeoutMs)}`;
    }
    if (failure) {
      const already = last?.status === "terminated";
      if (!already) await terminateAndWait(client, id, label, clock);
      throw new Error(
        `Lambda instance ${label} ${failure}; it ${already ? "is" : "was"} terminated so it does not keep billing. ` +
          `Re-run \`pulumi up\` to launch a fresh one; if this repeats, put other regions first in lambdaRegions ` +
          `or raise lambdaBootTimeout (now ${formatElapsed(timeoutMs)}).`,
      );
    }
    if (clock.now() - lastReport >= progressMs) {
      progress(`instance ${label} is ${last?.status ?? "?"} after ${formatElapsed(elapsed)} (boot timeout ${formatElapsed(timeoutMs)})`);
      lastReport = clock.now();
    }
    await clock.sleep(Math.min(pollMs, Math.max(0, timeoutMs - elapsed)));
  }
  throw new Error(`Lambda instance ${label}: gave up polling.`);
}

/** Where the filesystem is mounted: the configured mount point, else Lambda's default. */
export function mountPointFor(inputs: Pick<InstanceInputs, "filesystemName" | "filesystemMountPoint">): string {
  return inputs.filesystemMountPoint || `/lambda/nfs/${inputs.filesystemName ?? ""}`;
}

/** The filesystem as the running instance has it. */
export interface FilesystemOutcome {
  readonly attached: boolean;
  readonly id: string;
  readonly region: string;
}

/** The HF cache path on the host: the mount with the filesystem, local disk without it, "" when none was configured. */
export function cachePathFor(inputs: Pick<InstanceInputs, "filesystemName" | "filesystemMountPoint" | "localCachePath">, attached: boolean): string {
  if (!inputs.filesystemName) return "";
  return attached ? mountPointFor(inputs) : inputs.localCachePath || DEFAULT_LOCAL_CACHE_PATH;
}

function outsFrom(inputs: InstanceInputs, i: ApiInstance, expiresAt: string, adopted: boolean, fs: FilesystemOutcome): InstanceOutputs {
  const expiresTag = (i.tags ?? []).find((t) => t.key === TAG_EXPIRES)?.value;
  return plain({
    ...inputs,
    instanceId: i.id,
    ip: i.ip ?? "",
    privateIp: i.private_ip ?? "",
    region: i.region.name,
    priceCentsPerHour: i.instance_type.price_cents_per_hour,
    actualHostname: i.hostname ?? "",
    status: i.status,
    expiresAt: expiresTag ?? expiresAt,
    adopted,
    filesystemAttached: fs.attached,
    filesystemId: fs.attached ? fs.id : "",
    filesystemRegion: fs.attached ? fs.region : "",
    cacheMountPath: cachePathFor(inputs, fs.attached),
  });
}

const NO_FILESYSTEM: FilesystemOutcome = { attached: false, id: "", region: "" };

async function findFilesystem(client: LambdaClient, name: string): Promise<ApiFilesystem | undefined> {
  return (await client.listFilesystems()).find((f) => f.name === name);
}

/**
 * Moves a filesystem created empty by this deployment to `region`: deletes it and creates it
 * again there under the same name. Only ever called for a `fresh` one (nothing in it).
 */
async function moveFreshFilesystem(client: LambdaClient, fs: ApiFilesystem, region: string): Promise<ApiFilesystem> {
  const fresh = freshFilesystems();
  await client.deleteFilesystem(fs.id);
  fresh.delete(fs.id);
  const moved = await client.createFilesystem(fs.name, region);
  fresh.add(moved.id);
  return moved;
}

/** One launch call with the 5xx/lost-response handling; "refused" on insufficient capacity. */
async function tryLaunch(
  client: LambdaClient,
  inputs: InstanceInputs,
  region: string,
  fs: ApiFilesystem | undefined,
  expiresAt: string,
  clock: WaitClock,
): Promise<{ id: string; adopted: boolean } | "refused"> {
  const rulesetId = inputs.firewallRulesetIds?.[region];
  const req: LaunchRequest = {
    region_name: region,
    instance_type_name: inputs.instanceType,
    ssh_key_names: [inputs.sshKeyName],
    name: inputs.instanceName,
    image: { family: inputs.imageFamily },
    tags: instanceTags(inputs, expiresAt),
    ...(fs ? { file_system_names: [fs.name], file_system_mounts: [{ file_system_id: fs.id, mount_point: mountPointFor(inputs) }] } : {}),
    ...(inputs.hostname ? { hostname: inputs.hostname } : {}),
    ...(rulesetId ? { firewall_rulesets: [{ id: rulesetId }] } : {}),
    ...(inputs.userData ? { user_data: inputs.userData } : {}),
  };
  // A 5xx or lost response leaves it open whether the launch happened: look for the
  // instance by its tags before trying again. Bounded to a few rounds per region.
  for (let round = 1; round <= 4; round++) {
    try {
      const id = await client.launchInstance(req);
      progress(`launched ${id} in ${region}${fs ? ` with filesystem "${fs.name}"` : ""}`);
      return { id, adopted: false };
    } catch (e) {
      if (isLambdaError(e, "not-found")) {
        throw new Error(
          `Launch in ${region} refused: something it names does not exist there (SSH key "${inputs.sshKeyName}", image family ` +
            `"${inputs.imageFamily}"${fs ? `, filesystem "${fs.name}"` : ""}${rulesetId ? `, firewall ruleset ${rulesetId}` : ""}). ` +
            `API: ${e.apiMessage ?? e.code}. Run \`pulumi refresh\` if one was deleted outside Pulumi, then \`pulumi up\`.`,
        );
      }
      if (isLambdaError(e, "capacity")) return "refused";
      // 429s were retried by the client already; other retryable failures leave the launch open.
      if (isLambdaError(e) && e.retryable === true && e.kind !== "rate-limited") {
        const own = await findOwnInstances(client, inputs);
        if (own.length > 0) {
          progress(`launch in ${region} answered ${e.code}, but instance ${own[0].id} with this resource's tags exists: using it`);
          return { id: own[0].id, adopted: true };
        }
        if (round < 4) {
          progress(`launch in ${region} answered ${e.code} and no instance appeared; retrying (${round}/3)`);
          await clock.sleep(waitSettings().pollMs);
          continue;
        }
      }
      throw e;
    }
  }
  throw new Error(`Launch in ${region}: gave up after 4 rounds.`);
}

/** Attempts allowed while waiting `waitMs` for capacity, `retryMs` apart (the first one included). */
export function waitAttempts(waitMs: number, retryMs: number): number {
  return Math.min(10_000, 1 + Math.floor(waitMs / Math.max(1, retryMs)));
}

interface LaunchResult {
  id: string;
  adopted: boolean;
  fs: FilesystemOutcome;
}

/** The offered instance type within the price ceiling; throws naming the type, the price and the fix. */
async function offeredInstanceType(client: LambdaClient, inputs: InstanceInputs): Promise<InstanceTypesItem> {
  const types = await client.listInstanceTypes();
  const item = types[inputs.instanceType];
  if (!item) {
    const names = Object.keys(types).sort().join(", ");
    throw new Error(`instanceType "${inputs.instanceType}" is not offered by Lambda Cloud; pick one of: ${names}.`);
  }
  const price = item.instance_type.price_cents_per_hour;
  if (inputs.maxPriceCentsPerHour !== undefined && price > inputs.maxPriceCentsPerHour) {
    throw new Error(
      `instanceType "${inputs.instanceType}" costs $${(price / 100).toFixed(2)}/h, above the ceiling of $${(inputs.maxPriceCentsPerHour / 100).toFixed(2)}/h; nothing was launched. ` +
        "Fix: raise the ceiling (stack config lambdaMaxHourlyPriceUsd) if the price is acceptable, or choose a cheaper instance type.",
    );
  }
  return item;
}

/** The filesystem the launch attaches, as the API lists it now; throws when it was deleted outside Pulumi. */
async function launchFilesystem(client: LambdaClient, inputs: InstanceInputs): Promise<ApiFilesystem | undefined> {
  if (!inputs.filesystemName) return undefined;
  const fs = await findFilesystem(client, inputs.filesystemName);
  if (!fs) {
    throw new Error(
      `Filesystem "${inputs.filesystemName}" no longer exists in the Lambda account (deleted outside Pulumi?): run \`pulumi refresh\`, then \`pulumi up\` to create it again.`,
    );
  }
  return fs;
}

/** One launch step: a single attempt, or (waiting on a pinned filesystem's region) attempts a minute apart until the wait ends. */
async function launchInRegion(
  client: LambdaClient,
  inputs: InstanceInputs,
  step: { readonly region: string; readonly attach: ApiFilesystem | undefined; readonly waiting: boolean },
  expiresAt: string,
  clock: WaitClock,
): Promise<{ id: string; adopted: boolean } | "refused"> {
  const { capacityRetryMs } = waitSettings();
  const waitMs = (inputs.pinnedRegionWaitSeconds ?? 1800) * 1000;
  const attempts = step.waiting ? waitAttempts(waitMs, capacityRetryMs) : 1;
  const started = clock.now();
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const outcome = await tryLaunch(client, inputs, step.region, step.attach, expiresAt, clock);
    if (outcome !== "refused" || !step.waiting) return outcome;
    const elapsed = clock.now() - started;
    if (attempt === attempts || elapsed + capacityRetryMs > waitMs) break;
    progress(
      `no ${inputs.instanceType} capacity in ${step.region}, where filesystem "${inputs.filesystemName ?? ""}" (which may hold the weights) lives; ` +
        `lambdaPinnedRegionPolicy is "wait": trying again in ${formatElapsed(capacityRetryMs)} (attempt ${attempt}/${attempts}, ` +
        `waited ${formatElapsed(elapsed)} of ${formatElapsed(waitMs)})`,
    );
    await clock.sleep(capacityRetryMs);
  }
  return "refused";
}

/** Says where the launch goes after `step` was refused (without the filesystem, when it leaves a pinned one behind). */
function reportRefusal(inputs: InstanceInputs, situation: FilesystemSituation, step: LaunchStep, next: LaunchStep): void {
  if (situation.kind === "pinned" && step.withFilesystem) {
    progress(
      `no ${inputs.instanceType} capacity in ${step.region}, where filesystem "${inputs.filesystemName ?? ""}" (which may hold the weights) lives; ` +
        `lambdaPinnedRegionPolicy is "elsewhere": trying ${next.region} WITHOUT the filesystem, so the weights go to local disk at ` +
        `${cachePathFor(inputs, false)} and are downloaded again`,
    );
  } else {
    progress(`no ${inputs.instanceType} capacity in ${step.region}; trying ${next.region} next`);
  }
}

/**
 * Launch: regions by preference and capacity; a filesystem created empty by this deployment moves
 * to where a launch succeeds; a filesystem that may hold weights pins its region and
 * `pinnedRegionPolicy` decides between waiting there and going elsewhere without it.
 */
async function launchWithFailover(client: LambdaClient, inputs: InstanceInputs, expiresAt: string, clock: WaitClock): Promise<LaunchResult> {
  const item = await offeredInstanceType(client, inputs);
  const capacity = item.regions_with_capacity_available.map((r) => r.name);
  let fs = await launchFilesystem(client, inputs);
  const situation = filesystemSituation(fs, freshFilesystems());
  const policy = inputs.pinnedRegionPolicy ?? "wait";
  const steps = launchSteps(inputs.regions, capacity, situation, policy);
  const fsName = inputs.filesystemName ?? "";
  if (situation.kind === "pinned" && !inputs.regions.includes(situation.region)) {
    progress(`filesystem "${fsName}" lives in ${situation.region}, outside regions [${inputs.regions.join(", ")}]: launching there`);
  }
  progress(
    `launching ${inputs.instanceType} ($${(item.instance_type.price_cents_per_hour / 100).toFixed(2)}/h); capacity listed in [${capacity.join(", ")}]; ` +
      `trying [${steps.map((s) => (fs && !s.withFilesystem ? `${s.region} without the filesystem` : s.region)).join(", ")}]`,
  );
  const refused: string[] = [];
  for (const [index, step] of steps.entries()) {
    if (step.withFilesystem && fs && fs.region.name !== step.region) {
      progress(
        `filesystem "${fs.name}" was created empty by this deployment in ${fs.region.name}, where the launch was refused: ` +
          `moving it to ${step.region} (deleting it and creating it again there)`,
      );
      fs = await moveFreshFilesystem(client, fs, step.region);
    }
    const attach = step.withFilesystem ? fs : undefined;
    const outcome = await launchInRegion(client, inputs, { region: step.region, attach, waiting: situation.kind === "pinned" && policy === "wait" }, expiresAt, clock);
    if (outcome !== "refused") {
      if (attach) freshFilesystems().delete(attach.id); // mounted now: never "empty" again
      return { ...outcome, fs: attach ? { attached: true, id: attach.id, region: attach.region.name } : NO_FILESYSTEM };
    }
    refused.push(step.region);
    const next = steps[index + 1];
    if (!next) break;
    reportRefusal(inputs, situation, step, next);
  }
  throw new CapacityError(
    {
      code: "instance-operations/launch/insufficient-capacity",
      status: 400,
      operation: "POST /instance-operations/launch",
      apiMessage: `refused in every region tried: ${refused.join(", ")}`,
    },
    refused.join(", "),
    inputs.instanceType,
    capacityAdvice(situation, policy, fsName, refused, inputs.pinnedRegionWaitSeconds ?? 1800),
  );
}

/** What to do after every attempt was refused, saying truthfully what was tried. */
export function capacityAdvice(situation: FilesystemSituation, policy: PinnedRegionPolicy, fsName: string, refused: readonly string[], waitSeconds: number): string {
  if (situation.kind === "pinned" && policy === "wait") {
    return (
      `Filesystem "${fsName}" (which may hold the weights) pins the launch to ${situation.region}, and no capacity appeared there within ` +
      `${formatElapsed(waitSeconds * 1000)} of retries. Re-run later, raise lambdaPinnedRegionWait, or set lambdaPinnedRegionPolicy to ` +
      `"elsewhere" to launch in another region without it (the weights are then downloaded to local disk).`
    );
  }
  if (situation.kind === "pinned") {
    return `Every region was tried: ${situation.region} with filesystem "${fsName}", then the others without it. Re-run later, or add regions to lambdaRegions.`;
  }
  const moved = situation.kind === "fresh" ? ` The empty filesystem "${fsName}" followed each attempt and now lives in ${refused[refused.length - 1]}.` : "";
  return `Every region in lambdaRegions was tried in turn (${refused.join(", ")}).${moved} Re-run later, or add regions to lambdaRegions.`;
}

export class InstanceProvider implements pulumi.dynamic.ResourceProvider<InstanceInputs, InstanceOutputs> {
  private stackConfig: StackConfigView | undefined = undefined;

  /** @param clock time source of the boot and terminate waits. @default systemClock() */
  constructor(private readonly clock?: WaitClock) {}

  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.stackConfig = req.config;
  }

  async check(_olds: InstanceInputs, news: InstanceInputs): Promise<pulumi.dynamic.CheckResult<InstanceInputs>> {
    return { inputs: plain(news), failures: validateInstanceInputs(news) };
  }

  async diff(_id: string, olds: InstanceOutputs, news: InstanceInputs): Promise<pulumi.dynamic.DiffResult> {
    const replaces = changedKeys<InstanceInputs>(olds, news, ["instanceType", "imageFamily", "sshKeyName", "filesystemName", "filesystemMountPoint", "hostname"]);
    // Still allowed where it runs? A new preference order alone does not move a running instance,
    // nor does one running in its filesystem's region (the filesystem chose it).
    if (!containsUnknown(news.regions) && !olds.filesystemAttached && !news.regions.includes(olds.region)) replaces.push("regions");
    // Only the ruleset of the instance's region matters; an unknown map (preview) is not a replace.
    const newRuleset = containsUnknown(news.firewallRulesetIds) ? undefined : news.firewallRulesetIds?.[olds.region];
    if (newRuleset !== undefined && newRuleset !== olds.firewallRulesetIds?.[olds.region]) replaces.push("firewallRulesetIds");
    // ttlSeconds, waitTimeoutSeconds, maxPriceCentsPerHour, protected, userData, the identity tags, instanceName
    // and the pinned-region policy apply at launch only and are deliberately not diffed: changing them
    // must not relaunch an 8-GPU machine. (A new identity changes sshKeyName, which does replace.)
    const updates = changedKeys<InstanceInputs>(olds, news, API_ROUTING_KEYS);
    return { changes: replaces.length + updates.length > 0, replaces, deleteBeforeReplace: true };
  }

  async create(inputs: InstanceInputs): Promise<{ id: string; outs: InstanceOutputs }> {
    const client = clientFor(inputs, this.stackConfig);
    const clock = this.clock ?? systemClock();
    const expiresAt = expiryFor(inputs.ttlSeconds, new Date(clock.now()));

    // Adopt before launching: an interrupted earlier run may have left this very instance.
    let id: string | undefined;
    let adopted = false;
    let fs: FilesystemOutcome = NO_FILESYSTEM;
    for (const own of await findOwnInstances(client, inputs)) {
      const withFs = !!inputs.filesystemName && (own.file_system_names ?? []).includes(inputs.filesystemName);
      const fits = own.instance_type.name === inputs.instanceType && (withFs || inputs.regions.includes(own.region.name));
      if (!id && fits && own.status !== "unhealthy" && own.status !== "preempted") {
        progress(`adopting instance ${labelOf(own)} (${own.status}) launched by an interrupted earlier run`);
        id = own.id;
        adopted = true;
        if (withFs) {
          const live = await findFilesystem(client, inputs.filesystemName ?? "");
          fs = { attached: true, id: live?.id ?? "", region: own.region.name };
        }
      } else {
        // Carries this resource's identity but cannot be used: it is an orphan that bills.
        progress(`terminating orphan instance ${labelOf(own)} (${own.status}) left by an earlier run`);
        await terminateAndWait(client, own.id, labelOf(own), clock);
      }
    }
    if (!id) ({ id, adopted, fs } = await launchWithFailover(client, inputs, expiresAt, clock));

    const label = `${id} (${inputs.instanceType})`;
    const ready = await waitForActive(client, id, inputs.waitTimeoutSeconds * 1000, label, clock);
    progress(`instance ${labelOf(ready)} is active at ${ready.ip}`);
    // Look again: a killed earlier deployment's provider (or a launch whose answer was lost) may
    // have launched after the lookup above. Only the instance this state holds may carry the identity.
    for (const extra of (await findOwnInstances(client, inputs)).filter((i) => i.id !== id)) {
      progress(`terminating extra instance ${labelOf(extra)} (${extra.status}): it carries this resource's identity but is not the one in the stack's state (launched by an interrupted run)`);
      await terminateAndWait(client, extra.id, labelOf(extra), clock);
    }
    return { id, outs: outsFrom(inputs, ready, expiresAt, adopted, fs) };
  }

  async read(id: string, props?: InstanceOutputs): Promise<pulumi.dynamic.ReadResult<InstanceOutputs>> {
    if (!props) throw new Error(`Instance read(${id}) needs the resource's last state; import is not supported.`);
    const client = clientFor(props, this.stackConfig);
    let live: ApiInstance;
    try {
      live = await client.getInstance(id);
    } catch (e) {
      if (isLambdaError(e, "not-found")) return { id: "", props: {} as InstanceOutputs };
      throw e;
    }
    // Terminated (or on its way) is as good as gone: nothing left to manage.
    if (live.status === "terminated" || live.status === "terminating") return { id: "", props: {} as InstanceOutputs };
    return { id, props: outsFrom(props, live, props.expiresAt, props.adopted, recordedFilesystem(props)) };
  }

  async update(id: string, olds: InstanceOutputs, news: InstanceInputs): Promise<{ outs: InstanceOutputs }> {
    // Reached only for provider version / API routing changes: re-read the instance with the new settings.
    const client = clientFor(news, this.stackConfig);
    const live = await client.getInstance(id);
    // Launch-time-only inputs keep their recorded values (they were not diffed).
    const kept: InstanceInputs = {
      ...news,
      ttlSeconds: olds.ttlSeconds,
      waitTimeoutSeconds: olds.waitTimeoutSeconds,
      organization: olds.organization,
      project: olds.project,
      stack: olds.stack,
      stackUid: olds.stackUid,
      instanceName: olds.instanceName,
      maxPriceCentsPerHour: olds.maxPriceCentsPerHour,
      protected: olds.protected,
      pinnedRegionPolicy: olds.pinnedRegionPolicy,
      pinnedRegionWaitSeconds: olds.pinnedRegionWaitSeconds,
      localCachePath: olds.localCachePath,
      userData: olds.userData,
    };
    return { outs: outsFrom(kept, live, olds.expiresAt, olds.adopted, recordedFilesystem(olds)) };
  }

  async delete(id: string, props: InstanceOutputs): Promise<void> {
    const client = clientFor(props, this.stackConfig);
    progress(`terminating instance ${id} (${props.instanceType} in ${props.region})`);
    await terminateAndWait(client, id, `${id} (${props.instanceType} in ${props.region})`, this.clock ?? systemClock());
  }
}

export interface InstanceArgs extends LambdaCommonArgs {
  resourceName: pulumi.Input<string>;
  organization: pulumi.Input<string>;
  project: pulumi.Input<string>;
  stack: pulumi.Input<string>;
  stackUid: pulumi.Input<string>;
  instanceName: pulumi.Input<string>;
  regions: pulumi.Input<pulumi.Input<string>[]>;
  instanceType: pulumi.Input<string>;
  imageFamily: pulumi.Input<string>;
  sshKeyName: pulumi.Input<string>;
  filesystemName?: pulumi.Input<string>;
  /** @default /lambda/nfs/<filesystemName> */
  filesystemMountPoint?: pulumi.Input<string>;
  /** @default "wait" */
  pinnedRegionPolicy?: pulumi.Input<PinnedRegionPolicy>;
  /** @default 1800 */
  pinnedRegionWaitSeconds?: pulumi.Input<number>;
  /** @default "/home/ubuntu/hf-cache" */
  localCachePath?: pulumi.Input<string>;
  firewallRulesetIds?: pulumi.Input<Record<string, string>>;
  hostname?: pulumi.Input<string>;
  ttlSeconds: pulumi.Input<number>;
  waitTimeoutSeconds: pulumi.Input<number>;
  maxPriceCentsPerHour?: pulumi.Input<number>;
  protected?: pulumi.Input<boolean>;
  /** cloud-init user_data; wrapped as a secret whatever it arrives as. */
  userData?: pulumi.Input<string>;
}

/** A Lambda Cloud instance (token `pulumi-nodejs:dynamic/lambda:Instance`). */
export class Instance extends pulumi.dynamic.Resource {
  declare readonly instanceId: pulumi.Output<string>;
  declare readonly ip: pulumi.Output<string>;
  declare readonly privateIp: pulumi.Output<string>;
  declare readonly region: pulumi.Output<string>;
  declare readonly instanceType: pulumi.Output<string>;
  declare readonly priceCentsPerHour: pulumi.Output<number>;
  declare readonly actualHostname: pulumi.Output<string>;
  declare readonly status: pulumi.Output<InstanceStatus>;
  declare readonly expiresAt: pulumi.Output<string>;
  declare readonly adopted: pulumi.Output<boolean>;
  declare readonly filesystemAttached: pulumi.Output<boolean>;
  declare readonly filesystemId: pulumi.Output<string>;
  declare readonly filesystemRegion: pulumi.Output<string>;
  declare readonly cacheMountPath: pulumi.Output<string>;

  constructor(name: string, args: InstanceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      withoutStackTraces(new InstanceProvider()),
      name,
      {
        ...args,
        ...(args.userData !== undefined ? { userData: pulumi.secret(args.userData) } : {}),
        providerVersion: LAMBDA_PROVIDER_VERSION,
        instanceId: undefined,
        ip: undefined,
        privateIp: undefined,
        region: undefined,
        priceCentsPerHour: undefined,
        actualHostname: undefined,
        status: undefined,
        expiresAt: undefined,
        adopted: undefined,
        filesystemAttached: undefined,
        filesystemId: undefined,
        filesystemRegion: undefined,
        cacheMountPath: undefined,
      },
      {
        ...opts,
        additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "userData"],
        // Always delete first, also on `pulumi up --replace` (where the engine does not ask the
        // provider's diff): the replacement carries the same identity tags, so created first it
        // would adopt the very instance about to be deleted, and the delete would then terminate
        // the instance the state keeps.
        deleteBeforeReplace: true,
      },
      "lambda",
      "Instance",
    );
  }
}
