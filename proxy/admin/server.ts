// The admin server: health probes, Prometheus metrics and the applied config version, on a port of its
// own so that nothing about it depends on the proxy's listeners, routes or TLS.
//
//   GET /healthz  200 "ok" while the process is alive (liveness probe)
//   GET /readyz   200 "ok" once a config is applied and until draining starts, else 503 (readiness)
//   GET /metrics  Prometheus text format 0.0.4
//   GET /config   JSON: the applied config's version, when it was applied, and its sources
//   anything else 404; methods other than GET and HEAD 405; a request body 413
//
// It is reachable by anything that can reach the pod, so it takes nothing from a request but the
// method and path, holds requests to small size and time limits, and never prints secrets.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer } from "../http/node-http.ts";
import type { ProxyLogger } from "../observability/ports.ts";
import { isSensitiveName, REDACTED } from "../observability/redact.ts";
import type { Health } from "./health.ts";

/** Content type of /metrics: Prometheus text exposition format 0.0.4. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Default bind address: every interface, since the kubelet probes the pod IP. */
export const DEFAULT_ADMIN_HOST = "0.0.0.0";

/** The applied config as /config shows it. */
export interface AppliedConfigView {
  /** Content hash of the applied config; null before the first one. */
  version: string | null;
  /** When it was applied (RFC 3339); null before the first one. */
  appliedAt: string | null;
  /** The objects it was compiled from (ProxyConfig.sources). */
  sources?: unknown;
}

export interface AdminServerOptions {
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /** Bind address. Default DEFAULT_ADMIN_HOST. */
  host?: string;
  health: Health;
  /** Renders the Prometheus text (one worker's registry, or all workers aggregated). */
  metrics: () => Promise<string>;
  config: () => AppliedConfigView;
  logger: ProxyLogger;
}

export interface AdminServer {
  /** The port actually bound (useful when 0 was asked for). */
  readonly port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/** Limits: probes and scrapes are tiny GETs, so anything bigger or slower is not one of them. */
const MAX_HEADER_BYTES = 8 * 1024;
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const MAX_CONNECTIONS = 64;

const ALLOWED_METHODS = "GET, HEAD";

function send(
  response: ServerResponse,
  status: number,
  body: string,
  contentType = "text/plain; charset=utf-8",
  extra: Record<string, string> = {},
): void {
  response.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...extra,
  });
  // For HEAD, node:http sends the headers and leaves the body out.
  response.end(body);
}

/**
 * /config's JSON. Sources are copied through a filter that blanks any sensitive-looking key or PEM
 * private key, in case a caller ever hands over more than object references.
 */
export function renderConfigView(view: AppliedConfigView): string {
  const shown = { version: view.version, appliedAt: view.appliedAt, sources: view.sources ?? [] };
  return `${JSON.stringify(
    shown,
    (key, value: unknown) => {
      if (key !== "" && isSensitiveName(key)) return REDACTED;
      if (typeof value === "string" && value.includes("PRIVATE KEY")) return REDACTED;
      return value;
    },
    2,
  )}\n`;
}

/** Whether a request announces a body (a Content-Length above 0, or chunked). */
function hasBody(request: IncomingMessage): boolean {
  const length = request.headers["content-length"];
  return (
    (length !== undefined && length !== "0") || request.headers["transfer-encoding"] !== undefined
  );
}

async function handle(
  options: AdminServerOptions,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    send(response, 405, "method not allowed\n", undefined, { allow: ALLOWED_METHODS });
    return;
  }
  if (hasBody(request)) {
    // Close rather than read and discard what might be a large upload.
    send(response, 413, "request body not accepted\n", undefined, { connection: "close" });
    return;
  }
  const url = request.url ?? "/";
  const query = url.indexOf("?");
  const path = query === -1 ? url : url.slice(0, query);
  switch (path) {
    case "/healthz":
      if (options.health.live()) send(response, 200, "ok\n");
      else send(response, 503, "not live\n");
      return;
    case "/readyz":
      if (options.health.ready()) send(response, 200, "ok\n");
      else send(response, 503, "not ready\n");
      return;
    case "/metrics":
      send(response, 200, await options.metrics(), METRICS_CONTENT_TYPE);
      return;
    case "/config":
      send(response, 200, renderConfigView(options.config()), "application/json; charset=utf-8");
      return;
    default:
      send(response, 404, "not found\n");
  }
}

/** Starts the admin server; resolves once it listens. */
export function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { logger } = options;
  const server = createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      // Node checks the two timeouts above only this often (default 30 s).
      connectionsCheckingInterval: 1_000,
    },
    (request, response) => {
      handle(options, request, response).catch((error: unknown) => {
        // The error may describe internals; the client gets a generic answer, the log the detail.
        logger.error("Failed to answer admin request", {
          path: (request.url ?? "").split("?")[0],
          error: error instanceof Error ? error.message : String(error),
        });
        if (!response.headersSent) send(response, 503, "unavailable\n");
        else response.destroy();
      });
    },
  );
  server.maxConnections = MAX_CONNECTIONS;
  const host = options.host ?? DEFAULT_ADMIN_HOST;

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: options.port, host }, () => {
      server.off("error", reject);
      server.on("error", (error) => {
        logger.error("Failed on admin server", { error: error.message });
      });
      const { port } = server.address() as AddressInfo;
      logger.info("Started admin server", { host, port });
      resolve({
        port,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((error) => {
              if (error) fail(error);
              else {
                logger.info("Stopped admin server", { host, port });
                done();
              }
            });
            // Scrapers keep connections alive; admin requests are short, so do not wait for them.
            server.closeAllConnections();
          }),
      });
    });
  });
}
