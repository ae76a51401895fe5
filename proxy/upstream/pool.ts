// Keep-alive connection pools to backends: one undici Pool per endpoint and connection settings
// (TLS verification, connect timeout, idle lifetime). Pools of endpoints that leave the config are
// closed gracefully: requests in flight finish, idle connections close at once.

import type { Pool } from "undici";
import { parseKey } from "../../operator/api/keys.ts";
import type { ClusterConfig } from "../config/types.ts";
import { ProxyError } from "./errors.ts";
import { Pool as PoolClass } from "./undici-pool.ts";

/** One backend address and the Service it belongs to. */
export interface UpstreamEndpoint {
  /** IPv4 or IPv6 address (no brackets). */
  address: string;
  /** Port number. */
  port: number;
  /** "namespace/name" of the Service: the default TLS server name is `<name>.<namespace>.svc`. */
  service: string;
}

/** A pool and what every request through it must carry. */
export interface UpstreamPool {
  /** The undici pool: dispatch requests here. */
  readonly dispatcher: Pool;
  /**
   * SNI name and name verified in the backend certificate, null for plain HTTP. It must be passed on
   * every request: undici otherwise derives one from the Host header (the public host name) and
   * reconnects whenever two requests disagree.
   */
  readonly servername: string | null;
  /** "address:port" (IPv6 bracketed): the key `sync` takes. */
  readonly endpointKey: string;
}

/** Options of PoolRegistry. */
export interface PoolRegistryOptions {
  /**
   * Most connections per endpoint pool; null (the default) for no limit, like nginx without
   * `max_conns`. A limit queues requests beyond it (their wait counts against nothing but responseMs).
   */
  maxConnectionsPerEndpoint?: number | null;
}

interface Entry {
  upstream: UpstreamPool;
  /** Used since the previous sync (superseded pools unused for a whole sync interval are closed). */
  used: boolean;
  caPem: string | null;
}

/** "address:port", with IPv6 addresses bracketed: the one spelling of an endpoint key. */
export function endpointKey(endpoint: { address: string; port: number }): string {
  return endpoint.address.includes(":")
    ? `[${endpoint.address}]:${endpoint.port}`
    : `${endpoint.address}:${endpoint.port}`;
}

/** The TLS server name used for `endpoint` in `cluster` (upstreamTls.serverName, else the Service's DNS name). */
export function upstreamServerName(endpoint: UpstreamEndpoint, cluster: ClusterConfig): string {
  const configured = cluster.upstreamTls?.serverName;
  if (configured != null) return configured;
  const service = parseKey(endpoint.service);
  return service.namespace === "" ? service.name : `${service.name}.${service.namespace}.svc`;
}

/**
 * Pools by endpoint and settings. Pools are created on first use; `sync` closes those of endpoints no
 * longer in the config and those whose settings were superseded (a rotated CA, a changed timeout) once
 * they have gone unused for a whole interval between two syncs.
 */
export class PoolRegistry {
  readonly #entries = new Map<string, Entry>();
  /** Endpoint key → pool key most recently asked for. */
  readonly #latest = new Map<string, string>();
  /** CA PEM → small id, so that pool keys stay short. */
  readonly #caIds = new Map<string, number>();
  #nextCaId = 1;
  readonly #maxConnections: number | null;

  constructor(options: PoolRegistryOptions = {}) {
    this.#maxConnections = options.maxConnectionsPerEndpoint ?? null;
  }

  /** Number of open pools. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The pool for `endpoint` as `cluster` reaches it, created on first use. A ProxyError
   * (PC_UPSTREAM_TLS) when the cluster re-encrypts but no CA bundle was given: without one the backend
   * cannot be verified, and an unverified backend is not an option.
   */
  get(
    endpoint: UpstreamEndpoint,
    cluster: ClusterConfig,
    caBundlePem?: string,
  ): UpstreamPool | ProxyError {
    const epKey = endpointKey(endpoint);
    const { connectMs, upstreamIdleMs } = cluster.timeouts;
    let key = `${epKey}|${connectMs}|${upstreamIdleMs}`;
    let servername: string | null = null;
    let caPem: string | null = null;
    if (cluster.protocol === "HTTPS") {
      if (caBundlePem === undefined || caBundlePem === "") {
        return new ProxyError("PC_UPSTREAM_TLS", `no CA bundle for cluster ${cluster.name}`);
      }
      caPem = caBundlePem;
      servername = upstreamServerName(endpoint, cluster);
      let caId = this.#caIds.get(caPem);
      if (caId === undefined) {
        caId = this.#nextCaId++;
        this.#caIds.set(caPem, caId);
      }
      key = `${key}|${servername}|${caId}`;
    }
    if (this.#latest.get(epKey) !== key) this.#latest.set(epKey, key);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = {
        upstream: {
          dispatcher: createPool(
            endpoint,
            connectMs,
            upstreamIdleMs,
            caPem,
            servername,
            this.#maxConnections,
          ),
          servername,
          endpointKey: epKey,
        },
        used: true,
        caPem,
      };
      this.#entries.set(key, entry);
    } else {
      entry.used = true;
    }
    return entry.upstream;
  }

  /**
   * Closes the pools of endpoints not in `liveEndpointKeys` (endpointKey spellings), and superseded
   * pools unused since the previous sync. Closing is graceful; the promise settles when every closed
   * pool has finished its requests in flight, so a config swap should not wait for it.
   */
  sync(liveEndpointKeys: Iterable<string>): Promise<void> {
    const live = new Set(liveEndpointKeys);
    const closing: Promise<void>[] = [];
    for (const [key, entry] of this.#entries) {
      const epKey = entry.upstream.endpointKey;
      const superseded = this.#latest.get(epKey) !== key && !entry.used;
      if (!live.has(epKey) || superseded) {
        this.#entries.delete(key);
        closing.push(closeQuietly(entry.upstream.dispatcher));
      } else {
        entry.used = false;
      }
    }
    for (const epKey of this.#latest.keys()) if (!live.has(epKey)) this.#latest.delete(epKey);
    const caInUse = new Set<string>();
    for (const entry of this.#entries.values()) if (entry.caPem !== null) caInUse.add(entry.caPem);
    for (const pem of this.#caIds.keys()) if (!caInUse.has(pem)) this.#caIds.delete(pem);
    return Promise.all(closing).then(() => {});
  }

  /** Closes every pool gracefully (shutdown). */
  close(): Promise<void> {
    return this.sync([]);
  }

  /** Destroys every pool now, failing requests in flight (the end of a drain deadline). */
  async destroy(): Promise<void> {
    const pools = [...this.#entries.values()].map((entry) => entry.upstream.dispatcher);
    this.#entries.clear();
    this.#latest.clear();
    this.#caIds.clear();
    await Promise.all(pools.map((pool) => pool.destroy().catch(() => {})));
  }
}

function createPool(
  endpoint: UpstreamEndpoint,
  connectMs: number,
  idleMs: number,
  caPem: string | null,
  servername: string | null,
  maxConnections: number | null,
): Pool {
  const host = endpoint.address.includes(":") ? `[${endpoint.address}]` : endpoint.address;
  const origin = `${caPem === null ? "http" : "https"}://${host}:${endpoint.port}`;
  return new PoolClass(origin, {
    connections: maxConnections,
    // One request at a time per connection: pipelining lets one slow response stall the ones behind it.
    pipelining: 1,
    keepAliveTimeout: idleMs,
    // A backend's Keep-Alive hint may shorten the idle lifetime, never lengthen it.
    keepAliveMaxTimeout: idleMs,
    connectTimeout: connectMs,
    // HTTP/1.1 only: the request and response header lists we build are HTTP/1.1 lists.
    allowH2: false,
    ...(caPem === null
      ? {}
      : {
          connect: {
            ca: caPem,
            servername: servername ?? undefined,
            rejectUnauthorized: true,
            minVersion: "TLSv1.2" as const,
            timeout: connectMs,
          },
        }),
  });
}

function closeQuietly(pool: Pool): Promise<void> {
  // close() rejects only when the pool is already closed, which is the outcome we want anyway.
  return pool.close().catch(() => {});
}
