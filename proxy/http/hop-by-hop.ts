// Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, not the message, so a proxy
// consumes them and never forwards them, in either direction.

/**
 * Lower-case names that are hop-by-hop whatever `Connection` says. `TE` is here whole, `trailers`
 * included: we relay neither request nor response trailers (upstream is HTTP/1.1 through undici), so
 * promising a backend that trailers will reach the client would be a lie. `HTTP2-Settings` only means
 * something on an h2c upgrade, which we never perform.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);

/**
 * Headers a `Connection` token may never remove: dropping them would change how the message is framed
 * (`Connection: content-length` is a known trick to desynchronise a proxy and its backend).
 */
const PROTECTED_FROM_CONNECTION: ReadonlySet<string> = new Set(["content-length"]);

/** Whether `lowerName` (already lower-case) is a hop-by-hop header by definition. */
export function isHopByHop(lowerName: string): boolean {
  return HOP_BY_HOP_HEADERS.has(lowerName);
}

/**
 * Adds the header names listed in one `Connection` value to `into` (lower-case, trimmed, empty
 * elements skipped). `close` and `keep-alive` are connection options, not header names, but removing a
 * header of that name is harmless, so they are not special-cased. Framing headers are never added.
 */
export function addConnectionTokens(value: string, into: Set<string>): void {
  let start = 0;
  const length = value.length;
  while (start <= length) {
    let end = value.indexOf(",", start);
    if (end === -1) end = length;
    const token = value.slice(start, end).trim().toLowerCase();
    if (token !== "" && !PROTECTED_FROM_CONNECTION.has(token)) into.add(token);
    start = end + 1;
  }
}
