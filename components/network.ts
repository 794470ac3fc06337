/**
 * Address checks shared by the config, the Lambda firewall and the serving layer.
 *
 * This module is also serialized into the Lambda dynamic providers (their `check` validates
 * CIDRs), so it imports nothing at module level: Node's address parser is taken with `require`
 * where IPv6 needs it.
 */

/** Dotted-quad IPv4 address with octets 0-255. */
function isIpv4Address(address: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  return m !== null && m.slice(1, 5).every((octet) => Number(octet) <= 255);
}

function isIpv6Address(address: string): boolean {
  const net = require("node:net") as typeof import("node:net");
  return net.isIPv6(address);
}

/**
 * Why `cidr` is not a CIDR (`203.0.113.0/24`, `2001:db8::/32`), or undefined when it is one.
 * `ipv4Only` for places that take IPv4 networks only (Lambda's firewall `source_network`).
 */
export function cidrProblem(cidr: string, opts: { readonly ipv4Only?: boolean } = {}): string | undefined {
  const [address = "", prefix, ...rest] = cidr.split("/");
  if (rest.length > 0 || prefix === undefined) return "expected ADDRESS/PREFIX, e.g. 203.0.113.0/24";
  const family = isIpv4Address(address) ? 4 : !opts.ipv4Only && isIpv6Address(address) ? 6 : 0;
  if (family === 0) {
    return opts.ipv4Only && address.includes(":") ? `'${address}' is IPv6; only IPv4 networks are accepted here` : `'${address}' is not an IPv4 or IPv6 address`;
  }
  const max = family === 4 ? 32 : 128;
  if (!/^\d+$/.test(prefix) || Number(prefix) > max) return `prefix /${prefix} must be 0-${max}`;
  return undefined;
}

/** IPv4 CIDR like "203.0.113.0/24" (the Lambda API's `ipv4network` format). */
export function isIpv4Cidr(text: string): boolean {
  return cidrProblem(text, { ipv4Only: true }) === undefined;
}
