// An in-memory PKI for tests and demos: a CA, leaf certificates it signs, and the Secrets that carry
// them. Test keys only: nothing here is fit to protect real traffic.
// @peculiar/x509 (through tsyringe) needs a Reflect metadata polyfill loaded before it.
import "reflect-metadata";
import { KeyObject, webcrypto } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import * as x509 from "@peculiar/x509";

/** Key algorithm of a generated certificate. */
export type KeyType = "ecdsa-p256" | "rsa-2048";

/** A certificate authority that can sign leaves. */
export interface CertificateAuthority {
  /** The CA certificate, PEM. */
  certificatePem: string;
  /** The CA private key, PKCS#8 PEM. */
  keyPem: string;
  /** Internal: the signing key and the parsed certificate, for issueCertificate. */
  signer: { keys: webcrypto.CryptoKeyPair; certificate: x509.X509Certificate };
}

/** A leaf certificate and its key. */
export interface IssuedCertificate {
  /** The leaf certificate alone, PEM. */
  certificatePem: string;
  /** The leaf followed by the CA certificate, PEM: what `tls.crt` holds. */
  chainPem: string;
  /** The leaf's private key, PKCS#8 PEM. */
  keyPem: string;
}

/** Options of createCertificateAuthority. */
export interface CertificateAuthorityOptions {
  /** Subject common name. Default "Portcullis Test CA". */
  commonName?: string;
  /** Default "ecdsa-p256". */
  keyType?: KeyType;
  /** Default 2000-01-01T00:00:00Z, so any leaf validity fits inside. */
  notBefore?: Date;
  /** Default 2200-01-01T00:00:00Z. */
  notAfter?: Date;
}

/** Options of issueCertificate. */
export interface LeafOptions {
  /** DNS subject alternative names, e.g. ["*.example.com", "example.com"]. May be empty. */
  dnsNames: string[];
  /** Subject common name. Default the first DNS name, or "Portcullis Test Leaf". */
  commonName?: string;
  /** Default "ecdsa-p256". */
  keyType?: KeyType;
  /** Default one hour before now. */
  notBefore?: Date;
  /** Default 365 days after now. */
  notAfter?: Date;
}

/** Creates a self-signed CA certificate and its key. */
export async function createCertificateAuthority(
  options: CertificateAuthorityOptions = {},
): Promise<CertificateAuthority> {
  const keyType = options.keyType ?? "ecdsa-p256";
  const keys = await generateKeys(keyType);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${options.commonName ?? "Portcullis Test CA"}`,
    keys,
    signingAlgorithm: signingAlgorithm(keyType),
    notBefore: options.notBefore ?? new Date("2000-01-01T00:00:00Z"),
    notAfter: options.notAfter ?? new Date("2200-01-01T00:00:00Z"),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign |
          x509.KeyUsageFlags.cRLSign |
          x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certificatePem: certificate.toString("pem"),
    keyPem: exportPkcs8(keys.privateKey),
    signer: { keys, certificate },
  };
}

/** Creates a leaf certificate for `dnsNames`, signed by `ca`. */
export async function issueCertificate(
  ca: CertificateAuthority,
  options: LeafOptions,
): Promise<IssuedCertificate> {
  const keyType = options.keyType ?? "ecdsa-p256";
  const keys = await generateKeys(keyType);
  const now = Date.now();
  const caKeyType: KeyType =
    ca.signer.keys.privateKey.algorithm.name === "ECDSA" ? "ecdsa-p256" : "rsa-2048";
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      keyType === "rsa-2048"
        ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
        : x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.signer.keys.publicKey),
  ];
  if (options.dnsNames.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        options.dnsNames.map((value) => ({ type: "dns" as const, value })),
      ),
    );
  }
  const certificate = await x509.X509CertificateGenerator.create({
    subject: `CN=${options.commonName ?? options.dnsNames[0] ?? "Portcullis Test Leaf"}`,
    issuer: ca.signer.certificate.subject,
    publicKey: keys.publicKey,
    signingKey: ca.signer.keys.privateKey,
    signingAlgorithm: signingAlgorithm(caKeyType),
    notBefore: options.notBefore ?? new Date(now - 3_600_000),
    notAfter: options.notAfter ?? new Date(now + 365 * 86_400_000),
    extensions,
  });
  const certificatePem = certificate.toString("pem");
  return {
    certificatePem,
    chainPem: `${certificatePem}\n${ca.certificatePem}\n`,
    keyPem: exportPkcs8(keys.privateKey),
  };
}

/** Object identity of a fixture Secret. */
export interface SecretName {
  namespace: string;
  name: string;
}

/** A `kubernetes.io/tls` Secret as the API returns it (base64 `data`). */
export function buildTlsSecret(
  id: SecretName,
  pem: { certificatePem: string; keyPem: string; caPem?: string },
): V1Secret {
  const data: Record<string, string> = {
    "tls.crt": base64(pem.certificatePem),
    "tls.key": base64(pem.keyPem),
  };
  if (pem.caPem !== undefined) data["ca.crt"] = base64(pem.caPem);
  return secret(id, "kubernetes.io/tls", data);
}

/** An Opaque Secret holding a CA bundle under `ca.crt`. */
export function buildCaSecret(id: SecretName, caPem: string): V1Secret {
  return secret(id, "Opaque", { "ca.crt": base64(caPem) });
}

function secret(id: SecretName, type: string, data: Record<string, string>): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: id.name, namespace: id.namespace },
    type,
    data,
  };
}

function base64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

async function generateKeys(keyType: KeyType): Promise<webcrypto.CryptoKeyPair> {
  const algorithm =
    keyType === "ecdsa-p256"
      ? { name: "ECDSA", namedCurve: "P-256" }
      : {
          name: "RSASSA-PKCS1-v1_5",
          modulusLength: 2048,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: "SHA-256",
        };
  return (await webcrypto.subtle.generateKey(algorithm, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
}

function signingAlgorithm(
  keyType: KeyType,
): webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams {
  return keyType === "ecdsa-p256"
    ? { name: "ECDSA", hash: "SHA-256" }
    : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
}

function exportPkcs8(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ format: "pem", type: "pkcs8" }).toString();
}
