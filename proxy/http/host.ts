// Which site a request is for. The answer is used both to route and as the Host the backend sees, so a
// request whose parts disagree about it (two Host headers, a Host that differs from the absolute-form
// target or from :authority) is refused rather than resolved one way or the other: a proxy and a
// backend that resolve it differently is how cache poisoning and routing bypasses happen.
import { isIPv6 } from "node:net";

/** Why a request's host was refused; every reason answers 400. */
export type HostErrorReason =
  | "MissingHost"
  | "DuplicateHost"
  | "InvalidHost"
  | "HostMismatch"
  | "InvalidTarget";

/** The outcome of validateHost. */
export type HostResult =
  | {
      ok: true;
      /**
       * Lower-case, no port, no trailing dot. An IPv6 literal keeps its brackets ("[::1]"), so the
       * value is always usable as a Host header.
       */
      host: string;
      /** The explicit port, or null when the client gave none. */
      port: number | null;
    }
  | { ok: false; reason: HostErrorReason; message: string };

/** The parts of a request that say which host it is for. */
export interface HostRequest {
  /** `req.rawHeaders`: every Host (and, for HTTP/2, `:authority`) occurrence counts. */
  rawHeaders: readonly string[];
  /** `req.url` as received: origin-form, absolute-form or "*". */
  target: string;
  /** `req.httpVersionMajor`: 2 selects `:authority` rules. */
  httpVersionMajor: number;
}

/** A parsed authority (host [":" port]), normalised as in HostResult. */
export interface Authority {
  host: string;
  port: number | null;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV4_OCTET = /^(?:0|[1-9]\d{0,2})$/;
const ABSOLUTE = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i;

/**
 * Validates the host of a request: exactly one Host (HTTP/2: at most one `:authority` and one Host, equal
 * when both are present; at least one of them); a DNS name (letters, digits, hyphens; names ending in a
 * numeric label must be a dotted-quad IPv4 address, as WHATWG URL parsers would read them), an IPv4
 * address or a bracketed IPv6 literal without zone id, then an optional port 1–65535; no userinfo, no
 * whitespace. Underscores and percent-encoding are refused: Ingress hosts cannot contain them, so such a
 * request can only be an attempt at confusion. For an absolute-form target (`GET http://h/p HTTP/1.1`)
 * the target's authority must equal Host (same host, same port once the scheme's default is applied).
 * Authority-form targets (CONNECT) are refused: this proxy is not a forward proxy.
 */
export function validateHost(request: HostRequest): HostResult {
  const raw = request.rawHeaders;
  let hostValue: string | undefined;
  let hostCount = 0;
  let authorityValue: string | undefined;
  let authorityCount = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? "";
    if (name.length === 4 && name.toLowerCase() === "host") {
      hostCount++;
      hostValue ??= raw[i + 1];
    } else if (name === ":authority") {
      authorityCount++;
      authorityValue ??= raw[i + 1];
    }
  }
  if (hostCount > 1) return fail("DuplicateHost", "more than one Host header");
  if (authorityCount > 1) return fail("DuplicateHost", "more than one :authority");

  if (request.httpVersionMajor === 2) {
    if (request.target !== "*" && !request.target.startsWith("/")) {
      return fail("InvalidTarget", "an HTTP/2 :path must start with / or be *");
    }
    const fromAuthority = authorityValue === undefined ? undefined : parseAuthority(authorityValue);
    const fromHost = hostValue === undefined ? undefined : parseAuthority(hostValue);
    if (fromAuthority === null) return fail("InvalidHost", "malformed :authority");
    if (fromHost === null) return fail("InvalidHost", "malformed Host");
    const chosen = fromAuthority ?? fromHost;
    if (chosen === undefined) return fail("MissingHost", "no :authority and no Host");
    if (
      fromAuthority !== undefined &&
      fromHost !== undefined &&
      !sameAuthority(fromAuthority, fromHost, null)
    ) {
      return fail("HostMismatch", "Host differs from :authority");
    }
    return { ok: true, host: chosen.host, port: chosen.port };
  }

  if (hostValue === undefined) return fail("MissingHost", "no Host header");
  const host = parseAuthority(hostValue);
  if (host === null) return fail("InvalidHost", "malformed Host");

  const target = request.target;
  if (target.startsWith("/") || target === "*")
    return { ok: true, host: host.host, port: host.port };
  const absolute = ABSOLUTE.exec(target);
  if (absolute === null)
    return fail("InvalidTarget", "the request target is neither origin- nor absolute-form");
  const scheme = (absolute[1] ?? "").toLowerCase();
  if (scheme !== "http" && scheme !== "https")
    return fail("InvalidTarget", "the request target's scheme is not http(s)");
  const authorityText = absolute[2] ?? "";
  if (authorityText.includes("@"))
    return fail("InvalidTarget", "the request target carries userinfo");
  const targetAuthority = parseAuthority(authorityText);
  if (targetAuthority === null)
    return fail("InvalidTarget", "the request target's authority is malformed");
  if (!sameAuthority(targetAuthority, host, scheme === "https" ? 443 : 80)) {
    return fail("HostMismatch", "Host differs from the request target's authority");
  }
  return { ok: true, host: host.host, port: host.port };
}

/**
 * Parses `host [":" port]` into a normalised authority (rules of validateHost), or null when it is not
 * acceptable. Exported so that other code comparing a name with the routed host applies the same rules.
 */
export function parseAuthority(value: string): Authority | null {
  if (value.length === 0 || value.length > 262) return null;
  let hostPart: string;
  let portPart: string | undefined;
  if (value.charCodeAt(0) === 91 /* [ */) {
    const close = value.indexOf("]");
    if (close === -1) return null;
    const literal = value.slice(1, close);
    // Zone ids ("%25eth0") name an interface of the client's machine: meaningless here.
    if (literal.includes("%") || !isIPv6(literal)) return null;
    hostPart = `[${literal.toLowerCase()}]`;
    const rest = value.slice(close + 1);
    if (rest !== "") {
      if (rest.charCodeAt(0) !== 58 /* : */) return null;
      portPart = rest.slice(1);
    }
  } else {
    const colon = value.indexOf(":");
    hostPart = colon === -1 ? value : value.slice(0, colon);
    if (colon !== -1) portPart = value.slice(colon + 1);
    hostPart = hostPart.toLowerCase();
    if (hostPart.endsWith(".")) hostPart = hostPart.slice(0, -1);
    if (!isHostName(hostPart)) return null;
  }
  let port: number | null = null;
  // RFC 3986 allows an empty port ("example.com:"); it means the default.
  if (portPart !== undefined && portPart !== "") {
    if (!/^\d{1,5}$/.test(portPart)) return null;
    port = Number(portPart);
    if (port === 0 || port > 65535) return null;
  }
  return { host: hostPart, port };
}

function isHostName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  for (const label of labels) if (!LABEL.test(label)) return false;
  const last = labels[labels.length - 1] ?? "";
  // A name ending in a numeric label is an IPv4 address to a URL parser ("1.2.3", "0x7f.1" too):
  // accept only the one unambiguous spelling, the dotted quad without leading zeros.
  if (/^(?:\d+|0x[0-9a-f]*)$/.test(last)) {
    if (labels.length !== 4) return false;
    for (const label of labels) if (!IPV4_OCTET.test(label) || Number(label) > 255) return false;
  }
  return true;
}

function sameAuthority(a: Authority, b: Authority, defaultPort: number | null): boolean {
  return a.host === b.host && (a.port ?? defaultPort) === (b.port ?? defaultPort);
}

function fail(reason: HostErrorReason, message: string): HostResult {
  return { ok: false, reason, message };
}
