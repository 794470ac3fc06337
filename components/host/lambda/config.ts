/**
 * The lambda host provider's config slice: its keys (the schema entries Pulumi.yaml is generated
 * from), their parser and the cross-checks that apply when `hostMode` is `lambda`.
 */
import { matches, URL_PATH, type ConfigProblem, type SecretSetting, type SettingsReader } from "../../configSlice";
import { cidrProblem, isLoopbackHost, sshHostProblem, worldOpenReason } from "../../network";
import { PROJECT } from "../../projectFacts";
import { UID_PATTERN } from "./identity";
import { PINNED_REGION_POLICIES, type PinnedRegionPolicy } from "./instance";
import { instanceTypeGpus, isRegionCode, LAMBDA_FILESYSTEM_NAME, LAMBDA_REGIONS } from "./names";

export { LAMBDA_FILESYSTEM_NAME };
import type { HostCheckContext } from "../provider";

/** Lambda image family names (`gpu-base-24-04`, `lambda-stack-22-04`). */
export const IMAGE_FAMILY = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/**
 * One OpenSSH public key line: no `command=`/`from=` options in front (they would run on the
 * host's sshd), no second line, a plain comment (`user@host`).
 */
export const SSH_PUBLIC_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+\/]+={0,3}( [A-Za-z0-9@._+ -]*)?$/;

export const LAMBDA_HOST_KEYS = {
  lambdaApiKey: { type: "string", secret: true, default: "", description: "Lambda Cloud API key (secret). Required in `lambda` mode." },
  lambdaApiUrl: { type: "string", default: "https://cloud.lambda.ai/api/v1", description: "Lambda Cloud API base URL (the API key is sent there): `https://` to the vendor's hosts (cloud.lambda.ai, cloud.lambdalabs.com), or this machine's loopback (a local emulator in tests, `http://` allowed); no `user:pass@`. Any other host needs `lambdaApiUrlAllowAnyHost`." },
  lambdaApiUrlAllowAnyHost: { type: "boolean", default: false, description: "Allow `lambdaApiUrl` to name a host other than the vendor's or loopback (a proxy of your own); the API key is sent to it." },
  lambdaRegions: { type: "array", default: ["us-east-1", "us-west-1", "us-south-1", "us-midwest-1", "us-east-3", "us-south-2"], description: "Regions in preference order; the first with capacity wins (a filesystem pins its own region)." },
  lambdaInstanceType: { type: "string", default: "gpu_8x_b200_sxm6", description: "Lambda instance type (`gpu_<N>x_<model>`); the GPU count is read from the name." },
  lambdaImageFamily: { type: "string", default: "gpu-base-24-04", description: "OS image family (GPU Base ships the NVIDIA driver, Docker and the container toolkit); lowercase letters, digits, `.`, `_`, `-`." },
  lambdaSshPublicKey: { type: "string", default: "", description: "OpenSSH public key to register (one `<type> <base64> [comment]` line, no options); empty = let the API generate a pair (the private key becomes a secret output)." },
  lambdaSshPrivateKey: { type: "string", secret: true, default: "", description: "Private key matching `lambdaSshPublicKey` (secret); required when a public key is given, so the stack can reach the host." },
  lambdaFilesystemName: { type: "string", default: "", description: "Persistent filesystem for the Hugging Face cache (survives teardown), mounted at `/lambda/nfs/<name>`; Lambda's rule: a letter, then letters, digits or `-`, at most 60. In the Lambda account it is `<name>-<hash of this stack's identity>` (shortened to fit), so no other stack finds it. Empty = local NVMe only." },
  lambdaRetainFilesystem: { type: "boolean", default: true, description: "Keep the filesystem (and the downloaded weights) when the stack is destroyed." },
  lambdaFirewallAllowlist: { type: "array", default: [], description: "IPv4 CIDRs allowed to reach the serving port; empty = the port stays closed (reach it over SSH)." },
  lambdaSshAllowlist: { type: "array", default: ["0.0.0.0/0"], description: "IPv4 CIDRs allowed to reach SSH (TCP 22) on the instance; the machine running `pulumi up` must be among them. The default (the world) is refused on protected stacks (`production`, `lambdaProtect`): list your own networks there." },
  lambdaIcmpAllowlist: { type: "array", default: ["0.0.0.0/0"], description: "IPv4 CIDRs allowed to send ICMP (ping) to the instance; [] = none. The default keeps Lambda's own policy (anyone)." },
  lambdaTtl: { type: "string", default: "", description: "Expiry written into the instance's tags for the reaper (`8h`, `2d`; 1h-365d: a cold deploy takes ~50 min); empty or `0` = no expiry (the default: nothing is reaped unless its stack says so; the policy pack requires one outside prod)." },
  lambdaBootTimeout: { type: "string", default: "45m", description: "How long to wait for the instance to become `active` before terminating it (5m-12h)." },
  lambdaPinnedRegionPolicy: { type: "string", default: "wait", description: "When the region of a filesystem that may hold the weights (from an earlier deploy) refuses the launch for capacity: `wait` retries there for `lambdaPinnedRegionWait`; `elsewhere` launches in the other regions without it (the weights are downloaded to local disk). An empty filesystem created by this deploy moves with the launch instead." },
  lambdaPinnedRegionWait: { type: "string", default: "30m", description: "How long `lambdaPinnedRegionPolicy: wait` keeps retrying the filesystem's region (one launch attempt a minute)." },
  lambdaStackId: { type: "string", default: "", description: "The random part of this stack's Lambda identity (16 hex digits); empty = generated at the first deploy and kept in state. Set it (from the `host.stackId` output) only to re-attach what a destroyed earlier deployment of this stack left, such as a retained filesystem." },
  lambdaSshPort: { type: "integer", default: 22, description: "SSH port of launched instances (22 on Lambda Cloud; an API emulator's test hosts listen elsewhere)." },
  lambdaMaxHourlyPriceUsd: { type: "string", default: "60", description: "Ceiling in USD per hour for one instance: the launch refuses an instance type priced above it, and the policy pack's cost rule reads it at preview." },
  lambdaProtect: { type: "boolean", default: false, description: "Pulumi `protect` on the instance plus an `hgx:protected=true` tag the reaper honours; production stacks are always protected. A protected stack may not open SSH to the world." },
} as const;

export type LambdaHostKey = keyof typeof LAMBDA_HOST_KEYS;

export interface LambdaSettings {
  readonly apiKey: SecretSetting;
  readonly apiUrl: string;
  readonly regions: readonly string[];
  readonly instanceType: string;
  readonly imageFamily: string;
  readonly sshPublicKey?: string;
  readonly sshPrivateKey: SecretSetting;
  readonly filesystemName?: string;
  readonly retainFilesystem: boolean;
  readonly firewallAllowlist: readonly string[];
  /** Who may reach SSH (TCP 22). */
  readonly sshAllowlist: readonly string[];
  /** Who may send ICMP (ping); empty = nobody. */
  readonly icmpAllowlist: readonly string[];
  /** Expiry after launch in ms; undefined = no expiry. */
  readonly ttlMs?: number;
  readonly bootTimeoutMs: number;
  readonly pinnedRegionPolicy: PinnedRegionPolicy;
  readonly pinnedRegionWaitMs: number;
  /** Requested identity uid (re-attach); undefined = generated once and kept in state. */
  readonly stackId?: string;
  readonly sshPort: number;
  /** Price ceiling per instance in USD/h, enforced at launch and read by the policy pack. */
  readonly maxHourlyPriceUsd: number;
  /** Pulumi `protect` + the `hgx:protected` tag: set, or implied by a production stack name. */
  readonly protect: boolean;
}

/** GPU count encoded in a Lambda instance type name (`gpu_8x_b200_sxm6` → 8). */
export function gpuCountOfInstanceType(instanceType: string): number | undefined {
  return instanceTypeGpus(instanceType)?.count;
}

/** Reads the lambda keys; `production` protects the instance whatever `lambdaProtect` says. */
export function parseLambdaSettings(r: SettingsReader<LambdaHostKey>, production: boolean): LambdaSettings {
  return {
    apiKey: r.secret("lambdaApiKey"),
    apiUrl: readApiUrl(r, r.boolean("lambdaApiUrlAllowAnyHost")),
    regions: readRegions(r),
    instanceType: r.string("lambdaInstanceType"),
    imageFamily: r.pattern("lambdaImageFamily", matches(IMAGE_FAMILY, "is not an image family name (lowercase letters, digits, '.', '_', '-')"), "gpu-base-24-04"),
    sshPublicKey: r.pattern("lambdaSshPublicKey", matches(SSH_PUBLIC_KEY, "is not one OpenSSH public key line (<type> <base64> [comment], no options)"), '"$(cat ~/.ssh/id_ed25519.pub)"', { optional: true }) || undefined,
    sshPrivateKey: r.secret("lambdaSshPrivateKey", { multiline: true }),
    filesystemName: r.pattern("lambdaFilesystemName", matches(LAMBDA_FILESYSTEM_NAME, "breaks Lambda's filesystem name rule (a letter, then letters, digits or '-', at most 60)"), "hgx-hf-cache", { optional: true }) || undefined,
    retainFilesystem: r.boolean("lambdaRetainFilesystem"),
    firewallAllowlist: readCidrs(r, "lambdaFirewallAllowlist"),
    sshAllowlist: readCidrs(r, "lambdaSshAllowlist"),
    icmpAllowlist: readCidrs(r, "lambdaIcmpAllowlist"),
    // A cold deploy takes ~50 min: a shorter lifetime lets the reaper terminate an instance that is still deploying.
    ttlMs: r.duration("lambdaTtl", { allowZero: true, min: "1h", max: "365d", why: "a cold deploy takes about 50 minutes, and the reaper may terminate an instance as soon as its lifetime ends" }) || undefined,
    bootTimeoutMs: r.duration("lambdaBootTimeout", { min: "5m", max: "12h" }),
    pinnedRegionPolicy: r.oneOf("lambdaPinnedRegionPolicy", PINNED_REGION_POLICIES),
    pinnedRegionWaitMs: r.duration("lambdaPinnedRegionWait", { allowZero: true }),
    stackId: r.optionalString("lambdaStackId"),
    sshPort: r.integer("lambdaSshPort", 1, 65535),
    maxHourlyPriceUsd: r.decimal("lambdaMaxHourlyPriceUsd", 0),
    protect: r.boolean("lambdaProtect") || production,
  };
}

/** The API base URL the API key is sent to (see {@link apiUrlProblem}), without trailing slashes. */
function readApiUrl(r: SettingsReader<LambdaHostKey>, allowAnyHost: boolean): string {
  const v = r.string("lambdaApiUrl");
  const problem = apiUrlProblem(v, { allowAnyHost });
  if (problem) r.fail("lambdaApiUrl", v, problem, `pulumi config set ${PROJECT}:lambdaApiUrl https://cloud.lambda.ai/api/v1`);
  return v.replace(/\/+$/, "");
}

function readRegions(r: SettingsReader<LambdaHostKey>): string[] {
  const key = "lambdaRegions";
  const regions = r.stringArray(key);
  if (regions.length === 0) r.fail(key, regions, "is empty", `pulumi config set --path '${PROJECT}:${key}[0]' us-east-1`);
  for (const region of regions) {
    if (!isRegionCode(region)) r.fail(key, region, `is not a Lambda Cloud region`, `use one of ${LAMBDA_REGIONS.join(", ")}`);
  }
  if (new Set(regions).size !== regions.length) r.fail(key, regions, "lists a region twice", "list each region once, in preference order");
  return regions;
}

function readCidrs(r: SettingsReader<LambdaHostKey>, key: LambdaHostKey): string[] {
  const cidrs = r.stringArray(key);
  for (const cidr of cidrs) {
    // Lambda's firewall takes IPv4 networks only.
    const problem = cidrProblem(cidr, { ipv4Only: true });
    if (problem) r.fail(key, cidr, `is not a valid CIDR (${problem})`, "write it as ADDRESS/PREFIX, e.g. 203.0.113.7/32");
  }
  return cidrs;
}

/** The lambda cross-checks: credentials, identity, SSH reachability, protection and the instance type. */
export function lambdaProblems(l: LambdaSettings, context: HostCheckContext): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (key: LambdaHostKey | "sglangApiKey", message: string) => problems.push({ key, message });
  if (!l.apiKey.present)
    add("lambdaApiKey", `is required when hostMode is "lambda". Fix: pulumi config set --secret ${PROJECT}:lambdaApiKey <key> (or use hostMode "existing")`);
  if (l.sshPublicKey && !l.sshPrivateKey.present)
    add("lambdaSshPrivateKey", `is required when lambdaSshPublicKey is set, or the stack cannot reach the host. Fix: pulumi config set --secret ${PROJECT}:lambdaSshPrivateKey -- "$(cat ~/.ssh/id_ed25519)", or unset lambdaSshPublicKey to have a key generated`);
  if (l.stackId !== undefined && !UID_PATTERN.test(l.stackId))
    add("lambdaStackId", `= "${l.stackId}" is not a stack id (16 lowercase hex digits). Fix: copy it from \`pulumi stack output\` (host.stackId) of the deployment to re-attach, or unset it: pulumi config rm ${PROJECT}:lambdaStackId`);
  if (l.sshAllowlist.length === 0)
    add("lambdaSshAllowlist", `= [] would lock the stack out of its own instance (every step runs over SSH). Fix: pulumi config set --path '${PROJECT}:lambdaSshAllowlist[0]' <your-ip>/32`);
  const world = l.protect ? worldOpenReason(l.sshAllowlist) : undefined;
  if (world !== undefined) {
    const why = context.production ? (context.productionSet ? "production: true" : `production stack '${context.stack}'`) : "lambdaProtect: true";
    add("lambdaSshAllowlist", `= ${JSON.stringify(l.sshAllowlist)} opens SSH to the world (${world}) on a protected stack (${why}). Fix: list only the networks that deploy and operate the host: pulumi config set --path '${PROJECT}:lambdaSshAllowlist[0]' <your-ip>/32 (more entries as [1], [2], ...)`);
  }
  if (gpuCountOfInstanceType(l.instanceType) === undefined)
    add("lambdaInstanceType", `= "${l.instanceType}" is not a Lambda instance type name. Fix: use the form gpu_<N>x_<model>, e.g. gpu_8x_b200_sxm6`);
  if (l.firewallAllowlist.length > 0 && !context.servingApiKeyPresent)
    add("sglangApiKey", `is required when lambdaFirewallAllowlist opens the serving port (${l.firewallAllowlist.join(", ")}). Fix: pulumi config set --secret ${PROJECT}:sglangApiKey <key>`);
  return problems;
}

/**
 * Why a Lambda API base URL is refused, or undefined: the API key travels in its Authorization
 * header, so plain http is allowed only to this machine's loopback (a local emulator), and
 * credentials, queries and fragments have no place in it.
 */
export function apiUrlProblem(value: string, opts: { readonly allowAnyHost?: boolean } = {}): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return "is not a URL";
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return `uses ${u.protocol.replace(/:$/, "")}; only https (or http to 127.0.0.1/localhost) is allowed`;
  if (u.username !== "" || u.password !== "") return "carries user:password@ credentials; the API key is a separate secret (lambdaApiKey)";
  if (u.protocol === "http:" && !isLoopbackHost(u.hostname)) return `sends the API key unencrypted to ${u.hostname}; use https (http is allowed only to 127.0.0.1/localhost)`;
  if (u.search !== "" || u.hash !== "") return "has a query or fragment; give the base URL only";
  if (!opts.allowAnyHost && !isLoopbackHost(u.hostname) && !isLambdaApiHost(u.hostname))
    return `sends the API key to ${u.hostname}, which is neither the vendor's (${LAMBDA_API_HOSTS.join(", ")}) nor this machine's loopback; if that host is yours (a proxy), set ${PROJECT}:lambdaApiUrlAllowAnyHost true`;
  if (sshHostProblem(u.hostname.replace(/^\[(.*)\]$/, "$1")) !== undefined) return `has host '${u.hostname}', which is not an IP address or DNS host name`;
  if (!URL_PATH.test(u.pathname)) return `has path '${u.pathname}', which holds characters other than letters, digits and /._~-`;
  return undefined;
}

/** The vendor's API hosts (and their subdomains): the only ones the API key goes to without an explicit override. */
export const LAMBDA_API_HOSTS = ["cloud.lambda.ai", "cloud.lambdalabs.com"] as const;

function isLambdaApiHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, "");
  return LAMBDA_API_HOSTS.some((d) => h === d || h.endsWith(`.${d}`));
}
