// Validation of the Secrets that carry certificates: kubernetes.io/tls Secrets (leaf, chain, key) and
// CA bundles (ca.crt). Pure: the Secret and "now" come in, a description and problems come out.
// Problem messages are written here in full and never quote Secret bytes or node:crypto's errors, so
// no key material can reach a status, an Event or a log through them.
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import { SecretBytes } from "../../proxy/config/secret-bytes.ts";
import { compareStrings } from "../api/keys.ts";
import { isWildcard, wildcardCovers } from "./hosts.ts";
import { Reason } from "./reasons.ts";

/** What the compiler needs to know of a valid leaf certificate. */
export interface ParsedCertificate {
  /** SHA-256 fingerprint of the leaf's DER (X509Certificate.fingerprint256: uppercase hex, colons). */
  sha256: string;
  /** DNS subject alternative names, lower-cased, sorted, de-duplicated. The subject CN is never used. */
  dnsNames: string[];
  /** Start of the validity period (inclusive). */
  notBefore: Date;
  /** End of the validity period (inclusive). */
  notAfter: Date;
}

/** One reason a Secret cannot be used. */
export interface CertificateProblem {
  reason: Reason;
  /** Field of the Secret at fault, e.g. 'data["tls.crt"]', 'stringData["tls.key"]' or 'type'. */
  field: string;
  /** A sentence for the user; never contains Secret bytes. */
  message: string;
}

/** The Secret type that carries a certificate and its key. */
export const TLS_SECRET_TYPE = "kubernetes.io/tls";

/**
 * Validates a kubernetes.io/tls Secret at `now`: type, tls.crt (leaf first, then the chain; every
 * PEM block must parse), tls.key (PKCS#8, PKCS#1 or SEC1 PEM), key matching the leaf, validity.
 * `certificate` is present only when `problems` is empty, so its presence means "usable".
 */
export function inspectTlsSecret(
  secret: V1Secret,
  now: Date,
): { certificate?: ParsedCertificate; problems: CertificateProblem[] } {
  const problems: CertificateProblem[] = [];
  const type = secret.type ?? "Opaque";
  if (type !== TLS_SECRET_TYPE) {
    const shown = type.length > 64 ? `${type.slice(0, 64)}...` : type;
    problems.push({
      reason: Reason.InvalidCertificate,
      field: "type",
      message: `Secret type is ${JSON.stringify(shown)}; a certificate Secret must be of type "${TLS_SECRET_TYPE}".`,
    });
    return { problems };
  }

  const crt = readField(secret, "tls.crt", problems);
  const chain = crt === undefined ? undefined : parseCertificates(crt, problems);
  const leaf = chain?.[0];

  const keyField = readField(secret, "tls.key", problems);
  let key: KeyObject | undefined;
  if (keyField !== undefined) {
    const bytes = new SecretBytes(keyField.bytes);
    keyField.bytes.fill(0);
    key = parsePrivateKey(keyField.field, bytes, problems);
  }

  if (leaf === undefined || crt === undefined) return { problems };

  if (key !== undefined && keyField !== undefined && !keyMatches(leaf, key)) {
    problems.push({
      reason: Reason.KeyMismatch,
      field: keyField.field,
      message: `The private key in ${keyField.field} does not match the certificate in ${crt.field} (its first certificate, the leaf).`,
    });
  }

  const notBefore = leaf.validFromDate;
  const notAfter = leaf.validToDate;
  if (now.getTime() < notBefore.getTime()) {
    problems.push({
      reason: Reason.CertificateExpired,
      field: crt.field,
      message: `The certificate in ${crt.field} is not valid yet: it is valid from ${formatDate(notBefore)}.`,
    });
  } else if (now.getTime() > notAfter.getTime()) {
    problems.push({
      reason: Reason.CertificateExpired,
      field: crt.field,
      message: `The certificate in ${crt.field} expired at ${formatDate(notAfter)}.`,
    });
  }

  if (problems.length > 0) return { problems };
  return {
    certificate: {
      sha256: leaf.fingerprint256,
      dnsNames: [...new Set(dnsNamesOf(leaf).map((name) => name.toLowerCase()))].sort(
        compareStrings,
      ),
      notBefore,
      notAfter,
    },
    problems,
  };
}

/**
 * Validates a CA bundle Secret (any type): `ca.crt` must hold one or more PEM certificates, all of
 * which parse. `sha256` (lowercase hex of the ca.crt bytes, to version the bundle) is present only
 * when `problems` is empty.
 */
export function inspectCaSecret(secret: V1Secret): {
  sha256?: string;
  problems: CertificateProblem[];
} {
  const problems: CertificateProblem[] = [];
  const bundle = readField(secret, "ca.crt", problems);
  if (bundle === undefined) return { problems };
  parseCertificates(bundle, problems);
  if (problems.length > 0) return { problems };
  return { sha256: createHash("sha256").update(bundle.bytes).digest("hex"), problems };
}

/**
 * Whether a certificate with these DNS names serves `host`. Names compare case-insensitively. A
 * wildcard name "*.example.com" covers exactly one more label ("a.example.com", not
 * "a.b.example.com" nor "example.com"). A wildcard host is covered only by the same wildcard name.
 */
export function hostCovered(host: string, dnsNames: readonly string[]): boolean {
  const wanted = host.toLowerCase();
  for (const raw of dnsNames) {
    const name = raw.toLowerCase();
    if (name === wanted) return true;
    if (isWildcard(name) && !isWildcard(wanted) && wildcardCovers(name, wanted)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------

interface FieldValue {
  /** Where the value came from, for messages: 'data["tls.crt"]' or 'stringData["tls.crt"]'. */
  field: string;
  bytes: Buffer;
}

/**
 * Reads one key of a Secret. stringData (plain manifests) wins over data, as the API server merges
 * it on write; data is base64.
 */
function readField(
  secret: V1Secret,
  key: string,
  problems: CertificateProblem[],
): FieldValue | undefined {
  const plain = secret.stringData?.[key];
  if (plain !== undefined) {
    const field = `stringData[${JSON.stringify(key)}]`;
    if (plain.trim() === "") return empty(field, problems);
    return { field, bytes: Buffer.from(plain, "utf8") };
  }
  const field = `data[${JSON.stringify(key)}]`;
  const encoded = secret.data?.[key];
  if (encoded === undefined) {
    problems.push({
      reason: Reason.InvalidCertificate,
      field,
      message: `The Secret has no ${JSON.stringify(key)} key (${field} is missing).`,
    });
    return undefined;
  }
  const compact = encoded.replace(/\s+/g, "");
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
    problems.push({
      reason: Reason.InvalidCertificate,
      field,
      message: `${field} is not valid base64.`,
    });
    return undefined;
  }
  const bytes = Buffer.from(compact, "base64");
  if (bytes.toString("latin1").trim() === "") return empty(field, problems);
  return { field, bytes };
}

function empty(field: string, problems: CertificateProblem[]): undefined {
  problems.push({ reason: Reason.InvalidCertificate, field, message: `${field} is empty.` });
  return undefined;
}

interface PemBlock {
  /** The label, e.g. "CERTIFICATE" (only [A-Z0-9 ], so safe to print). */
  label: string;
  /** The whole block, BEGIN and END lines included. */
  text: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]{1,64})-----[\s\S]*?-----END \1-----/g;

/** PEM blocks of `text`, in order; undefined when a BEGIN line has no matching END line. */
function pemBlocks(text: string): PemBlock[] | undefined {
  const blocks = [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1] ?? "", text: m[0] }));
  const begins = text.split("-----BEGIN ").length - 1;
  return begins === blocks.length ? blocks : undefined;
}

/** Parses every certificate of a PEM field; reports and returns undefined if any fails. */
function parseCertificates(
  value: FieldValue,
  problems: CertificateProblem[],
): X509Certificate[] | undefined {
  const { field } = value;
  const invalid = (message: string): undefined => {
    problems.push({ reason: Reason.InvalidCertificate, field, message });
    return undefined;
  };
  const blocks = pemBlocks(value.bytes.toString("latin1"));
  if (blocks === undefined) {
    return invalid(
      `${field} has a malformed PEM block (a "-----BEGIN" line without its matching "-----END" line).`,
    );
  }
  if (blocks.length === 0) {
    return invalid(
      `${field} holds no PEM certificate (a block starting "-----BEGIN CERTIFICATE-----").`,
    );
  }
  const certificates: X509Certificate[] = [];
  for (const [index, block] of blocks.entries()) {
    if (block.label !== "CERTIFICATE") {
      const hint = block.label.endsWith("PRIVATE KEY")
        ? " The private key belongs in tls.key."
        : "";
      return invalid(
        `${field}: PEM block ${index + 1} is a ${JSON.stringify(block.label)}, not a CERTIFICATE.${hint}`,
      );
    }
    try {
      certificates.push(new X509Certificate(block.text));
    } catch {
      return invalid(`${field}: PEM block ${index + 1} is not a valid X.509 certificate.`);
    }
  }
  return certificates;
}

const KEY_LABELS = new Set(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"]);

/**
 * Parses the one private key of a PEM field (PKCS#8, PKCS#1 or SEC1). Other blocks that are not
 * private keys (EC PARAMETERS, a certificate) are ignored, as openssl and Go do.
 */
function parsePrivateKey(
  field: string,
  bytes: SecretBytes,
  problems: CertificateProblem[],
): KeyObject | undefined {
  const invalid = (message: string): undefined => {
    problems.push({ reason: Reason.InvalidCertificate, field, message });
    return undefined;
  };
  const blocks = pemBlocks(bytes.reveal().toString("latin1"));
  if (blocks === undefined) {
    return invalid(
      `${field} has a malformed PEM block (a "-----BEGIN" line without its matching "-----END" line).`,
    );
  }
  const keys = blocks.filter((block) => block.label.endsWith("PRIVATE KEY"));
  const [only] = keys;
  if (only === undefined) {
    return invalid(
      `${field} holds no PEM private key (PKCS#8 "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" or SEC1 "EC PRIVATE KEY").`,
    );
  }
  if (keys.length > 1) {
    return invalid(`${field} holds ${keys.length} private keys; it must hold exactly one.`);
  }
  if (only.label === "ENCRYPTED PRIVATE KEY") {
    return invalid(`${field} holds an encrypted private key; it must be unencrypted.`);
  }
  if (!KEY_LABELS.has(only.label)) {
    return invalid(
      `${field} holds a ${JSON.stringify(only.label)}, which is not supported (use PKCS#8, PKCS#1 or SEC1 PEM).`,
    );
  }
  try {
    return createPrivateKey({ key: only.text, format: "pem" });
  } catch {
    // node:crypto's error text is not quoted: it is not ours to vouch for.
    return invalid(`${field} does not parse as a ${only.label}.`);
  }
}

function keyMatches(leaf: X509Certificate, key: KeyObject): boolean {
  try {
    return leaf.checkPrivateKey(key);
  } catch {
    return false;
  }
}

/**
 * DNS names of node's subjectAltName text: entries separated by ", ", each "TYPE:value" where a
 * value with special characters is a JSON string ("DNS:\"a\\u002cb\"").
 */
function dnsNamesOf(certificate: X509Certificate): string[] {
  const text = certificate.subjectAltName ?? "";
  const names: string[] = [];
  let at = 0;
  while (at < text.length) {
    const colon = text.indexOf(":", at);
    if (colon === -1) break;
    const type = text.slice(at, colon);
    let value: string | undefined;
    let end: number;
    if (text[colon + 1] === '"') {
      let close = colon + 2;
      while (close < text.length && text[close] !== '"') close += text[close] === "\\" ? 2 : 1;
      end = close + 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end)) as string;
      } catch {
        value = undefined;
      }
    } else {
      const comma = text.indexOf(", ", colon + 1);
      end = comma === -1 ? text.length : comma;
      value = text.slice(colon + 1, end);
    }
    if (type === "DNS" && value !== undefined && value !== "") names.push(value);
    at = end + 2; // past ", "
  }
  return names;
}

/** ISO 8601 without zero milliseconds: 2021-01-01T00:00:00Z. */
function formatDate(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}
