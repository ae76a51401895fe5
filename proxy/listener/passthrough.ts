// TLS passthrough: a connection whose ClientHello names a passthrough host is spliced, bytes
// untouched, to a backend that terminates TLS itself. The listener holds no key for these hosts and
// never decrypts: it only read the (plaintext) ClientHello to choose the backend, and forwards those
// bytes first.
import { connect, type Socket } from "node:net";
import type { PassthroughRouteConfig } from "../config/types.ts";
import type { ProxyLogger } from "../observability/ports.ts";
import { encodeFatalAlert, TlsAlert } from "./client-hello.ts";
import { buildHostTable, type HostTable } from "./sni.ts";

/** Where one passthrough connection goes. */
export interface PassthroughTarget {
  /** IPv4 or IPv6 address of the backend endpoint. */
  readonly address: string;
  /** TCP port. */
  readonly port: number;
}

/**
 * Chooses the backend for a passthrough connection (the caller's balancer): `serverName` is the SNI
 * as sent, `route` the passthrough entry it matched. Undefined when the cluster has no endpoint.
 */
export type PickPassthroughBackend = (
  serverName: string,
  route: PassthroughRouteConfig,
) => PassthroughTarget | undefined;

/** Limits of a passthrough tunnel. */
export interface TunnelLimits {
  /** Time to establish the backend TCP connection, ms. */
  readonly connectTimeoutMs: number;
  /** A tunnel with no bytes in either direction for this long is closed, ms. */
  readonly idleTimeoutMs: number;
}

/** Passthrough routes by SNI pattern (exact before wildcard, like the config lists them). */
export function buildPassthroughTable(
  routes: readonly PassthroughRouteConfig[],
): HostTable<PassthroughRouteConfig> {
  return buildHostTable(routes.map((route) => [route.host, route] as const));
}

/** What the listener learns about a tunnel. */
export interface TunnelEvents {
  /** The backend could not be reached (connect error or timeout). */
  onUpstreamFailure?(reason: "connect" | "timeout"): void;
}

/**
 * Splices `client` to `target`: writes `buffered` (the ClientHello already read) first, then pipes
 * both ways. Backpressure comes from pipe(); a FIN in one direction is passed on as a FIN while the
 * other direction keeps flowing (half-close), and the tunnel ends when both directions have ended
 * or either side fails. If the backend cannot be reached, the client gets a TLS internal_error
 * alert (legal: nothing has been sent to it yet) instead of a bare reset.
 */
export function spliceToBackend(
  client: Socket,
  buffered: Buffer,
  target: PassthroughTarget,
  limits: TunnelLimits,
  logger: ProxyLogger,
  events: TunnelEvents = {},
): void {
  // The listener's sockets end themselves on FIN by default; a tunnel must not, or a client that
  // half-closes (done sending, still reading) would lose the backend's answer.
  client.allowHalfOpen = true;
  const upstream = connect({
    host: target.address,
    port: target.port,
    allowHalfOpen: true,
    noDelay: true,
  });
  let connected = false;
  let failed = false;

  const fail = (reason: "connect" | "timeout" | "abort", detail: string): void => {
    // An abort (error, idle) takes both sides down at once; queued bytes are dropped.
    if (failed) return;
    failed = true;
    clearTimeout(connectTimer);
    if (!connected && reason !== "abort") {
      events.onUpstreamFailure?.(reason);
      logger.warn("Failed to reach passthrough backend", {
        backend: `${target.address}:${target.port}`,
        reason,
        error: detail,
      });
      client.write(encodeFatalAlert(TlsAlert.InternalError));
      client.destroySoon();
    } else {
      client.destroy();
    }
    upstream.destroy();
  };

  const connectTimer = setTimeout(
    () => fail("timeout", `no connection within ${limits.connectTimeoutMs} ms`),
    limits.connectTimeoutMs,
  );
  connectTimer.unref();
  upstream.once("connect", () => {
    connected = true;
    clearTimeout(connectTimer);
    upstream.setTimeout(limits.idleTimeoutMs, () => fail("abort", "idle"));
  });
  upstream.on("error", (error) => fail(connected ? "abort" : "connect", error.message));
  client.on("error", (error) => fail("abort", error.message));
  client.setTimeout(limits.idleTimeoutMs, () => fail("abort", "idle"));
  // Once one side is closed for good, nothing can reach it any more: flush what is queued towards
  // the other side, then close that too (a half-close keeps both open; this is the full close).
  client.once("close", () => {
    clearTimeout(connectTimer);
    if (connected) upstream.destroySoon();
    else upstream.destroy();
  });
  upstream.once("close", () => {
    if (connected) client.destroySoon();
  });

  // Writes before 'connect' are queued by net.Socket, so the hello goes first either way.
  upstream.write(buffered);
  client.pipe(upstream);
  upstream.pipe(client);
}
