// The header lists that cross the proxy: downstream request → upstream request, and upstream
// response → downstream response. Hot path: works on Node's flat `rawHeaders` arrays and produces flat
// arrays that undici and `res.writeHead` take as they are, with no header objects in between
// (see PERFORMANCE-NOTES.md).
import { randomUUID } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { addConnectionTokens, HOP_BY_HOP_HEADERS } from "./hop-by-hop.ts";
import { TRUST_NOBODY, type TrustedProxies, unmapIPv4 } from "./trusted-proxies.ts";

/** What the proxy knows about one downstream request, beyond its headers. */
export interface ForwardingContext {
  /** `socket.remoteAddress` of the downstream connection; undefined once the socket is gone. */
  peerAddress: string | undefined;
  /** Scheme the client used to reach us: X-Forwarded-Proto and Forwarded `proto`. */
  proto: "http" | "https";
  /**
   * The host the request was routed by (validateHost's `host`: lower-case, no port). It is the Host the
   * backend sees, so the backend and the router can never disagree about which site this is.
   */
  host: string;
  /** Port the client wrote in its Host (validateHost's `port`), null when none: kept in X-Forwarded-Host. */
  hostPort: number | null;
  /** Port of the listener that accepted the connection: X-Forwarded-Port. */
  listenerPort: number;
  /** Peers whose forwarding headers and X-Request-Id are kept. Default: nobody. */
  trustedProxies?: TrustedProxies;
  /** Request id generator. Default `crypto.randomUUID`; injectable for deterministic tests. */
  generateRequestId?: () => string;
}

/** The upstream request's headers and what they say about the body. */
export interface UpstreamRequestHeaders {
  /** Flat `[name, value, name, value, …]` list, Host first; what undici's `dispatch` takes. */
  headers: string[];
  /** The X-Request-Id sent upstream (the access log records it). */
  requestId: string;
  /**
   * The declared Content-Length: null when there is none, "invalid" when it is not a decimal integer
   * or several Content-Length headers disagree (the request must then be refused with 400).
   */
  contentLength: number | null | "invalid";
  /** Whether the request declared Transfer-Encoding (an HTTP/1.1 body of unknown length). */
  chunked: boolean;
}

/**
 * A client-supplied X-Request-Id we are willing to propagate (from a trusted peer only): short, and
 * made of characters that are safe in a log line and a header (UUIDs, ULIDs, hex trace ids, base64).
 */
const REQUEST_ID = /^[A-Za-z0-9._:+/=-]{1,128}$/;

/** RFC 7239 `token` characters; anything else in a Forwarded value is quoted. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Builds the upstream request header list from the downstream one (`req.rawHeaders`). Never throws.
 *
 * Joined: several Cookie fields (HTTP/2 cookie crumbs) become one, separated by "; ".
 *
 * Removed: hop-by-hop headers and every header named in `Connection` (except Content-Length, whose
 * removal would change framing); HTTP/2 pseudo-headers; `Host` (replaced by the routed host);
 * `Expect` (Node's server already answered `100-continue`, and the upstream client sends bodies
 * without waiting); headers whose name contains an underscore (nginx's default: a CGI or WSGI backend
 * maps `X_Forwarded_For` and `X-Forwarded-For` to the same variable, so an underscore header could
 * spoof one we set); and, unless the peer is a trusted proxy, X-Forwarded-For/-Proto/-Host/-Port,
 * Forwarded and X-Request-Id.
 *
 * Added: Host; X-Forwarded-For (appended to a trusted peer's list); X-Forwarded-Proto, -Host and -Port
 * (a trusted peer's values win, since it saw the client first); Forwarded (our element appended to a
 * trusted peer's); X-Request-Id (a trusted peer's well-formed id is kept, otherwise a new UUID — an
 * untrusted client choosing ids could forge or collide log entries, as Envoy also assumes).
 */
export function buildUpstreamRequestHeaders(
  raw: readonly string[],
  context: ForwardingContext,
): UpstreamRequestHeaders {
  const trusted = (context.trustedProxies ?? TRUST_NOBODY).includes(context.peerAddress);
  const count = raw.length - (raw.length % 2);

  // First pass: the headers named in Connection (usually none beyond keep-alive/close).
  let named: Set<string> | undefined;
  for (let i = 0; i < count; i += 2) {
    const name = raw[i] ?? "";
    if (name.length === 10 && name.toLowerCase() === "connection") {
      named ??= new Set();
      addConnectionTokens(raw[i + 1] ?? "", named);
    }
  }

  const headers: string[] = ["host", context.host];
  let forwardedFor: string | undefined;
  let forwarded: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let forwardedPort: string | undefined;
  let requestId: string | undefined;
  let contentLength: number | null | "invalid" = null;
  let chunked = false;
  let cookie: string | undefined;

  for (let i = 0; i < count; i += 2) {
    const name = raw[i] ?? "";
    const value = raw[i + 1] ?? "";
    const lower = name.toLowerCase();
    if (lower.charCodeAt(0) === 58 /* ":" pseudo-header */ || lower === "") continue;
    if (HOP_BY_HOP_HEADERS.has(lower)) {
      if (lower === "transfer-encoding") chunked = true;
      continue;
    }
    if (named?.has(lower) || lower.includes("_")) continue;
    switch (lower) {
      case "host":
      case "expect":
        continue;
      case "content-length":
        contentLength = mergeContentLength(contentLength, value);
        continue;
      case "cookie":
        // HTTP/2 clients split Cookie into one field per cookie (RFC 9113 §8.2.3); HTTP/1.1 allows
        // only one Cookie field, so the crumbs are joined back with "; ".
        cookie = cookie === undefined ? value : `${cookie}; ${value}`;
        continue;
      case "x-forwarded-for":
        if (trusted)
          forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      case "forwarded":
        if (trusted) forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
        continue;
      case "x-forwarded-proto":
        if (trusted) forwardedProto ??= value;
        continue;
      case "x-forwarded-host":
        if (trusted) forwardedHost ??= value;
        continue;
      case "x-forwarded-port":
        if (trusted) forwardedPort ??= value;
        continue;
      case "x-request-id":
        if (trusted && requestId === undefined && REQUEST_ID.test(value)) requestId = value;
        continue;
    }
    headers.push(name, value);
  }

  if (cookie !== undefined) headers.push("cookie", cookie);
  if (typeof contentLength === "number") headers.push("content-length", String(contentLength));

  const { peer, authority, element } = forwardingStrings(context);
  requestId ??= (context.generateRequestId ?? randomUUID)();
  headers.push(
    "x-forwarded-for",
    forwardedFor === undefined ? (peer ?? "unknown") : `${forwardedFor}, ${peer ?? "unknown"}`,
    "x-forwarded-proto",
    forwardedProto ?? context.proto,
    "x-forwarded-host",
    forwardedHost ?? authority,
    "x-forwarded-port",
    forwardedPort ?? String(context.listenerPort),
    "forwarded",
    forwarded === undefined ? element : `${forwarded}, ${element}`,
    "x-request-id",
    requestId,
  );
  return { headers, requestId, contentLength, chunked };
}

/** Options of buildDownstreamResponseHeaders. */
export interface ResponseHeaderOptions {
  /**
   * Strict-Transport-Security value of the host's TLS policy, or null for none. When set it replaces
   * any the backend sent: the policy, not each backend, owns HSTS for the host.
   */
  hsts?: string | null;
  /** Flat `[name, value, …]` headers to add (the affinity Set-Cookie, for instance). */
  extra?: readonly string[] | undefined;
}

/**
 * Response headers as undici's dispatch handler receives them in `onResponseStart`: lower-case names,
 * a repeated header's values in an array. undici already converted every name and value to a string to
 * build this object, so reading it costs nothing more (converting the raw Buffers a second time costs
 * about 150 ns per header).
 */
export type ParsedHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * Builds the downstream response header list from the upstream response's headers: either a raw flat
 * list (Buffers or strings) or undici's parsed object. Removes hop-by-hop headers and those named in
 * `Connection`; keeps repeated headers (every Set-Cookie) as separate entries; values stay byte-for-byte
 * (latin1 in, latin1 out). Never throws.
 */
export function buildDownstreamResponseHeaders(
  upstream: readonly (Buffer | string)[] | ParsedHeaders,
  options: ResponseHeaderOptions = {},
): string[] {
  const hsts = options.hsts ?? null;
  const headers = isRawList(upstream) ? relayRaw(upstream, hsts) : relayParsed(upstream, hsts);
  if (hsts !== null) headers.push("strict-transport-security", hsts);
  if (options.extra !== undefined) {
    for (let i = 0; i + 1 < options.extra.length; i += 2) {
      headers.push(options.extra[i] ?? "", options.extra[i + 1] ?? "");
    }
  }
  return headers;
}

function isRawList(
  upstream: readonly (Buffer | string)[] | ParsedHeaders,
): upstream is readonly (Buffer | string)[] {
  return Array.isArray(upstream);
}

function relayParsed(upstream: ParsedHeaders, hsts: string | null): string[] {
  let named: Set<string> | undefined;
  const connection = upstream.connection;
  // Most backends send `Connection: keep-alive` (or close), which names no header beyond the
  // hop-by-hop ones dropped anyway: no set to build for it.
  if (connection !== undefined && !namesOnlyHopByHop(connection)) {
    named = new Set();
    if (typeof connection === "string") addConnectionTokens(connection, named);
    else for (const value of connection) addConnectionTokens(value, named);
  }
  const headers: string[] = [];
  for (const name of Object.keys(upstream)) {
    const value = upstream[name];
    if (value === undefined || name === "" || HOP_BY_HOP_HEADERS.has(name) || named?.has(name))
      continue;
    if (hsts !== null && name === "strict-transport-security") continue;
    if (typeof value === "string") headers.push(name, value);
    else for (const one of value) headers.push(name, one);
  }
  return headers;
}

/** Whether a Connection value is a single `keep-alive` or `close`, in any case and spacing. */
function namesOnlyHopByHop(connection: string | readonly string[]): boolean {
  if (typeof connection !== "string") return false;
  const token = connection.trim().toLowerCase();
  return token === "keep-alive" || token === "close";
}

function relayRaw(raw: readonly (Buffer | string)[], hsts: string | null): string[] {
  const count = raw.length - (raw.length % 2);
  const names: string[] = new Array(count);
  let named: Set<string> | undefined;
  for (let i = 0; i < count; i += 2) {
    const name = text(raw[i]);
    names[i] = name;
    const lower = name.toLowerCase();
    names[i + 1] = lower;
    if (lower === "connection") {
      named ??= new Set();
      addConnectionTokens(text(raw[i + 1]), named);
    }
  }
  const headers: string[] = [];
  for (let i = 0; i < count; i += 2) {
    const lower = names[i + 1] ?? "";
    if (lower === "" || HOP_BY_HOP_HEADERS.has(lower) || named?.has(lower)) continue;
    if (hsts !== null && lower === "strict-transport-security") continue;
    headers.push(names[i] ?? "", text(raw[i + 1]));
  }
  return headers;
}

function text(value: Buffer | string | undefined): string {
  if (value === undefined) return "";
  return typeof value === "string" ? value : value.toString("latin1");
}

/** Combines one more Content-Length value into what was seen so far. */
function mergeContentLength(
  seen: number | null | "invalid",
  value: string,
): number | null | "invalid" {
  if (seen === "invalid") return seen;
  // Digits only (no sign, no spaces, no list): anything looser is how smuggling starts. Lengths
  // beyond 2^53 cannot be represented exactly and no limit allows them anyway.
  if (!/^\d{1,15}$/.test(value)) return "invalid";
  const length = Number(value);
  return seen === null || seen === length ? length : "invalid";
}

/** The peer as it appears in X-Forwarded-For: IPv4-mapped IPv6 unmapped; anything but an IP is unknown. */
function clientAddress(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  return isIPv4(address) ? address : isIPv6(address) ? unmapIPv4(address) : undefined;
}

/** The peer's X-Forwarded-For form, the Host authority and the Forwarded element of a request. */
interface ForwardingStrings {
  /** What they were built from: the socket's address, the scheme and the routed host. */
  peerAddress: string | undefined;
  proto: string;
  host: string;
  hostPort: number | null;
  peer: string | undefined;
  authority: string;
  element: string;
}

/**
 * The last request's strings: keep-alive requests repeat the same peer, scheme and host, and building
 * them (IP checks on the peer, several concatenations, a quoting check) is a measurable share of the
 * header work.
 */
let lastStrings: ForwardingStrings | undefined;

function forwardingStrings(context: ForwardingContext): ForwardingStrings {
  const last = lastStrings;
  if (
    last !== undefined &&
    last.peerAddress === context.peerAddress &&
    last.proto === context.proto &&
    last.host === context.host &&
    last.hostPort === context.hostPort
  ) {
    return last;
  }
  const peer = clientAddress(context.peerAddress);
  const authority =
    context.hostPort === null ? context.host : `${context.host}:${context.hostPort}`;
  const element = `for=${forwardedNode(peer)};proto=${context.proto};host=${quoteIfNeeded(authority)}`;
  lastStrings = {
    peerAddress: context.peerAddress,
    proto: context.proto,
    host: context.host,
    hostPort: context.hostPort,
    peer,
    authority,
    element,
  };
  return lastStrings;
}

/** RFC 7239 node: IPv4 bare, IPv6 bracketed and quoted, "unknown" when the peer is not known. */
function forwardedNode(address: string | undefined): string {
  if (address === undefined) return "unknown";
  return address.includes(":") ? `"[${address}]"` : address;
}

function quoteIfNeeded(value: string): string {
  return TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
}
