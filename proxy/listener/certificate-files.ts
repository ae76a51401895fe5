// Reading one certificate/key pair from disk (a mounted kubernetes.io/tls Secret) and checking it
// before anything serves it: both PEMs parse and the key belongs to the leaf. Key bytes go straight
// into a redacting SecretBytes and never reach an error message or a log line.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { SecretBytes } from "../config/secret-bytes.ts";
import type { CertificateConfig } from "../config/types.ts";
import { buildServedCertificate, type ServedCertificate } from "./served-certificate.ts";

/** A certificate chain and key read from disk and verified to belong together. */
export interface LoadedCertificate {
  /** The config entry it was loaded for (name and paths). */
  readonly entry: CertificateConfig;
  /** What clients are served: name, DNS names and expiry of the loaded leaf. */
  readonly served: ServedCertificate;
  /** The chain PEM (leaf first), as read. */
  readonly chainPem: string;
  /** The private key PEM. */
  readonly key: SecretBytes;
  /** File identity when read (see fileFingerprint): a different value means the files changed. */
  readonly fingerprint: string;
}

/** Why loading failed; `message` never contains file contents. */
export class CertificateLoadError extends Error {
  override readonly name = "CertificateLoadError";
}

/**
 * A cheap identity of the certificate and key files: device, inode, size and times of what the paths
 * resolve to (stat follows symlinks, so a Kubernetes `..data` swap shows up as new inodes). A file
 * that cannot be stat'ed contributes its error code, so a vanished file is "a change" exactly once.
 */
export async function fileFingerprint(entry: CertificateConfig): Promise<string> {
  const one = async (path: string): Promise<string> => {
    try {
      const s = await stat(path, { bigint: true });
      return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    } catch (error) {
      return `error:${(error as NodeJS.ErrnoException).code ?? "unknown"}`;
    }
  };
  const [cert, key] = await Promise.all([one(entry.certFile), one(entry.keyFile)]);
  return `${cert}|${key}`;
}

/**
 * Reads and verifies the pair named by `entry`. `fingerprint` (default: taken now) must be taken
 * before reading, so a change racing with the read shows up as a different fingerprint next time.
 */
export async function loadCertificateFiles(
  entry: CertificateConfig,
  fingerprint?: string,
): Promise<LoadedCertificate> {
  fingerprint ??= await fileFingerprint(entry);
  let chainPem: string;
  let keyBytes: Buffer;
  try {
    [chainPem, keyBytes] = await Promise.all([
      readFile(entry.certFile, "utf8"),
      readFile(entry.keyFile),
    ]);
  } catch (error) {
    throw new CertificateLoadError(`could not read the files: ${describe(error)}`);
  }
  const key = new SecretBytes(keyBytes);
  keyBytes.fill(0);

  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chainPem);
  } catch (error) {
    throw new CertificateLoadError(
      `${entry.certFile} holds no PEM certificate: ${describe(error)}`,
    );
  }
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey({ key: key.reveal(), format: "pem" }));
  } catch (error) {
    throw new CertificateLoadError(
      `${entry.keyFile} holds no usable PEM private key: ${describe(error)}`,
    );
  }
  if (!matches) {
    throw new CertificateLoadError(
      `the private key in ${entry.keyFile} does not belong to the certificate`,
    );
  }
  return {
    entry,
    served: buildServedCertificate({
      name: entry.name,
      dnsNames: parseDnsNames(leaf.subjectAltName),
      notAfter: leaf.validToDate,
      sha256: leaf.fingerprint256,
    }),
    chainPem,
    key,
    fingerprint,
  };
}

/**
 * DNS names from Node's subjectAltName string ("DNS:a.example, DNS:*.b.example, IP Address:…").
 * Node quotes (JSON-style) an entry that contains a separator, so quoted values are unquoted.
 */
export function parseDnsNames(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const names: string[] = [];
  for (const part of subjectAltName.split(", ")) {
    if (!part.startsWith("DNS:")) continue;
    let value = part.slice(4);
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    names.push(value);
  }
  return names.sort();
}

/** Whether two loads hold the same bytes (a touched file, or a swap to identical content). */
export function sameCertificateContent(a: LoadedCertificate, b: LoadedCertificate): boolean {
  return a.chainPem === b.chainPem && a.key.reveal().equals(b.key.reveal());
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
