// TLS termination: one HTTP/2-with-HTTP/1.1 secure server per TLS profile, none of which listens.
// The HTTPS listener accepts TCP connections itself and hands each to the server of its profile
// (server.emit("connection")), which runs the handshake, picks the certificate through SNICallback,
// negotiates h2 or http/1.1 by ALPN and calls the request handler.
//
// Why several servers: Node takes versions, ciphers, options and ticket keys only from a server's
// initial context (an SNI context contributes its certificate and nothing else), so hosts that need
// different handshake settings need different servers. In the common case every host shares one
// profile and there is exactly one server.

import type {
  ServerOptions as Http1ServerOptions,
  IncomingMessage,
  ServerResponse,
} from "node:http";
import type {
  Http2SecureServer,
  Http2ServerRequest,
  Http2ServerResponse,
  SecureServerOptions,
  ServerHttp2Session,
} from "node:http2";
import { createSecureServer, constants as http2Constants } from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { ProxyLogger, ProxyMetrics } from "../observability/ports.ts";
import type { CertificateStore } from "./certificate-store.ts";
import type { HttpsLimits } from "./limits.ts";
import { recordServedCertificate } from "./served-certificate.ts";
import type { TicketKeyRing } from "./tickets.ts";
import { ALPN_PROTOCOLS, buildSecureContextOptions, type TlsProfile } from "./tls-settings.ts";
import type { TlsSelection, TlsSnapshot } from "./tls-snapshot.ts";

/** A request as the handler receives it: HTTP/1.1 (node:http) or HTTP/2 (compatibility API). */
export type HttpsRequest = IncomingMessage | Http2ServerRequest;
/** The response paired with an HttpsRequest. */
export type HttpsResponse = ServerResponse | Http2ServerResponse;
/** The caller's request handler. Errors it throws are its own to handle (Node's 'request' semantics). */
export type RequestHandler = (request: HttpsRequest, response: HttpsResponse) => void;

/** Options of TlsTerminator. */
export interface TlsTerminatorOptions {
  readonly certificateStore: CertificateStore;
  readonly ticketKeyRing: TicketKeyRing;
  readonly logger: ProxyLogger;
  readonly metrics: ProxyMetrics;
  readonly requestHandler: RequestHandler;
  readonly limits: HttpsLimits;
}

interface ProfileServer {
  readonly key: string;
  readonly server: Http2SecureServer;
  readonly profile: TlsProfile;
  /** Credentials in the server's initial context (what a handshake without SNI gets), if any. */
  credentials: TlsSelection["credentials"] | undefined;
  /** Raw connections handed to it and not yet closed. */
  connections: number;
  /** No longer in the snapshot: closes once its last connection ends. */
  retired: boolean;
}

/** Node's HTTP/1 server options that http2.createSecureServer forwards but does not type. */
type Http1Limits = Pick<
  Http1ServerOptions,
  | "maxHeaderSize"
  | "headersTimeout"
  | "requestTimeout"
  | "keepAliveTimeout"
  | "connectionsCheckingInterval"
  | "optimizeEmptyRequests"
>;

/** Period of Node's HTTP/1 timeout sweep, ms. */
const CONNECTIONS_CHECK_INTERVAL_MS = 1000;

/**
 * How long an HTTP/1 connection must have been idle before a drain closes it, ms. Closing an idle
 * keep-alive connection races with the request its client may be sending on it (the client sees a
 * reset); a connection that just answered is likely to carry another request at once, which is then
 * answered with `Connection: close` instead.
 */
export const IDLE_CLOSE_GRACE_MS = 1000;

/** An HTTP/1 connection's requests in flight, and since when it has had none (ms since epoch). */
interface Http1Connection {
  inflight: number;
  idleSince: number;
}

/**
 * The TLS servers of every profile in the current certificate snapshot, kept in step with it, and
 * the bookkeeping a graceful drain needs (HTTP/2 sessions, HTTP/1 requests in flight).
 */
export class TlsTerminator {
  readonly #options: TlsTerminatorOptions;
  readonly #servers = new Map<string, ProfileServer>();
  readonly #sessions = new Set<ServerHttp2Session>();
  /** Open HTTP/1 connections, to close each when a drain finds it idle. */
  readonly #http1 = new Map<TLSSocket, Http1Connection>();
  /** SNI read by the listener, by remote endpoint, for resumptions OpenSSL reports no SNI for. */
  readonly #peekedNames = new Map<string, string>();
  readonly #unsubscribe: Array<() => void> = [];
  /** When announceDrain() ran (ms since epoch); undefined while not draining. */
  #drainAnnouncedAt: number | undefined;
  /** Whether drain() ran: HTTP/2 sessions get GOAWAY. */
  #closing = false;

  constructor(options: TlsTerminatorOptions) {
    this.#options = options;
    this.#unsubscribe.push(
      options.certificateStore.onChange((snapshot) => this.reconcile(snapshot)),
      options.ticketKeyRing.onRotate((keys) => {
        for (const entry of this.#servers.values()) entry.server.setTicketKeys(keys.reveal());
        options.certificateStore.setTicketKeys(keys);
      }),
    );
    options.certificateStore.setTicketKeys(options.ticketKeyRing.keys);
    this.reconcile(options.certificateStore.snapshot);
  }

  /**
   * Hands a raw TCP connection to the server of `profileKey` (the snapshot's primary profile when
   * that server does not exist). Anything already read from the socket must have been unshifted.
   * `peekedServerName` is the SNI the listener read, if it did.
   */
  accept(socket: Socket, profileKey: string, peekedServerName?: string | undefined): void {
    const entry =
      this.#servers.get(profileKey) ??
      this.#servers.get(this.#options.certificateStore.snapshot.primaryProfileKey);
    if (!entry) {
      socket.destroy();
      return;
    }
    entry.connections++;
    const endpoint = endpointKey(socket);
    if (peekedServerName !== undefined && endpoint)
      this.#peekedNames.set(endpoint, peekedServerName);
    socket.once("close", () => {
      if (endpoint) this.#peekedNames.delete(endpoint);
      entry.connections--;
      if (entry.retired && entry.connections === 0) this.#closeServer(entry);
    });
    entry.server.emit("connection", socket);
  }

  /** Brings the set of servers, and their initial certificates, in line with `snapshot`. */
  reconcile(snapshot: TlsSnapshot): void {
    const fallback = snapshot.fallback;
    for (const [key, profile] of snapshot.profiles) {
      const credentials = fallback?.profileKey === key ? fallback.credentials : undefined;
      const existing = this.#servers.get(key);
      if (!existing) {
        this.#servers.set(key, this.#createServer(key, profile, credentials));
        continue;
      }
      existing.retired = false;
      if (!sameCredentials(existing.credentials, credentials)) {
        existing.server.setSecureContext(this.#serverContextOptions(profile, credentials));
        existing.credentials = credentials;
      }
    }
    for (const entry of this.#servers.values()) {
      if (snapshot.profiles.has(entry.key) || entry.retired) continue;
      entry.retired = true;
      if (entry.connections === 0) this.#closeServer(entry);
    }
  }

  /** Number of TLS servers (profiles) running. */
  get serverCount(): number {
    return this.#servers.size;
  }

  /** Whether a drain was announced. */
  get draining(): boolean {
    return this.#drainAnnouncedAt !== undefined;
  }

  /**
   * Tells HTTP/1 clients to go elsewhere, while connections are still accepted (the drain delay, when
   * load balancers may not have noticed yet that the proxy is not ready): every HTTP/1 response from now
   * on carries `Connection: close` and its connection closes after it. The client learns it with an
   * answer, so nothing races. Idle HTTP/1 connections and HTTP/2 sessions are left alone until drain():
   * closing an idle connection races with the request its client may be sending, and a GOAWAY refuses
   * the streams a client opened while it was on its way (safe to retry, RFC 9113 §8.7, but a client
   * that reconnects during the delay may land here again and meet a second GOAWAY).
   */
  announceDrain(): void {
    this.#drainAnnouncedAt ??= Date.now();
  }

  /**
   * Ends a drain (announcing it first if that was not done): every HTTP/2 session, and every new one,
   * gets a GOAWAY and closes when its streams finish; each HTTP/1 connection is closed once it has
   * been idle for IDLE_CLOSE_GRACE_MS, unless a request comes first (answered with `Connection: close`,
   * which ends the connection).
   *
   * RFC 9113 §6.8's remedy for the streams a GOAWAY refuses, a first GOAWAY naming the largest stream
   * id, does not work with Node: nghttp2 ignores every stream that arrives after it sent any GOAWAY
   * (its shutdown notice is the exception, and Node does not expose it), so those streams would wait
   * and be refused all the same.
   */
  drain(): void {
    this.announceDrain();
    if (this.#closing) return;
    this.#closing = true;
    for (const session of this.#sessions) session.close();
    // Not Http2SecureServer#close: its closeIdleConnections would close idle HTTP/1 connections at once.
    for (const socket of this.#http1.keys()) this.#closeWhenIdle(socket);
  }

  /** Closes `socket` if it has been idle for IDLE_CLOSE_GRACE_MS, or looks again when it will have been. */
  #closeWhenIdle(socket: TLSSocket): void {
    const connection = this.#http1.get(socket);
    if (!connection || connection.inflight > 0 || socket.destroyed) return;
    const wait = connection.idleSince + IDLE_CLOSE_GRACE_MS - Date.now();
    if (wait <= 0) socket.destroy();
    // Not unref'd: the listener's drain keeps the process waiting for connections anyway.
    else setTimeout(() => this.#closeWhenIdle(socket), wait);
  }

  /** Stops following the store and the key ring, and closes the TLS servers (call it once drained). */
  close(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    for (const entry of this.#servers.values()) entry.server.close();
  }

  #serverContextOptions(
    profile: TlsProfile,
    credentials: TlsSelection["credentials"] | undefined,
  ): SecureServerOptions {
    return {
      ...buildSecureContextOptions(profile),
      ticketKeys: this.#options.ticketKeyRing.keys.reveal(),
      ...(credentials ? { cert: credentials.chainPem, key: credentials.key.reveal() } : {}),
    };
  }

  #createServer(
    key: string,
    profile: TlsProfile,
    credentials: TlsSelection["credentials"] | undefined,
  ): ProfileServer {
    const { limits, logger } = this.#options;
    const options: SecureServerOptions & Http1Limits = {
      ...this.#serverContextOptions(profile, credentials),
      allowHTTP1: true,
      ALPNProtocols: [...ALPN_PROTOCOLS],
      SNICallback: (serverName, callback) => {
        const selection = this.#options.certificateStore.snapshot.select(serverName);
        if (!selection) {
          // No certificate: OpenSSL answers with a handshake_failure alert. (Calling back with an
          // error instead makes Node drop the TCP connection without any alert.)
          logger.debug("Refused TLS handshake for an unknown server name", { serverName });
        }
        callback(null, selection?.context);
      },
      handshakeTimeout: limits.handshakeTimeoutMs,
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams,
        maxHeaderListSize: limits.maxHeaderBytes,
        enablePush: false,
      },
      maxSessionMemory: limits.maxSessionMemoryMb,
      maxHeaderListPairs: limits.maxHeaderCount,
      // HTTP/1.1 (ALPN http/1.1 or no ALPN): Node's http server behind the same TLS server.
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often HTTP/1 header and request timeouts are enforced (Node: every 30 s, which lets a
      // silent connection outlive a 10 s headers timeout by up to half a minute).
      connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS,
      optimizeEmptyRequests: true,
    };
    const server = createSecureServer(options);
    // Read by Node's HTTP/1 connection handler; no constructor option exists for it.
    (server as unknown as { maxHeadersCount: number }).maxHeadersCount = limits.maxHeaderCount;
    server.setTimeout(limits.inactivityTimeoutMs);
    // Node starts HTTP/1's header and request timeout checks (and the connection list that
    // closeIdleConnections needs) on 'listening'. These servers never listen themselves, so say it.
    server.emit("listening");

    server.prependListener("secureConnection", (socket: TLSSocket) =>
      this.#onSecureConnection(socket),
    );
    server.on("session", (session: ServerHttp2Session) => this.#onSession(session));
    server.on("request", (request: HttpsRequest, response: HttpsResponse) =>
      this.#onRequest(request, response),
    );
    server.on("tlsClientError", (error: Error, socket: TLSSocket) => {
      logger.debug("TLS handshake failed", {
        error: error.message,
        remoteAddress: socket.remoteAddress ?? null,
      });
    });
    server.on("sessionError", (error: Error) => {
      logger.debug("HTTP/2 session failed", { error: error.message });
    });
    server.on("error", (error: Error) => {
      logger.error("TLS server failed", { profile: key, error: error.message });
    });
    // No 'timeout' listener on purpose: without one Node destroys a timed-out HTTP/2 session or
    // HTTP/1 socket itself.
    return { key, server, profile, credentials, connections: 0, retired: false };
  }

  #onSecureConnection(socket: TLSSocket): void {
    if (socket.alpnProtocol !== "h2") {
      this.#http1.set(socket, { inflight: 0, idleSince: Date.now() });
      socket.once("close", () => this.#http1.delete(socket));
      if (this.#closing) this.#closeWhenIdle(socket);
    }
    const resumed = socket.isSessionReused();
    this.#options.metrics.handshake(resumed ? "resumed" : "full");
    // For a TLS 1.2 resumption OpenSSL reports no server name (Node's SNI callback never
    // acknowledged it, so the session did not store it); the name the listener read is the truth.
    const reported = socket.servername || undefined;
    const endpoint = endpointKey(socket);
    const peeked = endpoint ? this.#peekedNames.get(endpoint) : undefined;
    if (endpoint) this.#peekedNames.delete(endpoint);
    const serverName = reported ?? peeked;
    const tls12Resumption = resumed && socket.getProtocol() !== "TLSv1.3";
    if (serverName === undefined && tls12Resumption) {
      recordServedCertificate(socket, null);
      return;
    }
    const selection = this.#options.certificateStore.snapshot.select(serverName);
    recordServedCertificate(socket, selection?.certificate ?? null);
  }

  #onSession(session: ServerHttp2Session): void {
    this.#sessions.add(session);
    let open = 0;
    let idleTimer: NodeJS.Timeout | undefined;
    const armIdle = (): void => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => session.close(), this.#options.limits.http2IdleTimeoutMs);
      idleTimer.unref();
    };
    session.on("stream", (stream) => {
      open++;
      clearTimeout(idleTimer);
      stream.once("close", () => {
        open--;
        if (open === 0) armIdle();
      });
    });
    session.once("close", () => {
      clearTimeout(idleTimer);
      this.#sessions.delete(session);
    });
    armIdle();
    if (this.#closing) session.close();
  }

  #onRequest(request: HttpsRequest, response: HttpsResponse): void {
    if (request.httpVersionMajor < 2) {
      const socket = request.socket as TLSSocket;
      const http1 = response as ServerResponse;
      const connection = this.#http1.get(socket);
      if (connection) connection.inflight++;
      // Node ends the connection after a response that says Connection: close.
      if (this.draining) http1.setHeader("Connection", "close");
      http1.once("close", () => {
        if (!connection) return;
        connection.inflight = Math.max(0, connection.inflight - 1);
        if (connection.inflight > 0) return;
        connection.idleSince = Date.now();
        // A response begun before the drain could not say Connection: close, and its client may be
        // sending the next request already: the connection is closed like any idle one, after the grace.
        if (this.#closing) this.#closeWhenIdle(socket);
      });
    } else {
      this.#armRequestDeadline(request as Http2ServerRequest, response as Http2ServerResponse);
    }
    try {
      this.#options.requestHandler(request, response);
    } catch (error) {
      // A synchronous throw would otherwise take the whole worker down with every connection on it.
      this.#options.logger.error("Request handler failed", {
        error: error instanceof Error ? error.message : String(error),
      });
      if (!response.headersSent) {
        response.statusCode = 500;
        response.end();
      } else {
        response.destroy();
      }
    }
  }

  /**
   * HTTP/2's counterpart of HTTP/1's requestTimeout, which Node applies to HTTP/1 only: a stream whose
   * body has not arrived (and been taken) within requestTimeoutMs is answered 408, or cancelled if its
   * response has begun, so a client trickling DATA frames cannot hold a stream, its buffer and its
   * slot among the session's 100 for as long as the connection stays active. The clock stops when the
   * body ends ('end': received to its END_STREAM and read by the handler) or the stream closes.
   */
  #armRequestDeadline(request: Http2ServerRequest, response: Http2ServerResponse): void {
    const { stream } = request;
    if (stream.endAfterHeaders) return;
    const deadline = setTimeout(() => {
      if (stream.destroyed) return;
      this.#options.logger.debug("HTTP/2 request body timed out", {
        timeoutMs: this.#options.limits.requestTimeoutMs,
      });
      if (!response.headersSent) {
        const body = "Request timed out.\n";
        response.writeHead(408, {
          "content-type": "text/plain; charset=utf-8",
          "content-length": String(body.length),
        });
        response.end(body);
      }
      // RST_STREAM after the answer tells the client to stop sending (RFC 9113 §8.1): NO_ERROR when
      // the 408 went out whole, CANCEL when a response was already under way.
      stream.close(
        response.headersSent && response.writableEnded
          ? http2Constants.NGHTTP2_NO_ERROR
          : http2Constants.NGHTTP2_CANCEL,
      );
    }, this.#options.limits.requestTimeoutMs);
    deadline.unref();
    const stop = (): void => clearTimeout(deadline);
    request.once("end", stop);
    stream.once("close", stop);
  }

  #closeServer(entry: ProfileServer): void {
    if (this.#servers.get(entry.key) === entry) this.#servers.delete(entry.key);
    entry.server.close();
  }
}

/** Same chain and same key object (a reload creates new ones; a rebuild alone does not). */
function sameCredentials(
  a: TlsSelection["credentials"] | undefined,
  b: TlsSelection["credentials"] | undefined,
): boolean {
  return (
    a === b || (a !== undefined && b !== undefined && a.chainPem === b.chainPem && a.key === b.key)
  );
}

function endpointKey(socket: Socket): string | undefined {
  const { remoteAddress, remotePort } = socket;
  return remoteAddress && remotePort ? `${remoteAddress}|${remotePort}` : undefined;
}
