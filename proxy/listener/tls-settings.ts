// What a TLS handshake is allowed to negotiate, derived from a HostTls entry of the config.
//
// A "profile" is the part of HostTls that governs the handshake itself (versions, TLS 1.2 ciphers,
// tickets). Node applies these only from the server's initial SSL_CTX: an SNICallback context
// contributes its certificate, key and chain and nothing else (TLSWrap::CertCbDone copies those
// three onto the SSL and never calls SSL_set_SSL_CTX; the test "an SNI context's minVersion is
// ignored" in session-resumption.test.ts pins this down). So the listener runs one TLS server per
// distinct profile, and these options go on that server; SNI contexts get them too, only so that
// they stay right if Node ever switches contexts again.
import { constants as cryptoConstants } from "node:crypto";
import { createSecureContext, type SecureContextOptions, type SecureVersion } from "node:tls";
import type { HostTlsConfig } from "../config/types.ts";

/** The handshake-relevant settings of a host. Hosts with equal profiles share one TLS server. */
export interface TlsProfile {
  /** Lowest protocol version accepted; the highest is always TLS 1.3. */
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
  /** OpenSSL cipher list for TLS 1.2 (the compiler emits ECDHE + AEAD suites only). */
  readonly ciphers: string;
  /** Whether session tickets are issued and accepted. */
  readonly sessionTickets: boolean;
}

/**
 * The TLS 1.3 suites offered: all AEAD, AES-GCM first (hardware accelerated nearly everywhere),
 * ChaCha20-Poly1305 for clients without AES instructions. Node disables TLS 1.3 unless a cipher
 * list names at least one of these, so they are always prepended to the host's TLS 1.2 list.
 */
export const TLS13_CIPHER_SUITES = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
] as const;

/**
 * The TLS 1.2 list of the "Modern" policy, for the default certificate when no host says otherwise
 * (kept here rather than imported from the operator: the proxy knows nothing of the compiler).
 */
export const DEFAULT_TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** The profile of the default certificate when no "*" host gives one: TLS 1.2+, Modern, tickets. */
export const DEFAULT_TLS_PROFILE: TlsProfile = Object.freeze({
  minVersion: "TLSv1.2",
  ciphers: DEFAULT_TLS12_CIPHERS,
  sessionTickets: true,
});

/** Classical groups, in preference order: X25519 first (fast, constant time), then the NIST curves. */
const CLASSICAL_GROUPS = "X25519:P-256:P-384";

/**
 * Key-exchange groups. The hybrid post-quantum X25519MLKEM768 leads when the linked OpenSSL knows it
 * (3.5+, which Node 24 and 26 bundle): browsers send it by default, and listing only classical
 * groups would remove a protection against record-now-decrypt-later that OpenSSL enables out of the
 * box. Clients without it also send an X25519 share, so this costs no extra round trip.
 */
export const ECDH_CURVES: string = (() => {
  const hybrid = `X25519MLKEM768:${CLASSICAL_GROUPS}`;
  try {
    createSecureContext({ ecdhCurve: hybrid });
    return hybrid;
  } catch {
    return CLASSICAL_GROUPS;
  }
})();

/** ALPN protocols, in server preference order: one server speaks both. */
export const ALPN_PROTOCOLS: readonly string[] = Object.freeze(["h2", "http/1.1"]);

/**
 * Session id context of every server context. Node's default is a hash of process.argv, which
 * differs between processes started differently, and OpenSSL refuses to resume a session whose
 * context differs, so fleet-wide resumption needs one fixed value.
 */
export const SESSION_ID_CONTEXT = "portcullis-https";

/**
 * Lifetime of a session (and the ticket lifetime hint), in seconds. Bounded so a stolen TLS 1.2
 * session secret is useful for an hour at most; a ticket also dies when its key rotates.
 */
export const SESSION_TIMEOUT_SECONDS = 3600;

/**
 * OpenSSL options: no renegotiation at all. Node otherwise lets a client renegotiate 3 times per 10
 * minutes (tls.CLIENT_RENEG_LIMIT) before calling it an attack; with SSL_OP_NO_RENEGOTIATION a
 * TLS 1.2 renegotiation ClientHello is answered with a no_renegotiation alert. The secure
 * renegotiation extension (RFC 5746) is still sent, which clients require.
 */
const BASE_SECURE_OPTIONS = cryptoConstants.SSL_OP_NO_RENEGOTIATION;

/** The profile of a host's TLS settings. */
export function buildTlsProfile(tls: HostTlsConfig): TlsProfile {
  return {
    minVersion: tls.minVersion === "TLSv1.3" ? "TLSv1.3" : "TLSv1.2",
    ciphers: tls.ciphers,
    sessionTickets: tls.sessionTickets,
  };
}

/** A stable key identifying a profile, for grouping hosts and caching contexts. */
export function tlsProfileKey(profile: TlsProfile): string {
  return `${profile.minVersion}|tickets=${profile.sessionTickets}|${profile.ciphers}`;
}

/** The full cipher string for a profile: the TLS 1.3 suites, then the profile's TLS 1.2 list. */
export function buildCipherList(profile: TlsProfile): string {
  return [...TLS13_CIPHER_SUITES, profile.ciphers].join(":");
}

/**
 * Secure-context options for a profile, without certificate, key or ticket keys (the caller adds
 * those). With sessionTickets false, SSL_OP_NO_TICKET stops TLS 1.2 tickets; in TLS 1.3 OpenSSL then
 * issues stateful tickets instead, which can never resume here because Node keeps no server-side
 * session cache (SSL_SESS_CACHE_NO_INTERNAL) and the listener handles no 'resumeSession' event.
 */
export function buildSecureContextOptions(profile: TlsProfile): SecureContextOptions {
  const minVersion: SecureVersion = profile.minVersion;
  return {
    minVersion,
    maxVersion: "TLSv1.3",
    ciphers: buildCipherList(profile),
    ecdhCurve: ECDH_CURVES,
    honorCipherOrder: true,
    secureOptions:
      BASE_SECURE_OPTIONS | (profile.sessionTickets ? 0 : cryptoConstants.SSL_OP_NO_TICKET),
    sessionIdContext: SESSION_ID_CONTEXT,
    sessionTimeout: SESSION_TIMEOUT_SECONDS,
  };
}
