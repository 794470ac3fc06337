// The identity every Lambda object of one LambdaMachine carries: organization / project / stack /
// machine name plus a random id created once, at the first deploy, and kept in the stack's state
// (a dynamic resource's output). Two stacks called `dev` in different organizations or backends
// differ in that id, and `dev_1`, `dev.1`, `dev-1` differ in the hash of the full identity, so
// adoption, orphan clean-up, key deletion and firewall changes only ever touch their own objects.
// Instances carry the identity as tags; SSH keys, filesystems and firewall rulesets (no tags in the
// API) carry a hash of it in their names.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { objectName, plain } from "./common";

/** Who owns a Lambda object. Every field takes part in the identity. */
export interface StackIdentityValue {
  /** Pulumi organization (`pulumi.getOrganization()`; "organization" on DIY backends). */
  readonly organization: string;
  readonly project: string;
  readonly stack: string;
  /** Name of the LambdaMachine (several per stack with replicas). */
  readonly resource: string;
  /** Random id created at the first deploy and kept in state. */
  readonly uid: string;
}

/** Shape of the random id: 16 lowercase hex digits (64 bits). */
export const UID_PATTERN = /^[0-9a-f]{16}$/;

/** Length of the identity hash in names: 12 hex digits (48 bits). */
export const IDENTITY_HASH_LENGTH = 12;

/** The identity as one unambiguous string (JSON keeps `a/b` + `c` apart from `a` + `b/c`). */
export function identityKey(v: StackIdentityValue): string {
  return JSON.stringify([v.organization, v.project, v.stack, v.resource, v.uid]);
}

/** Short hash of the full identity, for names (collision-free in practice: 48 bits). */
export function identityHash(v: StackIdentityValue): string {
  return createHash("sha256").update(identityKey(v)).digest("hex").slice(0, IDENTITY_HASH_LENGTH);
}

/** A readable name from `parts`, cut so that "-<hash>" fits in `max`, then "-<hash>". */
export function nameWithHash(parts: readonly string[], hash: string, max: number): string {
  const readable = objectName(parts, Number.MAX_SAFE_INTEGER)
    .slice(0, Math.max(0, max - hash.length - 1))
    .replace(/-+$/, "");
  return readable ? `${readable}-${hash}` : hash;
}

/** Lambda's name limits (vendor OpenAPI 1.8.3). */
export const NAME_LIMITS = {
  /** AddSSHKeyRequest.name: 1-64 characters. */
  sshKey: 64,
  /** FirewallRulesetCreateRequest.name: at most 64. */
  firewallRuleset: 64,
  /** FilesystemCreateRequest.name: ^[a-zA-Z]+[0-9a-zA-Z-]*$, 1-60. */
  filesystem: 60,
  /** InstanceLaunchRequest.name: at most 64 (not unique: shown in the dashboard). */
  instance: 64,
} as const;

/** The names of one machine's Lambda objects, all carrying the identity hash. */
export interface LambdaObjectNames {
  readonly keyName: string;
  readonly rulesetName: string;
  readonly instanceName: string;
  /** `<filesystemBase>-<hash>`, when the machine has a filesystem. */
  readonly filesystemName?: string;
}

/**
 * Names for the objects of the machine with identity `v`. `filesystemBase` is the configured
 * filesystem name (letters first, then letters, digits, "-"); it is cut to leave room for the hash.
 */
export function lambdaObjectNames(v: StackIdentityValue, filesystemBase?: string): LambdaObjectNames {
  const hash = identityHash(v);
  const base = [v.project, v.stack, v.resource];
  return {
    keyName: nameWithHash([...base, "key"], hash, NAME_LIMITS.sshKey),
    rulesetName: nameWithHash([...base, "fw"], hash, NAME_LIMITS.firewallRuleset),
    instanceName: nameWithHash(base, hash, NAME_LIMITS.instance),
    ...(filesystemBase ? { filesystemName: nameWithHash([filesystemBase], hash, NAME_LIMITS.filesystem) } : {}),
  };
}

export interface StackIdentityInputs {
  organization: string;
  project: string;
  stack: string;
  resource: string;
  /**
   * A uid to take instead of generating one: re-attaches what an earlier, destroyed incarnation
   * of this stack left (a retained filesystem). Empty = generate at create, keep forever after.
   */
  requestedUid?: string;
}

export interface StackIdentityOutputs extends StackIdentityInputs {
  uid: string;
}

/** Failures for the inputs: a requested uid must look like one this resource generates. */
export function validateIdentityInputs(news: StackIdentityInputs): { property: string; reason: string }[] {
  const failures: { property: string; reason: string }[] = [];
  for (const p of ["organization", "project", "stack", "resource"] as const) {
    if (typeof news[p] !== "string" || news[p] === "") failures.push({ property: p, reason: `${p} must be a non-empty string` });
  }
  if (news.requestedUid && !UID_PATTERN.test(news.requestedUid)) {
    failures.push({ property: "requestedUid", reason: `requestedUid "${news.requestedUid}" must be 16 lowercase hex digits, as printed in the stackId output` });
  }
  return failures;
}

/** The uid after an update: a newly requested one wins; otherwise the recorded one is kept. */
export function uidAfterUpdate(olds: StackIdentityOutputs, news: StackIdentityInputs): string {
  return news.requestedUid || olds.uid;
}

export class StackIdentityProvider implements pulumi.dynamic.ResourceProvider<StackIdentityInputs, StackIdentityOutputs> {
  async check(_olds: StackIdentityInputs, news: StackIdentityInputs): Promise<pulumi.dynamic.CheckResult<StackIdentityInputs>> {
    return { inputs: plain(news), failures: validateIdentityInputs(news) };
  }

  async diff(_id: string, olds: StackIdentityOutputs, news: StackIdentityInputs): Promise<pulumi.dynamic.DiffResult> {
    // Never a replace: a replace would draw a new uid and orphan every object named after the old one.
    const renamed = (["organization", "project", "stack", "resource"] as const).filter((k) => olds[k] !== news[k]);
    const uidRequested = !!news.requestedUid && news.requestedUid !== olds.uid;
    return { changes: renamed.length > 0 || uidRequested, replaces: [] };
  }

  async create(inputs: StackIdentityInputs): Promise<{ id: string; outs: StackIdentityOutputs }> {
    // Taken here, not at module level: this code runs in Pulumi's dynamic-provider process.
    const { randomBytes } = require("crypto") as typeof import("crypto");
    const uid = inputs.requestedUid || randomBytes(8).toString("hex");
    return { id: uid, outs: plain({ ...inputs, uid }) };
  }

  async read(id: string, props?: StackIdentityOutputs): Promise<pulumi.dynamic.ReadResult<StackIdentityOutputs>> {
    // Nothing outside the state to compare with: the state is the truth.
    return { id, props };
  }

  async update(_id: string, olds: StackIdentityOutputs, news: StackIdentityInputs): Promise<{ outs: StackIdentityOutputs }> {
    return { outs: plain({ ...news, uid: uidAfterUpdate(olds, news) }) };
  }
}

export interface StackIdentityArgs {
  organization: pulumi.Input<string>;
  project: pulumi.Input<string>;
  stack: pulumi.Input<string>;
  resource: pulumi.Input<string>;
  /** @default "" (generate once) */
  requestedUid?: pulumi.Input<string>;
}

/** The random part of a machine's identity, kept in state (token `pulumi-nodejs:dynamic/lambda:StackIdentity`). */
export class StackIdentity extends pulumi.dynamic.Resource {
  declare readonly uid: pulumi.Output<string>;

  constructor(name: string, args: StackIdentityArgs, opts?: pulumi.CustomResourceOptions) {
    super(new StackIdentityProvider(), name, { ...args, uid: undefined }, opts, "lambda", "StackIdentity");
  }
}
