// What the HTTPS listener offers for a host: cipher lists and the HSTS header value.
import type { TlsSpec } from "../api/policy.ts";

/**
 * TLS 1.2 suites per cipherPolicy: ECDHE only (forward secrecy) and AEAD only (no CBC, no SHA-1 MACs).
 * TLS 1.3 suites are not listed here: all three of OpenSSL's defaults are AEAD.
 */
export const CIPHERS: Record<TlsSpec["cipherPolicy"], string> = {
  Modern: [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
  ].join(":"),
  Strict: [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
  ].join(":"),
};

/** The Strict-Transport-Security value, or null when max-age is 0. */
export function buildHstsHeader(hsts: TlsSpec["hsts"]): string | null {
  if (hsts.maxAgeSeconds === 0) return null;
  let value = `max-age=${hsts.maxAgeSeconds}`;
  if (hsts.includeSubDomains) value += "; includeSubDomains";
  if (hsts.preload) value += "; preload";
  return value;
}
