/**
 * Address checks shared by the config, the Lambda firewall, the serving layer and the policy pack,
 * all on one CIDR parser: the `ipaddr.js` library (no string compares against "0.0.0.0/0").
 *
 * Two readings of a CIDR, on purpose:
 * - strict ({@link cidrProblem}): what this stack accepts in its own settings — four-part decimal
 *   IPv4 without leading zeros, the network address itself (no host bits), a decimal prefix.
 * - lenient ({@link parseCidrLenient}): what another tool might make of a string (`000.0.0.0/0`,
 *   `1.2.3.4/0`); the policy pack judges reach on this reading, so a spelling cannot hide a
 *   world-open rule.
 *
 * This module is also serialized into the Lambda dynamic providers (their `check` validates
 * CIDRs), so it imports nothing at module level: libraries are taken with `require` where needed.
 */
import type * as IpAddr from "ipaddr.js";

function ipaddr(): typeof IpAddr {
  return require("ipaddr.js") as typeof IpAddr;
}

/** A network as an inclusive range of addresses, per family. */
export interface CidrRange {
  readonly family: 4 | 6;
  readonly first: bigint;
  readonly last: bigint;
  readonly prefix: number;
  /** The network in canonical form (`1.2.3.0/24`). */
  readonly network: string;
}

const BITS = { 4: 32, 6: 128 } as const;

function toBigInt(bytes: readonly number[]): bigint {
  return bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
}

function rangeOf(address: IpAddr.IPv4 | IpAddr.IPv6, prefix: number): CidrRange {
  const family = address.kind() === "ipv4" ? 4 : 6;
  const bits = BITS[family];
  const hostBits = BigInt(bits - prefix);
  const first = (toBigInt(address.toByteArray()) >> hostBits) << hostBits;
  const last = first + (1n << hostBits) - 1n;
  const lib = ipaddr();
  const bytes = Array.from({ length: bits / 8 }, (_, i) => Number((first >> BigInt(bits - 8 * (i + 1))) & 0xffn));
  return { family, first, last, prefix, network: `${lib.fromByteArray(bytes).toString()}/${prefix}` };
}

/**
 * The range a CIDR covers as a permissive parser would read it (leading zeros, host bits set,
 * hex or short IPv4 forms), or undefined when the library cannot read it at all.
 */
export function parseCidrLenient(text: string): CidrRange | undefined {
  const lib = ipaddr();
  try {
    const [address, prefix] = lib.parseCIDR(text.trim());
    return rangeOf(address, prefix);
  } catch {
    return undefined;
  }
}

/**
 * Why `cidr` is not a CIDR this stack accepts (`203.0.113.0/24`, `2001:db8::/32`), or undefined
 * when it is one. `ipv4Only` for places that take IPv4 networks only (Lambda's firewall
 * `source_network`).
 */
export function cidrProblem(cidr: string, opts: { readonly ipv4Only?: boolean } = {}): string | undefined {
  const lib = ipaddr();
  const [address = "", prefix, ...rest] = cidr.split("/");
  if (rest.length > 0 || prefix === undefined) return "expected ADDRESS/PREFIX, e.g. 203.0.113.0/24";
  const isV4 = lib.IPv4.isValidFourPartDecimal(address);
  const isV6 = !isV4 && !address.includes(".") && lib.IPv6.isValid(address) && !address.includes("%");
  if (!isV4 && !(isV6 && !opts.ipv4Only)) {
    if (opts.ipv4Only && isV6) return `'${address}' is IPv6; only IPv4 networks are accepted here`;
    if (lib.IPv4.isValid(address)) return `'${address}' is not a plain dotted-decimal IPv4 address (leading zeros, hex or short forms are read differently by different tools)`;
    return `'${address}' is not an IPv4 or IPv6 address`;
  }
  const max = isV4 ? 32 : 128;
  if (!/^(0|[1-9]\d{0,2})$/.test(prefix) || Number(prefix) > max) return `prefix /${prefix} must be 0-${max}`;
  const range = rangeOf(lib.parse(address), Number(prefix));
  const given = lib.parse(address).toString();
  if (`${given}/${prefix}` !== range.network) {
    return `'${address}' has host bits set for /${prefix}: it means the network ${range.network}${Number(prefix) === 0 ? " (every address)" : ""}. Write the network itself`;
  }
  return undefined;
}

/** IPv4 CIDR like "203.0.113.0/24" (the Lambda API's `ipv4network` format). */
export function isIpv4Cidr(text: string): boolean {
  return cidrProblem(text, { ipv4Only: true }) === undefined;
}

/** How many addresses of each family a list of CIDRs reaches together (overlaps counted once). */
export interface CidrReach {
  readonly ipv4: bigint;
  readonly ipv6: bigint;
  /** Entries no parser can read (they reach nothing, but the caller may want to say so). */
  readonly unreadable: readonly string[];
}

function unionSize(ranges: readonly CidrRange[]): bigint {
  const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  let total = 0n;
  let start = -1n;
  let end = -2n;
  for (const r of sorted) {
    if (r.first > end + 1n) {
      if (end >= start && start >= 0n) total += end - start + 1n;
      start = r.first;
      end = r.last;
    } else if (r.last > end) {
      end = r.last;
    }
  }
  if (end >= start && start >= 0n) total += end - start + 1n;
  return total;
}

/**
 * IPv6 blocks that carry every IPv4 address in their low 32 bits: IPv4-mapped (`::ffff:0:0/96`, how a dual-stack
 * socket sees an IPv4 peer) and the NAT64 well-known prefix (`64:ff9b::/96`). An allowlist entry in them reaches
 * those IPv4 addresses.
 */
const IPV4_CARRYING_V6_BLOCKS: readonly bigint[] = [0xffffn << 32n, 0x64ff9bn << 96n];

/** The IPv4 part of an IPv6 range inside an IPv4-carrying block, as IPv4 ranges. */
function ipv4CarriedBy(r: CidrRange): CidrRange[] {
  if (r.family !== 6) return [];
  const out: CidrRange[] = [];
  for (const base of IPV4_CARRYING_V6_BLOCKS) {
    const first = r.first > base ? r.first : base;
    const last = r.last < base + 0xffffffffn ? r.last : base + 0xffffffffn;
    if (first <= last) out.push({ family: 4, first: first - base, last: last - base, prefix: 32, network: r.network });
  }
  return out;
}

/** The union of the CIDRs (read leniently), per family; IPv4 reached through IPv4-carrying IPv6 blocks counts as IPv4. */
export function cidrReach(cidrs: readonly string[]): CidrReach {
  const parsed = cidrs.map((c) => ({ text: c, range: parseCidrLenient(c) }));
  const ranges = parsed.flatMap((p) => (p.range ? [p.range] : []));
  return {
    ipv4: unionSize([...ranges.filter((r) => r.family === 4), ...ranges.flatMap(ipv4CarriedBy)]),
    ipv6: unionSize(ranges.filter((r) => r.family === 6)),
    unreadable: parsed.filter((p) => !p.range).map((p) => p.text),
  };
}

/**
 * Above this prefix an allowlist counts as "the world": the union reaching more addresses than one
 * IPv4 /8 (16.7 M) or one IPv6 /32 is not a list of one's own networks, and splitting 0.0.0.0/0
 * into pieces (`0.0.0.0/1` + `128.0.0.0/1`) must not read as anything else.
 */
export const WORLD_OPEN_PREFIX = { 4: 8, 6: 32 } as const;

/**
 * Why a set of source CIDRs opens a port to the world (reading every entry as the most permissive
 * parser would), or undefined when it stays within {@link WORLD_OPEN_PREFIX}.
 */
export function worldOpenReason(cidrs: readonly string[], limits: { readonly 4: number; readonly 6: number } = WORLD_OPEN_PREFIX): string | undefined {
  const reach = cidrReach(cidrs);
  const describeReach = (family: 4 | 6, n: bigint) => {
    const all = 1n << BigInt(BITS[family]);
    if (n === all) return `every IPv${family} address`;
    return `${n} IPv${family} addresses, more than one /${limits[family]}`;
  };
  if (reach.ipv4 > 1n << BigInt(32 - limits[4])) return `${cidrs.join(" + ")} ${cidrs.length === 1 ? "reaches" : "together reach"} ${describeReach(4, reach.ipv4)}`;
  if (reach.ipv6 > 1n << BigInt(128 - limits[6])) return `${cidrs.join(" + ")} ${cidrs.length === 1 ? "reaches" : "together reach"} ${describeReach(6, reach.ipv6)}`;
  return undefined;
}

/** True when a host name or address is this machine's loopback (`localhost`, 127.0.0.0/8, `::1`). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  const lib = ipaddr();
  if (!lib.isValid(h)) return false;
  const address = lib.process(h);
  return address.range() === "loopback";
}

/** RFC 1123 host name (labels of letters, digits and inner hyphens; at most 253 characters). */
export function isHostName(host: string): boolean {
  return host.length <= 253 && /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(host);
}

/** Why `host` is not an address an SSH client can be pointed at safely, or undefined. */
export function sshHostProblem(host: string): string | undefined {
  const lib = ipaddr();
  if (host === "") return "is empty";
  if (lib.IPv4.isValidFourPartDecimal(host)) return undefined;
  if (lib.IPv6.isValid(host) && !host.includes("%") && !host.includes(".")) return undefined;
  if (/^[\d.]+$/.test(host)) return "is not a valid dotted-decimal IPv4 address";
  if (isHostName(host)) return undefined;
  return "is not an IP address or DNS host name (letters, digits, '-' and '.' only; no spaces, quotes, ';', '@' or a leading '-')";
}
