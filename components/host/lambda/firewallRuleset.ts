// Dynamic resources: inbound firewall rules for the instance, as Lambda firewall rulesets.
// Rulesets are region-scoped and attach only at launch, while the launch region is decided
// by capacity at launch time, so one ruleset (same name, same rules) exists per candidate
// region and the instance attaches the one of the region it lands in. Rulesets are free.
//
// A source known only after launch (the router's host, whose address exists once that instance
// runs) is admitted by a second resource, `FirewallAdmission`, which adds its rules to the
// rulesets afterwards (PATCH): the launch never waits for another instance's address. Its rules
// carry a marker in their description, and the ruleset's own updates keep them.
import * as pulumi from "@pulumi/pulumi";
import {
  API_ROUTING_KEYS,
  changedKeys,
  plain,
  clientFor,
  containsUnknown,
  deleteWhileInUse,
  isIpv4Cidr,
  LAMBDA_PROVIDER_VERSION,
  regionFailures,
  type LambdaCommonArgs,
  type LambdaCommonInputs,
  type StackConfigView,
  withoutStackTraces,
} from "./common";
import { isLambdaError } from "./errors";
import type { LambdaClient } from "./client";
import type { FirewallRule } from "./types";

export interface FirewallRulesetInputs extends LambdaCommonInputs {
  /** Ruleset name (max 64), the same in every region. */
  rulesetName: string;
  /** Regions to create the ruleset in (every region the instance may launch in). */
  regions: string[];
  /** Sources allowed to reach TCP 22. */
  sshSourceCidrs: string[];
  /** Sources allowed to send ICMP; absent = the world (Lambda's default policy, and every ruleset made before this input). */
  icmpSourceCidrs?: string[];
  /** Port the model server listens on. */
  servingPort: number;
  /** Sources allowed to reach `servingPort`; empty = the port stays closed. */
  servingAllowlist: string[];
  /** More ports opened to `servingAllowlist` (the router's client and metrics ports on its host). */
  extraPorts?: number[];
}

export interface FirewallRulesetOutputs extends FirewallRulesetInputs {
  /** Ruleset id per region. */
  rulesetIds: Record<string, string>;
  /** The rules as sent to the API. */
  rules: FirewallRule[];
}

/** ICMP's sources when none are given: anyone, as Lambda's default policy. */
export const ICMP_WORLD: readonly string[] = ["0.0.0.0/0"];

/** Whether two CIDR lists are the same list. */
export function sameCidrs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((c, i) => c === b[i]);
}

/**
 * The inbound rules: SSH from `sshSourceCidrs`, ICMP from `icmpSourceCidrs` (default anyone, as
 * Lambda's default policy; empty = no ICMP rule), and the serving port only from the allowlist
 * (no rule at all when it is empty).
 */
export function firewallRules(
  sshSourceCidrs: readonly string[],
  servingPort: number,
  servingAllowlist: readonly string[],
  extraPorts: readonly number[] = [],
  icmpSourceCidrs: readonly string[] = ICMP_WORLD,
): FirewallRule[] {
  const rules: FirewallRule[] = [];
  for (const cidr of sshSourceCidrs) {
    rules.push({ protocol: "tcp", port_range: [22, 22], source_network: cidr, description: "SSH" });
  }
  for (const cidr of icmpSourceCidrs) rules.push({ protocol: "icmp", source_network: cidr, description: "ICMP (ping)" });
  for (const cidr of servingAllowlist) {
    rules.push({ protocol: "tcp", port_range: [servingPort, servingPort], source_network: cidr, description: `model server port ${servingPort}` });
    for (const port of extraPorts) rules.push({ protocol: "tcp", port_range: [port, port], source_network: cidr, description: `router port ${port}` });
  }
  return rules;
}

/** Description prefix of the rules a `FirewallAdmission` added (the ruleset's own updates keep them). */
export const ADMISSION_MARKER = "admitted after launch: ";

/** Whether a rule was added by a `FirewallAdmission`. */
export function isAdmissionRule(rule: FirewallRule): boolean {
  return (rule.description ?? "").startsWith(ADMISSION_MARKER);
}

/** The rules admitting `sources` on TCP `port` (marked as admissions). */
export function admissionRules(port: number, sources: readonly string[]): FirewallRule[] {
  return sources.map((cidr) => ({ protocol: "tcp", port_range: [port, port], source_network: cidr, description: `${ADMISSION_MARKER}model server port ${port}` }));
}

const sameRule = (a: FirewallRule, b: FirewallRule) =>
  a.protocol === b.protocol && a.source_network === b.source_network && JSON.stringify(a.port_range ?? null) === JSON.stringify(b.port_range ?? null);

/** `rules` without the admission rules in `remove`, plus those in `add` not already there (order kept). */
export function withAdmissions(rules: readonly FirewallRule[], remove: readonly FirewallRule[], add: readonly FirewallRule[]): FirewallRule[] {
  const kept = rules.filter((r) => !(isAdmissionRule(r) && remove.some((x) => sameRule(x, r))));
  return [...kept, ...add.filter((a) => !kept.some((r) => isAdmissionRule(r) && sameRule(r, a)))];
}

export function validateFirewallInputs(news: FirewallRulesetInputs): { property: string; reason: string }[] {
  const failures: { property: string; reason: string }[] = [];
  if (!containsUnknown(news.rulesetName) && (!news.rulesetName || news.rulesetName.length > 64)) {
    failures.push({ property: "rulesetName", reason: `rulesetName must be 1-64 characters, got "${news.rulesetName ?? ""}"` });
  }
  failures.push(...regionFailures(news.regions, "regions must list at least one Lambda region, e.g. [\"us-east-1\"]"));
  for (const [prop, list] of [["sshSourceCidrs", news.sshSourceCidrs], ["servingAllowlist", news.servingAllowlist], ["icmpSourceCidrs", news.icmpSourceCidrs ?? ICMP_WORLD]] as const) {
    if (containsUnknown(list)) continue;
    if (!Array.isArray(list)) {
      failures.push({ property: prop, reason: `${prop} must be a list of IPv4 CIDRs like "203.0.113.0/24"` });
      continue;
    }
    for (const c of list) {
      if (!isIpv4Cidr(c)) failures.push({ property: prop, reason: `${prop}: "${c}" is not an IPv4 CIDR; write it like "203.0.113.7/32" or "10.0.0.0/8"` });
    }
  }
  if (!containsUnknown(news.servingPort) && (!Number.isInteger(news.servingPort) || news.servingPort < 1 || news.servingPort > 65535)) {
    failures.push({ property: "servingPort", reason: `servingPort must be an integer 1-65535, got ${String(news.servingPort)}` });
  }
  for (const port of containsUnknown(news.extraPorts) ? [] : (news.extraPorts ?? [])) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) failures.push({ property: "extraPorts", reason: `extraPorts: ${String(port)} must be an integer 1-65535` });
  }
  return failures;
}

async function deleteWhenFree(client: LambdaClient, id: string, label: string): Promise<void> {
  await deleteWhileInUse(() => client.deleteFirewallRuleset(id), {
    stillInUse: (elapsed) =>
      `Firewall ruleset ${label} (${id}) is still attached to an instance after ${elapsed}: terminate that instance, ` +
      `then re-run \`pulumi destroy\`. Raise LAMBDA_IN_USE_TIMEOUT_MS to wait longer.`,
    retrying: (elapsed) => `firewall ruleset ${label} still in use after ${elapsed}; retrying delete`,
  });
}

/** Makes the rulesets match: one per region with `rules`; adopts same-named ones; returns ids. */
async function reconcile(
  client: LambdaClient,
  inputs: FirewallRulesetInputs,
  known: Record<string, string>,
  rules: FirewallRule[],
): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  const listed = await client.listFirewallRulesets();
  for (const region of inputs.regions) {
    const current = listed.find((r) => r.id === known[region]) ?? listed.find((r) => r.name === inputs.rulesetName && r.region.name === region);
    if (current) {
      // A ruleset this resource already manages keeps what a FirewallAdmission added to it; an adopted
      // leftover does not (its admissions are stale: the admission resource adds the current ones).
      const admitted = current.id === known[region] ? (current.rules ?? []).filter(isAdmissionRule) : [];
      await client.updateFirewallRuleset(current.id, { name: inputs.rulesetName, rules: withAdmissions(rules, [], admitted) });
      ids[region] = current.id;
    } else {
      const created = await client.createFirewallRuleset(inputs.rulesetName, region, rules);
      ids[region] = created.id;
    }
  }
  return ids;
}

export class FirewallRulesetProvider implements pulumi.dynamic.ResourceProvider<FirewallRulesetInputs, FirewallRulesetOutputs> {
  private stackConfig: StackConfigView | undefined = undefined;

  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.stackConfig = req.config;
  }

  async check(_olds: FirewallRulesetInputs, news: FirewallRulesetInputs): Promise<pulumi.dynamic.CheckResult<FirewallRulesetInputs>> {
    const inputs = { ...news, sshSourceCidrs: news.sshSourceCidrs ?? ["0.0.0.0/0"], servingAllowlist: news.servingAllowlist ?? [] };
    return { inputs: plain(inputs), failures: validateFirewallInputs(inputs) };
  }

  async diff(_id: string, olds: FirewallRulesetOutputs, news: FirewallRulesetInputs): Promise<pulumi.dynamic.DiffResult> {
    // Everything is changeable in place (PATCH rules/name, create/delete per region): no replaces.
    const changed = changedKeys<FirewallRulesetInputs>(olds, news, [
      "rulesetName",
      "regions",
      "sshSourceCidrs",
      "icmpSourceCidrs",
      "servingPort",
      "servingAllowlist",
      "extraPorts",
      ...API_ROUTING_KEYS,
    ]);
    return { changes: changed.length > 0, replaces: [] };
  }

  async create(inputs: FirewallRulesetInputs): Promise<{ id: string; outs: FirewallRulesetOutputs }> {
    const client = clientFor(inputs, this.stackConfig);
    const rules = firewallRules(inputs.sshSourceCidrs, inputs.servingPort, inputs.servingAllowlist, inputs.extraPorts, inputs.icmpSourceCidrs);
    const rulesetIds = await reconcile(client, inputs, {}, rules);
    const ids = Object.values(rulesetIds);
    // The resource id must be stable and non-empty: the sorted ids joined.
    return { id: [...ids].sort().join(","), outs: plain({ ...inputs, rulesetIds, rules }) };
  }

  async read(id: string, props?: FirewallRulesetOutputs): Promise<pulumi.dynamic.ReadResult<FirewallRulesetOutputs>> {
    if (!props) throw new Error(`FirewallRuleset read(${id}) needs the resource's last state; import is not supported.`);
    const client = clientFor(props, this.stackConfig);
    const listed = await client.listFirewallRulesets();
    const rulesetIds: Record<string, string> = {};
    for (const [region, rid] of Object.entries(props.rulesetIds ?? {})) {
      if (listed.some((r) => r.id === rid)) rulesetIds[region] = rid;
    }
    if (Object.keys(rulesetIds).length === 0) return { id: "", props: {} as FirewallRulesetOutputs };
    const first = listed.find((r) => r.id === Object.values(rulesetIds)[0]);
    // The rules this resource owns: a FirewallAdmission's are its own state.
    return { id, props: plain({ ...props, rulesetIds, rules: first ? first.rules.filter((r) => !isAdmissionRule(r)) : props.rules }) };
  }

  async update(_id: string, olds: FirewallRulesetOutputs, news: FirewallRulesetInputs): Promise<{ outs: FirewallRulesetOutputs }> {
    const client = clientFor(news, this.stackConfig);
    const rules = firewallRules(news.sshSourceCidrs, news.servingPort, news.servingAllowlist, news.extraPorts, news.icmpSourceCidrs);
    const rulesetIds = await reconcile(client, news, olds.rulesetIds ?? {}, rules);
    // Regions no longer listed: delete their rulesets, unless an instance still uses one
    // (then keep it in the outputs so `delete` removes it later).
    for (const [region, rid] of Object.entries(olds.rulesetIds ?? {})) {
      if (news.regions.includes(region)) continue;
      try {
        await client.deleteFirewallRuleset(rid);
      } catch (e) {
        if (isLambdaError(e, "in-use")) rulesetIds[region] = rid;
        else if (!isLambdaError(e, "not-found")) throw e;
      }
    }
    return { outs: plain({ ...news, rulesetIds, rules }) };
  }

  async delete(_id: string, props: FirewallRulesetOutputs): Promise<void> {
    const client = clientFor(props, this.stackConfig);
    for (const [region, rid] of Object.entries(props.rulesetIds ?? {})) {
      await deleteWhenFree(client, rid, `"${props.rulesetName}" in ${region}`);
    }
  }
}

export interface FirewallRulesetArgs extends LambdaCommonArgs {
  rulesetName: pulumi.Input<string>;
  regions: pulumi.Input<pulumi.Input<string>[]>;
  /** @default ["0.0.0.0/0"] */
  sshSourceCidrs?: pulumi.Input<pulumi.Input<string>[]>;
  servingPort: pulumi.Input<number>;
  /** @default [] (serving port closed) */
  servingAllowlist?: pulumi.Input<pulumi.Input<string>[]>;
  /** @default [] */
  extraPorts?: pulumi.Input<pulumi.Input<number>[]>;
  /** @default ["0.0.0.0/0"] (Lambda's default policy) */
  icmpSourceCidrs?: pulumi.Input<pulumi.Input<string>[]>;
}

/** Firewall rulesets, one per candidate region (token `pulumi-nodejs:dynamic/lambda:FirewallRuleset`). */
export class FirewallRuleset extends pulumi.dynamic.Resource {
  declare readonly rulesetIds: pulumi.Output<Record<string, string>>;
  declare readonly rules: pulumi.Output<FirewallRule[]>;

  constructor(name: string, args: FirewallRulesetArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      withoutStackTraces(new FirewallRulesetProvider()),
      name,
      {
        sshSourceCidrs: ["0.0.0.0/0"],
        servingAllowlist: [],
        ...args,
        providerVersion: LAMBDA_PROVIDER_VERSION,
        rulesetIds: undefined,
        rules: undefined,
      },
      opts,
      "lambda",
      "FirewallRuleset",
    );
  }
}

export interface FirewallAdmissionInputs extends LambdaCommonInputs {
  /** The rulesets (one per candidate region) to add the rules to: a `FirewallRuleset`'s `rulesetIds`. */
  rulesetIds: Record<string, string>;
  /** TCP port the sources are admitted on (the model server's). */
  port: number;
  /** IPv4 CIDRs admitted (the router host's /32). */
  sources: string[];
}

export interface FirewallAdmissionOutputs extends FirewallAdmissionInputs {
  /** The rules this resource added to every ruleset. */
  rules: FirewallRule[];
}

/**
 * On each ruleset in `targets` (id -> admission rules it should gain), takes out the admission rules in
 * `remove` and adds its own, in one PATCH each, after one listing; gone rulesets are skipped.
 */
async function patchAdmissions(client: LambdaClient, targets: ReadonlyMap<string, FirewallRule[]>, remove: FirewallRule[]): Promise<void> {
  const listed = await client.listFirewallRulesets();
  for (const [rid, add] of targets) {
    const current = listed.find((r) => r.id === rid);
    if (!current) continue;
    const rules = withAdmissions(current.rules ?? [], remove, add);
    if (JSON.stringify(rules) === JSON.stringify(current.rules ?? [])) continue;
    try {
      await client.updateFirewallRuleset(rid, { rules });
    } catch (e) {
      if (!isLambdaError(e, "not-found")) throw e;
    }
  }
}

export class FirewallAdmissionProvider implements pulumi.dynamic.ResourceProvider<FirewallAdmissionInputs, FirewallAdmissionOutputs> {
  private stackConfig: StackConfigView | undefined = undefined;

  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.stackConfig = req.config;
  }

  async check(_olds: FirewallAdmissionInputs, news: FirewallAdmissionInputs): Promise<pulumi.dynamic.CheckResult<FirewallAdmissionInputs>> {
    const failures: { property: string; reason: string }[] = [];
    if (!containsUnknown(news.sources)) {
      for (const c of news.sources ?? []) if (!isIpv4Cidr(c)) failures.push({ property: "sources", reason: `sources: "${c}" is not an IPv4 CIDR; write it like "203.0.113.7/32"` });
    }
    if (!containsUnknown(news.port) && (!Number.isInteger(news.port) || news.port < 1 || news.port > 65535)) {
      failures.push({ property: "port", reason: `port must be an integer 1-65535, got ${String(news.port)}` });
    }
    return { inputs: plain(news), failures };
  }

  async diff(_id: string, olds: FirewallAdmissionOutputs, news: FirewallAdmissionInputs): Promise<pulumi.dynamic.DiffResult> {
    const changed = changedKeys<FirewallAdmissionInputs>(olds, news, ["rulesetIds", "port", "sources", ...API_ROUTING_KEYS]);
    return { changes: changed.length > 0, replaces: [] };
  }

  async create(inputs: FirewallAdmissionInputs): Promise<{ id: string; outs: FirewallAdmissionOutputs }> {
    const rules = admissionRules(inputs.port, inputs.sources);
    await patchAdmissions(clientFor(inputs, this.stackConfig), new Map(Object.values(inputs.rulesetIds).map((rid) => [rid, rules])), []);
    return { id: `${[...Object.values(inputs.rulesetIds)].sort().join(",")}:${inputs.port}`, outs: plain({ ...inputs, rules }) };
  }

  async update(_id: string, olds: FirewallAdmissionOutputs, news: FirewallAdmissionInputs): Promise<{ outs: FirewallAdmissionOutputs }> {
    const rules = admissionRules(news.port, news.sources);
    // Rulesets no longer listed lose theirs; the listed ones swap old for new in one PATCH each.
    const targets = new Map<string, FirewallRule[]>(Object.values(olds.rulesetIds ?? {}).map((rid) => [rid, []]));
    for (const rid of Object.values(news.rulesetIds)) targets.set(rid, rules);
    await patchAdmissions(clientFor(news, this.stackConfig), targets, olds.rules ?? []);
    return { outs: plain({ ...news, rules }) };
  }

  async delete(_id: string, props: FirewallAdmissionOutputs): Promise<void> {
    await patchAdmissions(clientFor(props, this.stackConfig), new Map(Object.values(props.rulesetIds ?? {}).map((rid) => [rid, []])), props.rules ?? []);
  }
}

export interface FirewallAdmissionArgs extends LambdaCommonArgs {
  rulesetIds: pulumi.Input<Record<string, string>>;
  port: pulumi.Input<number>;
  sources: pulumi.Input<pulumi.Input<string>[]>;
}

/**
 * Sources admitted on a port of existing rulesets after launch (token
 * `pulumi-nodejs:dynamic/lambda:FirewallAdmission`): for an address that exists only once another
 * instance runs, so no launch waits for it.
 */
export class FirewallAdmission extends pulumi.dynamic.Resource {
  declare readonly rules: pulumi.Output<FirewallRule[]>;

  constructor(name: string, args: FirewallAdmissionArgs, opts?: pulumi.CustomResourceOptions) {
    super(withoutStackTraces(new FirewallAdmissionProvider()), name, { ...args, providerVersion: LAMBDA_PROVIDER_VERSION, rules: undefined }, opts, "lambda", "FirewallAdmission");
  }
}
