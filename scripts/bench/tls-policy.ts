// The TLS settings every proxy under test is given, so they do the same cryptographic job: TLS 1.2 and
// 1.3, ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2 and the TLS 1.3 suites in Portcullis's
// order (AES-128-GCM first, server preference: OpenSSL's own default puts AES-256-GCM first), session
// tickets with shared keys.

/** TLS 1.2 cipher list (OpenSSL spelling), the same as Portcullis's default. */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** TLS 1.3 suites in server preference order, the same as Portcullis's. */
export const TLS13_SUITES = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
].join(":");

/**
 * Key-exchange groups the clients offer: what an OpenSSL 3.0 client (wrk, h2load, the system's
 * openssl) offers, so every proxy negotiates X25519. Portcullis on Node 26 (OpenSSL 3.5) would pick
 * X25519MLKEM768 for a client that offers it; nginx and HAProxy on OpenSSL 3.0 cannot.
 */
export const CLIENT_GROUPS = "X25519:P-256:P-384:P-521";
