// How a request's body is delimited (RFC 9112 §6). Node's parser (llhttp, strict) already refuses most
// ambiguous framings before a request exists: Content-Length together with Transfer-Encoding, several
// Content-Length values, Transfer-Encoding that does not end in "chunked", malformed chunk sizes,
// obs-fold, bare CR or LF. What it lets through, and this refuses with 400, is what a backend could
// still read differently from us:
//
// - HTTP/0.9 ("GET /path" with no version). llhttp accepts it, headers included, and Node hands it
//   over as version 0.9: no version, hence no defined headers or framing, and nothing any backend
//   should be sent. Only HTTP/1.0, 1.1 and 2 are served.
// - Transfer-Encoding in an HTTP/1.0 request. RFC 9112 §6.1: the framing MUST be treated as faulty
//   (HTTP/1.0 has no chunked coding; a 1.0 backend behind another hop would read the body as raw bytes).
// - A transfer coding other than a single "chunked" ("gzip, chunked", "chunked, chunked"). We decode
//   chunked and forward the body re-framed; a coding under it would reach the backend as if it were the
//   content (the Transfer-Encoding header is hop-by-hop and dropped), and RFC 9112 asks a server that
//   does not implement a coding to refuse the request (501 there; 400 here, as for every framing fault).
//
// HTTP/2 carries no Transfer-Encoding (nghttp2 refuses the header) and frames bodies itself.

/** Why a request's framing was refused (the caller answers 400 and closes the connection). */
export interface FramingError {
  /** Safe to log; never echoes the request. */
  readonly error: string;
}

/** The parts of a request that decide its framing. */
export interface FramingRequest {
  /** `req.rawHeaders`. */
  readonly rawHeaders: readonly string[];
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
}

/** Null when the framing is one we forward unambiguously, else why not. Never throws. */
export function validateFraming(request: FramingRequest): FramingError | null {
  if (request.httpVersionMajor === 2) return null;
  if (request.httpVersionMajor !== 1 || request.httpVersionMinor > 1) {
    return { error: "an HTTP version other than 1.0, 1.1 or 2" };
  }
  const raw = request.rawHeaders;
  let codings = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? "";
    if (name.length !== 17 || name.toLowerCase() !== "transfer-encoding") continue;
    if (request.httpVersionMinor === 0)
      return { error: "Transfer-Encoding in an HTTP/1.0 request" };
    for (const coding of (raw[i + 1] ?? "").split(",")) {
      const token = coding.trim().toLowerCase();
      if (token === "") continue;
      if (token !== "chunked") return { error: "a transfer coding other than chunked" };
      codings++;
    }
  }
  if (codings > 1) return { error: "chunked applied more than once" };
  return null;
}

/**
 * Whether an HTTP/1 request announced a body: a Content-Length other than 0, or Transfer-Encoding.
 * (A malformed Content-Length counts as a body: forward() refuses it anyway.)
 */
export function announcesBody(rawHeaders: readonly string[]): boolean {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? "";
    if (name.length === 17 && name.toLowerCase() === "transfer-encoding") return true;
    if (name.length === 14 && name.toLowerCase() === "content-length") {
      if ((rawHeaders[i + 1] ?? "").trim() !== "0") return true;
    }
  }
  return false;
}

/** What leavesBodyUnread reads of a request (IncomingMessage and Http2ServerRequest have it). */
export interface BodyProgress {
  readonly rawHeaders: readonly string[];
  readonly httpVersionMajor: number;
  /** Whether Node's HTTP/1 parser has read the message to its end. */
  readonly complete: boolean;
}

/**
 * Whether answering an HTTP/1 request now would leave part of its body on the connection: it announced
 * one that the parser has not read to its end. Such an answer has to close the connection, or Node
 * would read (and discard) whatever the client still sends, unbounded work for a request already
 * answered. Not `complete` alone: Node emits 'request' before the parser reaches the end of any
 * message, so it is false then even for a GET, whose connection can stay open. HTTP/2 resets the
 * stream instead and never needs this.
 */
export function leavesBodyUnread(request: BodyProgress): boolean {
  return request.httpVersionMajor !== 2 && !request.complete && announcesBody(request.rawHeaders);
}
