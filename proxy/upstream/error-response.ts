// The response a client gets when its request ends with a ProxyError before any upstream response
// started. Deliberately plain: no backend detail leaks, and the body is the status text.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { leavesBodyUnread } from "../http/framing.ts";
import { STATUS_CODES } from "../http/node-http.ts";
import type { ProxyError } from "./errors.ts";

/** Options of writeErrorResponse. */
export interface ErrorResponseOptions {
  /** Strict-Transport-Security value for the host, or null/absent for none. */
  hsts?: string | null;
  /** X-Request-Id to echo, so that a user's report can be matched with the access log. */
  requestId?: string;
}

/**
 * Answers `error.status` with a short text body. If the response already started (or the client is
 * gone) the downstream stream is destroyed instead: a second status line cannot be sent, and a
 * truncated response must not look complete. On HTTP/1 the connection is closed when the request body
 * was not read to its end, because Node would otherwise read (and discard) whatever the client still
 * sends — unbounded work for a request we already refused.
 */
export function writeErrorResponse(
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  error: ProxyError,
  options: ErrorResponseOptions = {},
): void {
  if (res.headersSent || res.writableEnded || error.code === "PC_CLIENT_ABORTED") {
    if (!res.writableFinished) res.destroy();
    return;
  }
  const body = `${STATUS_CODES[error.status] ?? "Error"}\n`;
  const headers = [
    "content-type",
    "text/plain; charset=utf-8",
    "content-length",
    String(Buffer.byteLength(body)),
    "cache-control",
    "no-store",
  ];
  if (leavesBodyUnread(req)) headers.push("connection", "close");
  if (options.hsts != null) headers.push("strict-transport-security", options.hsts);
  if (options.requestId !== undefined) headers.push("x-request-id", options.requestId);
  // Both response classes accept a flat header list; their union's overloads do not type-check as one.
  (res as ServerResponse).writeHead(error.status, headers);
  res.end(body);
}
