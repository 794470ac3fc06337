// Dynamic resource: one Lambda Cloud instance. Launch picks a region by preference and capacity
// and fails over on insufficient capacity; an instance already carrying this resource's identity
// tags is adopted instead of launching a second one (the API has no idempotency token, so a
// crash between launch and the state write would otherwise leave a billing orphan). Create
// waits for `active`; a boot that ends unhealthy, terminated, preempted or late is terminated.
import * as pulumi from "@pulumi/pulumi";
import {
  API_ROUTING_KEYS,
  changedKeys,
  plain,
  clientFor,
  containsUnknown,
  formatElapsed,
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
import { CapacityError, LambdaApiError, NotFoundError, RateLimitedError } from "./errors";
import type { LambdaClient } from "./client";
import type { Instance as ApiInstance, InstanceStatus, LaunchRequest, Tag } from "./types";

export interface InstanceInputs extends LambdaCommonInputs {
  /** Pulumi resource name; part of the identity tags. */
  resourceName: string;
  /** Pulumi project and stack; part of the identity tags. */
  project: string;
  stack: string;
  /** Instance name shown in the dashboard (max 64, not unique). */
  instanceName: string;
  /** Regions in preference order. */
  regions: string[];
  instanceType: string;
  /** OS image family, e.g. `gpu-base-24-04`. */
  imageFamily: string;
  /** Name of the registered SSH key (exactly one). */
  sshKeyName: string;
  /** Persistent filesystem to attach (mounted at /lambda/nfs/<name>). */
  filesystemName?: string;
  /** The filesystem's region: it pins the launch region. */
  filesystemRegion?: string;
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
}

export interface InstanceOutputs extends InstanceInputs {
  instanceId: string;
  ip: string;
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
}

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

/** The identity of an instance: project, stack and resource name, as tags. */
export function identityTags(i: Pick<InstanceInputs, "project" | "stack" | "resourceName">): Tag[] {
  return [
    { key: TAG_PROJECT, value: i.project.slice(0, TAG_VALUE_MAX) },
    { key: TAG_STACK, value: i.stack.slice(0, TAG_VALUE_MAX) },
    { key: TAG_RESOURCE, value: i.resourceName.slice(0, TAG_VALUE_MAX) },
  ];
}

/**
 * All launch tags: identity + expiry (ISO time, or "never") + who manages it, and, when set, the
 * explicit lifetime and the protection mark the reaper reads.
 */
export function instanceTags(
  i: Pick<InstanceInputs, "project" | "stack" | "resourceName"> & Partial<Pick<InstanceInputs, "ttlSeconds" | "protected">>,
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
 * Launch order. A filesystem pins the region (it attaches only in its own region). Otherwise the
 * preferred regions that list capacity come first, in preference order; the other preferred
 * regions follow, since the capacity list is only a hint and windows are short.
 */
export function chooseRegionOrder(preference: readonly string[], capacity: readonly string[], filesystemRegion?: string): string[] {
  if (filesystemRegion) return [filesystemRegion];
  const unique = preference.filter((r, i) => preference.indexOf(r) === i);
  return [...unique.filter((r) => capacity.includes(r)), ...unique.filter((r) => !capacity.includes(r))];
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
  for (const p of ["ttlSeconds", "waitTimeoutSeconds", "maxPriceCentsPerHour"] as const) {
    const v = news[p];
    if (p === "maxPriceCentsPerHour" && v === undefined) continue;
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
    if (e instanceof NotFoundError) return;
    throw e;
  }
  const started = clock.now();
  let lastReport = started;
  for (let polls = 0; polls < 100_000; polls++) {
    let status: InstanceStatus;
    try {
      status = (await client.getInstance(id)).status;
    } catch (e) {
      if (e instanceof NotFoundError) return;
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
      if (!(e instanceof NotFoundError)) throw e;
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
          `Re-run \`pulumi up\` to launch a fresh one; if this repeats, try other regions (regions) ` +
          `or raise the boot timeout (waitTimeout).`,
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

function outsFrom(inputs: InstanceInputs, i: ApiInstance, expiresAt: string, adopted: boolean): InstanceOutputs {
  const expiresTag = (i.tags ?? []).find((t) => t.key === TAG_EXPIRES)?.value;
  return plain({
    ...inputs,
    instanceId: i.id,
    ip: i.ip ?? "",
    region: i.region.name,
    priceCentsPerHour: i.instance_type.price_cents_per_hour,
    actualHostname: i.hostname ?? "",
    status: i.status,
    expiresAt: expiresTag ?? expiresAt,
    adopted,
  });
}

/** Launch, failing over across regions on insufficient capacity. */
async function launchWithFailover(client: LambdaClient, inputs: InstanceInputs, expiresAt: string, clock: WaitClock): Promise<{ id: string; adopted: boolean }> {
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
  const capacity = item.regions_with_capacity_available.map((r) => r.name);
  const order = chooseRegionOrder(inputs.regions, capacity, inputs.filesystemRegion);
  if (inputs.filesystemRegion && !inputs.regions.includes(inputs.filesystemRegion)) {
    progress(`filesystem "${inputs.filesystemName}" lives in ${inputs.filesystemRegion}, outside regions [${inputs.regions.join(", ")}]: launching there anyway`);
  }
  progress(
    `launching ${inputs.instanceType} ($${(item.instance_type.price_cents_per_hour / 100).toFixed(2)}/h); capacity listed in [${capacity.join(", ")}]; trying [${order.join(", ")}]`,
  );
  const refused: string[] = [];
  for (const region of order) {
    const rulesetId = inputs.firewallRulesetIds?.[region];
    const req: LaunchRequest = {
      region_name: region,
      instance_type_name: inputs.instanceType,
      ssh_key_names: [inputs.sshKeyName],
      name: inputs.instanceName,
      image: { family: inputs.imageFamily },
      tags: instanceTags(inputs, expiresAt),
      ...(inputs.filesystemName ? { file_system_names: [inputs.filesystemName] } : {}),
      ...(inputs.hostname ? { hostname: inputs.hostname } : {}),
      ...(rulesetId ? { firewall_rulesets: [{ id: rulesetId }] } : {}),
    };
    // A 5xx or lost response leaves it open whether the launch happened: look for the
    // instance by its tags before trying again. Bounded to a few rounds per region.
    for (let round = 1; round <= 4; round++) {
      try {
        const id = await client.launchInstance(req);
        progress(`launched ${id} in ${region}`);
        return { id, adopted: false };
      } catch (e) {
        if (e instanceof NotFoundError) {
          throw new Error(
            `Launch in ${region} refused: something it names does not exist there (SSH key "${inputs.sshKeyName}", image family ` +
              `"${inputs.imageFamily}"${inputs.filesystemName ? `, filesystem "${inputs.filesystemName}"` : ""}${rulesetId ? `, firewall ruleset ${rulesetId}` : ""}). ` +
              `API: ${e.apiMessage ?? e.code}. Run \`pulumi refresh\` if one was deleted outside Pulumi, then \`pulumi up\`.`,
          );
        }
        if (e instanceof CapacityError) {
          progress(`no ${inputs.instanceType} capacity in ${region}; trying the next region`);
          refused.push(region);
          break;
        }
        if (e instanceof LambdaApiError && e.retryable && !(e instanceof RateLimitedError)) {
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
  }
  throw new CapacityError(
    {
      code: "instance-operations/launch/insufficient-capacity",
      status: 400,
      operation: "POST /instance-operations/launch",
      apiMessage: `refused in every candidate region: ${refused.join(", ")}`,
    },
    order.join(", "),
    inputs.instanceType,
  );
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
    const replaces = changedKeys<InstanceInputs>(olds, news, ["instanceType", "imageFamily", "sshKeyName", "filesystemName", "hostname"]);
    // Still allowed where it runs? A new preference order alone does not move a running instance.
    if (!containsUnknown(news.regions) && !news.filesystemRegion && !news.regions.includes(olds.region)) replaces.push("regions");
    if (!containsUnknown(news.filesystemRegion) && news.filesystemRegion && news.filesystemRegion !== olds.region) replaces.push("filesystemRegion");
    // Only the ruleset of the instance's region matters; an unknown map (preview) is not a replace.
    const newRuleset = containsUnknown(news.firewallRulesetIds) ? undefined : news.firewallRulesetIds?.[olds.region];
    if (newRuleset !== undefined && newRuleset !== olds.firewallRulesetIds?.[olds.region]) replaces.push("firewallRulesetIds");
    // ttlSeconds, waitTimeoutSeconds, maxPriceCentsPerHour, protected, project/stack/instanceName apply at launch only and are
    // deliberately not diffed: changing them must not relaunch an 8-GPU machine.
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
    for (const own of await findOwnInstances(client, inputs)) {
      const fits = own.instance_type.name === inputs.instanceType && (inputs.filesystemRegion ? own.region.name === inputs.filesystemRegion : inputs.regions.includes(own.region.name));
      if (!id && fits && own.status !== "unhealthy" && own.status !== "preempted") {
        progress(`adopting instance ${labelOf(own)} (${own.status}) launched by an interrupted earlier run`);
        id = own.id;
        adopted = true;
      } else {
        // Carries this resource's identity but cannot be used: it is an orphan that bills.
        progress(`terminating orphan instance ${labelOf(own)} (${own.status}) left by an earlier run`);
        await terminateAndWait(client, own.id, labelOf(own), clock);
      }
    }
    if (!id) ({ id, adopted } = await launchWithFailover(client, inputs, expiresAt, clock));

    const label = `${id} (${inputs.instanceType})`;
    const ready = await waitForActive(client, id, inputs.waitTimeoutSeconds * 1000, label, clock);
    progress(`instance ${labelOf(ready)} is active at ${ready.ip}`);
    return { id, outs: outsFrom(inputs, ready, expiresAt, adopted) };
  }

  async read(id: string, props?: InstanceOutputs): Promise<pulumi.dynamic.ReadResult<InstanceOutputs>> {
    if (!props) throw new Error(`Instance read(${id}) needs the resource's last state; import is not supported.`);
    const client = clientFor(props, this.stackConfig);
    let live: ApiInstance;
    try {
      live = await client.getInstance(id);
    } catch (e) {
      if (e instanceof NotFoundError) return { id: "", props: {} as InstanceOutputs };
      throw e;
    }
    // Terminated (or on its way) is as good as gone: nothing left to manage.
    if (live.status === "terminated" || live.status === "terminating") return { id: "", props: {} as InstanceOutputs };
    return { id, props: outsFrom(props, live, props.expiresAt, props.adopted) };
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
      project: olds.project,
      stack: olds.stack,
      instanceName: olds.instanceName,
      maxPriceCentsPerHour: olds.maxPriceCentsPerHour,
      protected: olds.protected,
    };
    return { outs: outsFrom(kept, live, olds.expiresAt, olds.adopted) };
  }

  async delete(id: string, props: InstanceOutputs): Promise<void> {
    const client = clientFor(props, this.stackConfig);
    progress(`terminating instance ${id} (${props.instanceType} in ${props.region})`);
    await terminateAndWait(client, id, `${id} (${props.instanceType} in ${props.region})`, this.clock ?? systemClock());
  }
}

export interface InstanceArgs extends LambdaCommonArgs {
  resourceName: pulumi.Input<string>;
  project: pulumi.Input<string>;
  stack: pulumi.Input<string>;
  instanceName: pulumi.Input<string>;
  regions: pulumi.Input<pulumi.Input<string>[]>;
  instanceType: pulumi.Input<string>;
  imageFamily: pulumi.Input<string>;
  sshKeyName: pulumi.Input<string>;
  filesystemName?: pulumi.Input<string>;
  filesystemRegion?: pulumi.Input<string>;
  firewallRulesetIds?: pulumi.Input<Record<string, string>>;
  hostname?: pulumi.Input<string>;
  ttlSeconds: pulumi.Input<number>;
  waitTimeoutSeconds: pulumi.Input<number>;
  maxPriceCentsPerHour?: pulumi.Input<number>;
  protected?: pulumi.Input<boolean>;
}

/** A Lambda Cloud instance (token `pulumi-nodejs:dynamic/lambda:Instance`). */
export class Instance extends pulumi.dynamic.Resource {
  declare readonly instanceId: pulumi.Output<string>;
  declare readonly ip: pulumi.Output<string>;
  declare readonly region: pulumi.Output<string>;
  declare readonly instanceType: pulumi.Output<string>;
  declare readonly priceCentsPerHour: pulumi.Output<number>;
  declare readonly actualHostname: pulumi.Output<string>;
  declare readonly status: pulumi.Output<InstanceStatus>;
  declare readonly expiresAt: pulumi.Output<string>;
  declare readonly adopted: pulumi.Output<boolean>;

  constructor(name: string, args: InstanceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      withoutStackTraces(new InstanceProvider()),
      name,
      {
        ...args,
        providerVersion: LAMBDA_PROVIDER_VERSION,
        instanceId: undefined,
        ip: undefined,
        region: undefined,
        priceCentsPerHour: undefined,
        actualHostname: undefined,
        status: undefined,
        expiresAt: undefined,
        adopted: undefined,
      },
      opts,
      "lambda",
      "Instance",
    );
  }
}
