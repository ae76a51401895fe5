// Which certificate a TLS connection was served, for the request handler: when a browser reuses an
// HTTP/2 connection for another host (connection coalescing), the handler answers 421 Misdirected
// Request if the certificate the client saw does not cover that host (RFC 9113 §9.1.1).
import { buildNameCoverage } from "./sni.ts";

/** A certificate as the listener served it. */
export interface ServedCertificate {
  /** Certificate name from the config ("namespace/secret-name"). */
  readonly name: string;
  /** DNS names (SANs) of the leaf actually loaded from disk, which may be newer than the config's. */
  readonly dnsNames: readonly string[];
  /** Expiry of the loaded leaf. */
  readonly notAfter: Date;
  /** SHA-256 fingerprint of the loaded leaf, colon-separated upper-case hex. */
  readonly sha256: string;
  /** Whether the certificate is valid for `host` (no port), by the rules browsers apply. O(1). */
  covers(host: string): boolean;
}

/** Builds a ServedCertificate from a loaded leaf's attributes. */
export function buildServedCertificate(fields: {
  name: string;
  dnsNames: readonly string[];
  notAfter: Date;
  sha256: string;
}): ServedCertificate {
  const covers = buildNameCoverage(fields.dnsNames);
  return Object.freeze({
    name: fields.name,
    dnsNames: Object.freeze([...fields.dnsNames]),
    notAfter: fields.notAfter,
    sha256: fields.sha256,
    covers,
  });
}

// A symbol property on the TLSSocket rather than a WeakMap: an HTTP/2 request's `req.socket` is a
// Proxy that forwards property reads to the TLSSocket, so the same lookup works for both protocols.
const SERVED = Symbol("portcullis.servedCertificate");

interface Marked {
  [SERVED]?: ServedCertificate | null;
}

/** Records what was served on `tlsSocket` (null: served, but which one is unknown). Internal. */
export function recordServedCertificate(tlsSocket: object, served: ServedCertificate | null): void {
  (tlsSocket as Marked)[SERVED] = served;
}

/**
 * The certificate served on the connection of a request: pass `req.socket` (HTTP/1.1 or HTTP/2).
 * Undefined when it is not known, which happens for a TLS 1.2 session resumed on a listener that
 * did not read the ClientHello itself (OpenSSL does not report the SNI of such a resumption to Node);
 * a handler should then route by host without answering 421.
 */
export function servedCertificateOf(
  socket: object | null | undefined,
): ServedCertificate | undefined {
  if (!socket) return undefined;
  return (socket as Marked)[SERVED] ?? undefined;
}
