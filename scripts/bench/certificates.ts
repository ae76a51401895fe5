// The one wildcard certificate every proxy serves (*.example.com, in an ECDSA P-256 and an RSA-2048
// flavour, each signed by a CA of its own key type) and the shared session-ticket keys, written as the
// files each proxy reads.
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  createCertificateAuthority,
  issueCertificate,
  type KeyType,
} from "../../test/support/pki.ts";

export type { KeyType };
/** Both key types, in the order they are measured. */
export const KEY_TYPES: readonly KeyType[] = ["ecdsa-p256", "rsa-2048"];

/** The host every client asks for (SNI and Host). */
export const HOST = "shop.example.com";

/** One key type's certificate files. */
export interface CertificateFiles {
  keyType: KeyType;
  /** Leaf then CA, PEM. */
  chainPath: string;
  chainPem: string;
  /** The leaf's PKCS#8 key, PEM. */
  keyPath: string;
  keyPem: string;
  /** Chain and key in one file (HAProxy's `crt`). */
  combinedPath: string;
  /** The CA certificate clients could verify against. */
  caPath: string;
  caPem: string;
}

/** Shared session-ticket keys, one file per proxy's format; every instance of a kind reads the same. */
export interface TicketKeyFiles {
  /** nginx `ssl_session_ticket_key`: 48 raw bytes (AES-128 + HMAC-SHA256, as Node's ticketKeys). */
  nginx: string;
  /** HAProxy `tls-ticket-keys`: three base64 lines of 48 bytes (encrypts with the second). */
  haproxy: string;
  /** Portcullis shared-keys Secret data: 32 bytes each. */
  portcullis: { ticket: Buffer; affinity: Buffer };
}

export interface BenchSecrets {
  certificates: Record<KeyType, CertificateFiles>;
  tickets: TicketKeyFiles;
}

/** Creates the CAs, leaves and ticket keys under `dir` (test keys, never for real traffic). */
export async function writeBenchSecrets(dir: string): Promise<BenchSecrets> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certificates = {} as Record<KeyType, CertificateFiles>;
  for (const keyType of KEY_TYPES) {
    const ca = await createCertificateAuthority({ keyType, commonName: `Bench CA ${keyType}` });
    const leaf = await issueCertificate(ca, {
      keyType,
      dnsNames: ["*.example.com", "example.com"],
    });
    const files: CertificateFiles = {
      keyType,
      chainPath: join(dir, `${keyType}.crt`),
      chainPem: leaf.chainPem,
      keyPath: join(dir, `${keyType}.key`),
      keyPem: leaf.keyPem,
      combinedPath: join(dir, `${keyType}.pem`),
      caPath: join(dir, `${keyType}-ca.crt`),
      caPem: ca.certificatePem,
    };
    await writeFile(files.chainPath, files.chainPem);
    await writeFile(files.keyPath, files.keyPem, { mode: 0o600 });
    await writeFile(files.combinedPath, `${files.chainPem}${files.keyPem}`, { mode: 0o600 });
    await writeFile(files.caPath, files.caPem);
    certificates[keyType] = files;
  }
  const nginx = join(dir, "nginx-ticket.key");
  await writeFile(nginx, randomBytes(48), { mode: 0o600 });
  const haproxy = join(dir, "haproxy-tls-ticket-keys");
  const lines = [0, 1, 2].map(() => randomBytes(48).toString("base64"));
  await writeFile(haproxy, `${lines.join("\n")}\n`, { mode: 0o600 });
  return {
    certificates,
    tickets: {
      nginx,
      haproxy,
      portcullis: { ticket: randomBytes(32), affinity: randomBytes(32) },
    },
  };
}
