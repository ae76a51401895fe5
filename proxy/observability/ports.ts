// What the data plane reports through. Modules depend on these interfaces, not on prom-client or
// winston, so they can be tested with the no-op versions below and the admin module owns the wiring.

/** Structured fields of a log line. Never put cookies, authorization headers or key bytes here. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface ProxyLogger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** One proxied request, as the access log records it (no cookies, no authorization, no query values). */
export interface AccessRecord {
  method: string;
  host: string;
  path: string;
  status: number;
  durationMs: number;
  route: string;
  cluster: string;
  endpoint: string;
  bytesSent: number;
  protocol: string;
  clientAddress: string;
}

export type AffinityEvent = "hit" | "new" | "repin" | "drain" | "invalid";
export type HandshakeKind = "full" | "resumed";
export type UpstreamFailure = "connect" | "timeout" | "reset" | "protocol" | "tls";

export interface ProxyMetrics {
  /** A completed TLS handshake on the HTTPS listener. */
  handshake(kind: HandshakeKind): void;
  /** A finished request: by route and status, with its duration. */
  request(route: string, cluster: string, status: number, seconds: number): void;
  affinity(cluster: string, event: AffinityEvent): void;
  upstreamFailure(cluster: string, failure: UpstreamFailure): void;
  retry(cluster: string): void;
  /** Current health of an endpoint (1 healthy, 0 ejected or failing active checks). */
  endpointHealth(cluster: string, endpoint: string, healthy: boolean): void;
  /** Drop series of endpoints and clusters that no longer exist. */
  forgetEndpoints(live: ReadonlyMap<string, ReadonlySet<string>>): void;
  /** Expiry of a served certificate, as a Unix time in seconds. */
  certificateExpiry(name: string, notAfterSeconds: number): void;
  certificateReload(name: string, outcome: "ok" | "error"): void;
  configApplied(version: string, outcome: "ok" | "rejected"): void;
  connections(delta: number): void;
}

export const noopLogger: ProxyLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

export const noopMetrics: ProxyMetrics = {
  handshake: () => {},
  request: () => {},
  affinity: () => {},
  upstreamFailure: () => {},
  retry: () => {},
  endpointHealth: () => {},
  forgetEndpoints: () => {},
  certificateExpiry: () => {},
  certificateReload: () => {},
  configApplied: () => {},
  connections: () => {},
};
