// Bounds on everything a client controls at the HTTPS listener, with the defaults we ship. Each is a
// resource a client could otherwise hold or inflate at will: time before and during a request,
// header bytes and counts, concurrent HTTP/2 streams, HTTP/2 session memory, idle connections.

/** Limits of the HTTPS listener. Times in milliseconds. */
export interface HttpsLimits {
  /** Time for the TLS handshake to complete (Node's default is 120 s). Default 10 s. */
  readonly handshakeTimeoutMs: number;
  /** Time for a whole ClientHello to arrive when the listener reads it itself. Default 10 s. */
  readonly clientHelloTimeoutMs: number;
  /** Largest ClientHello buffered when the listener reads it itself, bytes. Default 16 KiB. */
  readonly maxClientHelloBytes: number;
  /** Largest request header block: HTTP/1 maxHeaderSize and HTTP/2 maxHeaderListSize, bytes. Default 16 KiB. */
  readonly maxHeaderBytes: number;
  /** Most header fields in a request (HTTP/2 pseudo-headers count). Default 100 (Node: 2000 for HTTP/1). */
  readonly maxHeaderCount: number;
  /** Time for an HTTP/1 request's headers to arrive (slowloris). Default 10 s. */
  readonly headersTimeoutMs: number;
  /**
   * Time for a whole request, body included, to arrive: HTTP/1 (Node's requestTimeout: 408 and the
   * connection closed) and each HTTP/2 stream (408 and the stream reset). Default 120 s.
   */
  readonly requestTimeoutMs: number;
  /** Idle time of an HTTP/1 keep-alive connection between requests. Default 60 s. */
  readonly keepAliveTimeoutMs: number;
  /** Idle time of an HTTP/2 connection with no open stream before a GOAWAY. Default 60 s. */
  readonly http2IdleTimeoutMs: number;
  /**
   * Time with no byte in either direction after which any connection is destroyed: the backstop
   * for a request stuck mid-flight. Must exceed the slowest upstream response. Default 300 s.
   */
  readonly inactivityTimeoutMs: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (at most 100 by policy). Default 100. */
  readonly maxConcurrentStreams: number;
  /** Memory an HTTP/2 session may use before new streams are refused, in megabytes. Default 10. */
  readonly maxSessionMemoryMb: number;
  /** Time to connect to a passthrough backend. Default 5 s. */
  readonly passthroughConnectTimeoutMs: number;
  /** Idle time of a passthrough tunnel (no bytes either way). Default 1 h. */
  readonly passthroughIdleTimeoutMs: number;
}

/** The shipped limits. */
export const DEFAULT_HTTPS_LIMITS: HttpsLimits = Object.freeze({
  handshakeTimeoutMs: 10_000,
  clientHelloTimeoutMs: 10_000,
  maxClientHelloBytes: 16 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  keepAliveTimeoutMs: 60_000,
  http2IdleTimeoutMs: 60_000,
  inactivityTimeoutMs: 300_000,
  maxConcurrentStreams: 100,
  maxSessionMemoryMb: 10,
  passthroughConnectTimeoutMs: 5_000,
  passthroughIdleTimeoutMs: 3_600_000,
});

/** Largest value accepted for maxConcurrentStreams: the proxy issue's ceiling. */
export const MAX_CONCURRENT_STREAMS_CEILING = 100;

/** Some limits to change; an undefined value keeps the default. */
export type HttpsLimitOverrides = {
  readonly [K in keyof HttpsLimits]?: HttpsLimits[K] | undefined;
};

/** Defaults overlaid with `overrides`; throws on a value no listener should run with. */
export function resolveHttpsLimits(overrides: HttpsLimitOverrides = {}): HttpsLimits {
  const limits: HttpsLimits = { ...DEFAULT_HTTPS_LIMITS };
  for (const name of Object.keys(DEFAULT_HTTPS_LIMITS) as (keyof HttpsLimits)[]) {
    const value = overrides[name];
    if (value !== undefined) (limits as Record<keyof HttpsLimits, number>)[name] = value;
  }
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new RangeError(`HTTPS listener limit ${name} must be a positive integer, got ${value}`);
    }
  }
  if (limits.maxConcurrentStreams > MAX_CONCURRENT_STREAMS_CEILING) {
    throw new RangeError(
      `maxConcurrentStreams ${limits.maxConcurrentStreams} exceeds ${MAX_CONCURRENT_STREAMS_CEILING}`,
    );
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    // Node refuses this combination too; say so in our words.
    throw new RangeError("headersTimeoutMs must not exceed requestTimeoutMs");
  }
  return Object.freeze(limits);
}
