// Ingress host semantics: an exact name, or "*.domain" which covers exactly one DNS label
// ("*.foo.com" matches "bar.foo.com", not "baz.bar.foo.com" and not "foo.com"). A rule without a
// host applies to every host: it compiles to the catch-all virtual host "*".
import { compareStrings } from "../api/keys.ts";

/** The virtual host name for rules without a host. */
export const ANY_HOST = "*";

const LABEL = "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?";
const HOST = new RegExp(`^(\\*\\.)?${LABEL}(\\.${LABEL})*$`);

/** Why a host cannot be served, or undefined when it can. */
export function validateHost(host: string): string | undefined {
  if (host.length > 253) return "must be no more than 253 characters";
  if (!HOST.test(host)) {
    return "must be a lower-case DNS name, optionally prefixed with '*.' (one wildcard label)";
  }
  if (/^[0-9.]+$/.test(host)) return "must be a DNS name, not an IP address";
  return undefined;
}

export function isWildcard(host: string): boolean {
  return host.startsWith("*.");
}

/** Whether a request host (no port, lower case) is served by a virtual host name. */
export function hostMatches(virtualHost: string, requestHost: string): boolean {
  if (virtualHost === ANY_HOST) return true;
  if (!isWildcard(virtualHost)) return virtualHost === requestHost;
  return wildcardCovers(virtualHost, requestHost);
}

/**
 * Whether the wildcard "*.foo.com" covers `host`: exactly one more label ("bar.foo.com", not
 * "baz.bar.foo.com" nor "foo.com"). The one rule for virtual hosts and certificate names alike.
 */
export function wildcardCovers(wildcard: string, host: string): boolean {
  const suffix = wildcard.slice(1); // ".foo.com"
  if (!host.endsWith(suffix)) return false;
  const label = host.slice(0, -suffix.length);
  return label.length > 0 && !label.includes(".");
}

/** Virtual host order: exact names, then wildcards (more labels first), then "*". */
export function compareHosts(a: string, b: string): number {
  const rank = (h: string): number => (h === ANY_HOST ? 2 : isWildcard(h) ? 1 : 0);
  const byRank = rank(a) - rank(b);
  if (byRank !== 0) return byRank;
  if (rank(a) === 1) {
    const byLabels = b.split(".").length - a.split(".").length;
    if (byLabels !== 0) return byLabels;
  }
  return compareStrings(a, b);
}
