// The HTTPS listener: accepts TCP connections on the HTTPS port and gets each one to where it
// belongs: the TLS server that terminates it (HTTP/2 or HTTP/1.1 by ALPN), a passthrough backend, or
// a TLS alert. It listens with SO_REUSEPORT, so one process per core can share the port and the
// kernel spreads connections between them.
//
// Reading the ClientHello in JavaScript costs a little per connection, so the listener does it only
// when a decision needs the SNI before TLS starts: when the config has passthrough routes, or when
// hosts differ in handshake settings (one TLS server per profile, see terminator.ts). Otherwise the
// connection goes straight to the one TLS server.
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import type { ProxyConfig } from "../config/types.ts";
import type { ProxyLogger, ProxyMetrics } from "../observability/ports.ts";
import type { CertificateStore } from "./certificate-store.ts";
import { encodeFatalAlert, TlsAlert } from "./client-hello.ts";
import {
  buildHandshakeRouter,
  EMPTY_HANDSHAKE_ROUTER,
  type HandshakeRouter,
} from "./handshake-route.ts";
import { type HttpsLimitOverrides, type HttpsLimits, resolveHttpsLimits } from "./limits.ts";
import { type PickPassthroughBackend, spliceToBackend } from "./passthrough.ts";
import { peekClientHello } from "./peek.ts";
import { type RequestHandler, TlsTerminator } from "./terminator.ts";
import type { TicketKeyRing } from "./tickets.ts";

/** Options of createHttpsListener. */
export interface HttpsListenerOptions {
  /** TCP port; 0 picks a free one (tests). */
  readonly port: number;
  /** Address to bind; default all addresses. */
  readonly host?: string | undefined;
  /** Share the port with other processes (SO_REUSEPORT). Default true. */
  readonly reusePort?: boolean | undefined;
  /** Certificates and SNI contexts; the listener calls its update() from update(). */
  readonly certificateStore: CertificateStore;
  /** Shared session-ticket keys; the listener applies each rotation to its TLS servers. */
  readonly ticketKeyRing: TicketKeyRing;
  /** Passthrough backends; without it, ClientHellos for passthrough hosts get an internal_error alert. */
  readonly passthrough?: { readonly pickBackend: PickPassthroughBackend } | undefined;
  readonly logger: ProxyLogger;
  readonly metrics: ProxyMetrics;
  /** Called for every HTTP/1.1 and HTTP/2 request. */
  readonly requestHandler: RequestHandler;
  /** Overrides of DEFAULT_HTTPS_LIMITS. */
  readonly limits?: HttpsLimitOverrides | undefined;
  /**
   * When the listener reads ClientHellos itself. "auto" (default): only when routing needs the SNI
   * before TLS starts (passthrough routes, or hosts with different handshake settings). "always":
   * also refuse unknown names with the unrecognized_name alert the config promises (the TLS server
   * can only answer handshake_failure) and know the SNI of resumed TLS 1.2 sessions; it costs one
   * more JavaScript read per connection, which measured below the noise of a handshake.
   */
  readonly readClientHello?: "auto" | "always" | undefined;
}

/** A running HTTPS listener. */
export interface HttpsListener {
  /** Binds the port. Resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  /**
   * Applies a config: certificates (through the store), passthrough routes and the ticket rotation
   * period. Resolves once new handshakes use it. Call it before listen() so the first handshake
   * already has certificates.
   */
  update(config: ProxyConfig): Promise<void>;
  /** Whether connections currently have their ClientHello read by the listener. */
  readonly readsClientHello: boolean;
  /** Open TCP connections (TLS, passthrough, or not yet decided). */
  readonly connectionCount: number;
  /**
   * Announces a drain while still accepting (the drain delay): HTTP/1 responses carry
   * `Connection: close` and their connections close after them (TlsTerminator.announceDrain). Idle
   * connections and HTTP/2 sessions are left alone until close().
   */
  announceDrain(): void;
  /**
   * Drains and closes: stops accepting, sends GOAWAY on HTTP/2 sessions, closes idle HTTP/1
   * connections once the drain is IDLE_CLOSE_GRACE_MS old (see announceDrain) and busy ones after
   * their current response, and resolves when every connection has ended or at `deadline` (Unix time
   * in ms), when whatever remains is destroyed.
   */
  close(deadline: number): Promise<void>;
}

/** Creates an HTTPS listener (not yet listening). */
export function createHttpsListener(options: HttpsListenerOptions): HttpsListener {
  return new Listener(options);
}

class Listener implements HttpsListener {
  readonly #options: HttpsListenerOptions;
  readonly #limits: HttpsLimits;
  readonly #terminator: TlsTerminator;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #router: HandshakeRouter = EMPTY_HANDSHAKE_ROUTER;
  #closing: Promise<void> | undefined;
  #onEmpty: (() => void) | undefined;

  constructor(options: HttpsListenerOptions) {
    this.#options = options;
    this.#limits = resolveHttpsLimits(options.limits);
    this.#terminator = new TlsTerminator({
      certificateStore: options.certificateStore,
      ticketKeyRing: options.ticketKeyRing,
      logger: options.logger,
      metrics: options.metrics,
      requestHandler: options.requestHandler,
      limits: this.#limits,
    });
    this.#server = createServer({ noDelay: true }, (socket) => this.#onConnection(socket));
    this.#server.on("error", (error) =>
      options.logger.error("HTTPS listener failed", { error: error.message }),
    );
  }

  get readsClientHello(): boolean {
    return (
      this.#options.readClientHello === "always" ||
      this.#router.passthroughRoutes > 0 ||
      this.#options.certificateStore.snapshot.profiles.size > 1
    );
  }

  get connectionCount(): number {
    return this.#sockets.size;
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#server.once("error", onError);
      this.#server.listen(
        {
          port: this.#options.port,
          ...(this.#options.host !== undefined ? { host: this.#options.host } : {}),
          reusePort: this.#options.reusePort ?? true,
        },
        () => {
          this.#server.off("error", onError);
          const address = this.#server.address() as AddressInfo;
          this.#options.logger.info("Started HTTPS listener", {
            address: address.address,
            port: address.port,
            reusePort: this.#options.reusePort ?? true,
          });
          resolve(address);
        },
      );
    });
  }

  async update(config: ProxyConfig): Promise<void> {
    await this.#options.certificateStore.update(config);
    this.#router = buildHandshakeRouter(config);
    this.#options.ticketKeyRing.setRotationSeconds(config.listener.sessionTicketRotationSeconds);
    if (config.passthrough.length > 0 && !this.#options.passthrough) {
      this.#options.logger.error("Received passthrough routes but no passthrough backend picker", {
        routes: config.passthrough.length,
      });
    }
  }

  announceDrain(): void {
    this.#terminator.announceDrain();
  }

  close(deadline: number): Promise<void> {
    this.#closing ??= this.#drain(deadline);
    return this.#closing;
  }

  async #drain(deadline: number): Promise<void> {
    const { logger } = this.#options;
    logger.info("Draining HTTPS listener", { connections: this.#sockets.size });
    if (this.#server.listening) this.#server.close();
    this.#terminator.drain();
    const drained = await this.#waitForConnections(deadline);
    if (!drained) {
      logger.warn("Destroyed connections still open at the drain deadline", {
        connections: this.#sockets.size,
      });
      for (const socket of this.#sockets) socket.destroy();
      // 'close' follows destroy() within a tick or two; wait for it so callers see a clean end.
      await this.#waitForConnections(Date.now() + 1000);
    }
    this.#terminator.close();
    logger.info("Closed HTTPS listener", { drained });
  }

  /** Resolves true when no connection is left, false at `deadline`. */
  #waitForConnections(deadline: number): Promise<boolean> {
    if (this.#sockets.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.#onEmpty = undefined;
          resolve(false);
        },
        Math.max(0, deadline - Date.now()),
      );
      this.#onEmpty = () => {
        clearTimeout(timer);
        this.#onEmpty = undefined;
        resolve(true);
      };
    });
  }

  #onConnection(socket: Socket): void {
    const { metrics } = this.#options;
    this.#sockets.add(socket);
    metrics.connections(1);
    // Errors surface on the TLSSocket or the tunnel that takes this socket over; this listener
    // only keeps an early reset (before either exists) from becoming an uncaught exception.
    socket.on("error", () => {});
    socket.once("close", () => {
      this.#sockets.delete(socket);
      metrics.connections(-1);
      if (this.#sockets.size === 0) this.#onEmpty?.();
    });
    if (!this.readsClientHello) {
      this.#terminator.accept(socket, this.#options.certificateStore.snapshot.primaryProfileKey);
      return;
    }
    this.#dispatch(socket).catch((error: unknown) => {
      this.#options.logger.error("Failed to dispatch a connection", {
        error: error instanceof Error ? error.message : String(error),
      });
      socket.destroy();
    });
  }

  async #dispatch(socket: Socket): Promise<void> {
    const { logger, certificateStore } = this.#options;
    const peeked = await peekClientHello(socket, {
      maxBytes: this.#limits.maxClientHelloBytes,
      timeoutMs: this.#limits.clientHelloTimeoutMs,
    });
    if (peeked.status === "failed") {
      if (peeked.failure !== "closed") {
        logger.debug("Closed a connection without a usable ClientHello", {
          failure: peeked.failure,
          reason: peeked.reason,
          remoteAddress: socket.remoteAddress ?? null,
        });
      }
      socket.destroy();
      return;
    }
    const serverName = peeked.hello.serverName;
    const route = this.#router.route(serverName, certificateStore.snapshot);
    switch (route.kind) {
      case "terminate":
        socket.unshift(peeked.buffered);
        this.#terminator.accept(socket, route.profileKey, serverName);
        return;
      case "passthrough": {
        // A throwing picker is a bug elsewhere; it must cost this connection, not the process.
        const target = this.#options.passthrough?.pickBackend(route.serverName, route.route);
        if (!target) {
          logger.warn("Refused a passthrough connection: no backend", {
            serverName: route.serverName,
            cluster: route.route.cluster,
          });
          this.#refuse(socket, TlsAlert.InternalError);
          return;
        }
        spliceToBackend(
          socket,
          peeked.buffered,
          target,
          {
            connectTimeoutMs: this.#limits.passthroughConnectTimeoutMs,
            idleTimeoutMs: this.#limits.passthroughIdleTimeoutMs,
          },
          logger,
          {
            onUpstreamFailure: (reason) =>
              this.#options.metrics.upstreamFailure(
                route.route.cluster,
                reason === "timeout" ? "timeout" : "connect",
              ),
          },
        );
        return;
      }
      case "reject":
        logger.debug("Refused a TLS handshake for an unknown server name", {
          serverName: serverName ?? null,
        });
        this.#refuse(socket, route.alert);
        return;
    }
  }

  /** Answers the ClientHello with a fatal alert and closes. */
  #refuse(socket: Socket, alert: Parameters<typeof encodeFatalAlert>[0]): void {
    socket.end(encodeFatalAlert(alert));
    socket.destroySoon();
  }
}
