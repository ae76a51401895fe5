// Normalisation of an origin-form request target ("/path?query"), done once per request before
// routing. The normalised path is both what the router matches and what the upstream receives, so a
// backend can never see a path that routed differently from the one we matched ("/public/../admin"
// matched as /public but served as /admin is the classic bypass).
//
// Normal form (RFC 3986 §6.2.2): percent-encoded unreserved characters are decoded, every other
// percent-encoding is upper-cased, characters that may not appear raw in a path are percent-encoded,
// dot segments are removed (also when written as %2e), and empty segments ("//") are merged.
//
// Encoded-slash policy: "%2F", "%5C" and a raw "\" are REJECTED, not decoded and not passed through.
// Whether "/a%2Fb" is one segment or two depends on the backend (some decode before routing, some
// after, some treat "\" as a separator); any choice we made would be a guess that disagrees with
// some backend, and the disagreement is a route/ACL bypass. Rejecting is the one safe answer; legitimate
// clients almost never need them. Encoded control characters (%00-%1F, %7F) are rejected for the same
// reason: C backends truncate at NUL, and CR/LF end up in logs and headers.
//
// Dot segments with parameters ("..;x", ".;"): REJECTED. RFC 3986 does not make them dot segments,
// so "/public/..;/admin" normalises to itself and routes under /public; but servlet containers
// (Tomcat, Jetty) strip ";parameters" from each segment before resolving dots and serve /admin.
// Forwarding it would let the route that matched and the resource that runs differ.
//
// The query is not interpreted: it is preserved byte for byte (after rejecting control characters),
// because its encoding belongs to the application.
//
// Raw non-ASCII bytes are refused (Node's HTTP parser refuses them too, HPE_INVALID_URL): a target
// decoded as latin1 by one parser and UTF-8 by another is another place for two readings to differ.
//
// The work is linear in the target's length, which the listener's header limits bound.

/** A normalised origin-form target. */
export interface NormalizedTarget {
  /** Normalised path: starts with "/", never contains "//", "/./" or "/../", nor ends with "/." or "/..". */
  path: string;
  /** The raw query including its leading "?", or "" when the target has none; `path + query` is what is forwarded. */
  query: string;
}

/** Why a target was refused (the caller answers 400). */
export interface TargetError {
  /** Human-readable reason, safe to log (it never echoes the target). */
  error: string;
}

const CHAR_PERCENT = 0x25;
const CHAR_SLASH = 0x2f;
const CHAR_DOT = 0x2e;
const CHAR_QUESTION = 0x3f;
const CHAR_HASH = 0x23;
const CHAR_BACKSLASH = 0x5c;

/** Characters that may appear unencoded in a path (RFC 3986 pchar plus "/"), by char code. */
const RAW_PATH = new Uint8Array(128);
/** Unreserved characters (RFC 3986 §2.3): their percent-encodings are decoded. */
const UNRESERVED = new Uint8Array(128);
{
  const mark = (table: Uint8Array, chars: string): void => {
    for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1;
  };
  const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  mark(UNRESERVED, `${alnum}-._~`);
  mark(RAW_PATH, `${alnum}-._~!$&'()*+,;=:@/%`);
}

const HEX = "0123456789ABCDEF";

/** A "." or ".." segment followed by ";parameters" (checked after %2e has been decoded). */
const DOT_SEGMENT_WITH_PARAMETERS = /\/\.\.?;/;

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

function percentEncodeByte(byte: number): string {
  return `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
}

/**
 * Normalises an origin-form request target (RFC 9112 §3.2.1). Returns the normalised path and the
 * raw query, or an error for anything that is not a clean origin-form target: absolute-form and
 * asterisk-form (the caller handles those), raw or encoded control characters, "#", backslashes,
 * encoded slashes, dot segments with parameters, and malformed percent-encodings. Never throws.
 */
export function normalizeRequestTarget(target: string): NormalizedTarget | TargetError {
  if (target.length === 0) return { error: "empty request target" };
  if (target.charCodeAt(0) !== CHAR_SLASH) {
    return { error: "request target is not in origin form (must start with '/')" };
  }
  let queryStart = target.indexOf("?");
  if (queryStart === -1) queryStart = target.length;

  // Fast path: one scan decides whether the path is already in normal form (the common case: no
  // percent sign, no dot segment, no "//", only plain characters), so most requests allocate nothing.
  let clean = true;
  let previous = 0;
  for (let i = 0; i < queryStart; i++) {
    const code = target.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return { error: "control character or space in path" };
    if (code === CHAR_BACKSLASH) return { error: "backslash in path" };
    if (code === CHAR_HASH) return { error: "fragment in request target" };
    if (code >= 0x80) return { error: "non-ASCII character in request target" };
    if (
      RAW_PATH[code] === 0 ||
      code === CHAR_PERCENT ||
      (code === CHAR_DOT && previous === CHAR_SLASH) ||
      (code === CHAR_SLASH && previous === CHAR_SLASH)
    ) {
      clean = false;
    }
    previous = code;
  }
  for (let i = queryStart; i < target.length; i++) {
    const code = target.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return { error: "control character or space in query" };
    if (code === CHAR_HASH) return { error: "fragment in request target" };
    if (code >= 0x80) return { error: "non-ASCII character in request target" };
  }
  const query = target.slice(queryStart);
  if (clean) return { path: target.slice(0, queryStart), query };

  const encoded = canonicalizePathEncoding(target.slice(0, queryStart));
  if (typeof encoded !== "string") return encoded;
  if (DOT_SEGMENT_WITH_PARAMETERS.test(encoded)) {
    return { error: "dot segment with parameters in path" };
  }
  return { path: removeDotSegments(encoded), query };
}

/**
 * The percent-encoding step of the normal form, without touching dot segments or slashes: decodes
 * encoded unreserved characters, upper-cases the other encodings, and encodes characters that may not
 * appear raw (non-ASCII code points as their UTF-8 bytes, as a browser sends them). The router applies
 * it to route paths, so that "/%7euser" or "/café" in an Ingress and "/~user" or "/caf%C3%A9" in a
 * request meet in the same form. Never throws.
 */
export function canonicalizePathEncoding(path: string): string | TargetError {
  let out = "";
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code === CHAR_PERCENT) {
      const high = hexValue(path.charCodeAt(i + 1));
      const low = hexValue(path.charCodeAt(i + 2));
      if (high === -1 || low === -1) return { error: "malformed percent-encoding in path" };
      const byte = high * 16 + low;
      if (byte === CHAR_SLASH || byte === CHAR_BACKSLASH) {
        return { error: "encoded slash or backslash in path" };
      }
      if (byte < 0x20 || byte === 0x7f) return { error: "encoded control character in path" };
      out +=
        byte < 0x80 && UNRESERVED[byte] === 1 ? String.fromCharCode(byte) : percentEncodeByte(byte);
      i += 2;
    } else if (code <= 0x20 || code === 0x7f) {
      return { error: "control character or space in path" };
    } else if (code === CHAR_BACKSLASH) {
      return { error: "backslash in path" };
    } else if (code === CHAR_HASH || code === CHAR_QUESTION) {
      // Only reachable for route paths: a request path was already cut at "?" and checked for "#".
      return { error: "'?' or '#' in path" };
    } else if (code < 0x80) {
      out += RAW_PATH[code] === 1 ? path[i] : percentEncodeByte(code);
    } else {
      // Only reachable for route paths (requests with raw non-ASCII are refused, as Node's own parser
      // does). Lone surrogates become U+FFFD, as in fetch.
      const point = path.codePointAt(i) ?? 0xfffd;
      if (point > 0xffff) i++;
      for (const byte of Buffer.from(String.fromCodePoint(point), "utf8")) {
        out += percentEncodeByte(byte);
      }
    }
  }
  return out;
}

/**
 * Removes "." and ".." segments (RFC 3986 §5.2.4; ".." at the root stays at the root) and merges
 * empty segments, keeping a trailing slash. The input must start with "/" and have unreserved
 * characters already decoded, so "%2e" has become "." by now.
 */
export function removeDotSegments(path: string): string {
  const segments = path.split("/");
  const kept: string[] = [];
  let trailingSlash = false;
  // segments[0] is the empty string before the leading "/".
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    if (segment === "..") {
      kept.pop();
      trailingSlash = last;
    } else if (segment === "." || segment === "") {
      trailingSlash = last;
    } else {
      kept.push(segment);
      trailingSlash = false;
    }
  }
  if (kept.length === 0) return "/";
  return `/${kept.join("/")}${trailingSlash ? "/" : ""}`;
}
