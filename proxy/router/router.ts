// Host and path routing over one ProxyConfig, with the compiler's semantics (operator/compiler/
// hosts.ts and paths.ts): an exact host beats a wildcard, "*.domain" covers exactly one label, the
// catch-all "*" serves only hosts that match no virtual host (no fall-through from a matched host);
// Exact paths match exactly, Prefix paths element-wise, longest first, Exact before Prefix on a tie.
//
// Everything is precomputed at construction, so a match is a few map lookups: one per candidate host
// name, then one per "/" in the request path (the prefixes the path could match, longest first),
// independent of the number of routes.
import type {
  PassthroughRouteConfig,
  ProxyConfig,
  RouteConfig,
  VirtualHostConfig,
} from "../config/types.ts";
import { normalizeHost, wildcardFor } from "./host.ts";
import { canonicalizePathEncoding } from "./request-target.ts";

/** The outcome of routing a request that found a virtual host. */
export interface RouteMatch {
  /** The virtual host serving the request (for TLS settings, HSTS, redirects). */
  vhost: VirtualHostConfig;
  /** The matched route; null when no path matched and the virtual host's default applies. */
  route: RouteConfig | null;
  /** Cluster to send the request to; null answers 404 (no route and no default backend). */
  clusterName: string | null;
}

const ANY_HOST = "*";

/** One virtual host, indexed for matching. */
class CompiledHost {
  readonly match: RouteMatch;
  readonly #exact = new Map<string, RouteMatch>();
  readonly #prefix = new Map<string, RouteMatch>();
  #root: RouteMatch | undefined;

  constructor(vhost: VirtualHostConfig) {
    this.match = { vhost, route: null, clusterName: vhost.defaultCluster };
    // Routes arrive sorted by precedence; on a duplicate key the first (higher precedence) one wins.
    for (const route of vhost.routes) {
      const key = routeKey(route.path);
      const match: RouteMatch = { vhost, route, clusterName: route.cluster };
      if (route.pathType === "Exact") {
        if (!this.#exact.has(key)) this.#exact.set(key, match);
      } else if (key === "/") {
        this.#root ??= match;
      } else if (!this.#prefix.has(key)) {
        this.#prefix.set(key, match);
      }
    }
  }

  /**
   * The route for a normalised path. An Exact hit always wins: a Prefix route that matches has a path
   * no longer than the request's, and one of equal length is the same path, where Exact has
   * precedence. Then the Prefix candidates are the path itself and each of its "/"-bounded prefixes,
   * tried longest first: exactly the routes `pathMatches("Prefix", …)` accepts, in the same order.
   */
  route(path: string): RouteMatch {
    const exact = this.#exact.get(path);
    if (exact) return exact;
    if (this.#prefix.size > 0) {
      const whole = this.#prefix.get(path);
      if (whole) return whole;
      for (let slash = path.lastIndexOf("/"); slash > 0; slash = path.lastIndexOf("/", slash - 1)) {
        const hit = this.#prefix.get(path.slice(0, slash));
        if (hit) return hit;
      }
    }
    return this.#root ?? this.match;
  }
}

/**
 * Route paths are compared in the same normal form as request paths (see request-target.ts), so an
 * Ingress path written "/%7euser" matches the request "/~user". A path that cannot be put in that form
 * (the compiler refuses such paths anyway) is kept as written; a normalised request never equals it, so
 * such a route simply never matches rather than matching something its author did not write.
 */
function routeKey(path: string): string {
  const canonical = canonicalizePathEncoding(path);
  return typeof canonical === "string" ? canonical : path;
}

/** Indexes names by exact and wildcard form; the catch-all is kept apart by the caller. */
function indexByHost<T>(entries: readonly T[], nameOf: (entry: T) => string): Map<string, T> {
  const index = new Map<string, T>();
  for (const entry of entries) {
    const name = nameOf(entry).toLowerCase();
    if (!index.has(name)) index.set(name, entry);
  }
  return index;
}

/** Looks a normalised host up: exact name first, then the one wildcard that could cover it. */
function lookup<T>(index: ReadonlyMap<string, T>, host: string): T | undefined {
  if (host === "") return undefined;
  const exact = index.get(host);
  if (exact !== undefined) return exact;
  const wildcard = wildcardFor(host);
  return wildcard === undefined ? undefined : index.get(wildcard);
}

/**
 * Routes requests by host and path, and TLS passthrough connections by SNI, for one ProxyConfig.
 * Immutable: a config swap builds a new Router.
 */
export class Router {
  readonly #hosts: Map<string, CompiledHost>;
  readonly #anyHost: CompiledHost | undefined;
  readonly #passthrough: Map<string, PassthroughRouteConfig>;

  /** Indexes the config's virtual hosts and passthrough routes. */
  constructor(config: ProxyConfig) {
    const named = config.virtualHosts.filter((vhost) => vhost.host !== ANY_HOST);
    this.#hosts = new Map(
      [...indexByHost(named, (vhost) => vhost.host)].map(([name, vhost]) => [
        name,
        new CompiledHost(vhost),
      ]),
    );
    const any = config.virtualHosts.find((vhost) => vhost.host === ANY_HOST);
    this.#anyHost = any ? new CompiledHost(any) : undefined;
    this.#passthrough = indexByHost(config.passthrough, (route) => route.host);
  }

  /**
   * Routes a request. `host` is the raw Host header or :authority (normalised here: case, port,
   * trailing dot, IPv6 brackets); `path` must already be normalised by `normalizeRequestTarget`.
   * Returns undefined only when no virtual host matches and there is no catch-all "*".
   */
  match(host: string, path: string): RouteMatch | undefined {
    const compiled = lookup(this.#hosts, normalizeHost(host)) ?? this.#anyHost;
    return compiled?.route(path);
  }

  /**
   * The cluster for a TLS passthrough connection by its SNI server name (exact beats wildcard; there is
   * no catch-all for passthrough), or undefined when the name is not a passthrough host.
   */
  passthroughHost(serverName: string): string | undefined {
    return lookup(this.#passthrough, normalizeHost(serverName))?.cluster;
  }
}
