/**
 * The rules behind the policy pack in `policy/`, as plain functions over plain data so that they
 * are unit-tested without the Pulumi engine. `policy/index.ts` only wires them into
 * `@pulumi/policy` (resource and stack validations) and reports what they return.
 *
 * Every rule returns a list of violation messages; an empty list means "compliant". Values the
 * engine does not know yet (preview of resources that depend on other resources' outputs) arrive
 * as {@link UNKNOWN}; rules never report a violation on an unknown value alone.
 *
 * Imports: only small pure modules (the pack resolves them, and their libraries, from the root).
 */
import { durationMs } from "../duration";
import { worldOpenReason } from "../network";
import { PRODUCTION_STACKS } from "../projectFacts";

/** Marker for a property whose value is not known yet (preview). */
export const UNKNOWN: unique symbol = Symbol("unknown");
export type Unknown = typeof UNKNOWN;

/** What a rule needs to know about one resource. */
export interface PolicyResourceView {
  /** Type token, e.g. `docker:index/container:Container`. */
  readonly type: string;
  /** Logical name (last URN segment). */
  readonly name: string;
  /** Full URN; carries the stack name. */
  readonly urn: string;
  /** Inputs (resource validation) or outputs (stack validation), with unknowns as {@link UNKNOWN}. */
  readonly props: Readonly<Record<string, unknown>>;
}

/** Type tokens of the resources the rules look at. */
export const RESOURCE_TYPES = {
  dockerContainer: "docker:index/container:Container",
  dockerRemoteImage: "docker:index/remoteImage:RemoteImage",
  servingComponent: "hgx:serving:SglangServer",
  /** `components/host/lambda/instance.ts` (dynamic resource, module `lambda`, type `Instance`). */
  lambdaInstance: "pulumi-nodejs:dynamic/lambda:Instance",
  /** `components/host/lambda/firewallRuleset.ts`. */
  lambdaFirewallRuleset: "pulumi-nodejs:dynamic/lambda:FirewallRuleset",
} as const;

/** Defaults of the policy pack's settings (overridable through policy config). */
export const POLICY_DEFAULTS = {
  /** Stacks that may run without an expiry on their instances. */
  productionStacks: PRODUCTION_STACKS,
  /** Ports the inference server listens on: the seed's 8000 and SGLang's own default 30000. */
  servingPorts: [8000, 30000] as readonly number[],
  /** Ceiling for the stack's compute spend, in US dollars per hour. */
  maxHourlyCostUsd: 60,
  /** Longest lifetime an instance outside production may be given (7 days). */
  maxTtlSeconds: 7 * 86_400,
  /**
   * Tags treated as immutable: release versions (`v0.5.14`, `0.5.4-cu129`, `v0.5.9.post1`).
   * Moving names (`latest`, `nightly`, `main`, `dev`, `stable`...) do not match; extend the
   * pattern in policy config for a registry whose other tags are immutable.
   */
  immutableTagPattern: "^v?\\d+\\.\\d+(\\.\\d+)*([.-][A-Za-z0-9][A-Za-z0-9.-]*)?$",
} as const;

// ---------------------------------------------------------------------------------------------
// Plain snapshots of engine-provided property bags
// ---------------------------------------------------------------------------------------------

/**
 * Copies a property bag into plain data. `@pulumi/policy` hands out proxies that throw on access
 * to a value unknown during preview; each such value becomes {@link UNKNOWN} here, so that the
 * rules can decide per field instead of losing the whole resource to one unknown.
 */
export function snapshotProps(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== "object") return isUnknownSentinel(value) ? UNKNOWN : value;
  if (depth > 32) return UNKNOWN; // cyclic or absurdly deep: not data a rule needs
  const read = (container: Record<string | number, unknown>, key: string | number): unknown => {
    try {
      return snapshotProps(container[key], depth + 1);
    } catch {
      return UNKNOWN;
    }
  };
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) out.push(read(value as unknown as Record<number, unknown>, i));
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = read(value as Record<string, unknown>, key);
  return out;
}

// The wire sentinels @pulumi/policy uses for unknown values (not exported in its typings; a unit
// test checks this list against the library so an upgrade that changes them fails loudly).
export const UNKNOWN_SENTINELS: ReadonlySet<string> = new Set([
  "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
  "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
  "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
  "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
  "030794c1-ac77-496b-92df-f27374a8bd58",
  "e48ece36-62e2-4504-bad9-02848725956a",
  "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
]);
function isUnknownSentinel(value: unknown): boolean {
  return typeof value === "string" && UNKNOWN_SENTINELS.has(value);
}

/** Stack name from a URN (`urn:pulumi:<stack>::<project>::<type>::<name>`). */
export function stackNameFromUrn(urn: string): string {
  const head = urn.split("::")[0] ?? "";
  const prefix = "urn:pulumi:";
  if (!head.startsWith(prefix)) throw new Error(`not a Pulumi URN: '${urn}' (expected urn:pulumi:<stack>::...)`);
  return head.slice(prefix.length);
}

/** True when the stack is a production stack (exact, case-insensitive match on the stack's own name). */
export function isProductionStack(stackName: string, productionStacks: readonly string[]): boolean {
  const own = stackName.split("/").pop()!.toLowerCase(); // accept org/project/stack too
  return productionStacks.some((s) => s.toLowerCase() === own);
}

// ---------------------------------------------------------------------------------------------
// Rule 1: pinned images (no `latest`, no untagged references)
// ---------------------------------------------------------------------------------------------

/** An image reference split into its parts. */
export interface ImageReference {
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** Splits `registry:port/repo/name:tag@sha256:...` into repository, tag and digest. */
export function parseImageReference(ref: string): ImageReference {
  const at = ref.indexOf("@");
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  const nameAndTag = at >= 0 ? ref.slice(0, at) : ref;
  const lastSlash = nameAndTag.lastIndexOf("/");
  const lastColon = nameAndTag.lastIndexOf(":");
  // A colon before the last slash belongs to a registry port (localhost:5000/img), not a tag.
  if (lastColon > lastSlash) {
    return { repository: nameAndTag.slice(0, lastColon), tag: nameAndTag.slice(lastColon + 1), digest };
  }
  return { repository: nameAndTag, digest };
}

/** A content digest as registries compute it: `sha256:` and 64 lowercase hex digits. */
export const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Why an image reference is not pinned, or undefined when it is. A real digest pins an image
 * whatever its tag says; a bare image id (`sha256:<64 hex>`, what `RemoteImage.imageId` yields)
 * is pinned too. Without a digest, only a tag matching the immutable-tag rule passes.
 */
export function imagePinProblem(ref: string, immutableTagPattern: string = POLICY_DEFAULTS.immutableTagPattern): string | undefined {
  const trimmed = ref.trim();
  if (trimmed === "") return "is empty";
  if (IMAGE_DIGEST.test(trimmed)) return undefined;
  const { tag, digest } = parseImageReference(trimmed);
  if (digest !== undefined) {
    return IMAGE_DIGEST.test(digest) ? undefined : `has '@${digest}', which is not a digest (sha256: and 64 lowercase hex digits)`;
  }
  if (tag === undefined || tag === "") return "has no tag, so it resolves to `latest`";
  if (tag.toLowerCase() === "latest") return "uses the moving `latest` tag";
  if (!new RegExp(immutableTagPattern).test(tag)) return `uses tag '${tag}', which is not a release version (immutable-tag rule /${immutableTagPattern}/), so it may move`;
  return undefined;
}

/** The image field each image-bearing resource type carries. */
function imageFieldOf(type: string): string | undefined {
  switch (type) {
    case RESOURCE_TYPES.dockerRemoteImage:
      return "name";
    case RESOURCE_TYPES.dockerContainer:
    case RESOURCE_TYPES.servingComponent:
      return "image";
    default:
      return undefined;
  }
}

/** Rule: images must be pinned to a digest, or to a tag the immutable-tag rule accepts. */
export function pinnedImageViolations(resource: PolicyResourceView, immutableTagPattern: string = POLICY_DEFAULTS.immutableTagPattern): string[] {
  const field = imageFieldOf(resource.type);
  if (!field) return [];
  const image = resource.props[field];
  if (image === undefined || image === UNKNOWN || typeof image !== "string") return [];
  const problem = imagePinProblem(image, immutableTagPattern);
  if (!problem) return [];
  return [
    `${resource.type} '${resource.name}': image '${image}' ${problem}. ` +
      `Fix: pin '${field}' to a release tag (e.g. lmsysorg/sglang:v0.5.4) or a digest (image@sha256:<64 hex>), ` +
      "so that every stack runs the image that was tested.",
  ];
}

// ---------------------------------------------------------------------------------------------
// Lambda instances: identification, expiry, price
// ---------------------------------------------------------------------------------------------

/** A tag as the Lambda API carries it. */
export interface InstanceTag {
  readonly key: string;
  readonly value: string;
}

/**
 * True when the resource is a Lambda Cloud instance created by the host layer's dynamic provider.
 * Dynamic resources all share the `pulumi-nodejs:dynamic...` type family, so the instance is
 * recognised by its module/type name or, failing that, by the launch inputs only an instance has.
 */
export function isLambdaInstance(resource: PolicyResourceView): boolean {
  if (resource.type === RESOURCE_TYPES.lambdaInstance) return true;
  if (!resource.type.startsWith("pulumi-nodejs:dynamic")) return false;
  const kind = resource.props["resourceKind"];
  if (typeof kind === "string") return /lambda.*instance/i.test(kind);
  if (/lambda.*:.*instance$/i.test(resource.type) || /:LambdaInstance$/.test(resource.type)) return true;
  const has = (...keys: string[]) => keys.some((k) => resource.props[k] !== undefined);
  return has("instanceTypeName", "instance_type_name", "instanceType") && has("regionName", "region_name", "region", "regions", "allowedRegions", "regionNames");
}

/** Tags of a resource in the Lambda wire shape (`[{key, value}]`) or a plain map, normalised. */
export function readTags(props: Readonly<Record<string, unknown>>): InstanceTag[] | Unknown {
  const raw = props["tags"];
  if (raw === UNKNOWN) return UNKNOWN;
  if (Array.isArray(raw)) {
    return raw.flatMap((t) => {
      if (t && typeof t === "object" && typeof (t as InstanceTag).key === "string") {
        const v = (t as { value?: unknown }).value;
        return [{ key: (t as InstanceTag).key, value: typeof v === "string" ? v : v === UNKNOWN ? "" : String(v ?? "") }];
      }
      return [];
    });
  }
  if (raw && typeof raw === "object") {
    return Object.entries(raw).map(([key, v]) => ({ key, value: typeof v === "string" ? v : String(v ?? "") }));
  }
  return [];
}

/**
 * Tag keys and input fields that carry an instance's expiry. The host layer writes
 * `hgx:expires-at` (ISO time, or "never") from its `ttlSeconds` input (0 = never).
 */
export const EXPIRY_TAG_PATTERN = /(^|[:-])(expires?(-at)?|expiry|ttl|reap-after)$/i;
const EXPIRY_INPUT_FIELDS = ["ttlSeconds", "expiresAt", "expiry", "ttl", "ttlHours", "ttlMinutes", "expiresAfter"];
/** Values that mean "this instance never expires". */
const NO_EXPIRY = new Set(["", "never", "none", "0", "0s", "false", "off"]);

function isExpiryValue(v: unknown): boolean {
  if (typeof v === "number") return Number.isFinite(v) && v > 0;
  return typeof v === "string" && !NO_EXPIRY.has(v.trim().toLowerCase());
}

/** Where the instance's expiry is declared, `UNKNOWN` when it cannot be told yet, undefined when absent or "never". */
export function findExpiry(props: Readonly<Record<string, unknown>>): string | Unknown | undefined {
  for (const field of EXPIRY_INPUT_FIELDS) {
    const v = props[field];
    if (v === UNKNOWN) return UNKNOWN;
    if (isExpiryValue(v)) return `${field}=${v}`;
  }
  const tags = readTags(props);
  if (tags === UNKNOWN) return UNKNOWN;
  const tag = tags.find((t) => EXPIRY_TAG_PATTERN.test(t.key) && isExpiryValue(t.value));
  return tag ? `tag ${tag.key}=${tag.value}` : undefined;
}

/** Rule: outside production stacks every Lambda instance carries an expiry (tag or ttl input). */
export function ttlViolations(
  resource: PolicyResourceView,
  productionStacks: readonly string[] = POLICY_DEFAULTS.productionStacks,
): string[] {
  if (!isLambdaInstance(resource)) return [];
  const stack = stackNameFromUrn(resource.urn);
  if (isProductionStack(stack, productionStacks)) return [];
  const expiry = findExpiry(resource.props);
  if (expiry !== undefined) return [];
  return [
    `Lambda instance '${resource.name}' in non-production stack '${stack}' has no expiry (ttlSeconds is 0 / expiry "never"). ` +
      "Fix: set a lifetime in stack config (e.g. `pulumi config set lambdaTtl 8h`) so the reaper can " +
      `terminate it if it is forgotten; production stacks (${productionStacks.join(", ")}) are exempt.`,
  ];
}

/**
 * The longest lifetime an instance's declared expiry gives it, in seconds from `now`: from
 * `ttlSeconds`/`ttlHours`/`ttlMinutes`, duration texts (`ttl: "100000d"`), ISO expiry times in
 * inputs or tags. `UNKNOWN` when a field that could carry it is not known yet; undefined when
 * there is none (or only "never", which {@link ttlViolations} judges).
 */
export function expiryLifetimeSeconds(props: Readonly<Record<string, unknown>>, now: Date): number | Unknown | undefined {
  const lifetimes: number[] = [];
  const read = (field: string, v: unknown): Unknown | undefined => {
    if (v === UNKNOWN) return UNKNOWN;
    if (!isExpiryValue(v)) return undefined;
    const perUnit: Record<string, number> = { ttlSeconds: 1, ttlMinutes: 60, ttlHours: 3600 };
    if (typeof v === "number") {
      lifetimes.push(v * (perUnit[field] ?? 1));
      return undefined;
    }
    const text = String(v).trim();
    const at = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : NaN;
    if (Number.isFinite(at)) {
      lifetimes.push((at - now.getTime()) / 1000);
      return undefined;
    }
    const ms = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 * (perUnit[field] ?? 1) : durationMs(text);
    // Unreadable text is an expiry nobody can enforce: as good as none, i.e. unbounded.
    lifetimes.push(ms === undefined ? Number.POSITIVE_INFINITY : ms / 1000);
    return undefined;
  };
  for (const field of EXPIRY_INPUT_FIELDS) if (read(field, props[field]) === UNKNOWN) return UNKNOWN;
  const tags = readTags(props);
  if (tags === UNKNOWN) return UNKNOWN;
  for (const t of tags) if (EXPIRY_TAG_PATTERN.test(t.key)) read(t.key, t.value);
  return lifetimes.length === 0 ? undefined : Math.max(...lifetimes);
}

/** Rule: outside production stacks an instance's expiry lies at most `maxTtlSeconds` ahead. */
export function ttlBoundViolations(
  resource: PolicyResourceView,
  opts: { readonly maxTtlSeconds?: number; readonly productionStacks?: readonly string[]; readonly now?: Date } = {},
): string[] {
  if (!isLambdaInstance(resource)) return [];
  const stack = stackNameFromUrn(resource.urn);
  const productionStacks = opts.productionStacks ?? POLICY_DEFAULTS.productionStacks;
  if (isProductionStack(stack, productionStacks)) return [];
  const max = opts.maxTtlSeconds ?? POLICY_DEFAULTS.maxTtlSeconds;
  const lifetime = expiryLifetimeSeconds(resource.props, opts.now ?? new Date());
  if (lifetime === undefined || lifetime === UNKNOWN || lifetime <= max) return [];
  const shown = Number.isFinite(lifetime) ? `${(lifetime / 86_400).toFixed(1)} days` : "an unreadable expiry";
  return [
    `Lambda instance '${resource.name}' in non-production stack '${stack}' is given ${shown}, above the limit of ${(max / 86_400).toFixed(1)} days. ` +
      "Fix: set a shorter lifetime (e.g. `pulumi config set lambdaTtl 8h`), or raise `maxTtlDays` in the ttl-outside-prod policy config if it is intended.",
  ];
}

/** Hourly price of an instance in US dollars, from the price fields the host layer records. */
export function instanceHourlyCostUsd(props: Readonly<Record<string, unknown>>): number | Unknown | undefined {
  const cents = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v / 100 : v === UNKNOWN ? UNKNOWN : undefined);
  // The launch's ceiling first: it bounds what the instance can cost, and it is known at preview.
  for (const field of ["maxPriceCentsPerHour", "priceCentsPerHour", "price_cents_per_hour", "expectedPriceCentsPerHour"]) {
    const v = cents(props[field]);
    if (v !== undefined) return v;
  }
  for (const field of ["pricePerHourUsd", "hourlyCostUsd", "hourlyPriceUsd"]) {
    const v = props[field];
    if (v === UNKNOWN) return UNKNOWN;
    if (typeof v === "number" && Number.isFinite(v)) return v;
  }
  const it = props["instanceType"];
  if (it === UNKNOWN) return UNKNOWN;
  if (it && typeof it === "object") {
    const v = cents((it as Record<string, unknown>)["price_cents_per_hour"] ?? (it as Record<string, unknown>)["priceCentsPerHour"]);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * Rule (per resource): one instance may not cost more than the ceiling. The price must be known
 * at preview: the launch's own ceiling (`maxPriceCentsPerHour`, which the provider enforces), or a
 * recorded price; an instance carrying neither cannot be judged before it bills, so it is refused.
 */
export function instanceCostViolations(resource: PolicyResourceView, maxHourlyCostUsd: number = POLICY_DEFAULTS.maxHourlyCostUsd): string[] {
  if (!isLambdaInstance(resource)) return [];
  const cost = instanceHourlyCostUsd(resource.props);
  if (cost === UNKNOWN || (typeof cost === "number" && cost <= maxHourlyCostUsd)) return [];
  if (cost === undefined) {
    return [
      `Lambda instance '${resource.name}' has no price known before launch (no maxPriceCentsPerHour), so the $${maxHourlyCostUsd.toFixed(2)}/h ceiling cannot be checked. ` +
        "Fix: set `lambdaMaxHourlyPriceUsd` (the launch refuses an instance type priced above it).",
    ];
  }
  return [
    `Lambda instance '${resource.name}' costs $${cost.toFixed(2)}/h, above the ceiling of $${maxHourlyCostUsd.toFixed(2)}/h. ` +
      "Fix: choose a cheaper instance type, or raise `maxUsdPerHour` in the max-hourly-cost policy config if the spend is intended.",
  ];
}

/** Rule (whole stack): all instances together may not cost more than the ceiling. */
export function stackCostViolations(resources: readonly PolicyResourceView[], maxHourlyCostUsd: number = POLICY_DEFAULTS.maxHourlyCostUsd): string[] {
  const priced = resources
    .filter(isLambdaInstance)
    .map((r) => ({ name: r.name, cost: instanceHourlyCostUsd(r.props) }))
    .filter((p): p is { name: string; cost: number } => typeof p.cost === "number");
  const total = priced.reduce((sum, p) => sum + p.cost, 0);
  if (total <= maxHourlyCostUsd) return [];
  const detail = priced.map((p) => `${p.name} $${p.cost.toFixed(2)}/h`).join(", ");
  return [
    `the stack's instances cost $${total.toFixed(2)}/h together (${detail}), above the ceiling of $${maxHourlyCostUsd.toFixed(2)}/h. ` +
      "Fix: remove or downsize instances, or raise `maxUsdPerHour` in the max-hourly-cost policy config.",
  ];
}

// ---------------------------------------------------------------------------------------------
// Rule: the serving port is never open to the world without an API key
// ---------------------------------------------------------------------------------------------

const WILDCARD_BIND = new Set(["", "0.0.0.0", "::", "[::]"]);

/** A way the serving port is reachable from anywhere. */
export interface ServingExposure {
  readonly resource: PolicyResourceView;
  readonly port: number;
  readonly how: string;
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && /^\d+$/.test(v)) return Number(v);
  return undefined;
}

/** Published ports of a docker container that bind the serving port on every interface. */
export function containerExposures(resource: PolicyResourceView, servingPorts: readonly number[]): ServingExposure[] {
  if (resource.type !== RESOURCE_TYPES.dockerContainer) return [];
  const ports = resource.props["ports"];
  if (!Array.isArray(ports)) return [];
  const out: ServingExposure[] = [];
  for (const p of ports) {
    if (!p || typeof p !== "object") continue;
    const rec = p as Record<string, unknown>;
    const internal = asNumber(rec["internal"]);
    const external = asNumber(rec["external"]) ?? internal;
    const ip = rec["ip"];
    if (ip === UNKNOWN || (typeof ip === "string" && !WILDCARD_BIND.has(ip.trim()))) continue;
    const hit = servingPorts.find((sp) => sp === internal || sp === external);
    if (hit !== undefined) out.push({ resource, port: external ?? hit, how: `publishes port ${external ?? hit} on all interfaces (ip '${typeof ip === "string" ? ip : "0.0.0.0"}')` });
  }
  return out;
}

/**
 * Firewall rules that open the serving port to the world: from a Lambda ruleset's inputs
 * (`servingAllowlist` + `servingPort`) or from the `rules` any firewall-like dynamic resource holds.
 */
export function firewallExposures(resource: PolicyResourceView, servingPorts: readonly number[]): ServingExposure[] {
  if (!resource.type.startsWith("pulumi-nodejs:dynamic")) return [];
  const out: ServingExposure[] = [];
  const allowlist = resource.props["servingAllowlist"];
  const allowPort = asNumber(resource.props["servingPort"]);
  if (Array.isArray(allowlist) && allowPort !== undefined) {
    const world = worldOpenReason(allowlist.filter((c): c is string => typeof c === "string"));
    if (world !== undefined) out.push({ resource, port: allowPort, how: `servingAllowlist opens port ${allowPort} to the world (${world})` });
  }
  const rules = resource.props["rules"];
  if (!Array.isArray(rules)) return dedupe(out);
  // Per serving port, the sources of every rule that lets it through: together they may be the world.
  for (const port of servingPorts) {
    const sources: string[] = [];
    const hows: string[] = [];
    for (const r of rules) {
      if (!r || typeof r !== "object") continue;
      const rec = r as Record<string, unknown>;
      const source = rec["source_network"] ?? rec["sourceNetwork"];
      if (typeof source !== "string") continue;
      const protocol = typeof rec["protocol"] === "string" ? (rec["protocol"] as string).toLowerCase() : "tcp";
      if (protocol !== "tcp" && protocol !== "all") continue;
      const range = rec["port_range"] ?? rec["portRange"];
      const [lo, hi] = Array.isArray(range) ? [asNumber(range[0]), asNumber(range[1] ?? range[0])] : [undefined, undefined];
      const covered = range === undefined || lo === undefined || hi === undefined ? protocol === "all" || range === undefined : port >= lo && port <= hi;
      if (!covered) continue;
      sources.push(source);
      hows.push(`${protocol} ${Array.isArray(range) ? range.join("-") : "all ports"} from ${source}`);
    }
    const world = worldOpenReason(sources);
    if (world !== undefined) out.push({ resource, port, how: `firewall rules open ${hows.join(", ")} — ${world}` });
  }
  return dedupe(out);
}

/** One exposure per port (inputs and the derived rules describe the same opening). */
function dedupe(exposures: ServingExposure[]): ServingExposure[] {
  const seen = new Set<number>();
  return exposures.filter((e) => (seen.has(e.port) ? false : (seen.add(e.port), true)));
}

/**
 * Rule (per firewall resource): when the resource itself says whether the server requires a key
 * (`servingApiKeyRequired`), a world-open serving port without one is refused before anything is
 * created. Without that field the stack-level rule decides, from the serving containers.
 */
export function firewallExposureViolations(resource: PolicyResourceView, servingPorts: readonly number[] = POLICY_DEFAULTS.servingPorts): string[] {
  if (resource.props["servingApiKeyRequired"] !== false) return [];
  return firewallExposures(resource, servingPorts).map(
    (e) =>
      `'${resource.name}': ${e.how} while the server requires no API key. ` +
      "Fix: set `sglangApiKey` (pulumi config set --secret sglangApiKey ...) or list only your own CIDRs in `lambdaFirewallAllowlist`.",
  );
}

/** True when the argument list passes a non-empty `--api-key`. */
function argsCarryApiKey(args: unknown): boolean {
  if (!Array.isArray(args)) return typeof args === "string" && /--api-key[= ]+\S/.test(args);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === UNKNOWN) continue;
    if (typeof a !== "string") continue;
    if (/--api-key=\S/.test(a) || /--api-key\s+\S/.test(a)) return true;
    if (a === "--api-key" && (args[i + 1] === UNKNOWN || (typeof args[i + 1] === "string" && (args[i + 1] as string).trim() !== ""))) return true;
  }
  return false;
}

/** True when a container or the serving component is configured with an API key. */
export function hasApiKey(resource: PolicyResourceView): boolean {
  const p = resource.props;
  if (resource.type === RESOURCE_TYPES.servingComponent) {
    const k = p["apiKey"];
    if (k === UNKNOWN || (typeof k === "string" && k !== "")) return true;
  }
  if (resource.type !== RESOURCE_TYPES.dockerContainer && resource.type !== RESOURCE_TYPES.servingComponent) return false;
  if (argsCarryApiKey(p["command"]) || argsCarryApiKey(p["entrypoints"]) || argsCarryApiKey(p["args"])) return true;
  const envs = p["envs"];
  if (Array.isArray(envs)) {
    return envs.some((e) => typeof e === "string" && /^(SGLANG_API_KEY|OPENAI_API_KEY|API_KEY|VLLM_API_KEY)=\S/.test(e));
  }
  return false;
}

/** Rule (per container): a container that publishes the serving port on all interfaces has an API key. */
export function containerExposureViolations(resource: PolicyResourceView, servingPorts: readonly number[] = POLICY_DEFAULTS.servingPorts): string[] {
  const exposures = containerExposures(resource, servingPorts);
  if (exposures.length === 0 || hasApiKey(resource)) return [];
  return exposures.map(
    (e) =>
      `docker container '${resource.name}' ${e.how} without an API key. ` +
      "Fix: set `sglangApiKey` (pulumi config set --secret sglangApiKey ...), or leave `lambdaFirewallAllowlist` empty so the port binds to 127.0.0.1 and is reached over SSH.",
  );
}

/**
 * Rule (whole stack): when a firewall opens the serving port to 0.0.0.0/0 or ::/0, the server behind
 * it must require an API key; containers that bind the port on all interfaces must carry one themselves.
 */
export function stackExposureViolations(resources: readonly PolicyResourceView[], servingPorts: readonly number[] = POLICY_DEFAULTS.servingPorts): string[] {
  const servers = resources.filter(
    (r) => r.type === RESOURCE_TYPES.servingComponent || (r.type === RESOURCE_TYPES.dockerContainer && isServingContainer(r, servingPorts)),
  );
  const anyKey = servers.some(hasApiKey);
  const out: string[] = [];
  for (const r of resources) {
    // A firewall that declares servingApiKeyRequired is judged by firewallExposureViolations.
    const declares = typeof r.props["servingApiKeyRequired"] === "boolean";
    for (const e of declares ? [] : firewallExposures(r, servingPorts)) {
      if (anyKey) continue;
      out.push(
        `'${r.name}': ${e.how}, which includes serving port ${e.port}, and no serving container has an API key. ` +
          "Fix: set `sglangApiKey` (pulumi config set --secret sglangApiKey ...) or list only your own CIDRs in `lambdaFirewallAllowlist`.",
      );
    }
    out.push(...containerExposureViolations(r, servingPorts));
  }
  return out;
}

/** A container that serves the model: it publishes a serving port or runs an inference server image. */
function isServingContainer(r: PolicyResourceView, servingPorts: readonly number[]): boolean {
  const ports = r.props["ports"];
  const publishes = Array.isArray(ports) && ports.some((p) => p && typeof p === "object" && servingPorts.includes(asNumber((p as Record<string, unknown>)["internal"]) ?? -1));
  const image = r.props["image"];
  return publishes || (typeof image === "string" && /sglang|vllm/i.test(image));
}

/**
 * Rule: on production stacks no firewall opens SSH (TCP 22) to the world — judged on the union of
 * a Lambda ruleset's `sshSourceCidrs` (its inputs, known at preview) and on any rules covering port
 * 22, with the lenient CIDR reading (so `0.0.0.0/1` + `128.0.0.0/1` or `000.0.0.0/0` count as the world).
 */
export function sshExposureViolations(resource: PolicyResourceView, productionStacks: readonly string[] = POLICY_DEFAULTS.productionStacks): string[] {
  if (!resource.type.startsWith("pulumi-nodejs:dynamic")) return [];
  const stack = stackNameFromUrn(resource.urn);
  if (!isProductionStack(stack, productionStacks)) return [];
  const hows: string[] = [];
  const sources = resource.props["sshSourceCidrs"];
  if (Array.isArray(sources)) {
    const world = worldOpenReason(sources.filter((c): c is string => typeof c === "string"));
    if (world !== undefined) hows.push(`sshSourceCidrs opens SSH to the world (${world})`);
  }
  if (hows.length === 0) hows.push(...firewallExposures(resource, [22]).map((e) => e.how));
  return hows.map(
    (how) =>
      `'${resource.name}' in production stack '${stack}': ${how}. ` +
      "Fix: list only the addresses that deploy and operate the host in `lambdaSshAllowlist` " +
      "(pulumi config set --path 'hgx-inference:lambdaSshAllowlist[0]' <your-ip>/32).",
  );
}
