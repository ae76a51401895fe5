// Which peers may tell us who the client is. Forwarding headers (X-Forwarded-*, Forwarded,
// X-Request-Id) from anyone else are dropped, because any client can write them.
import { BlockList, isIPv4, isIPv6 } from "node:net";

/** A compiled set of CIDR ranges; `includes` is called once per request. */
export interface TrustedProxies {
  /** Whether `address` (as `socket.remoteAddress` reports it; IPv4-mapped IPv6 counts as IPv4) is trusted. */
  includes(address: string | undefined): boolean;
  /** The ranges it was compiled from, normalised, for logs and /config. */
  readonly ranges: readonly string[];
}

/** Trusts nobody: the default, since a proxy at the edge has no proxy in front of it to trust. */
export const TRUST_NOBODY: TrustedProxies = {
  includes: () => false,
  ranges: [],
};

/**
 * Compiles CIDR ranges ("10.0.0.0/8", "fd00::/8"; a bare address means a single host). Throws a
 * TypeError naming the first invalid entry: a typo in a trust list must fail loudly at load time, not
 * silently trust nobody (or everybody).
 */
export function compileTrustedProxies(cidrs: readonly string[]): TrustedProxies {
  if (cidrs.length === 0) return TRUST_NOBODY;
  const list = new BlockList();
  const ranges: string[] = [];
  for (const entry of cidrs) {
    const slash = entry.indexOf("/");
    const address = slash === -1 ? entry : entry.slice(0, slash);
    const family = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : undefined;
    if (family === undefined)
      throw new TypeError(
        `trusted proxy range ${JSON.stringify(entry)} is not an IP address or CIDR`,
      );
    const max = family === "ipv4" ? 32 : 128;
    const prefixText = slash === -1 ? String(max) : entry.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      throw new TypeError(
        `trusted proxy range ${JSON.stringify(entry)} has an invalid prefix length`,
      );
    }
    list.addSubnet(address, Number(prefixText), family);
    ranges.push(`${address}/${prefixText}`);
  }
  return {
    includes(peer) {
      if (peer === undefined) return false;
      // BlockList matches IPv4-mapped IPv6 ("::ffff:10.0.0.1", what a dual-stack socket reports)
      // against IPv4 ranges.
      if (isIPv4(peer)) return list.check(peer, "ipv4");
      if (isIPv6(peer)) return list.check(peer, "ipv6");
      return false;
    },
    ranges,
  };
}

/** `::ffff:192.0.2.1` → `192.0.2.1`: the form a backend (and a log reader) expects for an IPv4 client. */
export function unmapIPv4(address: string): string {
  if (address.length > 7 && address.charCodeAt(0) === 58 /* : */ && /^::ffff:/i.test(address)) {
    const rest = address.slice(7);
    if (isIPv4(rest)) return rest;
  }
  return address;
}
