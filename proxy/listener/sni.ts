// Host-name matching for the HTTPS listener: which entry a ClientHello's server name selects, and
// whether a certificate's DNS names cover a host. Both use the same rules, so the certificate the
// listener serves and the 421 check the request handler makes can never disagree:
//   - names are compared case-insensitively, with one trailing dot stripped;
//   - an exact name beats a wildcard; "*.example.com" covers exactly one label ("a.example.com",
//     not "example.com" nor "a.b.example.com");
//   - the pattern "*" (a virtual host without a host name) matches any name, and the absence of one.
// Lookups are O(1): one map for exact names, one keyed by the suffix a wildcard covers.

/**
 * The canonical form of a server name: lower case, without a trailing dot. Undefined for an absent
 * or empty name (a ClientHello without SNI, or one whose name is only ".").
 */
export function normalizeServerName(name: string | undefined | null | false): string | undefined {
  if (!name) return undefined;
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  return trimmed === "" ? undefined : trimmed.toLowerCase();
}

/** The part of `name` a one-label wildcard must name: "b.example.com" for "a.b.example.com". */
function wildcardSuffix(name: string): string | undefined {
  const dot = name.indexOf(".");
  // A first label must be non-empty, and what follows must be a name, not nothing.
  if (dot <= 0 || dot === name.length - 1) return undefined;
  return name.slice(dot + 1);
}

/** A table from host patterns (exact, "*.domain" or "*") to values, queried by server name. */
export interface HostTable<T> {
  /**
   * The value for `serverName`: exact match, else the one-label wildcard covering it, else the "*"
   * entry. An absent name matches only "*".
   */
  lookup(serverName: string | undefined): T | undefined;
  /** Number of patterns in the table. */
  readonly size: number;
}

/**
 * Builds a HostTable. Patterns are normalised like server names; when a pattern repeats, the first
 * entry wins (callers pass entries in precedence order, as the config lists them).
 */
export function buildHostTable<T>(
  entries: Iterable<readonly [pattern: string, value: T]>,
): HostTable<T> {
  const exact = new Map<string, T>();
  const wildcard = new Map<string, T>();
  let catchAll: { value: T } | undefined;
  let size = 0;
  for (const [pattern, value] of entries) {
    const normalized = normalizeServerName(pattern);
    if (normalized === undefined) continue;
    if (normalized === "*") {
      if (!catchAll) {
        catchAll = { value };
        size++;
      }
    } else if (normalized.startsWith("*.")) {
      const suffix = normalized.slice(2);
      if (suffix !== "" && !wildcard.has(suffix)) {
        wildcard.set(suffix, value);
        size++;
      }
    } else if (!exact.has(normalized)) {
      exact.set(normalized, value);
      size++;
    }
  }
  return {
    size,
    lookup(serverName) {
      const name = normalizeServerName(serverName);
      if (name !== undefined) {
        const hit = exact.get(name);
        if (hit !== undefined) return hit;
        const suffix = wildcardSuffix(name);
        if (suffix !== undefined) {
          const wild = wildcard.get(suffix);
          if (wild !== undefined) return wild;
        }
      }
      return catchAll?.value;
    },
  };
}

/**
 * A predicate telling whether a certificate with these DNS names (SANs) is valid for `host`, by the
 * RFC 6125 rules browsers apply: exact names, or a wildcard in the whole left-most label only. A
 * SAN "*" alone covers nothing (no client accepts it). `host` carries no port.
 */
export function buildNameCoverage(dnsNames: readonly string[]): (host: string) => boolean {
  const exact = new Set<string>();
  const wildcardSuffixes = new Set<string>();
  for (const raw of dnsNames) {
    const name = normalizeServerName(raw);
    if (name === undefined || name === "*") continue;
    if (name.startsWith("*.")) {
      if (name.length > 2) wildcardSuffixes.add(name.slice(2));
    } else if (!name.includes("*")) {
      exact.add(name);
    }
  }
  return (host) => {
    const name = normalizeServerName(host);
    if (name === undefined) return false;
    if (exact.has(name)) return true;
    const suffix = wildcardSuffix(name);
    return suffix !== undefined && wildcardSuffixes.has(suffix);
  };
}
